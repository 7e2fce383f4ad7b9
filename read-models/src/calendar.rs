//! Calendar events: each event's details, state and answer counts, who is
//! going, the upcoming events soonest first, and each user's answers.
//!
//! Collections: `events` (one per event: details, organizer, `starts_ms` as
//! a sortable number, `state` live or cancelled) and `rsvps` (id
//! `event:user`, one per user who answered: their current answer).
//!
//! Why counts are not counters: `RsvpChanged` carries the answer now, not
//! the one before, and a projection never reads while it applies, so it
//! cannot know which counter to move down. Each answer replaces the user's
//! `rsvps` document instead (a put, idempotent under the engine's marks), and
//! a count is the store's `count` of an event's documents with one answer,
//! along the `event, answer` index. Replay puts the same document again, so
//! the counts cannot drift. Ids are UUIDs and hold no `:`.
//!
//! Upcoming events: filters compare for equality only, so "starts after now"
//! is a position in the `state, starts_ms` order: the first page resumes
//! after `(now, ~)`, a cursor the store reads like one it made (every id
//! sorts before `~`).

use crate::projection::{Event, Generation, Projection};
use events::catalog::content::{ContentEvent, EventDetails, Rsvp};
use events::catalog::{Context, DomainEvent};
use read_store::cursor;
use read_store::{Collection, Direction, Document, Filter, IfMissing, Query, ReadStore, ReadStoreError, Update, Write};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

const EVENTS: &str = "events";
const RSVPS: &str = "rsvps";
const LIVE: &str = "live";
const CANCELLED: &str = "cancelled";
/// Sorts after every id (UUIDs are hex digits and `-`).
const AFTER_ANY_ID: &str = "~";

/// The calendar projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Calendar;

impl Projection for Calendar {
    fn name(&self) -> &'static str {
        "calendar"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Content]
    }

    fn collections(&self) -> Vec<Collection> {
        vec![
            Collection::new(EVENTS).index(&["state", "starts_ms"]),
            Collection::new(RSVPS).index(&["event", "answer", "seq"]).index(&["user", "seq"]),
        ]
    }

    fn apply(&self, event: Event<'_>) -> Vec<Write> {
        match event.event {
            DomainEvent::Content(e) => content_event(e, event),
            _ => Vec::new(),
        }
    }
}

fn content_event(e: &ContentEvent, at: Event<'_>) -> Vec<Write> {
    match e {
        ContentEvent::EventCreated(c) => {
            let mut updates = details(&c.details);
            updates.push(Update::Set("organizer".into(), json!(c.organizer.as_str())));
            updates.push(Update::Set("state".into(), json!(LIVE)));
            updates.push(Update::Set("created".into(), json!(timestamp(at.time))));
            vec![Write::update(EVENTS, &c.event.to_string(), updates, IfMissing::Create)]
        }
        ContentEvent::EventUpdated(u) => {
            vec![Write::update(EVENTS, &u.event.to_string(), details(&u.details), IfMissing::Skip)]
        }
        ContentEvent::EventCancelled(c) => {
            let updates =
                vec![Update::Set("state".into(), json!(CANCELLED)), Update::Set("reason".into(), json!(c.reason))];
            vec![Write::update(EVENTS, &c.event.to_string(), updates, IfMissing::Skip)]
        }
        ContentEvent::RsvpChanged(r) => {
            let (event, user) = (r.event.to_string(), r.user.as_str());
            let doc = json!({
                "event": event, "user": user, "answer": answer(r.rsvp), "seq": at.sequence, "at": timestamp(at.time),
            });
            vec![Write::put(RSVPS, &format!("{event}:{user}"), object(doc))]
        }
        _ => Vec::new(),
    }
}

fn details(d: &EventDetails) -> Vec<Update> {
    let fields = [
        ("title", json!(d.title)),
        ("description", json!(d.description)),
        ("place", json!(d.place)),
        ("starts_at", json!(timestamp(d.starts_at))),
        ("ends_at", json!(timestamp(d.ends_at))),
        ("starts_ms", json!(millis(d.starts_at))),
        ("capacity", json!(d.capacity)),
    ];
    fields.into_iter().map(|(field, value)| Update::Set(field.into(), value)).collect()
}

/// The stored name of an answer, as the API spells it.
pub fn answer(rsvp: Rsvp) -> &'static str {
    match rsvp {
        Rsvp::Going => "going",
        Rsvp::Interested => "interested",
        Rsvp::NotGoing => "not_going",
    }
}

fn millis(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn object(value: Value) -> Document {
    match value {
        Value::Object(doc) => doc,
        _ => Document::new(),
    }
}

fn timestamp(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// A calendar event with its answer counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CalendarEvent {
    /// The event id.
    pub event: String,
    /// Who organises it.
    pub organizer: String,
    /// Short title.
    pub title: String,
    /// Longer description.
    pub description: String,
    /// Where it happens.
    pub place: String,
    /// When it starts (RFC 3339).
    pub starts_at: String,
    /// When it ends (RFC 3339).
    pub ends_at: String,
    /// Most people who can be going; absent is unlimited.
    pub capacity: Option<u64>,
    /// `live` or `cancelled`.
    pub state: String,
    /// Why it was cancelled, if it was and a reason was given.
    pub reason: Option<String>,
    /// How many answered each way.
    pub counts: RsvpCounts,
}

/// How many people gave each answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RsvpCounts {
    /// Going.
    pub going: u64,
    /// Interested.
    pub interested: u64,
    /// Not going.
    pub not_going: u64,
}

