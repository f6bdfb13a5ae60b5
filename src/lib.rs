#![doc = include_str!("../README.md")]

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
