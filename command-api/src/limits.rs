//! Rate limits: one keyed limiter per limit (governor's GCRA, which refills
//! continuously, so a burst up to the per-minute allowance passes and a
//! steady stream above it is refused with a `Retry-After`).
//!
//! Signed-in callers are limited per user; requests without a usable token,
//! and internal routes, per client address ([`crate::forwarded`] says which
//! address that is behind a proxy).
//!
//! Each limiter keeps its state in a bounded LRU map, so memory stays bounded
//! however many keys arrive, and making room costs O(1) per request. A key
//! pushed out forgets its history and starts again with a full allowance;
//! pushing out an active caller takes [`MAX_KEYS`] other keys between two of
//! its requests.

use crate::config::RateLimits;
use governor::Quota;
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use lru::LruCache;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Mutex;
use std::time::Duration;

/// What a signed-in user is limited in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Creating posts.
    Posts,
    /// Adding comments.
    Comments,
    /// Sending chat messages.
    Messages,
    /// Starting group conversations and adding members to them.
    Groups,
    /// Commands of any kind.
    Commands,
}

/// Most keys each limiter remembers.
pub const MAX_KEYS: usize = 100_000;

/// A governor state store in a bounded LRU map under one lock: lookup,
/// update and eviction of the least recently used key are each O(1).
struct LruStore<K: Hash + Eq> {
    map: Mutex<LruCache<K, Nanos>>,
}

impl<K: Hash + Eq> LruStore<K> {
    fn new(capacity: NonZeroUsize) -> Self {
        // Unbounded, then resized: `LruCache::new` would allocate the whole
        // capacity up front, for every limit, in every process and test.
        let mut map = LruCache::unbounded();
        map.resize(capacity);
        Self { map: Mutex::new(map) }
    }
}

impl<K: Hash + Eq + Clone> StateStore for LruStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // A poisoned lock means a panic mid-update of a plain map entry; the
        // limiter lets requests through rather than failing every command.
        let Ok(mut map) = self.map.lock() else { return f(None).map(|(outcome, _)| outcome) };
        if let Some(state) = map.get_mut(key) {
            let (outcome, next) = f(Some(*state))?;
            *state = next;
            return Ok(outcome);
        }
        let (outcome, next) = f(None)?;
        map.push(key.clone(), next);
        Ok(outcome)
    }
}

type Governed<K, C> = governor::RateLimiter<K, LruStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;
type Keyed<K, C> = Option<Governed<K, C>>;

fn keyed<K: Hash + Eq + Clone, C: Clock + Clone>(per_minute: u32, clock: &C, capacity: NonZeroUsize) -> Keyed<K, C> {
    let allowance = NonZeroU32::new(per_minute)?;
    Some(governor::RateLimiter::new(Quota::per_minute(allowance), LruStore::new(capacity), clock.clone()))
}

/// The process's limiters. A limit of 0 per minute is off and costs nothing.
pub struct RateLimiter<C: Clock + Clone = MonotonicClock> {
    clock: C,
    posts: Keyed<Box<str>, C>,
    comments: Keyed<Box<str>, C>,
    messages: Keyed<Box<str>, C>,
    groups: Keyed<Box<str>, C>,
    commands: Keyed<Box<str>, C>,
    per_ip: Keyed<IpAddr, C>,
}

impl RateLimiter {
    /// Limiters with these per-minute allowances.
    pub fn new(limits: RateLimits) -> Self {
        Self::with(limits, MonotonicClock, MAX_KEYS)
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    fn with(limits: RateLimits, clock: C, capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            posts: keyed(limits.posts_per_minute, &clock, capacity),
            comments: keyed(limits.comments_per_minute, &clock, capacity),
            messages: keyed(limits.messages_per_minute, &clock, capacity),
            groups: keyed(limits.groups_per_minute, &clock, capacity),
            commands: keyed(limits.commands_per_user_per_minute, &clock, capacity),
            per_ip: keyed(limits.commands_per_ip_per_minute, &clock, capacity),
            clock,
        }
    }

