//! What Redis last said about the first page of each home feed, kept in the
//! process that serves the feed and kept true by Redis itself.
//!
//! Reading a feed is one Redis round trip, and at 64 connections that trip
//! (the wake-ups on both ends, the reply parsing) costs more than the rest of
//! the page. Most reads are of the first page, of a feed that has not changed
//! since the last read. So a connection of its own asks Redis to track, in
//! broadcast mode, every key under the feeds' prefix (`CLIENT TRACKING ON
//! BCAST PREFIX`, RESP3): Redis then names every key written there, whoever
//! writes it, and each named key's page is dropped before anything else is
//! read off that connection.
//!
//! What keeps a kept page true:
//! - a page is kept only if no notice arrived between asking Redis and
//!   keeping the answer (a [`Ticket`] holds the count of notices seen when the
//!   question was asked), so an answer that crossed a write is not kept;
//! - nothing is kept or served while the tracking connection is down, and
//!   everything is dropped when it goes down: notices sent while it was down
//!   are lost;
//! - the connection is pinged every [`PING_EVERY`]; Redis sends in order, so
//!   a pong means every notice sent before it has arrived. A connection that
//!   stops answering is treated as down after [`PING_TIMEOUT`];
//! - a written key drops the page its [`PageOf`] rule names, or every page
//!   when it names none; `FLUSHALL` and `FLUSHDB` send a notice naming no
//!   key: everything goes.
//!
//! A notice can still be on the wire when a page is served: a read without a
//! position may see a feed a moment old, as it may from any replica. A read
//! that passes a position (read-your-writes) must not, so it skips the cache.

use redis::aio::{AsyncPushSender, SendError};
use redis::{PushInfo, PushKind, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

/// How often the tracking connection is checked.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// How long a ping may take before the connection counts as down.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait before connecting again, doubled after each failure up
/// to [`RETRY_AT_MOST`]: a Redis that refuses tracking (older than 6) is
/// asked again now and then, not hammered.
const RETRY_AFTER: Duration = Duration::from_millis(500);
const RETRY_AT_MOST: Duration = Duration::from_secs(30);

/// Which kept page a written key affects: `Some(page key)`, or `None` for
/// every page.
pub type PageOf = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Values (a feed's first page, as Redis gave it) by the Redis key they
/// were read from, dropped when Redis says a key they were read from was
/// written. Cheap to clone; clones share the values.
pub struct PageCache<T>(Arc<Inner<T>>);

impl<T> Clone for PageCache<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

struct Inner<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    page_of: PageOf,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct State<T> {
    /// Whether notices are arriving: only then is anything kept or served.
    tracking: bool,
    /// Counts notices and connection changes, for [`Ticket`]s.
    changes: u64,
    pages: HashMap<String, Kept<T>>,
}

struct Kept<T> {
    /// What the value was read for (a feed page's size), beside its key.
    shape: usize,
    value: Arc<T>,
}

/// Taken before a value is read from Redis: the value may be kept only if
/// nothing changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// How a cache is doing, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCacheStats {
    /// Values served from the cache.
    pub hits: u64,
    /// Values looked for and not there.
    pub misses: u64,
    /// Values kept now.
    pub kept: usize,
    /// Whether Redis's notices arrive (nothing is served otherwise).
    pub tracking: bool,
}

impl<T: Send + Sync + 'static> PageCache<T> {
    /// Room for `capacity` values of keys under `prefix`, kept true by a
    /// tracking connection to `client`'s Redis, which this starts (and which
    /// ends once every clone is dropped); `page_of` says which value a
    /// written key affects. Needs a Tokio runtime.
    pub fn start(client: redis::Client, prefix: String, capacity: usize, page_of: PageOf) -> Self {
        let cache = Self::new(capacity, page_of);
        tokio::spawn(track(client, prefix, Arc::downgrade(&cache.0)));
        cache
    }
}

impl<T> PageCache<T> {
    fn new(capacity: usize, page_of: PageOf) -> Self {
        let state = Mutex::new(State { tracking: false, changes: 0, pages: HashMap::new() });
        Self(Arc::new(Inner { state, capacity, page_of, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }))
    }

