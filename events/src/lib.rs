//! The vocabulary of Pulse's event log and the only code that speaks JetStream.
//!
//! Owns: the event catalogue of every context ([`catalog`]), identifier types
//! ([`ids`]), aggregate subjects ([`subject`]), the CloudEvents envelope
//! ([`envelope`]), upcasting of old versions ([`upcast`]) and, behind the
//! `store` feature, the JetStream event store ([`store`]) and the oldest
//! nats-server it runs on ([`nats_version`]).
//! Never touches: HTTP, databases, business rules.

pub mod catalog;
pub mod envelope;
pub mod ids;
pub mod subject;
pub mod upcast;

#[cfg(feature = "store")]
pub mod nats_version;
#[cfg(feature = "store")]
pub mod store;

pub use catalog::{ChatEvent, ContentEvent, Context, DomainEvent, IntoDomainEvent, NotificationEvent, UserEvent};
pub use envelope::{Envelope, EventType, Metadata};
pub use subject::{Aggregate, Namespace};

#[cfg(feature = "store")]
pub use nats_version::{MIN_NATS_VERSION, NatsVersion};
#[cfg(feature = "store")]
pub use store::{
    Appended, Backlog, Delivery, EventStore, Expected, History, IdempotencyKey, Position, Recorded, Start, StoreConfig,
    StoreError, StreamState, Subscribe, Subscription,
};
