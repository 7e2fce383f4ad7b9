//! Registration, profiles, settings, follows and blocks.

use crate::support::*;
use events::catalog::UserEvent;
use events::ids::{Handle, UserId};
use events::{Aggregate, DomainEvent};
use reqwest::Method;
use serde_json::json;

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

async fn register(api: &Api, id: &str, body: serde_json::Value) -> Reply {
    api.post("/users/me", id, body).await
}

async fn registered_handle(api: &Api, id: &str) -> String {
    let events = api.events_of(&Aggregate::user(&user(id))).await;
    let Some(DomainEvent::Users(UserEvent::UserRegistered(e))) = events.first() else { panic!("{events:?}") };
    e.handle.to_string()
}

#[tokio::test]
async fn a_registration_retried_with_its_idempotency_key_answers_the_first_result() {
    let api = spawn().await;
    let send = || api.send(Method::POST, "/users/me", Some(api.token("u-kim")), Some(json!({})), Some("reg-1"));
    let first = send().await;
    let again = send().await;
    first.accepted();
    again.accepted();
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["position"], first.body["position"]);
    assert_eq!(api.events_of(&Aggregate::user(&user("u-kim"))).await.len(), 1);
}

#[tokio::test]
async fn registering_takes_a_handle_from_the_token_and_registering_again_changes_nothing() {
    let api = spawn().await;
    let first = register(&api, "u-ana", json!({})).await;
    first.accepted();
    assert_eq!(first.body["changed"], true);
    // The token's name is "u-ana name".
    assert_eq!(registered_handle(&api, "u-ana").await, "u_ana_name");
    let events = api.events_of(&Aggregate::user(&user("u-ana"))).await;
    let Some(DomainEvent::Users(UserEvent::UserRegistered(e))) = events.first() else { panic!() };
    assert_eq!((e.display_name.as_str(), e.email.as_deref()), ("u-ana name", Some("u-ana@example.org")));
    let again = register(&api, "u-ana", json!({})).await;
    again.accepted();
    assert_eq!(again.body["changed"], false);
    assert_eq!(api.events_of(&Aggregate::user(&user("u-ana"))).await.len(), 1);
}

#[tokio::test]
async fn a_wanted_handle_is_given_once_and_a_taken_one_is_refused() {
    let api = spawn().await;
    register(&api, "ana", json!({ "handle": "Star" })).await.accepted();
    assert_eq!(registered_handle(&api, "ana").await, "star");
    register(&api, "ben", json!({ "handle": "star" })).await.problem(409, "handle-taken");
    let bad = register(&api, "ben", json!({ "handle": "no way" })).await;
    bad.problem(422, "invalid-input");
    assert_eq!(bad.body["field"], "handle");
}

#[tokio::test]
async fn two_users_racing_for_one_handle_leave_one_owner_and_the_other_gets_the_next() {
    let api = spawn().await;
    // Both tokens carry names that make the same first candidate.
    let mut a = claims("racer-1");
    a.name = Some("Same Name".into());
    let mut b = claims("racer-2");
    b.name = Some("Same Name".into());
    let (ta, tb) = (api.token_with(&a), api.token_with(&b));
    let (ra, rb) = tokio::join!(
        api.send(Method::POST, "/users/me", Some(ta), Some(json!({})), None),
        api.send(Method::POST, "/users/me", Some(tb), Some(json!({})), None),
    );
    ra.accepted();
    rb.accepted();
    let (ha, hb) = (registered_handle(&api, "racer-1").await, registered_handle(&api, "racer-2").await);
    assert_ne!(ha, hb);
    assert!(ha == "same_name" || hb == "same_name", "{ha} {hb}");
    let claims = api.events_of(&Aggregate::handle(&Handle::parse("same_name").unwrap())).await;
    assert_eq!(claims.len(), 1);
}

