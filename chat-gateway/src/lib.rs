//! The chat gateway: realtime chat over one WebSocket endpoint, `/ws`.
//!
//! A client authenticates with its first frame, subscribes to conversations
//! (resuming after the last position it saw), and sends messages, edits,
//! deletions and read marks as frames. Commands go through the same path as
//! the REST API's (`commands::chat`), so a frame is acknowledged only after
//! JetStream acknowledged its event. Delivery reads the log, never a side
//! channel: one ordered tail of the chat stream per gateway hands each event
//! to the connections subscribed to its conversation ([`hub`]), and a resume
//! reads what was missed from the stream itself, so several gateways behind
//! one load balancer need no sticky sessions and share nothing but NATS.
//!
//! Owns: the socket protocol ([`protocol`], documented in docs/chat.md),
//! connections ([`connection`]), live fan-out ([`hub`], [`live`]).
//! Never touches: chat rules (in `domain`, run by `commands`), NATS (in
//! `events`).

pub mod command_frames;
pub mod connection;
pub mod hub;
pub mod live;
pub mod metrics;
pub mod presence;
pub mod protocol;
pub mod relations;
pub mod typing;

use auth::{JwtConfig, JwtKeys};
use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use commands::Commands;
use events::{Context, EventStore, StoreError};
use hub::Hub;
use metrics::GatewayMetrics;
use presence::Presence;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use typing::Typing;

/// How connections are held to account.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a new connection has to send its `auth` frame.
    pub auth_timeout: Duration,
    /// Frames waiting to be written to one connection before it counts as
    /// too slow and is cut.
    pub queue: usize,
    /// The largest text frame answered; a larger one gets a `too-large`
    /// error frame. A frame over four times this ends the connection.
    pub max_frame_bytes: usize,
    /// Frames a connection may send per second on average ...
    pub frames_per_second: u32,
    /// ... and in a burst.
    pub frame_burst: u32,
    /// The most events a resume replays; further behind is a `resync`.
    pub resume_max: usize,
    /// How long writing one frame to a socket may take.
    pub write_timeout: Duration,
    /// How often the gateway pings an idle socket; a socket silent for three
    /// of these is closed.
    pub ping_interval: Duration,
    /// How long a typing indicator lasts unless `start` is repeated.
    pub typing_ttl: Duration,
    /// How long a socket counts as online unless its gateway renews it: the
    /// bound on how long a crashed gateway's users still look online.
    pub presence_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auth_timeout: Duration::from_secs(5),
            queue: 256,
            max_frame_bytes: 16 * 1024,
            frames_per_second: 20,
            frame_burst: 40,
            resume_max: 1_000,
            write_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(25),
            typing_ttl: Duration::from_secs(5),
            presence_ttl: presence::DEFAULT_TTL,
        }
    }
}

/// The gateway: cheap to clone, every clone the same gateway.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    commands: Commands,
    keys: JwtKeys,
    hub: Hub,
    settings: Settings,
    metrics: GatewayMetrics,
    registry: ops::Metrics,
    typing: Typing,
    presence: Presence,
    epoch: String,
    /// Per tail (chat, notifications): whether it is reading.
    live: Vec<(&'static str, Arc<AtomicBool>)>,
    connections: AtomicU64,
    stop: watch::Receiver<bool>,
}

impl Gateway {
    /// Reads the chat stream's epoch, connects to Redis (presence) and starts
    /// the live tail, typing and presence, which run until `stop`.
    pub async fn start(
        log: EventStore,
        redis_url: &str,
        jwt: &JwtConfig,
        settings: Settings,
        registry: ops::Metrics,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, StartError> {
        let epoch = log.stream_state(Context::Chat).await?.life();
        // Names this gateway among the others, in typing signals and presence entries.
        let name = uuid::Uuid::now_v7().to_string();
        let namespace = log.namespace().as_str().to_owned();
        let commands = Commands::new(log.clone(), commands::Settings::default());
        let nats = log.client().clone();
        let presence = Presence::connect(redis_url, nats, commands.clone(), &namespace, &name, settings.presence_ttl)
            .await
            .map_err(|e| StartError::Redis(e.to_string()))?;
        let metrics = GatewayMetrics::default();
        metrics.register(&registry);
        let hub = Hub::default();
        let mut live = Vec::new();
        for (name, tail) in [("chat", live::Tail::chat()), ("notifications", live::Tail::notifications())] {
            let reading = Arc::new(AtomicBool::new(false));
            let run = live::run(
                log.clone(),
                hub.clone(),
                tail,
                epoch.clone(),
                metrics.clone(),
                reading.clone(),
                stop.clone(),
            );
            tokio::spawn(run);
            live.push((name, reading));
        }
        let typing = Typing::new(log.client().clone(), &namespace, &name);
        tokio::spawn(typing.clone().run(hub.clone(), settings.typing_ttl, stop.clone()));
        tokio::spawn(presence.clone().run(stop.clone()));
        let inner = Inner {
            commands,
            keys: JwtKeys::new(jwt),
            hub,
            settings,
            metrics,
            registry,
            typing,
            presence,
            epoch,
            live,
            connections: AtomicU64::new(0),
            stop,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// `/ws`, `/health`, `/ready` and `/metrics`.
    pub fn router(&self) -> Router {
        let (log, live, presence) =
            (self.inner.commands.store().clone(), self.inner.live.clone(), self.inner.presence.clone());
        let ready: ops::ReadyCheck = Arc::new(move || {
            let (log, live, presence) = (log.clone(), live.clone(), presence.clone());
            Box::pin(async move {
                log.is_connected()?;
                presence.ping().await?;
                match live.iter().find(|(_, reading)| !reading.load(Ordering::Relaxed)) {
                    Some((name, _)) => Err(format!("not reading the {name} stream")),
                    None => Ok(()),
                }
            })
        });
        let max = self.inner.settings.max_frame_bytes * 4;
        Router::new()
            .route(
                "/ws",
                get(move |State(gateway): State<Gateway>, upgrade: WebSocketUpgrade| upgrade_to(gateway, upgrade, max)),
            )
            .with_state(self.clone())
            .merge(ops::router("chat-gateway", ready, self.inner.registry.clone()))
    }

    /// The chat stream's epoch: positions mean something only with it.
    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    /// How many subscriptions the gateway holds, over all connections.
    pub fn subscriptions(&self) -> usize {
        self.inner.hub.subscriptions()
    }

    fn next_connection(&self) -> u64 {
        self.inner.connections.fetch_add(1, Ordering::Relaxed)
    }
}

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The event log.
    #[error(transparent)]
    Log(#[from] StoreError),
    /// Redis, which holds presence.
    #[error("Redis (presence): {0}")]
    Redis(String),
}

async fn upgrade_to(gateway: Gateway, upgrade: WebSocketUpgrade, max: usize) -> Response {
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        // tungstenite's defaults (a 128 KiB read buffer, allocated up front)
        // would make an idle socket cost over 100 KiB; frames are small, and
        // a larger one is read in more calls.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| connection::serve(socket, gateway))
}

/// Bytes read from a socket at once.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes of frames gathered before they are written out (a batch is flushed
/// anyway); the buffer grows only as far as a socket's traffic takes it.
const WRITE_BUFFER: usize = 16 * 1024;

/// Serves the gateway on `listener` until `shutdown` resolves. Open sockets
/// are told to go away (1001) when the gateway's stop signal fires.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, gateway.router()).with_graceful_shutdown(shutdown).await
}
