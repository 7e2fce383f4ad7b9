//! Calendar events and RSVPs.

use crate::support::*;
use events::Aggregate;
use events::ids::EventId;
use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn at(hours_from_now: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::hours(hours_from_now)).format(&Rfc3339).unwrap()
}

fn details(capacity: Option<i64>) -> Value {
    json!({ "title": "Rust meetup", "description": "talks", "place": "Room 101", "starts_at": at(24), "ends_at": at(26), "capacity": capacity })
}

fn event_of(id: &str) -> Aggregate {
    Aggregate::event(EventId::parse(id).unwrap())
}

async fn rsvp(api: &Api, event: &str, user: &str, answer: &str) -> Reply {
    api.call(Method::PUT, &format!("/events/{event}/rsvp"), Some(user), Some(json!({ "rsvp": answer }))).await
}

#[tokio::test]
async fn going_is_refused_when_the_event_is_full_and_interested_still_works() {
    let api = spawn().await;
    let event = api.post("/events", "ana", details(Some(1))).await.id();
    rsvp(&api, &event, "ben", "going").await.accepted();
    rsvp(&api, &event, "carla", "going").await.problem(409, "event-full");
    rsvp(&api, &event, "carla", "interested").await.accepted();
    rsvp(&api, &event, "ben", "not_going").await.accepted();
    rsvp(&api, &event, "carla", "going").await.accepted();
    assert_eq!(
        api.event_names_of(&event_of(&event)).await,
        ["EventCreated", "RsvpChanged", "RsvpChanged", "RsvpChanged", "RsvpChanged"]
    );
}

#[tokio::test]
async fn racing_for_the_last_seat_seats_exactly_one() {
    let api = spawn_with(no_limits()).await;
    let event = api.post("/events", "ana", details(Some(1))).await.id();
    let (a, b) = tokio::join!(rsvp(&api, &event, "ben", "going"), rsvp(&api, &event, "carla", "going"));
    let statuses = [a.status.as_u16(), b.status.as_u16()];
    assert!(statuses.contains(&202) && statuses.contains(&409), "{statuses:?}");
    assert_eq!(api.event_names_of(&event_of(&event)).await.len(), 2);
}

#[tokio::test]
async fn only_the_organizer_updates_or_cancels_and_a_cancelled_event_takes_no_answers() {
    let api = spawn().await;
    let event = api.post("/events", "ana", details(None)).await.id();
    api.call(Method::PUT, &format!("/events/{event}"), Some("ben"), Some(details(Some(5))))
        .await
        .problem(403, "not-the-organizer");
    api.call(Method::PUT, &format!("/events/{event}"), Some("ana"), Some(details(Some(5)))).await.accepted();
    api.post(&format!("/events/{event}/cancel"), "ben", json!({})).await.problem(403, "not-the-organizer");
    api.post(&format!("/events/{event}/cancel"), "ana", json!({ "reason": "rain" })).await.accepted();
    rsvp(&api, &event, "ben", "going").await.problem(409, "event-cancelled");
    assert_eq!(api.event_names_of(&event_of(&event)).await, ["EventCreated", "EventUpdated", "EventCancelled"]);
}

#[tokio::test]
async fn schedules_and_capacities_are_checked_naming_the_field() {
    let api = spawn().await;
    let mut backwards = details(None);
    backwards["ends_at"] = json!(at(20));
    api.post("/events", "ana", backwards).await.problem(422, "invalid-schedule");
    let mut past = details(None);
    past["starts_at"] = json!(at(-5));
    past["ends_at"] = json!(at(-4));
    api.post("/events", "ana", past).await.problem(422, "starts-in-the-past");
    let zero = api.post("/events", "ana", details(Some(0))).await;
    zero.problem(422, "invalid-input");
    assert_eq!(zero.body["field"], "capacity");
    let mut bad_time = details(None);
    bad_time["starts_at"] = json!("tomorrow");
    let reply = api.post("/events", "ana", bad_time).await;
    reply.problem(422, "invalid-input");
    assert_eq!(reply.body["field"], "starts_at");
    rsvp(&api, &EventId::new().to_string(), "ben", "going").await.problem(404, "no-such-event");
    rsvp(&api, &EventId::new().to_string(), "ben", "maybe").await.problem(422, "invalid-input");
}

#[tokio::test]
async fn a_user_blocked_by_the_organizer_cannot_answer() {
    let api = spawn().await;
    let event = api.post("/events", "ana", details(None)).await.id();
    api.given_block("ana", "ben").await;
    rsvp(&api, &event, "ben", "interested").await.problem(403, "blocked");
}
