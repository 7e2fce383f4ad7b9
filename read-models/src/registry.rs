//! Where each projection stands, kept in the read store beside its model:
//! which generation is live (collection `projections`) and how far each
//! generation has read each stream (collection `checkpoints`). A checkpoint
//! is written in the same batch as the writes it covers, with the same kind
//! of mark, so it never runs ahead of the model on a store that applies a
//! batch at once, and never moves back on one that does not.
//!
//! It also keeps which life of each stream each projection and reactor was
//! built from (collection `lives`, a document per name): a stream's creation
//! time, as the chat gateway's epoch is. Per name, because projections and
//! reactors may run in different processes, each settling its own. A stream deleted and made anew starts its sequences over, so a model,
//! its checkpoints and its marks from another life would hide the new one's
//! events; the projectors compare lives at start-up (`projectors::life`).

use crate::projection::{Generation, Projection, mark_field};
use events::catalog::Context;
use read_store::{Collection, Document, IfMissing, ReadStore, ReadStoreError, Update, Write};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const PROJECTIONS: &str = "projections";
const CHECKPOINTS: &str = "checkpoints";
const LIVES: &str = "lives";

/// The collections of the registry, declared at start-up by whoever reads it.
pub fn collections() -> Vec<Collection> {
    vec![Collection::new(PROJECTIONS), Collection::new(CHECKPOINTS), Collection::new(LIVES)]
}

/// The life of each stream `name` (a projection or reactor) was built from;
/// empty when it never recorded one (new, or older than lives).
pub async fn lives<S: ReadStore>(store: &S, name: &str) -> Result<HashMap<Context, String>, ReadStoreError> {
    let doc = store.get(LIVES, name).await?;
    let Some(doc) = doc else { return Ok(HashMap::new()) };
    Ok(Context::ALL
        .iter()
        .filter_map(|&context| doc.get(context.as_str()).and_then(Value::as_str).map(|life| (context, life.to_owned())))
        .collect())
}

/// Records the life of each stream `name` is built from now.
pub async fn record_lives<S: ReadStore>(
    store: &S,
    name: &str,
    lives: &[(Context, String)],
) -> Result<(), ReadStoreError> {
    let updates = lives.iter().map(|(context, life)| Update::Set(context.as_str().to_owned(), json!(life))).collect();
    store.write(&[Write::update(LIVES, name, updates, IfMissing::Create)]).await.map(drop)
}

/// Moves a generation's checkpoint in `context` back to the start: for a
/// reactor, whose stream began a new life (a checkpoint otherwise never
/// moves back).
pub async fn rewind<S: ReadStore>(
    store: &S,
    projection: &str,
    generation: Generation,
    context: Context,
) -> Result<(), ReadStoreError> {
    let updates = vec![Update::Set(mark_field(context), json!(0)), Update::Set(time_field(context), Value::Null)];
    let write = Write::update(CHECKPOINTS, &checkpoint_id(projection, generation), updates, IfMissing::Skip);
    store.write(&[write]).await.map(drop)
}

/// Declares the registry and the live generation of each projection to
/// `store` (creating what is missing), so both the projectors and the queries
/// can start first; the live generation of each.
pub async fn declare<S: ReadStore>(
    store: &S,
    projections: &[Arc<dyn Projection>],
) -> Result<Vec<(&'static str, Generation)>, ReadStoreError> {
    store.ensure(&collections()).await?;
    let mut live_generations = Vec::with_capacity(projections.len());
    for projection in projections {
        let generation = live(store, projection.name()).await?;
        store.ensure(&generation.collections(projection.as_ref())).await?;
        live_generations.push((projection.name(), generation));
    }
    Ok(live_generations)
}

/// The generation queries read; the first one when none was recorded yet.
pub async fn live<S: ReadStore>(store: &S, projection: &str) -> Result<Generation, ReadStoreError> {
    let doc = store.get(PROJECTIONS, projection).await?;
    let live = doc.as_ref().and_then(|d| d.get("live")).and_then(Value::as_u64);
    Ok(live.and_then(|n| u32::try_from(n).ok()).map_or(Generation::FIRST, Generation))
}

/// Makes `generation` the one queries read.
pub async fn set_live<S: ReadStore>(store: &S, projection: &str, generation: Generation) -> Result<(), ReadStoreError> {
    let updates = vec![Update::Set("live".into(), json!(generation.0))];
    store.write(&[Write::update(PROJECTIONS, projection, updates, IfMissing::Create)]).await.map(drop)
}

/// A generation's position in one stream: the sequence of the last event it
/// applied (0 before the first), and that event's time (RFC 3339).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last sequence applied.
    pub sequence: u64,
    /// When that event was decided, if any was applied.
    pub time: Option<String>,
}

/// Where `generation` of `projection` stands in `context`.
pub async fn checkpoint<S: ReadStore>(
    store: &S,
    projection: &str,
    generation: Generation,
    context: Context,
) -> Result<Checkpoint, ReadStoreError> {
    let doc = store.get(CHECKPOINTS, &checkpoint_id(projection, generation)).await?;
    Ok(read_checkpoint(doc.as_ref(), context))
}

/// The write that moves a checkpoint to `sequence` (never back).
pub fn advance(projection: &str, generation: Generation, context: Context, sequence: u64, time: &str) -> Write {
    let updates = vec![Update::Set(time_field(context), json!(time))];
    Write::update(CHECKPOINTS, &checkpoint_id(projection, generation), updates, IfMissing::Create)
        .marked(&mark_field(context), sequence)
}

/// Forgets a generation's checkpoints (after its collections were dropped).
pub async fn forget<S: ReadStore>(store: &S, projection: &str, generation: Generation) -> Result<(), ReadStoreError> {
    store.write(&[Write::delete(CHECKPOINTS, &checkpoint_id(projection, generation))]).await.map(drop)
}

fn read_checkpoint(doc: Option<&Document>, context: Context) -> Checkpoint {
    let Some(doc) = doc else { return Checkpoint::default() };
    Checkpoint {
        sequence: doc.get(&mark_field(context)).and_then(Value::as_u64).unwrap_or(0),
        time: doc.get(&time_field(context)).and_then(Value::as_str).map(str::to_owned),
    }
}

fn checkpoint_id(projection: &str, generation: Generation) -> String {
    format!("{projection}:{}", generation.0)
}

fn time_field(context: Context) -> String {
    format!("time_{}", context.as_str())
}
