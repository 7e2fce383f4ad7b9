//! The first-page cache against a real Redis: what another connection
//! writes under the feeds' prefix drops the page it concerns, `FLUSHALL`
//! drops everything, and a lost tracking connection drops everything and
//! keeps nothing until it is back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use feeds::page_cache::{PING_EVERY, PING_TIMEOUT, PageCache};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys under `{prefix}:feed:` are pages; any other key under the prefix
/// concerns every page, as the feeds' own rule says.
fn start(url: &str, prefix: &str) -> PageCache<&'static str> {
    let pages = format!("{prefix}:feed:");
    let page_of = move |key: &str| key.starts_with(&pages).then(|| key.to_owned());
    PageCache::start(redis::Client::open(url).unwrap(), format!("{prefix}:feed"), 100, Box::new(page_of))
}

/// Long enough for a connection to be noticed lost and made again.
const PATIENCE: Duration = Duration::from_secs(10);

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn keep(cache: &PageCache<&'static str>, key: &str) {
    let ticket = cache.ticket().expect("tracking");
    cache.keep(ticket, key.to_owned(), 21, Arc::new("page"));
    assert!(cache.get(key, 21).is_some(), "{key} kept");
}

async fn write(url: &str, key: &str) {
    let mut connection = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("ZADD").arg(key).arg(1).arg("author:post").query_async(&mut connection).await.unwrap();
}

/// A Redis of the test's own, a cache tracking it with the page of
/// `pulse:feed:ana` kept, and a connection to tell that Redis what to do.
async fn tracking_a_private_redis()
-> (testkit::redis::PrivateRedis, PageCache<&'static str>, redis::aio::MultiplexedConnection) {
    let redis = testkit::redis::PrivateRedis::start();
    let cache = start(&redis.url, "pulse");
    until("tracking", || cache.stats().tracking).await;
    keep(&cache, "pulse:feed:ana");
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let connection = client.get_multiplexed_async_connection().await.unwrap();
    (redis, cache, connection)
}

fn namespace() -> String {
    format!("test_{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_write_by_another_connection_drops_the_page_it_concerns_and_no_other() {
    let (url, ns) = (testkit::redis::redis_url(), namespace());
    let cache = start(&url, &ns);
    until("tracking", || cache.stats().tracking).await;
    let (ana, ben, sentinel) = (format!("{ns}:feed:ana"), format!("{ns}:feed:ben"), format!("{ns}:feed:sentinel"));
    for key in [&ana, &ben, &sentinel] {
        keep(&cache, key);
    }

    write(&url, &ana).await;
    write(&url, &format!("{ns}_other:feed:ben")).await;
    write(&url, &sentinel).await;

    // Notices come in order: once the last write's has come, so had the others'.
    until("the sentinel page dropped", || cache.get(&sentinel, 21).is_none()).await;
    assert!(cache.get(&ana, 21).is_none(), "the written feed's page is dropped");
    assert!(cache.get(&ben, 21).is_some(), "another feed's page, and a key outside the prefix, drop nothing");
    testkit::redis::forget_namespace(&ns).await;
}

#[tokio::test]
async fn a_write_to_a_key_that_is_no_ones_page_drops_every_page() {
    let (url, ns) = (testkit::redis::redis_url(), namespace());
    let cache = start(&url, &ns);
    until("tracking", || cache.stats().tracking).await;
    let (ana, ben) = (format!("{ns}:feed:ana"), format!("{ns}:feed:ben"));
    keep(&cache, &ana);
    keep(&cache, &ben);

    write(&url, &format!("{ns}:feed-large-authors")).await;

    until("every page dropped", || cache.stats().kept == 0).await;
    testkit::redis::forget_namespace(&ns).await;
}

#[tokio::test]
async fn flushall_drops_every_page() {
    let (_redis, cache, mut connection) = tracking_a_private_redis().await;
    keep(&cache, "pulse:feed:ben");

    let _: () = redis::cmd("FLUSHALL").query_async(&mut connection).await.unwrap();

    until("every page dropped", || cache.stats().kept == 0).await;
}

#[tokio::test]
async fn a_lost_tracking_connection_drops_every_page_and_keeps_none_until_it_is_back() {
    let (redis, cache, mut connection) = tracking_a_private_redis().await;

    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("SKIPME")
        .arg("yes")
        .arg("TYPE")
        .arg("normal")
        .query_async(&mut connection)
        .await
        .unwrap();

    assert_eq!(killed, 1, "the tracking connection");
    until("the loss noticed", || !cache.stats().tracking).await;
    assert_eq!(cache.stats().kept, 0);
    assert!(cache.get("pulse:feed:ana", 21).is_none());
    assert!(cache.ticket().is_none(), "nothing is kept while notices cannot arrive");
    until("tracking again", || cache.stats().tracking).await;
    keep(&cache, "pulse:feed:ana");
    write(&redis.url, "pulse:feed:ana").await;
    until("the new connection's notice", || cache.get("pulse:feed:ana", 21).is_none()).await;
}

#[tokio::test]
async fn a_redis_that_stops_answering_drops_every_page() {
    let (_redis, cache, mut connection) = tracking_a_private_redis().await;

    // A server that holds every client without closing the connection: the
    // only sign is the unanswered ping.
    let pause = (PING_EVERY + PING_TIMEOUT).as_millis() * 3;
    let _: () =
        redis::cmd("CLIENT").arg("PAUSE").arg(pause as u64).arg("ALL").query_async(&mut connection).await.unwrap();

    // Once the pause ends the pings are answered again: noticing it late is
    // not noticing it.
    until("the silence noticed", || !cache.stats().tracking).await;
    assert!(cache.get("pulse:feed:ana", 21).is_none());
}
