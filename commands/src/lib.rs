//! Runs commands against aggregates: load the state, let `domain` decide,
//! append what it decided at the version it saw. The one loop behind every
//! command, whoever sends it (the REST API, the chat gateway's socket, the
//! projectors' reactions), so it knows nothing of HTTP. The outside facts
//! commands need ([`facts`]) and the chat commands both the API and the
//! gateway send ([`chat`]) live here for the same reason.
//!
//! Owns: optimistic-concurrency retries, idempotency across retries, the
//! aggregate cache ([`cache`]), the appended/conflict metrics.
//! Never touches: business rules (in `domain`), NATS (in `events`), status
//! codes (the caller maps [`CommandError`]).
//!
//! Losing a race (`Conflict`) means deciding again on the new state, a bounded
//! number of times. A retried request (same idempotency key) gets its first
//! result back: inside JetStream's duplicate window the server recognises it;
//! after it, the aggregate's latest keyed events do (see
//! [`cache::REMEMBERED_KEYS`]), and a create's key always does, because the
//! new id derives from it. A key reused for a different request is refused,
//! as the IETF Idempotency-Key draft asks, instead of answering for a request
//! the client did not send.

pub mod cache;
pub mod chat;
pub mod facts;

use cache::{AggregateCache, Snapshot};
use domain::Decider;
use events::{
    Aggregate, DomainEvent, EventStore, Expected, History, IdempotencyKey, IntoDomainEvent, Metadata, Position,
    StoreError,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Who asks, why, and with which idempotency key. One context serves one
/// request, however many commands it runs: once any of them has handed an
/// event to the store, a later failure cannot say "nothing was appended".
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// CloudEvents correlation, causation and actor.
    pub metadata: Metadata,
    /// The client's key, already scoped to the caller.
    pub key: Option<IdempotencyKey>,
    /// Whether the key was just made by the server for this request, so no
    /// earlier attempt can have used it.
    fresh: bool,
    sent: Arc<AtomicBool>,
}

impl CommandContext {
    /// The context of one request.
    pub fn new(metadata: Metadata, key: Option<IdempotencyKey>) -> Self {
        Self { metadata, key, fresh: false, sent: Arc::default() }
    }

    /// Says whether the key was made by the server for this very request
    /// ([`server_key`]): no earlier attempt can have used it, so its events
    /// carry it without JetStream deduplicating it (see
    /// [`IdempotencyKey::made_fresh`]); every append under it still expects a
    /// version, so a late copy of the publish is refused. A retry sends the
    /// key back as the client's own, and is deduplicated as any.
    #[must_use]
    pub fn fresh_key(mut self, fresh: bool) -> Self {
        self.fresh = fresh;
        self
    }

    /// Whether a command of this request has handed an event to the store
    /// (acknowledged or not).
    pub fn sent_anything(&self) -> bool {
        self.sent.load(Ordering::Relaxed)
    }

    /// A fresh id for a resource of `kind` that this command creates inside
    /// `parent` (the conversation of a message, the post of a comment; `""`
    /// for none). With an idempotency key the id derives from the key, so a
    /// retry addresses the same aggregate and finds its first result there;
    /// the parent is part of it, so one key used under two parents makes two
    /// resources, not one id in two places.
    pub fn new_id(&self, kind: &str, parent: &str) -> uuid::Uuid {
        match &self.key {
            Some(key) => {
                let name = format!("pulse:{kind}:{parent}:{}", key.as_str());
                uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes())
            }
            None => uuid::Uuid::now_v7(),
        }
    }
}

/// A client's idempotency key (a REST `Idempotency-Key`, a chat frame's
/// `client_id`) made unique to `scope` (the caller's user id), so two callers
/// never collide on one. The client's part is 1 to 100 printable ASCII
/// characters without spaces; the error says so.
pub fn scoped_key(scope: &str, raw: &str) -> std::result::Result<IdempotencyKey, &'static str> {
    const RULE: &str = "must be 1 to 100 printable ASCII characters without spaces";
    if raw.len() > 100 || IdempotencyKey::parse(raw).is_err() {
        return Err(RULE);
    }
    IdempotencyKey::parse(&format!("{scope}:{raw}")).map_err(|_| RULE)
}

