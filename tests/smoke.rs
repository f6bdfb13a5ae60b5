//! End-to-end through the public API against the real in-process server.

use chatwire::testing::TestServer;
use chatwire::{Event, NewConversation};
use futures::StreamExt;

#[tokio::test]
async fn chat_between_two_messengers() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = server.messenger(&alice).await.unwrap();
    let b = server.messenger(&bob).await.unwrap();
    let mut b_events = b.events();
    let chat = a
        .create_conversation(NewConversation::chat().title("t").participant(bob.id))
        .await
        .unwrap();
    let m = a.send_message(chat.id, "hi").await.unwrap();
    assert_eq!(m.text, "hi");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match b_events.next().await.unwrap() {
            Event::ConversationCreated { conversation, .. } => {
                seen.push(format!("created {}", conversation.title))
            }
            Event::MessageSent { message, meta } => {
                assert_eq!(meta.initiator, Some(alice.id));
                seen.push(format!("message {}", message.text))
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["created t", "message hi"]);
}
