//! Answers under faults: a command is "not appended" only when it never will
//! be, and one whose outcome is unknown says so and gives the key whose retry
//! settles it as one event. Each test runs its own nats-server, to pause or
//! kill.

use crate::support::{SECRET, claims, config, reply};
use auth::JwtKeys;
use command_api::{App, JwtConfig, Secret};
use events::{Context, EventStore, StoreConfig};
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::cluster::NatsCluster;

struct Faulty {
    server: NatsCluster,
    store: EventStore,
    base: String,
    token: String,
    http: reqwest::Client,
}

/// The command API on a server of the test's own, with ana registered.
async fn faulty() -> Faulty {
    let server = NatsCluster::start_with(1, "");
    let store_config = StoreConfig { timeout: Duration::from_millis(500), ..StoreConfig::default() };
    let store = EventStore::connect(&server.urls()[0], store_config).await.unwrap();
    let app = App::new(store.clone(), config(), ops::Metrics::new("command-api")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    tokio::spawn(command_api::serve(listener, app, std::future::pending()));
    let keys = JwtKeys::new(&JwtConfig { secret: Secret::new(SECRET), issuer: None, audience: None });
    let token = keys.mint(&claims("ana")).unwrap();
    let faulty = Faulty { server, store, base, token, http: reqwest::Client::new() };
    faulty.send("/users/me", json!({}), None).await.accepted();
    faulty
}

impl Faulty {
    async fn send(&self, path: &str, body: serde_json::Value, key: Option<&str>) -> crate::support::Reply {
        let mut request = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        reply(request.send().await.unwrap()).await
    }

    async fn posts_in_the_log(&self) -> u64 {
        self.store.stream_state(Context::Content).await.unwrap().last_sequence
    }

    async fn until(&self, what: &str, connected: bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.store.is_connected().is_ok() != connected {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_post_the_log_never_confirmed_is_outcome_unknown_and_its_retry_with_the_given_key_posts_it_once() {
    let mut api = faulty().await;

    api.server.pause("n1");
    let unknown = api.send("/posts", json!({"text": "hello"}), None).await;
    api.server.resume("n1");

    unknown.problem(503, "outcome-unknown");
    assert!(unknown.body["detail"].as_str().unwrap().contains("same Idempotency-Key"), "{:?}", unknown.body);
    let key = unknown.headers["idempotency-key"].to_str().unwrap().to_owned();
    assert!(key.starts_with("pulse-"), "a key made by the server: {key}");
    // The paused server reads what was in its socket: the post lands after
    // all, which is why the answer could not say "not appended".
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.posts_in_the_log().await == 0 {
        assert!(Instant::now() < deadline, "the unconfirmed post never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let retried = api.send("/posts", json!({"text": "hello"}), Some(&key)).await;

    retried.accepted();
    assert_eq!(retried.body["replayed"], true, "{:?}", retried.body);
    assert_eq!(retried.headers["idempotency-key"], key.as_str());
    assert_eq!(api.posts_in_the_log().await, 1, "one post, not two");
}

#[tokio::test]
async fn a_post_refused_while_the_log_is_down_is_unavailable_and_never_appended() {
    let mut api = faulty().await;
    api.server.kill("n1");
    api.until("the API never noticed NATS died", false).await;

    let refused = api.send("/posts", json!({"text": "hello"}), None).await;

    refused.problem(503, "unavailable");
    assert!(refused.headers.contains_key("idempotency-key"), "every command answer names its key");
    api.server.restart("n1");
    api.until("the API never reconnected", true).await;
    // A publish the client had buffered would go out first thing after the
    // reconnect; a later command's position shows whether one did.
    let after = api.send("/posts", json!({"text": "after"}), None).await;
    after.accepted();
    assert_eq!(after.position(), "content:1", "the refused post was never appended");
}

#[tokio::test]
async fn every_command_answer_carries_its_idempotency_key_the_clients_or_one_made_for_it() {
    let api = faulty().await;

    let made = api.send("/posts", json!({"text": "one"}), None).await;
    let given = api.send("/posts", json!({"text": "two"}), Some("client-key-1")).await;

    let made_key = made.accepted().headers["idempotency-key"].to_str().unwrap().to_owned();
    assert!(made_key.starts_with("pulse-") && made_key.len() <= 100, "{made_key}");
    assert_eq!(given.accepted().headers["idempotency-key"], "client-key-1");
    let again = api.send("/posts", json!({"text": "one"}), Some(&made_key)).await;
    assert_eq!(again.accepted().body["id"], made.body["id"], "the made key names the same post");
    assert_eq!(again.body["replayed"], true);
}

#[tokio::test]
async fn notification_settings_are_read_from_the_read_side_never_from_the_log() {
    let api = faulty().await;
    let changed = api.http.put(format!("{}/notifications/preferences", api.base)).bearer_auth(&api.token);
    let changed = reply(changed.json(&json!({ "email": false, "push": true })).send().await.unwrap()).await;
    changed.accepted();

    // This API serves no queries (no read store): it must not answer from the log.
    let read = api.http.get(format!("{}/notifications/preferences", api.base)).bearer_auth(&api.token);
    let read = reply(read.send().await.unwrap()).await;

    read.problem(503, "unavailable");
}
