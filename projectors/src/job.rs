//! What the projectors run, and what stops them: a [`Job`] is a projection
//! (writing its model) or a [`Reactor`] (acting elsewhere), each reading its
//! streams through a shared durable consumer named by [`durable`].

use events::catalog::Context;
use events::store::{Recorded, StoreError};
use futures::future::BoxFuture;
use read_models::{Generation, Projection};
use read_store::ReadStoreError;
use std::sync::Arc;

/// Why a projector stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// The read store refused the model's collections at start-up.
    #[error("read store: {0}")]
    Store(#[from] ReadStoreError),
    /// The log could not be reached at start-up.
    #[error("event log: {0}")]
    Log(#[from] StoreError),
    /// The live generations could not be read or watched.
    #[error("live generations: {0}")]
    Live(String),
    /// Building a generation from the stream failed.
    #[error("building from the log: {0}")]
    Build(String),
}

/// A consumer of the log whose effects live outside the read store (commands
/// appended, feeds in Redis): run in stream order like a projection, with a
/// checkpoint in the read store, each event retried until it is handled. It
/// must be idempotent: an event can be handled again after a crash.
pub trait Reactor: Send + Sync + 'static {
    /// Its name in checkpoints, consumers and status.
    fn name(&self) -> &'static str;

    /// The streams it reads.
    fn contexts(&self) -> &'static [Context];

    /// Handles one event; an error means "try this event again".
    fn react<'a>(&'a self, recorded: &'a Recorded) -> BoxFuture<'a, Result<(), String>>;

    /// The streams `contexts` began a new life ([`crate::life`]): forgets
    /// what it derived from their old one (its checkpoints there are rewound
    /// by the engine). Nothing by default: a reactor whose effects are keyed
    /// by event ids keeps nothing that a new life contradicts.
    fn new_life<'a>(&'a self, _contexts: &'a [Context]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// What a projector runs over a stream: a projection, writing its model, or
/// a reactor, acting elsewhere.
#[derive(Clone)]
pub enum Job {
    /// A read model.
    Project(Arc<dyn Projection>),
    /// The policies, the feeds.
    React(Arc<dyn Reactor>),
}

impl Job {
    /// Its name in checkpoints, consumers and status.
    pub fn name(&self) -> &'static str {
        match self {
            Job::Project(projection) => projection.name(),
            Job::React(reactor) => reactor.name(),
        }
    }

    /// The streams it reads.
    pub fn contexts(&self) -> &'static [Context] {
        match self {
            Job::Project(projection) => projection.contexts(),
            Job::React(reactor) => reactor.contexts(),
        }
    }

    /// Every projection, then every reactor.
    pub fn all(projections: &[Arc<dyn Projection>], reactors: Vec<Arc<dyn Reactor>>) -> Vec<Job> {
        let mut jobs: Vec<Job> = projections.iter().cloned().map(Job::Project).collect();
        jobs.extend(reactors.into_iter().map(Job::React));
        jobs
    }
}

/// The name of the shared consumer of one generation of a job in one stream.
pub fn durable(job: &str, generation: Generation, context: Context) -> String {
    format!("{job}_g{}_{}", generation.0, context.as_str())
}
