//! Web Push against a real NATS JetStream and a real push endpoint on
//! loopback: an axum server that does what a push service and a browser do,
//! checking each request's VAPID signature and decrypting its body with the
//! subscription's own keys, so the encryption is proven, not assumed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use domain::notify::RetryPolicy;
use events::catalog::notifications::{
    Channel, NotificationCreated, NotificationKind, PushSubscription, PushSubscriptionAdded,
};
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::{NotificationId, UserId};
use events::{Aggregate, EventStore, Expected, Metadata, Recorded};
use notifier::webpush;
use notifier::{NotifierMetrics, PushSettings, Pusher};
use p256::SecretKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testkit::TestLog;

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

async fn record(log: &EventStore, aggregate: Aggregate, event: impl Into<DomainEvent>) -> Recorded {
    let appended = log.append(&aggregate, Expected::Any, event, &Metadata::new(None), None).await.unwrap();
    log.get(appended.position).await.unwrap().unwrap()
}

/// A browser: its keys, as the Push API makes them.
struct Browser {
    secret: SecretKey,
    auth: Vec<u8>,
}

/// The push endpoint: browsers by id, what each received (decrypted), and
/// how many more requests each answers 503 before it takes one.
#[derive(Default)]
struct Service {
    browsers: HashMap<String, Browser>,
    received: Vec<(String, serde_json::Value)>,
    fail_first: HashMap<String, u32>,
    audience: String,
}

type Shared = Arc<Mutex<Service>>;

async fn push(State(service): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut service = service.lock().unwrap();
    if id.starts_with("gone") {
        return StatusCode::GONE;
    }
    if let Some(left) = service.fail_first.get_mut(&id).filter(|left| **left > 0) {
        *left -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    if webpush::verify_vapid(&header("authorization"), &service.audience, now).is_err()
        || header("content-encoding") != "aes128gcm"
        || header("ttl").is_empty()
    {
        return StatusCode::UNAUTHORIZED;
    }
    let Some(browser) = service.browsers.get(&id) else { return StatusCode::NOT_FOUND };
    let Ok(plain) = webpush::decrypt(&body, &browser.secret, &browser.auth) else { return StatusCode::BAD_REQUEST };
    service.received.push((id, serde_json::from_slice(&plain).unwrap()));
    StatusCode::CREATED
}

struct Endpoint {
    base: String,
    service: Shared,
}

impl Endpoint {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let service = Arc::new(Mutex::new(Service { audience: base.clone(), ..Service::default() }));
        let router = axum::Router::new().route("/push/{id}", axum::routing::post(push)).with_state(service.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, service }
    }

    /// A new browser's subscription at this endpoint.
    fn subscribe(&self, id: &str) -> PushSubscription {
        let secret = SecretKey::random(&mut rand_core::OsRng);
        let auth: Vec<u8> = (0..16).map(|_| fastrand::u8(..)).collect();
        let subscription = PushSubscription {
            endpoint: format!("{}/push/{id}", self.base),
            p256dh: URL_SAFE_NO_PAD.encode(webpush::public_bytes(&secret.public_key())),
            auth: URL_SAFE_NO_PAD.encode(&auth),
        };
        self.service.lock().unwrap().browsers.insert(id.to_owned(), Browser { secret, auth });
        subscription
    }

    fn received(&self) -> Vec<(String, serde_json::Value)> {
        self.service.lock().unwrap().received.clone()
    }
}

fn vapid_key() -> String {
    URL_SAFE_NO_PAD.encode(SecretKey::random(&mut rand_core::OsRng).to_bytes())
}

fn pusher(log: &TestLog, vapid: Option<String>, allow_loopback: bool) -> Pusher {
    let settings = PushSettings {
        vapid_private_key: vapid,
        subject: "mailto:ops@example.org".into(),
        allow_loopback,
        retry: RetryPolicy { attempts: 4, base: Duration::from_millis(50), cap: Duration::from_millis(200) },
    };
    let commands = commands::Commands::new(log.store.clone(), commands::Settings::default());
    Pusher::new(commands, settings, NotifierMetrics::default()).unwrap()
}

async fn subscribed(log: &EventStore, who: &str, subscription: PushSubscription) {
    record(log, Aggregate::preferences(&user(who)), PushSubscriptionAdded { user: user(who), subscription }).await;
}

async fn notification(log: &EventStore, recipient: &str) -> Recorded {
    let notification = NotificationId(uuid::Uuid::now_v7());
    let created = NotificationCreated {
        notification,
        recipient: user(recipient),
        kind: NotificationKind::EventRsvp,
        actor: Some(user("ben")),
        text: "ben is going to your event".into(),
        link: Some("/events/7".into()),
        channels: vec![Channel::InApp, Channel::Push],
    };
    record(log, Aggregate::notification(notification), created).await
}

