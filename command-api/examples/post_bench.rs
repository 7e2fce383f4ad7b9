//! `POST /api/v1/posts` against the floor of any command API on this machine,
//! all measured in one run with one load generator and one payload size:
//!
//! - a trivial axum `GET` (what the HTTP stack alone costs);
//! - the floor: an axum route, built here, that only publishes the request body
//!   to JetStream and waits for the ack;
//! - raw async-nats publish+ack from in-process writers (no HTTP at all);
//! - the real command API, with a valid JWT, rate limits turned off.
//!
//! `cargo run --release -p command-api --example post_bench -- [connections] [requests] [bytes]`
//! (defaults 64, 20000, 512); 5 alternating floor/API pairs, median reported. The load generator runs in this process (one
//! keep-alive HTTP/1.1 connection per worker), so it shares the two cores with
//! the server in every variant alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bytes::Bytes;
use command_api::auth::{Claims, JwtKeys};
use command_api::{App, Config, RateLimits};
use events::{EventStore, Namespace, StoreConfig};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Run {
    rate: f64,
    latency: Histogram<u64>,
    failures: usize,
}

impl Run {
    fn print(&self, name: &str) {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{name:<36} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   failures {}",
            self.rate,
            ms(0.5),
            ms(0.99),
            self.failures
        );
    }
    fn p99(&self) -> f64 {
        self.latency.value_at_quantile(0.99) as f64
    }
}

/// Alternating floor/API pairs per run.
const PAIRS: usize = 5;

async fn load<F, Fut>(workers: usize, total: usize, op: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let per_worker = total / workers;
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).unwrap();
                let mut failures = 0;
                for _ in 0..per_worker {
                    let t = Instant::now();
                    if !op(w).await {
                        failures += 1;
                    }
                    latency.record(t.elapsed().as_micros() as u64).unwrap();
                }
                (latency, failures)
            })
        })
        .collect();
    let (mut latency, mut failures) = (Histogram::<u64>::new(3).unwrap(), 0);
    for task in tasks {
        let (l, f) = task.await.unwrap();
        latency.add(l).unwrap();
        failures += f;
    }
    Run { rate: (per_worker * workers) as f64 / started.elapsed().as_secs_f64(), latency, failures }
}

async fn http_load(
    workers: usize,
    total: usize,
    method: reqwest::Method,
    url: String,
    token: Option<String>,
    body: Bytes,
) -> Run {
    let clients: Arc<Vec<reqwest::Client>> =
        Arc::new((0..workers).map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap()).collect());
    load(workers, total, move |w| {
        let mut request = clients[w].request(method.clone(), url.as_str()).header("content-type", "application/json");
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        if method == reqwest::Method::POST {
            request = request.body(body.clone());
        }
        async move { request.send().await.map(|r| r.status().is_success()).unwrap_or(false) }
    })
    .await
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    base
}

#[derive(Clone)]
struct Floor {
    jetstream: async_nats::jetstream::Context,
    subject: String,
}

/// The floor: publish the body, wait for JetStream's ack, answer 202.
async fn publish_only(State(floor): State<Floor>, body: Bytes) -> StatusCode {
    let subject = format!("{}.{}", floor.subject, uuid::Uuid::now_v7());
    let acked = match floor.jetstream.publish(subject, body).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    if acked { StatusCode::ACCEPTED } else { StatusCode::SERVICE_UNAVAILABLE }
}

fn post_body(bytes: usize) -> Bytes {
    let text = "x".repeat(bytes.saturating_sub(r#"{"text":""}"#.len()));
    serde_json::to_vec(&serde_json::json!({ "text": text })).unwrap().into()
}

// The allocator the `pulse` binary ships with, so the API is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let workers = args.first().copied().unwrap_or(64);
    let total = args.get(1).copied().unwrap_or(20_000);
    let bytes = args.get(2).copied().unwrap_or(512);
    let url = std::env::var("PULSE_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());

    let namespace = Namespace::parse(&format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).unwrap();
    let store_config =
        StoreConfig { namespace: namespace.clone(), source: "/pulse/bench".to_owned(), ..StoreConfig::default() };
    let store = EventStore::connect(&url, store_config).await.expect("NATS with JetStream");
    let jetstream = async_nats::jetstream::new(store.client().clone());
    let body = post_body(bytes);

    let secret = "bench-secret-0123456789abcdef0123456789";
    let config = Config { limits: RateLimits::OFF, ..Config::with_secret(secret) };
    let keys = JwtKeys::new(&config.jwt);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = Claims {
        sub: "bench_user".to_owned(),
        name: None,
        email: None,
        picture: None,
        role: None,
        iat: now,
        exp: now + 3600,
        nbf: None,
        iss: None,
        aud: None,
    };
    let token = keys.mint(&claims).unwrap();
    let app = App::new(store.clone(), config, ops::Metrics::new("command-api")).unwrap();
    let api = serve(command_api::router(app)).await;
    let floor = Floor { jetstream: jetstream.clone(), subject: format!("{}.content.post", namespace.as_str()) };
    let floor_base = serve(
        Router::new().route("/floor", post(publish_only)).route("/hello", get(|| async { "ok" })).with_state(floor),
    )
    .await;

    println!("{workers} connections, {total} requests per variant, {}-byte bodies; rate limits off", body.len());
    let get_trivial =
        || http_load(workers, total, reqwest::Method::GET, format!("{floor_base}/hello"), None, body.clone());
    let floor_run =
        || http_load(workers, total, reqwest::Method::POST, format!("{floor_base}/floor"), None, body.clone());
    let api_run = || {
        http_load(
            workers,
            total,
            reqwest::Method::POST,
            format!("{api}/api/v1/posts"),
            Some(token.clone()),
            body.clone(),
        )
    };
    let raw_run = || {
        let (jetstream, body, subject) =
            (jetstream.clone(), body.clone(), format!("{}.content.post", namespace.as_str()));
        load(workers, total, move |_| {
            let (jetstream, body, subject) =
                (jetstream.clone(), body.clone(), format!("{subject}.{}", uuid::Uuid::now_v7()));
            async move {
                match jetstream.publish(subject, body).await {
                    Ok(ack) => ack.await.is_ok(),
                    Err(_) => false,
                }
            }
        })
    };

    // Warm up, then alternate floor and API in pairs; the machine is shared and
    // noisy, so each pair's ratio is taken and the median pair is reported.
    floor_run().await;
    api_run().await;
    let trivial = get_trivial().await;
    let raw = raw_run().await;
    let mut pairs = Vec::new();
    for _ in 0..PAIRS {
        let (floor, posts) = (floor_run().await, api_run().await);
        pairs.push((posts.rate / floor.rate, posts.p99() / floor.p99(), floor, posts));
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ratio, _, floor, posts) = &pairs[PAIRS / 2];
    trivial.print("trivial axum GET");
    raw.print("raw async-nats publish+ack");
    floor.print("floor: axum publish-only POST");
    posts.print("POST /api/v1/posts");
    let mut p99_ratios: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    p99_ratios.sort_by(f64::total_cmp);
    let all: Vec<String> = pairs.iter().map(|p| format!("{:.2}", p.0)).collect();
    println!("throughput ratios to the floor, {PAIRS} pairs: {}", all.join(" "));
    println!(
        "median: throughput {ratio:.2} of the floor (goal >= 0.70), p99 {:.2}x (goal <= 1.50)",
        p99_ratios[PAIRS / 2]
    );
    store.delete_streams().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
