//! A new life of the log: the NATS store wiped, or restored from an older
//! copy, under a kept read store. What was built from the old life is
//! dropped and built again from the new one, and no query is told it caught
//! up from the old one. On SQLite and on MongoDB (SecantusDB).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::users::UserRegistered;
use events::catalog::{DomainEvent, UserEvent};
use events::ids::{Handle, UserId};
use events::store::Position;
use events::{Aggregate, Context, Expected, Metadata, Recorded};
use futures::future::BoxFuture;
use projectors::{Job, Progress, Projector, ProjectorMetrics, Reactor, Settings};
use read_models::profiles::Profiles;
use read_models::{Generation, Projection, registry};
use read_store::AnyStore;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::TestLog;
use testkit::cluster::NatsCluster;
use tokio::sync::watch;

const TIMEOUT: Duration = Duration::from_secs(2);

fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Profiles)]
}

/// Registers users named `prefix0`, `prefix1`, ...
async fn register(log: &TestLog, prefix: &str, count: usize) {
    for n in 0..count {
        let user = UserId::parse(&format!("{prefix}{n}")).unwrap();
        let handle = Handle::parse(&format!("{prefix}_{n}")).unwrap();
        let event = UserRegistered { user: user.clone(), handle, display_name: user.to_string(), email: None };
        let (aggregate, metadata) = (Aggregate::user(&user), Metadata::new(None));
        log.store.append(&aggregate, Expected::Any, event, &metadata, None).await.unwrap();
    }
}

/// The users the live generation of the profiles model holds, sorted.
async fn users_in_the_model(store: &AnyStore) -> Vec<String> {
    let generation = registry::live(store, Profiles.name()).await.unwrap();
    let model = read_models::snapshot(store, &Profiles, generation).await.unwrap();
    let mut users: Vec<String> =
        model.keys().filter(|(collection, _)| collection == "users").map(|(_, id)| id.clone()).collect();
    users.sort();
    users
}

/// Runs the projector until the profiles model holds `expected` users.
async fn project_until(log: &TestLog, store: &AnyStore, expected: &[&str]) {
    registry::declare(store, &projections()).await.unwrap();
    let projector = Projector::new(log.store.clone(), store.clone(), ProjectorMetrics::default(), Settings::default());
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(async move { projector.run(&Job::all(&projections(), vec![]), stopped).await });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let users = users_in_the_model(store).await;
        if users == expected {
            break;
        }
        assert!(Instant::now() < deadline, "the model holds {users:?}, not {expected:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

testkit::on_both_stores!(
    a_wiped_log_is_projected_from_its_new_start_and_no_query_is_told_it_caught_up_from_the_old_one,
    a_log_restored_from_an_older_copy_is_projected_again_from_what_it_holds,
    a_reactor_in_another_process_starts_over_too_after_the_projections_did,
);

/// A reactor that remembers the users it saw, and forgets them with the
/// life they came from.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Reactor for Seen {
    fn name(&self) -> &'static str {
        "seen"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Users]
    }

    fn react<'a>(&'a self, recorded: &'a Recorded) -> BoxFuture<'a, Result<(), String>> {
        if let DomainEvent::Users(UserEvent::UserRegistered(e)) = &recorded.event {
            self.0.lock().unwrap().push(e.user.to_string());
        }
        Box::pin(async { Ok(()) })
    }

    fn new_life<'a>(&'a self, _contexts: &'a [Context]) -> BoxFuture<'a, Result<(), String>> {
        self.0.lock().unwrap().clear();
        Box::pin(async { Ok(()) })
    }
}

/// Runs `reactor` alone (as another process would) until it saw `expected`.
async fn react_until(log: &TestLog, store: &AnyStore, reactor: &Arc<Seen>, expected: &[&str]) {
    let projector = Projector::new(log.store.clone(), store.clone(), ProjectorMetrics::default(), Settings::default());
    let (stop, stopped) = watch::channel(false);
    let jobs = vec![Job::React(reactor.clone() as Arc<dyn Reactor>)];
    let running = tokio::spawn(async move { projector.run(&jobs, stopped).await });
    let deadline = Instant::now() + Duration::from_secs(30);
    while *reactor.0.lock().unwrap() != expected {
        assert!(Instant::now() < deadline, "the reactor saw {:?}, not {expected:?}", reactor.0.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

async fn a_reactor_in_another_process_starts_over_too_after_the_projections_did<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let mut server = NatsCluster::start_with(1, "");
    let log = TestLog::on_server(&server.urls()[0], TIMEOUT).await;
    let store = fresh().await;
    let reactor = Arc::new(Seen::default());
    register(&log, "old", 3).await;
    project_until(&log, &store, &["old0", "old1", "old2"]).await;
    react_until(&log, &store, &reactor, &["old0", "old1", "old2"]).await;

    server.wipe("n1");
    log.make_streams(TIMEOUT).await;
    register(&log, "new", 1).await;
    project_until(&log, &store, &["new0"]).await;

    react_until(&log, &store, &reactor, &["new0"]).await;
}

async fn a_wiped_log_is_projected_from_its_new_start_and_no_query_is_told_it_caught_up_from_the_old_one<
    F: Future<Output = AnyStore>,
>(
    fresh: impl Fn() -> F,
) {
    let mut server = NatsCluster::start_with(1, "");
    let log = TestLog::on_server(&server.urls()[0], TIMEOUT).await;
    let store = fresh().await;
    register(&log, "old", 5).await;
    project_until(&log, &store, &["old0", "old1", "old2", "old3", "old4"]).await;

    server.wipe("n1");
    log.make_streams(TIMEOUT).await;
    register(&log, "new", 2).await;

    // Before any projector ran on the new life, the old checkpoints (at 5)
    // must not answer for a position of the new one (1).
    let progress = Progress::start(&log.store, &store, &projections(), &[]).await.unwrap();
    let first = Position { context: Context::Users, sequence: 1 };
    assert!(!progress.wait(&["profiles"], first, Duration::from_millis(300)).await, "caught-up from another life");

    project_until(&log, &store, &["new0", "new1"]).await;
    assert!(progress.wait(&["profiles"], first, Duration::from_secs(10)).await, "the new life is read");
    let generation = registry::live(&store, Profiles.name()).await.unwrap();
    assert_eq!(generation, Generation(2), "a new generation, the old one dropped");
    let checkpoint = registry::checkpoint(&store, Profiles.name(), generation, Context::Users).await.unwrap();
    assert_eq!(checkpoint.sequence, 2);
}

async fn a_log_restored_from_an_older_copy_is_projected_again_from_what_it_holds<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let mut server = NatsCluster::start_with(1, "");
    let log = TestLog::on_server(&server.urls()[0], TIMEOUT).await;
    let store = fresh().await;
    register(&log, "kept", 2).await;
    let backup = server.back_up("n1");
    server.restart("n1");
    register(&log, "lost", 4).await;
    project_until(&log, &store, &["kept0", "kept1", "lost0", "lost1", "lost2", "lost3"]).await;

    server.restore("n1", &backup);
    register(&log, "after", 1).await;

    project_until(&log, &store, &["after0", "kept0", "kept1"]).await;
}
