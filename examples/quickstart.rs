//! Quickstart: a whole conversation between two users, in one process.
//!
//! Starts a real chatwire-server in-process (memory store, ephemeral port), creates two users
//! through the admin HTTP API, logs both in, and walks through a chat: messages both ways, an
//! edit, a removal, typing and read notifications, and finally the history as a transcript.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatwire::{
    Event, EventRange, EventStream, MessageId, Messenger, NewConversation, Seq, UserId,
};
use chatwire_server::{testing, RunningServer, Storage};
use futures::StreamExt;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> AnyResult<()> {
    // A real server, in this process: in-memory storage, a free port, a random api key.
    let server = RunningServer::start(testing::config(Storage::Memory)).await?;
    println!("1. started chatwire-server at {}", server.ws_url());

    // Users are created by the application's backend through the admin HTTP API.
    let alice = add_user(&server, "alice", "Alice").await?;
    let bob = add_user(&server, "bob", "Bob").await?;
    println!(
        "2. created users {} and {} through the admin API",
        alice.0, bob.0
    );

    // Each user logs in with their own Messenger (one WebSocket each).
    let alice_m = login(&server, &alice).await?;
    let bob_m = login(&server, &bob).await?;
    // The first events() stream of a Messenger starts at the login: nothing is missed.
    let mut alice_events = alice_m.events();
    let mut bob_events = bob_m.events();
    let names: HashMap<UserId, String> = alice_m
        .get_users([alice_m.user_id(), bob_m.user_id()])
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect();
    let name = |id: Option<UserId>| {
        id.and_then(|id| names.get(&id).cloned())
            .unwrap_or_else(|| "someone".into())
    };
    println!(
        "3. logged in: Alice is user {}, Bob is user {}",
        alice_m.user_id(),
        bob_m.user_id()
    );

    // Alice creates a chat with Bob; Bob learns about it from his event stream.
    let chat = alice_m
        .create_conversation(
            NewConversation::chat()
                .title("Lunch")
                .participant(bob_m.user_id()),
        )
        .await?;
    let title = expect(&mut bob_events, "Bob", |e| match e {
        Event::ConversationCreated { conversation, .. } if conversation.id == chat.id => {
            Some(conversation.title.clone())
        }
        _ => None,
    })
    .await?;
    println!("4. Alice created the chat \"{title}\"; Bob's stream: ConversationCreated");

    // Bob types, and Alice sees it (typing is not stored: it has no seq).
    bob_m.typing(chat.id).await?;
    let who = expect(&mut alice_events, "Alice", |e| match e {
        Event::Typing { meta, conversation } if *conversation == chat.id => Some(meta.initiator),
        _ => None,
    })
    .await?;
    println!("5. Bob typed; Alice's stream: Typing by {}", name(who));

    // Messages both ways.
    bob_m.send_message(chat.id, "Hi Alice! Noon?").await?;
    let text = expect_message(&mut alice_events, "Alice", bob_m.user_id()).await?;
    println!("6. Bob sent a message; Alice's stream: Bob: {text}");
    alice_m
        .send_message(chat.id, "Sounds good, see you at noon.")
        .await?;
    let text = expect_message(&mut bob_events, "Bob", alice_m.user_id()).await?;
    println!("7. Alice replied; Bob's stream: Alice: {text}");

    // Alice edits her message.
    let reply = alice_m
        .send_message(chat.id, "I'll bring an umbrella")
        .await?;
    expect_message(&mut bob_events, "Bob", alice_m.user_id()).await?;
    alice_m
        .edit_message(chat.id, reply.id)
        .text("I'll bring two umbrellas")
        .await?;
    let text = expect(&mut bob_events, "Bob", |e| match e {
        Event::MessageEdited { message, .. } if message.id == reply.id => {
            Some(message.text.clone())
        }
        _ => None,
    })
    .await?;
    println!("8. Alice sent and edited a message; Bob's stream: MessageEdited -> {text}");

    // Bob removes a message he regrets.
    let oops = bob_m.send_message(chat.id, "wrong chat, sorry").await?;
    expect_message(&mut alice_events, "Alice", bob_m.user_id()).await?;
    bob_m.remove_message(chat.id, oops.id).await?;
    expect(&mut alice_events, "Alice", |e| match e {
        Event::MessageRemoved { message, .. } if *message == oops.id => Some(()),
        _ => None,
    })
    .await?;
    println!("9. Bob sent and removed a message; Alice's stream: MessageRemoved");

    // Alice marks everything as read; Bob sees her read mark.
    let last = alice_m.get_conversation(chat.id).await?.last_seq;
    alice_m.mark_as_read(chat.id, last).await?;
    let (who, seq) = expect(&mut bob_events, "Bob", |e| match e {
        Event::Read {
            meta,
            conversation,
            seq,
        } if *conversation == chat.id => Some((meta.initiator, *seq)),
        _ => None,
    })
    .await?;
    println!(
        "10. Alice marked the chat read; Bob's stream: {} read up to #{seq}",
        name(who)
    );

    // Any participant can fetch the stored events again (up to 100 per call; for longer
    //     histories, `Messenger::history` pages backwards through all of them).
    let replay = bob_m
        .retransmit_events(chat.id, EventRange::between(Seq(1), last))
        .await?;
    println!(
        "11. Bob retransmitted events #{}..#{} ({} events); the transcript:",
        replay.from,
        replay.to,
        replay.events.len()
    );
    // Sent messages keep their seq; edits and removals refer to it.
    let mut seq_of = HashMap::new();
    // The chat as it reads now: (id, time, sender, text, edited), removed messages dropped.
    let mut now: Vec<(MessageId, String, String, String, bool)> = Vec::new();
    for event in &replay.events {
        let Some(meta) = event.meta() else { continue };
        let seq = meta.seq.map(|s| s.get()).unwrap_or(0);
        let who = name(meta.initiator);
        let line = match event {
            Event::ConversationCreated { conversation, .. } => {
                format!("{who} created \"{}\"", conversation.title)
            }
            Event::ConversationEdited { .. } => format!("{who} changed the chat ({})", meta.action),
            Event::MessageSent { message, .. } => {
                seq_of.insert(message.id, seq);
                let time = clock(meta.timestamp);
                now.push((message.id, time, who.clone(), message.text.clone(), false));
                format!("{who}: {}", message.text)
            }
            Event::MessageEdited { message, .. } => {
                if let Some(m) = now.iter_mut().find(|m| m.0 == message.id) {
                    (m.3, m.4) = (message.text.clone(), true);
                }
                format!("{who} edited #{}: {}", seq_of[&message.id], message.text)
            }
            Event::MessageRemoved { message, .. } => {
                now.retain(|m| m.0 != *message);
                format!("{who} removed #{}", seq_of[message])
            }
            other => format!("{other:?}"),
        };
        println!("    #{seq:<2} {}  {line}", clock(meta.timestamp));
    }
    println!("    ... so the chat now reads (times are UTC):");
    for (_, time, who, text, edited) in &now {
        let edited = if *edited { "  (edited)" } else { "" };
        println!("        {time}  {who}: {text}{edited}");
    }

    // Close both sessions and stop the server.
    alice_m.close();
    bob_m.close();
    server.shutdown().await;
    println!("12. closed both messengers and stopped the server; done");
    Ok(())
}

