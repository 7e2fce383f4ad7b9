//! The engine against a real NATS JetStream and both real read stores: the
//! model it builds equals the events applied one by one, and stays equal when
//! every event is delivered again, when projectors are stopped in the middle
//! of their batches and restarted, and when two projectors share the work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::DomainEvent;
use events::catalog::content::{PostBody, PostCreated, PostLiked};
use events::catalog::users::{Followed, Unfollowed, UserBlocked, UserRegistered};
use events::ids::{Handle, PostId, UserId};
use events::{Aggregate, Expected, Metadata};
use projectors::{Projector, ProjectorMetrics, Settings};
use read_models::profiles::Profiles;
use read_models::{Event, Generation, Projection, registry};
use read_store::{AnyStore, Document, ReadStore};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::TestLog;
use tokio::sync::watch;

type Model = BTreeMap<(String, String), Document>;

fn user(n: usize) -> UserId {
    UserId::parse(&format!("u{n}")).unwrap()
}

/// A history over `users` users: registrations, follows (some undone),
/// a block, posts and likes, appended to the log as the command API would.
async fn seed(log: &TestLog, users: usize) -> usize {
    let mut appended = 0;
    let metadata = Metadata::new(None);
    let mut append = async |aggregate: Aggregate, event: DomainEvent| {
        log.store.append(&aggregate, Expected::Any, event, &metadata, None).await.unwrap();
        appended += 1;
    };
    for n in 0..users {
        let (id, handle) = (user(n), Handle::parse(&format!("user_{n}")).unwrap());
        let registered = UserRegistered { user: id.clone(), handle, display_name: format!("User {n}"), email: None };
        append(Aggregate::user(&id), registered.into()).await;
    }
    for n in 0..users {
        for step in [1, 2, 5] {
            let (follower, followee) = (user(n), user((n + step) % users));
            append(Aggregate::follow(&follower, &followee), Followed { follower, followee }.into()).await;
        }
        if n % 3 == 0 {
            let (follower, followee) = (user(n), user((n + 2) % users));
            append(Aggregate::follow(&follower, &followee), Unfollowed { follower, followee }.into()).await;
        }
        let post = PostId::new();
        let body =
            PostBody { text: format!("post {n}"), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] };
        append(Aggregate::post(post), PostCreated { post, author: user(n), body }.into()).await;
        let liker = user((n + 1) % users);
        let like = PostLiked { post, user: liker.clone(), author: user(n) };
        append(Aggregate::like(post, &liker), like.into()).await;
    }
    let (blocker, blocked) = (user(0), user(1));
    append(Aggregate::block(&blocker, &blocked), UserBlocked { blocker, blocked }.into()).await;
    appended
}

/// The model the events make applied one by one, in each stream's order:
/// what every run of the engine must end with.
async fn expected(log: &TestLog, fresh: AnyStore) -> Model {
    registry::declare(&fresh, &[Arc::new(Profiles) as Arc<dyn Projection>]).await.unwrap();
    for context in Profiles.contexts() {
        let head = log.store.head(*context).await.unwrap();
        for sequence in 1..=head {
            let position = events::store::Position { context: *context, sequence };
            let recorded = log.store.get(position).await.unwrap().unwrap();
            let event = Event { event: &recorded.event, sequence, time: recorded.envelope.time };
            let writes = Generation::FIRST.stamp(Profiles.apply(event), *context, sequence);
            fresh.write(&writes).await.unwrap();
        }
    }
    model(&fresh).await
}

/// The model without the checkpoints' bookkeeping.
async fn model(store: &AnyStore) -> Model {
    read_models::snapshot(store, &Profiles, Generation::FIRST).await.unwrap()
}

fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Profiles)]
}

/// Runs a projector until `stop` is dropped or fires.
fn start(log: &TestLog, store: &AnyStore, settings: Settings) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    start_counted(log, store, settings, ProjectorMetrics::default())
}

/// [`start`], recording into `metrics`.
fn start_counted(
    log: &TestLog,
    store: &AnyStore,
    settings: Settings,
    metrics: ProjectorMetrics,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let projector = Projector::new(log.store.clone(), store.clone(), metrics, settings);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(async move {
        projector.run(&projectors::Job::all(&projections(), vec![]), stopped).await.unwrap();
    });
    (stop, running)
}

