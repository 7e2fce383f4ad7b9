//! Reminders against a real NATS JetStream and a real SQLite read store:
//! set when someone answers going, moved with the event, silenced by a
//! changed answer or a cancellation, fired once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::content::{EventCancelled, EventCreated, EventDetails, EventUpdated, Rsvp, RsvpChanged};
use events::catalog::notifications::{NotificationCreated, NotificationKind};
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::{EventId, UserId};
use events::{Aggregate, Context, EventStore, Expected, Metadata, Recorded};
use notifier::Reminders;
use testkit::TestLog;
use time::{Duration, OffsetDateTime};

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

async fn record(log: &EventStore, aggregate: Aggregate, event: impl Into<DomainEvent>) -> Recorded {
    let appended = log.append(&aggregate, Expected::Any, event, &Metadata::new(None), None).await.unwrap();
    log.get(appended.position).await.unwrap().unwrap()
}

fn details(title: &str, starts_at: OffsetDateTime) -> EventDetails {
    EventDetails {
        title: title.into(),
        description: String::new(),
        place: "Hall".into(),
        starts_at,
        ends_at: starts_at + Duration::hours(2),
        capacity: None,
    }
}

async fn scheduled(log: &EventStore, title: &str, starts_at: OffsetDateTime) -> EventId {
    let event = EventId(uuid::Uuid::now_v7());
    let created = EventCreated { event, organizer: user("org"), details: details(title, starts_at) };
    record(log, Aggregate::event(event), created).await;
    event
}

async fn answer(log: &EventStore, reminders: &Reminders, event: EventId, who: &str, rsvp: Rsvp) {
    let recorded = record(log, Aggregate::event(event), RsvpChanged { event, user: user(who), rsvp }).await;
    reminders.run(&recorded).await.unwrap();
}

async fn notifications(log: &EventStore) -> Vec<NotificationCreated> {
    let patterns = ["notifications.notification.*".to_owned()];
    let backlog = log.read_after(Context::Notifications, &patterns, 0, 1_000).await.unwrap();
    (backlog.events.into_iter())
        .filter_map(|r| match r.event {
            DomainEvent::Notifications(NotificationEvent::NotificationCreated(created)) => Some(created),
            _ => None,
        })
        .collect()
}

async fn reminders(log: &TestLog) -> Reminders {
    let store = read_store::AnyStore::from(read_store::SqliteStore::in_memory().unwrap());
    let commands = commands::Commands::new(log.store.clone(), commands::Settings::default());
    Reminders::new(commands, store, Duration::hours(1)).await.unwrap()
}

#[tokio::test]
async fn those_still_going_are_reminded_once_a_lead_time_before_the_start() {
    let log = TestLog::new().await;
    let reminders = reminders(&log).await;
    let now = OffsetDateTime::now_utc();
    let party = scheduled(&log.store, "Party", now + Duration::minutes(90)).await;
    answer(&log.store, &reminders, party, "ana", Rsvp::Going).await;
    answer(&log.store, &reminders, party, "ben", Rsvp::Going).await;
    answer(&log.store, &reminders, party, "ben", Rsvp::NotGoing).await;
    answer(&log.store, &reminders, party, "cy", Rsvp::Interested).await;

    assert_eq!(reminders.fire_due(now).await.unwrap(), 0, "not due before the lead time");
    let due = now + Duration::minutes(31);
    assert_eq!(reminders.fire_due(due).await.unwrap(), 1, "one timer: ben's was dropped, cy is not going");
    assert_eq!(reminders.fire_due(due).await.unwrap(), 0, "fired timers are gone");

    let found = notifications(&log.store).await;
    let [reminded] = found.as_slice() else { panic!("{found:?}") };
    assert_eq!((reminded.recipient.as_str(), reminded.kind), ("ana", NotificationKind::EventReminder));
    assert_eq!(reminded.text, "Party starts in 59 minutes");
    assert_eq!(reminded.link.as_deref(), Some(format!("/events/{party}").as_str()));
}

#[tokio::test]
async fn a_moved_event_moves_its_reminders_and_a_cancelled_one_reminds_no_one() {
    let log = TestLog::new().await;
    let reminders = reminders(&log).await;
    let now = OffsetDateTime::now_utc();
    let talk = scheduled(&log.store, "Talk", now + Duration::minutes(90)).await;
    answer(&log.store, &reminders, talk, "ana", Rsvp::Going).await;
    let moved = EventUpdated { event: talk, details: details("Talk, moved", now + Duration::hours(5)) };
    let moved = record(&log.store, Aggregate::event(talk), moved).await;
    reminders.run(&moved).await.unwrap();
    let gone = scheduled(&log.store, "Gone", now + Duration::minutes(90)).await;
    answer(&log.store, &reminders, gone, "cy", Rsvp::Going).await;
    record(&log.store, Aggregate::event(gone), EventCancelled { event: gone, reason: None }).await;

    assert_eq!(reminders.fire_due(now + Duration::minutes(31)).await.unwrap(), 1, "the cancelled event's timer");
    assert!(notifications(&log.store).await.is_empty(), "cancelled: nobody is reminded");
    reminders.fire_due(now + Duration::hours(4) + Duration::minutes(1)).await.unwrap();
    let found = notifications(&log.store).await;
    let [reminded] = found.as_slice() else { panic!("{found:?}") };
    assert_eq!((reminded.recipient.as_str(), reminded.text.as_str()), ("ana", "Talk, moved starts in 59 minutes"));
}
