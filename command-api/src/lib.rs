//! Pulse's REST API (axum). Every route under `/api/v1` that changes state
//! authenticates the caller, parses input into domain types, loads the
//! aggregate, lets `domain` decide, and appends the resulting event. Every
//! GET route reads a projection ([`reads`]), never the event log.
//!
//! Owns: HTTP routing and status codes (only [`error`] picks them), auth,
//! idempotency keys, rate limits, read-your-writes waits, the OpenAPI document.
//! Never touches: business rules (in `domain`), NATS headers (in `events`),
//! the shape of read models (in `read-models`).

pub mod config;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod limits;
pub mod openapi;
pub mod reads;
pub mod response;
pub mod routes;

pub use auth::{JwtConfig, Secret};
pub use config::{Config, RateLimits};

use auth::JwtKeys;
use axum::Router;
use commands::{Commands, facts};
use domain::content::WordList;
use events::EventStore;
use events::ids::UserId;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The state every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    commands: Commands,
    keys: JwtKeys,
    config: Config,
    moderators: HashSet<UserId>,
    words: WordList,
    limiter: limits::RateLimiter,
    metrics: ops::Metrics,
    registered: quick_cache::sync::Cache<UserId, ()>,
    reads: Option<reads::Reads>,
}

/// Registered users remembered per process.
const REMEMBERED_USERS: usize = 100_000;

/// Why the command API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The moderation word list does not parse.
    #[error("moderation word list: {0}")]
    Words(domain::InvalidInput),
    /// The JWT secret or the service API key is shorter than
    /// [`auth::MIN_SECRET_BYTES`].
    #[error("the {0} must be at least {min} bytes", min = auth::MIN_SECRET_BYTES)]
    ShortSecret(&'static str),
}

impl App {
    /// The command routes over an event store; query routes answer 503.
    pub fn new(events: EventStore, config: Config, metrics: ops::Metrics) -> Result<Self, StartError> {
        Self::build(events, config, metrics, None)
    }

    /// The whole API: commands over an event store, queries over a read side.
    pub fn with_reads(
        events: EventStore,
        config: Config,
        metrics: ops::Metrics,
        reads: reads::Reads,
    ) -> Result<Self, StartError> {
        Self::build(events, config, metrics, Some(reads))
    }

    fn build(
        events: EventStore,
        config: Config,
        metrics: ops::Metrics,
        reads: Option<reads::Reads>,
    ) -> Result<Self, StartError> {
        let words = WordList::parse(&config.words).map_err(StartError::Words)?;
        if !config.jwt.secret.is_long_enough() {
            return Err(StartError::ShortSecret("JWT secret"));
        }
        if config.service_api_key.as_ref().is_some_and(|key| !key.is_long_enough()) {
            return Err(StartError::ShortSecret("service API key"));
        }
        let commands = Commands::new(events, config.commands);
        let counters = commands.metrics();
        metrics.register("events_appended", "Events appended by commands, by type", counters.appended.clone());
        metrics.register(
            "append_conflicts",
            "Appends that lost an optimistic-concurrency race",
            counters.conflicts.clone(),
        );
        metrics.register(
            "aggregate_loads",
            "Aggregate loads, by whether the cache held the state",
            counters.loads.clone(),
        );
        if let Some(reads) = &reads {
            metrics.register_collector(reads::CacheMetrics(reads.store.docs().clone(), reads.feeds.clone()));
        }
        let inner = Inner {
            keys: JwtKeys::new(&config.jwt),
            moderators: config.moderators.iter().cloned().collect(),
            limiter: limits::RateLimiter::new(config.limits),
            words,
            commands,
            config,
            metrics,
            registered: quick_cache::sync::Cache::new(REMEMBERED_USERS),
            reads,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The event store.
    pub fn events(&self) -> &EventStore {
        self.inner.commands.store()
    }

    /// The command runner: load, decide, append.
    pub fn commands(&self) -> &Commands {
        &self.inner.commands
    }

    /// Token keys.
    pub fn keys(&self) -> &JwtKeys {
        &self.inner.keys
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether the configuration names the user a moderator.
    pub fn is_configured_moderator(&self, user: &UserId) -> bool {
        self.inner.moderators.contains(user)
    }

    /// The moderation word list.
    pub fn words(&self) -> &WordList {
        &self.inner.words
    }

    /// The rate limiter.
    pub fn limiter(&self) -> &limits::RateLimiter {
        &self.inner.limiter
    }

    /// Whether `user` has registered. Registration is never undone, so a yes
    /// is remembered (per process, bounded) and the command path pays for the
    /// lookup once per user, not once per command.
    pub async fn is_registered(&self, user: &UserId) -> Result<bool, error::ApiError> {
        if self.inner.registered.get(user).is_some() {
            return Ok(true);
        }
        let registered = matches!(facts::user(self.commands(), user).await?, domain::users::User::Registered { .. });
        if registered {
            self.inner.registered.insert(user.clone(), ());
        }
        Ok(registered)
    }

    /// Remembers a registration that a command just made or found.
    pub(crate) fn remember_registered(&self, user: &UserId) {
        self.inner.registered.insert(user.clone(), ());
    }

    /// The read side, when this process serves queries.
    pub fn read_side(&self) -> Option<&reads::Reads> {
        self.inner.reads.as_ref()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &ops::Metrics {
        &self.inner.metrics
    }
}

/// The whole router: `/api/v1/*`, `/health`, `/ready`, `/metrics`.
pub fn router(app: App) -> Router {
    routes::router(app)
}

/// Serves the API on `listener` until `stop` resolves, then drains requests.
pub async fn serve(
    listener: TcpListener,
    app: App,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(stop).await
}
