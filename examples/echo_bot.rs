//! Echo bot: answers every message in every conversation it is in with `echo: <text>`.
//!
//! ```sh
//! CHATWIRE_URL=ws://127.0.0.1:8080 CHATWIRE_USER=bot@chatwire.local CHATWIRE_PASSWORD=... \
//!     cargo run --example echo_bot
//! ```
//!
//! The bot keeps its state in a SQLite file (`CHATWIRE_STORE`, default
//! `./echo_bot-<user>.db`): for every conversation, the last message it has handled, and the
//! replies it has not seen confirmed yet. With it:
//!
//! * **Network drops and server restarts**: the SDK reconnects, fetches what was sent meanwhile
//!   and delivers it on the same event stream (`meta.replayed` set); the bot answers it.
//! * **Bot restarts**: stopped (Ctrl-C) or killed, then started again on the same file, the bot
//!   answers what was sent while it was not running (also marked replayed). Only messages sent
//!   before its very first start are never answered.
//! * **Once per message.** A message counts as handled when the bot asks for the next event,
//!   that is after the server confirmed its answer (`AckMode::Auto`, the default). On Ctrl-C the
//!   bot acknowledges the message it answered last, writes its position and stops; it does not
//!   wait for a reply still on its way (say, while the server is down): that message is answered
//!   at the next start. After a crash, the message it was answering comes again and is answered
//!   again with the same idempotency key, `echo:<conversation>:<seq>`, and replies the SDK had
//!   accepted but not seen confirmed are sent again with their keys. A server that supports
//!   idempotency keys (it advertises the `idempotency` extension) carries each key out once, so
//!   every message is answered **exactly once**. A server without them carries out every
//!   attempt: after a crash, a stop during a reply, or a connection drop while a reply was on its
//!   way, a message can be answered twice (**at least once**).
//!
//! It stops when the messenger closes for good, or on Ctrl-C.

use std::future::Future;
use std::path::{Path, PathBuf};

use chatwire::store::{SqliteStore, StoreError};
use chatwire::{
    ConnectionState, Error, Event, EventMeta, Message, Messenger, MessengerBuilder, UserId,
};
use futures::{FutureExt, StreamExt};

/// The server's default application domain: `alice` means `alice@chatwire.local`.
const DEFAULT_DOMAIN: &str = "chatwire.local";

/// Attempts per reply when its outcome is unknown (a server without idempotency keys).
const ATTEMPTS: u32 = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CHATWIRE_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080".into());
    let (Ok(user), Ok(password)) = (
        std::env::var("CHATWIRE_USER"),
        std::env::var("CHATWIRE_PASSWORD"),
    ) else {
        eprintln!(
            "set CHATWIRE_USER (name@domain) and CHATWIRE_PASSWORD (and CHATWIRE_URL, CHATWIRE_STORE)"
        );
        std::process::exit(2);
    };
    let user = if user.contains('@') {
        user
    } else {
        format!("{user}@{DEFAULT_DOMAIN}")
    };
    let store = std::env::var_os("CHATWIRE_STORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("echo_bot-{user}.db")));

    println!(
        "connecting to {url} as {user} (state in {})",
        store.display()
    );
    let messenger = builder(&url, &user, &password, &store)?.connect().await?;
    println!(
        "connected as user {}; waiting for messages",
        messenger.user_id()
    );
    run(&messenger, tokio::signal::ctrl_c()).await;
    // Writes the last acknowledged positions before the process exits.
    messenger.shutdown().await;
    println!("stopped");
    Ok(())
}

/// The bot's messenger: logged in as `user`, its state in the SQLite file `store`.
pub fn builder(
    url: &str,
    user: &str,
    password: &str,
    store: &Path,
) -> Result<MessengerBuilder, StoreError> {
    Ok(Messenger::builder(url)
        .password(user, password)
        .store(SqliteStore::open(store)?))
}

