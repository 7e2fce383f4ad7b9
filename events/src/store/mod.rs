//! The event store: append and load over NATS JetStream.
//! **Invariant:** the only code in Pulse that speaks JetStream.
//!
//! Append checks the aggregate's version with `Nats-Expected-Last-Subject-Sequence`
//! and deduplicates with `Nats-Msg-Id`; an event counts as appended only once
//! JetStream acknowledged it. Loads walk one subject with direct gets
//! (`next_by_subj`), never a per-command consumer. Every call is bounded by the
//! configured timeout. [`EventStore::connect`] refuses a server older than
//! [`MIN_NATS_VERSION`]. Beside this file: [`position`] (the consistency
//! token), [`idempotency`] (keys), [`streams`] (their definitions) and
//! [`subscription`] (durable consumers and tails).

pub mod idempotency;
pub mod position;
pub mod streams;
pub mod subscription;

pub use idempotency::IdempotencyKey;
pub use position::{Appended, Expected, Position};
pub use streams::{StreamDefinition, stream_definitions};
pub use subscription::{Backlog, Delivery, Start, StreamState, Subscribe, Subscription};

use crate::catalog::{Context, DomainEvent};
use crate::envelope::{Envelope, EventType, Metadata};
use crate::nats_version::{MIN_NATS_VERSION, NatsVersion};
use crate::subject::{Aggregate, Namespace};
use crate::upcast;
use async_nats::header::{HeaderMap, HeaderName};
use async_nats::jetstream::{self, message::PublishMessage, stream};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
const MSG_ID: &str = "Nats-Msg-Id";
/// Where a key the server made is kept: on the event, not deduplicated.
const FRESH_KEY: &str = "Pulse-Idempotency-Key";

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
    /// The event was handed to NATS but no answer came back: it may be in the
    /// log now or later (the client sends what it buffered once it
    /// reconnects), or never. Only a retry with the same idempotency key
    /// settles it, as one event.
    #[error("the outcome of the append is unknown: {0}")]
    OutcomeUnknown(String),
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
        let key = |name| headers.and_then(|h| h.get(name)).map(|v| v.as_str().to_owned());
        let idempotency_key = key(MSG_ID).or_else(|| key(FRESH_KEY));
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
        match key {
            Some(key) if key.is_fresh() => put(FRESH_KEY, key.as_str().to_owned()),
            Some(key) => put(MSG_ID, key.as_str().to_owned()),
            None => {}
        }
        if let Expected::Version(version) = expected {
            put(EXPECTED_LAST_SUBJECT_SEQUENCE, version.to_string());
        }
        let max = self.inner.limits.get(&context).copied().unwrap_or(usize::MAX);
        if size > max {
            return Err(StoreError::TooLarge { size, max });
        }
        // A disconnected client would buffer the publish and send it on
        // reconnect, so the answer would be "unknown"; refusing it here keeps
        // "not appended" true for the usual case of NATS being down.
        self.is_connected().map_err(StoreError::Unavailable)?;
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
        let pending = self.inner.jetstream.send_publish(subject, publish).await;
        let acked = match pending {
            // Not handed to the connection: nothing was sent.
            Err(e) => Err(publish_error(e, conflict, size, max)),
            Ok(pending) => pending.await.map_err(|e| ack_error(e, conflict, size, max)),
        };
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

    /// The event at a position, with one direct get (and a read from the
    /// stream leader when that finds nothing).
    pub async fn get(&self, position: Position) -> Result<Option<Recorded>, StoreError> {
        let stream = self.stream(position.context).await?;
        let message = match bounded(self.timeout(), stream.direct_get(position.sequence)).await? {
            Ok(message) => message,
            // A direct get may be answered by any replica, and one behind the
            // leader does not have an event the leader just acknowledged (a
            // duplicate's ack names it at once). Only the leader's "not
            // found" is the answer.
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => {
                match bounded(self.timeout(), stream.get_raw_message(position.sequence)).await? {
                    Ok(message) => message,
                    Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => return Ok(None),
                    Err(e) => return Err(StoreError::Unavailable(format!("reading {position}: {e}"))),
                }
            }
            Err(e) => return Err(StoreError::Unavailable(format!("reading {position}: {e}"))),
        };
        Recorded::decode(Some(&message.headers), &message.payload, message.sequence).map(Some)
    }

    async fn stream(&self, context: Context) -> Result<stream::Stream<()>, StoreError> {
        let name = self.namespace().stream(context);
        self.inner
            .jetstream
            .get_stream_no_info(&name)
            .await
            .map_err(|e| StoreError::Config(format!("stream {name}: {e}")))
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

/// An append that was handed to the connection and then failed: the server's
/// own refusal (a stale version, no stream, a size limit, any JetStream API
/// error) means nothing was stored; no answer, or an unreadable one, means the
/// message may be stored now or later.
fn ack_error(
    error: jetstream::context::PublishError,
    conflict: impl FnOnce() -> StoreError,
    size: usize,
    max: usize,
) -> StoreError {
    use jetstream::context::PublishErrorKind as Kind;
    let refused_by_server = std::error::Error::source(&error).is_some_and(|s| s.is::<jetstream::Error>());
    match error.kind() {
        Kind::TimedOut | Kind::BrokenPipe => StoreError::OutcomeUnknown(error.to_string()),
        Kind::Other if !refused_by_server => StoreError::OutcomeUnknown(error.to_string()),
        _ => publish_error(error, conflict, size, max),
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
    fn a_server_below_the_floor_is_refused_with_what_to_do() {
        assert_eq!(supported("nats://x:4222", "2.11.0"), Ok(()));
        for old in ["2.9.10", "2.10.22", "unknown"] {
            let refused = supported("nats://x:4222", old).unwrap_err();
            assert!(matches!(refused, StoreError::ServerTooOld { .. }), "{old}");
            let message = refused.to_string();
            assert!(message.contains(old) && message.contains("nats://x:4222"), "{message}");
            assert!(message.contains("make services") && message.contains("PULSE_NATS_URL"), "{message}");
            assert!(message.contains(">= 2.11.0"), "{message}");
        }
    }
}
