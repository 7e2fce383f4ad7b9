//! Posts: create, edit, delete, moderation.

use crate::support::*;
use events::catalog::ContentEvent;
use events::ids::PostId;
use events::{Aggregate, DomainEvent};
use reqwest::Method;
use serde_json::json;

fn post_of(id: &str) -> Aggregate {
    Aggregate::post(PostId::parse(id).unwrap())
}

#[tokio::test]
async fn creating_a_post_appends_post_created_with_parsed_tags() {
    let api = spawn().await;
    let reply = api
        .post("/posts", "ana", json!({ "text": "Hello #Rust and @Ben_1", "media": ["https://cdn.example.org/a.png"] }))
        .await;
    reply.accepted();
    assert_eq!(reply.body["changed"], true);
    let events = api.events_of(&post_of(&reply.id())).await;
    let [DomainEvent::Content(ContentEvent::PostCreated(created))] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(created.author.as_str(), "ana");
    assert_eq!(created.body.hashtags, ["rust"]);
    assert_eq!(created.body.mentions, ["ben_1"]);
    assert_eq!(reply.headers["pulse-position"].to_str().unwrap(), reply.body["position"].as_str().unwrap());
}

#[tokio::test]
async fn the_author_edits_and_deletes_a_post_and_nobody_else_can() {
    let api = spawn().await;
    let id = api.post("/posts", "ana", json!({ "text": "first" })).await.id();
    api.call(Method::PATCH, &format!("/posts/{id}"), Some("ben"), Some(json!({ "text": "mine now" })))
        .await
        .problem(403, "not-the-author");
    api.call(Method::PATCH, &format!("/posts/{id}"), Some("ana"), Some(json!({ "text": "second" }))).await.accepted();
    api.call(Method::DELETE, &format!("/posts/{id}"), Some("ben"), None).await.problem(403, "not-the-author");
    api.call(Method::DELETE, &format!("/posts/{id}"), Some("ana"), None).await.accepted();
    api.call(Method::PATCH, &format!("/posts/{id}"), Some("ana"), Some(json!({ "text": "third" })))
        .await
        .problem(409, "post-deleted");
    assert_eq!(api.event_names_of(&post_of(&id)).await, ["PostCreated", "PostEdited", "PostDeleted"]);
}

#[tokio::test]
async fn a_post_that_does_not_exist_is_not_found() {
    let api = spawn().await;
    let missing = PostId::new();
    api.call(Method::DELETE, &format!("/posts/{missing}"), Some("ana"), None).await.problem(404, "no-such-post");
    assert!(api.events_of(&Aggregate::post(missing)).await.is_empty());
}

#[tokio::test]
async fn retrying_with_the_same_idempotency_key_creates_one_post() {
    let api = spawn().await;
    for user in ["ana", "ben"] {
        api.member(user).await;
    }
    let body = json!({ "text": "only once" });
    let first = api.send(Method::POST, "/posts", Some(api.token("ana")), Some(body.clone()), Some("k-1")).await;
    let again = api.send(Method::POST, "/posts", Some(api.token("ana")), Some(body.clone()), Some("k-1")).await;
    let other_user = api.send(Method::POST, "/posts", Some(api.token("ben")), Some(body), Some("k-1")).await;
    first.accepted();
    again.accepted();
    assert_eq!(first.id(), again.id());
    assert_eq!(first.body["position"], again.body["position"]);
    assert_eq!(again.body["replayed"], true);
    assert_ne!(first.id(), other_user.id(), "keys are scoped to the caller");
    assert_eq!(api.events_of(&post_of(&first.id())).await.len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_reused_for_a_different_post_is_refused_and_appends_nothing() {
    let api = spawn().await;
    for user in ["ana", "ben"] {
        api.member(user).await;
    }
    let token = || Some(api.token("ana"));
    let first = api.send(Method::POST, "/posts", token(), Some(json!({ "text": "one" })), Some("k-2")).await;
    let other = api.send(Method::POST, "/posts", token(), Some(json!({ "text": "two" })), Some("k-2")).await;
    let again = api.send(Method::POST, "/posts", token(), Some(json!({ "text": "one" })), Some("k-2")).await;
    first.accepted();
    other.problem(422, "idempotency-key-reused");
    again.accepted();
    assert_eq!(again.body["replayed"], true);
    let events = api.events_of(&post_of(&first.id())).await;
    let [DomainEvent::Content(ContentEvent::PostCreated(created))] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(created.body.text, "one");
}

#[tokio::test]
async fn a_repeated_edit_is_answered_from_the_history_and_a_different_one_refused() {
    let api = spawn().await;
    for user in ["ana", "ben"] {
        api.member(user).await;
    }
    let id = api.post("/posts", "ana", json!({ "text": "first" })).await.id();
    let path = format!("/posts/{id}");
    let edit = |text: &'static str| {
        api.send(Method::PATCH, &path, Some(api.token("ana")), Some(json!({ "text": text })), Some("e-1"))
    };
    let first = edit("second").await;
    first.accepted();
    // The edit is in the post's history now, so the repeats are answered from
    // there (the load finds the key) before JetStream's duplicate check.
    let again = edit("second").await;
    again.accepted();
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["position"], first.body["position"]);
    edit("third").await.problem(422, "idempotency-key-reused");
    assert_eq!(api.events_of(&post_of(&id)).await.len(), 2, "created and edited once");
}