#[tokio::test]
async fn a_profile_changes_after_registration_only_and_fields_are_checked() {
    let api = spawn().await;
    let unregistered = Some(api.token("ana"));
    api.send(Method::PATCH, "/users/me/profile", unregistered, Some(json!({ "bio": "hi" })), None)
        .await
        .problem(409, "not-registered");
    register(&api, "ana", json!({})).await.accepted();
    let bad = api.call(Method::PATCH, "/users/me/profile", Some("ana"), Some(json!({ "website": "ftp://x" }))).await;
    bad.problem(422, "invalid-input");
    assert_eq!(bad.body["field"], "website");
    let body = json!({ "bio": "Rust", "website": "https://ana.dev", "display_name": "Ana" });
    api.call(Method::PATCH, "/users/me/profile", Some("ana"), Some(body.clone())).await.accepted();
    let same = api.call(Method::PATCH, "/users/me/profile", Some("ana"), Some(body)).await;
    assert_eq!(same.body["changed"], false);
    let settings = json!({ "show_presence": false, "read_receipts": true, "messages_from": "following" });
    api.call(Method::PUT, "/users/me/settings", Some("ana"), Some(settings)).await.accepted();
    let names: Vec<_> = api.event_names_of(&Aggregate::user(&user("ana"))).await;
    assert_eq!(names, ["UserRegistered", "ProfileUpdated", "SettingsChanged"]);
}

#[tokio::test]
async fn following_twice_is_one_follow_and_strangers_or_yourself_cannot_be_followed() {
    let api = spawn().await;
    register(&api, "ben", json!({})).await.accepted();
    api.call(Method::PUT, "/users/ben/follow", Some("ana"), None).await.accepted();
    let again = api.call(Method::PUT, "/users/ben/follow", Some("ana"), None).await;
    assert_eq!(again.body["changed"], false);
    api.call(Method::DELETE, "/users/ben/follow", Some("ana"), None).await.accepted();
    assert_eq!(api.event_names_of(&Aggregate::follow(&user("ana"), &user("ben"))).await, ["Followed", "Unfollowed"]);
    api.call(Method::PUT, "/users/nobody/follow", Some("ana"), None).await.problem(404, "no-such-user");
    api.call(Method::PUT, "/users/ben/follow", Some("ben"), None).await.problem(422, "cannot-follow-self");
    api.call(Method::PUT, "/users/a.b/follow", Some("ana"), None).await.problem(422, "invalid-input");
}

#[tokio::test]
async fn a_block_stops_follows_comments_and_likes_until_it_is_lifted() {
    let api = spawn().await;
    register(&api, "ana", json!({})).await.accepted();
    let post = api.post("/posts", "ana", json!({ "text": "mine" })).await.id();
    api.call(Method::PUT, "/users/ben/block", Some("ana"), None).await.accepted();
    api.call(Method::PUT, "/users/ana/follow", Some("ben"), None).await.problem(403, "blocked");
    api.post(&format!("/posts/{post}/comments"), "ben", json!({ "text": "hey" })).await.problem(403, "blocked");
    api.call(Method::PUT, &format!("/posts/{post}/like"), Some("ben"), None).await.problem(403, "blocked");
    api.call(Method::DELETE, "/users/ben/block", Some("ana"), None).await.accepted();
    api.call(Method::PUT, "/users/ana/follow", Some("ben"), None).await.accepted();
    api.call(Method::PUT, "/users/ana/block", Some("ana"), None).await.problem(422, "cannot-block-self");
}

#[tokio::test]
async fn parallel_registrations_with_different_handles_leave_one_handle_and_free_the_rest() {
    let api = spawn().await;
    let handles: Vec<String> = (0..20).map(|i| format!("racing_{i}")).collect();
    let attempts = handles.iter().map(|h| register(&api, "u-racer", json!({ "handle": h })));
    for reply in futures::future::join_all(attempts).await {
        reply.accepted();
    }
    let kept = registered_handle(&api, "u-racer").await;
    assert!(handles.contains(&kept), "{kept}");
    // Every other handle is free for someone else, whether or not its claim
    // landed before the winning registration.
    for (i, handle) in handles.iter().filter(|h| **h != kept).enumerate() {
        let other = format!("u-other-{i}");
        register(&api, &other, json!({ "handle": handle })).await.accepted();
        assert_eq!(&registered_handle(&api, &other).await, handle);
    }
    register(&api, "u-late", json!({ "handle": kept })).await.problem(409, "handle-taken");
}
