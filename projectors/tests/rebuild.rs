//! Rebuild and verify against a real NATS JetStream and both real stores:
//! a rebuild fills the next generation while the live one keeps serving,
//! switches reads and the running projectors to it, and drops the old one;
//! verify finds no difference in an honest model and every tampered document.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::users::{Followed, UserRegistered};
use events::ids::{Handle, UserId};
use events::{Aggregate, Expected, Metadata};
use projectors::{Job, Progress, Projector, ProjectorMetrics, Settings};
use read_models::profiles::{ProfileQueries, Profiles};
use read_models::{Generation, Projection, registry};
use read_store::{AnyStore, IfMissing, ReadStore, Update, Write};
use serde_json::json;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::TestLog;
use tokio::sync::watch;

fn user(n: usize) -> UserId {
    UserId::parse(&format!("u{n}")).unwrap()
}

async fn seed(log: &TestLog, from: usize, to: usize) {
    let metadata = Metadata::new(None);
    for n in from..to {
        let (id, handle) = (user(n), Handle::parse(&format!("user_{n}")).unwrap());
        let registered = UserRegistered { user: id.clone(), handle, display_name: format!("User {n}"), email: None };
        log.store.append(&Aggregate::user(&id), Expected::Any, registered, &metadata, None).await.unwrap();
        if n > 0 {
            let (follower, followee) = (user(n), user(0));
            let followed = Followed { follower: follower.clone(), followee: followee.clone() };
            log.store
                .append(&Aggregate::follow(&follower, &followee), Expected::Any, followed, &metadata, None)
                .await
                .unwrap();
        }
    }
}

fn profiles() -> Arc<dyn Projection> {
    Arc::new(Profiles)
}

fn projector(log: &TestLog, store: &AnyStore) -> Projector<AnyStore> {
    Projector::new(log.store.clone(), store.clone(), ProjectorMetrics::default(), Settings::default())
}

/// A projector service running in the background, as `pulse projectors` does.
fn serve(log: &TestLog, store: &AnyStore) -> watch::Sender<bool> {
    let projector = projector(log, store);
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move { projector.run(&Job::all(&[profiles()], vec![]), stopped).await.unwrap() });
    stop
}

async fn followers_of_u0(store: &AnyStore, generation: Generation) -> u64 {
    ProfileQueries::new(store, generation).profile("u0").await.unwrap().map_or(0, |p| p.stats.followers)
}

async fn until<F: Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

testkit::on_both_stores!(
    a_rebuild_switches_reads_and_projectors_to_the_new_generation_and_drops_the_old,
    verify_finds_no_difference_in_an_honest_model_and_every_tampered_document,
);

async fn a_rebuild_switches_reads_and_projectors_to_the_new_generation_and_drops_the_old<
    F: Future<Output = AnyStore>,
>(
    fresh: impl Fn() -> F,
) {
    let store = fresh().await;
    let log = TestLog::new().await;
    seed(&log, 0, 40).await;
    let _service = serve(&log, &store);
    let progress = Progress::start(&log.store, &store, &[profiles()], &[]).await.unwrap();
    until("the live model caught up", || async { followers_of_u0(&store, Generation::FIRST).await == 39 }).await;

    let reported = Mutex::new(Vec::new());
    let rebuilt = projectors::rebuild::rebuild(&projector(&log, &store), &profiles(), |applied, total| {
        reported.lock().unwrap().push((applied, total));
    })
    .await
    .unwrap();

    assert_eq!((rebuilt.from, rebuilt.to), (Generation::FIRST, Generation(2)));
    assert_eq!(registry::live(&store, "profiles").await.unwrap(), Generation(2));
    assert_eq!(progress.generation("profiles"), Generation(2), "queries read the new generation");
    assert_eq!(reported.lock().unwrap().last(), Some(&(79, 79)), "the bar ends full: 40 registrations, 39 follows");
    assert_eq!(followers_of_u0(&store, Generation(2)).await, 39);
    assert!(store.get("users_g1", "u0").await.is_err(), "the old generation is dropped");
    // The running projectors moved to the new generation: new events reach it.
    seed(&log, 40, 45).await;
    until("the service projects into generation 2", || async { followers_of_u0(&store, Generation(2)).await == 44 })
        .await;
}

async fn verify_finds_no_difference_in_an_honest_model_and_every_tampered_document<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = fresh().await;
    let log = TestLog::new().await;
    seed(&log, 0, 20).await;
    registry::declare(&store, &[profiles()]).await.unwrap();
    let _service = serve(&log, &store);
    until("the live model caught up", || async { followers_of_u0(&store, Generation::FIRST).await == 19 }).await;
    let projector = projector(&log, &store);

    assert_eq!(projectors::rebuild::verify(&projector, &profiles()).await.unwrap(), vec![]);

    let tamper =
        Write::update("users_g1", "u3", vec![Update::Set("display_name".into(), json!("Mallory"))], IfMissing::Skip);
    store.write(&[tamper, Write::delete("follows_g1", "u5:u0")]).await.unwrap();
    let differences = projectors::rebuild::verify(&projector, &profiles()).await.unwrap();
    let found: Vec<_> = differences.iter().map(|d| (d.collection.as_str(), d.id.as_str())).collect();
    assert_eq!(found, [("follows", "u5:u0"), ("users", "u3")]);
    assert_eq!(differences[0].live, None);
    assert_eq!(differences[1].live.as_ref().unwrap()["display_name"], "Mallory");
    assert_eq!(differences[1].rebuilt.as_ref().unwrap()["display_name"], "User 3");
    assert!(store.get("users_g0", "u3").await.is_err(), "the scratch copy is dropped");
}
