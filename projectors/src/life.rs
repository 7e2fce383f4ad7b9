//! One life of the log. A stream deleted and made anew (its store wiped, a
//! new cluster) starts its sequences over; one restored from an older copy
//! goes back to an earlier sequence. Either way, what was derived from the
//! stream before (models, checkpoints and the marks that hold old events
//! back, feeds, timers) would hide the new life's events or answer from the
//! old one. So at start-up the projectors compare each stream's life (its
//! creation time, as the chat gateway's epoch does) with the one the read
//! store recorded, and check that no checkpoint is beyond the stream's end.
//! Where either says the stream is another one:
//!
//! - every projection that reads it moves to a new, empty generation (made
//!   live and announced, so every process switches, reseeds its progress from
//!   the new checkpoints and forgets its caches), and its old generation is
//!   dropped at once: it must not be served;
//! - every reactor that reads it has its checkpoint there rewound and its
//!   consumer removed, and forgets what it derived ([`Reactor::new_life`]);
//! - then the new lives are recorded. A crash before that repeats it all.
//!
//! The projectors then fill everything from the new life as after any
//! rebuild.

use crate::engine::{Job, Projector, ProjectorError, durable};
use crate::live;
use crate::rebuild::discard;
use events::catalog::Context;
use read_models::{Generation, registry};
use read_store::ReadStore;
use std::collections::HashSet;

/// Compares the log's lives with the store's, and starts over from the new
/// life wherever they differ; the streams that began one.
pub async fn settle<S: ReadStore + Clone>(
    projector: &Projector<S>,
    jobs: &[Job],
) -> Result<HashSet<Context>, ProjectorError> {
    let (log, store) = (projector.log(), projector.store());
    let recorded = registry::lives(store).await?;
    let mut current = Vec::with_capacity(Context::ALL.len());
    let mut heads = Vec::with_capacity(Context::ALL.len());
    for context in Context::ALL {
        let state = log.stream_state(context).await?;
        current.push((context, state.created.unix_timestamp_nanos().to_string()));
        heads.push((context, state.last_sequence));
    }
    let mut changed = HashSet::new();
    for (context, life) in &current {
        if recorded.get(context).is_some_and(|was| was != life) {
            changed.insert(*context);
        }
    }
    changed.extend(beyond_the_end(projector, jobs, &heads).await?);
    if changed.is_empty() {
        if recorded.len() != current.len() {
            registry::record_lives(store, &current).await?;
        }
        return Ok(changed);
    }
    tracing::warn!(
        streams = ?changed,
        "the log began a new life (a stream made anew or restored from an older copy): \\
         rebuilding what was derived from it"
    );
    for job in jobs.iter().filter(|job| job.contexts().iter().any(|c| changed.contains(c))) {
        match job {
            Job::Project(projection) => {
                let from = registry::live(store, projection.name()).await?;
                let to = from.next();
                discard(projector, projection.as_ref(), to).await?;
                store.ensure(&to.collections(projection.as_ref())).await?;
                registry::set_live(store, projection.name(), to).await?;
                live::announce(log, projection.name(), to).await;
                discard(projector, projection.as_ref(), from).await?;
            }
            Job::React(reactor) => {
                let contexts: Vec<Context> =
                    reactor.contexts().iter().copied().filter(|c| changed.contains(c)).collect();
                for &context in &contexts {
                    registry::rewind(store, reactor.name(), Generation::FIRST, context).await?;
                    let _ = log.unsubscribe(context, &durable(reactor.name(), Generation::FIRST, context)).await;
                }
                reactor.new_life(&contexts).await.map_err(ProjectorError::Build)?;
            }
        }
    }
    registry::record_lives(store, &current).await?;
    Ok(changed)
}

/// The streams some job has read further than they now reach: the log lost
/// what the store holds (restored from an older copy).
async fn beyond_the_end<S: ReadStore + Clone>(
    projector: &Projector<S>,
    jobs: &[Job],
    heads: &[(Context, u64)],
) -> Result<HashSet<Context>, ProjectorError> {
    let store = projector.store();
    let mut lost = HashSet::new();
    for job in jobs {
        let generation = match job {
            Job::Project(projection) => registry::live(store, projection.name()).await?,
            Job::React(_) => Generation::FIRST,
        };
        for &context in job.contexts() {
            let head = heads.iter().find(|(c, _)| *c == context).map_or(0, |(_, head)| *head);
            if registry::checkpoint(store, job.name(), generation, context).await?.sequence > head {
                lost.insert(context);
            }
        }
    }
    Ok(lost)
}
