//! Health, readiness, metrics and the OpenAPI document.

use crate::support::*;
use serde_json::json;

async fn get(api: &Api, path: &str) -> (u16, String) {
    let response = api.http.get(format!("{}{path}", api.base)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn health_has_the_shape_of_the_plan_and_ready_checks_nats() {
    let api = spawn().await;
    let (status, body) = get(&api, "/health").await;
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "command-api");
    assert!(health["timestamp"].as_str().unwrap().contains('T'));
    assert!(health["uptime"].is_u64());
    let (status, body) = get(&api, "/ready").await;
    assert_eq!((status, body.contains("\"ready\"")), (200, true), "{body}");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_events_by_type() {
    let api = spawn().await;
    api.post("/posts", "ana", json!({ "text": "counted" })).await.accepted();
    api.post("/posts", "ana", json!({})).await.problem(422, "invalid-input");
    let (status, text) = get(&api, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains(r#"pulse_events_appended_total{event="PostCreated"} 1"#), "{text}");
    assert!(text.contains(r#"route="/api/v1/posts",status="202""#), "{text}");
    assert!(text.contains(r#"route="/api/v1/posts",status="422""#), "{text}");
    assert!(text.contains("pulse_http_request_duration_seconds_bucket"), "{text}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_command_route() {
    let api = spawn().await;
    let (status, body) = get(&api, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let expected = [
        ("/posts", "post"),
        ("/posts/{post_id}", "patch"),
        ("/posts/{post_id}", "delete"),
        ("/posts/{post_id}/report", "post"),
        ("/posts/{post_id}/hide", "post"),
        ("/posts/{post_id}/restore", "post"),
        ("/posts/{post_id}/comments", "post"),
        ("/posts/{post_id}/like", "put"),
        ("/posts/{post_id}/like", "delete"),
        ("/comments/{comment_id}", "delete"),
        ("/events", "post"),
        ("/events/{event_id}", "put"),
        ("/events/{event_id}/cancel", "post"),
        ("/events/{event_id}/rsvp", "put"),
        ("/users/me", "post"),
        ("/users/me/profile", "patch"),
        ("/users/me/settings", "put"),
        ("/users/{user_id}/follow", "put"),
        ("/users/{user_id}/follow", "delete"),
        ("/users/{user_id}/block", "put"),
        ("/users/{user_id}/block", "delete"),
        ("/conversations/direct", "post"),
        ("/conversations", "post"),
        ("/conversations/{conversation_id}/members", "post"),
        ("/conversations/{conversation_id}/leave", "post"),
        ("/conversations/{conversation_id}/messages", "post"),
        ("/conversations/{conversation_id}/messages/{message_id}", "patch"),
        ("/conversations/{conversation_id}/messages/{message_id}", "delete"),
        ("/conversations/{conversation_id}/read", "post"),
        ("/notifications/preferences", "put"),
        ("/notifications/push-subscriptions", "post"),
        ("/notifications/push-subscriptions", "delete"),
        ("/internal/users/{user_id}", "post"),
    ];
    for (path, method) in expected {
        let path = format!("/api/v1{path}");
        assert!(doc["paths"][&path][method].is_object(), "{method} {path} is not documented");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

#[tokio::test]
async fn a_correlation_id_from_the_request_reaches_the_event() {
    let api = spawn().await;
    api.member("ana").await;
    let response = api
        .http
        .post(format!("{}/api/v1/posts", api.base))
        .bearer_auth(api.token("ana"))
        .header("x-correlation-id", "journey-42")
        .header("x-request-id", "req-7")
        .json(&json!({ "text": "traced" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-7");
    let id = reply(response).await.id();
    let aggregate = events::Aggregate::post(events::ids::PostId::parse(&id).unwrap());
    let recorded = api.log.store.load(&aggregate).await.unwrap().events.remove(0);
    assert_eq!(recorded.envelope.correlation_id, "journey-42");
    assert_eq!(recorded.envelope.causation_id.as_deref(), Some("req-7"));
    assert_eq!(recorded.envelope.actor.map(|a| a.to_string()).as_deref(), Some("ana"));
}
