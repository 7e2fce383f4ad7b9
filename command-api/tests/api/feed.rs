//! The home feed over HTTP, with the projectors and the feed writer running
//! against a real NATS and a real Redis: fan-out, the cap, large accounts,
//! backfill on follow, clean-up on unfollow, block, delete and hide, and a
//! feed rebuilt after Redis lost everything.

use crate::support::{Api, ReadSide, no_limits, spawn_full};
use reqwest::Method;
use serde_json::{Value, json};

async fn api() -> Api {
    spawn_full(no_limits(), ReadSide::default()).await
}

async fn post(api: &Api, author: &str, text: &str) -> (String, String) {
    let reply = api.post("/posts", author, json!({ "text": text })).await;
    reply.accepted();
    (reply.id(), reply.position())
}

async fn follow(api: &Api, follower: &str, followee: &str) -> String {
    let reply = api.call(Method::PUT, &format!("/users/{followee}/follow"), Some(follower), None).await;
    reply.accepted();
    reply.position()
}

/// The ids in one page of `user`'s feed, read after `position`.
async fn feed(api: &Api, user: &str, position: Option<&str>) -> Vec<String> {
    let page = api.get("/feed?limit=100", user, position).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    ids(&page.body)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
}

/// What Redis holds for `user`, bypassing the read-time merge.
async fn stored(api: &Api, redis_url: &str, user: &str) -> Vec<String> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:feed:{user}", api.log.namespace.as_str());
    let members: Vec<String> = redis::cmd("ZREVRANGE").arg(key).arg(0).arg(-1).query_async(&mut redis).await.unwrap();
    members.into_iter().map(|m| m.rsplit(':').next().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_new_post_reaches_its_authors_feed_and_every_followers_already_built_feed() {
    let api = api().await;
    api.member("ana").await;
    let followed = follow(&api, "ben", "ana").await;
    assert_eq!(feed(&api, "ben", Some(&followed)).await, Vec::<String>::new(), "built, empty");

    let (id, position) = post(&api, "ana", "hello").await;

    assert_eq!(feed(&api, "ben", Some(&position)).await, std::slice::from_ref(&id));
    assert_eq!(
        stored(&api, &testkit::redis::redis_url(), "ben").await,
        std::slice::from_ref(&id),
        "fanned out, not merged"
    );
    assert_eq!(feed(&api, "ana", Some(&position)).await, [id]);
    assert_eq!(feed(&api, "cy", Some(&position)).await, Vec::<String>::new(), "not a follower");
}

#[tokio::test]
async fn a_feed_keeps_the_newest_400_posts_in_pages() {
    let api = api().await;
    api.member("ana").await;
    let followed = follow(&api, "ben", "ana").await;
    feed(&api, "ben", Some(&followed)).await;
    let mut posted = Vec::new();
    for n in 0..410 {
        posted.push(post(&api, "ana", &format!("post {n}")).await);
    }
    let last = posted.last().unwrap().1.clone();
    let mut seen = Vec::new();
    let mut path = "/feed?limit=100".to_owned();
    loop {
        let page = api.get(&path, "ben", Some(&last)).await;
        seen.extend(ids(&page.body));
        match page.body["next"].as_str() {
            Some(next) => path = format!("/feed?limit=100&cursor={next}"),
            None => break,
        }
    }
    let newest: Vec<String> = posted.iter().rev().take(400).map(|(id, _)| id.clone()).collect();
    assert_eq!(seen, newest);
}

#[tokio::test]
async fn an_account_with_more_followers_than_the_threshold_is_merged_in_when_read() {
    let side = ReadSide { feeds: feeds::FeedSettings { fanout_max: 1, ..Default::default() }, ..Default::default() };
    let api = spawn_full(no_limits(), side).await;
    api.member("star").await;
    follow(&api, "ben", "star").await;
    let followed = follow(&api, "cy", "star").await;
    feed(&api, "ben", Some(&followed)).await;

    let (id, position) = post(&api, "star", "to my many fans").await;

    assert_eq!(feed(&api, "ben", Some(&position)).await, std::slice::from_ref(&id));
    assert_eq!(feed(&api, "cy", Some(&position)).await, [id]);
    assert_eq!(stored(&api, &testkit::redis::redis_url(), "ben").await, Vec::<String>::new(), "never fanned out");
}

#[tokio::test]
async fn following_someone_brings_their_recent_posts_into_the_feed() {
    let api = api().await;
    api.member("ben").await;
    feed(&api, "ben", None).await;
    let mut posted = Vec::new();
    for n in 0..3 {
        posted.push(post(&api, "ana", &format!("before {n}")).await.0);
    }

    let followed = follow(&api, "ben", "ana").await;

    posted.reverse();
    assert_eq!(feed(&api, "ben", Some(&followed)).await, posted);
}

#[tokio::test]
async fn unfollowing_blocking_deleting_and_hiding_take_posts_out_of_the_feed() {
    let api = api().await;
    for user in ["ana", "cy", "dee"] {
        api.member(user).await;
        follow(&api, "ben", user).await;
    }
    let (from_ana, _) = post(&api, "ana", "a").await;
    let (from_cy, _) = post(&api, "cy", "c").await;
    let (from_dee, _) = post(&api, "dee", "d").await;
    let (kept, position) = post(&api, "dee", "kept").await;
    assert_eq!(feed(&api, "ben", Some(&position)).await, [kept.clone(), from_dee.clone(), from_cy.clone(), from_ana]);

    let unfollowed = api.call(Method::DELETE, "/users/ana/follow", Some("ben"), None).await;
    let after_unfollow = feed(&api, "ben", Some(&unfollowed.position())).await;
    assert_eq!(after_unfollow, [kept.clone(), from_dee.clone(), from_cy.clone()]);
    let blocked = api.call(Method::PUT, "/users/ben/block", Some("cy"), None).await;
    assert_eq!(feed(&api, "ben", Some(&blocked.position())).await, [kept.clone(), from_dee.clone()]);
    let deleted = api.call(Method::DELETE, &format!("/posts/{from_dee}"), Some("dee"), None).await;
    assert_eq!(feed(&api, "ben", Some(&deleted.position())).await, std::slice::from_ref(&kept));
    let hidden = api.post(&format!("/posts/{kept}/hide"), "mod", json!({"reason": "spam"})).await;
    assert_eq!(feed(&api, "ben", Some(&hidden.position())).await, Vec::<String>::new());
    assert_eq!(stored(&api, &testkit::redis::redis_url(), "ben").await, Vec::<String>::new(), "taken out of Redis too");
}

#[tokio::test]
async fn a_feed_read_again_after_each_change_shows_it_though_its_posts_and_authors_are_cached() {
    let api = api().await;
    let (id, _) = post(&api, "ana", "before").await;
    let followed = follow(&api, "bea", "ana").await;
    let page = |position: String| {
        let api = &api;
        async move {
            let page = api.get("/feed", "bea", Some(&position)).await;
            assert_eq!(page.status, 200, "{:?}", page.body);
            assert_eq!(page.headers.get("pulse-consistency").map(|v| v.to_str().unwrap()), Some("caught-up"));
            page.body["items"][0].clone()
        }
    };
    assert_eq!(page(followed).await["stats"]["likes"], 0);

    let liked = api.call(Method::PUT, &format!("/posts/{id}/like"), Some("cy"), None).await;
    liked.accepted();
    assert_eq!(page(liked.position()).await["stats"]["likes"], 1, "the like reached the cached post");

    let edited = api.call(Method::PATCH, &format!("/posts/{id}"), Some("ana"), Some(json!({ "text": "after" }))).await;
    edited.accepted();
    assert_eq!(page(edited.position()).await["text"], "after");

    let renamed = json!({ "display_name": "Ana Renamed" });
    let renamed = api.call(Method::PATCH, "/users/me/profile", Some("ana"), Some(renamed)).await;
    renamed.accepted();
    assert_eq!(page(renamed.position()).await["author"]["display_name"], "Ana Renamed", "the cached author too");

    // Read once more with nothing changed: from the cache.
    page(renamed.position()).await;
    let metrics = api.http.get(format!("{}/metrics", api.base)).send().await.unwrap().text().await.unwrap();
    let count = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(count("pulse_read_cache_hits_total") >= 2, "the post and its author: {metrics}");
    assert!(count("pulse_read_cache_misses_total") >= 1, "{metrics}");
    assert!(count("pulse_read_cache_documents") >= 1, "{metrics}");
}

#[tokio::test]
async fn a_feed_lost_when_redis_is_flushed_is_rebuilt_on_first_read() {
    let redis = testkit::redis::PrivateRedis::start();
    let side = ReadSide { redis_url: redis.url.clone(), ..Default::default() };
    let api = spawn_full(no_limits(), side).await;
    api.member("ana").await;
    follow(&api, "ben", "ana").await;
    let (first, _) = post(&api, "ana", "one").await;
    let (second, position) = post(&api, "ana", "two").await;
    let (own, mine) = post(&api, "ben", "mine").await;
    assert_eq!(feed(&api, "ben", Some(&mine)).await, [own.clone(), second.clone(), first.clone()]);

    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut connection).await.unwrap();

    assert_eq!(feed(&api, "ben", Some(&position)).await, [own, second, first]);
}

