//! The event store: append, load and subscribe over NATS JetStream.
//! **Invariant:** the only code in Pulse that speaks JetStream.
//!
//! Append checks the aggregate's version with `Nats-Expected-Last-Subject-Sequence`
//! and deduplicates with `Nats-Msg-Id`; an event counts as appended only once
//! JetStream acknowledged it. Loads walk one subject with direct gets
//! (`next_by_subj`), never a per-command consumer. Every call is bounded by the
//! configured timeout. [`EventStore::connect`] refuses a server older than
//! [`MIN_NATS_VERSION`].

use crate::catalog::{Context, DomainEvent};
use crate::envelope::{Envelope, EventType, Metadata};
use crate::nats_version::{MIN_NATS_VERSION, NatsVersion};
use crate::subject::{Aggregate, Namespace};
use crate::upcast;
use async_nats::header::{HeaderMap, HeaderName};
use async_nats::jetstream::{self, consumer, message::PublishMessage, stream};
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
const MSG_ID: &str = "Nats-Msg-Id";
const STREAM_DEFINITIONS: &str = include_str!("../../infra/jetstream/streams.json");

/// Failures of the event store. A rejection by the domain is not one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended to the aggregate first; reload and decide again.
    #[error("{aggregate} changed concurrently (expected version {expected})")]
    Conflict {
        /// The aggregate address.
        aggregate: String,
        /// The version the writer expected.
        expected: u64,
    },
    /// NATS is down, slow or refused the request; nothing was appended.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The event is larger than its stream accepts.
    #[error("event of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of body and headers.
        size: usize,
        /// The stream's `max_msg_size`.
        max: usize,
    },
    /// A stored message is not a readable Pulse event.
    #[error("unreadable event: {0}")]
    Codec(String),
    /// The store is misconfigured (stream definitions, event routed to the
    /// wrong context).
    #[error("event store configuration: {0}")]
    Config(String),
    /// The server is older than [`MIN_NATS_VERSION`]; Pulse does not start on it.
    #[error(
        "nats-server {found} at {url} is older than {floor}, the oldest Pulse supports: \
         run `make services` (it starts a current one), or point PULSE_NATS_URL at nats-server >= {floor}"
    )]
    ServerTooOld {
        /// The server's address.
        url: String,
        /// The version the server reported.
        found: String,
        /// [`MIN_NATS_VERSION`].
        floor: String,
    },
}

/// How the store reaches NATS and names its streams.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Subject and stream-name prefix; `pulse` outside tests.
    pub namespace: Namespace,
    /// Stream replicas: 1 on one server, 3 in a cluster.
    pub replicas: usize,
    /// The CloudEvents `source` of events this process writes.
    pub source: String,
    /// Upper bound on every call to NATS.
    pub timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            namespace: Namespace::default(),
            replicas: 1,
            source: "/pulse".to_owned(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A stream's definition, read from `infra/jetstream/streams.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct StreamDefinition {
    /// The context the stream holds.
    pub context: Context,
    /// Shown by `nats stream info`.
    pub description: String,
    /// Largest message (headers and body) the stream accepts, in bytes.
    pub max_msg_size: usize,
    /// How long a `Nats-Msg-Id` is remembered for deduplication.
    pub duplicate_window_secs: u64,
}

/// The stream definitions kept in `infra/`.
pub fn stream_definitions() -> Result<Vec<StreamDefinition>, StoreError> {
    #[derive(serde::Deserialize)]
    struct File {
        streams: Vec<StreamDefinition>,
    }
    let file: File = serde_json::from_str(STREAM_DEFINITIONS)
        .map_err(|e| StoreError::Config(format!("infra/jetstream/streams.json: {e}")))?;
    for context in Context::ALL {
        if !file.streams.iter().any(|s| s.context == context) {
            return Err(StoreError::Config(format!("no stream defined for {context}")));
        }
    }
    Ok(file.streams)
}

/// The version an append expects the aggregate to be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Whatever it is; for events no decision depends on.
    Any,
    /// Exactly this version (the stream sequence of its last event); 0 means
    /// the aggregate has no events yet, which is how uniqueness is claimed.
    Version(u64),
}

/// Where an event sits in the log: its context's stream and sequence. Rendered
/// as `content:42`; this is the consistency token clients can wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// The stream.
    pub context: Context,
    /// The stream sequence.
    pub sequence: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.context, self.sequence)
    }
}

