//! The progress notices and the document cache they keep true, against a
//! real NATS and both real read stores: a query that waited for a position
//! never reads a cached document older than it, and a notice that does not
//! follow the last one heard (or the checkpoint read at start) empties the
//! cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::Context;
use events::catalog::users::{Followed, UserRegistered};
use events::ids::{Handle, UserId};
use events::store::Position;
use events::{Aggregate, Expected, Metadata};
use projectors::progress::{self, Notice};
use projectors::{Job, Progress, Projector, ProjectorMetrics, Settings};
use read_models::profiles::{ProfileQueries, Profiles};
use read_models::{Generation, Projection};
use read_store::{AnyStore, CacheSettings, Cached, Docs, ReadStore};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use testkit::TestLog;
use tokio::sync::watch;

fn user(n: usize) -> UserId {
    UserId::parse(&format!("u{n}")).unwrap()
}

fn profiles() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Profiles)]
}

async fn register(log: &TestLog, n: usize) -> Position {
    let (id, handle) = (user(n), Handle::parse(&format!("user_{n}")).unwrap());
    let registered = UserRegistered { user: id.clone(), handle, display_name: format!("User {n}"), email: None };
    log.store
        .append(&Aggregate::user(&id), Expected::Any, registered, &Metadata::new(None), None)
        .await
        .unwrap()
        .position
}

async fn follow(log: &TestLog, follower: usize, followee: usize) -> Position {
    let (follower, followee) = (user(follower), user(followee));
    let followed = Followed { follower: follower.clone(), followee: followee.clone() };
    let aggregate = Aggregate::follow(&follower, &followee);
    log.store.append(&aggregate, Expected::Any, followed, &Metadata::new(None), None).await.unwrap().position
}

/// The projectors running until the sender is dropped.
fn serve(log: &TestLog, store: &AnyStore) -> watch::Sender<bool> {
    let projector = Projector::new(log.store.clone(), store.clone(), ProjectorMetrics::default(), Settings::default());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move { projector.run(&Job::all(&profiles(), vec![]), stopped).await.unwrap() });
    stop
}

/// A cache of every generation's documents over `store`, kept fresh by `progress`.
fn cached(store: &AnyStore, progress: &Progress) -> Cached<AnyStore> {
    let docs = Docs::new(CacheSettings::default(), |collection| Generation::of(collection).is_some());
    progress.keep_fresh(&docs);
    Cached::new(store.clone(), docs)
}

async fn followers(store: &Cached<AnyStore>, n: usize) -> u64 {
    let profile = ProfileQueries::new(store, Generation::FIRST).profile(&format!("u{n}")).await.unwrap();
    profile.map_or(0, |p| p.stats.followers)
}

testkit::on_both_stores!(
    a_query_that_waited_for_a_position_reads_no_cached_document_older_than_it,
    a_notice_that_does_not_follow_the_last_one_heard_empties_the_cache,
);

async fn a_query_that_waited_for_a_position_reads_no_cached_document_older_than_it<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = fresh().await;
    let log = TestLog::new().await;
    let _projectors = serve(&log, &store);
    let progress = Progress::start(&log.store, &store, &profiles(), &[]).await.unwrap();
    let cache = cached(&store, &progress);
    let registered = register(&log, 0).await;
    assert!(progress.wait(&["profiles"], registered, Duration::from_secs(10)).await);

    for n in 1..=12 {
        // Read (and so cached) before each change, read again after it.
        assert_eq!(followers(&cache, 0).await, n as u64 - 1);
        register(&log, n).await;
        let followed = follow(&log, n, 0).await;
        assert!(progress.wait(&["profiles"], followed, Duration::from_secs(10)).await, "applied {followed}");
        assert_eq!(followers(&cache, 0).await, n as u64, "after follow {n}");
    }
    assert!(!cache.docs().is_empty(), "the profile was served from the cache");
}

async fn a_notice_that_does_not_follow_the_last_one_heard_empties_the_cache<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = fresh().await;
    let log = TestLog::new().await;
    let progress = Progress::start(&log.store, &store, &profiles(), &[]).await.unwrap();
    let cache = cached(&store, &progress);
    let users = Generation::FIRST.collection("users");
    let doc = serde_json::json!({ "handle": "user_0" }).as_object().cloned().unwrap();
    store.put(&users, "u0", &doc).await.unwrap();
    let notice = |after: u64, sequence: u64, changed: &[&str]| Notice {
        generation: Generation::FIRST.0,
        context: Context::Users,
        sequence,
        after,
        changed: Some(changed.iter().map(|id| (users.clone(), (*id).to_owned())).collect()),
    };
    // Heard in order, each notice applied before the position it reaches wakes anyone.
    let heard = |sequence| {
        progress.wait(&["profiles"], Position { context: Context::Users, sequence }, Duration::from_secs(10))
    };

    cache.get(&users, "u0").await.unwrap();
    // The first notice follows the checkpoint read at start: nothing was missed.
    progress::announce(&log.store, "profiles", &notice(0, 1, &[])).await;
    assert!(heard(1).await);
    assert_eq!(cache.docs().len(), 1, "the first notice after the checkpoint keeps the cache");
    progress::announce(&log.store, "profiles", &notice(1, 2, &["u1", "u2"])).await;
    assert!(heard(2).await);
    assert_eq!(cache.docs().len(), 1, "a notice naming other documents leaves this one");

    progress::announce(&log.store, "profiles", &notice(2, 3, &["u0"])).await;
    assert!(heard(3).await);
    assert!(cache.docs().is_empty(), "a notice naming it drops it");

    cache.get(&users, "u0").await.unwrap();
    // The notice of 4 was missed: the one of 5 follows 4, not 3.
    progress::announce(&log.store, "profiles", &notice(4, 5, &["u1"])).await;
    assert!(heard(5).await);
    assert!(cache.docs().is_empty(), "a gap empties the cache");

    cache.get(&users, "u0").await.unwrap();
    let unnamed = Notice { changed: None, ..notice(5, 6, &[]) };
    progress::announce(&log.store, "profiles", &unnamed).await;
    assert!(heard(6).await);
    assert!(cache.docs().is_empty(), "a notice naming nothing empties the cache");
}
