//! The calendar projection on both real stores, SQLite and MongoDB: answer
//! counts that follow changed answers, upcoming events, and that replaying
//! the history, whole or from the middle, changes nothing.

#![allow(clippy::unwrap_used)]

use events::catalog::DomainEvent;
use events::catalog::content::{EventCancelled, EventCreated, EventDetails, EventUpdated, Rsvp, RsvpChanged};
use events::ids::{EventId, UserId};
use read_models::Generation;
use read_models::calendar::{Calendar, CalendarQueries, RsvpCounts};
use read_store::{AnyStore, ReadStore};
use time::{Duration, OffsetDateTime};

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

/// The moment the tests call now.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn details(title: &str, starts_in_hours: i64) -> EventDetails {
    let starts_at = now() + Duration::hours(starts_in_hours);
    EventDetails {
        title: title.into(),
        description: String::new(),
        place: "Hall".into(),
        starts_at,
        ends_at: starts_at + Duration::hours(1),
        capacity: Some(50),
    }
}

fn created(event: EventId, title: &str, starts_in_hours: i64) -> DomainEvent {
    EventCreated { event, organizer: user("ana"), details: details(title, starts_in_hours) }.into()
}

fn rsvp(event: EventId, who: &str, rsvp: Rsvp) -> DomainEvent {
    RsvpChanged { event, user: user(who), rsvp }.into()
}

async fn apply(store: &AnyStore, history: &[DomainEvent]) {
    testkit::read_stores::apply_history(store, &[&Calendar], history).await;
}

testkit::on_both_stores!(
    counts_follow_each_users_latest_answer,
    upcoming_is_live_events_after_now_soonest_first_in_pages,
    a_users_answers_are_latest_first,
    replaying_the_whole_history_or_any_suffix_changes_nothing,
);

async fn ready(store: AnyStore) -> AnyStore {
    store.ensure(&Generation::FIRST.collections(&Calendar)).await.unwrap();
    store
}

struct Story {
    party: EventId,
    talk: EventId,
    past: EventId,
    gone: EventId,
    events: Vec<DomainEvent>,
}

fn story() -> Story {
    let (party, talk, past, gone) = (EventId::new(), EventId::new(), EventId::new(), EventId::new());
    let events = vec![
        created(party, "Party", 48),
        created(talk, "Talk", 2),
        created(past, "Yesterday", -24),
        created(gone, "Cancelled", 5),
        rsvp(party, "ben", Rsvp::Going),
        rsvp(party, "cy", Rsvp::Interested),
        rsvp(party, "dee", Rsvp::Going),
        rsvp(party, "cy", Rsvp::Going),
        rsvp(party, "ben", Rsvp::NotGoing),
        rsvp(talk, "ben", Rsvp::Going),
        EventUpdated { event: talk, details: details("Talk, moved", 3) }.into(),
        EventCancelled { event: gone, reason: Some("rain".into()) }.into(),
    ];
    Story { party, talk, past, gone, events }
}

async fn snapshot(store: &AnyStore) -> Vec<((String, String), read_store::Document)> {
    read_models::snapshot(store, &Calendar, Generation::FIRST).await.unwrap().into_iter().collect()
}

async fn counts_follow_each_users_latest_answer<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    let s = story();
    apply(&store, &s.events).await;
    let queries = CalendarQueries::new(&store, Generation::FIRST);

    let party = queries.event(&s.party.to_string()).await.unwrap().unwrap();
    assert_eq!(party.counts, RsvpCounts { going: 2, interested: 0, not_going: 1 });
    let going = queries.going(&s.party.to_string(), 20, None).await.unwrap();
    let who: Vec<_> = going.items.iter().map(|a| a.user.as_str()).collect();
    assert_eq!(who, ["dee", "cy"], "in the order they answered going");

    let gone = queries.event(&s.gone.to_string()).await.unwrap().unwrap();
    assert_eq!((gone.state.as_str(), gone.reason.as_deref()), ("cancelled", Some("rain")));
    assert!(queries.event(&EventId::new().to_string()).await.unwrap().is_none());
}

async fn upcoming_is_live_events_after_now_soonest_first_in_pages<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    let s = story();
    apply(&store, &s.events).await;
    let queries = CalendarQueries::new(&store, Generation::FIRST);

    let first = queries.upcoming(now(), 1, None).await.unwrap();
    assert_eq!(first.items[0].event, s.talk.to_string());
    assert_eq!(first.items[0].title, "Talk, moved");
    let second = queries.upcoming(now(), 1, first.next).await.unwrap();
    assert_eq!(second.items[0].event, s.party.to_string());
    assert_eq!(second.next, None, "neither the past nor the cancelled event: {:?}", s.past);
}

async fn a_users_answers_are_latest_first<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    let s = story();
    apply(&store, &s.events).await;
    let queries = CalendarQueries::new(&store, Generation::FIRST);

    let ben = queries.answers_of("ben", 20, None).await.unwrap();
    let answers: Vec<_> = ben.items.iter().map(|a| (a.event.clone(), a.answer.as_str())).collect();
    assert_eq!(answers, [(s.talk.to_string(), "going"), (s.party.to_string(), "not_going")]);
}

async fn replaying_the_whole_history_or_any_suffix_changes_nothing<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let history = story().events;
    let once = ready(fresh().await).await;
    apply(&once, &history).await;
    let expected = snapshot(&once).await;

    let replayed = ready(fresh().await).await;
    apply(&replayed, &history).await;
    apply(&replayed, &history).await;
    assert_eq!(snapshot(&replayed).await, expected);
    for from in 1..history.len() {
        let partial = ready(fresh().await).await;
        apply(&partial, &history[..from]).await;
        apply(&partial, &history).await;
        assert_eq!(snapshot(&partial).await, expected, "after a crash following event {from}");
    }
}