impl FromStr for Position {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let (context, sequence) = raw.split_once(':').ok_or_else(|| format!("{raw:?} is not <context>:<sequence>"))?;
        Ok(Self {
            context: Context::parse(context).ok_or_else(|| format!("unknown context {context:?}"))?,
            sequence: sequence.parse().map_err(|_| format!("{sequence:?} is not a sequence number"))?,
        })
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Where the event is.
    pub position: Position,
    /// True when the idempotency key had been used: nothing new was written
    /// and `position` is the first write's.
    pub duplicate: bool,
}

/// The caller's idempotency key: the same key appended twice within the
/// stream's duplicate window yields one event. 1 to 200 printable ASCII
/// characters; callers scope it (for example by user) before passing it here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a raw key.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty() && raw.len() <= 200 && raw.bytes().all(|b| (b'!'..=b'~').contains(&b));
        ok.then(|| Self(raw.to_owned()))
            .ok_or_else(|| "must be 1 to 200 printable ASCII characters without spaces".to_owned())
    }

    /// A key derived from this one for the n-th event of a multi-event command.
    pub fn part(&self, name: &str) -> Self {
        Self(format!("{}/{name}", self.0))
    }

    /// The key as used on one aggregate: one client key may drive appends to
    /// several aggregates (registration claims a handle, then registers), and
    /// each must deduplicate on its own.
    pub fn on(&self, aggregate: &Aggregate) -> Self {
        Self(format!("{}@{aggregate}", self.0))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One event read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Its CloudEvents attributes.
    pub envelope: Envelope,
    /// The event, upcast to the current version.
    pub event: DomainEvent,
    /// Where it is.
    pub position: Position,
    /// The idempotency key it was appended with, if any: a retried command
    /// finds its first result by it.
    pub idempotency_key: Option<String>,
}

impl Recorded {
    /// Reads a stored message: envelope from headers, body upcast to the
    /// current version.
    pub fn decode(headers: Option<&HeaderMap>, body: &[u8], sequence: u64) -> Result<Self, StoreError> {
        let envelope = Envelope::from_headers(|name| headers.and_then(|h| h.get(name)).map(|v| v.as_str()))
            .map_err(|e| StoreError::Codec(format!("sequence {sequence}: {e}")))?;
        let EventType { context, name, version } = &envelope.event_type;
        let event = upcast::decode(*context, name, *version, body)
            .map_err(|e| StoreError::Codec(format!("sequence {sequence}: {e}")))?;
        let position = Position { context: *context, sequence };
        let idempotency_key = headers.and_then(|h| h.get(MSG_ID)).map(|v| v.as_str().to_owned());
        Ok(Self { envelope, event, position, idempotency_key })
    }
}

/// An aggregate's events, oldest first, with its version.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The events.
    pub events: Vec<Recorded>,
    /// The sequence of the last event, 0 when there is none; pass it to
    /// [`Expected::Version`] to append after exactly this history.
    pub version: u64,
}

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
    /// the whole stream. nats-server 2.9 takes one filter per consumer.
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

/// The event store. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    config: StoreConfig,
    limits: HashMap<Context, usize>,
}

impl EventStore {
    /// Connects to NATS and creates or updates the streams. Fails with
    /// [`StoreError::Unavailable`] within the timeout when NATS is not there,
    /// and with [`StoreError::ServerTooOld`] before touching any stream when the
    /// server is older than [`MIN_NATS_VERSION`].
    pub async fn connect(url: &str, config: StoreConfig) -> Result<Self, StoreError> {
        let options = async_nats::ConnectOptions::new().connection_timeout(config.timeout).name(config.source.clone());
        let client = bounded(config.timeout, options.connect(url))
            .await?
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to NATS at {url}: {e}")))?;
        supported(url, &client.server_info().version)?;
        let store = Self::with_client(client, config)?;
        store.ensure_streams().await?;
        Ok(store)
    }

    /// Wraps an existing client without touching the server.
    pub fn with_client(client: async_nats::Client, config: StoreConfig) -> Result<Self, StoreError> {
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(config.timeout);
        let limits = stream_definitions()?.into_iter().map(|d| (d.context, d.max_msg_size)).collect();
        Ok(Self { inner: Arc::new(Inner { client, jetstream, config, limits }) })
    }

    /// The namespace of the streams.
    pub fn namespace(&self) -> &Namespace {
        &self.inner.config.namespace
    }

