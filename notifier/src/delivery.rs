//! What the mailer and the pusher share: a notification's history (what a
//! delivery decides from), recording an outcome on it, and deliveries held
//! for quiet hours. When email or Web Push would reach a user inside their
//! quiet hours (`domain::notify::quiet`), the notification waits in a timer
//! (one collection per channel) until the hours end, and is then delivered
//! as if it had just come, deciding everything again. In-app is never held.

use crate::error::NotifyError;
use crate::metrics::NotifierMetrics;
use crate::timers::Timers;
use commands::{Commands, facts};
use domain::notify::quiet::quiet_until;
use events::catalog::notifications::NotificationCreated;
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::NotificationId;
use events::store::Recorded;
use events::{Aggregate, Expected, Metadata, StoreError};
use read_store::{AnyStore, ReadStoreError};
use serde_json::{Value, json};
use std::future::Future;
use time::OffsetDateTime;

/// One channel's held deliveries.
#[derive(Clone)]
pub(crate) struct Held {
    timers: Timers,
    metrics: NotifierMetrics,
    channel: &'static str,
}

impl Held {
    /// Forgets everything held: after the log began a new life it stands
    /// for the old one's notifications.
    pub(crate) async fn clear(&self) -> Result<(), read_store::ReadStoreError> {
        self.timers.clear().await
    }

    /// The held deliveries of `channel` (its metrics label), in `collection`
    /// of `store`.
    pub(crate) async fn declare(
        store: AnyStore,
        collection: &'static str,
        metrics: NotifierMetrics,
        channel: &'static str,
    ) -> Result<Self, ReadStoreError> {
        Ok(Self { timers: Timers::declare(store, collection).await?, metrics, channel })
    }

    /// Holds `created` until its recipient's quiet hours end, if `now` is in
    /// them; whether it was held.
    pub(crate) async fn hold_if_quiet(
        &self,
        commands: &Commands,
        created: &NotificationCreated,
        now: OffsetDateTime,
    ) -> Result<bool, NotifyError> {
        let settings = facts::notify_settings(commands, &created.recipient).await?;
        let Some(until) = settings.preferences.quiet_hours.as_ref().and_then(|q| quiet_until(q, now)) else {
            return Ok(false);
        };
        let id = created.notification.to_string();
        self.timers.write(&[self.timers.set(&id, until, json!({ "notification": id }))]).await?;
        self.metrics.outcome(self.channel, "held");
        Ok(true)
    }

    /// Hands what was held for quiet hours that ended by `now` to `deliver`,
    /// and forgets it; how many.
    pub(crate) async fn fire<F, Fut>(
        &self,
        commands: &Commands,
        now: OffsetDateTime,
        deliver: F,
    ) -> Result<usize, NotifyError>
    where
        F: Fn(NotificationCreated, Recorded) -> Fut,
        Fut: Future<Output = Result<(), NotifyError>>,
    {
        let due = self.due(commands, now).await?;
        for (id, created) in &due {
            if let Some((created, recorded)) = created {
                deliver(created.clone(), recorded.clone()).await?;
            }
            self.done(id).await?;
        }
        Ok(due.len())
    }

    /// The held notifications whose quiet hours ended by `now`, each with
    /// the event that created it.
    async fn due(
        &self,
        commands: &Commands,
        now: OffsetDateTime,
    ) -> Result<Vec<(String, Option<(NotificationCreated, Recorded)>)>, NotifyError> {
        let mut due = Vec::new();
        for (id, doc) in self.timers.due(now).await? {
            let notification =
                doc.get("notification").and_then(Value::as_str).and_then(|n| NotificationId::parse(n).ok());
            let created = match notification {
                Some(notification) => created(commands, notification).await?,
                None => None,
            };
            due.push((id, created));
        }
        Ok(due)
    }

    /// Forgets a held delivery that was handled.
    async fn done(&self, id: &str) -> Result<(), NotifyError> {
        Ok(self.timers.write(&[self.timers.cancel(id)]).await?)
    }
}

/// A notification's events: what a delivery decides from.
pub(crate) async fn history(
    commands: &Commands,
    notification: NotificationId,
) -> Result<Vec<NotificationEvent>, StoreError> {
    let loaded = commands.store().load(&Aggregate::notification(notification)).await?;
    Ok((loaded.events.into_iter())
        .filter_map(|r| match r.event {
            DomainEvent::Notifications(e) => Some(e),
            _ => None,
        })
        .collect())
}

/// Appends a delivery's outcome to its notification, caused by `cause`.
pub(crate) async fn record_outcome(
    commands: &Commands,
    event: NotificationEvent,
    notification: NotificationId,
    cause: &Recorded,
) -> Result<(), NotifyError> {
    let metadata = Metadata::caused_by(&cause.envelope, None);
    commands.store().append(&Aggregate::notification(notification), Expected::Any, event, &metadata, None).await?;
    Ok(())
}

/// The event that created a notification.
async fn created(
    commands: &Commands,
    notification: NotificationId,
) -> Result<Option<(NotificationCreated, Recorded)>, StoreError> {
    let history = commands.store().load(&Aggregate::notification(notification)).await?;
    Ok(history.events.into_iter().find_map(|recorded| match &recorded.event {
        DomainEvent::Notifications(NotificationEvent::NotificationCreated(c)) => Some((c.clone(), recorded.clone())),
        _ => None,
    }))
}
