//! Read models: what each projection keeps in the read store, and how queries
//! read it back. The read half of CQRS, minus the plumbing.
//!
//! Owns: the [`Projection`] trait (a pure function from one event to the
//! writes it makes), each projection ([`profiles`], [`posts`], [`chat`], [`calendar`],
//! [`inbox`]) with the typed
//! queries over what it wrote, and the naming of its collections by
//! generation ([`Generation`]), so a rebuild can fill new collections beside
//! the live ones, and the [`registry`] of live generations and checkpoints;
//! posts kept as rendered JSON for the process serving pages ([`rendered`]).
//! Never touches: NATS, HTTP, consumers, checkpoints (the `projectors` crate
//! runs projections; the command API serves the queries).
//!
//! A projection never reads while it applies: every write is a function of
//! the event alone, stamped by the engine with the event's sequence
//! ([`read_store::Mark`]), so redelivery and replay change nothing twice and
//! the same log always builds the same model, on either store.

pub mod calendar;
pub mod chat;
pub mod inbox;
pub mod posts;
pub mod profiles;
pub mod projection;
pub mod registry;
pub mod rendered;

pub use projection::{Event, Generation, Projection, mark_field, snapshot};

/// One page of a list, in the list's order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next: Option<String>,
}

/// Every projection Pulse runs.
pub fn all() -> Vec<std::sync::Arc<dyn Projection>> {
    vec![
        std::sync::Arc::new(profiles::Profiles),
        std::sync::Arc::new(posts::Posts),
        std::sync::Arc::new(chat::Chat),
        std::sync::Arc::new(calendar::Calendar),
        std::sync::Arc::new(inbox::Inbox),
    ]
}
