//! Wire types shared by the chatwire SDK and server.
//!
//! chatwire speaks the JSON-over-WebSocket format of Voximplant Messaging v2: messaging frames
//! tagged `"service": "chat"` and session-layer RPC frames `{"name", "params"}`. This crate holds
//! the typed models of both, with decoding that is tolerant exactly where the specification says
//! (numbers as strings, `@type` present or not, unknown keys ignored) and strict elsewhere.
//!
//! Layers, bottom up: [`lenient`] value rules and ids, [`Permissions`] and [`ErrorCode`], request
//! payloads ([`Request`]), server frames ([`ServerFrame`], [`EventObject`], and the envelope
//! around an already encoded payload: [`wrap_payload`], [`RetransmitHeader`]), session frames
//! ([`ClientSession`], [`ServerSession`]) and classification of incoming client frames
//! ([`parse_client_frame`]). See `docs/PROTOCOL.md` for the wire format with examples.
//!
//! ```
//! use chatwire_protocol::{parse_client_frame, ClientFrame, ActionLookup, Request};
//! let text = r#"{"service":"chat","event":"isRead","request_uuid":"r1",
//!                "payload":{"conversation":"c","seq":"4"}}"#;
//! let ClientFrame::Messaging(frame) = parse_client_frame(text).unwrap() else { unreachable!() };
//! let ActionLookup::Action(action) = frame.lookup() else { unreachable!() };
//! let Request::IsRead(read) = Request::decode(action, &frame.payload).unwrap() else { unreachable!() };
//! assert_eq!(read.seq, 4);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod action;
mod client;
mod envelope;
mod error;
mod extensions;
mod fields;
mod frame;
mod ids;
pub mod lenient;
mod objects;
mod permissions;
mod request;
mod request_decode;
mod session;

pub use action::{Action, EventClass, EventName, RESERVED_ACTIONS};
pub use client::{parse_client_frame, ActionLookup, ClientFrame, FrameError, MessagingFrame};
pub use envelope::{wrap_payload, RetransmitHeader};
pub use error::{DecodeError, ErrorCode};
pub use extensions::{
    apply_merge_patch, check_idempotency_key, AdvertisedLimits, CatchUp, CatchUpEntry, CatchUpPage,
    CatchUpPosition, CatchUpState, ClientExtensions, ServerExtensions, CATCH_UP_PAGE_BYTES,
    CATCH_UP_PAGE_EVENTS, EXTENSIONS_KEY, EXTENSIONS_VERSION, EXT_CATCH_UP, EXT_CUSTOM_DATA_PATCH,
    EXT_IDEMPOTENCY, MAX_CATCH_UP_POSITIONS, MAX_IDEMPOTENCY_KEY_CHARS,
    MIN_IDEMPOTENCY_WINDOW_SECS,
};
pub use fields::{
    custom_data_fits, custom_data_size, text_fits, title_fits, MAX_CUSTOM_DATA_BYTES,
    MAX_TITLE_CHARS,
};
pub use frame::{decode_object, parse_server_frame, EventPayload, ServerFrame, ServerMessage};
pub use ids::{ConversationId, MessageId, Seq, UserId};
pub use objects::{
    ConversationObject, EventObject, MessageObject, MessageRefObject, ParticipantObject,
    PublicConversationsObject, ReadObject, RetransmittedEvent, StatusObject,
    SubscriptionListObject, TypingObject, UserIdsObject, UserObject,
};
pub use permissions::Permissions;
pub use request::{
    ConversationRef, CreateConversation, EditConversation, EditMessage, EditUser, GetConversations,
    GetUsers, IsRead, JsonMap, ManageNotification, ManageParticipants, ParticipantSpec,
    RemoveMessage, RemoveParticipants, Request, RetransmitEvents, SendMessage, SetStatus,
    Subscribe, TypingMessage, Unsubscribe, UserRef,
};
pub use session::{
    login_codes, ClientSession, Credential, OAuthTokens, ServerSession, SessionFrame,
};

/// Maximum message text length, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;
/// Default maximum client frame size, in bytes.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 65536;
/// Maximum users per `getUsers`.
pub const MAX_GET_USERS: usize = 50;
/// Maximum conversations per `getConversations`.
pub const MAX_GET_CONVERSATIONS: usize = 30;
/// Maximum events per `retransmitEvents`.
pub const MAX_RETRANSMIT: u64 = 100;
/// Maximum ids per `subscribe`.
pub const MAX_SUBSCRIBE_IDS: usize = 50;
/// Maximum subscriptions per user.
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// Maximum participants per conversation.
pub const MAX_PARTICIPANTS: usize = 1000;
/// The title the server substitutes for an absent or empty one.
pub const DEFAULT_TITLE: &str = "New conversation";
