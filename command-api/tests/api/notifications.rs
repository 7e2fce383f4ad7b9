//! Notification preferences and push subscriptions.

use crate::support::*;
use events::Aggregate;
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::UserId;
use reqwest::Method;
use serde_json::json;

fn subscription(n: usize) -> serde_json::Value {
    json!({ "endpoint": format!("https://push.example.org/{n}"), "expirationTime": null, "keys": { "p256dh": "B".repeat(87), "auth": "a".repeat(22) } })
}

fn preferences_of() -> Aggregate {
    Aggregate::preferences(&UserId::parse("ana").unwrap())
}

#[tokio::test]
async fn preferences_change_once_and_unknown_kinds_are_named() {
    let api = spawn().await;
    let body = json!({ "email": false, "push": true, "muted": ["post_liked", "post_liked"] });
    api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(body.clone())).await.accepted();
    let again = api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(body)).await;
    assert_eq!(again.body["changed"], false);
    let events = api.events_of(&preferences_of()).await;
    let [DomainEvent::Notifications(NotificationEvent::PreferencesChanged(e))] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert!(!e.preferences.email && e.preferences.muted.len() == 1);
    let unknown = json!({ "email": true, "push": true, "muted": ["gossip"] });
    let reply = api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(unknown)).await;
    reply.problem(422, "invalid-input");
    assert_eq!(reply.body["field"], "muted[0]");
}

#[tokio::test]
async fn a_browser_subscription_is_added_once_removed_once_and_bounded_per_user() {
    let api = spawn().await;
    api.post("/notifications/push-subscriptions", "ana", subscription(1)).await.accepted();
    let again = api.post("/notifications/push-subscriptions", "ana", subscription(1)).await;
    assert_eq!(again.body["changed"], false);
    let remove = json!({ "endpoint": "https://push.example.org/1" });
    api.call(Method::DELETE, "/notifications/push-subscriptions", Some("ana"), Some(remove.clone())).await.accepted();
    let twice = api.call(Method::DELETE, "/notifications/push-subscriptions", Some("ana"), Some(remove)).await;
    assert_eq!(twice.body["changed"], false);
    assert_eq!(api.event_names_of(&preferences_of()).await, ["PushSubscriptionAdded", "PushSubscriptionRemoved"]);
    for n in 0..10 {
        api.post("/notifications/push-subscriptions", "ana", subscription(10 + n)).await.accepted();
    }
    api.post("/notifications/push-subscriptions", "ana", subscription(99)).await.problem(409, "too-many-subscriptions");
    let mut bad = subscription(1);
    bad["keys"]["auth"] = json!("!");
    let reply = api.post("/notifications/push-subscriptions", "ana", bad).await;
    reply.problem(422, "invalid-input");
    assert_eq!(reply.body["field"], "keys.auth");
}

#[tokio::test]
async fn a_subscription_on_a_loopback_or_private_host_is_refused() {
    let api = spawn().await;
    for endpoint in ["https://127.0.0.1/push", "https://[::1]/push", "https://metadata.google.internal/x"] {
        let mut internal = subscription(1);
        internal["endpoint"] = json!(endpoint);
        let reply = api.post("/notifications/push-subscriptions", "ana", internal).await;
        reply.problem(422, "invalid-input");
        assert_eq!(reply.body["field"], "endpoint");
    }
    assert!(api.event_names_of(&preferences_of()).await.is_empty());
}
