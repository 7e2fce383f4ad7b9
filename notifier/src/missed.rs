//! Messages while away: a reactor of the chat stream sets, for each member
//! but the sender, a timer per conversation and window
//! (`domain::notify::missed::window`), carrying the window's newest message;
//! [`MissedMessages::fire_due`] tells the members who, when it falls due, are
//! still members, have not read that far, and are not online (presence in
//! Redis, as the chat gateway keeps it).

use crate::error::NotifyError;
use crate::notices::{append_notice, time_ordered_id};
use crate::rate::RateLimiter;
use crate::timers::{self, Timers, millis};
use commands::Commands;
use domain::chat::{Conversation, ReadMark};
use domain::notify::missed::{self, Missed, Since};
use events::catalog::chat::MessageSent;
use events::catalog::{ChatEvent, Context, DomainEvent};
use events::ids::{ConversationId, UserId};
use events::store::Recorded;
use events::{Aggregate, Metadata};
use futures::future::BoxFuture;
use projectors::Reactor;
use read_store::{AnyStore, Document, ReadStoreError};
use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// The missed-messages reactor, and its timers' loop.
pub struct MissedMessages {
    commands: Commands,
    timers: Timers,
    redis: ConnectionManager,
    namespace: String,
    delay: Duration,
    limiter: RateLimiter,
}

impl Reactor for MissedMessages {
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

impl MissedMessages {
    /// Its name in checkpoints, consumers and status.
    pub const NAME: &'static str = "missed_messages";

    /// The streams it reads.
    pub const CONTEXTS: &'static [Context] = &[Context::Chat];

    /// Tells of messages unread `delay` (to twice that) after they came,
    /// with timers in `store` (collection `missed_messages`, declared here)
    /// and presence read from `redis` under `namespace`.
    pub async fn new(
        commands: Commands,
        store: AnyStore,
        redis: ConnectionManager,
        namespace: &str,
        delay: Duration,
    ) -> Result<Self, ReadStoreError> {
        let timers = Timers::declare(store, "missed_messages").await?;
        Ok(Self { commands, timers, redis, namespace: namespace.to_owned(), delay, limiter: RateLimiter::unlimited() })
    }

    /// With rate limits per recipient.
    pub fn with_limiter(self, limiter: RateLimiter) -> Self {
        Self { limiter, ..self }
    }

    /// Sets the window's timer of each member but the sender.
    pub async fn run(&self, recorded: &Recorded) -> Result<(), NotifyError> {
        let DomainEvent::Chat(ChatEvent::MessageSent(sent)) = &recorded.event else { return Ok(()) };
        let conversation = self.commands.current::<Conversation>(&Aggregate::conversation(sent.conversation)).await?;
        let Conversation::Active { members, .. } = conversation else { return Ok(()) };
        let (window, due) = missed::window(recorded.envelope.time, self.delay);
        let writes: Vec<_> = (members.iter().filter(|m| **m != sent.sender))
            .map(|member| self.timer(sent, member, window, due, recorded.position.sequence))
            .collect();
        Ok(self.timers.write(&writes).await?)
    }

    fn timer(
        &self,
        sent: &MessageSent,
        member: &UserId,
        window: i64,
        due: OffsetDateTime,
        sequence: u64,
    ) -> read_store::Write {
        let fields = json!({
            "conversation": sent.conversation.to_string(),
            "member": member.as_str(),
            "sender": sent.sender.as_str(),
            "sequence": sequence,
        });
        self.timers.set(&format!("{}:{member}:{window}", sent.conversation), due, fields)
    }

    /// Fires the windows due at `now`: tells those who missed them and
    /// deletes the timers. How many were fired.
    pub async fn fire_due(&self, now: OffsetDateTime) -> Result<usize, NotifyError> {
        let due = self.timers.due(now).await?;
        for (id, doc) in &due {
            if let Some(missed) = parse(doc) {
                let since = self.since(&missed, now).await?;
                if let Some(notice) = missed::notice(&missed, since) {
                    let due_ms = doc.get("due_ms").and_then(Value::as_i64).unwrap_or_else(|| millis(now));
                    let id = time_ordered_id(u64::try_from(due_ms).unwrap_or(0), &format!("pulse:missed:{id}"));
                    append_notice(&self.commands, Some(&self.limiter), notice, id, &Metadata::new(None)).await?;
                }
            }
            self.timers.write(&[self.timers.cancel(id)]).await?;
        }
        Ok(due.len())
    }

    async fn since(&self, missed: &Missed, now: OffsetDateTime) -> Result<Since, NotifyError> {
        let conversation = self.commands.current::<Conversation>(&Aggregate::conversation(missed.conversation)).await?;
        let mark = self.commands.current::<ReadMark>(&Aggregate::read(missed.conversation, &missed.member)).await?;
        let online = presence::is_online(&mut self.redis.clone(), &self.namespace, &missed.member, millis(now)).await?;
        Ok(Since { member: conversation.is_member(&missed.member), read_up_to: mark.sequence, online })
    }

    /// Fires due windows every `every` until `stop`.
    pub async fn run_timers(&self, every: std::time::Duration, stop: tokio::sync::watch::Receiver<bool>) {
        timers::every("missed messages", every, stop, || self.fire_due(OffsetDateTime::now_utc())).await;
    }
}

fn parse(doc: &Document) -> Option<Missed> {
    let text = |field: &str| doc.get(field).and_then(Value::as_str);
    Some(Missed {
        conversation: ConversationId::parse(text("conversation")?).ok()?,
        member: UserId::parse(text("member")?).ok()?,
        sender: UserId::parse(text("sender")?).ok()?,
        sequence: doc.get("sequence").and_then(Value::as_u64)?,
    })
}
