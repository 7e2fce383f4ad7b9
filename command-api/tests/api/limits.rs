//! Rate limits over HTTP: per user for signed-in callers, per client address
//! for everything else, and the address behind a trusted proxy.

use crate::support::*;
use command_api::forwarded::parse_proxy;
use command_api::{Config, RateLimits, Secret};
use serde_json::json;

const SERVICE_KEY: &str = "limits-test-service-key-0123456789abcdef";

fn limits(limits: RateLimits) -> Config {
    Config { limits, service_api_key: Some(Secret::new(SERVICE_KEY)), ..config() }
}

fn per_address(allowance: u32) -> RateLimits {
    RateLimits { commands_per_ip_per_minute: allowance, ..RateLimits::OFF }
}

/// `POST /posts` with this token (or none) and these extra headers; the status.
async fn post_status(api: &Api, token: Option<&str>, headers: &[(&str, &str)]) -> u16 {
    let mut request = api.http.post(format!("{}/api/v1/posts", api.base)).json(&json!({ "text": "hi" }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn internal_status(api: &Api, key: &str) -> u16 {
    let url = format!("{}/api/v1/internal/users/google-7", api.base);
    api.http.post(url).header("x-api-key", key).json(&json!({})).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let config = Config { trusted_proxies: vec![parse_proxy("127.0.0.1/32").unwrap()], ..limits(per_address(2)) };
    let api = spawn_with(config).await;
    let from = |client| [("x-forwarded-for", client)];
    assert_eq!(post_status(&api, None, &from("198.51.100.1, 203.0.113.1")).await, 401);
    assert_eq!(post_status(&api, None, &from("203.0.113.1")).await, 401);
    assert_eq!(post_status(&api, None, &from("203.0.113.1")).await, 429);
    assert_eq!(post_status(&api, None, &from("203.0.113.2")).await, 401, "another client behind the same proxy");
    assert_eq!(post_status(&api, None, &[("forwarded", "for=203.0.113.3")]).await, 401);
    assert_eq!(post_status(&api, None, &[("forwarded", "for=unknown")]).await, 401, "malformed: the proxy itself");
    assert_eq!(post_status(&api, None, &[]).await, 401, "no header: the proxy itself");
    assert_eq!(post_status(&api, None, &[]).await, 429, "the proxy's own allowance is spent");
}

#[tokio::test]
async fn forwarding_headers_from_a_peer_that_is_not_a_trusted_proxy_are_ignored() {
    let api = spawn_with(limits(per_address(2))).await;
    for (i, expected) in [401, 401, 429, 429].into_iter().enumerate() {
        let claimed = format!("203.0.113.{i}");
        assert_eq!(post_status(&api, None, &[("x-forwarded-for", claimed.as_str())]).await, expected);
    }
}

#[tokio::test]
async fn signed_in_users_behind_one_address_are_limited_per_user_not_by_the_address() {
    let api = spawn_with(limits(RateLimits { commands_per_user_per_minute: 3, ..per_address(2) })).await;
    // Minted once: each new token is charged once to the address.
    let (ana, ben) = (api.token("ana"), api.token("ben"));
    for _ in 0..3 {
        assert_ne!(post_status(&api, Some(&ana), &[]).await, 429);
    }
    assert_eq!(post_status(&api, Some(&ana), &[]).await, 429, "ana's own allowance is spent");
    assert_ne!(post_status(&api, Some(&ben), &[]).await, 429, "ben's is not");
    assert_eq!(post_status(&api, None, &[]).await, 429, "the address's allowance went to the two new tokens");
}

#[tokio::test]
async fn guessing_tokens_is_throttled_by_address_before_the_guess_is_checked() {
    let api = spawn_with(limits(per_address(2))).await;
    assert_eq!(post_status(&api, Some("guess-1"), &[]).await, 401);
    assert_eq!(post_status(&api, Some("guess-2"), &[]).await, 401);
    assert_eq!(post_status(&api, Some("guess-3"), &[]).await, 429);
    assert_eq!(post_status(&api, Some(&api.token("ana")), &[]).await, 429, "even a right guess is not checked");
}

#[tokio::test]
async fn guessing_the_service_api_key_is_throttled_by_address() {
    let api = spawn_with(limits(per_address(2))).await;
    assert_eq!(internal_status(&api, "wrong-key-0123456789abcdef0123456789").await, 401);
    assert_eq!(internal_status(&api, "wrong-key-0123456789abcdef0123456780").await, 401);
    assert_eq!(internal_status(&api, "wrong-key-0123456789abcdef0123456781").await, 429);
    assert_eq!(internal_status(&api, SERVICE_KEY).await, 429, "even the right key waits");
}

#[tokio::test]
async fn starting_groups_and_adding_members_share_a_per_user_limit() {
    let api = spawn_with(limits(RateLimits { groups_per_minute: 2, ..RateLimits::OFF })).await;
    for user in ["ana", "ben", "carla", "dan"] {
        api.member(user).await;
    }
    let group = api.post("/conversations", "ana", json!({ "title": "G", "members": ["ben"] })).await;
    group.accepted();
    let id = group.id();
    api.post(&format!("/conversations/{id}/members"), "ana", json!({ "members": ["carla"] })).await.accepted();
    api.post(&format!("/conversations/{id}/members"), "ana", json!({ "members": ["dan"] }))
        .await
        .problem(429, "rate-limited");
    api.post("/conversations", "ana", json!({ "title": "H", "members": ["ben"] })).await.problem(429, "rate-limited");
    api.post(&format!("/conversations/{id}/members"), "ben", json!({ "members": ["dan"] })).await.accepted();
}
