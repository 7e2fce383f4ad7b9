//! Subscriptions: durable pull consumers with explicit acks (at-least-once,
//! surviving restarts) for the services that consume the log, and ordered,
//! throwaway tails for operators.

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
}

impl Subscription {
    /// The next delivery; `None` when the subscription ended.
    pub async fn next(&mut self) -> Option<Result<Delivery, StoreError>> {
        let message = match self.messages.next().await? {
            Ok(message) => message,
            Err(e) => return Some(Err(StoreError::Unavailable(e))),
        };
        let info = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered),
            Err(e) => return Some(Err(StoreError::Codec(format!("delivery without metadata: {e}")))),
        };
        let (sequence, delivered) = info;
        let recorded = Recorded::decode(message.headers.as_ref(), &message.payload, sequence);
        Some(Ok(Delivery { recorded, sequence, delivered: delivered as u64, message, timeout: self.timeout }))
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
    message: jetstream::Message,
    timeout: Duration,
}

impl Delivery {
    /// Acknowledges the event and waits for the server to confirm, so a crash
    /// after this returns cannot bring the event back.
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
        Subscription { messages: Box::pin(messages), timeout: self.timeout() }
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
