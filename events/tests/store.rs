//! The event store against a real NATS JetStream: concurrency, idempotency,
//! uniqueness, durable delivery, failure modes and the CloudEvents contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::content::{PostBody, PostCreated, PostEdited};
use events::catalog::users::{HandleClaimed, UserRegistered};
use events::ids::{Handle, PostId, UserId};
use events::{Aggregate, ContentEvent, Context, DomainEvent, EventStore, Expected, IdempotencyKey, Metadata};
use events::{Start, StoreConfig, StoreError, Subscribe, UserEvent};
use std::time::Duration;
use testkit::TestLog;

fn ana() -> UserId {
    UserId::parse("ana").unwrap()
}

fn body(text: &str) -> PostBody {
    PostBody { text: text.to_owned(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] }
}

fn created(post: PostId, text: &str) -> ContentEvent {
    PostCreated { post, author: ana(), body: body(text) }.into()
}

fn edited(post: PostId, text: &str) -> ContentEvent {
    PostEdited { post, body: body(text) }.into()
}

fn meta() -> Metadata {
    Metadata::new(Some(ana()))
}

mod appending {
    use super::*;

    #[tokio::test]
    async fn two_writers_racing_on_one_aggregate_leave_exactly_one_event() {
        let log = TestLog::new().await;
        let post = PostId::new();
        let aggregate = Aggregate::post(post);
        log.store.append(&aggregate, Expected::Version(0), created(post, "v0"), &meta(), None).await.unwrap();
        let version = log.store.version(&aggregate).await.unwrap();

        let metadata = meta();
        let (a, b) = tokio::join!(
            log.store.append(&aggregate, Expected::Version(version), edited(post, "a"), &metadata, None),
            log.store.append(&aggregate, Expected::Version(version), edited(post, "b"), &metadata, None),
        );

        let outcomes = [a, b];
        assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1, "{outcomes:?}");
        assert!(
            outcomes.iter().any(|r| matches!(r, Err(StoreError::Conflict { expected, .. }) if *expected == version))
        );
        assert_eq!(log.store.load(&aggregate).await.unwrap().events.len(), 2);
    }

    #[tokio::test]
    async fn a_key_the_server_made_rides_on_the_event_and_a_late_copy_of_the_append_is_refused_by_its_version() {
        let log = TestLog::new().await;
        let post = PostId::new();
        let aggregate = Aggregate::post(post);
        let made = IdempotencyKey::parse("ana:pulse-0123").unwrap().made_fresh();
        let first = log.store.append(&aggregate, Expected::Version(0), created(post, "x"), &meta(), Some(&made)).await;
        let first = first.unwrap();
        let stored = log.store.get(first.position).await.unwrap().unwrap();
        assert_eq!(stored.idempotency_key.as_deref(), Some("ana:pulse-0123"), "the key is on the event");

        // The same publish again (as a buffered copy sent on reconnect would
        // be): JetStream does not deduplicate it, its expected version does,
        // and it is recognised as the first append.
        let copy = log.store.append(&aggregate, Expected::Version(0), created(post, "x"), &meta(), Some(&made)).await;
        assert_eq!(copy.unwrap(), events::Appended { position: first.position, duplicate: true });
        // The client's retry under the same key finds it too.
        let client = IdempotencyKey::parse("ana:pulse-0123").unwrap();
        let retry =
            log.store.append(&aggregate, Expected::Version(0), created(post, "x"), &meta(), Some(&client)).await;
        assert_eq!(retry.unwrap().position, first.position);
        assert_eq!(log.store.load(&aggregate).await.unwrap().events.len(), 1);
    }

    #[tokio::test]
    async fn the_same_idempotency_key_twice_appends_one_event_at_one_position() {
        let log = TestLog::new().await;
        let post = PostId::new();
        let aggregate = Aggregate::post(post);
        let key = IdempotencyKey::parse("ana:create-post-1").unwrap();

        let first =
            log.store.append(&aggregate, Expected::Version(0), created(post, "hi"), &meta(), Some(&key)).await.unwrap();
        // The retry still believes the aggregate is new: the key must win over the stale version.
        let again =
            log.store.append(&aggregate, Expected::Version(0), created(post, "hi"), &meta(), Some(&key)).await.unwrap();

        assert!(!first.duplicate);
        assert!(again.duplicate);
        assert_eq!(first.position, again.position);
        assert_eq!(log.store.load(&aggregate).await.unwrap().events.len(), 1);
    }

    #[tokio::test]
    async fn a_handle_can_be_claimed_only_once() {
        let log = TestLog::new().await;
        let handle = Handle::parse("ana").unwrap();
        let aggregate = Aggregate::handle(&handle);
        let claim = |user: &str| HandleClaimed { handle: handle.clone(), user: UserId::parse(user).unwrap() };

        let first = log.store.append(&aggregate, Expected::Version(0), claim("ana-1"), &meta(), None).await;
        let second = log.store.append(&aggregate, Expected::Version(0), claim("ana-2"), &meta(), None).await;

        assert!(first.is_ok());
        assert!(matches!(second, Err(StoreError::Conflict { expected: 0, .. })), "{second:?}");
        let history = log.store.load(&aggregate).await.unwrap();
        assert_eq!(history.events.len(), 1);
        assert_eq!(history.events[0].event, DomainEvent::Users(claim("ana-1").into()));
    }

    #[tokio::test]
    async fn an_event_larger_than_the_stream_allows_is_refused_and_not_stored() {
        let log = TestLog::new().await;
        let post = PostId::new();
        let aggregate = Aggregate::post(post);

        let result =
            log.store.append(&aggregate, Expected::Version(0), created(post, &"x".repeat(70_000)), &meta(), None).await;

        assert!(matches!(result, Err(StoreError::TooLarge { max: 65536, .. })), "{result:?}");
        assert_eq!(log.store.version(&aggregate).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn an_event_is_refused_on_an_aggregate_of_another_context() {
        let log = TestLog::new().await;
        let result =
            log.store.append(&Aggregate::user(&ana()), Expected::Any, created(PostId::new(), "x"), &meta(), None).await;
        assert!(matches!(result, Err(StoreError::Config(_))), "{result:?}");
    }
}

mod loading {
    use super::*;

    #[tokio::test]
    async fn an_aggregate_loads_in_order_with_its_version_and_catches_up_from_a_known_one() {
        let log = TestLog::new().await;
        let post = PostId::new();
        let aggregate = Aggregate::post(post);
        let other = Aggregate::post(PostId::new());
        let mut version = 0;
        for (i, text) in ["one", "two", "three"].into_iter().enumerate() {
            let event = if i == 0 { created(post, text) } else { edited(post, text) };
            version = log
                .store
                .append(&aggregate, Expected::Version(version), event, &meta(), None)
                .await
                .unwrap()
                .position
                .sequence;
            log.store.append(&other, Expected::Any, edited(post, "noise"), &meta(), None).await.unwrap();
        }

        let history = log.store.load(&aggregate).await.unwrap();
        let texts: Vec<_> = history
            .events
            .iter()
            .map(|r| match &r.event {
                DomainEvent::Content(ContentEvent::PostCreated(e)) => e.body.text.clone(),
                DomainEvent::Content(ContentEvent::PostEdited(e)) => e.body.text.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(texts, ["one", "two", "three"]);
        assert_eq!(history.version, version);

        let tail = log.store.load_after(&aggregate, history.events[0].position.sequence).await.unwrap();
        assert_eq!(tail.events.len(), 2);
        assert_eq!(tail.version, version);
        assert_eq!(log.store.load(&Aggregate::post(PostId::new())).await.unwrap().version, 0);
    }

    #[tokio::test]
    async fn a_stored_v1_event_reads_as_the_current_version() {
        let log = TestLog::new().await;
        let user = ana();
        let aggregate = Aggregate::user(&user);
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "0192f1c4-5a6b-7c8d-9e0f-112233445566"),
            ("ce-source", "/pulse/command-api"),
            ("ce-type", "pulse.users.UserRegistered.v1"),
            ("ce-subject", "users.user.ana"),
            ("ce-time", "2024-01-01T00:00:00Z"),
            ("content-type", "application/json"),
            ("ce-correlationid", "c1"),
        ] {
            headers.insert(name, value);
        }
        let js = async_nats::jetstream::new(log.client.clone());
        let body = br#"{"user":"ana","handle":"ana","name":"Ana"}"#;
        js.publish_with_headers(aggregate.subject(&log.namespace), headers, body.as_slice().into())
            .await
            .unwrap()
            .await
            .unwrap();

        let history = log.store.load(&aggregate).await.unwrap();

        let expected =
            UserRegistered { user, handle: Handle::parse("ana").unwrap(), display_name: "Ana".to_owned(), email: None };
        assert_eq!(history.events[0].event, DomainEvent::Users(UserEvent::UserRegistered(expected)));
        assert_eq!(history.events[0].envelope.event_type.version, 1);
    }
}

mod subscribing {
    use super::*;

    fn subscription(start: Start) -> Subscribe {
        Subscribe {
            context: Context::Content,
            filter: Some("content.post.*".to_owned()),
            start,
            ack_wait: Duration::from_millis(500),
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_crashes_before_acking_gets_the_event_again_and_then_resumes_after_its_last_ack() {
        let log = TestLog::new().await;
        let posts: Vec<PostId> = (0..3).map(|_| PostId::new()).collect();
        for post in &posts {
            log.store
                .append(&Aggregate::post(*post), Expected::Version(0), created(*post, "x"), &meta(), None)
                .await
                .unwrap();
        }

        // First life: acknowledges the first event, crashes while holding the second.
        {
            let mut sub = log.store.subscribe("projector", subscription(Start::Beginning)).await.unwrap();
            let first = sub.next().await.unwrap().unwrap();
            first.ack().await.unwrap();
            let second = sub.next().await.unwrap().unwrap();
            assert_eq!(second.delivered, 1);
        }

        // Second life: the unacknowledged event comes back, then the rest, never the acknowledged one.
        let mut sub = log.store.subscribe("projector", subscription(Start::Beginning)).await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let delivery = tokio::time::timeout(Duration::from_secs(10), sub.next()).await.unwrap().unwrap().unwrap();
            let DomainEvent::Content(ContentEvent::PostCreated(e)) = delivery.recorded.as_ref().unwrap().event.clone()
            else {
                panic!()
            };
            if e.post == posts[1] {
                assert!(delivery.delivered >= 2, "redelivery is marked");
            }
            delivery.ack().await.unwrap();
            seen.push(e.post);
        }
        assert_eq!(seen, posts[1..]);
    }

    #[tokio::test]
    async fn a_subscription_sees_only_its_filter_from_its_start() {
        let log = TestLog::new().await;
        let early = PostId::new();
        let late = PostId::new();
        log.store
            .append(&Aggregate::post(early), Expected::Version(0), created(early, "early"), &meta(), None)
            .await
            .unwrap();
        let head = log.store.head(Context::Content).await.unwrap();
        log.store
            .append(&Aggregate::like(early, &ana()), Expected::Any, edited(early, "not a post subject"), &meta(), None)
            .await
            .unwrap();
        log.store
            .append(&Aggregate::post(late), Expected::Version(0), created(late, "late"), &meta(), None)
            .await
            .unwrap();

        let mut sub = log.store.subscribe("from-head", subscription(Start::At(head + 1))).await.unwrap();
        let delivery = sub.next().await.unwrap().unwrap();

        assert_eq!(delivery.recorded.unwrap().envelope.subject, Aggregate::post(late).to_string());
    }
}

mod failures {
    use super::*;

    #[tokio::test]
    async fn append_returns_unavailable_within_its_timeout_when_nats_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener); // nothing listens there now
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let timeout = Duration::from_millis(500);
        let store = EventStore::with_client(client, StoreConfig { timeout, ..StoreConfig::default() }).unwrap();
        let post = PostId::new();

        let started = std::time::Instant::now();
        let result =
            store.append(&Aggregate::post(post), Expected::Version(0), created(post, "x"), &meta(), None).await;

        assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "bounded by the timeout, took {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn connecting_to_an_unreachable_nats_fails_with_a_clear_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("nats://{}", listener.local_addr().unwrap());
        drop(listener);
        let config = StoreConfig { timeout: Duration::from_millis(500), ..StoreConfig::default() };
        let result = EventStore::connect(&url, config).await;
        assert!(
            matches!(&result, Err(StoreError::Unavailable(m)) if m.contains("cannot connect")),
            "{:?}",
            result.err()
        );
    }

    #[tokio::test]
    async fn a_server_below_the_floor_is_refused_before_any_stream_is_made() {
        let old = testkit::old_nats::OldNats::start();
        let config = StoreConfig { timeout: Duration::from_secs(5), ..StoreConfig::default() };

        let result = EventStore::connect(&old.url, config).await;

        let expected = StoreError::ServerTooOld {
            url: old.url.clone(),
            found: old.version.clone(),
            floor: events::MIN_NATS_VERSION.to_string(),
        };
        assert_eq!(result.err(), Some(expected));
        let jetstream = async_nats::jetstream::new(async_nats::connect(&old.url).await.unwrap());
        let streams: Vec<_> = futures::StreamExt::collect(jetstream.stream_names()).await;
        assert!(streams.is_empty(), "the old server was left untouched: {streams:?}");
    }

    /// A store on a server of the test's own, which it may pause and kill.
    async fn own_server(timeout: Duration) -> (testkit::cluster::NatsCluster, EventStore) {
        let server = testkit::cluster::NatsCluster::start_with(1, "");
        let config = StoreConfig { timeout, ..StoreConfig::default() };
        let store = EventStore::connect(&server.urls()[0], config).await.unwrap();
        (server, store)
    }

    async fn events_on(store: &EventStore, aggregate: &Aggregate) -> usize {
        store.load(aggregate).await.unwrap().events.len()
    }

    #[tokio::test]
    async fn an_append_the_server_never_confirmed_is_outcome_unknown_and_its_retry_makes_one_event() {
        let (mut server, store) = own_server(Duration::from_millis(500)).await;
        let post = PostId::new();
        let aggregate = Aggregate::post(post);
        let key = IdempotencyKey::parse("retry-me").unwrap();

        server.pause("n1");
        let unconfirmed = store.append(&aggregate, Expected::Version(0), created(post, "x"), &meta(), Some(&key)).await;
        assert!(matches!(unconfirmed, Err(StoreError::OutcomeUnknown(_))), "{unconfirmed:?}");
        server.resume("n1");

        // What the paused server had in its socket is appended after all:
        // "not appended" would have been untrue.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while events_on(&store, &aggregate).await == 0 {
            assert!(std::time::Instant::now() < deadline, "the unconfirmed append never landed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let retried = store.append(&aggregate, Expected::Version(0), created(post, "x"), &meta(), Some(&key)).await;
        let retried = retried.unwrap();
        assert!(retried.duplicate, "the retry found the first append");
        assert_eq!(events_on(&store, &aggregate).await, 1, "one event, not two");
    }

    #[tokio::test]
    async fn an_append_refused_while_disconnected_is_unavailable_and_never_lands() {
        let (mut server, store) = own_server(Duration::from_millis(500)).await;
        let post = PostId::new();
        let aggregate = Aggregate::post(post);
        server.kill("n1");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.is_connected().is_ok() {
            assert!(std::time::Instant::now() < deadline, "the client never noticed the server died");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let refused = store.append(&aggregate, Expected::Version(0), created(post, "x"), &meta(), None).await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");

        server.restart("n1");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while store.is_connected().is_err() {
            assert!(std::time::Instant::now() < deadline, "the client never reconnected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A buffered publish goes out first thing after the reconnect; give it time.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(events_on(&store, &aggregate).await, 0, "\"not appended\" stayed true");
    }
}

#[path = "support/cloudevent.rs"]
mod cloudevent;

mod cloudevent_contract {
    use super::*;
    use crate::cloudevent::NatsBinary;
    use ::cloudevents::{AttributesReader, Data};

    #[tokio::test]
    async fn every_published_message_reads_as_a_cloudevent_with_the_sdk() {
        let log = TestLog::new().await;
        let post = PostId::new();
        let aggregate = Aggregate::post(post);
        let metadata = Metadata {
            correlation_id: "corr 1".to_owned(),
            causation_id: Some("req-9".to_owned()),
            actor: Some(ana()),
        };
        let appended =
            log.store.append(&aggregate, Expected::Version(0), created(post, "hello"), &metadata, None).await.unwrap();

        let js = async_nats::jetstream::new(log.client.clone());
        let stream = js.get_stream(log.namespace.stream(Context::Content)).await.unwrap();
        let raw = stream.get_raw_message(appended.position.sequence).await.unwrap();
        let event = NatsBinary::new(&raw.headers, &raw.payload).into_event().unwrap();
        let recorded = log.store.get(appended.position).await.unwrap().unwrap();

        assert_eq!(event.specversion().as_str(), "1.0");
        assert_eq!(event.id(), recorded.envelope.id.to_string());
        assert!(uuid::Uuid::parse_str(event.id()).is_ok());
        assert_eq!(event.source().as_str(), "/pulse/tests");
        assert_eq!(event.ty(), "pulse.content.PostCreated.v1");
        assert_eq!(event.subject(), Some(aggregate.to_string().as_str()));
        assert_eq!(event.time().map(|t| t.timestamp()), Some(recorded.envelope.time.unix_timestamp()));
        assert_eq!(event.datacontenttype(), Some("application/json"));
        assert_eq!(event.extension("correlationid").map(|v| v.to_string()), Some("corr 1".to_owned()));
        assert_eq!(event.extension("causationid").map(|v| v.to_string()), Some("req-9".to_owned()));
        assert_eq!(event.extension("actor").map(|v| v.to_string()), Some("ana".to_owned()));
        let data: serde_json::Value = match event.data().expect("the event has data") {
            Data::Json(value) => value.clone(),
            Data::Binary(bytes) => serde_json::from_slice(bytes).unwrap(),
            Data::String(text) => serde_json::from_str(text).unwrap(),
        };
        assert_eq!(data["body"]["text"], "hello");
        assert_eq!(data["post"], post.to_string());
    }
}
