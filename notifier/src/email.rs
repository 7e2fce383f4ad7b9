//! Email: sends each notification whose channels include email to its
//! recipient over SMTP, and records the outcome on the notification
//! (`NotificationDelivered`, `NotificationFailed` per failed attempt,
//! `NotificationSkipped` when it cannot be tried).
//!
//! It runs on the projectors' engine as a reactor of the notifications
//! stream, so each notification is handled in order and again after a crash.
//! What to do is decided from the notification's own events
//! (`domain::notify::Delivery`) each time: a notification already delivered,
//! skipped or given up sends nothing. The one window left: a crash after the
//! SMTP server accepted a message and before `NotificationDelivered` was
//! appended sends it again; its `Message-ID` derives from the notification,
//! so mail systems that deduplicate see the same message.
//!
//! Failures: a transient one (server down, busy, 4xx) is retried after an
//! exponential, jittered wait, up to the policy's attempts; a permanent one
//! (5xx) or the last attempt is the dead letter (`will_retry: false`, with the
//! reason). The waits stay inside one event's handling, so the stream waits
//! with them: when SMTP is down no later email could go out either.

use crate::delivery::{self, Held};
use crate::error::NotifyError;
use crate::metrics::NotifierMetrics;
use crate::rate::RateLimiter;
use auth::Secret;
use commands::{Commands, facts};
use domain::notify::{Delivery, Failure, RetryPolicy};
use domain::users::User;
use events::catalog::notifications::{Channel, NotificationCreated, NotificationDelivered, NotificationSkipped};
use events::catalog::{Context, DomainEvent, NotificationEvent};
use events::ids::UserId;
use events::store::Recorded;
use futures::future::BoxFuture;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use projectors::Reactor;
use read_store::{AnyStore, ReadStoreError};
use std::time::Duration;
use time::OffsetDateTime;

/// What the mailer needs to be set up.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// The SMTP server (`smtp://host:port`, `smtps://...`, or
    /// `smtp://...?tls=required`); `None`: email is not configured, and every
    /// email is recorded as skipped.
    pub smtp_url: Option<String>,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// Where Pulse's web app is: links in emails start with it.
    pub public_url: String,
    /// Signs unsubscribe links (the JWT secret).
    pub secret: Secret,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
}

/// Why the mailer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// `PULSE_SMTP_URL` does not parse.
    #[error("PULSE_SMTP_URL is not an SMTP URL: {0}")]
    SmtpUrl(String),
    /// `PULSE_SMTP_FROM` is not a mailbox.
    #[error("PULSE_SMTP_FROM is not an email address: {0}")]
    From(String),
}

/// The email reactor.
pub struct Mailer {
    commands: Commands,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    public_url: String,
    secret: Secret,
    retry: RetryPolicy,
    metrics: NotifierMetrics,
    limiter: RateLimiter,
    held: Option<Held>,
}

impl Reactor for Mailer {
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

/// How long one SMTP exchange may take before it counts as a transient failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

impl Mailer {
    /// Its name in checkpoints, consumers and status.
    pub const NAME: &'static str = "mailer";

    /// The streams it reads.
    pub const CONTEXTS: &'static [Context] = &[Context::Notifications];

