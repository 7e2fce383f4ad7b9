//! Settings read once at start-up from flags or `PULSE_*` variables; each
//! service gets its part. No other code in Pulse reads the environment.

use anyhow::{Context as _, bail};
use auth::MIN_SECRET_BYTES;
use auth::{JwtConfig, Secret};
use clap::Args;
use command_api::RateLimits;
use events::ids::UserId;
use events::{Namespace, StoreConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings every service shares.
#[derive(Args, Debug, Clone)]
pub struct Config {
    /// NATS server with JetStream enabled.
    #[arg(long, global = true, env = "PULSE_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Stream replicas: 1 on one server, 3 in a cluster.
    #[arg(long, global = true, env = "PULSE_NATS_REPLICAS", default_value_t = 1)]
    pub nats_replicas: usize,
    /// Upper bound on every NATS call, in milliseconds.
    #[arg(long, global = true, env = "PULSE_NATS_TIMEOUT_MS", default_value_t = 5000)]
    pub nats_timeout_ms: u64,
    /// Prefix of subjects and stream names; lets environments share one NATS.
    #[arg(long, global = true, env = "PULSE_NAMESPACE", default_value = "pulse")]
    pub namespace: String,
    /// Where local state lives: the embedded read store, and in dev mode the generated JWT secret.
    #[arg(long, global = true, env = "PULSE_DATA_DIR", default_value = ".pulse/data")]
    pub data_dir: PathBuf,
    /// MongoDB for the read models (a `mongodb://` URL); unset: the embedded SQLite store in the data dir.
    #[arg(long, global = true, env = "PULSE_MONGO_URL", hide_env_values = true)]
    pub mongo_url: Option<String>,
    /// Redis, where the home feeds live.
    #[arg(
        long,
        global = true,
        env = "PULSE_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// Authors with more followers than this are merged into feeds when read instead of fanned out on write.
    #[arg(long, global = true, env = "PULSE_FEED_FANOUT_MAX", default_value_t = 10_000)]
    pub feed_fanout_max: u64,
    /// The MongoDB database of the read models.
    #[arg(long, global = true, env = "PULSE_MONGO_DATABASE", default_value = "pulse")]
    pub mongo_database: String,
    /// Dev mode (1/0): `pulse token`, a generated JWT secret, readable logs.
    #[arg(long, global = true, env = "PULSE_DEV", default_value = "0", value_parser = parse_flag, action = clap::ArgAction::Set)]
    pub dev: bool,
    /// HS256 secret shared with NextAuth; required unless in dev mode.
    #[arg(long, global = true, env = "PULSE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Required `iss` claim of tokens, when set.
    #[arg(long, global = true, env = "PULSE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim of tokens, when set.
    #[arg(long, global = true, env = "PULSE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Log format, `json` or `text`; default text in dev mode, else json.
    #[arg(long, global = true, env = "PULSE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// How logs are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// The command API's own settings.
#[derive(Args, Debug, Clone)]
pub struct CommandApiArgs {
    /// Listen address of the command API.
    #[arg(long, env = "PULSE_COMMAND_API_ADDR", default_value = "127.0.0.1:3001")]
    pub command_api_addr: String,
    /// Comma-separated user ids who may moderate.
    #[arg(long, env = "PULSE_MODERATORS", value_delimiter = ',')]
    pub moderators: Vec<String>,
    /// Key other backends present as `X-Api-Key` on `/api/v1/internal/*`; unset turns those routes off.
    #[arg(long, env = "PULSE_SERVICE_API_KEY", hide_env_values = true)]
    pub service_api_key: Option<String>,
    /// Posts per user per minute (0: no limit).
    #[arg(long, env = "PULSE_RATE_POSTS_PER_MINUTE", default_value_t = 30)]
    pub rate_posts_per_minute: u32,
    /// Comments per user per minute (0: no limit).
    #[arg(long, env = "PULSE_RATE_COMMENTS_PER_MINUTE", default_value_t = 60)]
    pub rate_comments_per_minute: u32,
    /// Chat messages per user per minute (0: no limit).
    #[arg(long, env = "PULSE_RATE_MESSAGES_PER_MINUTE", default_value_t = 120)]
    pub rate_messages_per_minute: u32,
    /// Group conversations started plus member adds per user per minute (0: no limit).
    #[arg(long, env = "PULSE_RATE_GROUPS_PER_MINUTE", default_value_t = 10)]
    pub rate_groups_per_minute: u32,
    /// Commands of any kind per signed-in user per minute (0: no limit).
    #[arg(long, env = "PULSE_RATE_USER_PER_MINUTE", default_value_t = 600)]
    pub rate_user_per_minute: u32,
    /// Requests per client address per minute without a known token, and to internal routes (0: no limit).
    #[arg(long, env = "PULSE_RATE_IP_PER_MINUTE", default_value_t = 1200)]
    pub rate_ip_per_minute: u32,
    /// Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` / `Forwarded` name the client.
    #[arg(long, env = "PULSE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Moderation words: `word` or `word:reject` refuses, `word:flag` flags; comma-separated.
    #[arg(long, env = "PULSE_MODERATION_WORDS", default_value = "")]
    pub moderation_words: String,
    /// Largest request body, in bytes.
    #[arg(long, env = "PULSE_BODY_LIMIT_BYTES", default_value_t = 65536)]
    pub body_limit_bytes: usize,
    /// Aggregates whose state each process keeps between commands (0: none).
    #[arg(long, env = "PULSE_AGGREGATE_CACHE_SIZE", default_value_t = 10_000)]
    pub aggregate_cache_size: usize,
    /// Longest a request may take, body included, in milliseconds; past it the answer is 503 timed-out.
    #[arg(long, env = "PULSE_REQUEST_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,
    /// Longest a query waits for the projections to reach the position it passed (`Pulse-After`), in milliseconds.
    #[arg(long, env = "PULSE_READ_WAIT_MS", default_value_t = 2_000)]
    pub read_wait_ms: u64,
    /// The most read-model documents the API keeps decoded in memory (0: none).
    #[arg(long, env = "PULSE_READ_CACHE_DOCS", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub read_cache_docs: u64,
    /// How long a cached document is served, in milliseconds: how stale it can be if a progress notice is lost.
    #[arg(long, env = "PULSE_READ_CACHE_TTL_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub read_cache_ttl_ms: u64,
    /// The most home feeds whose first page the API keeps as Redis last gave it, kept true by Redis's notices (0: none).
    #[arg(long, env = "PULSE_FEED_CACHE_PAGES", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub feed_cache_pages: u64,
}

/// Settings of the projectors.
#[derive(Args, Debug, Clone)]
pub struct ProjectorArgs {
    /// Where the projectors serve /health, /ready and /metrics.
    #[arg(long, env = "PULSE_PROJECTORS_ADDR", default_value = "127.0.0.1:3002")]
    pub projectors_addr: String,
    /// The most events a projector stores in one batch.
    #[arg(long, env = "PULSE_PROJECTOR_BATCH", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub projector_batch: u64,
    /// The most events a projector stores in one batch while it catches up (rebuild, verify, backlog).
    #[arg(long, env = "PULSE_PROJECTOR_CATCH_UP_BATCH", default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub projector_catch_up_batch: u64,
}

impl ProjectorArgs {
    /// The engine's settings.
    pub fn settings(&self) -> projectors::Settings {
        projectors::Settings {
            batch: usize::try_from(self.projector_batch).unwrap_or(256),
            catch_up_batch: usize::try_from(self.projector_catch_up_batch).unwrap_or(16_384),
            ..projectors::Settings::default()
        }
    }
}

/// `pulse chat-gateway`.
#[derive(Args, Debug, Clone)]
pub struct ChatGatewayArgs {
    /// Listen address of the chat gateway (`/ws`, `/health`, `/ready`, `/metrics`).
    #[arg(long, env = "PULSE_CHAT_GATEWAY_ADDR", default_value = "127.0.0.1:3003")]
    pub chat_gateway_addr: String,
    /// Milliseconds a socket counts as online unless its gateway renews it: how long a
    /// crashed gateway's users still look online.
    #[arg(long, env = "PULSE_CHAT_PRESENCE_TTL_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(300..=3_600_000))]
    pub chat_presence_ttl_ms: u64,
}

impl ChatGatewayArgs {
    /// The gateway's settings.
    pub fn settings(&self) -> chat_gateway::Settings {
        let presence_ttl = std::time::Duration::from_millis(self.chat_presence_ttl_ms);
        chat_gateway::Settings { presence_ttl, ..chat_gateway::Settings::default() }
    }
}

/// `pulse notifier`.
#[derive(Args, Debug, Clone)]
pub struct NotifierArgs {
    /// Where the notifier serves /health, /ready and /metrics.
    #[arg(long, env = "PULSE_NOTIFIER_ADDR", default_value = "127.0.0.1:3004")]
    pub notifier_addr: String,
    /// The SMTP server emails go through (`smtp://host:port`; `smtps://` for
    /// TLS, `?tls=required` for STARTTLS); unset: emails are skipped.
    #[arg(long, env = "PULSE_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of emails.
    #[arg(long, env = "PULSE_SMTP_FROM", default_value = "Pulse <notifications@pulse.localhost>")]
    pub smtp_from: String,
    /// Where the web app is: links in emails start with it.
    #[arg(long, env = "PULSE_PUBLIC_URL", default_value = "http://127.0.0.1:3000")]
    pub public_url: String,
    /// Attempts per email, the first included, before it is a dead letter.
    #[arg(long, env = "PULSE_NOTIFY_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub notify_attempts: u32,
    /// The wait after a first failed attempt, in ms; it doubles after each
    /// (jittered, at most 30 s).
    #[arg(long, env = "PULSE_NOTIFY_RETRY_MS", default_value_t = 1000)]
    pub notify_retry_ms: u64,
    /// The VAPID private key (a P-256 scalar, base64url); unset: pushes are skipped.
    #[arg(long, env = "PULSE_VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,
    /// How push services reach the operator (`mailto:` or `https:`).
    #[arg(long, env = "PULSE_VAPID_SUBJECT", default_value = "mailto:ops@pulse.localhost")]
    pub vapid_subject: String,
    /// How long a message may stay unread before an absent member is told,
    /// in seconds (they hear of it between one and two of these later).
    #[arg(long, env = "PULSE_MESSAGE_NOTIFY_DELAY_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub message_notify_delay_seconds: u32,
    /// Most in-app notifications per user per hour (grouped likes and
    /// follows are not counted).
    #[arg(long, env = "PULSE_NOTIFY_IN_APP_PER_HOUR", default_value_t = 120)]
    pub notify_in_app_per_hour: u32,
    /// Most emails per user per hour.
    #[arg(long, env = "PULSE_NOTIFY_EMAILS_PER_HOUR", default_value_t = 20)]
    pub notify_emails_per_hour: u32,
    /// Most pushes per user per hour.
    #[arg(long, env = "PULSE_NOTIFY_PUSHES_PER_HOUR", default_value_t = 60)]
    pub notify_pushes_per_hour: u32,
    /// How long before an event its attendees are reminded, in minutes.
    #[arg(long, env = "PULSE_REMINDER_LEAD_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=10_080))]
    pub reminder_lead_minutes: u32,
    /// Let pushes go to `http://` endpoints on loopback addresses: for a
    /// local test push endpoint only, never in production.
    #[arg(long, env = "PULSE_PUSH_ALLOW_LOOPBACK", default_value = "0", value_parser = parse_flag)]
    pub push_allow_loopback: bool,
}

impl NotifierArgs {
    /// The pusher's settings.
    pub fn push(&self) -> notifier::PushSettings {
        notifier::PushSettings {
            vapid_private_key: self.vapid_private_key.clone().filter(|k| !k.trim().is_empty()),
            subject: self.vapid_subject.clone(),
            allow_loopback: self.push_allow_loopback,
            retry: self.retry(),
        }
    }

    /// The rate limits per user and channel.
    pub fn limits(&self) -> notifier::Limits {
        notifier::Limits {
            in_app: self.notify_in_app_per_hour,
            email: self.notify_emails_per_hour,
            push: self.notify_pushes_per_hour,
        }
    }

    /// How long a message may stay unread before an absent member is told.
    pub fn message_delay(&self) -> time::Duration {
        time::Duration::seconds(i64::from(self.message_notify_delay_seconds))
    }

    /// How long before an event its attendees are reminded.
    pub fn reminder_lead(&self) -> time::Duration {
        time::Duration::minutes(i64::from(self.reminder_lead_minutes))
    }

    fn retry(&self) -> domain::notify::RetryPolicy {
        domain::notify::RetryPolicy {
            attempts: self.notify_attempts,
            base: Duration::from_millis(self.notify_retry_ms),
            cap: Duration::from_secs(30),
        }
    }

    /// The mailer's settings; the JWT secret signs unsubscribe links.
    pub fn email(&self, shared: &Config) -> anyhow::Result<notifier::EmailSettings> {
        let retry = self.retry();
        Ok(notifier::EmailSettings {
            smtp_url: self.smtp_url.clone().filter(|u| !u.trim().is_empty()),
            from: self.smtp_from.clone(),
            public_url: self.public_url.clone(),
            secret: shared.jwt()?.secret,
            retry,
        })
    }
}

/// `pulse all`: every service's settings.
#[derive(Args, Debug, Clone)]
pub struct AllArgs {
    /// The command API's.
    #[command(flatten)]
    pub api: CommandApiArgs,
    /// The projectors'.
    #[command(flatten)]
    pub projectors: ProjectorArgs,
    /// The chat gateway's.
    #[command(flatten)]
    pub chat: ChatGatewayArgs,
    /// The notifier's.
    #[command(flatten)]
    pub notifier: NotifierArgs,
}

fn parse_flag(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (use 1 or 0)")),
    }
}

impl Config {
    /// Whether logs are JSON.
    pub fn json_logs(&self) -> bool {
        self.log_format.unwrap_or(if self.dev { LogFormat::Text } else { LogFormat::Json }) == LogFormat::Json
    }

    /// The event store's settings for a service writing as `source`.
    pub fn store(&self, source: &str) -> anyhow::Result<StoreConfig> {
        let namespace = Namespace::parse(&self.namespace).map_err(anyhow::Error::msg).context("PULSE_NAMESPACE")?;
        Ok(StoreConfig {
            namespace,
            replicas: self.nats_replicas,
            source: source.to_owned(),
            timeout: Duration::from_millis(self.nats_timeout_ms),
        })
    }

    /// The read store: MongoDB when `PULSE_MONGO_URL` is set, else the
    /// embedded SQLite database in the data dir.
    pub async fn read_store(&self) -> anyhow::Result<read_store::AnyStore> {
        if let Some(url) = self.mongo_url.as_deref().filter(|url| !url.trim().is_empty()) {
            let store = read_store::MongoStore::connect(url, &self.mongo_database)
                .await
                .context("connecting to MongoDB at PULSE_MONGO_URL")?;
            return Ok(store.into());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating the data dir {}", self.data_dir.display()))?;
        let path = self.data_dir.join("read.sqlite");
        let store = read_store::SqliteStore::open(&path)
            .with_context(|| format!("opening the read store {}", path.display()))?;
        Ok(store.into())
    }

    /// The home feeds in Redis, under this namespace.
    pub async fn feeds(&self) -> anyhow::Result<feeds::Feeds> {
        let settings = feeds::FeedSettings { fanout_max: self.feed_fanout_max, ..feeds::FeedSettings::default() };
        feeds::Feeds::connect(&self.redis_url, &self.namespace, settings)
            .await
            .context("connecting to Redis at PULSE_REDIS_URL (is redis-server running? `make services` starts one)")
    }

    /// Token checking: the configured secret, or in dev mode one generated once
    /// and kept in the data dir so tokens survive restarts.
    pub fn jwt(&self) -> anyhow::Result<JwtConfig> {
        let secret = match (&self.jwt_secret, self.dev) {
            (Some(secret), _) if !secret.is_empty() => secret.clone(),
            (_, true) => dev_secret(&self.data_dir)?,
            _ => bail!("PULSE_JWT_SECRET is required (or set PULSE_DEV=1 for a generated dev secret)"),
        };
        if secret.len() < MIN_SECRET_BYTES {
            bail!(
                "PULSE_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (it has {}); `openssl rand -hex 32` makes one",
                secret.len()
            );
        }
        Ok(JwtConfig {
            secret: Secret::new(secret),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
        })
    }
}

impl CommandApiArgs {
    /// The command API's configuration.
    pub fn config(&self, shared: &Config) -> anyhow::Result<command_api::Config> {
        let moderators = self
            .moderators
            .iter()
            .filter(|m| !m.trim().is_empty())
            .map(|m| UserId::parse(m.trim()).with_context(|| format!("PULSE_MODERATORS: {m:?}")))
            .collect::<anyhow::Result<_>>()?;
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| command_api::forwarded::parse_proxy(p).with_context(|| format!("PULSE_TRUSTED_PROXIES: {p:?}")))
            .collect::<anyhow::Result<_>>()?;
        let service_api_key = self.service_api_key.as_deref().filter(|k| !k.is_empty());
        if let Some(key) = service_api_key.filter(|k| k.len() < MIN_SECRET_BYTES) {
            bail!("PULSE_SERVICE_API_KEY must be at least {MIN_SECRET_BYTES} bytes (it has {}), or unset", key.len());
        }
        Ok(command_api::Config {
            jwt: shared.jwt()?,
            moderators,
            service_api_key: service_api_key.map(Secret::new),
            limits: RateLimits {
                posts_per_minute: self.rate_posts_per_minute,
                comments_per_minute: self.rate_comments_per_minute,
                messages_per_minute: self.rate_messages_per_minute,
                groups_per_minute: self.rate_groups_per_minute,
                commands_per_user_per_minute: self.rate_user_per_minute,
                commands_per_ip_per_minute: self.rate_ip_per_minute,
            },
            trusted_proxies,
            words: self.moderation_words.clone(),
            body_limit: self.body_limit_bytes,
            commands: commands::Settings { cache_capacity: self.aggregate_cache_size, ..commands::Settings::default() },
            request_timeout: Duration::from_millis(self.request_timeout_ms),
        })
    }

    /// How long a query waits for a position it passed.
    pub fn read_wait(&self) -> Duration {
        Duration::from_millis(self.read_wait_ms)
    }

    /// How many feeds' first pages the API keeps.
    pub fn feed_cache_pages(&self) -> usize {
        usize::try_from(self.feed_cache_pages).unwrap_or(usize::MAX)
    }

    /// The cache of documents the queries read by id.
    pub fn read_cache(&self) -> read_store::CacheSettings {
        read_store::CacheSettings {
            capacity: usize::try_from(self.read_cache_docs).unwrap_or(usize::MAX),
            ttl: Duration::from_millis(self.read_cache_ttl_ms),
        }
    }
}

/// The dev secret kept in the data dir, made on first use. An empty file (a
/// run stopped between creating and writing it) is replaced: an empty HMAC
/// key would let anyone sign tokens. A short one was put there by hand and
/// is refused rather than silently replaced.
fn dev_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("dev-jwt-secret");
    if let Ok(kept) = std::fs::read_to_string(&path) {
        let kept = kept.trim();
        if kept.len() >= MIN_SECRET_BYTES {
            return Ok(kept.to_owned());
        }
        if !kept.is_empty() {
            bail!(
                "{} holds a secret of {} bytes, fewer than {MIN_SECRET_BYTES}; delete it to have one generated",
                path.display(),
                kept.len()
            );
        }
        std::fs::remove_file(&path).with_context(|| format!("replacing the empty {}", path.display()))?;
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // 64 hex digits from two random UUIDs: 244 random bits.
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
