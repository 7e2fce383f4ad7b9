//! Where each projection stands against the log: what `pulse projections
//! status` prints. Read from the checkpoints in the read store and the heads
//! of the streams, so it needs no projector running.

use events::EventStore;
use events::catalog::Context;
use events::store::Position;
use read_models::{Generation, Projection, registry};
use read_store::ReadStore;
use std::sync::Arc;
use time::OffsetDateTime;

/// One projection's generation reading one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStatus {
    /// The projection.
    pub projection: &'static str,
    /// Its live generation.
    pub generation: Generation,
    /// The stream.
    pub context: Context,
    /// The last sequence applied (0: none).
    pub applied: u64,
    /// The stream's last sequence.
    pub head: u64,
    /// Events appended and not yet applied.
    pub lag_events: u64,
    /// How long the oldest event not yet applied has waited, in seconds.
    pub lag_seconds: f64,
}

impl StreamStatus {
    /// `caught up`, `behind` or `not started`.
    pub fn state(&self) -> &'static str {
        match (self.applied, self.lag_events) {
            (_, 0) => "caught up",
            (0, _) => "not started",
            _ => "behind",
        }
    }
}

/// The status of every projection, and of every reactor named (which stay
/// in their first generation), in every stream it reads.
pub async fn status<S: ReadStore>(
    log: &EventStore,
    store: &S,
    projections: &[Arc<dyn Projection>],
    reactors: &[(&'static str, &'static [Context])],
) -> Result<Vec<StreamStatus>, String> {
    store.ensure(&registry::collections()).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let named = projections.iter().map(|p| (p.name(), p.contexts())).chain(reactors.iter().copied());
    for (name, contexts) in named {
        let generation = registry::live(store, name).await.map_err(|e| e.to_string())?;
        for &context in contexts {
            let applied = registry::checkpoint(store, name, generation, context).await.map_err(|e| e.to_string())?;
            let head = log.head(context).await.map_err(|e| e.to_string())?;
            let lag_events = head.saturating_sub(applied.sequence);
            let lag_seconds = if lag_events == 0 {
                0.0
            } else {
                let next = Position { context, sequence: applied.sequence + 1 };
                // The first event not applied may have been removed by the
                // stream's limits; then the lag in time is unknown: 0.
                match log.get(next).await {
                    Ok(Some(event)) => (OffsetDateTime::now_utc() - event.envelope.time).as_seconds_f64().max(0.0),
                    _ => 0.0,
                }
            };
            out.push(StreamStatus {
                projection: name,
                generation,
                context,
                applied: applied.sequence,
                head,
                lag_events,
                lag_seconds,
            });
        }
    }
    Ok(out)
}
