//! Web Push: sends each notification whose channels include push to every
//! browser its recipient subscribed, encrypted for each (RFC 8291) and signed
//! with the server's VAPID key (RFC 8292), and records the outcome on the
//! notification, as the mailer does (`email.rs` explains the engine, the
//! idempotence and the retries; the same rules hold here).
//!
//! Per subscription: 2xx is delivered; 404 or 410 means the subscription is
//! gone, and it is removed (`PushSubscriptionRemoved`, through the user's
//! settings); 429, 5xx and network errors are transient; any other answer is
//! permanent. The notification is delivered when one browser took it.
//!
//! Where it connects: the endpoint was checked when the browser subscribed,
//! and is checked again here: https on a public name, and every address the
//! name resolves to must be public (`domain::notify::may_push_to`). The
//! client resolves through [`CheckedResolver`], so the address checked is the
//! address connected to (no second lookup an attacker's DNS could answer
//! differently), and it follows no redirects. `allow_loopback` (a test/dev
//! setting) lets in `http://` endpoints on loopback addresses only.

use crate::delivery::{self, Held};
use crate::error::NotifyError;
use crate::metrics::NotifierMetrics;
use crate::rate::RateLimiter;
use crate::webpush::{self, VapidKey};
use commands::{CommandContext, Commands, facts};
use domain::notify::{Delivery, Failure, NotifySettings, NotifySettingsCommand, RetryPolicy, may_push_to};
use events::catalog::notifications::{
    Channel, NotificationCreated, NotificationDelivered, NotificationSkipped, PushSubscription,
};
use events::catalog::{Context, DomainEvent, NotificationEvent};
use events::store::Recorded;
use events::{Aggregate, Metadata, StoreError};
use futures::future::BoxFuture;
use projectors::Reactor;
use read_store::{AnyStore, ReadStoreError};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;

/// What the pusher needs to be set up.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// `PULSE_VAPID_PRIVATE_KEY`; `None`: push is not configured, and every
    /// push is recorded as skipped.
    pub vapid_private_key: Option<String>,
    /// `PULSE_VAPID_SUBJECT`: how push services reach the operator.
    pub subject: String,
    /// Let in `http://` endpoints on loopback (tests and dev only).
    pub allow_loopback: bool,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
}

/// Why the pusher could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// `PULSE_VAPID_PRIVATE_KEY` is not a P-256 key.
    #[error("PULSE_VAPID_PRIVATE_KEY: {0}")]
    Key(webpush::PushCryptoError),
    /// The HTTP client could not be built.
    #[error("the push HTTP client: {0}")]
    Client(String),
}

/// How long a push service gets to answer.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a push service keeps a message for an offline browser.
const TTL_SECONDS: u64 = 24 * 3600;
/// How long a VAPID token is valid (RFC 8292 allows up to 24 hours).
const VAPID_VALIDITY: u64 = 12 * 3600;

/// The Web Push reactor.
pub struct Pusher {
    commands: Commands,
    vapid: Option<VapidKey>,
    subject: String,
    allow_loopback: bool,
    retry: RetryPolicy,
    http: reqwest::Client,
    metrics: NotifierMetrics,
    limiter: RateLimiter,
    held: Option<Held>,
}

impl Reactor for Pusher {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn contexts(&self) -> &'static [Context] {
        Self::CONTEXTS
    }

    fn react<'a>(&'a self, recorded: &'a Recorded) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.run(recorded).await.map_err(|e| e.to_string()) })
    }
    fn new_life<'a>(&'a self, _contexts: &'a [Context]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            match &self.held {
                Some(held) => held.clear().await.map_err(|e| e.to_string()),
                None => Ok(()),
            }
        })
    }
}

/// What one push service answered.
enum Answer {
    Accepted,
    Gone,
    Failed(Failure),
}

impl Pusher {
    /// Its name in checkpoints, consumers and status.
    pub const NAME: &'static str = "pusher";

    /// The streams it reads.
    pub const CONTEXTS: &'static [Context] = &[Context::Notifications];

