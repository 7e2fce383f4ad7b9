//! Subscriptions: durable pull consumers with explicit acks (at-least-once,
//! surviving restarts) for the services that consume the log; shared ones,
//! where several processes stand by and one at a time reads in order (the
//! projectors); and ordered, throwaway tails for operators.

use super::{EventStore, Recorded, StoreError, bounded, unavailable};
use crate::catalog::Context;
use async_nats::jetstream::{self, consumer};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::time::Duration;
use time::OffsetDateTime;

/// Where a new durable subscription starts. An existing durable resumes after
/// its last acknowledged event whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The first event in the stream.
    Beginning,
    /// The event at this sequence.
    At(u64),
    /// The first event at or after this time.
    Since(OffsetDateTime),
    /// Only events appended from now on.
    New,
}

/// What to subscribe to.
#[derive(Debug, Clone)]
pub struct Subscribe {
    /// The stream.
    pub context: Context,
    /// An address pattern inside the context (`content.post.*`); `None` is
    /// the whole stream.
    pub filter: Option<String>,
    /// Where a new subscription starts.
    pub start: Start,
    /// How long the server waits for an ack before delivering again.
    pub ack_wait: Duration,
}

impl Subscribe {
    /// The whole stream of a context from its beginning, with a 30 s ack wait.
    pub fn all(context: Context) -> Self {
        Self { context, filter: None, start: Start::Beginning, ack_wait: Duration::from_secs(30) }
    }
}

type MessageStream = Pin<Box<dyn Stream<Item = Result<jetstream::Message, String>> + Send>>;

/// A live stream of deliveries from a consumer.
pub struct Subscription {
    messages: MessageStream,
    timeout: Duration,
    handed_out: u64,
}

/// The priority group of shared subscriptions: one name, since every process
/// that shares a consumer runs the same code.
const SHARED_GROUP: &str = "pulse";

/// How long a shared subscription's pin survives without a pull before a
/// standby process takes over; also how long a restarted process may wait
/// for the pin its crashed predecessor held. Pulls expire well within it (a
/// third), so a live process never loses its pin between two pulls.
const PIN_TIMEOUT: Duration = Duration::from_secs(6);

/// The most events a shared subscription has delivered and not had
/// acknowledged: what a process taking over may find missing in front of its
/// first delivery (see [`EventStore::share`]).
pub const SHARED_MAX_PENDING: i64 = 1024;

impl Subscription {
    /// The last stream sequence the consumer had delivered when this
    /// subscription opened (0 for a new or ephemeral one): everything up to
    /// it was handed out before, to this process or another.
    pub fn handed_out(&self) -> u64 {
        self.handed_out
    }

    /// The next delivery and whatever more has already arrived, up to `max`
    /// in all, in stream order; waits for the first only. An empty batch means
    /// the subscription ended or failed: the error, if any, is in it.
    pub async fn next_batch(&mut self, max: usize) -> Vec<Result<Delivery, StoreError>> {
        let mut batch = Vec::new();
        let Some(first) = self.next().await else { return batch };
        let failed = first.is_err();
        batch.push(first);
        while !failed && batch.len() < max.max(1) {
            let Some(ready) = futures::FutureExt::now_or_never(self.next()) else { break };
            let Some(next) = ready else { break };
            let failed = next.is_err();
            batch.push(next);
            if failed {
                break;
            }
        }
        batch
    }

    /// The next delivery; `None` when the subscription ended.
    pub async fn next(&mut self) -> Option<Result<Delivery, StoreError>> {
        let message = match self.messages.next().await? {
            Ok(message) => message,
            Err(e) => return Some(Err(StoreError::Unavailable(e))),
        };
        let info = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered, info.pending),
            Err(e) => return Some(Err(StoreError::Codec(format!("delivery without metadata: {e}")))),
        };
        let (sequence, delivered, pending) = info;
        let recorded = Recorded::decode(message.headers.as_ref(), &message.payload, sequence);
        Some(Ok(Delivery { recorded, sequence, delivered: delivered as u64, pending, message, timeout: self.timeout }))
    }
}

/// One delivered event. Durable subscriptions deliver it again until it is
/// acknowledged.
pub struct Delivery {
    /// The event, or why it could not be read (acknowledge or skip it; a
    /// poison message must not block the stream).
    pub recorded: Result<Recorded, StoreError>,
    /// Its stream sequence.
    pub sequence: u64,
    /// How many times it has been delivered, 1 the first time.
    pub delivered: u64,
    /// How many events of the consumer's stream were still waiting behind
    /// this one when it was sent: the consumer's lag.
    pub pending: u64,
    message: jetstream::Message,
    timeout: Duration,
}

