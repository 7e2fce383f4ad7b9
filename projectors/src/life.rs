//! One life of the log. A stream deleted and made anew (its store wiped, a
//! new cluster) starts its sequences over; one restored from an older copy
//! goes back to an earlier sequence. Either way, what was derived from the
//! stream before (models, checkpoints and the marks that hold old events
//! back, feeds, timers) would hide the new life's events or answer from the
//! old one. So at start-up the projectors compare each stream's life (its
//! creation time, as the chat gateway's epoch does) with the one each of
//! their projections and reactors recorded in the read store, and check that
//! no checkpoint is beyond the stream's end.
//! Where either says the stream is another one:
//!
//! - every projection that reads it moves to a new, empty generation (made
//!   live and announced, so every process switches, reseeds its progress from
//!   the new checkpoints and forgets its caches), and its old generation is
//!   dropped at once: it must not be served;
//! - every reactor that reads it has its checkpoint there rewound and its
//!   consumer removed, and forgets what it derived ([`Reactor::new_life`]);
//! - then its new lives are recorded. A crash before that repeats it.
//!
//! The projectors then fill everything from the new life as after any
//! rebuild.

use crate::job::{Job, ProjectorError, durable};
use crate::live;
use events::EventStore;
use events::catalog::Context;
use read_models::{Generation, Projection, registry};
use read_store::ReadStore;
use std::collections::HashSet;

/// Compares the log's lives with the ones each job recorded, and starts that
/// job over from the new life wherever they differ; the streams that began
/// one for any job.
pub async fn settle<S: ReadStore>(
    log: &EventStore,
    store: &S,
    jobs: &[Job],
) -> Result<HashSet<Context>, ProjectorError> {
    let mut streams = Vec::new();
    for context in jobs.iter().flat_map(|job| job.contexts()).copied().collect::<HashSet<_>>() {
        let state = log.stream_state(context).await?;
        streams.push((context, state.life(), state.last_sequence));
    }
    let mut all_changed = HashSet::new();
    for job in jobs {
        let current: Vec<(Context, String)> = streams
            .iter()
            .filter(|(context, ..)| job.contexts().contains(context))
            .map(|(context, life, _)| (*context, life.clone()))
            .collect();
        let changed = changed_for(store, job, &streams).await?;
        if !changed.is_empty() {
            tracing::warn!(
                job = job.name(),
                streams = ?changed,
                "the log began a new life (a stream made anew or restored from an older copy): \
                 rebuilding what was derived from it"
            );
            start_over(log, store, job, &changed).await?;
        }
        registry::record_lives(store, job.name(), &current).await?;
        all_changed.extend(changed);
    }
    Ok(all_changed)
}

/// The streams of `job` in another life than it recorded, or that end
/// before its checkpoint (the log lost what it applied).
async fn changed_for<S: ReadStore>(
    store: &S,
    job: &Job,
    streams: &[(Context, String, u64)],
) -> Result<HashSet<Context>, ProjectorError> {
    let recorded = registry::lives(store, job.name()).await?;
    let generation = match job {
        Job::Project(projection) => registry::live(store, projection.name()).await?,
        Job::React(_) => Generation::FIRST,
    };
    let mut changed = HashSet::new();
    for (context, life, head) in streams.iter().filter(|(context, ..)| job.contexts().contains(context)) {
        let other_life = recorded.get(context).is_some_and(|was| was != life);
        let lost = registry::checkpoint(store, job.name(), generation, *context).await?.sequence > *head;
        if other_life || lost {
            changed.insert(*context);
        }
    }
    Ok(changed)
}

/// What a job derived from `changed` goes: a projection moves to a new,
/// empty generation (announced) and its old one is dropped; a reactor is
/// rewound there and forgets what it derived.
async fn start_over<S: ReadStore>(
    log: &EventStore,
    store: &S,
    job: &Job,
    changed: &HashSet<Context>,
) -> Result<(), ProjectorError> {
    match job {
        Job::Project(projection) => {
            let from = registry::live(store, projection.name()).await?;
            let to = from.next();
            discard(log, store, projection.as_ref(), to).await?;
            store.ensure(&to.collections(projection.as_ref())).await?;
            registry::set_live(store, projection.name(), to).await?;
            live::announce(log, projection.name(), to).await;
            discard(log, store, projection.as_ref(), from).await?;
        }
        Job::React(reactor) => {
            let contexts: Vec<Context> = reactor.contexts().iter().copied().filter(|c| changed.contains(c)).collect();
            for &context in &contexts {
                registry::rewind(store, reactor.name(), Generation::FIRST, context).await?;
                let _ = log.unsubscribe(context, &durable(reactor.name(), Generation::FIRST, context)).await;
            }
            reactor.new_life(&contexts).await.map_err(ProjectorError::Build)?;
        }
    }
    Ok(())
}

/// Drops a generation's collections, checkpoints and consumers.
pub(crate) async fn discard<S: ReadStore>(
    log: &EventStore,
    store: &S,
    projection: &dyn Projection,
    generation: Generation,
) -> Result<(), ProjectorError> {
    for collection in generation.collections(projection) {
        store.drop_collection(&collection.name).await?;
    }
    registry::forget(store, projection.name(), generation).await?;
    for &context in projection.contexts() {
        // Absent when the generation never ran as a service: nothing to remove.
        let _ = log.unsubscribe(context, &durable(projection.name(), generation, context)).await;
    }
    Ok(())
}
