//! The event catalogue: every fact Pulse records, per bounded context.
//!
//! Each payload has a stable name (`PostCreated`) and a schema version. Payloads
//! are a public contract: a change never edits a version in place, it adds a new
//! version and an upcaster in [`crate::upcast`]. The CloudEvents type on the wire
//! is `pulse.<context>.<Name>.v<version>` (see [`crate::envelope`]).

pub mod chat;
pub mod content;
pub mod notifications;
pub mod users;

pub use chat::ChatEvent;
pub use content::ContentEvent;
pub use notifications::NotificationEvent;
pub use users::UserEvent;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A bounded context: one JetStream stream each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Context {
    /// Profiles, handles, follows, blocks.
    Users,
    /// Posts, comments, likes, calendar events, RSVPs, moderation.
    Content,
    /// Conversations and messages.
    Chat,
    /// Notifications, preferences, push subscriptions.
    Notifications,
}

impl Context {
    /// Every context, in stream order.
    pub const ALL: [Context; 4] = [Self::Users, Self::Content, Self::Chat, Self::Notifications];

    /// The lowercase name used in subjects and CloudEvents types.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Content => "content",
            Self::Chat => "chat",
            Self::Notifications => "notifications",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any event of any context: what a reader of several streams gets back.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainEvent {
    /// An event of the users context.
    Users(UserEvent),
    /// An event of the content context.
    Content(ContentEvent),
    /// An event of the chat context.
    Chat(ChatEvent),
    /// An event of the notifications context.
    Notifications(NotificationEvent),
}

impl DomainEvent {
    /// The context the event belongs to.
    pub fn context(&self) -> Context {
        match self {
            Self::Users(_) => Context::Users,
            Self::Content(_) => Context::Content,
            Self::Chat(_) => Context::Chat,
            Self::Notifications(_) => Context::Notifications,
        }
    }

    /// The event's stable name, such as `PostCreated`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Users(e) => e.name(),
            Self::Content(e) => e.name(),
            Self::Chat(e) => e.name(),
            Self::Notifications(e) => e.name(),
        }
    }

    /// The schema version this build writes.
    pub fn version(&self) -> u32 {
        match self {
            Self::Users(e) => e.version(),
            Self::Content(e) => e.version(),
            Self::Chat(e) => e.version(),
            Self::Notifications(e) => e.version(),
        }
    }

    /// The JSON body of the event.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        match self {
            Self::Users(e) => e.to_json(),
            Self::Content(e) => e.to_json(),
            Self::Chat(e) => e.to_json(),
            Self::Notifications(e) => e.to_json(),
        }
    }

    /// The JSON body as a value, for printing.
    pub fn to_value(&self) -> serde_json::Value {
        self.to_json().ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or(serde_json::Value::Null)
    }
}

/// Generates a context's event enum from its payload structs: one variant per
/// payload, named like it, with the schema version this build writes.
macro_rules! catalog {
    ($(#[$doc:meta])* $enum:ident, $ctx:expr, { $($name:ident = $version:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $enum {
            $(
                #[doc = concat!("See [`", stringify!($name), "`].")]
                $name($name),
            )*
        }

        impl $enum {
            /// The context these events belong to.
            pub const CONTEXT: $crate::catalog::Context = $ctx;

            /// Every event name of the context with the version this build writes.
            pub const CURRENT: &'static [(&'static str, u32)] = &[$((stringify!($name), $version)),*];

            /// The event's stable name.
            pub fn name(&self) -> &'static str {
                match self { $(Self::$name(_) => stringify!($name),)* }
            }

            /// The schema version this build writes for the event.
            pub fn version(&self) -> u32 {
                match self { $(Self::$name(_) => $version,)* }
            }

            /// The JSON body.
            pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
                // Most bodies fit: one allocation instead of a doubling series.
                let mut out = Vec::with_capacity(512);
                match self { $(Self::$name(e) => serde_json::to_writer(&mut out, e),)* }?;
                Ok(out)
            }

            /// Decodes a body written at the current version; `None` for an unknown name.
            pub(crate) fn from_current(name: &str, body: serde_json::Value) -> Option<serde_json::Result<Self>> {
                match name {
                    $(stringify!($name) => Some(serde_json::from_value(body).map(Self::$name)),)*
                    _ => None,
                }
            }
        }

        $(
            impl From<$name> for $enum {
                fn from(event: $name) -> Self {
                    Self::$name(event)
                }
            }

            impl From<$name> for $crate::catalog::DomainEvent {
                fn from(event: $name) -> Self {
                    $crate::catalog::DomainEvent::from_context($enum::$name(event))
                }
            }
        )*

        impl From<$enum> for $crate::catalog::DomainEvent {
            fn from(event: $enum) -> Self {
                $crate::catalog::DomainEvent::from_context(event)
            }
        }
    };
}
pub(crate) use catalog;

/// Wraps a context's event in [`DomainEvent`] and finds it in one again;
/// implemented by each context enum.
pub trait IntoDomainEvent: Sized + Clone {
    /// The wrapped event.
    fn into_domain(self) -> DomainEvent;
    /// The context's event inside `event`, if it is of this context.
    fn peel(event: &DomainEvent) -> Option<&Self>;
}

impl IntoDomainEvent for UserEvent {
    fn into_domain(self) -> DomainEvent {
        DomainEvent::Users(self)
    }
    fn peel(event: &DomainEvent) -> Option<&Self> {
        match event {
            DomainEvent::Users(e) => Some(e),
            _ => None,
        }
    }
}
impl IntoDomainEvent for ContentEvent {
    fn into_domain(self) -> DomainEvent {
        DomainEvent::Content(self)
    }
    fn peel(event: &DomainEvent) -> Option<&Self> {
        match event {
            DomainEvent::Content(e) => Some(e),
            _ => None,
        }
    }
}
impl IntoDomainEvent for ChatEvent {
    fn into_domain(self) -> DomainEvent {
        DomainEvent::Chat(self)
    }
    fn peel(event: &DomainEvent) -> Option<&Self> {
        match event {
            DomainEvent::Chat(e) => Some(e),
            _ => None,
        }
    }
}
impl IntoDomainEvent for NotificationEvent {
    fn into_domain(self) -> DomainEvent {
        DomainEvent::Notifications(self)
    }
    fn peel(event: &DomainEvent) -> Option<&Self> {
        match event {
            DomainEvent::Notifications(e) => Some(e),
            _ => None,
        }
    }
}

impl DomainEvent {
    fn from_context(event: impl IntoDomainEvent) -> Self {
        event.into_domain()
    }
}
