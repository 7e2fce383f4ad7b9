//! Rate limits: a token bucket per (limit, caller). Buckets refill
//! continuously, so a burst up to the per-minute allowance is fine and a
//! steady stream above it is refused with a `Retry-After`.

use crate::config::RateLimits;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Creating posts, per user.
    Posts,
    /// Adding comments, per user.
    Comments,
    /// Sending chat messages, per user.
    Messages,
    /// Any command, per IP address.
    CommandsPerIp,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// In-memory buckets for one process, one map per limit. Idle buckets are
/// dropped when a map grows, so memory stays bounded by the number of active
/// callers.
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Buckets,
}

type BucketMap = Mutex<HashMap<String, Bucket>>;

#[derive(Default)]
struct Buckets {
    posts: BucketMap,
    comments: BucketMap,
    messages: BucketMap,
    per_ip: BucketMap,
}

const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// A limiter with these per-minute allowances.
    pub fn new(limits: RateLimits) -> Self {
        Self { limits, buckets: Default::default() }
    }

    fn map_of(&self, limit: Limit) -> &BucketMap {
        match limit {
            Limit::Posts => &self.buckets.posts,
            Limit::Comments => &self.buckets.comments,
            Limit::Messages => &self.buckets.messages,
            Limit::CommandsPerIp => &self.buckets.per_ip,
        }
    }

    fn per_minute(&self, limit: Limit) -> u32 {
        match limit {
            Limit::Posts => self.limits.posts_per_minute,
            Limit::Comments => self.limits.comments_per_minute,
            Limit::Messages => self.limits.messages_per_minute,
            Limit::CommandsPerIp => self.limits.commands_per_ip_per_minute,
        }
    }

    /// Whether `limit` is configured at all (a zero allowance turns it off),
    /// so a caller can skip working out who is asking.
    pub fn is_on(&self, limit: Limit) -> bool {
        self.per_minute(limit) > 0
    }

    /// Takes one token for `who`, or says how long until one is available.
    pub fn check(&self, limit: Limit, who: &str) -> Result<(), Duration> {
        self.check_at(limit, who, Instant::now())
    }

    fn check_at(&self, limit: Limit, who: &str, now: Instant) -> Result<(), Duration> {
        let per_minute = self.per_minute(limit);
        if per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let Ok(mut buckets) = self.map_of(limit).lock() else { return Ok(()) };
        if !buckets.contains_key(who) {
            if buckets.len() >= MAX_BUCKETS {
                buckets.retain(|_, b| now.duration_since(b.updated) < Duration::from_secs(60));
            }
            buckets.insert(who.to_owned(), Bucket { tokens: capacity, updated: now });
        }
        let Some(bucket) = buckets.get_mut(who) else { return Ok(()) };
        let refill = now.duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limiter(posts: u32) -> RateLimiter {
        RateLimiter::new(RateLimits { posts_per_minute: posts, ..RateLimits::OFF })
    }

    #[test]
    fn a_burst_up_to_the_allowance_passes_and_the_next_waits() {
        let limiter = limiter(3);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(Limit::Posts, "ana", now), Ok(()));
        }
        let wait = limiter.check_at(Limit::Posts, "ana", now).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        assert_eq!(limiter.check_at(Limit::Posts, "ben", now), Ok(()), "buckets are per caller");
        assert_eq!(limiter.check_at(Limit::Posts, "ana", now + Duration::from_secs(20)), Ok(()), "refilled");
    }

    #[test]
    fn a_zero_limit_is_off() {
        let limiter = limiter(0);
        let now = Instant::now();
        assert!((0..1000).all(|_| limiter.check_at(Limit::Posts, "ana", now).is_ok()));
    }
}
