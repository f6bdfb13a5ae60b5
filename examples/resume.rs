//! Resume: a bot that keeps its place across a restart and a network drop, in one process.
//!
//! Starts a real chatwire-server in-process and a small echo bot (the logic of
//! `examples/echo_bot.rs`) whose state is a `SqliteStore` in a temporary directory. The bot
//! answers a message, shuts down, and Alice writes while it is stopped; started again on the
//! same store, the bot gets exactly what it missed (marked replayed) and answers it. Then the
//! network drops: both connections break; Alice's message written while hers is down waits in
//! her outbox, and the bot, reconnected, gets it from its catch-up or live (whichever side is back
//! first) and answers it. The transcript at the end shows every message answered once.
//!
//! ```sh
//! cargo run --example resume
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chatwire::store::SqliteStore;
use chatwire::testing::{TestServer, TestUser};
use chatwire::{ConnectionState, Event, EventStream, Messenger, NewConversation, UserId};
use futures::{FutureExt, StreamExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> AnyResult<()> {
    let server = TestServer::start().await;
    let (alice_user, bot_user) = (server.add_user("alice").await, server.add_user("bot").await);
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("bot.db");
    println!(
        "1. started chatwire-server at {}; the bot keeps its state in {}",
        server.url(),
        store.display()
    );

    let alice = server.messenger(&alice_user).await?;
    let mut alice_events = alice.events();
    let chat = alice
        .create_conversation(
            NewConversation::chat()
                .title("Support")
                .participant(bot_user.id),
        )
        .await?;
    let bot = Bot::start(&server, &bot_user, &store).await?;
    println!("2. Alice created \"Support\" with the bot, and the bot started");
    say(&alice, &mut alice_events, bot_user.id, chat.id, &["hello"]).await?;

    bot.stop().await;
    println!("3. the bot shut down (its position is in the store); Alice writes meanwhile:");
    for text in ["are you there?", "it's about my order"] {
        alice.send_message(chat.id, text).await?;
        println!("   Alice: {text}");
    }

    let bot = Bot::start(&server, &bot_user, &store).await?;
    println!("4. the bot started again on the same store; the SDK replays what it missed:");
    wait_echoes(&mut alice_events, bot_user.id, 2).await?;

    println!("5. the network drops (server.server().drop_connections()); both reconnect:");
    server.server().drop_connections();
    // Alice's connection is down too: her message waits in her outbox until she is back.
    wait_reconnecting(&mut alice_events).await?;
    say(
        &alice,
        &mut alice_events,
        bot_user.id,
        chat.id,
        &["order 42"],
    )
    .await?;
    bot.stop().await;

    println!("6. the conversation now:");
    let mut log = BTreeMap::new();
    let mut history = alice.history(chat.id);
    while let Some(event) = history.next().await {
        if let Event::MessageSent { meta, message } = event? {
            let who = if meta.initiator == Some(bot_user.id) {
                "bot"
            } else {
                "Alice"
            };
            log.insert(meta.seq.map(|s| s.get()).unwrap_or(0), (who, message.text));
        }
    }
    for (seq, (who, text)) in &log {
        println!("   #{seq:<2} {who}: {text}");
    }
    let asked = log.values().filter(|(who, _)| *who == "Alice").count();
    let answers = log.values().filter(|(who, _)| *who == "bot").count();
    println!("   {asked} messages from Alice, {answers} answers: each answered once");
    if asked != answers {
        return Err(format!("{asked} messages but {answers} answers").into());
    }

    alice.close();
    println!("7. done");
    Ok(())
}

/// Alice sends `texts`, then waits for the bot's answers.
async fn say(
    alice: &Messenger,
    events: &mut EventStream,
    bot: UserId,
    chat: chatwire::ConversationId,
    texts: &[&str],
) -> AnyResult<()> {
    for text in texts {
        alice.send_message(chat, *text).await?;
        println!("   Alice: {text}");
    }
    wait_echoes(events, bot, texts.len()).await
}

/// Reads Alice's stream until `n` answers of the bot arrived (at most 10 s).
async fn wait_echoes(events: &mut EventStream, bot: UserId, n: usize) -> AnyResult<()> {
    let mut seen = 0;
    while seen < n {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .map_err(|_| "no answer from the bot within 10 s")?
            .ok_or("Alice's stream ended")?;
        if let Event::MessageSent { meta, .. } = event {
            seen += usize::from(meta.initiator == Some(bot));
        }
    }
    Ok(())
}

/// Reads Alice's stream until her connection drops.
async fn wait_reconnecting(events: &mut EventStream) -> AnyResult<()> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .map_err(|_| "the connection did not drop")?
            .ok_or("Alice's stream ended")?;
        if let Event::Connection(ConnectionState::Reconnecting { .. }) = event {
            return Ok(());
        }
    }
}

/// The echo bot running in a task.
struct Bot {
    messenger: Messenger,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Bot {
    /// Logs in with the store: on a store used before, this resumes where the bot left off.
    async fn start(server: &TestServer, user: &TestUser, store: &Path) -> AnyResult<Bot> {
        let messenger = Messenger::builder(&server.url())
            .password(&user.name, &user.password)
            .store(SqliteStore::open(store)?)
            .connect()
            .await?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(answer_all(messenger.clone(), stopped));
        Ok(Bot {
            messenger,
            stop,
            task,
        })
    }

    /// Stops answering, then shuts the messenger down (writing its positions).
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        self.messenger.shutdown().await;
    }
}

/// Answers every message of others with `echo: <text>`, keyed by the message it answers.
async fn answer_all(m: Messenger, mut stop: oneshot::Receiver<()>) {
    let me = m.user_id();
    let mut events = m.events();
    let mut dropped = false;
    loop {
        let event = tokio::select! {
            _ = &mut stop => {
                // Asking for the next event acknowledges the one answered last (AckMode::Auto).
                let _ = events.next().now_or_never();
                return;
            }
            event = events.next() => event,
        };
        match event {
            None => return,
            Some(Event::MessageSent { meta, message }) if meta.initiator != Some(me) => {
                let Some(seq) = meta.seq else { continue };
                let key = format!("echo:{}:{seq}", message.conversation);
                let sent = m
                    .send_message(message.conversation, format!("echo: {}", message.text))
                    .idempotency_key(key)
                    .await;
                let how = if meta.replayed { "replayed" } else { "live" };
                match sent {
                    Ok(_) => println!("   bot got #{seq} ({how}): {} -> answered", message.text),
                    Err(e) => println!("   bot got #{seq} ({how}): {} -> {e}", message.text),
                }
            }
            Some(Event::Connection(ConnectionState::Reconnecting { .. })) if !dropped => {
                dropped = true;
                println!("   bot: connection lost, reconnecting");
            }
            Some(Event::Connection(ConnectionState::Live)) if dropped => {
                dropped = false;
                println!("   bot: connected again, caught up");
            }
            Some(_) => {}
        }
    }
}