    /// A pusher with `settings`, appending through `commands`.
    pub fn new(commands: Commands, settings: PushSettings, metrics: NotifierMetrics) -> Result<Self, PushError> {
        let vapid = settings.vapid_private_key.as_deref().map(VapidKey::parse).transpose().map_err(PushError::Key)?;
        let resolver = Arc::new(CheckedResolver { allow_loopback: settings.allow_loopback });
        let http = reqwest::Client::builder()
            .dns_resolver(resolver)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PUSH_TIMEOUT)
            .build()
            .map_err(|e| PushError::Client(e.to_string()))?;
        metrics.push_configured.set(i64::from(vapid.is_some()));
        Ok(Self {
            commands,
            vapid,
            subject: settings.subject,
            allow_loopback: settings.allow_loopback,
            retry: settings.retry,
            http,
            metrics,
            limiter: RateLimiter::unlimited(),
            held: None,
        })
    }

    /// With a limit of pushes per recipient per hour.
    pub fn with_limiter(self, limiter: RateLimiter) -> Self {
        Self { limiter, ..self }
    }

    /// The VAPID public key browsers subscribe with (`applicationServerKey`),
    /// when push is configured.
    pub fn public_key(&self) -> Option<&str> {
        self.vapid.as_ref().map(|v| v.public.as_str())
    }

    /// Pushes what `recorded` calls for, if anything, and records the
    /// outcome. A store failure is returned, and the event is tried again.
    pub async fn run(&self, recorded: &Recorded) -> Result<(), NotifyError> {
        match &recorded.event {
            DomainEvent::Notifications(NotificationEvent::NotificationCreated(created))
                if created.channels.contains(&Channel::Push) =>
            {
                self.deliver(created, recorded, OffsetDateTime::now_utc()).await
            }
            _ => Ok(()),
        }
    }

    async fn deliver(
        &self,
        created: &NotificationCreated,
        recorded: &Recorded,
        now: OffsetDateTime,
    ) -> Result<(), NotifyError> {
        let history = delivery::history(&self.commands, created.notification).await?;
        let Some(mut attempt) = Delivery::of(Channel::Push, &history).next_attempt() else { return Ok(()) };
        let record =
            |event: NotificationEvent| delivery::record_outcome(&self.commands, event, created.notification, recorded);
        let Some(vapid) = &self.vapid else {
            return record(self.skipped(created, "Web Push is not configured (PULSE_VAPID_PRIVATE_KEY)")).await;
        };
        let settings = facts::notify_settings(&self.commands, &created.recipient).await?;
        let mut pending: Vec<PushSubscription> = settings.subscriptions.into_values().collect();
        if pending.is_empty() {
            return record(self.skipped(created, "the recipient has no push subscription")).await;
        }
        if attempt == 1
            && let Some(held) = &self.held
            && held.hold_if_quiet(&self.commands, created, now).await?
        {
            return Ok(());
        }
        if attempt == 1 && !self.limiter.allow(Channel::Push, &created.recipient, crate::notices::now_millis()).await {
            let reason = format!("rate limited: at most {} pushes an hour", self.limiter.limit(Channel::Push));
            return record(self.skipped(created, &reason)).await;
        }
        let payload = serde_json::json!({
            "notification": created.notification,
            "kind": created.kind,
            "actor": created.actor,
            "text": created.text,
            "link": created.link,
        })
        .to_string();
        loop {
            let mut transient = Vec::new();
            let mut errors = Vec::new();
            let mut accepted = false;
            for subscription in pending {
                match self.send(vapid, &subscription, payload.as_bytes()).await {
                    Answer::Accepted => accepted = true,
                    Answer::Gone => {
                        self.forget(created, &subscription, recorded).await?;
                        errors.push("gone (removed)".to_owned());
                    }
                    Answer::Failed(Failure::Transient(e)) => {
                        errors.push(e);
                        transient.push(subscription);
                    }
                    Answer::Failed(Failure::Permanent(e)) => errors.push(e),
                }
            }
            if accepted {
                self.metrics.outcome("push", "delivered");
                return record(
                    NotificationDelivered { notification: created.notification, channel: Channel::Push }.into(),
                )
                .await;
            }
            let failure = if transient.is_empty() { Failure::Permanent } else { Failure::Transient };
            let failed = self.retry.failed(created.notification, Channel::Push, attempt, failure(errors.join("; ")));
            let will_retry = failed.will_retry;
            tracing::warn!(notification = %created.notification, attempt, will_retry, error = %failed.error, "push failed");
            record(failed.into()).await?;
            if !will_retry {
                self.metrics.outcome("push", "dead_letter");
                return Ok(());
            }
            self.metrics.outcome("push", "retried");
            tokio::time::sleep(self.retry.backoff(attempt, fastrand::f64())).await;
            pending = transient;
            attempt += 1;
        }
    }

    /// One request to one push service.
    async fn send(&self, vapid: &VapidKey, subscription: &PushSubscription, payload: &[u8]) -> Answer {
        let permanent = |e: String| Answer::Failed(Failure::Permanent(e));
        let url = match self.target(&subscription.endpoint) {
            Ok(url) => url,
            Err(e) => return permanent(e),
        };
        let body = match encrypt_for(subscription, payload) {
            Ok(body) => body,
            Err(e) => return permanent(e.to_string()),
        };
        let audience = url.origin().ascii_serialization();
        let expires = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + VAPID_VALIDITY;
        let request = self
            .http
            .post(url)
            .header("TTL", TTL_SECONDS)
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Urgency", "normal")
            .header("Authorization", vapid.authorization(&audience, expires, &self.subject))
            .body(body);
        match request.send().await {
            Ok(response) => match response.status().as_u16() {
                200..=299 => Answer::Accepted,
                404 | 410 => Answer::Gone,
                429 | 500..=599 => {
                    Answer::Failed(Failure::Transient(format!("the push service answered {}", response.status())))
                }
                _ => permanent(format!("the push service answered {}", response.status())),
            },
            Err(e) => {
                let chain = error_chain(&e);
                if chain.contains(REFUSED) { permanent(chain) } else { Answer::Failed(Failure::Transient(chain)) }
            }
        }
    }

    /// The endpoint, if Pulse may call it: https on a public host (or, with
    /// `allow_loopback`, http on a loopback address). Names are checked again
    /// when the client resolves them.
    fn target(&self, endpoint: &str) -> Result<Url, String> {
        let url = Url::parse(endpoint).map_err(|e| format!("the endpoint is not a URL: {e}"))?;
        let host = url.host_str().unwrap_or_default();
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        let loopback_dev = self.allow_loopback && url.scheme() == "http" && literal.is_some_and(|ip| ip.is_loopback());
        if loopback_dev {
            return Ok(url);
        }
        domain::notify::check_push_endpoint(endpoint).map_err(|e| e.to_string())?;
        if literal.is_some_and(|ip| !may_push_to(ip, self.allow_loopback)) {
            return Err(format!("{REFUSED}: the endpoint's address is internal"));
        }
        Ok(url)
    }

    /// Removes a subscription its push service said is gone, as the user
    /// would: through their settings, keyed by the event and endpoint.
    async fn forget(
        &self,
        created: &NotificationCreated,
        subscription: &PushSubscription,
        cause: &Recorded,
    ) -> Result<(), StoreError> {
        self.metrics.outcome("push", "gone");
        let user = created.recipient.clone();
        let context = CommandContext::new(Metadata::caused_by(&cause.envelope, None), None);
        let command = NotifySettingsCommand::RemovePushSubscription {
            user: user.clone(),
            endpoint: subscription.endpoint.clone(),
        };
        match self.commands.execute::<NotifySettings>(&context, &Aggregate::preferences(&user), command).await {
            Ok(_) => Ok(()),
            Err(commands::CommandError::Store(e)) => Err(e),
            // Removing never refuses; were it to, the subscription stays and fails again.
            Err(e) => {
                tracing::warn!(error = %e, "a gone push subscription was not removed");
                Ok(())
            }
        }
    }

    fn skipped(&self, created: &NotificationCreated, reason: &str) -> NotificationEvent {
        self.metrics.outcome("push", "skipped");
        NotificationSkipped { notification: created.notification, channel: Channel::Push, reason: reason.to_owned() }
            .into()
    }

    /// Holds deliveries that fall in their recipient's quiet hours until the
    /// hours end, in `store` (collection `held_pushes`).
    pub async fn with_quiet_hours(self, store: AnyStore) -> Result<Self, ReadStoreError> {
        let held = Held::declare(store, "held_pushes", self.metrics.clone(), "push").await?;
        Ok(Self { held: Some(held), ..self })
    }

    /// Delivers what was held for quiet hours that ended by `now`; how many.
    pub async fn fire_held(&self, now: OffsetDateTime) -> Result<usize, NotifyError> {
        let Some(held) = &self.held else { return Ok(0) };
        held.fire(&self.commands, now, |created, recorded| async move { self.deliver(&created, &recorded, now).await })
            .await
    }

    /// Delivers what was held, every `every`, until `stop`.
    pub async fn run_held(&self, every: std::time::Duration, stop: tokio::sync::watch::Receiver<bool>) {
        crate::timers::every("held deliveries", every, stop, || self.fire_held(OffsetDateTime::now_utc())).await;
    }
}