/// Waits until the checkpoints reach the heads of both streams.
async fn caught_up(log: &TestLog, store: &AnyStore) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = projectors::status::status(&log.store, store, &projections(), &[]).await.unwrap();
        if status.iter().all(|s| s.lag_events == 0) {
            return;
        }
        assert!(Instant::now() < deadline, "the projector did not catch up: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

testkit::on_both_stores!(
    the_engine_builds_the_model_the_events_make_applied_one_by_one,
    every_event_delivered_again_leaves_the_same_model_and_counters,
    projectors_stopped_in_the_middle_of_batches_and_restarted_leave_the_same_model,
    two_projectors_sharing_the_work_build_the_model_once,
    a_read_store_lost_behind_its_consumer_is_filled_again_from_the_log_batch_by_batch,
    a_projector_reading_in_order_never_reads_around_its_consumer,
);

async fn the_engine_builds_the_model_the_events_make_applied_one_by_one<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let log = TestLog::new().await;
    seed(&log, 12).await;
    let store = fresh().await;
    let (_stop, _running) = start(&log, &store, Settings::default());
    caught_up(&log, &store).await;
    assert_eq!(model(&store).await, expected(&log, fresh().await).await);
    // And it keeps up with what comes after.
    seed(&log, 4).await;
    caught_up(&log, &store).await;
    assert_eq!(model(&store).await, expected(&log, fresh().await).await);
}

async fn every_event_delivered_again_leaves_the_same_model_and_counters<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let log = TestLog::new().await;
    seed(&log, 12).await;
    let store = fresh().await;
    let (stop, running) = start(&log, &store, Settings::default());
    caught_up(&log, &store).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    let before = model(&store).await;

    // Forget the consumers and the checkpoints: every event comes again.
    for context in Profiles.contexts() {
        log.store.unsubscribe(*context, &format!("profiles_g1_{}", context.as_str())).await.unwrap();
    }
    registry::forget(&store, "profiles", Generation::FIRST).await.unwrap();
    let (_stop, _running) = start(&log, &store, Settings::default());
    caught_up(&log, &store).await;

    assert_eq!(model(&store).await, before);
}

async fn projectors_stopped_in_the_middle_of_batches_and_restarted_leave_the_same_model<
    F: Future<Output = AnyStore>,
>(
    fresh: impl Fn() -> F,
) {
    let log = TestLog::new().await;
    let events = seed(&log, 60).await;
    let store = fresh().await;
    let small = Settings { batch: 8, ..Settings::default() };
    // Killed at once and after a little work, the task dropped wherever it
    // is: in a store write, between the write and the ack, or in a pull. A
    // restart waits for the dead one's pin to lapse, then reads what it left.
    for delay in [0, 15, 40] {
        let (_stop, running) = start(&log, &store, small);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        running.abort();
        let _ = running.await;
    }
    let (_stop, _running) = start(&log, &store, small);
    caught_up(&log, &store).await;
    assert!(events > 300, "enough events for many batches: {events}");
    assert_eq!(model(&store).await, expected(&log, fresh().await).await);
}

async fn two_projectors_sharing_the_work_build_the_model_once<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let log = TestLog::new().await;
    seed(&log, 30).await;
    let store = fresh().await;
    let small = Settings { batch: 16, ..Settings::default() };
    let (_one, _first) = start(&log, &store, small);
    let (_two, _second) = start(&log, &store, small);
    caught_up(&log, &store).await;
    assert_eq!(model(&store).await, expected(&log, fresh().await).await);
}

async fn a_read_store_lost_behind_its_consumer_is_filled_again_from_the_log_batch_by_batch<
    F: Future<Output = AnyStore>,
>(
    fresh: impl Fn() -> F,
) {
    let log = TestLog::new().await;
    seed(&log, 12).await;
    let lost = fresh().await;
    let (stop, running) = start(&log, &lost, Settings::default());
    caught_up(&log, &lost).await;
    stop.send(true).unwrap();
    running.await.unwrap();

    // The consumers remember having delivered everything; the new store has
    // nothing. It is filled in many small batches, each stored while the next
    // is read.
    let store = fresh().await;
    let (_stop, _running) = start(&log, &store, Settings { catch_up_batch: 5, ..Settings::default() });
    caught_up(&log, &store).await;

    assert_eq!(model(&store).await, model(&lost).await);
    assert_eq!(model(&store).await, expected(&log, fresh().await).await);
}

async fn a_projector_reading_in_order_never_reads_around_its_consumer<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let log = TestLog::new().await;
    seed(&log, 20).await;
    let store = fresh().await;
    let metrics = ProjectorMetrics::default();
    let small = Settings { batch: 8, ..Settings::default() };
    let (_stop, _running) = start_counted(&log, &store, small, metrics.clone());
    // Events arriving while it reads, in many small batches.
    seed(&log, 10).await;
    caught_up(&log, &store).await;

    for context in Profiles.contexts() {
        let labels = projectors::metrics::Labels { projection: "profiles".into(), context: context.as_str().into() };
        assert!(metrics.applied.get_or_create(&labels).get() > 0);
        assert_eq!(metrics.catch_ups.get_or_create(&labels).get(), 0, "{context}: the consumer's order was enough");
    }
    assert_eq!(model(&store).await, expected(&log, fresh().await).await);
}
