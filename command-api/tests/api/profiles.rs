//! Queries over the profiles projection, with the projectors running: what a
//! client reads right after its own commands, and how bad reads are refused.

use crate::support::{Api, config, spawn, spawn_reading};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn put(api: &Api, path: &str, user: &str) -> String {
    let reply = api.call(Method::PUT, path, Some(user), None).await;
    reply.accepted();
    reply.position()
}

#[tokio::test]
async fn a_profile_is_visible_right_after_registration_when_the_read_passes_the_position() {
    let api = spawn().await;
    let registered =
        api.send(Method::POST, "/users/me", Some(api.token("ana")), Some(json!({"handle": "ana_s"})), None).await;
    registered.accepted();

    let read = api.get("/users/ana", "ana", Some(&registered.position())).await;

    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.headers["pulse-consistency"], "caught-up");
    assert_eq!(read.body["handle"], "ana_s");
    assert_eq!(read.body["display_name"], "ana name");
    assert_eq!(read.body["stats"], json!({"followers": 0, "following": 0, "posts": 0, "likes_received": 0}));
    assert_eq!(read.body["viewer"], json!({"follows": false, "followed_by": false, "blocks": false}));
}

#[tokio::test]
async fn follows_posts_and_likes_move_the_profile_counters_and_lists() {
    let api = spawn().await;
    api.member("ana").await;
    put(&api, "/users/ana/follow", "ben").await;
    let last_follow = put(&api, "/users/ana/follow", "cy").await;
    let post = api.post("/posts", "ana", json!({"text": "hello"})).await;
    post.accepted();
    let liked = put(&api, &format!("/posts/{}/like", post.id()), "ben").await;

    let profile = api.get("/users/ana", "ben", Some(&last_follow)).await;
    assert_eq!(profile.body["stats"]["followers"], 2, "{:?}", profile.body);
    assert_eq!(profile.body["viewer"]["follows"], true);
    let profile = api.get("/users/ana", "ben", Some(&liked)).await;
    assert_eq!(profile.body["stats"], json!({"followers": 2, "following": 0, "posts": 1, "likes_received": 1}));

    let first = api.get("/users/ana/followers?limit=1", "ana", None).await;
    assert_eq!(first.body["items"][0]["user"], "cy", "{:?}", first.body);
    let cursor = first.body["next"].as_str().expect("a next page").to_owned();
    let second = api.get(&format!("/users/ana/followers?limit=1&cursor={cursor}"), "ana", None).await;
    assert_eq!(second.body["items"][0]["user"], "ben");
    assert_eq!(second.body["next"], Value::Null);
    let following = api.get("/users/ben/following", "cy", None).await;
    assert_eq!(following.body["items"][0]["display_name"], "ana name", "{:?}", following.body);

    let yes = api.get("/follows?follower=ben&followee=ana", "cy", None).await;
    assert_eq!(yes.body, json!({"follows": true}));
    let no = api.get("/follows?follower=ana&followee=ben", "cy", None).await;
    assert_eq!(no.body, json!({"follows": false}));
}

#[tokio::test]
async fn an_unfollow_and_a_block_show_in_the_lists_of_the_people_involved() {
    let api = spawn().await;
    api.member("ana").await;
    api.member("dee").await;
    put(&api, "/users/ana/follow", "ben").await;
    let unfollowed = api.call(Method::DELETE, "/users/ana/follow", Some("ben"), None).await;
    unfollowed.accepted();
    let blocked = put(&api, "/users/dee/block", "ana").await;

    let followers = api.get("/users/ana/followers", "ana", Some(&unfollowed.position())).await;
    assert_eq!(followers.body["items"], json!([]));
    let blocks = api.get("/users/me/blocks", "ana", Some(&blocked)).await;
    assert_eq!(blocks.body["items"][0]["user"], "dee", "{:?}", blocks.body);
    let theirs = api.get("/users/me/blocks", "dee", None).await;
    assert_eq!(theirs.body["items"], json!([]), "blocks are seen by the blocker only");
    let seen_by_ana = api.get("/users/dee", "ana", None).await;
    assert_eq!(seen_by_ana.body["viewer"]["blocks"], true);
}

#[tokio::test]
async fn a_position_the_projections_have_not_reached_answers_stale_after_the_wait() {
    let api = spawn_reading(config(), Duration::from_millis(200)).await;
    api.member("ana").await;

    let read = api.get("/users/ana", "ana", Some("users:1000000")).await;

    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.headers["pulse-consistency"], "stale");
}

#[tokio::test]
async fn bad_reads_are_refused_with_a_problem_never_a_server_error() {
    let api = spawn().await;
    let registered = api.send(Method::POST, "/users/me", Some(api.token("ana")), Some(json!({})), None).await;
    let position = registered.position();
    api.get("/users/ana", "ana", Some("users:abc")).await.problem(422, "invalid-input");
    api.get("/users/ana?after=nowhere:1", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/nobody", "ana", Some(&position)).await.problem(404, "not-found");
    api.get("/users/not%20an%20id", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/ana/followers?limit=0", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/ana/followers?limit=101", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/ana/followers?limit=x", "ana", None).await.problem(400, "malformed-request");
    api.get("/users/ana/followers?cursor=forged", "ana", None).await.problem(400, "invalid-cursor");
    api.get("/follows?follower=ana", "ana", None).await.problem(400, "malformed-request");
    api.get("/follows?follower=ana&followee=a%20b", "ana", None).await.problem(422, "invalid-input");
    let anonymous = api.send(Method::GET, "/users/ana", None, None, None).await;
    anonymous.problem(401, "unauthenticated");
}

#[tokio::test]
async fn a_block_ends_the_follows_between_the_two_users_and_their_counts_follow() {
    let api = spawn().await;
    api.member("ana").await;
    api.member("ben").await;
    put(&api, "/users/ben/follow", "ana").await;
    put(&api, "/users/ana/follow", "ben").await;
    put(&api, "/users/ben/block", "ana").await;

    // The follows end by a reaction to the block, appended after it: a
    // client sees them once the projections have read that far.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ana = api.get("/users/ana", "ana", None).await;
        if ana.body["stats"]["followers"] == 0 && ana.body["stats"]["following"] == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the follows did not end: {:?}", ana.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ben = api.get("/users/ben", "ben", None).await;
    assert_eq!(ben.body["stats"]["followers"], 0);
    assert_eq!(ben.body["viewer"], json!({"follows": false, "followed_by": false, "blocks": false}));
}
