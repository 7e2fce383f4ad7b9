//! The probes and request metrics a service mounts, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Serves `/items/{id}` and the probes, with request metrics, and says whether
/// it is ready through the returned switch.
async fn serve() -> (String, Arc<AtomicBool>) {
    let metrics = ops::Metrics::new("probe-test");
    let ready_now = Arc::new(AtomicBool::new(true));
    let switch = ready_now.clone();
    let ready: ops::ReadyCheck = Arc::new(move || {
        let ready = ready_now.load(Ordering::SeqCst);
        Box::pin(async move { if ready { Ok(()) } else { Err("the store is down".to_owned()) } })
    });
    let router = Router::new()
        .route("/items/{id}", get(|| async { "an item" }))
        .merge(ops::router("probe-test", ready, metrics.clone()))
        .layer(axum::middleware::from_fn_with_state(metrics, ops::track_requests));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, switch)
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status_not_by_raw_path() {
    let (base, _) = serve().await;
    let http = reqwest::Client::new();
    for id in ["1", "2", "3"] {
        assert_eq!(http.get(format!("{base}/items/{id}")).send().await.unwrap().status(), 200);
    }
    assert_eq!(http.get(format!("{base}/nowhere")).send().await.unwrap().status(), 404);
    let text = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"method="GET",route="/items/{id}",status="200"} 3"#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404"} 1"#), "{text}");
    assert!(!text.contains("/items/1"), "raw paths never become labels: {text}");
}

#[tokio::test]
async fn junk_methods_and_paths_leave_a_bounded_number_of_series() {
    let (base, _) = serve().await;
    let http = reqwest::Client::new();
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        http.request(method.clone(), format!("{base}/items/{i}")).send().await.unwrap();
        http.request(method, format!("{base}/junk/{i}")).send().await.unwrap();
        http.get(format!("{base}/junk/{i}")).send().await.unwrap();
    }
    let text = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let series = text.lines().filter(|line| line.starts_with("pulse_http_requests_total{")).count();
    assert!(series <= 4, "a handful of (method, route, status) series, not one per junk request: {text}");
    assert!(!text.contains("FOO"), "{text}");
    assert!(text.contains(r#"method="other",route="/items/{id}",status="405"} 50"#), "{text}");
    assert!(text.contains(r#"method="other",route="unmatched",status="404"} 50"#), "{text}");
    assert!(text.contains(r#"method="GET",route="unmatched",status="404"} 50"#), "{text}");
}

#[tokio::test]
async fn health_says_the_process_is_up_and_ready_follows_its_check() {
    let (base, ready) = serve().await;
    let http = reqwest::Client::new();
    let health: serde_json::Value = http.get(format!("{base}/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "probe-test");
    assert_eq!(http.get(format!("{base}/ready")).send().await.unwrap().status(), 200);
    ready.store(false, Ordering::SeqCst);
    let refused = http.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.text().await.unwrap().contains("the store is down"));
}
