//! Comments on posts.

use crate::support::*;
use events::Aggregate;
use events::ids::CommentId;
use reqwest::Method;
use serde_json::json;

fn comment_of(id: &str) -> Aggregate {
    Aggregate::comment(CommentId::parse(id).unwrap())
}

#[tokio::test]
async fn a_comment_on_a_live_post_is_added_and_only_its_author_deletes_it() {
    let api = spawn().await;
    let post = api.post("/posts", "ana", json!({ "text": "post" })).await.id();
    let reply = api.post(&format!("/posts/{post}/comments"), "ben", json!({ "text": "nice @ana" })).await;
    reply.accepted();
    let comment = reply.id();
    let answer =
        api.post(&format!("/posts/{post}/comments"), "ana", json!({ "text": "thanks", "reply_to": comment })).await;
    answer.accepted();
    api.call(Method::DELETE, &format!("/comments/{comment}"), Some("ana"), None).await.problem(403, "not-the-author");
    api.call(Method::DELETE, &format!("/comments/{comment}"), Some("ben"), None).await.accepted();
    assert_eq!(api.event_names_of(&comment_of(&comment)).await, ["CommentAdded", "CommentDeleted"]);
}

#[tokio::test]
async fn a_comment_needs_a_live_post_and_a_reply_needs_a_comment_on_that_post() {
    let api = spawn().await;
    let missing = events::ids::PostId::new();
    api.post(&format!("/posts/{missing}/comments"), "ben", json!({ "text": "hello?" }))
        .await
        .problem(404, "no-such-post");
    let post = api.post("/posts", "ana", json!({ "text": "post" })).await.id();
    let other = api.post("/posts", "ana", json!({ "text": "other" })).await.id();
    let elsewhere = api.post(&format!("/posts/{other}/comments"), "ben", json!({ "text": "x" })).await.id();
    let reply =
        api.post(&format!("/posts/{post}/comments"), "ben", json!({ "text": "x", "reply_to": elsewhere })).await;
    reply.problem(422, "invalid-input");
    assert_eq!(reply.body["field"], "reply_to");
}

#[tokio::test]
async fn a_blocked_user_cannot_comment() {
    let api = spawn().await;
    let post = api.post("/posts", "ana", json!({ "text": "post" })).await.id();
    api.given_block("ana", "ben").await;
    api.post(&format!("/posts/{post}/comments"), "ben", json!({ "text": "hi" })).await.problem(403, "blocked");
    api.post(&format!("/posts/{post}/comments"), "carla", json!({ "text": "hi" })).await.accepted();
}

#[tokio::test]
async fn comments_are_reported_and_moderated_like_posts() {
    let api = spawn().await;
    let post = api.post("/posts", "ana", json!({ "text": "post" })).await.id();
    let comment = api.post(&format!("/posts/{post}/comments"), "ben", json!({ "text": "hm" })).await.id();
    api.post(&format!("/comments/{comment}/report"), "ben", json!({ "reason": "mine" }))
        .await
        .problem(422, "cannot-report-own-content");
    api.post(&format!("/comments/{comment}/report"), "ana", json!({ "reason": "rude" })).await.accepted();
    api.post(&format!("/comments/{comment}/hide"), "ana", json!({})).await.problem(403, "not-a-moderator");
    api.post(&format!("/comments/{comment}/hide"), "mod", json!({})).await.accepted();
    api.call(Method::POST, &format!("/comments/{comment}/restore"), Some("mod"), None).await.accepted();
    assert_eq!(
        api.event_names_of(&comment_of(&comment)).await,
        ["CommentAdded", "ContentReported", "ContentHidden", "ContentRestored"]
    );
}

#[tokio::test]
async fn commenting_faster_than_the_limit_is_refused() {
    let mut config = config();
    config.limits.comments_per_minute = 1;
    let api = spawn_with(config).await;
    let post = api.post("/posts", "ana", json!({ "text": "post" })).await.id();
    api.post(&format!("/posts/{post}/comments"), "ben", json!({ "text": "1" })).await.accepted();
    api.post(&format!("/posts/{post}/comments"), "ben", json!({ "text": "2" })).await.problem(429, "rate-limited");
}