    /// The NATS client, for tests and tools that need raw access.
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// Whether the connection to NATS is up: what a readiness probe asks.
    pub fn is_connected(&self) -> Result<(), String> {
        match self.inner.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(format!("NATS is {state}")),
        }
    }

    /// Creates each stream from its definition, or updates it to match. Safe to
    /// run on every start-up and from several processes.
    pub async fn ensure_streams(&self) -> Result<(), StoreError> {
        for definition in stream_definitions()? {
            let config = self.stream_config(&definition);
            let created = bounded(self.timeout(), self.inner.jetstream.create_or_update_stream(config)).await?;
            created.map_err(|e| StoreError::Unavailable(format!("stream {}: {e}", definition.context)))?;
        }
        Ok(())
    }

    fn stream_config(&self, definition: &StreamDefinition) -> stream::Config {
        let namespace = &self.inner.config.namespace;
        stream::Config {
            name: namespace.stream(definition.context),
            description: Some(definition.description.clone()),
            subjects: vec![namespace.stream_subjects(definition.context)],
            storage: stream::StorageType::File,
            num_replicas: self.inner.config.replicas,
            max_message_size: i32::try_from(definition.max_msg_size).unwrap_or(i32::MAX),
            duplicate_window: Duration::from_secs(definition.duplicate_window_secs),
            allow_direct: true,
            ..Default::default()
        }
    }

    /// Deletes this namespace's streams: for tests and throwaway namespaces.
    pub async fn delete_streams(&self) -> Result<(), StoreError> {
        for context in Context::ALL {
            let name = self.inner.config.namespace.stream(context);
            let _gone = bounded(self.timeout(), self.inner.jetstream.delete_stream(&name)).await?;
        }
        Ok(())
    }

    fn timeout(&self) -> Duration {
        self.inner.config.timeout
    }

    /// Appends one event to an aggregate if it is at the expected version.
    ///
    /// Returns its position once JetStream acknowledged it. With an idempotency
    /// key already used inside the duplicate window, nothing is written and the
    /// first write's position comes back with `duplicate: true`; so too when the
    /// expected version is stale but the aggregate's last event is the one
    /// appended under this key. Otherwise a stale version is a `Conflict`.
    pub async fn append(
        &self,
        aggregate: &Aggregate,
        expected: Expected,
        event: impl Into<DomainEvent>,
        metadata: &Metadata,
        key: Option<&IdempotencyKey>,
    ) -> Result<Appended, StoreError> {
        let event = event.into();
        let context = aggregate.context();
        if event.context() != context {
            return Err(StoreError::Config(format!("{} does not belong on {aggregate}", event.name())));
        }
        let body = event.to_json().map_err(|e| StoreError::Codec(e.to_string()))?;
        let envelope = Envelope {
            id: Uuid::now_v7(),
            source: self.inner.config.source.clone(),
            event_type: EventType { context, name: event.name().to_owned(), version: event.version() },
            subject: aggregate.to_string(),
            time: OffsetDateTime::now_utc(),
            correlation_id: metadata.correlation_id.clone(),
            causation_id: metadata.causation_id.clone(),
            actor: metadata.actor.clone(),
        };
        let mut headers = HeaderMap::new();
        let mut size = body.len();
        // Names are static: `from_static` neither validates nor copies them.
        let mut put = |name: &'static str, value: String| {
            size += name.len() + value.len() + 4;
            headers.insert(HeaderName::from_static(name), value);
        };
        for (name, value) in envelope.to_headers() {
            put(name, value);
        }
        if let Some(key) = key {
            put(MSG_ID, key.as_str().to_owned());
        }
        if let Expected::Version(version) = expected {
            put(EXPECTED_LAST_SUBJECT_SEQUENCE, version.to_string());
        }
        let max = self.inner.limits.get(&context).copied().unwrap_or(usize::MAX);
        if size > max {
            return Err(StoreError::TooLarge { size, max });
        }
        let subject = aggregate.subject(self.namespace());
        let publish = PublishMessage::build().payload(body.into()).headers(headers);
        let conflict = || StoreError::Conflict {
            aggregate: aggregate.to_string(),
            expected: match expected {
                Expected::Version(v) => v,
                Expected::Any => 0,
            },
        };
        // No `bounded` here: the JetStream context already bounds both the send
        // and the ack by the configured timeout, and a third timer per append
        // is measurable on the command path.
        let acked = async {
            let pending = self.inner.jetstream.send_publish(subject, publish).await?;
            pending.await
        }
        .await
        .map_err(|e| publish_error(e, conflict, size, max));
        let ack = match (acked, key) {
            (Ok(ack), _) => ack,
            // nats-server 2.9 answered a repeated `Nats-Msg-Id` inside the
            // duplicate window as a duplicate whatever the expected version;
            // current servers check the expected version first, so a retry that
            // still expects the version before its first write loses. When that
            // first write is the aggregate's last event, the retry gets its answer.
            (Err(lost @ StoreError::Conflict { .. }), Some(key)) => {
                return self.last_written_under(aggregate, key).await?.ok_or(lost);
            }
            (Err(failed), _) => return Err(failed),
        };
        tracing::debug!(%aggregate, event = event.name(), sequence = ack.sequence, duplicate = ack.duplicate, "appended");
        Ok(Appended { position: Position { context, sequence: ack.sequence }, duplicate: ack.duplicate })
    }

    /// The aggregate's last event as a duplicate append, when it was appended
    /// under `key`: one direct get, on the conflict path only.
    async fn last_written_under(
        &self,
        aggregate: &Aggregate,
        key: &IdempotencyKey,
    ) -> Result<Option<Appended>, StoreError> {
        let last = self.last(aggregate).await?;
        Ok(last
            .filter(|recorded| recorded.idempotency_key.as_deref() == Some(key.as_str()))
            .map(|recorded| Appended { position: recorded.position, duplicate: true }))
    }

    /// All events of an aggregate, oldest first, with its version.
    pub async fn load(&self, aggregate: &Aggregate) -> Result<History, StoreError> {
        self.load_after(aggregate, 0).await
    }

    /// The aggregate's events after a known version: what a cache holding the
    /// state at `version` needs to catch up.
    pub async fn load_after(&self, aggregate: &Aggregate, version: u64) -> Result<History, StoreError> {
        let stream = self.stream(aggregate.context()).await?;
        let subject = aggregate.subject(self.namespace());
        let mut history = History { events: Vec::new(), version };
        loop {
            let next = bounded(
                self.timeout(),
                stream.direct_get_next_for_subject(subject.as_str(), Some(history.version + 1)),
            )
            .await?;
            let message = match next {
                Ok(message) => message,
                Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => return Ok(history),
                Err(e) => return Err(StoreError::Unavailable(format!("reading {aggregate}: {e}"))),
            };
            history.version = message.sequence;
            history.events.push(Recorded::decode(Some(&message.headers), &message.payload, message.sequence)?);
        }
    }

    /// The first event of an aggregate, if any, with one direct get: where a
    /// create's idempotency key is, however long the history has grown.
    pub async fn first(&self, aggregate: &Aggregate) -> Result<Option<Recorded>, StoreError> {
        let stream = self.stream(aggregate.context()).await?;
        let subject = aggregate.subject(self.namespace());
        match bounded(self.timeout(), stream.direct_get_next_for_subject(subject.as_str(), Some(1))).await? {
            Ok(m) => Recorded::decode(Some(&m.headers), &m.payload, m.sequence).map(Some),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Unavailable(format!("reading {aggregate}: {e}"))),
        }
    }

    /// The version of an aggregate (sequence of its last event, 0 if none),
    /// with one direct get.
    pub async fn version(&self, aggregate: &Aggregate) -> Result<u64, StoreError> {
        let stream = self.stream(aggregate.context()).await?;
        let subject = aggregate.subject(self.namespace());
        match bounded(self.timeout(), stream.direct_get_last_for_subject(subject)).await? {
            Ok(message) => Ok(message.sequence),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(0),
            Err(e) => Err(StoreError::Unavailable(format!("reading {aggregate}: {e}"))),
        }
    }

    /// The last event of an aggregate, if any, with one direct get.
    pub async fn last(&self, aggregate: &Aggregate) -> Result<Option<Recorded>, StoreError> {
        let stream = self.stream(aggregate.context()).await?;
        let subject = aggregate.subject(self.namespace());
        match bounded(self.timeout(), stream.direct_get_last_for_subject(subject)).await? {
            Ok(m) => Recorded::decode(Some(&m.headers), &m.payload, m.sequence).map(Some),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Unavailable(format!("reading {aggregate}: {e}"))),
        }
    }

    /// The event at a position, with one direct get.
    pub async fn get(&self, position: Position) -> Result<Option<Recorded>, StoreError> {
        let stream = self.stream(position.context).await?;
        match bounded(self.timeout(), stream.direct_get(position.sequence)).await? {
            Ok(m) => Recorded::decode(Some(&m.headers), &m.payload, m.sequence).map(Some),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Unavailable(format!("reading {position}: {e}"))),
        }
    }

    /// The sequence of the newest event in a context's stream (0 when empty).
    pub async fn head(&self, context: Context) -> Result<u64, StoreError> {
        let name = self.namespace().stream(context);
        let mut stream = bounded(self.timeout(), self.inner.jetstream.get_stream(&name))
            .await?
            .map_err(|e| StoreError::Unavailable(format!("stream {name}: {e}")))?;
        let info = bounded(self.timeout(), stream.info()).await?.map_err(unavailable)?;
        Ok(info.state.last_sequence)
    }

    async fn stream(&self, context: Context) -> Result<stream::Stream<()>, StoreError> {
        let name = self.namespace().stream(context);
        self.inner
            .jetstream
            .get_stream_no_info(&name)
            .await
            .map_err(|e| StoreError::Config(format!("stream {name}: {e}")))
    }

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

