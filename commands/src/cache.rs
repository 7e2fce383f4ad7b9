//! A bounded, per-process cache of aggregate states, so that a command's load
//! costs the same however long the aggregate's history is: a hit is one direct
//! get for the events after the cached version (usually none), a miss walks
//! the history once.
//!
//! The cache is never the source of truth. Every append still expects the
//! version the state was decided on, so a stale entry (another process
//! appended, a stream was recreated) ends in a conflict, which drops the entry
//! and loads again.

use domain::Decider;
use events::{Aggregate, IdempotencyKey, IntoDomainEvent, Recorded};
use quick_cache::sync::Cache;
use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// How many of an aggregate's latest idempotency keys an entry remembers. A
/// retry whose key is among them is answered from the history; see
/// [`Snapshot::knows`].
pub const REMEMBERED_KEYS: usize = 32;

/// An aggregate's state at a version, with the keys of its latest keyed events.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot<D> {
    pub(crate) state: D,
    /// The stream sequence of the last event folded in; 0 for none.
    pub(crate) version: u64,
    /// Hashes of the latest idempotency keys: cheap to copy on every load, and
    /// a false match only costs reading the history to find no such key.
    keys: VecDeque<u64>,
}

impl<D: Decider> Snapshot<D> {
    /// The state of an aggregate with no events.
    pub(crate) fn empty() -> Self {
        Self { state: D::default(), version: 0, keys: VecDeque::new() }
    }

    /// Folds in an event read from the log.
    pub(crate) fn apply(&mut self, recorded: &Recorded) {
        let key = recorded.idempotency_key.as_deref();
        match D::Event::peel(&recorded.event) {
            Some(event) => self.fold(event, recorded.position.sequence, key),
            // An event of another context cannot be on this subject; keep the
            // version right all the same, so the next append expects it.
            None => self.version = recorded.position.sequence,
        }
    }

    /// Folds in an event this process appended at `sequence`.
    pub(crate) fn fold(&mut self, event: &D::Event, sequence: u64, key: Option<&str>) {
        self.state = std::mem::take(&mut self.state).evolve(event);
        self.version = sequence;
        if let Some(key) = key {
            if self.keys.len() == REMEMBERED_KEYS {
                self.keys.pop_front();
            }
            self.keys.push_back(digest(key));
        }
    }

    /// Whether an event appended under `key` is among the latest keyed events.
    /// Past JetStream's duplicate window this is how a retry is recognised
    /// without walking the whole history on every keyed command.
    pub(crate) fn knows(&self, key: &IdempotencyKey) -> bool {
        let key = digest(key.as_str());
        self.keys.contains(&key)
    }
}

fn digest(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

type Entry = Arc<dyn Any + Send + Sync>;

/// Snapshots by aggregate and state type (two deciders may fold one subject).
pub(crate) struct AggregateCache {
    entries: Option<Cache<(TypeId, String), Entry>>,
}

impl AggregateCache {
    /// A cache of at most `capacity` aggregates; 0 turns it off.
    pub(crate) fn new(capacity: usize) -> Self {
        Self { entries: (capacity > 0).then(|| Cache::new(capacity)) }
    }

    pub(crate) fn get<D: Decider>(&self, aggregate: &Aggregate) -> Option<Snapshot<D>> {
        let entry = self.entries.as_ref()?.get(&key::<D>(aggregate))?;
        entry.downcast_ref::<Snapshot<D>>().cloned()
    }

    pub(crate) fn put<D: Decider>(&self, aggregate: &Aggregate, snapshot: Snapshot<D>) {
        if let Some(entries) = &self.entries {
            entries.insert(key::<D>(aggregate), Arc::new(snapshot));
        }
    }

    pub(crate) fn forget<D: Decider>(&self, aggregate: &Aggregate) {
        if let Some(entries) = &self.entries {
            entries.remove(&key::<D>(aggregate));
        }
    }
}

fn key<D: 'static>(aggregate: &Aggregate) -> (TypeId, String) {
    (TypeId::of::<D>(), aggregate.to_string())
}
