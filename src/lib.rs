#![doc = include_str!("../README.md")]
//! ## A complete run
//!
//! This one runs as written: [`testing::TestServer`] (feature `testing`) starts a real
//! chatwire-server inside the process.
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> chatwire::Result<()> {
//! use chatwire::{testing::TestServer, Event, NewConversation};
//! use futures::StreamExt;
//!
//! let server = TestServer::start().await;
//! let alice = server.add_user("alice").await;
//! let bob = server.add_user("bob").await;
//! let alice_app = server.messenger(&alice).await?;
//! let bob_app = server.messenger(&bob).await?;
//! let mut bob_events = bob_app.events();
//!
//! let chat = alice_app
//!     .create_conversation(NewConversation::chat().title("Lunch").participant(bob.id))
//!     .await?;
//! alice_app.send_message(chat.id, "Noon at the usual place?").await?;
//!
//! while let Some(event) = bob_events.next().await {
//!     if let Event::MessageSent { message, .. } = event {
//!         let from = bob_app.get_user(message.sender).await?;
//!         assert_eq!(from.name, alice.name);
//!         assert_eq!(message.text, "Noon at the usual place?");
//!         bob_app.mark_as_read(chat.id, message.seq).await?;
//!         break;
//!     }
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```
//!
//! ## Feature flags
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod checks;
mod config;
mod connection;
mod conversation;
mod decode;
mod error;
mod event;
mod history;
mod inbox;
mod message;
mod messenger;
mod model;
mod notifications;
mod request_id;
pub mod store;
mod stream;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod timeline;
mod users;
mod users_cache;

pub use chatwire_protocol as protocol;
pub use chatwire_protocol::{
    ConversationId, ErrorCode, JsonMap, MessageId, Permissions, Seq, UserId,
};
pub use checks::{InvalidArgument, InvalidArgumentKind};
pub use config::{
    MessengerBuilder, ReconnectPolicy, DEFAULT_COMMAND_CAPACITY, DEFAULT_EVENT_BUFFER,
    DEFAULT_KEEP_ALIVE, DEFAULT_REQUEST_TIMEOUT, TYPING_THROTTLE,
};
pub use conversation::{
    default_permissions_from, default_permissions_value, ConversationEdit, CustomDataPatch,
    NewConversation, NewParticipant, PERMISSIONS_KEY,
};
pub use error::{ConnectStage, Error, Result};
pub use event::{ConnectionState, Event, EventAction, EventMeta, Tokens};
pub use history::{EventRange, History, Replay};
pub use inbox::{
    Inbox, InboxChange, InboxChanges, InboxEntry, LastMessage, INBOX_CHANGE_BUFFER, TYPING_EXPIRY,
};
pub use message::{MessageEdit, MessageSend};
pub use messenger::Messenger;
pub use model::{Conversation, Message, Participant, PrivateUserData, User};
pub use notifications::Notification;
pub use request_id::RequestId;
pub use stream::{AckMode, EventStream};
pub use timeline::{Timeline, TimelineDiff, TimelineItem, TimelineUpdates, TIMELINE_CAPACITY};
pub use users::UserEdit;
pub use users_cache::{UsersCache, USER_CACHE_TTL};
