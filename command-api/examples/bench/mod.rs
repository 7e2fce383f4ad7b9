//! What the command-API benchmarks share: the in-process load generator
//! (one keep-alive HTTP/1.1 connection per worker), the servers they start,
//! tokens of registered users, and the report of alternating pairs. Included
//! by each benchmark with `#[path = "bench/mod.rs"] mod bench;`, so the
//! figures of every benchmark come from the same client and the same maths.
#![allow(dead_code)] // each benchmark uses its own part

use auth::{Claims, JwtKeys};
use axum::Router;
use bytes::Bytes;
use events::Namespace;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

// The allocator the `pulse` binary ships with, so the API is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One run of one variant.
pub struct Run {
    pub rate: f64,
    /// Latency percentiles, in microseconds.
    pub p50: f64,
    pub p99: f64,
    pub failures: usize,
}

impl Run {
    pub fn print(&self, name: &str) {
        println!(
            "{name:<36} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   failures {}",
            self.rate,
            self.p50 / 1000.0,
            self.p99 / 1000.0,
            self.failures
        );
    }
}

/// `total` operations spread over `workers` concurrent tasks, each one after
/// the other; `op(worker, i)` is the `i`th operation of a worker and says
/// whether it succeeded.
pub async fn load<F, Fut>(workers: usize, total: usize, op: F) -> Run
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let per_worker = (total / workers).max(1);
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).unwrap();
                let mut failures = 0;
                for i in 0..per_worker {
                    let t = Instant::now();
                    if !op(w, i).await {
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
    Run {
        rate: (per_worker * workers) as f64 / started.elapsed().as_secs_f64(),
        p50: latency.value_at_quantile(0.5) as f64,
        p99: latency.value_at_quantile(0.99) as f64,
        failures,
    }
}

/// What the workers of an HTTP run send. Worker `w` uses `urls[w % len]` and
/// `tokens[w % len]`, so each worker can have its own resource and user;
/// its `i`th request carries `bodies[i % len]` (none for a `GET`).
#[derive(Clone)]
pub struct Target {
    pub method: reqwest::Method,
    pub urls: Vec<String>,
    pub tokens: Vec<String>,
    pub bodies: Vec<Bytes>,
}

impl Target {
    /// One URL, token and body for every worker.
    pub fn one(method: reqwest::Method, url: String, token: Option<String>, body: Bytes) -> Self {
        Self { method, urls: vec![url], tokens: token.into_iter().collect(), bodies: vec![body] }
    }
}

/// An HTTP run: `total` requests over `workers` connections, one each, kept
/// alive for the whole run; a request succeeds on a 2xx whose body was read to
/// its end. A connection of its own per worker rather than a pooled client: a
/// pool that has not yet taken back the connection of a large response opens
/// another, which would charge the server a connection per request now and
/// then, and charge it more the larger its responses.
pub async fn http_load(workers: usize, total: usize, target: Target) -> Run {
    let mut connections = Vec::with_capacity(workers);
    for w in 0..workers {
        let url: hyper::Uri = target.urls[w % target.urls.len()].parse().unwrap();
        connections.push(tokio::sync::Mutex::new(connect(&url).await));
    }
    let (connections, target) = (Arc::new(connections), Arc::new(target));
    load(workers, total, move |w, i| {
        let (connections, target) = (connections.clone(), target.clone());
        async move {
            let url: hyper::Uri = target.urls[w % target.urls.len()].parse().unwrap();
            let mut request = hyper::Request::builder()
                .method(target.method.clone())
                .uri(url.path_and_query().map_or("/", |p| p.as_str()))
                .header("host", url.authority().unwrap().as_str())
                .header("content-type", "application/json");
            if !target.tokens.is_empty() {
                request = request.header("authorization", format!("Bearer {}", target.tokens[w % target.tokens.len()]));
            }
            let body = match target.method {
                reqwest::Method::GET => Bytes::new(),
                _ => target.bodies[i % target.bodies.len()].clone(),
            };
            let request = request.body(Full::new(body)).unwrap();
            let mut connection = connections[w].lock().await;
            if connection.ready().await.is_err() {
                return false;
            }
            let Ok(response) = connection.send_request(request).await else { return false };
            let ok = response.status().is_success();
            response.into_body().collect().await.is_ok() && ok
        }
    })
    .await
}

/// A keep-alive HTTP/1.1 connection to the server of `url`.
async fn connect(url: &hyper::Uri) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(url.authority().unwrap().as_str()).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// Serves `router` on a free loopback port; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    base
}