/// Answers every message until `stop` completes or the messenger closes. Prints
/// `answered #<seq> in <conversation>` after each reply the server confirmed.
pub async fn run(messenger: &Messenger, stop: impl Future) {
    let me = messenger.user_id();
    let mut events = messenger.events();
    tokio::pin!(stop);
    loop {
        let event = tokio::select! {
            _ = &mut stop => {
                // Asking for the next event acknowledges the one answered last; an event this
                // returns is not acknowledged, and comes again at the next start.
                let _ = events.next().now_or_never();
                break;
            }
            event = events.next() => event,
        };
        let Some(event) = event else { break };
        tokio::select! {
            closed = handle(messenger, me, event) => if closed { break },
            // A reply may wait long (for the connection to come back): stopping does not wait
            // for it. The message is not acknowledged, so the next start answers it, same key.
            _ = &mut stop => break,
        }
    }
    println!("stopping");
}

/// Handles one event; `true` when the messenger has closed for good. The loop asks for the next
/// event only when this returns: that acknowledges this one (`AckMode::Auto`).
async fn handle(messenger: &Messenger, me: UserId, event: Event) -> bool {
    match event {
        Event::MessageSent { meta, message } if meta.initiator != Some(me) => {
            let away = if meta.replayed {
                " (sent while away)"
            } else {
                ""
            };
            println!(
                "#{} from user {} in {}{away}: {}",
                meta.seq.map(|s| s.get()).unwrap_or(0),
                meta.initiator.map(|u| u.to_string()).unwrap_or_default(),
                message.conversation,
                message.text
            );
            answer(messenger, &meta, &message).await;
        }
        Event::ConversationCreated { conversation, .. } => {
            println!("added to \"{}\" ({})", conversation.title, conversation.id);
        }
        // Replies nobody waited for any more (accepted before a restart, or timed out).
        Event::OutboxSent { key, .. } => println!("reply {key} sent by the outbox"),
        Event::OutboxFailed { key, reason, .. } => println!("reply {key} failed: {reason}"),
        Event::Connection(state) => {
            println!("connection: {state:?}");
            return matches!(state, ConnectionState::Closed { .. });
        }
        Event::Gap {
            conversation,
            from,
            to,
        } => println!("events #{from}..#{to} of {conversation} are gone"),
        _ => {}
    }
    false
}

/// Answers one message, with a key derived from it: answering it again (after a crash) sends
/// the same key, which a server with idempotency keys carries out only once.
async fn answer(messenger: &Messenger, meta: &EventMeta, message: &Message) {
    if message.text.starts_with("echo: ") {
        return; // never answer another echo bot: two would loop forever
    }
    let Some(seq) = meta.seq else { return };
    let text = if message.text.is_empty() {
        "echo: (a message without text)".to_string()
    } else {
        format!("echo: {}", message.text)
    };
    let key = format!("echo:{}:{seq}", message.conversation);
    for attempt in 1..=ATTEMPTS {
        // A reply waits in the SDK's outbox while the connection is down, and is sent again
        // with its key after a drop when the server honours keys.
        match messenger
            .send_message(message.conversation, &text)
            .idempotency_key(&key)
            .await
        {
            Ok(_) => {
                println!("answered #{seq} in {}", message.conversation);
                return;
            }
            // Only without server support for keys: the reply may or may not have been
            // carried out. Sending it again risks a duplicate; not sending risks no answer.
            Err(Error::OutcomeUnknown) if attempt < ATTEMPTS => {
                println!("reply to #{seq}: outcome unknown; sending it again");
            }
            // The reply stays in the outbox; its outcome comes as OutboxSent / OutboxFailed.
            Err(Error::Timeout(_)) => {
                println!("reply to #{seq} not answered yet; the SDK keeps sending it");
                return;
            }
            Err(e) => {
                println!("cannot answer #{seq}: {e}");
                return;
            }
        }
    }
}
