//! Presence: a user is online while any of their sockets, on any gateway, is.
//! The keys are the `presence` crate's, which the notifier reads too.
//!
//! Each socket holds an entry in the Redis sorted set `<ns>:presence:<user>`
//! whose score is when it lapses. Its gateway renews its sockets' entries
//! every third of the time to live, so the entries of a gateway that crashed
//! lapse within it and its users go offline without anyone saying so. A
//! socket that closes removes its entry and stamps `<ns>:last-seen:<user>`.
//!
//! Sockets watch users (a `presence` frame). Every gateway reads the
//! presence of the users its sockets watch every third of the time to live,
//! and at once when another gateway nudges it on core NATS
//! (`<ns>.presence`, sent when a socket opens or closes), and tells the
//! watchers what changed.
//!
//! Privacy: a user whose settings say `show_presence: false` is shown offline
//! with no last seen to everyone. Their sockets' gateway keeps
//! `<ns>:presence-hidden:<user>` set beside their entries (and stamps no last
//! seen), reading their settings when a socket opens and at every renewal, so
//! a change shows within a third of the time to live. Entries are written all
//! the same: the notifier must still know they are online. A watcher and a
//! user with a block between them see each other offline too, decided when
//! the watcher sends its `presence` frame.

use crate::hub::Outgoing;
use crate::protocol::ServerFrame;
use commands::{Commands, facts};
use domain::users::User;
use events::ids::UserId;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, mpsc, watch};

/// How long an unrenewed socket's entry lives, unless configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// Presence of this gateway's sockets, and of the users they watch.
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    redis: ConnectionManager,
    nats: async_nats::Client,
    commands: Commands,
    /// Per user with a socket here: whether they hide their presence.
    hidden: Mutex<HashMap<UserId, bool>>,
    namespace: String,
    gateway: String,
    ttl: Duration,
    sockets: Mutex<HashMap<u64, UserId>>,
    watchers: Mutex<HashMap<u64, Watcher>>,
    told: Mutex<HashMap<UserId, Seen>>,
}

/// A socket that watches users.
pub struct Watcher {
    /// Whom.
    pub users: Vec<UserId>,
    /// Its queue.
    pub queue: mpsc::Sender<Outgoing>,
    /// Raised when its queue overflows.
    pub cut: Arc<Notify>,
    /// Those of `users` with a block between them and the watcher: always
    /// shown offline with no last seen.
    pub apart: HashSet<UserId>,
}

/// One user's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    online: bool,
    /// Unix milliseconds.
    last_seen: Option<i64>,
}

impl Seen {
    /// What a hidden user looks like: offline, never seen.
    const AWAY: Seen = Seen { online: false, last_seen: None };
}

