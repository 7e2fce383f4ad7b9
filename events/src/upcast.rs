//! Old payload versions -> current ones, on read.
//!
//! Stored events are never rewritten. When a payload's shape changes, its
//! version goes up in the catalogue and a step here turns version N into N+1.
//! [`decode`] applies the steps in order, so every version ever written still
//! reads as the current type.

use crate::catalog::{ChatEvent, ContentEvent, Context, DomainEvent, NotificationEvent, UserEvent};
use serde_json::{Value, json};

/// Why a stored body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The name is not in the catalogue of the context.
    #[error("unknown event {context}.{name}")]
    UnknownEvent {
        /// The context.
        context: Context,
        /// The stored name.
        name: String,
    },
    /// Written by a newer build than this one.
    #[error("{name} v{version} is newer than this build reads (v{current})")]
    FutureVersion {
        /// The event name.
        name: String,
        /// The stored version.
        version: u32,
        /// The newest version this build knows.
        current: u32,
    },
    /// An older version with no upcaster: a bug in this module.
    #[error("no upcaster for {name} v{version}")]
    MissingUpcaster {
        /// The event name.
        name: String,
        /// The stored version.
        version: u32,
    },
    /// The body is not valid JSON for the type.
    #[error("{name} v{version} body does not parse: {reason}")]
    Body {
        /// The event name.
        name: String,
        /// The stored version.
        version: u32,
        /// What serde said.
        reason: String,
    },
}

/// Decodes a stored event of any version into the current type.
pub fn decode(context: Context, name: &str, version: u32, body: &[u8]) -> Result<DomainEvent, DecodeError> {
    let body_error = |reason: String| DecodeError::Body { name: name.to_owned(), version, reason };
    let current =
        current_version(context, name).ok_or_else(|| DecodeError::UnknownEvent { context, name: name.to_owned() })?;
    if version > current {
        return Err(DecodeError::FutureVersion { name: name.to_owned(), version, current });
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|e| body_error(e.to_string()))?;
    for from in version..current {
        value = step(context, name, from, value)
            .ok_or_else(|| DecodeError::MissingUpcaster { name: name.to_owned(), version: from })?;
    }
    let decoded = match context {
        Context::Users => UserEvent::from_current(name, value).map(|r| r.map(DomainEvent::Users)),
        Context::Content => ContentEvent::from_current(name, value).map(|r| r.map(DomainEvent::Content)),
        Context::Chat => ChatEvent::from_current(name, value).map(|r| r.map(DomainEvent::Chat)),
        Context::Notifications => {
            NotificationEvent::from_current(name, value).map(|r| r.map(DomainEvent::Notifications))
        }
    };
    match decoded {
        Some(result) => result.map_err(|e| body_error(e.to_string())),
        None => Err(DecodeError::UnknownEvent { context, name: name.to_owned() }),
    }
}

/// The version this build writes for an event name, if the name is known.
pub fn current_version(context: Context, name: &str) -> Option<u32> {
    let table = match context {
        Context::Users => UserEvent::CURRENT,
        Context::Content => ContentEvent::CURRENT,
        Context::Chat => ChatEvent::CURRENT,
        Context::Notifications => NotificationEvent::CURRENT,
    };
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// One upcasting step: the body of version `from` as version `from + 1`.
fn step(context: Context, name: &str, from: u32, body: Value) -> Option<Value> {
    match (context, name, from) {
        (Context::Users, "UserRegistered", 1) => Some(user_registered_v1_to_v2(body)),
        (Context::Users, "ProfileUpdated", 1) => Some(profile_updated_v1_to_v2(body)),
        (Context::Chat, "MessagesRead", 1) => Some(messages_read_v1_to_v2(body)),
        (Context::Chat, "MessagesRead", 2) => Some(messages_read_v2_to_v3(body)),
        (Context::Notifications, "NotificationGrouped", 1) => Some(notification_grouped_v1_to_v2(body)),
        _ => None,
    }
}

/// v1 (`{"user","handle","name"}`) named the display name `name` and had no
/// email; v2 calls it `display_name` and carries the email from the token.
fn user_registered_v1_to_v2(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        let name = fields.remove("name").unwrap_or(Value::String(String::new()));
        fields.insert("display_name".to_owned(), name);
        fields.entry("email").or_insert(json!(null));
    }
    body
}

/// v1 (`{"user","profile"}`) did not carry the handle; v2 does, so search
/// can index it with the new display name. An old update cannot recover it
/// from its own body, so it reads as `null`: the profiles projection then
/// indexes the display name alone until the user's next update.
fn profile_updated_v1_to_v2(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.entry("handle").or_insert(json!(null));
    }
    body
}

/// v1 (`{"conversation","reader","up_to"}`) did not say where the message
/// was sent; v2 adds `up_to_sequence`. The log cannot tell it for an old
/// mark, so it reads as `null`: unknown, which the read rules count as older
/// than any known position.
fn messages_read_v1_to_v2(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.entry("up_to_sequence").or_insert(json!(null));
    }
    body
}

/// v2 marks were shared with the conversation (read receipts were not yet a
/// setting anyone's marks obeyed); v3 says so with `private`.
fn messages_read_v2_to_v3(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.entry("private").or_insert(json!(false));
    }
    body
}

