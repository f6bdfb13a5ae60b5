//! Newtype identifiers used on the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::lenient;

/// IM user id: a positive integer (< 2^53) the server assigns to each user.
///
/// It identifies users in every messaging frame and is **not** the admin API `user_id`.
///
/// ```
/// use chatwire_protocol::UserId;
/// let id: UserId = "17".parse().unwrap();
/// assert_eq!(id.get(), 17);
/// assert_eq!(id.to_string(), "17");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(u64);

impl UserId {
    /// The largest valid id (2^53 - 1, the largest integer a JavaScript client holds exactly).
    pub const MAX: u64 = (1 << 53) - 1;

    /// Wraps a raw id; `None` unless it is in `1..=UserId::MAX`.
    pub fn new(raw: u64) -> Option<Self> {
        (1..=Self::MAX).contains(&raw).then_some(Self(raw))
    }

    /// The raw integer.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for UserId {
    type Err = crate::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u64>()
            .ok()
            .and_then(UserId::new)
            .ok_or_else(|| crate::DecodeError::invalid("user_id", "not a positive integer"))
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = lenient::U64::deserialize(d)?.0;
        UserId::new(raw).ok_or_else(|| serde::de::Error::custom("user id out of range"))
    }
}

/// Per-conversation sequence number of a persisted event (1 for the creation event).
///
/// ```
/// use chatwire_protocol::Seq;
/// assert_eq!(Seq(4).next(), Seq(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

impl Seq {
    /// The following sequence number.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
    /// The raw integer.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Seq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Seq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Seq(lenient::U64::deserialize(d)?.0))
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh random (v4) id, as the server generates them.
            pub fn new_v4() -> Self {
                Self(uuid::Uuid::new_v4())
            }
            /// Parses any UUID spelling, case-insensitively (`None` if it is not a UUID).
            pub fn parse(s: &str) -> Option<Self> {
                uuid::Uuid::try_parse(s.trim()).ok().map(Self)
            }
            /// The UUID.
            pub fn as_uuid(&self) -> &uuid::Uuid {
                &self.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl fmt::Display for $name {
            /// Lower-case hyphenated form, as sent on the wire.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::DecodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| crate::DecodeError::invalid($field, "not a UUID"))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0.hyphenated())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::custom(concat!($field, " is not a UUID")))
            }
        }
    };
}

uuid_id!(
    /// Conversation uuid (server-generated UUID v4, sent in lower case).
    ///
    /// ```
    /// use chatwire_protocol::ConversationId;
    /// let id = ConversationId::parse("6F1C2A9E-0B5D-4C3A-9E7F-1A2B3C4D5E6F").unwrap();
    /// assert_eq!(id.to_string(), "6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f");
    /// ```
    ConversationId,
    "conversation"
);

uuid_id!(
    /// Message uuid (server-generated UUID v4).
    ///
    /// ```
    /// use chatwire_protocol::MessageId;
    /// assert!(MessageId::parse("not-a-uuid").is_none());
    /// ```
    MessageId,
    "uuid"
);
