//! Load, decide, append: the one shape of every command handler.
//!
//! [`execute`] loads the aggregate's history, folds it with `evolve`, lets
//! `decide` answer, and appends what it decided at the version it saw. Losing a
//! race (`Conflict`) means deciding again on the new state, a bounded number of
//! times. A retried request (same idempotency key) finds its first event in the
//! aggregate's own history and gets that result back, so idempotency lasts as
//! long as the log, not just JetStream's duplicate window. A key reused for a
//! different request is refused (422), as the IETF Idempotency-Key draft asks,
//! instead of answering for a request the client did not send.

use crate::App;
use crate::error::ApiError;
use events::{
    Aggregate, DomainEvent, Expected, History, IdempotencyKey, IntoDomainEvent, Metadata, Position, Recorded,
    StoreError,
};

/// Who asks, why, and with which idempotency key.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// CloudEvents correlation, causation and actor.
    pub metadata: Metadata,
    /// The client's key, already scoped to the caller.
    pub key: Option<IdempotencyKey>,
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

/// An aggregate's current state, for reading outside facts before a command.
pub async fn current<S, E>(app: &App, aggregate: &Aggregate, evolve: impl Fn(S, &E) -> S) -> Result<S, ApiError>
where
    S: Default,
    E: IntoDomainEvent,
{
    Ok(state_after(&app.events().load(aggregate).await?.events, evolve))
}

/// The state `events` fold to.
pub fn state_after<S: Default, E: IntoDomainEvent>(events: &[Recorded], evolve: impl Fn(S, &E) -> S) -> S {
    events.iter().filter_map(|r| E::peel(&r.event)).fold(S::default(), evolve)
}

/// Where in `history` the event appended under `key` is, if it is there.
pub fn keyed(history: &History, key: &IdempotencyKey) -> Option<usize> {
    history.events.iter().position(|r| r.idempotency_key.as_deref() == Some(key.as_str()))
}

/// Runs one command against one aggregate.
pub async fn execute<S, E, R>(
    app: &App,
    context: &CommandContext,
    aggregate: &Aggregate,
    evolve: impl Fn(S, &E) -> S,
    decide: impl Fn(&S) -> Result<Vec<E>, R>,
) -> Result<Outcome, ApiError>
where
    S: Default,
    E: IntoDomainEvent,
    R: Into<ApiError>,
{
    let key = context.key.as_ref().map(|k| k.on(aggregate));
    let mut version = 0;
    for _attempt in 0..=app.config().conflict_retries {
        let history = app.events().load(aggregate).await?;
        version = history.version;
        if let Some(at) = key.as_ref().and_then(|key| keyed(&history, key)) {
            let first = &history.events[at];
            same_request(&first.event, decide(&state_after(&history.events[..at], &evolve)))?;
            return Ok(Outcome { position: first.position, replayed: true, changed: true });
        }
        let decided = decide(&state_after(&history.events, &evolve)).map_err(Into::into)?;
        let last = key.as_ref().and_then(|_| decided.last()).map(|e| e.clone().into_domain());
        match append_all(app, context, aggregate, key.as_ref(), Expected::Version(history.version), decided).await {
            Err(StoreError::Conflict { .. }) => app.count_conflict(),
            Err(other) => return Err(other.into()),
            Ok(Some(outcome)) => return replayed_or_new(app, outcome, last).await,
            Ok(None) => {
                let position = Position { context: aggregate.context(), sequence: history.version };
                return Ok(Outcome { position, replayed: false, changed: false });
            }
        }
    }
    Err(StoreError::Conflict { aggregate: aggregate.to_string(), expected: version }.into())
}