impl Presence {
    /// Presence in the Redis at `url`, for gateway `gateway` (a unique name).
    pub async fn connect(
        url: &str,
        nats: async_nats::Client,
        commands: Commands,
        namespace: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(5));
        let redis = ConnectionManager::new_with_config(client, config).await?;
        let inner = Inner {
            redis,
            nats,
            commands,
            hidden: Mutex::default(),
            namespace: namespace.to_owned(),
            gateway: gateway.to_owned(),
            ttl,
            sockets: Mutex::default(),
            watchers: Mutex::default(),
            told: Mutex::default(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Whether Redis answers: what `/ready` asks.
    pub async fn ping(&self) -> Result<(), String> {
        let _: String = redis::cmd("PING").query_async(&mut self.redis()).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Socket `connection` of `user` opened.
    pub async fn arrived(&self, connection: u64, user: &UserId) {
        lock(&self.inner.sockets).insert(connection, user.clone());
        self.refresh_settings(std::slice::from_ref(user)).await;
        let mut pipe = redis::pipe();
        self.renew(&mut pipe, connection, user);
        self.run_pipe(pipe).await;
        self.nudge(user).await;
    }

    /// Socket `connection` of `user` closed.
    pub async fn left(&self, connection: u64, user: &UserId) {
        lock(&self.inner.sockets).remove(&connection);
        lock(&self.inner.watchers).remove(&connection);
        let mut pipe = redis::pipe();
        pipe.zrem(self.key(user), self.member(connection)).ignore();
        if !self.hides(user) {
            let keep = 90 * 24 * 3600;
            pipe.set_ex(self.last_seen_key(user), now_ms(), keep).ignore();
        }
        self.run_pipe(pipe).await;
        if !lock(&self.inner.sockets).values().any(|u| u == user) {
            lock(&self.inner.hidden).remove(user);
        }
        self.nudge(user).await;
    }

    /// Socket `connection` watches `watcher.users` from now on; the frames
    /// telling where each of them stands now.
    pub async fn watch(&self, connection: u64, watcher: Watcher) -> Result<Vec<ServerFrame>, redis::RedisError> {
        let (users, apart) = (watcher.users.clone(), watcher.apart.clone());
        lock(&self.inner.watchers).insert(connection, watcher);
        let seen = self.read(&users).await?;
        let mut told = lock(&self.inner.told);
        Ok(users
            .into_iter()
            .zip(seen)
            .map(|(user, seen)| {
                told.insert(user.clone(), seen);
                frame(&user, if apart.contains(&user) { Seen::AWAY } else { seen })
            })
            .collect())
    }

    /// Renews this gateway's sockets and tells watchers what changed, until
    /// `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let subject = format!("{}.presence", self.inner.namespace);
        let mut nudges = match self.inner.nats.subscribe(subject).await {
            Ok(nudges) => Some(nudges),
            Err(e) => {
                tracing::warn!(error = %e, "cannot hear presence nudges; polling only");
                None
            }
        };
        let mut tick = tokio::time::interval(self.inner.ttl / 3);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.renew_all().await;
                    let watched: Vec<UserId> = lock(&self.inner.told).keys().cloned().collect();
                    self.recheck(&watched).await;
                }
                Some(message) = async { nudges.as_mut()?.next().await } => {
                    let Ok(user) = std::str::from_utf8(&message.payload).map(UserId::parse) else { continue };
                    let Ok(user) = user else { continue };
                    if lock(&self.inner.told).contains_key(&user) {
                        self.recheck(&[user]).await;
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }

    async fn renew_all(&self) {
        let sockets: Vec<(u64, UserId)> = lock(&self.inner.sockets).iter().map(|(c, u)| (*c, u.clone())).collect();
        if sockets.is_empty() {
            return;
        }
        let users: HashSet<UserId> = sockets.iter().map(|(_, user)| user.clone()).collect();
        self.refresh_settings(&users.into_iter().collect::<Vec<_>>()).await;
        let mut pipe = redis::pipe();
        for (connection, user) in &sockets {
            self.renew(&mut pipe, *connection, user);
        }
        self.run_pipe(pipe).await;
    }

    /// Reads `users`' presence and tells their watchers where it changed;
    /// users no socket watches any more are forgotten.
    async fn recheck(&self, users: &[UserId]) {
        let watched: HashSet<UserId> =
            lock(&self.inner.watchers).values().flat_map(|w| w.users.iter().cloned()).collect();
        lock(&self.inner.told).retain(|user, _| watched.contains(user));
        let users: Vec<UserId> = users.iter().filter(|u| watched.contains(*u)).cloned().collect();
        let Ok(seen) = self.read(&users).await else { return };
        let changed: Vec<(UserId, Seen)> = {
            let mut told = lock(&self.inner.told);
            users.into_iter().zip(seen).filter(|(user, seen)| told.insert(user.clone(), *seen) != Some(*seen)).collect()
        };
        if changed.is_empty() {
            return;
        }
        let watchers = lock(&self.inner.watchers);
        for (user, seen) in changed {
            let text = frame(&user, seen).to_text();
            for watcher in watchers.values().filter(|w| w.users.contains(&user) && !w.apart.contains(&user)) {
                let item = Outgoing::Direct(text.clone().into(), "presence");
                if let Err(mpsc::error::TrySendError::Full(_)) = watcher.queue.try_send(item) {
                    watcher.cut.notify_one();
                }
            }
        }
    }

    /// Each user's presence, in order.
    async fn read(&self, users: &[UserId]) -> Result<Vec<Seen>, redis::RedisError> {
        let now = now_ms();
        let reads = users.iter().map(|user| {
            let mut redis = self.redis();
            let mut pipe = redis::pipe();
            pipe.zcount(self.key(user), now, "+inf")
                .zrevrange_withscores(self.key(user), 0, 0)
                .get(self.last_seen_key(user))
                .exists(presence::hidden_key(&self.inner.namespace, user));
            async move { pipe.query_async::<(i64, Vec<(String, f64)>, Option<i64>, bool)>(&mut redis).await }
        });
        let ttl = i64::try_from(self.inner.ttl.as_millis()).unwrap_or(i64::MAX);
        let answers = futures::future::try_join_all(reads).await?;
        Ok(answers
            .into_iter()
            .map(|(live, newest, stamp, hidden)| {
                if hidden {
                    return Seen::AWAY;
                }
                // A lapsed entry was last renewed a time to live before it lapsed.
                #[allow(clippy::cast_possible_truncation)]
                let lapsed = newest.first().map(|(_, lapses)| *lapses as i64 - ttl);
                let last_seen = stamp.into_iter().chain(lapsed).max();
                if live > 0 { Seen { online: true, last_seen: None } } else { Seen { online: false, last_seen } }
            })
            .collect())
    }

    fn renew(&self, pipe: &mut redis::Pipeline, connection: u64, user: &UserId) {
        let ttl = i64::try_from(self.inner.ttl.as_millis()).unwrap_or(i64::MAX);
        let key = self.key(user);
        pipe.zadd(&key, self.member(connection), now_ms() + ttl).ignore();
        // The set outlives its newest entry a little, then goes.
        pipe.pexpire(&key, 2 * ttl).ignore();
        let hidden = presence::hidden_key(&self.inner.namespace, user);
        if self.hides(user) {
            // Outlives the entries as the set does; no last seen is kept.
            pipe.pset_ex(&hidden, 1, u64::try_from(2 * ttl).unwrap_or(u64::MAX)).ignore();
            pipe.del(self.last_seen_key(user)).ignore();
        } else {
            pipe.del(&hidden).ignore();
        }
    }

    /// Whether `user` hides their presence, as last read.
    fn hides(&self, user: &UserId) -> bool {
        lock(&self.inner.hidden).get(user).copied().unwrap_or(false)
    }

    /// Reads the settings of `users` (each a cached aggregate: one direct
    /// get), and nudges every gateway about those whose choice changed. A
    /// user who cannot be read keeps the choice last read, or hides.
    async fn refresh_settings(&self, users: &[UserId]) {
        let commands = &self.inner.commands;
        let reads = users.iter().map(|user| async move { (user, facts::user(commands, user).await) });
        for (user, read) in futures::future::join_all(reads).await {
            let hides = match read {
                Ok(User::Registered { settings, .. }) => !settings.show_presence,
                Ok(User::Unregistered) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "presence settings could not be read");
                    lock(&self.inner.hidden).get(user).copied().unwrap_or(true)
                }
            };
            let before = lock(&self.inner.hidden).insert(user.clone(), hides);
            if before.is_some_and(|before| before != hides) {
                let mut pipe = redis::pipe();
                for (connection, _) in lock(&self.inner.sockets).iter().filter(|(_, u)| *u == user) {
                    self.renew(&mut pipe, *connection, user);
                }
                self.run_pipe(pipe).await;
                self.nudge(user).await;
            }
        }
    }

    async fn run_pipe(&self, pipe: redis::Pipeline) {
        if let Err(e) = pipe.query_async::<()>(&mut self.redis()).await {
            tracing::warn!(error = %e, "presence was not written to Redis");
        }
    }

    async fn nudge(&self, user: &UserId) {
        let subject = format!("{}.presence", self.inner.namespace);
        let _ = self.inner.nats.publish(subject, user.to_string().into()).await;
    }

    fn redis(&self) -> ConnectionManager {
        self.inner.redis.clone()
    }

    fn key(&self, user: &UserId) -> String {
        presence::sockets_key(&self.inner.namespace, user)
    }

    fn last_seen_key(&self, user: &UserId) -> String {
        presence::last_seen_key(&self.inner.namespace, user)
    }

    fn member(&self, connection: u64) -> String {
        format!("{}:{connection}", self.inner.gateway)
    }
}

fn frame(user: &UserId, seen: Seen) -> ServerFrame {
    let last_seen = seen
        .last_seen
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .and_then(|at| at.format(&Rfc3339).ok());
    ServerFrame::Presence { user: user.to_string(), online: seen.online, last_seen }
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these maps leaves it consistent enough
    // (entries are whole); presence is best effort.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