/// A fresh key for a command whose client sent none, in the client key space
/// (`pulse-` and a UUID v7): the server uses it as the client's own and hands
/// it back, so a command whose outcome is unknown can be retried safely.
pub fn server_key() -> String {
    format!("pulse-{}", uuid::Uuid::now_v7().simple())
}

/// What a command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The position of the event appended (or, when nothing changed, of the
    /// aggregate's last event): the consistency token.
    pub position: Position,
    /// Whether this request appended nothing because it repeats an earlier one.
    pub replayed: bool,
    /// Whether the aggregate changed (false for a command already satisfied).
    pub changed: bool,
}

/// Why a command did not run. `R` is the aggregate's rejection.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<R> {
    /// The domain refused: an answer, not a failure.
    #[error("{0}")]
    Rejected(R),
    /// The idempotency key was used before for a different request.
    #[error("this idempotency key was used for a different request")]
    KeyReused,
    /// The event store failed, or the race was lost too many times.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How commands run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Times a command is decided again after losing a race.
    pub conflict_retries: u32,
    /// Aggregates whose state the process keeps (0: no cache).
    pub cache_capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { conflict_retries: 3, cache_capacity: 10_000 }
    }
}

/// What the runner counts, for the service to register in its registry.
/// Every label comes from a closed set (event names of the catalogue, hit or
/// miss).
#[derive(Clone, Default)]
pub struct CommandMetrics {
    /// Events appended, by type.
    pub appended: Family<EventLabels, Counter>,
    /// Appends that lost an optimistic-concurrency race.
    pub conflicts: Counter,
    /// Aggregate loads, by whether the cache had the state.
    pub loads: Family<LoadLabels, Counter>,
}

/// The `event` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    event: &'static str,
}

/// The `cache` label: `hit` or `miss`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoadLabels {
    cache: &'static str,
}

/// The command runner. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Commands {
    inner: Arc<Inner>,
}

struct Inner {
    store: EventStore,
    cache: AggregateCache,
    settings: Settings,
    metrics: CommandMetrics,
}

/// Whether the aggregate is known to be new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Load it (from the cache when it can).
    Load,
    /// It is new: skip the load.
    New,
}

type Result<T, R> = std::result::Result<T, CommandError<R>>;

impl Commands {
    /// A runner over `store`.
    pub fn new(store: EventStore, settings: Settings) -> Self {
        let cache = AggregateCache::new(settings.cache_capacity);
        Self { inner: Arc::new(Inner { store, cache, settings, metrics: CommandMetrics::default() }) }
    }

    /// The event store.
    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    /// The counters, to register with the service's metrics.
    pub fn metrics(&self) -> &CommandMetrics {
        &self.inner.metrics
    }

    /// An aggregate's current state, for reading outside facts before a
    /// command.
    pub async fn current<D: Decider>(&self, aggregate: &Aggregate) -> std::result::Result<D, StoreError> {
        Ok(self.load::<D>(aggregate).await?.state)
    }

    /// Runs `command` against an existing (or not yet existing) aggregate.
    pub async fn execute<D: Decider>(
        &self,
        context: &CommandContext,
        aggregate: &Aggregate,
        command: D::Command,
    ) -> Result<Outcome, D::Rejection> {
        self.run::<D>(context, aggregate, command, Start::Load).await
    }

    /// Runs a command that creates an aggregate under a new id
    /// ([`CommandContext::new_id`]). Its state is known to be empty, so the
    /// load is skipped, which saves the command path one NATS round trip.
    ///
    /// With a key the append expects version 0: a retry finds the aggregate
    /// there, loses, and is answered from its first event. Without a key (a
    /// reaction, a test) the id is a fresh UUID v7 nobody else can address, so
    /// nothing is expected.
    pub async fn create<D: Decider>(
        &self,
        context: &CommandContext,
        aggregate: &Aggregate,
        command: D::Command,
    ) -> Result<Outcome, D::Rejection> {
        self.run::<D>(context, aggregate, command, Start::New).await
    }

