//! The projection engine: runs each read model's [`Projection`] over the log
//! and keeps its model current, and runs the [`Reactions`] (policies that
//! turn events into commands) the same way.
//!
//! Owns: one shared durable JetStream consumer per projection, generation and
//! stream ([`engine`]), read in batches, each batch's writes stamped with
//! their events' sequences and stored with its checkpoint, then acknowledged
//! with one ack; the lag metrics ([`metrics`]); the progress notices that
//! wake read-your-writes waiters ([`progress`]); where each projection
//! stands against the log ([`status`]); rebuilding a projection beside the
//! live one and checking the live one against a fresh build ([`rebuild`]);
//! starting over when the log begins a new life ([`life`]).
//! Never touches: what a model stores (in `read-models`), HTTP routes.
//!
//! Several `pulse projectors` processes may run at once: each consumer is
//! shared, and JetStream delivers to one process at a time, in order, handing
//! over when it stops. Marks make any event applied twice (redelivery, a
//! crash between the write and the ack, a hand-over) change nothing.
//!
//! [`Projection`]: read_models::Projection

pub mod engine;
pub mod job;
pub mod life;
pub mod live;
pub mod metrics;
pub mod progress;
pub mod reactions;
pub mod rebuild;
pub mod status;

pub use engine::{Projector, Settings};
pub use job::{Job, ProjectorError, Reactor};
pub use metrics::ProjectorMetrics;
pub use progress::Progress;
pub use reactions::Reactions;