#[tokio::test]
async fn a_word_on_the_list_rejects_a_post_and_a_flag_word_flags_it() {
    let api = spawn().await;
    api.post("/posts", "ana", json!({ "text": "this is a badword here" })).await.problem(422, "invalid-input");
    let reply = api.post("/posts", "ana", json!({ "text": "somewhat suspicious text" })).await;
    let events = api.events_of(&post_of(&reply.id())).await;
    let [DomainEvent::Content(ContentEvent::PostCreated(created))] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(created.body.flagged, ["suspicious"]);
}

#[tokio::test]
async fn only_moderators_hide_and_restore_and_anyone_else_may_report() {
    let api = spawn().await;
    api.member("carla").await;
    let id = api.post("/posts", "ana", json!({ "text": "borderline" })).await.id();
    api.post(&format!("/posts/{id}/report"), "ben", json!({ "reason": "spam" })).await.accepted();
    api.post(&format!("/posts/{id}/hide"), "ben", json!({})).await.problem(403, "not-a-moderator");
    api.post(&format!("/posts/{id}/hide"), "mod", json!({ "reason": "spam" })).await.accepted();
    let mut claims = claims("carla");
    claims.role = Some("moderator".to_owned());
    let token = api.token_with(&claims);
    api.send(Method::POST, &format!("/posts/{id}/restore"), Some(token), None, None).await.accepted();
    assert_eq!(
        api.event_names_of(&post_of(&id)).await,
        ["PostCreated", "ContentReported", "ContentHidden", "ContentRestored"]
    );
}

#[tokio::test]
async fn posting_faster_than_the_limit_is_refused_with_retry_after() {
    let mut config = config();
    config.limits.posts_per_minute = 2;
    let api = spawn_with(config).await;
    for _ in 0..2 {
        api.post("/posts", "ana", json!({ "text": "hi" })).await.accepted();
    }
    let refused = api.post("/posts", "ana", json!({ "text": "hi" })).await;
    refused.problem(429, "rate-limited");
    assert!(refused.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    api.post("/posts", "ben", json!({ "text": "hi" })).await.accepted();
}

#[tokio::test]
async fn a_keyed_post_retried_after_the_duplicate_window_is_answered_from_its_history() {
    let api = spawn().await;
    for user in ["ana", "ben"] {
        api.member(user).await;
    }
    // Shrink the content stream's duplicate window, so the retry reaches the
    // stream as a new message and only the expected version and the history
    // can tell it is a repeat.
    let jetstream = async_nats::jetstream::new(api.log.store.client().clone());
    let name = api.log.store.namespace().stream(events::Context::Content);
    let mut stream = jetstream.get_stream(&name).await.unwrap();
    let mut config = stream.info().await.unwrap().config.clone();
    config.duplicate_window = std::time::Duration::from_millis(100);
    jetstream.update_stream(config).await.unwrap();

    let send = |text: &'static str| {
        api.send(Method::POST, "/posts", Some(api.token("ana")), Some(json!({ "text": text })), Some("late-1"))
    };
    let first = send("once").await;
    first.accepted();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let again = send("once").await;
    again.accepted();
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["position"], first.body["position"]);
    send("something else").await.problem(422, "idempotency-key-reused");
    assert_eq!(api.events_of(&post_of(&first.id())).await.len(), 1);
}

#[tokio::test]
async fn a_token_holder_who_never_registered_cannot_post_and_is_told_how_to_register() {
    let api = spawn().await;
    let post = || api.send(Method::POST, "/posts", Some(api.token("newbie")), Some(json!({ "text": "hi" })), None);
    let refused = post().await;
    refused.problem(409, "not-registered");
    assert!(refused.body["detail"].as_str().unwrap().contains("POST /users/me"), "{:?}", refused.body);
    api.post("/users/me", "newbie", json!({})).await.accepted();
    post().await.accepted();
}
