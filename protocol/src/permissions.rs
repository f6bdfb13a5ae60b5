//! The participant permission bitmask (docs/BEHAVIOUR.md section 5.1).

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::lenient;

/// A participant's permission flags, always in normalized form.
///
/// Normalization (docs/BEHAVIOUR.md section 5.1): a raw value outside `0..=65535` is invalid; if the owner
/// bit (32768) is set the value becomes [`Permissions::ALL`] (65535, owner implies every
/// permission); otherwise only the six low bits are kept.
///
/// ```
/// use chatwire_protocol::Permissions;
/// assert_eq!(Permissions::normalize(32768), Some(Permissions::ALL));
/// assert_eq!(Permissions::normalize(7 | 128), Some(Permissions::DEFAULT));
/// assert_eq!(Permissions::normalize(70000), None);
/// assert!(Permissions::DEFAULT.contains(Permissions::WRITE));
/// assert!(!Permissions::DEFAULT.contains(Permissions::MANAGE));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u16);

impl Permissions {
    /// No permission at all (read only).
    pub const NONE: Permissions = Permissions(0);
    /// Send messages and typing notifications.
    pub const WRITE: Permissions = Permissions(1);
    /// Edit own messages.
    pub const EDIT: Permissions = Permissions(2);
    /// Remove own messages.
    pub const REMOVE: Permissions = Permissions(4);
    /// Add, remove and edit (non-owner) participants.
    pub const MANAGE: Permissions = Permissions(8);
    /// Edit anyone's messages.
    pub const EDIT_ALL: Permissions = Permissions(16);
    /// Remove anyone's messages.
    pub const REMOVE_ALL: Permissions = Permissions(32);
    /// Owner: everything, editing the conversation and touching other owners.
    pub const OWNER: Permissions = Permissions(32768);
    /// Canonical value of an owner (65535).
    pub const ALL: Permissions = Permissions(65535);
    /// Default for a new participant when no flags are given: write + edit + remove (7).
    pub const DEFAULT: Permissions = Permissions(7);

    const LOW_SIX: u16 = 63;

    /// Normalizes a raw wire value; `None` if it is outside `0..=65535`.
    pub fn normalize(raw: i64) -> Option<Permissions> {
        let raw = u16::try_from(raw).ok()?;
        Some(if raw & Self::OWNER.0 != 0 {
            Self::ALL
        } else {
            Permissions(raw & Self::LOW_SIX)
        })
    }

    /// Normalizes raw bits in a `const` context (owner bit: [`Permissions::ALL`]; otherwise
    /// the six low bits).
    ///
    /// ```
    /// use chatwire_protocol::Permissions;
    /// const CHAT: Permissions = Permissions::from_bits(15);
    /// assert!(CHAT.contains(Permissions::MANAGE));
    /// ```
    pub const fn from_bits(raw: u16) -> Permissions {
        if raw & Self::OWNER.0 != 0 {
            Self::ALL
        } else {
            Permissions(raw & Self::LOW_SIX)
        }
    }

    /// The normalized raw value.
    pub fn bits(self) -> u16 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the owner bit is set.
    pub fn is_owner(self) -> bool {
        self.contains(Self::OWNER)
    }
}

impl BitOr for Permissions {
    type Output = Permissions;
    fn bitor(self, rhs: Permissions) -> Permissions {
        Permissions::normalize(i64::from(self.0 | rhs.0)).unwrap_or(Permissions::ALL)
    }
}

impl BitOrAssign for Permissions {
    fn bitor_assign(&mut self, rhs: Permissions) {
        *self = *self | rhs;
    }
}

impl BitAnd for Permissions {
    type Output = Permissions;
    fn bitand(self, rhs: Permissions) -> Permissions {
        Permissions(self.0 & rhs.0)
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Permissions, &str); 7] = [
            (Permissions::OWNER, "OWNER"),
            (Permissions::WRITE, "WRITE"),
            (Permissions::EDIT, "EDIT"),
            (Permissions::REMOVE, "REMOVE"),
            (Permissions::MANAGE, "MANAGE"),
            (Permissions::EDIT_ALL, "EDIT_ALL"),
            (Permissions::REMOVE_ALL, "REMOVE_ALL"),
        ];
        if self.is_owner() {
            return write!(f, "Permissions(OWNER)");
        }
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(p, _)| self.contains(*p) && p.0 != 0)
            .map(|(_, n)| *n)
            .collect();
        write!(
            f,
            "Permissions({})",
            if names.is_empty() {
                "NONE".to_string()
            } else {
                names.join(" | ")
            }
        )
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = lenient::i64(d)?;
        Permissions::normalize(raw).ok_or_else(|| serde::de::Error::custom("flags out of range"))
    }
}
