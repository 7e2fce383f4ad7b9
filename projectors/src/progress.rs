//! Read-your-writes. After each batch a projector publishes how far it got
//! (core NATS, `<namespace>.progress.<projection>`); [`Progress`] listens in
//! the process that serves queries and wakes whoever waits for a position.
//! A missed notice is covered by the next one, and by the checkpoints read
//! from the store when a waiter starts.
//!
//! A notice also names the documents its batch wrote, so the caches of
//! documents this process reads through ([`Progress::keep_fresh`]) drop them
//! before anyone is woken: a query that waited for a position never reads a
//! document older than it. A notice that does not follow the last one heard
//! of its stream (one was lost, or came out of order), or that wrote too many
//! documents to name, empties the caches instead.
//!
//! A checkpoint counts only in the life of the log it was made in
//! ([`crate::life`]): when the store recorded another life of a stream than
//! the one NATS holds now, its checkpoints there count as nothing, so no
//! query is told `caught-up` from another life; the projectors' move to new
//! generations then reseeds everything.

use crate::live::{self, Live};
use events::EventStore;
use events::catalog::Context;
use events::store::Position;
use futures::StreamExt;
use read_models::{Generation, registry};
use read_store::{Docs, ReadStore};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
    /// The checkpoint before the batch: the `sequence` of the notice before.
    #[serde(default)]
    pub after: u64,
    /// The documents the batch wrote, (collection, id), when they are at most
    /// [`MAX_NAMED`]; `None` means any document of the projection may have
    /// changed.
    #[serde(default)]
    pub changed: Option<Vec<(String, String)>>,
}

/// The most documents a notice names; a larger batch names none.
pub const MAX_NAMED: usize = 1024;

/// The documents `writes` change, each once, or `None` past [`MAX_NAMED`].
pub fn changed(writes: &[read_store::Write]) -> Option<Vec<(String, String)>> {
    let mut named: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for write in writes {
        if seen.insert((write.collection.as_str(), write.id.as_str())) {
            if named.len() == MAX_NAMED {
                return None;
            }
            named.push((write.collection.clone(), write.id.clone()));
        }
    }
    Some(named)
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
    log: EventStore,
    positions: Arc<HashMap<Key, watch::Sender<u64>>>,
    live: watch::Receiver<Live>,
    caches: Arc<Mutex<Caches>>,
}

/// The caches kept fresh, and the last sequence heard per stream of each
/// live projection, to tell when a notice was missed.
#[derive(Default)]
struct Caches {
    docs: Vec<Docs>,
    heard: HashMap<Key, u64>,
}

impl Progress {
    /// Starts listening for the notices of the projections and of the
    /// reactors named (which stay in their first generation) and for
    /// switches, after declaring the projections' live collections to the
    /// store and reading every checkpoint.
    pub async fn start<S: ReadStore + Clone>(
        log: &EventStore,
        store: &S,
        projections: &[Arc<dyn read_models::Projection>],
        reactors: &[(&'static str, &'static [Context])],
    ) -> Result<Self, String> {
        registry::declare(store, projections).await.map_err(|e| e.to_string())?;
        let mut live = live::watch(log, store, projections).await?;
        let mut positions = HashMap::new();
        let named = projections.iter().map(|p| (p.name(), p.contexts())).chain(reactors.iter().copied());
        for (name, contexts) in named {
            for &context in contexts {
                positions.insert((name, context), watch::channel(0).0);
            }
        }
        let progress =
            Self { log: log.clone(), positions: Arc::new(positions), live: live.clone(), caches: Arc::default() };
        progress.reseed(store).await?;
        let pattern = format!("{}.progress.*", log.namespace().as_str());
        let mut notices = log.client().subscribe(pattern).await.map_err(|e| e.to_string())?;
        let (listener, store) = (progress.clone(), store.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = notices.next() => {
                        let Some(message) = message else { return };
                        listener.heard(&message.subject, &message.payload);
                    }
                    changed = live.changed() => {
                        if changed.is_err() { return }
                        // Another generation answers now: its own checkpoints count.
                        if let Err(e) = listener.reseed(&store).await {
                            tracing::warn!(error = %e, "progress not reseeded after a switch");
                        }
                    }
                }
            }
        });
        Ok(progress)
    }

    /// Keeps `docs` true to the read store: what each notice names is dropped
    /// from it before the notice wakes anyone.
    pub fn keep_fresh(&self, docs: &Docs) {
        self.caches().docs.push(docs.clone());
    }

    /// The generation of `projection` that queries read.
    pub fn generation(&self, projection: &str) -> Generation {
        self.live.borrow().get(projection).copied().unwrap_or(Generation::FIRST)
    }

    fn heard(&self, subject: &str, payload: &[u8]) {
        let name = subject.rsplit('.').next().unwrap_or_default();
        let Ok(notice) = serde_json::from_slice::<Notice>(payload) else { return };
        // The names are few and `'static`: find ours among them.
        let known = self.positions.keys().find(|(known, context)| *known == name && *context == notice.context);
        let Some(&(name, _)) = known else { return };
        // A rebuild's generation announces too; only the live one answers queries.
        if Generation(notice.generation) == self.generation(name) {
            self.forget(name, &notice);
            self.advance(name, notice.context, notice.sequence);
        }
    }

    /// Drops from the caches what the notice's batch wrote, or everything
    /// when the notice cannot say (it names nothing, or one was missed).
    fn forget(&self, name: &'static str, notice: &Notice) {
        let mut caches = self.caches();
        let before = caches.heard.insert((name, notice.context), notice.sequence);
        let named = notice.changed.as_ref().filter(|_| before == Some(notice.after));
        for docs in &caches.docs {
            match named {
                Some(changed) => docs.forget(changed.iter().map(|(c, id)| (c.as_str(), id.as_str()))),
                None => docs.clear(),
            }
        }
    }

    fn caches(&self) -> MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn reseed<S: ReadStore>(&self, store: &S) -> Result<(), String> {
        // Another generation may answer now, from other collections: start
        // the caches afresh, and expect each stream's next notice to follow
        // the checkpoint read here.
        {
            let mut caches = self.caches();
            caches.heard.clear();
            caches.docs.iter().for_each(Docs::clear);
        }
        let mut lives = HashMap::new();
        for context in Context::ALL {
            lives.insert(context, self.log.stream_state(context).await.map_err(|e| e.to_string())?.life());
        }
        let mut recorded = HashMap::new();
        for &(name, _) in self.positions.keys() {
            if !recorded.contains_key(name) {
                recorded.insert(name, registry::lives(store, name).await.map_err(|e| e.to_string())?);
            }
        }
        for (&(name, context), position) in self.positions.iter() {
            let generation = self.generation(name);
            let at = registry::checkpoint(store, name, generation, context).await.map_err(|e| e.to_string())?;
            let was = recorded.get(name).and_then(|lives| lives.get(&context));
            let other_life = was.is_some_and(|life| Some(life) != lives.get(&context));
            let sequence = if other_life { 0 } else { at.sequence };
            self.caches().heard.insert((name, context), sequence);
            position.send_replace(sequence);
        }
        Ok(())
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
