//! Identifier newtypes. Every id that ends up in a NATS subject is checked here,
//! once, so a subject token can never contain `.`, `*`, `>` or whitespace.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Why a raw string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    /// Shorter or longer than the limits.
    #[error("must be {min} to {max} characters long")]
    Length {
        /// The shortest allowed.
        min: usize,
        /// The longest allowed.
        max: usize,
    },
    /// A character outside the allowed set.
    #[error("may only contain {allowed}")]
    Characters {
        /// The allowed characters, in words.
        allowed: &'static str,
    },
    /// Not a UUID.
    #[error("must be a UUID")]
    NotUuid,
}

/// A user id: the `sub` claim of the identity token (NextAuth), which is not
/// always a UUID (OAuth providers use numeric ids, adapters use cuids).
/// 1 to 64 characters of `A-Z a-z 0-9 _ -`. Only [`UserId::parse`] makes one;
/// deserializing goes through it too, so an id read from an event or a body is
/// as checked as one from a path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Checks a raw user id.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        if raw.is_empty() || raw.len() > 64 {
            return Err(InvalidId::Length { min: 1, max: 64 });
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(InvalidId::Characters { allowed: "letters, digits, '_' and '-'" });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

/// A user handle: 3 to 30 characters of `a-z 0-9 _`, unique across Pulse.
/// Only [`Handle::parse`] makes one (deserializing included); it lowercases its
/// input.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

impl Handle {
    /// Checks and lowercases a raw handle.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let lower = raw.to_ascii_lowercase();
        if lower.len() < 3 || lower.len() > 30 {
            return Err(InvalidId::Length { min: 3, max: 30 });
        }
        if !lower.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(InvalidId::Characters { allowed: "a-z, 0-9 and '_'" });
        }
        Ok(Self(lower))
    }

    /// The handle as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", self.0)
    }
}

/// Deserializing and serializing through `parse` and the plain string.
macro_rules! string_id {
    ($($name:ident),*) => {$(
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(raw: String) -> Result<Self, InvalidId> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    )*};
}

string_id!(UserId, Handle);

macro_rules! uuid_id {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the hyphenated UUID form.
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                Uuid::parse_str(raw).map(Self).map_err(|_| InvalidId::NotUuid)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    )*};
}

uuid_id! {
    /// A post.
    PostId,
    /// A comment on a post.
    CommentId,
    /// A calendar event people RSVP to (not a domain event).
    EventId,
    /// A direct or group conversation.
    ConversationId,
    /// A chat message.
    MessageId,
    /// A notification.
    NotificationId,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_that_could_break_a_subject_are_refused() {
        for bad in ["", "a.b", "a b", "*", ">", "ü", &"x".repeat(65)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(UserId::parse("108234567890_abc-DEF").is_ok());
    }

    #[test]
    fn handles_are_lowercased_and_checked() {
        assert_eq!(Handle::parse("Ana_99").map(|h| h.0), Ok("ana_99".to_owned()));
        for bad in ["ab", "has space", "dot.ted", "émile", &"a".repeat(31)] {
            assert!(Handle::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Handle::parse("ab").unwrap_err().to_string(), "must be 3 to 30 characters long");
    }

    #[test]
    fn deserializing_an_id_checks_it_as_parse_does() {
        assert_eq!(serde_json::from_str::<UserId>(r#""ana-1""#).unwrap().as_str(), "ana-1");
        assert!(serde_json::from_str::<UserId>(r#""a.b""#).is_err(), "a subject separator got in");
        assert!(serde_json::from_str::<Handle>(r#""Has Space""#).is_err());
        assert_eq!(serde_json::to_string(&Handle::parse("Ana").unwrap()).unwrap(), r#""ana""#);
    }
}
