//! The reactions against a real NATS JetStream: a block ends the follows
//! between the two users, through the domain's rules, once, however often the
//! block is delivered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use commands::Commands;
use domain::users::Follow;
use events::catalog::users::{Followed, UserBlocked, UserRegistered};
use events::ids::{Handle, UserId};
use events::{Aggregate, Context, DomainEvent, Expected, Metadata};
use projectors::{Job, Projector, ProjectorMetrics, Reactions, Settings};
use read_models::{Generation, registry};
use read_store::{AnyStore, ReadStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::TestLog;
use tokio::sync::watch;

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

async fn append(log: &TestLog, aggregate: Aggregate, event: impl Into<DomainEvent>) -> events::Position {
    let appended = log.store.append(&aggregate, Expected::Any, event, &Metadata::new(None), None).await.unwrap();
    appended.position
}

fn react(log: &TestLog, store: &AnyStore) -> watch::Sender<bool> {
    let reactions = Reactions::new(Commands::new(log.store.clone(), commands::Settings::default()));
    let projector = Projector::new(log.store.clone(), store.clone(), ProjectorMetrics::default(), Settings::default());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move { projector.run(&Job::all(&[], vec![Arc::new(reactions)]), stopped).await.unwrap() });
    stop
}

async fn unfollows(log: &TestLog, follower: &UserId, followee: &UserId) -> Vec<events::Recorded> {
    let history = log.store.load(&Aggregate::follow(follower, followee)).await.unwrap();
    history.events.into_iter().filter(|r| r.event.name() == "Unfollowed").collect()
}

async fn until_reacted_to(store: &AnyStore, block: events::Position) {
    store.ensure(&registry::collections()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while registry::checkpoint(store, Reactions::NAME, Generation::FIRST, Context::Users).await.unwrap().sequence
        < block.sequence
    {
        assert!(Instant::now() < deadline, "the block was not reacted to");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_block_ends_the_follows_both_ways_once_however_often_it_is_delivered() {
    let log = TestLog::new().await;
    let (ana, ben) = (user("ana"), user("ben"));
    for id in [&ana, &ben] {
        let handle = Handle::parse(id.as_str()).unwrap();
        append(
            &log,
            Aggregate::user(id),
            UserRegistered { user: id.clone(), handle, display_name: "x".into(), email: None },
        )
        .await;
    }
    append(&log, Aggregate::follow(&ana, &ben), Followed { follower: ana.clone(), followee: ben.clone() }).await;
    append(&log, Aggregate::follow(&ben, &ana), Followed { follower: ben.clone(), followee: ana.clone() }).await;
    let block =
        append(&log, Aggregate::block(&ana, &ben), UserBlocked { blocker: ana.clone(), blocked: ben.clone() }).await;
    let block_id = log.store.get(block).await.unwrap().unwrap().envelope.id.to_string();

    let store = testkit::read_stores::sqlite();
    let stop = react(&log, &store);
    until_reacted_to(&store, block).await;
    stop.send(true).unwrap();

    let commands = Commands::new(log.store.clone(), commands::Settings::default());
    for (follower, followee) in [(&ana, &ben), (&ben, &ana)] {
        assert_eq!(
            commands.current::<Follow>(&Aggregate::follow(follower, followee)).await.unwrap(),
            Follow::NotFollowing
        );
        let ended = unfollows(&log, follower, followee).await;
        assert_eq!(ended.len(), 1, "{follower} -> {followee}");
        assert_eq!(ended[0].envelope.causation_id.as_deref(), Some(block_id.as_str()), "caused by the block");
    }

    // Deliver everything again, from a store that remembers nothing.
    log.store.unsubscribe(Context::Users, "reactions_g1_users").await.unwrap();
    let forgetful = testkit::read_stores::sqlite();
    let _stop = react(&log, &forgetful);
    until_reacted_to(&forgetful, block).await;
    for (follower, followee) in [(&ana, &ben), (&ben, &ana)] {
        assert_eq!(unfollows(&log, follower, followee).await.len(), 1, "nothing appended twice");
    }
}
