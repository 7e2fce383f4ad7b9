//! Deliveries held for quiet hours: when email or Web Push would reach a
//! user inside their quiet hours (`domain::notify::quiet`), the notification
//! waits in a timer (one collection per channel) until the hours end, and is
//! then delivered as if it had just come, deciding everything again. In-app
//! is never held.

use crate::timers::Timers;
use commands::{Commands, facts};
use domain::notify::quiet::quiet_until;
use events::catalog::notifications::NotificationCreated;
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::NotificationId;
use events::store::Recorded;
use events::{Aggregate, StoreError};
use read_store::{AnyStore, ReadStoreError};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Why delivering failed: the log or the read store (where held deliveries wait).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The event log.
    #[error(transparent)]
    Log(#[from] StoreError),
    /// The read store.
    #[error(transparent)]
    Store(#[from] ReadStoreError),
}

/// One channel's held deliveries.
#[derive(Clone)]
pub(crate) struct Held {
    timers: Timers,
}

impl Held {
    /// The held deliveries of `collection` in `store`.
    pub(crate) async fn declare(store: AnyStore, collection: &'static str) -> Result<Self, ReadStoreError> {
        Ok(Self { timers: Timers::declare(store, collection).await? })
    }

    /// Holds `created` until its recipient's quiet hours end, if `now` is in
    /// them; whether it was held.
    pub(crate) async fn hold_if_quiet(
        &self,
        commands: &Commands,
        created: &NotificationCreated,
        now: OffsetDateTime,
    ) -> Result<bool, DeliveryError> {
        let settings = facts::notify_settings(commands, &created.recipient).await?;
        let Some(until) = settings.preferences.quiet_hours.as_ref().and_then(|q| quiet_until(q, now)) else {
            return Ok(false);
        };
        let id = created.notification.to_string();
        self.timers.write(&[self.timers.set(&id, until, json!({ "notification": id }))]).await?;
        Ok(true)
    }

    /// The held notifications whose quiet hours ended by `now`, each with
    /// the event that created it.
    pub(crate) async fn due(
        &self,
        commands: &Commands,
        now: OffsetDateTime,
    ) -> Result<Vec<(String, Option<(NotificationCreated, Recorded)>)>, DeliveryError> {
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
    pub(crate) async fn done(&self, id: &str) -> Result<(), DeliveryError> {
        Ok(self.timers.write(&[self.timers.cancel(id)]).await?)
    }
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
