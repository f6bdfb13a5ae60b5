//! Echo bot: answers every message in every conversation it is in with `echo: <text>`.
//!
//! ```sh
//! CHATWIRE_URL=ws://127.0.0.1:8080 CHATWIRE_USER=bot@chatwire.local CHATWIRE_PASSWORD=... \
//!     cargo run --example echo_bot
//! ```
//!
//! It survives network drops and server restarts without any code of its own: the SDK
//! reconnects, fetches what was sent meanwhile, and delivers it on the same event stream
//! (those events have `meta.replayed` set), so the bot also answers messages sent while it was
//! away. It stops when the messenger closes for good (or on Ctrl-C).

use chatwire::{ConnectionState, Error, Event, Message, Messenger};
use futures::StreamExt;

/// The server's default application domain: `alice` means `alice@chatwire.local`.
const DEFAULT_DOMAIN: &str = "chatwire.local";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CHATWIRE_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080".into());
    let (Ok(user), Ok(password)) = (
        std::env::var("CHATWIRE_USER"),
        std::env::var("CHATWIRE_PASSWORD"),
    ) else {
        eprintln!("set CHATWIRE_USER (name@domain) and CHATWIRE_PASSWORD (and CHATWIRE_URL)");
        std::process::exit(2);
    };
    let user = if user.contains('@') {
        user
    } else {
        format!("{user}@{DEFAULT_DOMAIN}")
    };

    println!("connecting to {url} as {user}");
    let messenger = Messenger::builder(&url)
        .password(&user, password)
        .connect()
        .await?;
    let me = messenger.user_id();
    let conversations = messenger
        .me()
        .await?
        .private
        .map(|p| p.conversations.len())
        .unwrap_or(0);
    println!("connected as user {me}; in {conversations} conversation(s); waiting for messages");

    let mut events = messenger.events();
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = tokio::signal::ctrl_c() => {
                println!("Ctrl-C: closing");
                messenger.close();
                continue; // the stream reports Closed, then ends
            }
        };
        let Some(event) = event else { break };
        match event {
            Event::MessageSent { meta, message } if meta.initiator != Some(me) => {
                let replayed = if meta.replayed {
                    " (sent while away)"
                } else {
                    ""
                };
                println!(
                    "message from user {} in {}{replayed}: {}",
                    meta.initiator.map(|u| u.to_string()).unwrap_or_default(),
                    message.conversation,
                    message.text
                );
                echo(&messenger, &message).await;
            }
            Event::ConversationCreated { conversation, .. } => {
                println!("added to \"{}\" ({})", conversation.title, conversation.id);
            }
            Event::Connection(state) => {
                println!("connection: {state:?}");
                if matches!(state, ConnectionState::Closed { .. }) {
                    break;
                }
            }
            Event::Gap {
                conversation,
                from,
                to,
            } => println!("events #{from}..#{to} of {conversation} are gone"),
            Event::Lagged { missed } => println!("fell behind; {missed} events dropped"),
            _ => {}
        }
    }
    println!("stopped");
    Ok(())
}

/// Answers one message. A reply that fails because the connection dropped is tried again once
/// the connection is back (the SDK never re-sends by itself, since the first try may have been
/// applied; for an echo bot a rare duplicate is acceptable).
async fn echo(messenger: &Messenger, message: &Message) {
    if message.text.starts_with("echo: ") {
        return; // never answer another echo bot: two would loop forever
    }
    let text = if message.text.is_empty() {
        "echo: (a message without text)".to_string()
    } else {
        format!("echo: {}", message.text)
    };
    for attempt in 1..=3 {
        match messenger.send_message(message.conversation, &text).await {
            Ok(_) => return,
            Err(e) if e.is_retryable() && attempt < 3 => {
                println!("reply failed ({e}); retrying when the connection is back");
                wait_live(messenger).await;
            }
            Err(Error::Server { code, .. }) => {
                println!("cannot answer there (server error {code:?})");
                return;
            }
            Err(e) => {
                println!("reply failed: {e}");
                return;
            }
        }
    }
}

async fn wait_live(messenger: &Messenger) {
    let mut state = messenger.connection_state_watch();
    let _ = state
        .wait_for(|s| matches!(s, ConnectionState::Live | ConnectionState::Closed { .. }))
        .await;
}