    async fn run<D: Decider>(
        &self,
        context: &CommandContext,
        aggregate: &Aggregate,
        command: D::Command,
        start: Start,
    ) -> Result<Outcome, D::Rejection> {
        match self.decide_and_append::<D>(context, aggregate, command, start).await {
            // This request already sent an event (an earlier command of it, or
            // an earlier event of this one): "not appended" would be untrue.
            Err(CommandError::Store(StoreError::Unavailable(why))) if context.sent_anything() => {
                Err(StoreError::OutcomeUnknown(format!("after an earlier append of this request: {why}")).into())
            }
            answered => answered,
        }
    }

    async fn decide_and_append<D: Decider>(
        &self,
        context: &CommandContext,
        aggregate: &Aggregate,
        command: D::Command,
        mut start: Start,
    ) -> Result<Outcome, D::Rejection> {
        let key =
            context.key.as_ref().map(|k| if context.fresh { k.on(aggregate).made_fresh() } else { k.on(aggregate) });
        let mut last_seen = 0;
        for _attempt in 0..=self.inner.settings.conflict_retries {
            let (snapshot, expected) = match start {
                Start::New if key.is_some() => (Snapshot::<D>::empty(), Expected::Version(0)),
                Start::New => (Snapshot::<D>::empty(), Expected::Any),
                Start::Load => {
                    let snapshot = self.load::<D>(aggregate).await?;
                    if let Some(key) = key.as_ref().filter(|k| snapshot.knows(k))
                        && let Some(outcome) = self.replay::<D>(aggregate, key, &command).await?
                    {
                        return Ok(outcome);
                    }
                    last_seen = snapshot.version;
                    (snapshot, Expected::Version(last_seen))
                }
            };
            let decided = snapshot.state.decide(command.clone()).map_err(CommandError::Rejected)?;
            match self.append_all::<D>(context, aggregate, key.as_ref(), expected, snapshot, decided).await {
                Err(CommandError::Store(StoreError::Conflict { .. })) => {
                    self.inner.metrics.conflicts.inc();
                    self.inner.cache.forget::<D>(aggregate);
                    if let (Start::New, Some(key)) = (start, key.as_ref())
                        && let Some(outcome) = self.created_under::<D>(aggregate, key, &command).await?
                    {
                        return Ok(outcome);
                    }
                    start = Start::Load;
                }
                Err(other) => return Err(other),
                Ok(outcome) => return Ok(outcome),
            }
        }
        Err(StoreError::Conflict { aggregate: aggregate.to_string(), expected: last_seen }.into())
    }

    /// The aggregate's state: the cached one brought up to date with the
    /// events after it (one direct get when there are none), or the whole
    /// history folded.
    async fn load<D: Decider>(&self, aggregate: &Aggregate) -> std::result::Result<Snapshot<D>, StoreError> {
        let cache = &self.inner.cache;
        let (mut snapshot, hit) = match cache.get::<D>(aggregate) {
            Some(snapshot) => (snapshot, true),
            None => (Snapshot::empty(), false),
        };
        let label = LoadLabels { cache: if hit { "hit" } else { "miss" } };
        self.inner.metrics.loads.get_or_create(&label).inc();
        let newer = self.inner.store.load_after(aggregate, snapshot.version).await?;
        if hit && newer.events.is_empty() {
            return Ok(snapshot);
        }
        newer.events.iter().for_each(|recorded| snapshot.apply(recorded));
        cache.put(aggregate, snapshot.clone());
        Ok(snapshot)
    }

    /// Answers a retry from the full history: the event appended under the
    /// key, if deciding the command again on the state before it gives that
    /// event (decisions are pure, so the same request gives the same event).
    /// `None` when the key is not there after all.
    async fn replay<D: Decider>(
        &self,
        aggregate: &Aggregate,
        key: &IdempotencyKey,
        command: &D::Command,
    ) -> Result<Option<Outcome>, D::Rejection> {
        let history: History = self.inner.store.load(aggregate).await?;
        let Some(at) = history.events.iter().position(|r| r.idempotency_key.as_deref() == Some(key.as_str())) else {
            return Ok(None);
        };
        let before = D::fold(history.events[..at].iter().filter_map(|r| D::Event::peel(&r.event)));
        same_request(&history.events[at].event, before.decide(command.clone()))?;
        Ok(Some(Outcome { position: history.events[at].position, replayed: true, changed: true }))
    }

