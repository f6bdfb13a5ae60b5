//! Error codes (docs/BEHAVIOUR.md section 9) and the protocol layer's decode error.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A messaging error code carried by `onError` frames.
///
/// Clients branch on the code only; [`ErrorCode::description`] is the suggested text.
///
/// ```
/// use chatwire_protocol::ErrorCode;
/// assert_eq!(ErrorCode::from_code(12), ErrorCode::AccessDenied);
/// assert_eq!(ErrorCode::AccessDenied.code(), 12);
/// assert_eq!(ErrorCode::from_code(999), ErrorCode::Unknown(999));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 0: invalid or missing parameter.
    InvalidParameter,
    /// 1: malformed frame.
    MalformedFrame,
    /// 2: unknown event name.
    UnknownEvent,
    /// 3: not logged in.
    NotLoggedIn,
    /// 8: conversation does not exist.
    ConversationNotFound,
    /// 10: message does not exist in this conversation.
    MessageNotFound,
    /// 11: message has been removed.
    MessageRemoved,
    /// 12: access denied.
    AccessDenied,
    /// 13: user is already a participant.
    AlreadyParticipant,
    /// 15: conversation is not open for public join.
    NotPublic,
    /// 16: conversation has been deleted.
    ConversationDeleted,
    /// 18: user validation failed (a deleted user given as a new participant).
    UserValidationFailed,
    /// 19: user is not a participant.
    NotParticipant,
    /// 21: number of requested objects is zero.
    NothingRequested,
    /// 22: number of requested objects exceeds the limit.
    TooMany,
    /// 23: message text exceeds 5 000 characters.
    TextTooLong,
    /// 24: sequence number is beyond the last event.
    SeqBeyondLast,
    /// 25: user not found.
    UserNotFound,
    /// 26: unsupported notification event.
    UnsupportedNotification,
    /// 28: `events_from` is greater than `events_to`.
    RangeReversed,
    /// 30: messaging service temporarily unavailable.
    Unavailable,
    /// 32: per-second request limit reached.
    RateLimitSecond,
    /// 33: per-minute request limit reached.
    RateLimitMinute,
    /// 34: a direct conversation cannot be public or uber.
    DirectNotPublicOrUber,
    /// 35: a direct conversation needs exactly one other participant.
    DirectNeedsOneOther,
    /// 36: give only two of `events_from`, `events_to`, `count`.
    RetransmitThreeGiven,
    /// 37: cannot add participants to a direct conversation.
    DirectAdd,
    /// 38: cannot remove participants from a direct conversation.
    DirectRemove,
    /// 39: cannot join a direct conversation.
    DirectJoin,
    /// 40: cannot leave a direct conversation.
    DirectLeave,
    /// 41: give two of `events_from`, `events_to`, `count`.
    RetransmitTooFewGiven,
    /// 60 (chatwire extension): the idempotency key was already used for another request.
    IdempotencyConflict,
    /// 500: internal server error.
    Internal,
    /// Any other code (e.g. the original's reserved 42/43).
    Unknown(u32),
}