async fn outcome(log: &EventStore, recorded: &Recorded) -> Vec<String> {
    let DomainEvent::Notifications(NotificationEvent::NotificationCreated(created)) = &recorded.event else {
        panic!("not a notification")
    };
    let loaded = log.load(&Aggregate::notification(created.notification)).await.unwrap();
    (loaded.events.into_iter().skip(1))
        .map(|r| match r.event {
            DomainEvent::Notifications(NotificationEvent::NotificationDelivered(_)) => "Delivered".to_owned(),
            DomainEvent::Notifications(NotificationEvent::NotificationFailed(f)) => {
                format!("Failed ({}): {}", if f.will_retry { "will retry" } else { "for good" }, f.error)
            }
            DomainEvent::Notifications(NotificationEvent::NotificationSkipped(s)) => format!("Skipped: {}", s.reason),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn each_browser_gets_the_notification_encrypted_for_it_and_vapid_signed_once() {
    let log = TestLog::new().await;
    let endpoint = Endpoint::start().await;
    subscribed(&log.store, "ana", endpoint.subscribe("laptop")).await;
    subscribed(&log.store, "ana", endpoint.subscribe("phone")).await;
    let recorded = notification(&log.store, "ana").await;
    let pusher = pusher(&log, Some(vapid_key()), true);

    pusher.run(&recorded).await.unwrap();
    pusher.run(&recorded).await.unwrap();

    let mut received = endpoint.received();
    received.sort_by(|a, b| a.0.cmp(&b.0));
    let browsers: Vec<_> = received.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(browsers, ["laptop", "phone"], "once per browser, however often the event is delivered");
    assert_eq!(received[0].1["text"], "ben is going to your event");
    assert_eq!(received[0].1["link"], "/events/7");
    assert_eq!(outcome(&log.store, &recorded).await, ["Delivered"]);
}

#[tokio::test]
async fn a_subscription_its_service_says_is_gone_is_removed_and_the_others_still_get_it() {
    let log = TestLog::new().await;
    let endpoint = Endpoint::start().await;
    let gone = endpoint.subscribe("gone-tablet");
    subscribed(&log.store, "ana", gone.clone()).await;
    subscribed(&log.store, "ana", endpoint.subscribe("phone")).await;
    let recorded = notification(&log.store, "ana").await;

    pusher(&log, Some(vapid_key()), true).run(&recorded).await.unwrap();

    assert_eq!(endpoint.received().len(), 1);
    assert_eq!(outcome(&log.store, &recorded).await, ["Delivered"]);
    let settings = log.store.load(&Aggregate::preferences(&user("ana"))).await.unwrap();
    let removed: Vec<_> = (settings.events.iter())
        .filter_map(|r| match &r.event {
            DomainEvent::Notifications(NotificationEvent::PushSubscriptionRemoved(e)) => Some(e.endpoint.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(removed, [gone.endpoint]);
}

#[tokio::test]
async fn a_busy_push_service_is_retried_until_it_takes_the_message() {
    let log = TestLog::new().await;
    let endpoint = Endpoint::start().await;
    subscribed(&log.store, "ana", endpoint.subscribe("phone")).await;
    endpoint.service.lock().unwrap().fail_first.insert("phone".into(), 2);
    let recorded = notification(&log.store, "ana").await;

    pusher(&log, Some(vapid_key()), true).run(&recorded).await.unwrap();

    let outcome = outcome(&log.store, &recorded).await;
    assert_eq!(outcome.len(), 3, "{outcome:?}");
    assert!(outcome[..2].iter().all(|o| o.starts_with("Failed (will retry)") && o.contains("503")), "{outcome:?}");
    assert_eq!(outcome[2], "Delivered");
    assert_eq!(endpoint.received().len(), 1);
}

#[tokio::test]
async fn endpoints_on_loopback_or_private_addresses_are_never_called_unless_loopback_is_allowed() {
    let log = TestLog::new().await;
    let endpoint = Endpoint::start().await;
    subscribed(&log.store, "ana", endpoint.subscribe("phone")).await;
    let mut private = endpoint.subscribe("router");
    private.endpoint = "https://10.0.0.1/push/router".into();
    subscribed(&log.store, "ben", private).await;

    let to_ana = notification(&log.store, "ana").await;
    pusher(&log, Some(vapid_key()), false).run(&to_ana).await.unwrap();
    let to_ben = notification(&log.store, "ben").await;
    pusher(&log, Some(vapid_key()), true).run(&to_ben).await.unwrap();

    assert!(endpoint.received().is_empty());
    for recorded in [&to_ana, &to_ben] {
        let outcome = outcome(&log.store, recorded).await;
        assert_eq!(outcome.len(), 1, "{outcome:?}");
        assert!(outcome[0].starts_with("Failed (for good)"), "{outcome:?}");
    }
}

#[tokio::test]
async fn without_a_vapid_key_or_a_subscription_the_push_is_skipped_with_the_reason() {
    let log = TestLog::new().await;
    let endpoint = Endpoint::start().await;
    subscribed(&log.store, "ana", endpoint.subscribe("phone")).await;
    let unconfigured = notification(&log.store, "ana").await;
    pusher(&log, None, true).run(&unconfigured).await.unwrap();
    let unsubscribed = notification(&log.store, "cy").await;
    pusher(&log, Some(vapid_key()), true).run(&unsubscribed).await.unwrap();

    let first = outcome(&log.store, &unconfigured).await;
    assert!(first.len() == 1 && first[0].contains("not configured"), "{first:?}");
    let second = outcome(&log.store, &unsubscribed).await;
    assert!(second.len() == 1 && second[0].contains("no push subscription"), "{second:?}");
    assert!(endpoint.received().is_empty());
}
