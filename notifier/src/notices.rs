//! Appending a notice as a notification, as every part that notifies does
//! (the notifier, reminders, missed messages): once per id, unless the
//! recipient blocks the actor, wants none of it, or had their hour's fill.

use crate::rate::RateLimiter;
use commands::{Commands, facts};
use domain::notify::rules::Notice;
use events::catalog::notifications::{Channel, NotificationCreated};
use events::ids::NotificationId;
use events::{Aggregate, Expected, Metadata, StoreError};

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

pub(crate) fn unix_millis(at: time::OffsetDateTime) -> u64 {
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
