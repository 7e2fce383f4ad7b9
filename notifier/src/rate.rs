//! Rate limits per recipient and channel, so a burst of activity cannot
//! flood an inbox, a mailbox or a phone: at most so many notifications per
//! channel per user per hour, counted in Redis (one counter per user,
//! channel and hour, shared by every notifier process, gone after the hour).
//! Over the limit, an in-app notification is not appended and an email or a
//! push is recorded as skipped with the reason. When Redis does not answer,
//! the notice goes through: a limit must not lose notifications.

use events::catalog::notifications::Channel;
use events::ids::UserId;
use redis::aio::ConnectionManager;

/// Most notifications per user per hour, per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// In the inbox.
    pub in_app: u32,
    /// By email.
    pub email: u32,
    /// By Web Push.
    pub push: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { in_app: 120, email: 20, push: 60 }
    }
}

/// The limiter; without Redis, everything passes.
#[derive(Clone)]
pub struct RateLimiter {
    redis: Option<ConnectionManager>,
    namespace: String,
    limits: Limits,
}

const HOUR_MS: i64 = 3_600_000;

impl RateLimiter {
    /// Limits counted in `redis` under `namespace`.
    pub fn new(redis: ConnectionManager, namespace: &str, limits: Limits) -> Self {
        Self { redis: Some(redis), namespace: namespace.to_owned(), limits }
    }

    /// No limits (tests of everything else).
    pub fn unlimited() -> Self {
        Self { redis: None, namespace: String::new(), limits: Limits::default() }
    }

    /// The limit of `channel`, for reasons and logs.
    pub fn limit(&self, channel: Channel) -> u32 {
        match channel {
            Channel::InApp => self.limits.in_app,
            Channel::Email => self.limits.email,
            Channel::Push => self.limits.push,
        }
    }

    /// Counts one notification of `user` on `channel` at `now_ms`; whether
    /// it is within the limit.
    pub async fn allow(&self, channel: Channel, user: &UserId, now_ms: i64) -> bool {
        let Some(redis) = &self.redis else { return true };
        let name = match channel {
            Channel::InApp => "in_app",
            Channel::Email => "email",
            Channel::Push => "push",
        };
        let key = format!("{}:notify-rate:{name}:{user}:{}", self.namespace, now_ms / HOUR_MS);
        let mut pipe = redis::pipe();
        pipe.incr(&key, 1).pexpire(&key, HOUR_MS).ignore();
        match pipe.query_async::<(u32,)>(&mut redis.clone()).await {
            Ok((count,)) => count <= self.limit(channel),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit not counted (Redis): letting the notification through");
                true
            }
        }
    }
}
