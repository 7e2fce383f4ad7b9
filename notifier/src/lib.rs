//! The notifier: decides who hears about what and records it as
//! `NotificationCreated` events, which the chat gateway pushes to the
//! recipient's sockets and the inbox will list.
//!
//! It runs on the projectors' engine as a reactor (a shared durable
//! consumer per stream, a checkpoint in the read store, each event retried
//! until handled). The rules are `domain::notify::rules`; this crate looks up
//! the facts they need (a post's author, blocks) and appends. Each
//! notification's id derives from the event's id, so an event delivered again
//! appends nothing twice.
//!
//! Built so far: in-app notifications of follows, likes and comments. Not
//! yet: mentions, RSVPs, reminders, messages while offline, moderation,
//! preferences, quiet hours, grouping, email, Web Push, delivery tracking
//! (see the issue).

use commands::{Commands, facts};
use domain::content::Post;
use domain::notify::rules::{self, Needs};
use events::catalog::Context;
use events::catalog::notifications::{Channel, NotificationCreated};
use events::ids::{NotificationId, UserId};
use events::store::Recorded;
use events::{Aggregate, Expected, Metadata, StoreError};
use futures::future::BoxFuture;
use projectors::Reactor;

/// The notifier, with what it needs to look facts up and append.
pub struct Notifier {
    commands: Commands,
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
        Self { commands }
    }

    /// Appends the notifications `recorded` calls for. A store failure is
    /// returned, and the event is tried again; what was appended before it
    /// is found again, not doubled.
    pub async fn run(&self, recorded: &Recorded) -> Result<(), StoreError> {
        let post_author = match rules::needs(&recorded.event) {
            Needs::Nothing => None,
            Needs::PostAuthor(post) => match facts::post(&self.commands, post).await? {
                Post::Live { author, .. } => Some(author),
                _ => None,
            },
        };
        for (n, notice) in rules::notices(&recorded.event, post_author.as_ref()).into_iter().enumerate() {
            if facts::blocks(&self.commands, &notice.recipient, &notice.actor).await? {
                continue;
            }
            let notification = NotificationId(notification_id(recorded, n, &notice.recipient));
            let created = NotificationCreated {
                notification,
                recipient: notice.recipient,
                kind: notice.kind,
                actor: Some(notice.actor),
                text: notice.text,
                link: Some(notice.link),
                channels: vec![Channel::InApp],
            };
            let metadata = Metadata::caused_by(&recorded.envelope, None);
            let aggregate = Aggregate::notification(notification);
            match self.commands.store().append(&aggregate, Expected::Version(0), created, &metadata, None).await {
                // Appended before this delivery of the event: nothing to do.
                Ok(_) | Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The n-th notification of an event, for a recipient: the same id however
/// often the event is delivered, and a UUIDv7 of the event's time, because
/// the catalogue promises time-ordered notification ids (an inbox read mark
/// is "everything up to this id").
fn notification_id(recorded: &Recorded, n: usize, recipient: &UserId) -> uuid::Uuid {
    let name = format!("pulse:notification:{}:{n}:{recipient}", recorded.envelope.id);
    let hashed = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes());
    let mut rest = [0_u8; 10];
    rest.copy_from_slice(&hashed.as_bytes()[6..]);
    let millis = u64::try_from(recorded.envelope.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &rest).into_uuid()
}
