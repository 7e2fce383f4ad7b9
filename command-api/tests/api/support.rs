//! Spawning the API and calling it.

use auth::{Claims, JwtKeys};
use command_api::{App, Config, JwtConfig, RateLimits, Secret};
use events::catalog::users::UserBlocked;
use events::ids::UserId;
use events::{Aggregate, DomainEvent, Expected, Metadata};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use testkit::TestLog;

pub const SECRET: &str = "test-secret-with-enough-entropy-0123456789";

pub struct Api {
    pub base: String,
    pub log: TestLog,
    pub http: reqwest::Client,
    keys: JwtKeys,
    /// Users `call` has registered: only registered users may act.
    members: std::sync::Mutex<std::collections::HashSet<String>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("an id").to_owned()
    }

    #[track_caller]
    pub fn problem(&self, status: u16, slug: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(self.body["type"], format!("urn:pulse:problem:{slug}"), "{:?}", self.body);
        assert_eq!(self.body["status"], status);
        self
    }

    /// The position the command answered with.
    pub fn position(&self) -> String {
        self.body["position"].as_str().expect("a position").to_owned()
    }

    #[track_caller]
    pub fn accepted(&self) -> &Self {
        assert_eq!(self.status, StatusCode::ACCEPTED, "{:?}", self.body);
        assert!(self.headers.contains_key("pulse-position"));
        self
    }
}

pub fn config() -> Config {
    let mut config = Config::with_secret(SECRET);
    config.moderators = vec![events::ids::UserId::parse("mod").unwrap()];
    config.words = "badword, suspicious:flag".to_owned();
    config
}

pub async fn spawn() -> Api {
    spawn_with(config()).await
}

pub async fn spawn_with(config: Config) -> Api {
    spawn_reading(config, std::time::Duration::from_secs(10)).await
}

/// An API whose queries wait at most `wait` for a position.
pub async fn spawn_reading(config: Config, wait: std::time::Duration) -> Api {
    let side = ReadSide { wait, ..ReadSide::default() };
    spawn_full(config, side).await
}

/// How the read side of a test API is set up.
pub struct ReadSide {
    /// The longest a query waits for a position.
    pub wait: std::time::Duration,
    /// The Redis of the feeds.
    pub redis_url: String,
    /// How feeds are kept.
    pub feeds: feeds::FeedSettings,
    /// The cache of documents queries read by id: on, as `pulse` runs it, so
    /// every query test also proves the notices keep it true.
    pub cache: read_store::CacheSettings,
    /// The feeds' first pages kept in the API: on, as `pulse` runs it, so
    /// every feed test read without a position also proves Redis's notices
    /// keep them true.
    pub feed_pages: usize,
}

impl Default for ReadSide {
    fn default() -> Self {
        Self {
            wait: std::time::Duration::from_secs(10),
            redis_url: testkit::redis::redis_url(),
            feeds: feeds::FeedSettings::default(),
            cache: read_store::CacheSettings::default(),
            feed_pages: 1_000,
        }
    }
}

/// An API with every projector and reactor running behind it.
pub async fn spawn_full(config: Config, side: ReadSide) -> Api {
    let log = TestLog::new().await;
    let keys = JwtKeys::new(&JwtConfig { secret: Secret::new(SECRET), issuer: None, audience: None });
    let reads = read_side(&log, &side).await;
    let app = App::with_reads(log.store.clone(), config, ops::Metrics::new("command-api"), reads).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(command_api::serve(listener, app, std::future::pending()));
    Api { base, log, http: reqwest::Client::new(), keys, members: Default::default() }
}