    /// The value kept for `key`, read for `shape`.
    pub fn get(&self, key: &str, shape: usize) -> Option<Arc<T>> {
        let state = self.state();
        let found = state.pages.get(key).filter(|kept| state.tracking && kept.shape == shape).map(|k| k.value.clone());
        let counter = if found.is_some() { &self.0.hits } else { &self.0.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// A ticket to keep what is read next; none while no notices arrive.
    pub fn ticket(&self) -> Option<Ticket> {
        let state = self.state();
        state.tracking.then_some(Ticket(state.changes))
    }

    /// Keeps `value` for `key` and `shape`, unless a notice or a connection
    /// change came since `ticket` was taken.
    pub fn keep(&self, ticket: Ticket, key: String, shape: usize, value: Arc<T>) {
        let mut state = self.state();
        if !state.tracking || state.changes != ticket.0 || self.0.capacity == 0 {
            return;
        }
        if state.pages.len() >= self.0.capacity && !state.pages.contains_key(&key) {
            // Hash order is as good as random, and costs no bookkeeping on reads.
            if let Some(victim) = state.pages.keys().next().cloned() {
                state.pages.remove(&victim);
            }
        }
        state.pages.insert(key, Kept { shape, value });
    }

    /// How the cache is doing.
    pub fn stats(&self) -> PageCacheStats {
        let state = self.state();
        PageCacheStats {
            hits: self.0.hits.load(Ordering::Relaxed),
            misses: self.0.misses.load(Ordering::Relaxed),
            kept: state.pages.len(),
            tracking: state.tracking,
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.0.state()
    }
}

impl<T> Inner<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock leaves the map whole: keep using it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the pages of the keys Redis named, or everything when it named
    /// none or a key that is no one page's.
    fn written(&self, keys: Option<&[Value]>) {
        let pages: Option<Vec<String>> = keys.and_then(|keys| {
            keys.iter()
                .map(|key| match key {
                    Value::BulkString(key) => (self.page_of)(&String::from_utf8_lossy(key)),
                    _ => None,
                })
                .collect()
        });
        let mut state = self.state();
        state.changes += 1;
        match pages {
            Some(pages) => pages.iter().for_each(|page| drop(state.pages.remove(page))),
            None => state.pages.clear(),
        }
    }

    /// Notices start or stop arriving: either way nothing kept can be trusted.
    fn set_tracking(&self, tracking: bool) {
        let mut state = self.state();
        state.changes += 1;
        state.tracking = tracking;
        state.pages.clear();
    }
}

/// Hands Redis's notices to the cache as the connection reads them, in order
/// with the replies around them.
struct Notices<T>(Weak<Inner<T>>);

impl<T: Send + Sync + 'static> AsyncPushSender for Notices<T> {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        let Some(inner) = self.0.upgrade() else { return Err(SendError) };
        match info.kind {
            PushKind::Invalidate => match info.data.first() {
                Some(Value::Array(keys)) => inner.written(Some(keys)),
                _ => inner.written(None),
            },
            PushKind::Disconnection => inner.set_tracking(false),
            _ => {}
        }
        Ok(())
    }
}

/// Keeps a tracking connection up while the cache lives: connects, asks for
/// notices, pings, and starts again when the connection fails.
async fn track<T: Send + Sync + 'static>(client: redis::Client, prefix: String, cache: Weak<Inner<T>>) {
    let mut retry_after = RETRY_AFTER;
    loop {
        match subscribe(&client, &prefix, &cache).await {
            Ok(mut connection) => {
                let Some(inner) = cache.upgrade() else { return };
                inner.set_tracking(true);
                drop(inner);
                retry_after = RETRY_AFTER;
                watch(&mut connection, &cache).await;
                if let Some(inner) = cache.upgrade() {
                    inner.set_tracking(false);
                }
            }
            Err(error) => {
                let message = "feed page cache: no tracking connection to Redis, pages are read from Redis";
                tracing::warn!(%error, ?retry_after, "{message}");
                retry_after = (retry_after * 2).min(RETRY_AT_MOST);
            }
        }
        if cache.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(retry_after).await;
    }
}

/// A RESP3 connection on which Redis names every key written under `prefix`.
async fn subscribe<T: Send + Sync + 'static>(
    client: &redis::Client,
    prefix: &str,
    cache: &Weak<Inner<T>>,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let mut info = client.get_connection_info().clone();
    info.redis.protocol = redis::ProtocolVersion::RESP3;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(PING_TIMEOUT)
        .set_response_timeout(PING_TIMEOUT)
        .set_push_sender(Notices(cache.clone()));
    let mut connection = redis::Client::open(info)?.get_multiplexed_async_connection_with_config(&config).await?;
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("pulse-feed-tracking").query_async(&mut connection).await?;
    let _: () = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg(prefix)
        .query_async(&mut connection)
        .await?;
    Ok(connection)
}

