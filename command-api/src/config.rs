//! The command API's settings. Built once by the `pulse` binary from `PULSE_*`
//! variables (or by tests in code) and handed to [`crate::App::new`].

use auth::{JwtConfig, Secret};
use events::ids::UserId;
use ipnet::IpNet;
use std::time::Duration;

/// Requests allowed per minute; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Posts a user may create.
    pub posts_per_minute: u32,
    /// Comments a user may add.
    pub comments_per_minute: u32,
    /// Chat messages a user may send.
    pub messages_per_minute: u32,
    /// Group conversations a user may start, plus member adds.
    pub groups_per_minute: u32,
    /// Commands of any kind a signed-in user may send.
    pub commands_per_user_per_minute: u32,
    /// Requests from one client address without a usable token (including
    /// every first check of a new token) and to internal routes.
    pub commands_per_ip_per_minute: u32,
}

impl RateLimits {
    /// No limits at all (benchmarks).
    pub const OFF: RateLimits = RateLimits {
        posts_per_minute: 0,
        comments_per_minute: 0,
        messages_per_minute: 0,
        groups_per_minute: 0,
        commands_per_user_per_minute: 0,
        commands_per_ip_per_minute: 0,
    };
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            posts_per_minute: 30,
            comments_per_minute: 60,
            messages_per_minute: 120,
            groups_per_minute: 10,
            commands_per_user_per_minute: 600,
            commands_per_ip_per_minute: 1200,
        }
    }
}

/// Everything the command API needs besides its event store.
#[derive(Debug, Clone)]
pub struct Config {
    /// Token checking.
    pub jwt: JwtConfig,
    /// Users who may hide and restore content, besides tokens carrying
    /// `"role": "moderator"`.
    pub moderators: Vec<UserId>,
    /// Key other backends present (`X-Api-Key`) on `/api/v1/internal/*`;
    /// `None` turns those routes off.
    pub service_api_key: Option<Secret>,
    /// Rate limits.
    pub limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers name the client
    /// address; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Moderation word list: comma-separated `word`, `word:reject` or
    /// `word:flag` entries.
    pub words: String,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Longest a request may take, body included; past it the answer is
    /// `503 timed-out`.
    pub request_timeout: Duration,
    /// How commands run: conflict retries, the aggregate cache.
    pub commands: commands::Settings,
}

impl Config {
    /// Defaults around a JWT secret.
    pub fn with_secret(secret: &str) -> Self {
        Self {
            jwt: JwtConfig { secret: Secret::new(secret), issuer: None, audience: None },
            moderators: Vec::new(),
            service_api_key: None,
            limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            words: String::new(),
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            commands: commands::Settings::default(),
        }
    }
}