/// Checks the version a server reported against the floor. A version that
/// does not parse is refused too: every nats-server release reports X.Y.Z, so
/// anything else is not a server Pulse was tested on.
fn supported(url: &str, reported: &str) -> Result<(), StoreError> {
    let too_old = || StoreError::ServerTooOld {
        url: url.to_owned(),
        found: reported.to_owned(),
        floor: MIN_NATS_VERSION.to_string(),
    };
    match NatsVersion::parse(reported) {
        Ok(version) if version >= MIN_NATS_VERSION => Ok(()),
        _ => Err(too_old()),
    }
}

/// Runs a NATS call under the store's timeout; elapsing is `Unavailable`.
async fn bounded<T>(timeout: Duration, call: impl Future<Output = T>) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| StoreError::Unavailable(format!("NATS did not answer within {timeout:?}")))
}

fn unavailable(e: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn publish_error(
    error: jetstream::context::PublishError,
    conflict: impl FnOnce() -> StoreError,
    size: usize,
    max: usize,
) -> StoreError {
    use jetstream::context::PublishErrorKind as Kind;
    match error.kind() {
        Kind::WrongLastSequence => conflict(),
        Kind::MaxPayloadExceeded => StoreError::TooLarge { size, max },
        Kind::Other if is_too_large(&error) => StoreError::TooLarge { size, max },
        _ => StoreError::Unavailable(error.to_string()),
    }
}

fn is_too_large(error: &jetstream::context::PublishError) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<jetstream::Error>())
        .is_some_and(|e| e.error_code() == jetstream::ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_definitions_in_infra_cover_every_context() {
        let definitions = stream_definitions().unwrap();
        assert_eq!(definitions.len(), Context::ALL.len());
        assert!(definitions.iter().all(|d| d.max_msg_size > 1024 && d.duplicate_window_secs >= 60));
    }

    #[test]
    fn positions_render_and_parse_as_consistency_tokens() {
        let position = Position { context: Context::Content, sequence: 42 };
        assert_eq!(position.to_string(), "content:42");
        assert_eq!("content:42".parse(), Ok(position));
        for bad in ["content", "content:x", "nope:1", ":1"] {
            assert!(bad.parse::<Position>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_server_below_the_floor_is_refused_with_what_to_do() {
        assert_eq!(supported("nats://x:4222", "2.10.0"), Ok(()));
        for old in ["2.9.10", "unknown"] {
            let refused = supported("nats://x:4222", old).unwrap_err();
            assert!(matches!(refused, StoreError::ServerTooOld { .. }), "{old}");
            let message = refused.to_string();
            assert!(message.contains(old) && message.contains("nats://x:4222"), "{message}");
            assert!(message.contains("make services") && message.contains("PULSE_NATS_URL"), "{message}");
            assert!(message.contains(">= 2.10.0"), "{message}");
        }
    }

    #[test]
    fn idempotency_keys_are_printable_and_bounded() {
        assert!(IdempotencyKey::parse("a1b2-c3").is_ok());
        for bad in ["", "has space", "ünï", &"k".repeat(201)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
