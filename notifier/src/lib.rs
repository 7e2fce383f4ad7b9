//! The notifier: decides who hears about what and records it as
//! `NotificationCreated` events, which the chat gateway pushes to the
//! recipient's sockets and the inbox lists; then delivers them by email
//! ([`email`]) and Web Push ([`push`]).
//!
//! Each part runs on the projectors' engine as a reactor (a shared durable
//! consumer per stream, a checkpoint in the read store, each event retried
//! until handled). The rules are `domain::notify::rules`; [`Notifier`] looks
//! up the facts they need (owners, mentioned handles, blocks, the recipient's
//! settings) and appends. Each notification's id derives from the event's
//! id, so an event delivered again appends nothing twice.
//!
//! Built so far: notifications of follows, likes, comments, mentions, RSVPs
//! to your event and moderation of your content, on the channels the
//! recipient's preferences allow (never a kind they muted); reminders
//! ([`reminders`]) and messages missed while away ([`missed`]), both fired
//! by timers; rate limits per recipient and channel ([`rate`]); email and
//! push held through the recipient's quiet hours.

mod delivery;
pub mod email;
pub mod metrics;
pub mod missed;
pub mod push;
pub mod rate;
pub mod reminders;
mod timers;
pub mod webpush;

pub use delivery::DeliveryError;
pub use email::{EmailError, EmailSettings, Mailer};
pub use metrics::NotifierMetrics;
pub use missed::{MissedError, MissedMessages};
pub use push::{PushError, PushSettings, Pusher};
pub use rate::{Limits, RateLimiter};
pub use reminders::{ReminderError, Reminders};

use commands::{CommandContext, CommandError, Commands, facts};
use domain::content::{CalendarEvent, Comment, Post};
use domain::notify::grouping;
use domain::notify::rules::{self, Facts, Needs, Notice};
use events::catalog::Context;
use events::catalog::content::ContentRef;
use events::catalog::notifications::{Channel, NotificationCreated};
use events::ids::{Handle, NotificationId};
use events::store::Recorded;
use events::{Aggregate, DomainEvent, Expected, Metadata, StoreError};
use futures::future::BoxFuture;
use projectors::Reactor;

/// The notifier, with what it needs to look facts up and append.
pub struct Notifier {
    commands: Commands,
    limiter: RateLimiter,
}

impl Reactor for Notifier {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn contexts(&self) -> &'static [Context] {
        Self::CONTEXTS
    }

    fn react<'a>(&'a self, recorded: &'a Recorded) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.run(recorded).await.map_err(|e| e.to_string()) })
    }
}

impl Notifier {
    /// Its name in checkpoints, consumers and status.
    pub const NAME: &'static str = "notifier";

    /// The streams whose events call for notifications.
    pub const CONTEXTS: &'static [Context] = &[Context::Users, Context::Content];

    /// A notifier that reads facts and appends through `commands`.
    pub fn new(commands: Commands) -> Self {
        Self { commands, limiter: RateLimiter::unlimited() }
    }

    /// With rate limits per recipient (groups are not counted: one per
    /// post or per hour at most already).
    pub fn with_limiter(self, limiter: RateLimiter) -> Self {
        Self { limiter, ..self }
    }

    /// Appends the notifications `recorded` calls for. A store failure is
    /// returned, and the event is tried again; what was appended before it
    /// is found again, not doubled.
    pub async fn run(&self, recorded: &Recorded) -> Result<(), StoreError> {
        let facts = self.facts(&recorded.event).await?;
        let metadata = Metadata::caused_by(&recorded.envelope, None);
        let time = recorded.envelope.time;
        for (n, notice) in rules::notices(&recorded.event, &facts).into_iter().enumerate() {
            let Some(key) = grouping::group_key(&notice) else {
                let name = format!("pulse:notification:{}:{n}:{}", recorded.envelope.id, notice.recipient);
                let id = time_ordered_id(unix_millis(time), &name);
                append_notice(&self.commands, Some(&self.limiter), notice, id, &metadata).await?;
                continue;
            };
            // The group of this key and window: opened by the first notice,
            // joined by the next ones.
            let start = grouping::window_start(time);
            let id = time_ordered_id(unix_millis(start), &format!("pulse:group:{key}:{}", start.unix_timestamp()));
            let actor = notice.actor.clone();
            if let (Appended::AlreadyThere, Some(actor)) =
                (append_notice(&self.commands, None, notice, id, &metadata).await?, actor)
            {
                let context = CommandContext { metadata: metadata.clone(), key: None };
                let join = grouping::Join { notification: id, actor };
                match self.commands.execute::<grouping::Group>(&context, &Aggregate::notification(id), join).await {
                    Ok(_) => {}
                    Err(CommandError::Store(e)) => return Err(e),
                    Err(CommandError::Rejected(never)) => match never {},
                    // A join carries no idempotency key, so this cannot happen.
                    Err(CommandError::KeyReused) => {}
                }
            }
        }
        Ok(())
    }