/// Creates a user with the admin API (`GET <admin_url>/AddUser?api_key=...`), as a backend would.
async fn add_user(
    server: &RunningServer,
    name: &str,
    display_name: &str,
) -> AnyResult<(String, String)> {
    let password = format!("{name}-secret-password");
    let reply: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/AddUser", server.admin_url()))
        .query(&[
            ("api_key", server.api_key().unwrap_or_default()),
            ("user_name", name),
            ("user_display_name", display_name),
            ("user_password", &password),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if reply.get("result").is_none() {
        return Err(format!("AddUser failed: {reply}").into());
    }
    Ok((format!("{name}@{}", server.domain()), password))
}

async fn login(
    server: &RunningServer,
    (user, password): &(String, String),
) -> AnyResult<Messenger> {
    Ok(Messenger::builder(&server.ws_url())
        .password(user, password)
        .connect()
        .await?)
}

/// Reads `events` until `pick` returns something (skipping other events), for at most 5 s.
async fn expect<T>(
    events: &mut EventStream,
    whose: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> AnyResult<T> {
    let wait = async {
        while let Some(event) = events.next().await {
            if let Some(found) = pick(&event) {
                return Some(found);
            }
        }
        None
    };
    match tokio::time::timeout(Duration::from_secs(5), wait).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(format!("{whose}'s event stream ended").into()),
        Err(_) => Err(format!("{whose}'s expected event did not arrive within 5 s").into()),
    }
}

/// The next message sent by `sender` (a stream also carries your own messages): its text.
async fn expect_message(
    events: &mut EventStream,
    whose: &str,
    sender: UserId,
) -> AnyResult<String> {
    expect(events, whose, |e| match e {
        Event::MessageSent { meta, message } if meta.initiator == Some(sender) => {
            Some(message.text.clone())
        }
        _ => None,
    })
    .await
}

/// `HH:MM:SS` (UTC) of a time.
fn clock(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}