#[tokio::test]
async fn a_first_page_read_without_a_position_is_kept_until_redis_says_the_feed_changed() {
    let api = api().await;
    let (first, _) = post(&api, "ana", "one").await;
    let followed = follow(&api, "ben", "ana").await;
    assert_eq!(feed(&api, "ben", Some(&followed)).await, std::slice::from_ref(&first), "built");
    assert_eq!(feed(&api, "ben", None).await, std::slice::from_ref(&first));
    assert_eq!(feed(&api, "ben", None).await, std::slice::from_ref(&first));
    let metrics = api.http.get(format!("{}/metrics", api.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pulse_feed_page_cache_tracking 1"), "{metrics}");
    assert!(!metrics.contains("pulse_feed_page_cache_hits_total 0\n"), "the second read was kept: {metrics}");

    let (second, position) = post(&api, "ana", "two").await;

    // A read that passes the position reads Redis itself: the post is there.
    assert_eq!(feed(&api, "ben", Some(&position)).await, [second.clone(), first.clone()]);
    // One that does not sees it as soon as Redis's notice of the fan-out has
    // come; a kept page that outlived it would fail here.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while feed(&api, "ben", None).await != [second.clone(), first.clone()] {
        assert!(std::time::Instant::now() < deadline, "the kept page was never dropped");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn bad_feed_reads_are_refused_with_a_problem() {
    let api = api().await;
    api.get("/feed?cursor=not-a-cursor", "ana", None).await.problem(400, "invalid-cursor");
    api.get("/feed?limit=0", "ana", None).await.problem(422, "invalid-input");
    api.get("/feed?after=content:x", "ana", None).await.problem(422, "invalid-input");
    api.send(Method::GET, "/feed", None, None, None).await.problem(401, "unauthenticated");
}
