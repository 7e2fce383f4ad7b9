//! Why notifying failed: what the notifier's parts depend on. Every part
//! runs as a reactor or a timer loop, where an error means "try again".

use events::StoreError;
use read_store::ReadStoreError;

/// Why notifying failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The event log.
    #[error(transparent)]
    Log(#[from] StoreError),
    /// The read store, where timers and held deliveries wait.
    #[error(transparent)]
    Store(#[from] ReadStoreError),
    /// Redis, where presence lives: without it no one can be told they were away.
    #[error("reading presence: {0}")]
    Presence(#[from] redis::RedisError),
}
