//! Internal routes with the service API key.

use crate::support::*;
use command_api::Secret;
use events::Aggregate;
use events::catalog::{DomainEvent, UserEvent};
use events::ids::UserId;
use reqwest::StatusCode;
use serde_json::json;

const KEY: &str = "service-key-0123456789abcdef0123456789";

async fn call(api: &Api, key: Option<&str>) -> Reply {
    let mut request = api
        .http
        .post(format!("{}/api/v1/internal/users/google-42", api.base))
        .json(&json!({ "name": "Grace Hopper", "email": "grace@example.org" }));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    reply(request.send().await.unwrap()).await
}

#[tokio::test]
async fn a_backend_with_the_key_registers_a_user_and_their_own_call_then_changes_nothing() {
    let api = spawn_with(command_api::Config { service_api_key: Some(Secret::new(KEY)), ..config() }).await;
    call(&api, None).await.problem(401, "unauthenticated");
    call(&api, Some("wrong-key-0123456789abcdef0123456789!!")).await.problem(401, "unauthenticated");
    let registered = call(&api, Some(KEY)).await;
    registered.accepted();
    let history = api.log.store.load(&Aggregate::user(&UserId::parse("google-42").unwrap())).await.unwrap();
    let DomainEvent::Users(UserEvent::UserRegistered(e)) = &history.events[0].event else { panic!("{history:?}") };
    assert_eq!((e.handle.as_str(), e.email.as_deref()), ("grace_hopper", Some("grace@example.org")));
    assert_eq!(history.events[0].envelope.actor, None, "a system event has no actor");
    let own = api.post("/users/me", "google-42", json!({})).await;
    own.accepted();
    assert_eq!(own.body["changed"], false);
}

#[tokio::test]
async fn internal_routes_are_off_without_a_configured_key() {
    let api = spawn().await;
    let reply = call(&api, Some(KEY)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_named_service_shares_no_idempotency_keys_with_the_backend() {
    let api = spawn_with(command_api::Config { service_api_key: Some(Secret::new(KEY)), ..config() }).await;
    let own = api.send(reqwest::Method::POST, "/users/me", Some(api.token("service")), Some(json!({})), Some("k-1"));
    own.await.accepted();
    let backend = api
        .http
        .post(format!("{}/api/v1/internal/users/service", api.base))
        .header("x-api-key", KEY)
        .header("idempotency-key", "k-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let backend = reply(backend).await;
    backend.accepted();
    assert_eq!(backend.body["replayed"], false, "the backend's key is not the user's");
    assert_eq!(backend.body["changed"], false);
}

#[tokio::test]
async fn an_api_with_a_secret_or_key_shorter_than_32_bytes_does_not_start() {
    let log = testkit::TestLog::new().await;
    let start = |config| command_api::App::new(log.store.clone(), config, ops::Metrics::new("command-api")).err();
    let short_secret = command_api::Config::with_secret("0123456789abcdef0123456789abcde");
    assert!(matches!(start(short_secret), Some(command_api::StartError::ShortSecret("JWT secret"))));
    let short_key = command_api::Config { service_api_key: Some(Secret::new("short")), ..config() };
    assert!(matches!(start(short_key), Some(command_api::StartError::ShortSecret("service API key"))));
}