/// A real read side: the projectors and reactors (the notifier too) running into an in-memory
/// SQLite store and Redis for as long as the test runs, and the progress the
/// queries wait on. Feed keys live under the test's namespace.
async fn read_side(log: &TestLog, side: &ReadSide) -> command_api::reads::Reads {
    let store = read_store::AnyStore::from(read_store::SqliteStore::in_memory().unwrap());
    let projections = read_models::all();
    let reactor = [(feeds::NAME, feeds::CONTEXTS)];
    let progress = projectors::Progress::start(&log.store, &store, &projections, &reactor).await.unwrap();
    let feeds = feeds::Feeds::connect(&side.redis_url, log.namespace.as_str(), side.feeds).await.unwrap();
    let projector = projectors::Projector::new(
        log.store.clone(),
        store.clone(),
        projectors::ProjectorMetrics::default(),
        projectors::Settings::default(),
    );
    let commands = commands::Commands::new(log.store.clone(), commands::Settings::default());
    let reactions = projectors::Reactions::new(commands.clone());
    let notifier = notifier::Notifier::new(commands);
    let writer = feeds::FeedWriter::new(feeds.clone(), store.clone(), progress.clone());
    let reactors: Vec<std::sync::Arc<dyn projectors::Reactor>> =
        vec![std::sync::Arc::new(reactions), std::sync::Arc::new(writer), std::sync::Arc::new(notifier)];
    let jobs = projectors::Job::all(&projections, reactors);
    tokio::spawn(async move {
        // The sender lives in this task, so the projector runs until the
        // test's runtime ends.
        let (_running, stop) = tokio::sync::watch::channel(false);
        projector.run(&jobs, stop).await
    });
    let feeds = feeds.with_first_pages(side.feed_pages);
    command_api::reads::Reads::new(store, progress, side.cache, side.wait, feeds)
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn claims(user: &str) -> Claims {
    Claims {
        sub: user.to_owned(),
        name: Some(format!("{user} name")),
        email: Some(format!("{user}@example.org")),
        picture: None,
        role: None,
        iat: now(),
        exp: now() + 3600,
        nbf: None,
        iss: None,
        aud: None,
    }
}

impl Api {
    pub fn token(&self, user: &str) -> String {
        self.keys.mint(&claims(user)).unwrap()
    }

    pub fn token_with(&self, claims: &Claims) -> String {
        self.keys.mint(claims).unwrap()
    }

    /// A request as `user`, who is registered first (once) unless the request
    /// is the registration itself. [`Api::send`] is the raw request.
    pub async fn call(&self, method: Method, path: &str, user: Option<&str>, body: Option<Value>) -> Reply {
        if let Some(user) = user.filter(|_| path != "/users/me") {
            self.member(user).await;
        }
        self.send(method, path, user.map(|u| self.token(u)), body, None).await
    }

    /// Registers `user` unless `call` already did.
    pub async fn member(&self, user: &str) {
        if self.members.lock().unwrap().contains(user) {
            return;
        }
        let token = Some(self.token(user));
        self.send(Method::POST, "/users/me", token, Some(serde_json::json!({})), None).await.accepted();
        self.members.lock().unwrap().insert(user.to_owned());
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<String>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}/api/v1{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.unwrap()).await
    }

    /// A query as `user`, reading after `position` when given (as the
    /// `Pulse-After` header).
    pub async fn get(&self, path: &str, user: &str, position: Option<&str>) -> Reply {
        self.member(user).await;
        let mut request = self.http.get(format!("{}/api/v1{path}", self.base)).bearer_auth(self.token(user));
        if let Some(position) = position {
            request = request.header("Pulse-After", position);
        }
        reply(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, user: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(user), Some(body)).await
    }

    /// The decoded events of an aggregate, oldest first.
    pub async fn events_of(&self, aggregate: &Aggregate) -> Vec<DomainEvent> {
        self.log.store.load(aggregate).await.unwrap().events.into_iter().map(|r| r.event).collect()
    }

    /// `blocker` blocks `blocked`, written straight to the log as a given.
    pub async fn given_block(&self, blocker: &str, blocked: &str) {
        let (blocker, blocked) = (UserId::parse(blocker).unwrap(), UserId::parse(blocked).unwrap());
        let event = UserBlocked { blocker: blocker.clone(), blocked: blocked.clone() };
        let metadata = Metadata::new(Some(blocker.clone()));
        self.log
            .store
            .append(&Aggregate::block(&blocker, &blocked), Expected::Any, event, &metadata, None)
            .await
            .unwrap();
    }

    pub async fn event_names_of(&self, aggregate: &Aggregate) -> Vec<&'static str> {
        self.events_of(aggregate).await.iter().map(DomainEvent::name).collect()
    }
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, headers, body }
}

pub fn no_limits() -> Config {
    Config { limits: RateLimits::OFF, ..config() }
}