    /// What the rules need to know about `event`: its owner, and who holds
    /// the handles it mentions (looked up together).
    async fn facts(&self, event: &DomainEvent) -> Result<Facts, StoreError> {
        let owner = match rules::needs(event) {
            Needs::Nothing => None,
            Needs::Author(ContentRef::Post(post)) => match facts::post(&self.commands, post).await? {
                Post::Live { author, .. } => Some(author),
                _ => None,
            },
            Needs::Author(ContentRef::Comment(comment)) => match facts::comment(&self.commands, comment).await? {
                Comment::Live { author, .. } => Some(author),
                _ => None,
            },
            Needs::Organizer(event) => match facts::calendar_event(&self.commands, event).await? {
                CalendarEvent::Scheduled { organizer, .. } => Some(organizer),
                _ => None,
            },
        };
        let handles = rules::mentions(event).iter().filter_map(|raw| Handle::parse(raw).ok());
        let holders = futures::future::try_join_all(
            handles.map(|h| async move { facts::handle_holder(&self.commands, &h).await }),
        )
        .await?;
        Ok(Facts { owner, mentioned: holders.into_iter().flatten().collect() })
    }
}

/// Appends the notification `notice` calls for under `id`, unless its
/// recipient blocks its actor, wants none of its kind, or (with a `limiter`)
/// had their hour's fill of notifications; the channels are the ones the
/// recipient's settings allow. Appended once: a second append of the same id
/// finds it there.
pub(crate) async fn append_notice(
    commands: &Commands,
    limiter: Option<&RateLimiter>,
    notice: Notice,
    id: NotificationId,
    metadata: &Metadata,
) -> Result<Appended, StoreError> {
    if let Some(actor) = &notice.actor
        && facts::blocks(commands, &notice.recipient, actor).await?
    {
        return Ok(Appended::NotWanted);
    }
    let channels = facts::notify_settings(commands, &notice.recipient).await?.channels(notice.kind, notice.about);
    if channels.is_empty() {
        return Ok(Appended::NotWanted);
    }
    if let Some(limiter) = limiter
        && !limiter.allow(Channel::InApp, &notice.recipient, now_millis()).await
    {
        tracing::info!(recipient = %notice.recipient, "in-app notification over the rate limit: not appended");
        return Ok(Appended::NotWanted);
    }
    let created = NotificationCreated {
        notification: id,
        recipient: notice.recipient,
        kind: notice.kind,
        actor: notice.actor,
        text: notice.text,
        link: Some(notice.link),
        channels,
    };
    match commands.store().append(&Aggregate::notification(id), Expected::Version(0), created, metadata, None).await {
        Ok(_) => Ok(Appended::New),
        // Appended before: this event delivered again, a timer fired twice,
        // or a group someone else opened.
        Err(StoreError::Conflict { .. }) => Ok(Appended::AlreadyThere),
        Err(e) => Err(e),
    }
}

/// What [`append_notice`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Appended now.
    New,
    /// A notification with that id was there already.
    AlreadyThere,
    /// The recipient blocks the actor or wants none of the kind.
    NotWanted,
}

pub(crate) fn now_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn unix_millis(at: time::OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// A notification id that is the same for the same `name` (an event and a
/// recipient, a reminder) and a UUIDv7 of `millis`, the time of its cause,
/// because the catalogue promises time-ordered notification ids (an inbox
/// read mark is "everything up to this id").
pub(crate) fn time_ordered_id(millis: u64, name: &str) -> NotificationId {
    let hashed = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes());
    let mut rest = [0_u8; 10];
    rest.copy_from_slice(&hashed.as_bytes()[6..]);
    NotificationId(uuid::Builder::from_unix_timestamp_millis(millis, &rest).into_uuid())
}
