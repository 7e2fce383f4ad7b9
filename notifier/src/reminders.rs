//! Reminders of events people are going to: a reactor of the content stream
//! keeps one timer per person going (set when they answer going, moved when
//! the event moves, dropped when they answer otherwise), and [`Reminders::fire_due`]
//! turns the timers that fell due into notifications, deciding from the event
//! as it is then (`domain::notify::reminder`).
//!
//! Timers live in the read store (collection `reminders`, ordered by when
//! they fall due), beside the checkpoints: like a projection they are rebuilt
//! by reading the log again. Every notifier process runs the loop; two firing
//! the same timer append one notification (its id derives from the
//! reminder), and a timer is deleted once fired.

use crate::error::NotifyError;
use crate::notices::{append_notice, time_ordered_id};
use crate::rate::RateLimiter;
use crate::timers::{self, Timers, millis};
use commands::{Commands, facts};
use domain::notify::reminder::{self, Reminder};
use events::Metadata;
use events::catalog::{ContentEvent, Context, DomainEvent};
use events::ids::{EventId, UserId};
use events::store::Recorded;
use futures::future::BoxFuture;
use projectors::Reactor;
use read_store::{AnyStore, Document, ReadStoreError};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// The reminders reactor, and the timers' loop.
pub struct Reminders {
    commands: Commands,
    timers: Timers,
    lead: Duration,
    limiter: RateLimiter,
}

impl Reactor for Reminders {
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
        Box::pin(async move { self.timers.clear().await.map_err(|e| e.to_string()) })
    }
}

impl Reminders {
    /// Its name in checkpoints, consumers and status.
    pub const NAME: &'static str = "reminders";

    /// The streams it reads.
    pub const CONTEXTS: &'static [Context] = &[Context::Content];

    /// Reminders `lead` before each event, with timers in `store` (their
    /// collection, `reminders`, is declared here).
    pub async fn new(commands: Commands, store: AnyStore, lead: Duration) -> Result<Self, ReadStoreError> {
        let timers = Timers::declare(store, "reminders").await?;
        Ok(Self { commands, timers, lead, limiter: RateLimiter::unlimited() })
    }

    /// With rate limits per recipient.
    pub fn with_limiter(self, limiter: RateLimiter) -> Self {
        Self { limiter, ..self }
    }

    /// Sets, moves or drops the timers an answer or a change of an event calls for.
    pub async fn run(&self, recorded: &Recorded) -> Result<(), NotifyError> {
        let (event, only) = match &recorded.event {
            DomainEvent::Content(ContentEvent::RsvpChanged(r)) => (r.event, Some(&r.user)),
            DomainEvent::Content(ContentEvent::EventUpdated(e)) => (e.event, None),
            _ => return Ok(()),
        };
        let state = facts::calendar_event(&self.commands, event).await?;
        let reminders = reminder::set_by(&state, only);
        let mut writes: Vec<_> = reminders.iter().map(|r| self.timer(r)).collect();
        if let (Some(user), true) = (only, reminders.is_empty()) {
            writes.push(self.timers.cancel(&timer_id(event, user)));
        }
        Ok(self.timers.write(&writes).await?)
    }

    fn timer(&self, reminder: &Reminder) -> read_store::Write {
        let fields = json!({
            "event": reminder.event.to_string(),
            "user": reminder.user.as_str(),
            "starts_at": reminder.starts_at.format(&Rfc3339).unwrap_or_default(),
        });
        self.timers.set(&timer_id(reminder.event, &reminder.user), reminder.due(self.lead), fields)
    }

    /// Fires the timers due at `now`: appends the reminders that still stand
    /// and deletes the timers. How many were fired.
    pub async fn fire_due(&self, now: OffsetDateTime) -> Result<usize, NotifyError> {
        let due = self.timers.due(now).await?;
        for (id, doc) in &due {
            if let Some(reminder) = parse(doc) {
                let state = facts::calendar_event(&self.commands, reminder.event).await?;
                if let Some(notice) = reminder::notice(&reminder, &state, now) {
                    let name = format!("pulse:reminder:{id}:{}", millis(reminder.starts_at));
                    let id = time_ordered_id(u64::try_from(millis(reminder.due(self.lead))).unwrap_or(0), &name);
                    append_notice(&self.commands, Some(&self.limiter), notice, id, &Metadata::new(None)).await?;
                }
            }
            self.timers.write(&[self.timers.cancel(id)]).await?;
        }
        Ok(due.len())
    }

    /// Fires due timers every `every` until `stop`.
    pub async fn run_timers(&self, every: std::time::Duration, stop: tokio::sync::watch::Receiver<bool>) {
        timers::every("reminders", every, stop, || self.fire_due(OffsetDateTime::now_utc())).await;
    }
}

fn timer_id(event: EventId, user: &UserId) -> String {
    format!("{event}:{user}")
}

fn parse(doc: &Document) -> Option<Reminder> {
    let text = |field: &str| doc.get(field).and_then(Value::as_str);
    Some(Reminder {
        event: EventId::parse(text("event")?).ok()?,
        user: UserId::parse(text("user")?).ok()?,
        starts_at: OffsetDateTime::parse(text("starts_at")?, &Rfc3339).ok()?,
    })
}