/// What an address refused by the checks says, so it counts as permanent.
const REFUSED: &str = "refused by Pulse";

/// An error and its causes, one line: a refused address is only named deep
/// inside reqwest's connect error.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The body for one browser: a fresh sender key and salt per message.
fn encrypt_for(subscription: &PushSubscription, payload: &[u8]) -> Result<Vec<u8>, webpush::PushCryptoError> {
    let ua_public = webpush::b64(&subscription.p256dh)?;
    let auth = webpush::b64(&subscription.auth)?;
    let sender = p256::SecretKey::random(&mut rand_core::OsRng);
    let mut salt = [0_u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    webpush::encrypt(payload, &ua_public, &auth, &sender, salt)
}

/// Resolves push endpoints' names and keeps only addresses Pulse may push
/// to; a name with none left fails to resolve, with [`REFUSED`] in the error.
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    /// Let loopback addresses through (tests and dev only).
    pub allow_loopback: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| may_push_to(a.ip(), allow_loopback)).collect();
            if allowed.is_empty() {
                let refused = format!("{REFUSED}: {} resolves to no public address", name.as_str());
                return Err(refused.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::str::FromStr;

    async fn resolve(host: &str, allow_loopback: bool) -> Result<Vec<SocketAddr>, String> {
        let resolving = CheckedResolver { allow_loopback }.resolve(Name::from_str(host).unwrap());
        resolving.await.map(Iterator::collect).map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_unless_loopback_is_allowed() {
        let refused = resolve("localhost", false).await.unwrap_err();
        assert!(refused.contains(REFUSED), "{refused}");
        let allowed = resolve("localhost", true).await.unwrap();
        assert!(!allowed.is_empty() && allowed.iter().all(|a| a.ip().is_loopback()), "{allowed:?}");
    }
}
