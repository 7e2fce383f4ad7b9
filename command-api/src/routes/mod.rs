//! The router: one module per resource, each with its handlers and request
//! bodies; this file assembles them with the layers every route shares.

pub mod calendar_queries;
pub mod chat;
pub mod chat_queries;
pub mod comments;
pub mod events;
pub mod feed;
pub mod internal;
pub mod likes;
pub mod notifications;
pub mod post_queries;
pub mod posts;
pub mod profiles;
pub mod user_queries;
pub mod users;

use crate::App;
use crate::error::ApiError;
use crate::extract::{CORRELATION_ID, IDEMPOTENCY_KEY, REQUEST_ID};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

pub use crate::response::{Accepted, CommandResponses};
use axum::routing::get;
use axum::{Json, Router};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use utoipa_axum::router::OpenApiRouter;

/// Every `/api/v1` route with its OpenAPI description.
pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(crate::openapi::document())
        .merge(posts::router())
        .merge(comments::router())
        .merge(likes::router())
        .merge(events::router())
        .merge(calendar_queries::router())
        .merge(users::router())
        .merge(profiles::router())
        .merge(feed::router())
        .merge(user_queries::router())
        .merge(post_queries::router())
        .merge(chat::router())
        .merge(chat_queries::router())
        .merge(notifications::router())
        .merge(internal::router())
}

/// The complete router.
pub fn router(app: App) -> Router {
    let (api, document) = api().split_for_parts();
    let document = Arc::new(document);
    let store = app.events().clone();
    let ready: ops::ReadyCheck = Arc::new(move || {
        let connected = store.is_connected();
        Box::pin(async move { connected })
    });
    let metrics = app.metrics().clone();
    let context = RequestContext { metrics: metrics.clone(), timeout: app.config().request_timeout };
    Router::new()
        .merge(api.route("/api/v1/openapi.json", get(move || openapi_json(document.clone()))))
        .fallback(|| async { ApiError::NoSuchRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(app.config().body_limit))
        .with_state(app)
        .merge(ops::router("command-api", ready, metrics.clone()))
        .layer(axum::middleware::from_fn_with_state(context, request_context))
}

async fn openapi_json(document: Arc<utoipa::openapi::OpenApi>) -> Response {
    Json(document.as_ref().clone()).into_response()
}

/// What [`request_context`] needs.
#[derive(Clone)]
struct RequestContext {
    metrics: ops::Metrics,
    timeout: Duration,
}

/// What every request goes through, in one middleware rather than a layer
/// each (every layer costs every command a boxed service and future):
/// - an id: the client's `X-Request-Id`, else a new one, echoed in the response;
/// - a span carrying the request and correlation ids, so every log line of the
///   request (and the events it appends) can be found by either;
/// - a time limit: a request still running after `timeout` (reading its body
///   included) is dropped and answered `503 timed-out`, so a stuck
///   dependency or a slow sender cannot hold a connection and its memory
///   forever;
/// - a panic in a handler becomes a 500 problem, not a dropped connection;
/// - the request metrics, by matched route and status;
/// - a command (any method but GET, HEAD and OPTIONS) sent without an
///   `Idempotency-Key` gets one made here, used as the client's own and
///   returned in the response's `Idempotency-Key`, so a command whose outcome
///   is unknown can be retried as the same command (docs/api.md).
async fn request_context(State(context): State<RequestContext>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = match request.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = HeaderValue::from_str(&uuid::Uuid::now_v7().to_string()).unwrap_or(HeaderValue::from_static("-"));
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let span = {
        let correlation_id = request.headers().get(CORRELATION_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %request_id.to_str().unwrap_or(""),
            correlation_id = %correlation_id,
        )
    };
    let method = request.method().clone();
    let key = is_command(&method).then(|| idempotency_key(&mut request)).flatten();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let handled = AssertUnwindSafe(next.run(request)).catch_unwind();
    let answered = tokio::time::timeout(context.timeout, handled).instrument(span.clone()).await;
    let mut response = match answered {
        Ok(Ok(response)) => response,
        Ok(Err(_panic)) => {
            span.in_scope(|| tracing::error!("the handler panicked"));
            ApiError::Internal("handler panicked".into()).into_response()
        }
        Err(_elapsed) => span.in_scope(|| ApiError::TimedOut.into_response()),
    };
    let took = started.elapsed();
    context.metrics.observe_request(&method, route.as_ref(), response.status(), took);
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), ?took, "answered"));
    response.headers_mut().insert(REQUEST_ID, request_id);
    if let Some(key) = key {
        response.headers_mut().insert(IDEMPOTENCY_KEY, key);
    }
    response
}

fn is_command(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The request's idempotency key, made by the server when the client sent
/// none.
fn idempotency_key(request: &mut Request) -> Option<HeaderValue> {
    if let Some(sent) = request.headers().get(IDEMPOTENCY_KEY) {
        return Some(sent.clone());
    }
    let made = HeaderValue::from_str(&commands::server_key()).ok()?;
    request.headers_mut().insert(IDEMPOTENCY_KEY, made.clone());
    request.extensions_mut().insert(MadeKey);
    Some(made)
}

/// Marks a request whose `Idempotency-Key` the server made: its first
/// attempt cannot be a retry ([`commands::CommandContext::fresh_key`]).
#[derive(Debug, Clone, Copy)]
pub struct MadeKey;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    async fn stuck() -> &'static str {
        tokio::time::sleep(Duration::from_secs(60)).await;
        "too late"
    }

    /// Serves `router` behind the middleware; the base URL and the metrics.
    async fn serve(router: Router, timeout: Duration) -> (String, ops::Metrics) {
        let metrics = ops::Metrics::new("test");
        let context = RequestContext { metrics: metrics.clone(), timeout };
        let router = router.layer(axum::middleware::from_fn_with_state(context, request_context));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (base, metrics)
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_with_its_request_id_and_is_counted() {
        let (base, metrics) = serve(Router::new().route("/boom", get(boom)), Duration::from_secs(10)).await;

        let response =
            reqwest::Client::new().get(format!("{base}/boom")).header(REQUEST_ID, "req-7").send().await.unwrap();

        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[REQUEST_ID], "req-7");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "urn:pulse:problem:internal");
        assert!(problem.get("detail").is_none(), "no internal text leaks: {problem}");
        assert!(metrics.encode().contains(r#"route="/boom",status="500""#), "{}", metrics.encode());
    }

    #[tokio::test]
    async fn a_request_past_the_timeout_answers_503_timed_out_with_retry_after_and_is_counted() {
        let router = Router::new().route("/stuck", get(stuck)).route("/quick", get(|| async { "ok" }));
        let (base, metrics) = serve(router, Duration::from_millis(200)).await;
        let http = reqwest::Client::new();

        let started = Instant::now();
        let response = http.get(format!("{base}/stuck")).header(REQUEST_ID, "req-8").send().await.unwrap();

        assert!(started.elapsed() < Duration::from_secs(5), "answered at the timeout, not when the handler ends");
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[REQUEST_ID], "req-8");
        assert_eq!(response.headers()["retry-after"], "1");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "urn:pulse:problem:timed-out");
        assert!(metrics.encode().contains(r#"route="/stuck",status="503""#), "{}", metrics.encode());
        assert_eq!(http.get(format!("{base}/quick")).send().await.unwrap().status(), 200);
    }
}