/// Runs a command that creates an aggregate under a new id: a fresh UUID v7
/// when the request has no idempotency key, else one derived from the key
/// (`routes::posts::new_id`). Its state is known to be empty, so the load is
/// skipped, which saves the command path one NATS round trip.
///
/// With a key, the append expects version 0: a retry after JetStream's
/// duplicate window finds the aggregate there, loses, and falls back to
/// [`execute`], which answers from the history. Without a key the id has 74
/// random bits and no one else can address it, so nothing is expected: the
/// check would cost nats-server 2.9 a lookup of the subject's last message on
/// every create (measured: about a third of its user CPU per post).
pub async fn create<S, E, R>(
    app: &App,
    context: &CommandContext,
    aggregate: &Aggregate,
    evolve: impl Fn(S, &E) -> S,
    decide: impl Fn(&S) -> Result<Vec<E>, R>,
) -> Result<Outcome, ApiError>
where
    S: Default,
    E: IntoDomainEvent,
    R: Into<ApiError>,
{
    let key = context.key.as_ref().map(|k| k.on(aggregate));
    let decided = decide(&S::default()).map_err(Into::into)?;
    let last = key.as_ref().and_then(|_| decided.last()).map(|e| e.clone().into_domain());
    let expected = if key.is_some() { Expected::Version(0) } else { Expected::Any };
    match append_all(app, context, aggregate, key.as_ref(), expected, decided).await {
        Ok(Some(outcome)) => replayed_or_new(app, outcome, last).await,
        Ok(None) => Ok(Outcome {
            position: Position { context: aggregate.context(), sequence: 0 },
            replayed: false,
            changed: false,
        }),
        Err(StoreError::Conflict { .. }) => execute(app, context, aggregate, evolve, decide).await,
        Err(other) => Err(other.into()),
    }
}

/// Refuses a repeated idempotency key unless it repeats the first request:
/// the command decided again on the state the first request saw must give the
/// event the first request appended. Decisions are pure, so the same request
/// gives the same event.
fn same_request<E: IntoDomainEvent, R>(first: &DomainEvent, again: Result<Vec<E>, R>) -> Result<(), ApiError> {
    match again {
        // Refused now: the outside facts the command carries (a block, a role)
        // changed since. The key still names the first request; answer for it.
        Err(_) => Ok(()),
        Ok(events) => match events.into_iter().next().map(IntoDomainEvent::into_domain) {
            Some(event) if event == *first => Ok(()),
            _ => Err(ApiError::IdempotencyKeyReused),
        },
    }
}

/// An append JetStream reported as a duplicate (same `Nats-Msg-Id` inside its
/// window) is a repeat only if the stored event is the one decided now. The
/// outcome is that of the last event appended, so `decided` is the last one
/// decided.
async fn replayed_or_new(app: &App, outcome: Outcome, decided: Option<DomainEvent>) -> Result<Outcome, ApiError> {
    if !outcome.replayed {
        return Ok(outcome);
    }
    let stored = app.events().get(outcome.position).await?;
    match (stored, decided) {
        (Some(stored), Some(decided)) if stored.event == decided => Ok(outcome),
        _ => Err(ApiError::IdempotencyKeyReused),
    }
}

/// Appends decided events one after the other: the first as `expected` says,
/// each later one expecting the one before. `None` when there was nothing to
/// append.
async fn append_all<E: IntoDomainEvent>(
    app: &App,
    context: &CommandContext,
    aggregate: &Aggregate,
    key: Option<&IdempotencyKey>,
    mut expected: Expected,
    decided: Vec<E>,
) -> Result<Option<Outcome>, StoreError> {
    let mut outcome = None;
    for (i, event) in decided.into_iter().enumerate() {
        let event = event.into_domain();
        let name = event.name();
        let part = key.map(|k| if i == 0 { k.clone() } else { k.part(&i.to_string()) });
        let appended = app.events().append(aggregate, expected, event, &context.metadata, part.as_ref()).await?;
        if !appended.duplicate {
            app.count_appended(name);
        }
        expected = Expected::Version(appended.position.sequence);
        outcome = Some(Outcome { position: appended.position, replayed: appended.duplicate, changed: true });
    }
    Ok(outcome)
}
