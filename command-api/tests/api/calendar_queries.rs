//! Queries over the calendar projection, with the projectors running:
//! upcoming events, one event with its counts and people going, and a user's
//! answers, each read right after the command it follows.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn at(hours_from_now: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::hours(hours_from_now)).format(&Rfc3339).unwrap()
}

fn details(title: &str, starts_in_hours: i64) -> Value {
    json!({ "title": title, "place": "Room 101", "starts_at": at(starts_in_hours), "ends_at": at(starts_in_hours + 2) })
}

async fn rsvp(api: &Api, event: &str, user: &str, answer: &str) -> Reply {
    let reply =
        api.call(Method::PUT, &format!("/events/{event}/rsvp"), Some(user), Some(json!({ "rsvp": answer }))).await;
    reply.accepted();
    reply
}

#[tokio::test]
async fn upcoming_lists_live_events_soonest_first_and_leaves_out_cancelled_ones() {
    let api = spawn().await;
    let later = api.post("/events", "ana", details("Later", 48)).await.id();
    let soon = api.post("/events", "ana", details("Soon", 2)).await.id();
    let off = api.post("/events", "ana", details("Off", 5)).await.id();
    let cancelled = api.post(&format!("/events/{off}/cancel"), "ana", json!({})).await;
    cancelled.accepted();

    let first = api.get("/events/upcoming?limit=1", "ben", Some(&cancelled.position())).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.headers["pulse-consistency"], "caught-up");
    assert_eq!(first.body["items"][0]["event"], soon);
    let cursor = first.body["next"].as_str().expect("a next page").to_owned();
    let second = api.get(&format!("/events/upcoming?limit=1&cursor={cursor}"), "ben", None).await;
    assert_eq!(second.body["items"][0]["event"], later, "{:?}", second.body);
    assert_eq!(second.body["next"], Value::Null);
}

#[tokio::test]
async fn one_event_shows_counts_that_follow_changed_answers_and_the_people_going() {
    let api = spawn().await;
    let event = api.post("/events", "ana", details("Meetup", 24)).await.id();
    rsvp(&api, &event, "ben", "going").await;
    rsvp(&api, &event, "cy", "interested").await;
    rsvp(&api, &event, "cy", "going").await;
    let last = rsvp(&api, &event, "ben", "not_going").await;

    let read = api.get(&format!("/events/{event}"), "dee", Some(&last.position())).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body["title"], "Meetup");
    assert_eq!(read.body["state"], "live");
    assert_eq!(read.body["counts"], json!({"going": 1, "interested": 0, "not_going": 1}));
    assert_eq!(read.body["going"]["items"][0]["user"], "cy");
    assert_eq!(read.body["going"]["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn everyone_going_can_be_paged_past_the_first_twenty_the_event_shows() {
    let api = spawn().await;
    let event = api.post("/events", "ana", details("Big", 24)).await.id();
    let mut last = None;
    for n in 0..23 {
        last = Some(rsvp(&api, &event, &format!("guest{n:02}"), "going").await);
    }
    let position = last.unwrap().position();

    let shown = api.get(&format!("/events/{event}"), "dee", Some(&position)).await;
    assert_eq!(shown.body["going"]["items"].as_array().unwrap().len(), 20, "{:?}", shown.body);
    let next = shown.body["going"]["next"].as_str().expect("more people going").to_owned();
    let rest = api.get(&format!("/events/{event}/going?cursor={next}"), "dee", None).await;

    assert_eq!(rest.status, 200, "{:?}", rest.body);
    let users: Vec<_> = rest.body["items"].as_array().unwrap().iter().map(|a| a["user"].clone()).collect();
    assert_eq!(users, [json!("guest20"), json!("guest21"), json!("guest22")]);
    assert_eq!(rest.body["next"], Value::Null);
    let first_two = api.get(&format!("/events/{event}/going?limit=2"), "dee", None).await;
    assert_eq!(first_two.body["items"][1]["user"], "guest01", "{:?}", first_two.body);
    api.get(&format!("/users/guest00/rsvps?cursor={next}"), "dee", None).await.problem(400, "invalid-cursor");
    let other = api.post("/events", "ana", details("Other", 30)).await;
    let (position, other) = (other.position(), other.id());
    let foreign = api.get(&format!("/events/{other}/going?cursor={next}"), "dee", Some(&position)).await;
    foreign.problem(400, "invalid-cursor");
    let nowhere = uuid::Uuid::now_v7();
    api.get(&format!("/events/{nowhere}/going"), "dee", None).await.problem(404, "not-found");
}

#[tokio::test]
async fn a_users_answers_are_listed_latest_first() {
    let api = spawn().await;
    let first = api.post("/events", "ana", details("First", 24)).await.id();
    let second = api.post("/events", "ana", details("Second", 30)).await.id();
    rsvp(&api, &first, "ben", "going").await;
    let last = rsvp(&api, &second, "ben", "interested").await;

    let read = api.get("/users/ben/rsvps", "cy", Some(&last.position())).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let answers: Vec<_> =
        read.body["items"].as_array().unwrap().iter().map(|a| (a["event"].clone(), a["answer"].clone())).collect();
    assert_eq!(answers, [(json!(second), json!("interested")), (json!(first), json!("going"))]);
}

#[tokio::test]
async fn bad_calendar_query_input_is_a_problem_never_a_server_error() {
    let api = spawn().await;
    api.get("/events/not-a-uuid", "ana", None).await.problem(422, "invalid-input");
    let unknown = events::ids::EventId::new();
    api.get(&format!("/events/{unknown}"), "ana", None).await.problem(404, "not-found");
    api.get("/events/upcoming?limit=101", "ana", None).await.problem(422, "invalid-input");
    api.get("/events/upcoming?cursor=garbage", "ana", None).await.problem(400, "invalid-cursor");
    api.get("/users/Not%20A%20User/rsvps", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/ben/rsvps?limit=x", "ana", None).await.problem(400, "malformed-request");
}