/// v1 did not name the recipient; the join alone cannot tell it, so it
/// reads as `null` (those joins were long handed out to sockets, or never).
fn notification_grouped_v1_to_v2(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.entry("recipient").or_insert(json!(null));
    }
    body
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::catalog::chat::MessagesRead;
    use crate::catalog::users::{Profile, ProfileUpdated, UserRegistered};
    use crate::ids::{ConversationId, Handle, MessageId, UserId};

    #[track_caller]
    fn check(context: Context, name: &str, version: u32, stored: &str, expected: impl Into<DomainEvent>) {
        assert_eq!(decode(context, name, version, stored.as_bytes()), Ok(expected.into()));
    }

    fn registered(display_name: &str, email: Option<&str>) -> UserEvent {
        UserEvent::UserRegistered(UserRegistered {
            user: UserId::parse("ana").unwrap(),
            handle: Handle::parse("ana").unwrap(),
            display_name: display_name.to_owned(),
            email: email.map(str::to_owned),
        })
    }

    #[test]
    fn every_stored_user_registered_version_still_reads() {
        check(
            Context::Users,
            "UserRegistered",
            1,
            r#"{"user":"ana","handle":"ana","name":"Ana"}"#,
            registered("Ana", None),
        );
        check(
            Context::Users,
            "UserRegistered",
            2,
            r#"{"user":"ana","handle":"ana","display_name":"Ana","email":"ana@example.org"}"#,
            registered("Ana", Some("ana@example.org")),
        );
    }

    fn updated(handle: Option<&str>) -> UserEvent {
        UserEvent::ProfileUpdated(ProfileUpdated {
            user: UserId::parse("ana").unwrap(),
            handle: handle.map(|h| Handle::parse(h).unwrap()),
            profile: Profile { display_name: "Ana S.".into(), bio: Some("hi".into()), ..Profile::default() },
        })
    }

    #[test]
    fn every_stored_profile_updated_version_still_reads() {
        let profile =
            r#""profile":{"display_name":"Ana S.","bio":"hi","avatar_url":null,"location":null,"website":null}"#;
        check(Context::Users, "ProfileUpdated", 1, &format!(r#"{{"user":"ana",{profile}}}"#), updated(None));
        check(
            Context::Users,
            "ProfileUpdated",
            2,
            &format!(r#"{{"user":"ana","handle":"ana_s",{profile}}}"#),
            updated(Some("ana_s")),
        );
    }

    fn read(up_to_sequence: Option<u64>, private: bool) -> ChatEvent {
        ChatEvent::MessagesRead(MessagesRead {
            conversation: ConversationId(uuid::Uuid::from_u128(1)),
            reader: UserId::parse("ana").unwrap(),
            up_to: MessageId(uuid::Uuid::from_u128(2)),
            up_to_sequence,
            private,
        })
    }

    #[test]
    fn every_stored_messages_read_version_still_reads() {
        let ids = r#""conversation":"00000000-0000-0000-0000-000000000001","reader":"ana","up_to":"00000000-0000-0000-0000-000000000002""#;
        check(Context::Chat, "MessagesRead", 1, &format!("{{{ids}}}"), read(None, false));
        check(Context::Chat, "MessagesRead", 2, &format!(r#"{{{ids},"up_to_sequence":42}}"#), read(Some(42), false));
        let v3 = format!(r#"{{{ids},"up_to_sequence":42,"private":true}}"#);
        check(Context::Chat, "MessagesRead", 3, &v3, read(Some(42), true));
    }

    #[test]
    fn every_stored_notification_grouped_version_still_reads() {
        use crate::catalog::NotificationEvent;
        use crate::catalog::notifications::NotificationGrouped;
        use crate::ids::NotificationId;
        let grouped = |recipient: Option<&str>| {
            NotificationEvent::NotificationGrouped(NotificationGrouped {
                notification: NotificationId(uuid::Uuid::from_u128(1)),
                actor: UserId::parse("cy").unwrap(),
                actors: 2,
                text: "bo and 1 other liked your post".into(),
                recipient: recipient.map(|r| UserId::parse(r).unwrap()),
            })
        };
        let v1 = r#"{"notification":"00000000-0000-0000-0000-000000000001","actor":"cy","actors":2,"text":"bo and 1 other liked your post"}"#;
        check(Context::Notifications, "NotificationGrouped", 1, v1, grouped(None));
        let v2 = v1.replace("}", r#","recipient":"ana"}"#);
        check(Context::Notifications, "NotificationGrouped", 2, &v2, grouped(Some("ana")));
    }

    #[test]
    fn a_version_from_a_newer_build_is_refused_not_misread() {
        let err = decode(Context::Users, "UserRegistered", 3, b"{}");
        assert!(matches!(err, Err(DecodeError::FutureVersion { version: 3, current: 2, .. })));
    }

    #[test]
    fn unknown_names_and_broken_bodies_are_errors() {
        assert!(matches!(decode(Context::Chat, "PostCreated", 1, b"{}"), Err(DecodeError::UnknownEvent { .. })));
        assert!(matches!(decode(Context::Chat, "MessageSent", 1, b"{"), Err(DecodeError::Body { .. })));
    }

    #[test]
    fn every_current_version_has_its_upcasters() {
        for context in Context::ALL {
            let table = match context {
                Context::Users => UserEvent::CURRENT,
                Context::Content => ContentEvent::CURRENT,
                Context::Chat => ChatEvent::CURRENT,
                Context::Notifications => NotificationEvent::CURRENT,
            };
            for (name, current) in table {
                for from in 1..*current {
                    assert!(step(context, name, from, json!({})).is_some(), "{name} v{from} has no upcaster");
                }
            }
        }
    }
}
