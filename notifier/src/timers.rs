//! Timers in the read store: a collection of documents ordered by when they
//! fall due (`due_ms`), set and cancelled by reactors as the log moves, and
//! fired by a loop in every notifier process. Like a projection they are
//! rebuilt by reading the log again; firing twice is harmless because what a
//! timer appends has an id derived from the timer.

use read_store::{AnyStore, Collection, Direction, Document, Filter, Query, ReadStore, ReadStoreError, Write};
use serde_json::Value;
use std::future::Future;
use time::OffsetDateTime;

/// How many due timers one pass fires.
const PER_PASS: u32 = 100;

/// One collection of timers.
#[derive(Clone)]
pub(crate) struct Timers {
    store: AnyStore,
    collection: &'static str,
}

impl Timers {
    /// The timers of `collection`, declared in `store`.
    pub(crate) async fn declare(store: AnyStore, collection: &'static str) -> Result<Self, ReadStoreError> {
        store.ensure(&[Collection::new(collection).index(&["due_ms"])]).await?;
        Ok(Self { store, collection })
    }

    /// The write that sets (or moves) timer `id` to fall due at `due`, with
    /// `fields` (a JSON object) for whoever fires it.
    pub(crate) fn set(&self, id: &str, due: OffsetDateTime, fields: Value) -> Write {
        let mut doc = match fields {
            Value::Object(doc) => doc,
            _ => Document::new(),
        };
        doc.insert("due_ms".into(), Value::from(millis(due)));
        Write::put(self.collection, id, doc)
    }

    /// The write that cancels timer `id`.
    pub(crate) fn cancel(&self, id: &str) -> Write {
        Write::delete(self.collection, id)
    }

    /// Drops every timer: after the log began a new life they stand for the
    /// old one's events.
    pub(crate) async fn clear(&self) -> Result<(), ReadStoreError> {
        self.store.drop_collection(self.collection).await?;
        self.store.ensure(&[Collection::new(self.collection).index(&["due_ms"])]).await
    }

    /// Applies writes from [`Timers::set`] and [`Timers::cancel`].
    pub(crate) async fn write(&self, writes: &[Write]) -> Result<(), ReadStoreError> {
        self.store.write(writes).await.map(drop)
    }

    /// The timers due at `now`, soonest first (at most one pass's worth).
    pub(crate) async fn due(&self, now: OffsetDateTime) -> Result<Vec<(String, Document)>, ReadStoreError> {
        let query = Query::new(Filter::all(), "due_ms", Direction::Ascending).limit(PER_PASS);
        let page = self.store.find(self.collection, &query).await?;
        let now = millis(now);
        let due =
            page.items.into_iter().take_while(|t| t.doc.get("due_ms").and_then(Value::as_i64).is_none_or(|d| d <= now));
        Ok(due.map(|t| (t.id, t.doc)).collect())
    }
}

/// Unix milliseconds.
pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Runs `pass` every `every` until `stop`; a failed pass is logged and the
/// next one tries again.
pub(crate) async fn every<F, Fut, E>(
    what: &str,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, E>>,
    E: std::fmt::Display,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(e) = pass().await {
                    tracing::warn!(error = %e, "firing {what} failed; trying again at the next tick");
                }
            }
            () = stopped(&mut stop) => return,
        }
    }
}

/// Resolves when `stop` fires (or its sender is gone); the guard `wait_for`
/// returns is dropped here, so the loop's future stays `Send`.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