/// A page of CalendarEvents.
pub type EventPage = crate::Page<CalendarEvent>;

/// One user's answer to one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Answer {
    /// The event id.
    pub event: String,
    /// The user id.
    pub user: String,
    /// `going`, `interested` or `not_going`.
    pub answer: String,
    /// When they gave it (RFC 3339).
    pub at: String,
}

/// A page of Answers.
pub type AnswerPage = crate::Page<Answer>;

/// The queries over one generation of the calendar projection.
pub struct CalendarQueries<'a, S> {
    store: &'a S,
    generation: Generation,
}

impl<'a, S: ReadStore> CalendarQueries<'a, S> {
    /// Queries over `generation` in `store`.
    pub fn new(store: &'a S, generation: Generation) -> Self {
        Self { store, generation }
    }

    /// One event with its counts, cancelled or not; `None` if unknown.
    pub async fn event(&self, id: &str) -> Result<Option<CalendarEvent>, ReadStoreError> {
        match self.store.get(&self.generation.collection(EVENTS), id).await? {
            Some(doc) => Ok(Some(self.view(id, &doc).await?)),
            None => Ok(None),
        }
    }

    /// One page of the live events starting after `now`, soonest first.
    pub async fn upcoming(
        &self,
        now: OffsetDateTime,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<EventPage, ReadStoreError> {
        let mut query = Query::new(Filter::all().eq("state", LIVE), "starts_ms", Direction::Ascending).limit(limit);
        let after = match cursor {
            Some(cursor) => cursor,
            None => cursor::encode(&query, &json!(millis(now)), AFTER_ANY_ID),
        };
        query = query.after(Some(after));
        let page = self.store.find(&self.generation.collection(EVENTS), &query).await?;
        let mut items = Vec::with_capacity(page.items.len());
        // Three counts per event, bounded by the page size.
        for found in &page.items {
            items.push(self.view(&found.id, &found.doc).await?);
        }
        Ok(EventPage { items, next: page.next })
    }

    /// One page of the people going to an event, first to answer first.
    pub async fn going(&self, event: &str, limit: u32, cursor: Option<String>) -> Result<AnswerPage, ReadStoreError> {
        let filter = Filter::all().eq("event", event).eq("answer", answer(Rsvp::Going));
        self.answers(Query::new(filter, "seq", Direction::Ascending).limit(limit).after(cursor)).await
    }

    /// One page of a user's answers, latest first.
    pub async fn answers_of(
        &self,
        user: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<AnswerPage, ReadStoreError> {
        let query = Query::new(Filter::all().eq("user", user), "seq", Direction::Descending);
        self.answers(query.limit(limit).after(cursor)).await
    }

    async fn answers(&self, query: Query) -> Result<AnswerPage, ReadStoreError> {
        let page = self.store.find(&self.generation.collection(RSVPS), &query).await?;
        let items = page
            .items
            .iter()
            .map(|found| Answer {
                event: text(&found.doc, "event").unwrap_or_default(),
                user: text(&found.doc, "user").unwrap_or_default(),
                answer: text(&found.doc, "answer").unwrap_or_default(),
                at: text(&found.doc, "at").unwrap_or_default(),
            })
            .collect();
        Ok(AnswerPage { items, next: page.next })
    }

    async fn counts(&self, event: &str) -> Result<RsvpCounts, ReadStoreError> {
        Ok(RsvpCounts {
            going: self.count(event, Rsvp::Going).await?,
            interested: self.count(event, Rsvp::Interested).await?,
            not_going: self.count(event, Rsvp::NotGoing).await?,
        })
    }

    async fn count(&self, event: &str, rsvp: Rsvp) -> Result<u64, ReadStoreError> {
        let filter = Filter::all().eq("event", event).eq("answer", answer(rsvp));
        self.store.count(&self.generation.collection(RSVPS), &filter).await
    }

    async fn view(&self, id: &str, doc: &Document) -> Result<CalendarEvent, ReadStoreError> {
        Ok(CalendarEvent {
            event: id.to_owned(),
            organizer: text(doc, "organizer").unwrap_or_default(),
            title: text(doc, "title").unwrap_or_default(),
            description: text(doc, "description").unwrap_or_default(),
            place: text(doc, "place").unwrap_or_default(),
            starts_at: text(doc, "starts_at").unwrap_or_default(),
            ends_at: text(doc, "ends_at").unwrap_or_default(),
            capacity: doc.get("capacity").and_then(Value::as_u64),
            state: text(doc, "state").unwrap_or_default(),
            reason: text(doc, "reason"),
            counts: self.counts(id).await?,
        })
    }
}

fn text(doc: &Document, field: &str) -> Option<String> {
    doc.get(field).and_then(Value::as_str).map(str::to_owned)
}
