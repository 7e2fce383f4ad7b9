//! What every Pulse service exposes to operators: `GET /health` (the process is
//! up), `GET /ready` (its dependencies answer), `GET /metrics` (Prometheus text
//! format), the HTTP request metrics behind them, and log set-up.
//! Never touches: business rules, NATS or databases directly (readiness checks
//! are passed in).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A readiness check: `Ok` when the service can do its work, else why not.
pub type ReadyCheck = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A service's metrics registry, shared by everything that records metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    http: HttpMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone)]
struct HttpMetrics {
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl Metrics {
    /// A registry with the HTTP request metrics of `service` already in it.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix("pulse");
        let http = HttpMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
            }),
        };
        let sub = registry.sub_registry_with_label(("service".into(), service.to_owned().into()));
        sub.register("http_requests", "HTTP requests by route and status", http.requests.clone());
        sub.register("http_request_duration_seconds", "HTTP request latency by route and status", http.latency.clone());
        Self { registry: Arc::new(Mutex::new(registry)), http }
    }

    /// Registers a service-specific metric (events appended, conflicts, ...).
    pub fn register(&self, name: &str, help: &str, metric: impl prometheus_client::registry::Metric) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.register(name, help, metric);
        }
    }

    /// Registers metrics read at each scrape from state kept elsewhere.
    pub fn register_collector(&self, collector: impl prometheus_client::collector::Collector) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.register_collector(Box::new(collector));
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

/// Axum middleware recording request count and latency by method, matched
/// route and status (see [`Metrics::observe_request`] for why labels come from
/// closed sets).
pub async fn track_requests(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.observe_request(&method, route.as_ref(), response.status(), started.elapsed());
    response
}

impl Metrics {
    /// Records one answered request: what [`track_requests`] does, for a
    /// service that folds it into its own middleware.
    ///
    /// Every label comes from a closed set, because each new combination is
    /// a series kept for the life of the process, and anyone can send any
    /// method name or path: the method is one of the standard ones or
    /// `other`, the route a template of the router or `unmatched`, and the
    /// status one the service itself answered.
    pub fn observe_request(&self, method: &Method, route: Option<&MatchedPath>, status: StatusCode, took: Duration) {
        let route = route.map_or("unmatched", MatchedPath::as_str).to_owned();
        let labels = RouteLabels { method: method_label(method).to_owned(), route, status: status.as_u16() };
        self.http.requests.get_or_create(&labels).inc();
        self.http.latency.get_or_create(&labels).observe(took.as_secs_f64());
    }
}

/// The method's label: a standard method by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[derive(Clone)]
struct Probe {
    service: &'static str,
    started: Instant,
    ready: ReadyCheck,
    metrics: Metrics,
    details: Option<serde_json::Value>,
}

/// `/health`, `/ready` and `/metrics` for a service.
pub fn router<S: Clone + Send + Sync + 'static>(
    service: &'static str,
    ready: ReadyCheck,
    metrics: Metrics,
) -> Router<S> {
    router_with_details(service, ready, metrics, None)
}

/// [`router`], with `details` in every `/ready` body: the state of what the
/// service may run without (the notifier's channels), visible whether or not
/// it is ready.
pub fn router_with_details<S: Clone + Send + Sync + 'static>(
    service: &'static str,
    ready: ReadyCheck,
    metrics: Metrics,
    details: Option<serde_json::Value>,
) -> Router<S> {
    let probe = Probe { service, started: Instant::now(), ready, metrics, details };
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(readiness))
        .route("/metrics", get(metrics_text))
        .with_state(probe)
}

/// The body of `/health`, in the shape of the original plan.
#[derive(serde::Serialize)]
struct HealthBody {
    status: &'static str,
    service: &'static str,
    timestamp: String,
    uptime: u64,
}

async fn health(State(probe): State<Probe>) -> Json<HealthBody> {
    Json(HealthBody {
        status: "healthy",
        service: probe.service,
        timestamp: OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        uptime: probe.started.elapsed().as_secs(),
    })
}

async fn readiness(State(probe): State<Probe>) -> Response {
    let details = probe.details.clone();
    let with_details = |mut body: serde_json::Value| {
        if let Some(details) = details {
            body["details"] = details;
        }
        Json(body)
    };
    match (probe.ready)().await {
        Ok(()) => with_details(serde_json::json!({ "status": "ready", "service": probe.service })).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            with_details(serde_json::json!({ "status": "unavailable", "service": probe.service, "reason": reason })),
        )
            .into_response(),
    }
}

async fn metrics_text(State(probe): State<Probe>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], probe.metrics.encode()).into_response()
}

/// Sets up logs: JSON lines in production, human-readable in dev. The filter
/// comes from `RUST_LOG` (default `info`). Safe to call more than once.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _already_set =
        if json { builder.json().flatten_event(true).with_current_span(true).try_init() } else { builder.try_init() };
}
