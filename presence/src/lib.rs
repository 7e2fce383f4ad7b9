//! Who is online. The chat gateway writes presence (one renewed, lapsing
//! entry per open socket, in a Redis sorted set per user whose scores are
//! when each entry lapses); the notifier reads it, to tell someone of a
//! message only while they are away. This crate is the one place that knows
//! the keys, so both agree on them.

use events::ids::UserId;
use redis::aio::ConnectionManager;

/// The sorted set of `user`'s live sockets: member per socket, score the
/// unix millisecond it lapses unless renewed.
pub fn sockets_key(namespace: &str, user: &UserId) -> String {
    format!("{namespace}:presence:{user}")
}

/// When `user`'s last socket closed (unix ms).
pub fn last_seen_key(namespace: &str, user: &UserId) -> String {
    format!("{namespace}:last-seen:{user}")
}

/// Set while `user` hides their presence (`show_presence: false`), renewed
/// with their sockets: readers then show them offline with no last seen.
pub fn hidden_key(namespace: &str, user: &UserId) -> String {
    format!("{namespace}:presence-hidden:{user}")
}

/// A connection to the Redis at `url` for reading presence, with bounded
/// waits (a reader retries later rather than hang).
pub async fn connect(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(std::time::Duration::from_secs(2))
        .set_response_timeout(std::time::Duration::from_secs(2))
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(redis::Client::open(url)?, config).await
}

/// Whether `user` has a socket whose entry has not lapsed at `now_ms`.
pub async fn is_online(
    redis: &mut ConnectionManager,
    namespace: &str,
    user: &UserId,
    now_ms: i64,
) -> Result<bool, redis::RedisError> {
    let live: i64 =
        redis::cmd("ZCOUNT").arg(sockets_key(namespace, user)).arg(now_ms).arg("+inf").query_async(redis).await?;
    Ok(live > 0)
}
