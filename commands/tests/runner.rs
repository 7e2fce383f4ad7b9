//! The command runner against a real NATS JetStream: cached states catch up
//! with what other processes appended, and a stale cache never decides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use commands::{CommandContext, CommandError, Commands, Settings};
use domain::content::text::{MAX_POST_CHARS, compose};
use domain::content::{Post, PostCommand, PostRejection, WordList};
use events::ids::{PostId, UserId};
use events::{Aggregate, Metadata};
use testkit::TestLog;

fn ana() -> UserId {
    UserId::parse("ana").unwrap()
}

fn context() -> CommandContext {
    CommandContext::new(Metadata::new(Some(ana())), None)
}

fn create(post: PostId) -> PostCommand {
    let body = compose("hello", &[], &WordList::default(), MAX_POST_CHARS).unwrap();
    PostCommand::Create { post, author: ana(), body }
}

fn edit(text: &str) -> PostCommand {
    PostCommand::Edit { by: ana(), body: compose(text, &[], &WordList::default(), MAX_POST_CHARS).unwrap() }
}

fn loads(commands: &Commands, outcome: &str) -> String {
    let mut text = String::new();
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("loads", "", commands.metrics().loads.clone());
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text.lines().find(|l| l.contains(&format!("cache=\"{outcome}\""))).unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_cached_state_catches_up_with_events_another_process_appended() {
    let log = TestLog::new().await;
    let (here, elsewhere) =
        (Commands::new(log.store.clone(), Settings::default()), Commands::new(log.store.clone(), Settings::default()));
    let id = PostId::new();
    let post = Aggregate::post(id);
    here.create::<Post>(&context(), &post, create(id)).await.unwrap();
    here.execute::<Post>(&context(), &post, edit("first edit")).await.unwrap();
    here.execute::<Post>(&context(), &post, edit("second edit")).await.unwrap();
    assert!(loads(&here, "miss").ends_with(" 1"), "{}", loads(&here, "miss"));
    assert!(loads(&here, "hit").ends_with(" 1"), "{}", loads(&here, "hit"));

    elsewhere.execute::<Post>(&context(), &post, PostCommand::Delete { by: ana() }).await.unwrap();

    let refused = here.execute::<Post>(&context(), &post, edit("too late")).await;
    assert!(matches!(refused, Err(CommandError::Rejected(PostRejection::PostDeleted))), "{refused:?}");
    assert!(loads(&here, "hit").ends_with(" 2"), "the second load was a hit that read one event more");
}

#[tokio::test]
async fn a_cache_left_stale_by_a_recreated_stream_loses_the_append_and_decides_again() {
    let log = TestLog::new().await;
    let commands = Commands::new(log.store.clone(), Settings::default());
    let id = PostId::new();
    let post = Aggregate::post(id);
    commands.create::<Post>(&context(), &post, create(id)).await.unwrap();
    commands.execute::<Post>(&context(), &post, edit("cached")).await.unwrap();

    // The log starts over: the cache still holds a live post at version 2.
    log.store.delete_streams().await.unwrap();
    log.store.ensure_streams().await.unwrap();

    let refused = commands.execute::<Post>(&context(), &post, edit("on a post that is gone")).await;
    assert!(matches!(refused, Err(CommandError::Rejected(PostRejection::NoSuchPost))), "{refused:?}");
    assert!(log.store.load(&post).await.unwrap().events.is_empty(), "nothing was appended");
}

#[tokio::test]
async fn without_a_cache_every_load_walks_the_history_and_decides_the_same() {
    let log = TestLog::new().await;
    let commands = Commands::new(log.store.clone(), Settings { cache_capacity: 0, ..Settings::default() });
    let id = PostId::new();
    let post = Aggregate::post(id);
    commands.create::<Post>(&context(), &post, create(id)).await.unwrap();
    let outcome = commands.execute::<Post>(&context(), &post, edit("again")).await.unwrap();
    assert!(outcome.changed);
    assert!(loads(&commands, "miss").ends_with(" 1"), "{}", loads(&commands, "miss"));
    assert_eq!(loads(&commands, "hit"), "");
}

#[tokio::test]
async fn a_request_that_already_sent_an_event_never_answers_that_nothing_was_appended() {
    let mut server = testkit::cluster::NatsCluster::start_with(1, "");
    let config = events::StoreConfig { timeout: std::time::Duration::from_millis(500), ..Default::default() };
    let store = events::EventStore::connect(&server.urls()[0], config).await.unwrap();
    let commands = Commands::new(store.clone(), Settings::default());
    let request = context();
    let (first, second) = (PostId::new(), PostId::new());
    commands.create::<Post>(&request, &Aggregate::post(first), create(first)).await.unwrap();

    server.kill("n1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.is_connected().is_ok() {
        assert!(std::time::Instant::now() < deadline, "the client never noticed the server died");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let same_request = commands.create::<Post>(&request, &Aggregate::post(second), create(second)).await;
    let fresh_request = commands.create::<Post>(&context(), &Aggregate::post(second), create(second)).await;

    assert!(
        matches!(same_request, Err(CommandError::Store(events::StoreError::OutcomeUnknown(_)))),
        "{same_request:?}"
    );
    assert!(matches!(fresh_request, Err(CommandError::Store(events::StoreError::Unavailable(_)))), "{fresh_request:?}");
}
