//! The reactor that decides who hears about what, from the users and
//! content streams, and appends the notifications (`crate::notices`).

use crate::notices::{Appended, append_notice, time_ordered_id, unix_millis};
use crate::rate::RateLimiter;
use commands::{CommandContext, CommandError, Commands, facts};
use domain::content::{CalendarEvent, Comment, Post};
use domain::notify::grouping;
use domain::notify::rules::{self, Facts, Needs};
use events::catalog::Context;
use events::catalog::content::ContentRef;
use events::ids::Handle;
use events::store::Recorded;
use events::{Aggregate, DomainEvent, Metadata, StoreError};
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
                let context = CommandContext::new(metadata.clone(), None);
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
        if let Needs::Attendees(event) = rules::needs(event) {
            let state = facts::calendar_event(&self.commands, event).await?;
            let (owner, title) = match &state {
                CalendarEvent::Scheduled { organizer, details, .. } => (Some(organizer.clone()), details.title.clone()),
                CalendarEvent::Cancelled { organizer, title, .. } => (Some(organizer.clone()), title.clone()),
                CalendarEvent::Absent => (None, String::new()),
            };
            let attendees = domain::content::answered(&state);
            return Ok(Facts { owner, attendees, title: Some(title), ..Facts::default() });
        }
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
            Needs::Attendees(_) => None,
        };
        let handles = rules::mentions(event).iter().filter_map(|raw| Handle::parse(raw).ok());
        let holders = futures::future::try_join_all(
            handles.map(|h| async move { facts::handle_holder(&self.commands, &h).await }),
        )
        .await?;
        Ok(Facts { owner, mentioned: holders.into_iter().flatten().collect(), ..Facts::default() })
    }
}