impl Delivery {
    /// Acknowledges the event and waits for the server to confirm, so a crash
    /// after this returns cannot bring the event back. On a shared
    /// subscription this acknowledges every earlier delivery too.
    pub async fn ack(&self) -> Result<(), StoreError> {
        bounded(self.timeout, self.message.double_ack()).await?.map_err(unavailable)
    }

    /// Asks for the event to be delivered again later.
    pub async fn retry_later(&self, delay: Duration) -> Result<(), StoreError> {
        let kind = jetstream::AckKind::Nak(Some(delay));
        bounded(self.timeout, self.message.ack_with(kind)).await?.map_err(unavailable)
    }
}

impl EventStore {
    /// A durable subscription with explicit acks: at-least-once delivery that
    /// survives restarts. A new durable starts at `start`; an existing one
    /// resumes after its last acknowledged event.
    pub async fn subscribe(&self, durable: &str, subscribe: Subscribe) -> Result<Subscription, StoreError> {
        let stream = self.stream(subscribe.context).await?;
        let config = consumer::pull::Config {
            durable_name: Some(durable.to_owned()),
            filter_subject: self.filter_subject(&subscribe),
            deliver_policy: deliver_policy(subscribe.start),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: subscribe.ack_wait,
            ..Default::default()
        };
        let consumer = bounded(self.timeout(), stream.get_or_create_consumer(durable, config))
            .await?
            .map_err(|e| StoreError::Unavailable(format!("consumer {durable}: {e}")))?;
        let messages = bounded(self.timeout(), consumer.messages()).await?.map_err(unavailable)?;
        Ok(self.subscription(messages.map(|m| m.map_err(|e| e.to_string()))))
    }

    /// A durable subscription that several processes may open at once, of
    /// which one at a time receives events, in stream order: the others stand
    /// by, and the server hands their turn over when the active one stops
    /// pulling (JetStream's pinned-client priority group, nats-server 2.11).
    /// Acknowledging a delivery acknowledges every earlier one, so a batch
    /// costs one ack. A new durable starts at `start`; an existing one resumes
    /// after its last acknowledged event.
    ///
    /// The server hands a new holder the events after the last one it
    /// *delivered*; those its predecessor received but never acknowledged
    /// (at most [`SHARED_MAX_PENDING`]) come back only after the ack wait. A
    /// reader that must not skip reads that gap itself ([`EventStore::tail`]),
    /// as it reads what was handed out before it opened
    /// ([`Subscription::handed_out`]) when its own record is behind.
    pub async fn share(&self, durable: &str, subscribe: Subscribe) -> Result<Subscription, StoreError> {
        let stream = self.stream(subscribe.context).await?;
        let config = consumer::pull::Config {
            durable_name: Some(durable.to_owned()),
            filter_subject: self.filter_subject(&subscribe),
            deliver_policy: deliver_policy(subscribe.start),
            ack_policy: consumer::AckPolicy::All,
            ack_wait: subscribe.ack_wait,
            priority_policy: consumer::PriorityPolicy::PinnedClient,
            priority_groups: vec![SHARED_GROUP.to_owned()],
            priority_timeout: PIN_TIMEOUT,
            max_ack_pending: SHARED_MAX_PENDING,
            ..Default::default()
        };
        let consumer = bounded(self.timeout(), stream.get_or_create_consumer(durable, config))
            .await?
            .map_err(|e| StoreError::Unavailable(format!("consumer {durable}: {e}")))?;
        let handed_out = consumer.cached_info().delivered.stream_sequence;
        let pulls = consumer.stream().group(SHARED_GROUP).expires(PIN_TIMEOUT / 3).heartbeat(PIN_TIMEOUT / 12);
        let messages = bounded(self.timeout(), pulls.messages()).await?.map_err(unavailable)?;
        let mut subscription = self.subscription(messages.map(|m| m.map_err(|e| e.to_string())));
        subscription.handed_out = handed_out;
        Ok(subscription)
    }

    /// A throwaway, ordered, unacknowledged view of a stream: what operators use
    /// to tail or replay the log without leaving a consumer behind.
    pub async fn tail(&self, subscribe: Subscribe) -> Result<Subscription, StoreError> {
        let stream = self.stream(subscribe.context).await?;
        let config = consumer::pull::OrderedConfig {
            filter_subject: self.filter_subject(&subscribe),
            deliver_policy: deliver_policy(subscribe.start),
            ..Default::default()
        };
        let consumer = bounded(self.timeout(), stream.create_consumer(config)).await?.map_err(unavailable)?;
        let messages = bounded(self.timeout(), consumer.messages()).await?.map_err(unavailable)?;
        Ok(self.subscription(messages.map(|m| m.map_err(|e| e.to_string()))))
    }