const TABLE: &[(ErrorCode, u32, &str)] = &[
    (
        ErrorCode::InvalidParameter,
        0,
        "Invalid or missing parameter.",
    ),
    (ErrorCode::MalformedFrame, 1, "Malformed frame."),
    (ErrorCode::UnknownEvent, 2, "Unknown event name."),
    (ErrorCode::NotLoggedIn, 3, "Not logged in."),
    (
        ErrorCode::ConversationNotFound,
        8,
        "Conversation does not exist.",
    ),
    (
        ErrorCode::MessageNotFound,
        10,
        "Message does not exist in this conversation.",
    ),
    (ErrorCode::MessageRemoved, 11, "Message has been removed."),
    (ErrorCode::AccessDenied, 12, "Access denied."),
    (
        ErrorCode::AlreadyParticipant,
        13,
        "User is already a participant.",
    ),
    (
        ErrorCode::NotPublic,
        15,
        "Conversation is not open for public join.",
    ),
    (
        ErrorCode::ConversationDeleted,
        16,
        "Conversation has been deleted.",
    ),
    (
        ErrorCode::UserValidationFailed,
        18,
        "User validation failed.",
    ),
    (ErrorCode::NotParticipant, 19, "User is not a participant."),
    (
        ErrorCode::NothingRequested,
        21,
        "Number of requested objects is zero.",
    ),
    (
        ErrorCode::TooMany,
        22,
        "Number of requested objects exceeds the limit.",
    ),
    (
        ErrorCode::TextTooLong,
        23,
        "Message text exceeds 5000 characters.",
    ),
    (
        ErrorCode::SeqBeyondLast,
        24,
        "Sequence number is beyond the last event.",
    ),
    (ErrorCode::UserNotFound, 25, "User not found."),
    (
        ErrorCode::UnsupportedNotification,
        26,
        "Unsupported notification event.",
    ),
    (
        ErrorCode::RangeReversed,
        28,
        "events_from is greater than events_to.",
    ),
    (
        ErrorCode::Unavailable,
        30,
        "Messaging service temporarily unavailable.",
    ),
    (
        ErrorCode::RateLimitSecond,
        32,
        "Per-second request limit reached.",
    ),
    (
        ErrorCode::RateLimitMinute,
        33,
        "Per-minute request limit reached.",
    ),
    (
        ErrorCode::DirectNotPublicOrUber,
        34,
        "A direct conversation cannot be public or uber.",
    ),
    (
        ErrorCode::DirectNeedsOneOther,
        35,
        "A direct conversation needs exactly one other participant.",
    ),
    (
        ErrorCode::RetransmitThreeGiven,
        36,
        "Give only two of events_from, events_to, count.",
    ),
    (
        ErrorCode::DirectAdd,
        37,
        "Cannot add participants to a direct conversation.",
    ),
    (
        ErrorCode::DirectRemove,
        38,
        "Cannot remove participants from a direct conversation.",
    ),
    (
        ErrorCode::DirectJoin,
        39,
        "Cannot join a direct conversation.",
    ),
    (
        ErrorCode::DirectLeave,
        40,
        "Cannot leave a direct conversation.",
    ),
    (
        ErrorCode::RetransmitTooFewGiven,
        41,
        "Give two of events_from, events_to, count.",
    ),
    (
        ErrorCode::IdempotencyConflict,
        60,
        "Idempotency key already used for another request.",
    ),
    (ErrorCode::Internal, 500, "Internal server error."),
];

impl ErrorCode {
    /// The code for a numeric value.
    pub fn from_code(code: u32) -> ErrorCode {
        TABLE
            .iter()
            .find(|(_, c, _)| *c == code)
            .map(|(e, _, _)| *e)
            .unwrap_or(ErrorCode::Unknown(code))
    }

    /// The numeric value sent on the wire.
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::Unknown(c) => c,
            known => TABLE
                .iter()
                .find(|(e, _, _)| *e == known)
                .map(|(_, c, _)| *c)
                .unwrap_or(500),
        }
    }

    /// The suggested description of docs/BEHAVIOUR.md section 9.
    pub fn description(self) -> &'static str {
        TABLE
            .iter()
            .find(|(e, _, _)| *e == self)
            .map(|(_, _, d)| *d)
            .unwrap_or("Unknown error.")
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.code())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = crate::lenient::u64(d)?;
        Ok(ErrorCode::from_code(u32::try_from(v).unwrap_or(u32::MAX)))
    }
}

/// Why a frame or a request payload could not be decoded.
///
/// [`DecodeError::code`] gives the messaging error code the server answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON, not an object, neither `service` nor `name`, wrong `service`, bad `event`,
    /// `payload` or `request_uuid` (code 1).
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The action name is not known (code 2).
    #[error("unknown event name: {0}")]
    UnknownAction(String),
    /// The action exists in the original but is not available to clients (code 12).
    #[error("action not available to clients: {0}")]
    Reserved(String),
    /// A required field is missing, or a field has the wrong type or is out of range (code 0).
    #[error("invalid or missing parameter `{field}`: {reason}")]
    InvalidField {
        /// The offending field (dotted path for nested fields).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl DecodeError {
    /// An [`DecodeError::InvalidField`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DecodeError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The messaging error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Malformed(_) => ErrorCode::MalformedFrame,
            DecodeError::UnknownAction(_) => ErrorCode::UnknownEvent,
            DecodeError::Reserved(_) => ErrorCode::AccessDenied,
            DecodeError::InvalidField { .. } => ErrorCode::InvalidParameter,
        }
    }
}
