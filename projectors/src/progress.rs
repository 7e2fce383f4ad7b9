//! Read-your-writes. After each batch a projector publishes how far it got
//! (core NATS, `<namespace>.progress.<projection>`); [`Progress`] listens in
//! the process that serves queries and wakes whoever waits for a position.
//! A missed notice is covered by the next one, and by the checkpoints read
//! from the store when a waiter starts.

use events::EventStore;
use events::catalog::Context;
use events::store::Position;
use futures::StreamExt;
use read_models::{Generation, registry};
use read_store::ReadStore;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a projector announces after a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Notice {
    /// The generation that advanced.
    pub generation: u32,
    /// The stream.
    pub context: Context,
    /// The last sequence applied.
    pub sequence: u64,
}

/// The subject of a projection's notices.
pub fn subject(log: &EventStore, projection: &str) -> String {
    format!("{}.progress.{projection}", log.namespace().as_str())
}

/// Announces a batch; a lost notice costs a waiter time, never a wrong answer.
pub async fn announce(log: &EventStore, projection: &str, notice: &Notice) {
    let Ok(body) = serde_json::to_vec(notice) else { return };
    if let Err(e) = log.client().publish(subject(log, projection), body.into()).await {
        tracing::debug!(error = %e, projection, "progress notice not sent");
    }
}

type Key = (&'static str, Context);

/// How far the live generation of each projection has read each stream, as
/// announced; cheap to clone.
#[derive(Clone)]
pub struct Progress {
    positions: Arc<HashMap<Key, watch::Sender<u64>>>,
    live: Arc<HashMap<&'static str, Generation>>,
}

impl Progress {
    /// Starts listening for the projections' notices, after declaring their
    /// live collections to the store and reading their checkpoints.
    pub async fn start<S: ReadStore>(
        log: &EventStore,
        store: &S,
        projections: &[Arc<dyn read_models::Projection>],
    ) -> Result<Self, String> {
        let mut positions = HashMap::new();
        let declared = registry::declare(store, projections).await.map_err(|e| e.to_string())?;
        let live: HashMap<_, _> = declared.into_iter().collect();
        for projection in projections {
            let name = projection.name();
            let generation = live.get(name).copied().unwrap_or(Generation::FIRST);
            for &context in projection.contexts() {
                let at = registry::checkpoint(store, name, generation, context).await.map_err(|e| e.to_string())?;
                positions.insert((name, context), watch::channel(at.sequence).0);
            }
        }
        let live = Arc::new(live);
        let progress = Self { positions: Arc::new(positions), live: live.clone() };
        let pattern = format!("{}.progress.*", log.namespace().as_str());
        let mut notices = log.client().subscribe(pattern).await.map_err(|e| e.to_string())?;
        let listener = progress.clone();
        tokio::spawn(async move {
            while let Some(message) = notices.next().await {
                let name = message.subject.rsplit('.').next().unwrap_or_default();
                let Ok(notice) = serde_json::from_slice::<Notice>(&message.payload) else { continue };
                let Some((&name, &generation)) = live.get_key_value(name) else { continue };
                // A rebuild's generation announces too; only the live one answers queries.
                if Generation(notice.generation) == generation {
                    listener.advance(name, notice.context, notice.sequence);
                }
            }
        });
        Ok(progress)
    }

    /// The generation of `projection` that queries read.
    pub fn generation(&self, projection: &str) -> Generation {
        self.live.get(projection).copied().unwrap_or(Generation::FIRST)
    }

    fn advance(&self, projection: &'static str, context: Context, sequence: u64) {
        if let Some(position) = self.positions.get(&(projection, context)) {
            position.send_if_modified(|at| {
                let later = sequence > *at;
                *at = (*at).max(sequence);
                later
            });
        }
    }

    /// Waits until every one of `projections` that reads the position's
    /// stream has applied it, or `timeout` passed; whether they got there.
    pub async fn wait(&self, projections: &[&str], position: Position, timeout: Duration) -> bool {
        let waits =
            projections.iter().filter_map(|name| self.positions.get(&(*name, position.context))).map(|sender| {
                let mut receiver = sender.subscribe();
                async move { receiver.wait_for(|at| *at >= position.sequence).await.is_ok() }
            });
        let all = futures::future::join_all(waits);
        matches!(tokio::time::timeout(timeout, all).await, Ok(reached) if reached.iter().all(|ok| *ok))
    }
}