    /// Removes a durable subscription and its server-side state.
    pub async fn unsubscribe(&self, context: Context, durable: &str) -> Result<(), StoreError> {
        let stream = self.stream(context).await?;
        bounded(self.timeout(), stream.delete_consumer(durable)).await?.map_err(unavailable)?;
        Ok(())
    }

    fn subscription(
        &self,
        messages: impl Stream<Item = Result<jetstream::Message, String>> + Send + 'static,
    ) -> Subscription {
        Subscription { messages: Box::pin(messages), timeout: self.timeout(), handed_out: 0 }
    }

    fn filter_subject(&self, subscribe: &Subscribe) -> String {
        match &subscribe.filter {
            Some(pattern) => format!("{}.{pattern}", self.namespace().as_str()),
            None => self.namespace().stream_subjects(subscribe.context),
        }
    }
}

fn deliver_policy(start: Start) -> consumer::DeliverPolicy {
    match start {
        Start::Beginning => consumer::DeliverPolicy::All,
        Start::At(sequence) => consumer::DeliverPolicy::ByStartSequence { start_sequence: sequence.max(1) },
        Start::Since(start_time) => consumer::DeliverPolicy::ByStartTime { start_time },
        Start::New => consumer::DeliverPolicy::New,
    }
}

/// Where a stream stands: what a client holding positions in it needs to
/// know whether they still mean anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamState {
    /// When the stream was created: its identity. A stream deleted and made
    /// anew has the same name and sequences that start over, and another
    /// creation time.
    pub created: OffsetDateTime,
    /// The oldest sequence still held (retention drops the older ones).
    pub first_sequence: u64,
    /// The newest sequence appended.
    pub last_sequence: u64,
}

impl StreamState {
    /// Which life of the stream this is, as text: its creation time in
    /// nanoseconds. The chat gateway's epoch, and what projections record of
    /// the log they were built from.
    pub fn life(&self) -> String {
        self.created.unix_timestamp_nanos().to_string()
    }
}

/// What [`EventStore::read_after`] found.
#[derive(Debug)]
pub struct Backlog {
    /// The events, in order.
    pub events: Vec<Recorded>,
    /// Whether that is all of them up to the stream's end when the read
    /// began; false when there were more than asked for.
    pub complete: bool,
}

impl EventStore {
    /// Where a context's stream stands.
    pub async fn stream_state(&self, context: Context) -> Result<StreamState, StoreError> {
        let name = self.namespace().stream(context);
        let stream = bounded(self.timeout(), self.inner.jetstream.get_stream(&name)).await?.map_err(unavailable)?;
        let info = stream.cached_info();
        Ok(StreamState {
            created: info.created,
            first_sequence: info.state.first_sequence,
            last_sequence: info.state.last_sequence,
        })
    }

    /// The events on any of the address `patterns` (`chat.message.<id>.*`)
    /// of a context after sequence `after`, up to the stream's end, at most
    /// `max` of them: what a client that was away missed. One throwaway
    /// ordered consumer, read until nothing is pending.
    pub async fn read_after(
        &self,
        context: Context,
        patterns: &[String],
        after: u64,
        max: usize,
    ) -> Result<Backlog, StoreError> {
        let stream = self.stream(context).await?;
        let namespace = self.namespace().as_str();
        let config = consumer::pull::OrderedConfig {
            filter_subjects: patterns.iter().map(|p| format!("{namespace}.{p}")).collect(),
            deliver_policy: deliver_policy(Start::At(after.saturating_add(1))),
            ..Default::default()
        };
        let consumer = bounded(self.timeout(), stream.create_consumer(config)).await?.map_err(unavailable)?;
        let pending = consumer.cached_info().num_pending;
        let mut events = Vec::new();
        if pending == 0 {
            return Ok(Backlog { events, complete: true });
        }
        let messages = bounded(self.timeout(), consumer.messages()).await?.map_err(unavailable)?;
        let mut subscription = self.subscription(messages.map(|m| m.map_err(|e| e.to_string())));
        loop {
            let delivery = match bounded(self.timeout(), subscription.next()).await? {
                Some(delivery) => delivery?,
                None => return Err(StoreError::Unavailable("the read ended early".into())),
            };
            if events.len() == max {
                return Ok(Backlog { events, complete: false });
            }
            events.push(delivery.recorded?);
            if delivery.pending == 0 {
                return Ok(Backlog { events, complete: true });
            }
        }
    }
}