    /// A mailer with `settings`, appending through `commands`.
    pub fn new(commands: Commands, settings: EmailSettings, metrics: NotifierMetrics) -> Result<Self, EmailError> {
        let smtp = match &settings.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| EmailError::SmtpUrl(e.to_string()))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            None => None,
        };
        let from = settings.from.parse::<Mailbox>().map_err(|e| EmailError::From(e.to_string()))?;
        let public_url = settings.public_url.trim_end_matches('/').to_owned();
        metrics.email_configured.set(i64::from(smtp.is_some()));
        let (limiter, held) = (RateLimiter::unlimited(), None);
        let secret = settings.secret;
        Ok(Self { commands, smtp, from, public_url, secret, retry: settings.retry, metrics, limiter, held })
    }

    /// With a limit of emails per recipient per hour.
    pub fn with_limiter(self, limiter: RateLimiter) -> Self {
        Self { limiter, ..self }
    }

    /// Whether an SMTP server is configured.
    pub fn is_configured(&self) -> bool {
        self.smtp.is_some()
    }

    /// Sends the email `recorded` calls for, if any, and records the outcome.
    /// A store failure is returned, and the event is tried again.
    pub async fn run(&self, recorded: &Recorded) -> Result<(), NotifyError> {
        match &recorded.event {
            DomainEvent::Notifications(NotificationEvent::NotificationCreated(created))
                if created.channels.contains(&Channel::Email) =>
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
        let Some(mut attempt) = Delivery::of(Channel::Email, &history).next_attempt() else { return Ok(()) };
        let record =
            |event: NotificationEvent| delivery::record_outcome(&self.commands, event, created.notification, recorded);
        let Some(smtp) = &self.smtp else {
            return record(self.skipped(created, "email is not configured (PULSE_SMTP_URL)")).await;
        };
        let address = match facts::user(&self.commands, &created.recipient).await? {
            User::Registered { email: Some(email), .. } => email,
            _ => return record(self.skipped(created, "the recipient has no email address")).await,
        };
        let message = match self.compose(created, &address) {
            Ok(message) => message,
            Err(e) => return record(self.skipped(created, &format!("the email could not be built: {e}"))).await,
        };
        if attempt == 1
            && let Some(held) = &self.held
            && held.hold_if_quiet(&self.commands, created, now).await?
        {
            return Ok(());
        }
        if attempt == 1 && !self.limiter.allow(Channel::Email, &created.recipient, crate::notices::now_millis()).await {
            let reason = format!("rate limited: at most {} emails an hour", self.limiter.limit(Channel::Email));
            return record(self.skipped(created, &reason)).await;
        }
        loop {
            let started = std::time::Instant::now();
            let sent = smtp.send(message.clone()).await;
            self.metrics.smtp_seconds.observe(started.elapsed().as_secs_f64());
            let failure = match sent {
                Ok(_) => {
                    self.metrics.outcome("email", "delivered");
                    let delivered =
                        NotificationDelivered { notification: created.notification, channel: Channel::Email };
                    return record(delivered.into()).await;
                }
                Err(e) if e.is_permanent() => Failure::Permanent(e.to_string()),
                Err(e) => Failure::Transient(e.to_string()),
            };
            let failed = self.retry.failed(created.notification, Channel::Email, attempt, failure);
            let will_retry = failed.will_retry;
            tracing::warn!(notification = %created.notification, attempt, will_retry, error = %failed.error, "email failed");
            record(failed.into()).await?;
            if !will_retry {
                self.metrics.outcome("email", "dead_letter");
                return Ok(());
            }
            self.metrics.outcome("email", "retried");
            tokio::time::sleep(self.retry.backoff(attempt, fastrand::f64())).await;
            attempt += 1;
        }
    }

    fn skipped(&self, created: &NotificationCreated, reason: &str) -> NotificationEvent {
        self.metrics.outcome("email", "skipped");
        NotificationSkipped { notification: created.notification, channel: Channel::Email, reason: reason.to_owned() }
            .into()
    }

    /// Holds deliveries that fall in their recipient's quiet hours until the
    /// hours end, in `store` (collection `held_emails`).
    pub async fn with_quiet_hours(self, store: AnyStore) -> Result<Self, ReadStoreError> {
        let held = Held::declare(store, "held_emails", self.metrics.clone(), "email").await?;
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

    /// The email of a notification: its text as the subject, plain text and
    /// HTML bodies from the templates, a link to it in the app, and a
    /// one-click unsubscribe link (RFC 8058) in the body and the headers.
    /// Public so the benchmark's raw client sends the very same messages.
    pub fn compose(&self, created: &NotificationCreated, address: &str) -> Result<Message, String> {
        let to = address.parse::<Mailbox>().map_err(|e| e.to_string())?;
        let open = format!("{}{}", self.public_url, created.link.as_deref().unwrap_or("/notifications"));
        let unsubscribe = self.unsubscribe_url(&created.recipient);
        let values = [("text", created.text.as_str()), ("open", &open), ("unsubscribe", &unsubscribe)];
        let text = fill(include_str!("../templates/email.txt"), &values, |v| v.to_owned());
        let html = fill(include_str!("../templates/email.html"), &values, escape_html);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(created.text.clone())
            .message_id(Some(format!("<{}.email@pulse>", created.notification)))
            .header(ListUnsubscribe(format!("<{unsubscribe}>")))
            .header(ListUnsubscribePost)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| e.to_string())
    }

    /// The link that turns `user`'s email notifications off.
    pub fn unsubscribe_url(&self, user: &UserId) -> String {
        let token = auth::unsubscribe::token(&self.secret, user);
        format!("{}/api/v1/notifications/unsubscribe?user={user}&token={token}", self.public_url)
    }
}

/// Replaces each `{{name}}` in `template` with its value, passed through `escape`.
fn fill(template: &str, values: &[(&str, &str)], escape: impl Fn(&str) -> String) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (name, value)| text.replace(&format!("{{{{{name}}}}}"), &escape(value)))
}

fn escape_html(raw: &str) -> String {
    raw.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// `List-Unsubscribe: <https://...>`.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl header::Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl header::Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_and_html_values_escaped() {
        let values = [("text", "<b>ana</b> & co"), ("open", "https://x/p?a=1&b=2")];
        assert_eq!(fill("{{text}} at {{open}}", &values, |v| v.to_owned()), "<b>ana</b> & co at https://x/p?a=1&b=2");
        assert_eq!(
            fill("{{text}} at {{open}}", &values, escape_html),
            "&lt;b&gt;ana&lt;/b&gt; &amp; co at https://x/p?a=1&amp;b=2"
        );
    }
}
