//! Which generation of each projection is live, as every process sees it.
//! The registry in the read store is the truth; a rebuild that switches
//! generations announces it (core NATS, `<namespace>.live.<projection>`), and
//! each process also reads the registry every few seconds, so a missed
//! notice delays a switch, never loses it.

use events::EventStore;
use futures::StreamExt;
use read_models::{Generation, Projection, registry};
use read_store::ReadStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Live generations by projection name.
pub type Live = HashMap<&'static str, Generation>;

/// How often the registry is read besides the notices.
pub const POLL: Duration = Duration::from_secs(3);

/// Tells every process that `projection` now reads `generation`.
pub async fn announce(log: &EventStore, projection: &str, generation: Generation) {
    let subject = format!("{}.live.{projection}", log.namespace().as_str());
    if let Err(e) = log.client().publish(subject, generation.0.to_string().into()).await {
        tracing::debug!(error = %e, projection, "switch notice not sent");
    }
}

/// The live generations of `projections`, kept current for as long as the
/// receiver lives.
pub async fn watch<S: ReadStore + Clone>(
    log: &EventStore,
    store: &S,
    projections: &[Arc<dyn Projection>],
) -> Result<watch::Receiver<Live>, String> {
    let names: Vec<&'static str> = projections.iter().map(|p| p.name()).collect();
    let first = read(store, &names).await?;
    let (sender, receiver) = watch::channel(first);
    let pattern = format!("{}.live.*", log.namespace().as_str());
    let mut notices = log.client().subscribe(pattern).await.map_err(|e| e.to_string())?;
    let store = store.clone();
    tokio::spawn(async move {
        let mut poll = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                notice = notices.next() => if notice.is_none() { return },
                _ = poll.tick() => {},
                _ = sender.closed() => return,
            }
            // A notice only says "look": the registry decides.
            if let Ok(now) = read(&store, &names).await {
                sender.send_if_modified(|live| {
                    let changed = *live != now;
                    *live = now;
                    changed
                });
            }
        }
    });
    Ok(receiver)
}

async fn read<S: ReadStore>(store: &S, names: &[&'static str]) -> Result<Live, String> {
    let mut live = Live::new();
    for name in names {
        live.insert(*name, registry::live(store, name).await.map_err(|e| e.to_string())?);
    }
    Ok(live)
}
