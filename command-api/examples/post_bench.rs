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
//! (defaults 64, 40000, 512). Two load generators, each over alternating
//! floor/API pairs with the median pair reported:
//!
//! - in-process clients (one keep-alive HTTP/1.1 connection per worker), which
//!   share the two cores with the servers in every variant alike;
//! - wrk, when it is installed (`make bench` installs it): a separate process
//!   with a lighter client, so the servers' own costs weigh more.
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
    /// Latency percentiles, in microseconds.
    p50: f64,
    p99: f64,
    failures: usize,
}

impl Run {
    fn print(&self, name: &str) {
        println!(
            "{name:<36} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   failures {}",
            self.rate,
            self.p50 / 1000.0,
            self.p99 / 1000.0,
            self.failures
        );
    }
}

/// Alternating floor/API pairs with the in-process clients.
const PAIRS: usize = 7;
/// Alternating floor/API pairs with wrk, and the seconds of each run.
const WRK_PAIRS: usize = 7;
const WRK_SECONDS: u64 = 3;

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
    Run {
        rate: (per_worker * workers) as f64 / started.elapsed().as_secs_f64(),
        p50: latency.value_at_quantile(0.5) as f64,
        p99: latency.value_at_quantile(0.99) as f64,
        failures,
    }
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

/// Prints the median pair of a generator's floor/API runs and every ratio.
fn report(generator: &str, mut pairs: Vec<(Run, Run)>) {
    if pairs.is_empty() {
        println!("{generator}: no complete pair");
        return;
    }
    let ratio = |(floor, posts): &(Run, Run)| posts.rate / floor.rate;
    pairs.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
    let all: Vec<String> = pairs.iter().map(|p| format!("{:.2}", ratio(p))).collect();
    let mut p99s: Vec<f64> = pairs.iter().map(|(floor, posts)| posts.p99 / floor.p99).collect();
    p99s.sort_by(f64::total_cmp);
    let median = &pairs[pairs.len() / 2];
    println!("{generator}, median pair:");
    median.0.print("floor: axum publish-only POST");
    median.1.print("POST /api/v1/posts");
    println!("throughput ratios to the floor, {} pairs: {}", pairs.len(), all.join(" "));
    let p99_all: Vec<String> = p99s.iter().map(|r| format!("{r:.2}")).collect();
    println!("p99 ratios to the floor, sorted: {}", p99_all.join(" "));
    println!(
        "median: throughput {:.2} of the floor (goal >= 0.70), p99 {:.2}x (goal <= 1.50)",
        ratio(median),
        p99s[p99s.len() / 2]
    );
}

/// wrk driving the same servers with the same body and token.
struct Wrk {
    script: std::path::PathBuf,
}

impl Wrk {
    /// `None` when wrk is not installed.
    fn new(token: &str, body: &[u8]) -> Option<Self> {
        std::process::Command::new("wrk").arg("--version").output().ok()?;
        let script = std::env::temp_dir().join(format!("pulse-post-bench-{}.lua", std::process::id()));
        let lua = format!(
            "wrk.method = \"POST\"\nwrk.body = [==[{}]==]\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\n",
            String::from_utf8_lossy(body)
        );
        std::fs::write(&script, lua).ok()?;
        Some(Self { script })
    }

    /// One run of the POST; `None` when wrk failed or its output could not be read.
    async fn run(&self, url: &str, connections: usize, seconds: u64) -> Option<Run> {
        self.run_with(&["-s".to_owned(), self.script.display().to_string()], url, connections, seconds).await
    }

    /// One run of a plain `GET`.
    async fn run_get(&self, url: &str, connections: usize, seconds: u64) -> Option<Run> {
        self.run_with(&[], url, connections, seconds).await
    }

    async fn run_with(&self, script: &[String], url: &str, connections: usize, seconds: u64) -> Option<Run> {
        let mut args =
            vec!["-t2".to_owned(), format!("-c{connections}"), format!("-d{seconds}s"), "--latency".to_owned()];
        args.extend_from_slice(script);
        args.push(url.to_owned());
        let output = tokio::task::spawn_blocking(move || std::process::Command::new("wrk").args(args).output())
            .await
            .ok()?
            .ok()?;
        parse_wrk(&String::from_utf8_lossy(&output.stdout))
    }
}

impl Drop for Wrk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.script);
    }
}

/// Reads requests/s, the p50 and p99 latencies and the failures from wrk's
/// `--latency` report.
fn parse_wrk(report: &str) -> Option<Run> {
    let micros = |value: &str| {
        let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic())?);
        let scale = match unit {
            "us" => 1.0,
            "ms" => 1_000.0,
            "s" => 1_000_000.0,
            _ => return None,
        };
        Some(number.parse::<f64>().ok()? * scale)
    };
    let field =
        |prefix: &str| report.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|rest| rest.trim().to_owned()));
    let rate = field("Requests/sec:")?.parse().ok()?;
    let (p50, p99) = (micros(&field("50%")?)?, micros(&field("99%")?)?);
    let failures = field("Non-2xx or 3xx responses:").and_then(|n| n.parse().ok()).unwrap_or(0);
    Some(Run { rate, p50, p99, failures })
}

// The allocator the `pulse` binary ships with, so the API is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let workers = args.first().copied().unwrap_or(64);
    let total = args.get(1).copied().unwrap_or(40_000);
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

    // Every run starts on an empty stream: a run writes a few hundred MB, and
    // the page cache flushing the previous run's must not land on the next.
    let stream_name = namespace.stream(events::Context::Content);
    let purge = || {
        let (jetstream, name) = (jetstream.clone(), stream_name.clone());
        async move {
            let stream = jetstream.get_stream(&name).await.expect("the content stream");
            stream.purge().await.expect("purged");
        }
    };
    // Warm up, then alternate floor and API in pairs; the machine is shared and
    // noisy, so each pair's ratio is taken and the median pair is reported.
    floor_run().await;
    api_run().await;
    let trivial = get_trivial().await;
    let raw = raw_run().await;
    let mut pairs = Vec::new();
    for _ in 0..PAIRS {
        purge().await;
        let floor = floor_run().await;
        purge().await;
        let posts = api_run().await;
        pairs.push((floor, posts));
    }
    trivial.print("trivial axum GET");
    raw.print("raw async-nats publish+ack");
    report("in-process clients", pairs);

    match Wrk::new(&token, &body) {
        None => println!("\nwrk is not installed: only the in-process clients measured"),
        Some(wrk) => {
            let (floor_url, api_url) = (format!("{floor_base}/floor"), format!("{api}/api/v1/posts"));
            wrk.run(&floor_url, workers, 1).await;
            wrk.run(&api_url, workers, 1).await;
            let mut pairs = Vec::new();
            for _ in 0..WRK_PAIRS {
                purge().await;
                let floor = wrk.run(&floor_url, workers, WRK_SECONDS).await;
                purge().await;
                let posts = wrk.run(&api_url, workers, WRK_SECONDS).await;
                if let (Some(floor), Some(posts)) = (floor, posts) {
                    pairs.push((floor, posts));
                }
            }
            println!("\nwrk -t2 -c{workers}, {WRK_SECONDS} s per run:");
            if let Some(trivial) = wrk.run_get(&format!("{floor_base}/hello"), workers, WRK_SECONDS).await {
                trivial.print("trivial axum GET");
            }
            report("wrk", pairs);
        }
    }
    store.delete_streams().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