    fn of(&self, limit: Limit) -> Option<&Governed<Box<str>, C>> {
        match limit {
            Limit::Posts => self.posts.as_ref(),
            Limit::Comments => self.comments.as_ref(),
            Limit::Messages => self.messages.as_ref(),
            Limit::Groups => self.groups.as_ref(),
            Limit::Commands => self.commands.as_ref(),
        }
    }

    /// Takes one request of `limit` from `user`'s allowance, or says how long
    /// until one is available.
    pub fn check(&self, limit: Limit, user: &str) -> Result<(), Duration> {
        let Some(limiter) = self.of(limit) else { return Ok(()) };
        limiter.check_key(&Box::from(user)).map_err(|refused| refused.wait_time_from(self.clock.now()))
    }

    /// Whether requests are limited per client address at all, so a caller
    /// can skip working out the address.
    pub fn is_ip_on(&self) -> bool {
        self.per_ip.is_some()
    }

    /// Takes one request from the client address's allowance, or says how
    /// long until one is available.
    pub fn check_ip(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.per_ip else { return Ok(()) };
        limiter.check_key(&client).map_err(|refused| refused.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limiter(limits: RateLimits, capacity: usize) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimiter::with(limits, clock.clone(), capacity), clock)
    }

    fn posts(per_minute: u32) -> RateLimits {
        RateLimits { posts_per_minute: per_minute, ..RateLimits::OFF }
    }

    #[test]
    fn a_burst_up_to_the_allowance_passes_and_the_next_waits() {
        let (limiter, clock) = limiter(posts(3), MAX_KEYS);
        for _ in 0..3 {
            assert_eq!(limiter.check(Limit::Posts, "ana"), Ok(()));
        }
        let wait = limiter.check(Limit::Posts, "ana").unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        assert_eq!(limiter.check(Limit::Posts, "ben"), Ok(()), "allowances are per caller");
        clock.advance(Duration::from_secs(20));
        assert_eq!(limiter.check(Limit::Posts, "ana"), Ok(()), "refilled");
    }

    #[test]
    fn a_zero_limit_is_off() {
        let (limiter, _) = limiter(posts(0), MAX_KEYS);
        assert!((0..1000).all(|_| limiter.check(Limit::Posts, "ana").is_ok()));
        assert!(!limiter.is_ip_on());
    }

    #[test]
    fn limits_are_counted_apart() {
        let limits = RateLimits { posts_per_minute: 1, groups_per_minute: 1, ..RateLimits::OFF };
        let (limiter, _) = limiter(limits, MAX_KEYS);
        assert_eq!(limiter.check(Limit::Posts, "ana"), Ok(()));
        assert_eq!(limiter.check(Limit::Groups, "ana"), Ok(()));
        assert!(limiter.check(Limit::Groups, "ana").is_err());
    }

    #[test]
    fn the_store_never_holds_more_than_its_capacity() {
        let store = LruStore::<u32>::new(NonZeroUsize::new(100).unwrap());
        for key in 0..10_000u32 {
            let _: Result<(), ()> = store.measure_and_replace(&key, |_| Ok(((), Nanos::new(0))));
        }
        assert_eq!(store.map.lock().unwrap().len(), 100);
    }

    #[test]
    fn a_flood_of_new_addresses_does_not_push_out_an_active_one() {
        let limits = RateLimits { commands_per_ip_per_minute: 1, ..RateLimits::OFF };
        let (limiter, _) = limiter(limits, 100);
        let active = IpAddr::from([192, 0, 2, 1]);
        assert_eq!(limiter.check_ip(active), Ok(()));
        for i in 0..10_000u32 {
            assert_eq!(limiter.check_ip(IpAddr::from(i.to_be_bytes())), Ok(()), "each new address starts full");
            if i % 50 == 0 {
                assert!(limiter.check_ip(active).is_err(), "a recently used address keeps its state");
            }
        }
    }
}