/// Returns when the connection stops answering, a disconnection was noticed,
/// or the cache is gone.
async fn watch<T>(connection: &mut redis::aio::MultiplexedConnection, cache: &Weak<Inner<T>>) {
    loop {
        tokio::time::sleep(PING_EVERY).await;
        let tracking = cache.upgrade().is_some_and(|inner| inner.state().tracking);
        if !tracking {
            return;
        }
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(connection).await;
        if let Err(error) = pong {
            tracing::warn!(%error, "feed page cache: the tracking connection stopped answering");
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(k: &str) -> Value {
        Value::BulkString(k.as_bytes().to_vec())
    }

    /// Pages under `feed:`; any other key is every page's.
    fn tracking() -> PageCache<&'static str> {
        let cache = PageCache::new(2, Box::new(|key| key.starts_with("feed:").then(|| key.to_owned())));
        cache.0.set_tracking(true);
        cache
    }

    #[test]
    fn a_value_is_served_for_its_key_and_shape_only_while_tracking() {
        let cache = tracking();
        let ticket = cache.ticket().unwrap();
        cache.keep(ticket, "feed:a".into(), 21, Arc::new("page"));

        assert_eq!(cache.get("feed:a", 21).as_deref(), Some(&"page"));
        assert_eq!(cache.get("feed:a", 11), None, "another page size");
        assert_eq!(cache.get("feed:b", 21), None);
        cache.0.set_tracking(false);
        assert_eq!(cache.get("feed:a", 21), None);
        assert_eq!(cache.ticket(), None, "nothing is kept while no notices arrive");
    }

    #[test]
    fn a_notice_drops_the_pages_of_the_keys_it_names_and_one_naming_none_drops_everything() {
        let cache = tracking();
        let keep_both = || {
            for k in ["feed:a", "feed:b"] {
                cache.keep(cache.ticket().unwrap(), k.into(), 21, Arc::new("page"));
            }
        };
        keep_both();

        cache.0.written(Some(&[key("feed:a"), key("feed:other")]));
        assert_eq!(cache.get("feed:a", 21), None);
        assert!(cache.get("feed:b", 21).is_some());
        cache.0.written(None);
        assert_eq!(cache.get("feed:b", 21), None);
        keep_both();
        cache.0.written(Some(&[key("large-authors")]));
        assert_eq!((cache.get("feed:a", 21), cache.get("feed:b", 21)), (None, None), "a key of no one page");
    }

    #[test]
    fn an_answer_that_crossed_a_notice_or_a_reconnection_is_not_kept() {
        let cache = tracking();
        let crossed = cache.ticket().unwrap();
        cache.0.written(Some(&[key("feed:unrelated")]));
        cache.keep(crossed, "feed:a".into(), 21, Arc::new("old"));
        assert_eq!(cache.get("feed:a", 21), None);

        let crossed = cache.ticket().unwrap();
        cache.0.set_tracking(false);
        cache.0.set_tracking(true);
        cache.keep(crossed, "feed:a".into(), 21, Arc::new("old"));
        assert_eq!(cache.get("feed:a", 21), None);
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity_and_counts_hits_and_misses() {
        let cache = tracking();
        for k in ["feed:a", "feed:b", "feed:c"] {
            cache.keep(cache.ticket().unwrap(), k.into(), 21, Arc::new("page"));
        }
        let hits = ["feed:a", "feed:b", "feed:c"].iter().filter(|k| cache.get(k, 21).is_some()).count();

        assert_eq!(hits, 2);
        assert_eq!(cache.stats(), PageCacheStats { hits: 2, misses: 1, kept: 2, tracking: true });
    }

    #[test]
    fn a_notice_after_the_cache_is_gone_tells_the_connection_to_stop_sending() {
        let cache = tracking();
        let notices = Notices(Arc::downgrade(&cache.0));
        drop(cache);

        assert!(notices.send(PushInfo { kind: PushKind::Invalidate, data: vec![Value::Nil] }).is_err());
    }
}
