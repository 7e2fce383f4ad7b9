//! Likes: idempotent, one per user and post.

use crate::support::*;
use events::Aggregate;
use events::ids::{PostId, UserId};
use reqwest::Method;
use serde_json::json;

fn like_of(post: &str, user: &str) -> Aggregate {
    Aggregate::like(PostId::parse(post).unwrap(), &UserId::parse(user).unwrap())
}

#[tokio::test]
async fn liking_twice_is_one_like_and_unliking_twice_is_one_unlike() {
    let api = spawn().await;
    let post = api.post("/posts", "ana", json!({ "text": "post" })).await.id();
    let first = api.call(Method::PUT, &format!("/posts/{post}/like"), Some("ben"), None).await;
    let again = api.call(Method::PUT, &format!("/posts/{post}/like"), Some("ben"), None).await;
    first.accepted();
    again.accepted();
    assert_eq!((first.body["changed"].clone(), again.body["changed"].clone()), (json!(true), json!(false)));
    api.call(Method::DELETE, &format!("/posts/{post}/like"), Some("ben"), None).await.accepted();
    let unlike_again = api.call(Method::DELETE, &format!("/posts/{post}/like"), Some("ben"), None).await;
    assert_eq!(unlike_again.body["changed"], false);
    assert_eq!(api.event_names_of(&like_of(&post, "ben")).await, ["PostLiked", "PostUnliked"]);
}

#[tokio::test]
async fn two_likes_racing_for_one_user_and_post_leave_one_event() {
    let api = spawn().await;
    let post = api.post("/posts", "ana", json!({ "text": "post" })).await.id();
    let path = format!("/posts/{post}/like");
    let (a, b) =
        tokio::join!(api.call(Method::PUT, &path, Some("ben"), None), api.call(Method::PUT, &path, Some("ben"), None));
    a.accepted();
    b.accepted();
    assert_eq!(api.event_names_of(&like_of(&post, "ben")).await, ["PostLiked"]);
}

#[tokio::test]
async fn a_like_needs_a_live_post_and_no_block_from_its_author() {
    let api = spawn().await;
    let missing = PostId::new();
    api.call(Method::PUT, &format!("/posts/{missing}/like"), Some("ben"), None).await.problem(404, "no-such-post");
    let post = api.post("/posts", "ana", json!({ "text": "post" })).await.id();
    api.given_block("ana", "ben").await;
    api.call(Method::PUT, &format!("/posts/{post}/like"), Some("ben"), None).await.problem(403, "blocked");
    assert!(api.events_of(&like_of(&post, "ben")).await.is_empty());
}