    /// A keyed create that lost: if the aggregate's first event carries the
    /// key, this is a retry, answered from it with one direct get however
    /// long the aggregate's history has grown since.
    async fn created_under<D: Decider>(
        &self,
        aggregate: &Aggregate,
        key: &IdempotencyKey,
        command: &D::Command,
    ) -> Result<Option<Outcome>, D::Rejection> {
        let Some(first) = self.inner.store.first(aggregate).await? else { return Ok(None) };
        if first.idempotency_key.as_deref() != Some(key.as_str()) {
            return Ok(None);
        }
        same_request(&first.event, D::default().decide(command.clone()))?;
        Ok(Some(Outcome { position: first.position, replayed: true, changed: true }))
    }

    /// Appends decided events one after the other: the first as `expected`
    /// says, each later one expecting the one before; then keeps the state
    /// they lead to. With nothing decided, the outcome is the aggregate's last
    /// position, unchanged.
    async fn append_all<D: Decider>(
        &self,
        context: &CommandContext,
        aggregate: &Aggregate,
        key: Option<&IdempotencyKey>,
        mut expected: Expected,
        mut snapshot: Snapshot<D>,
        decided: Vec<D::Event>,
    ) -> Result<Outcome, D::Rejection> {
        let unchanged = Position { context: aggregate.context(), sequence: snapshot.version };
        let mut outcome = Outcome { position: unchanged, replayed: false, changed: false };
        let checked = expected != Expected::Any;
        let last = decided.len().saturating_sub(1);
        for (i, event) in decided.into_iter().enumerate() {
            let part = key.map(|k| if i == 0 { k.clone() } else { k.part(&i.to_string()) });
            // The event is kept to fold into the cached state (checked appends)
            // or to compare with a duplicate's (keyed ones); a create under a
            // fresh id, the hot path, needs neither and pays no copy.
            let kept = (checked || part.is_some()).then(|| event.clone());
            let domain_event = event.into_domain();
            let name = domain_event.name();
            let store = &self.inner.store;
            let appended = store.append(aggregate, expected, domain_event, &context.metadata, part.as_ref()).await;
            if matches!(appended, Ok(_) | Err(StoreError::OutcomeUnknown(_))) {
                context.sent.store(true, Ordering::Relaxed);
            }
            let appended = appended.inspect_err(|_| self.inner.cache.forget::<D>(aggregate))?;
            if appended.duplicate {
                // JetStream recognised the key: a repeat only if the stored
                // event is the one decided now. The outcome is that of the
                // last event, so the last one decided is compared.
                self.inner.cache.forget::<D>(aggregate);
                if i == last {
                    let stored = store.get(appended.position).await?;
                    if stored.map(|s| s.event) != kept.map(IntoDomainEvent::into_domain) {
                        return Err(CommandError::KeyReused);
                    }
                }
            } else {
                self.inner.metrics.appended.get_or_create(&EventLabels { event: name }).inc();
                if let Some(event) = &kept {
                    snapshot.fold(event, appended.position.sequence, part.as_ref().map(IdempotencyKey::as_str));
                }
            }
            expected = Expected::Version(appended.position.sequence);
            outcome = Outcome { position: appended.position, replayed: appended.duplicate, changed: true };
        }
        // Only a checked append proves nothing came in between; a state after
        // an unchecked one is left for the next load to read.
        if checked && outcome.changed && !outcome.replayed {
            self.inner.cache.put(aggregate, snapshot);
        }
        Ok(outcome)
    }
}

/// Refuses a repeated idempotency key unless it repeats the first request:
/// the command decided again on the state the first request saw must give the
/// event the first request appended.
fn same_request<E: IntoDomainEvent, R>(first: &DomainEvent, again: std::result::Result<Vec<E>, R>) -> Result<(), R> {
    match again {
        // Refused now: the outside facts the command carries (a block, a role)
        // changed since. The key still names the first request; answer for it.
        Err(_) => Ok(()),
        Ok(events) => match events.into_iter().next().map(IntoDomainEvent::into_domain) {
            Some(event) if event == *first => Ok(()),
            _ => Err(CommandError::KeyReused),
        },
    }
}