/// The JWT secret of every benchmark's API.
pub const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

/// A token for user `sub`, valid for an hour.
pub fn token(keys: &JwtKeys, sub: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = Claims {
        sub: sub.to_owned(),
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
    keys.mint(&claims).unwrap()
}

/// Registers the token's user through the API (`POST /api/v1/users/me`):
/// the API refuses commands from users who never registered.
pub async fn register(api: &str, token: &str) {
    let response = reqwest::Client::new()
        .post(format!("{api}/api/v1/users/me"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("the API answers");
    assert!(response.status().is_success(), "registering failed: {}", response.text().await.unwrap_or_default());
}

/// Sends a command and returns the `id` of the resource it answered with.
pub async fn create(url: &str, token: &str, body: serde_json::Value) -> String {
    let response =
        reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.expect("the API answers");
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{url} failed with {status}: {answer}");
    answer["id"].as_str().expect("an id").to_owned()
}

/// A fresh namespace for one run, so nothing a benchmark writes meets
/// anything else's; each benchmark deletes its streams when done.
pub fn throwaway_namespace(prefix: &str) -> Namespace {
    Namespace::parse(&format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).unwrap()
}

/// The two sides of a comparison and its goals; `None` for no goal.
pub struct Comparison<'a> {
    /// The baseline, first of each pair.
    pub base: &'a str,
    /// What is measured against it, second of each pair.
    pub measured: &'a str,
    /// Least throughput ratio (measured / base).
    pub min_throughput: Option<f64>,
    /// Most p50 latency ratio.
    pub max_p50: Option<f64>,
    /// Most p99 latency ratio.
    pub max_p99: Option<f64>,
}

/// The median ratios of a set of pairs.
#[derive(Debug, Clone, Copy)]
pub struct Medians {
    pub throughput: f64,
    pub p50: f64,
    pub p99: f64,
}

/// Prints the median pair (by throughput ratio) of a generator's base/measured
/// runs, every ratio sorted, and the median of each; returns the medians.
/// Each ratio's median is taken on its own: the pair with the median
/// throughput ratio need not be the one with the median p99 ratio.
pub fn report(generator: &str, comparison: &Comparison, mut pairs: Vec<(Run, Run)>) -> Option<Medians> {
    if pairs.is_empty() {
        println!("{generator}: no complete pair");
        return None;
    }
    let ratio = |(base, measured): &(Run, Run)| measured.rate / base.rate;
    pairs.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
    let sorted = |f: &dyn Fn(&(Run, Run)) -> f64| {
        let mut all: Vec<f64> = pairs.iter().map(f).collect();
        all.sort_by(f64::total_cmp);
        all
    };
    let rates = sorted(&ratio);
    let p50s = sorted(&|(base, measured)| measured.p50 / base.p50);
    let p99s = sorted(&|(base, measured)| measured.p99 / base.p99);
    let show = |all: &[f64]| all.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ");
    let median = &pairs[pairs.len() / 2];
    println!("{generator}, median pair:");
    median.0.print(comparison.base);
    median.1.print(comparison.measured);
    let (base, n) = (comparison.base, pairs.len());
    println!("throughput ratios to {base}, {n} pairs, sorted: {}", show(&rates));
    println!("p50 ratios to {base}, sorted: {}", show(&p50s));
    println!("p99 ratios to {base}, sorted: {}", show(&p99s));
    let goal = |bound: Option<f64>, sign: &str| bound.map(|b| format!(" (goal {sign} {b:.2})")).unwrap_or_default();
    let medians = Medians { throughput: rates[n / 2], p50: p50s[n / 2], p99: p99s[n / 2] };
    println!(
        "median: throughput {:.2} of {base}{}, p50 {:.2}x{}, p99 {:.2}x{}",
        medians.throughput,
        goal(comparison.min_throughput, ">="),
        medians.p50,
        goal(comparison.max_p50, "<="),
        medians.p99,
        goal(comparison.max_p99, "<=")
    );
    Some(medians)
}
