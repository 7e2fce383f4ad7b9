//! Rebuilding a projection beside the live one, and checking the live one
//! against a fresh build.
//!
//! A rebuild fills the next generation from the start of the log up to the
//! heads of its streams, makes it live (queries and projectors move to it,
//! told by a notice and by the registry), waits for every process to have
//! moved, then drops the old generation. The old one answers queries until
//! the switch, so there is no downtime.

use crate::engine::Projector;
use crate::job::ProjectorError;
use crate::life::discard;
use crate::live;
use read_models::{Generation, Projection, registry, snapshot};
use read_store::{Document, ReadStore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// The generation that was live.
    pub from: Generation,
    /// The generation live now.
    pub to: Generation,
}

/// How long after a switch the old generation is kept: every process reads
/// the registry within [`live::POLL`], and a query that started before may
/// still be reading.
pub const GRACE: Duration = Duration::from_secs(5);

/// Rebuilds `projection` into its next generation and makes that live;
/// `progress(applied, total)` is called as the build advances.
pub async fn rebuild<S: ReadStore + Clone>(
    projector: &Projector<S>,
    projection: &Arc<dyn Projection>,
    progress: impl Fn(u64, u64),
) -> Result<Rebuilt, ProjectorError> {
    let store = projector.store();
    let name = projection.name();
    registry::declare(store, std::slice::from_ref(projection)).await?;
    let from = registry::live(store, name).await?;
    let to = from.next();
    // What an interrupted rebuild left behind.
    discard(projector.log(), projector.store(), projection.as_ref(), to).await?;
    let mut until = Vec::new();
    for &context in projection.contexts() {
        until.push((context, projector.log().head(context).await?));
    }
    let total = until.iter().map(|(_, head)| head).sum();
    let build = projector.build(projection, to, &until);
    let report = async {
        loop {
            progress(applied(store, projection.as_ref(), to).await, total);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        built = build => built?,
        () = report => {}
    }
    progress(total, total);
    registry::set_live(store, name, to).await?;
    live::announce(projector.log(), name, to).await;
    tokio::time::sleep(GRACE).await;
    discard(projector.log(), projector.store(), projection.as_ref(), from).await?;
    Ok(Rebuilt { from, to })
}

/// One document that differs between the live model and a fresh build.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The collection (plain name).
    pub collection: String,
    /// The document id.
    pub id: String,
    /// The live document, if any.
    pub live: Option<Document>,
    /// The rebuilt document, if any.
    pub rebuilt: Option<Document>,
}

/// Builds `projection` from the log into a scratch generation, up to the
/// positions the live one has reached, and lists where the two differ.
pub async fn verify<S: ReadStore + Clone>(
    projector: &Projector<S>,
    projection: &Arc<dyn Projection>,
) -> Result<Vec<Difference>, ProjectorError> {
    let store = projector.store();
    registry::declare(store, std::slice::from_ref(projection)).await?;
    let live_generation = registry::live(store, projection.name()).await?;
    discard(projector.log(), projector.store(), projection.as_ref(), Generation::SCRATCH).await?;
    // The live model moves while this runs: compare when its checkpoints did
    // not move between reading them and reading the model.
    let mut attempts = 0;
    let (live, rebuilt) = loop {
        let before = checkpoints(projector, projection.as_ref(), live_generation).await?;
        projector.build(projection, Generation::SCRATCH, &before).await?;
        let live = snapshot(store, projection.as_ref(), live_generation).await?;
        attempts += 1;
        if checkpoints(projector, projection.as_ref(), live_generation).await? == before || attempts == 5 {
            break (live, snapshot(store, projection.as_ref(), Generation::SCRATCH).await?);
        }
    };
    discard(projector.log(), projector.store(), projection.as_ref(), Generation::SCRATCH).await?;
    Ok(differences(live, rebuilt))
}

fn differences(
    mut live: BTreeMap<(String, String), Document>,
    rebuilt: BTreeMap<(String, String), Document>,
) -> Vec<Difference> {
    let mut out = Vec::new();
    for (key, doc) in rebuilt {
        match live.remove(&key) {
            Some(same) if same == doc => {}
            other => out.push(Difference { collection: key.0, id: key.1, live: other, rebuilt: Some(doc) }),
        }
    }
    out.extend(live.into_iter().map(|(key, doc)| Difference {
        collection: key.0,
        id: key.1,
        live: Some(doc),
        rebuilt: None,
    }));
    out.sort_by(|a, b| (&a.collection, &a.id).cmp(&(&b.collection, &b.id)));
    out
}

async fn checkpoints<S: ReadStore + Clone>(
    projector: &Projector<S>,
    projection: &dyn Projection,
    generation: Generation,
) -> Result<Vec<(events::Context, u64)>, ProjectorError> {
    let mut at = Vec::new();
    for &context in projection.contexts() {
        at.push((
            context,
            registry::checkpoint(projector.store(), projection.name(), generation, context).await?.sequence,
        ));
    }
    Ok(at)
}

async fn applied<S: ReadStore>(store: &S, projection: &dyn Projection, generation: Generation) -> u64 {
    let mut sum = 0;
    for &context in projection.contexts() {
        sum += registry::checkpoint(store, projection.name(), generation, context).await.map_or(0, |c| c.sequence);
    }
    sum
}
