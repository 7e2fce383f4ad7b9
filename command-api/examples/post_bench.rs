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

#[path = "bench/mod.rs"]
mod bench;

use auth::JwtKeys;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bench::{Comparison, Run, Target, http_load, load, report, serve};
use bytes::Bytes;
use command_api::{App, Config, RateLimits};
use events::{EventStore, StoreConfig};
use std::time::Duration;

/// Alternating floor/API pairs with the in-process clients.
const PAIRS: usize = 7;
/// Alternating floor/API pairs with wrk, and the seconds of each run.
const WRK_PAIRS: usize = 7;
const WRK_SECONDS: u64 = 3;

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

/// Floor first, API second in every pair.
const FLOOR_VS_API: Comparison<'static> = Comparison {
    base: "floor: axum publish-only POST",
    measured: "POST /api/v1/posts",
    min_throughput: Some(0.70),
    max_p50: None,
    max_p99: Some(1.50),
};

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

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let workers = args.first().copied().unwrap_or(64);
    let total = args.get(1).copied().unwrap_or(40_000);
    let bytes = args.get(2).copied().unwrap_or(512);
    let url = std::env::var("PULSE_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());

    let namespace = bench::throwaway_namespace("bench");
    let store_config =
        StoreConfig { namespace: namespace.clone(), source: "/pulse/bench".to_owned(), ..StoreConfig::default() };
    let store = EventStore::connect(&url, store_config).await.expect("NATS with JetStream");
    let jetstream = async_nats::jetstream::new(store.client().clone());
    let body = post_body(bytes);

    let config = Config { limits: RateLimits::OFF, ..Config::with_secret(bench::SECRET) };
    let token = bench::token(&JwtKeys::new(&config.jwt), "bench_user");
    let app = App::new(store.clone(), config, ops::Metrics::new("command-api")).unwrap();
    let api = serve(command_api::router(app)).await;
    bench::register(&api, &token).await;
    let floor = Floor { jetstream: jetstream.clone(), subject: format!("{}.content.post", namespace.as_str()) };
    let floor_base = serve(
        Router::new().route("/floor", post(publish_only)).route("/hello", get(|| async { "ok" })).with_state(floor),
    )
    .await;

    println!("{workers} connections, {total} requests per variant, {}-byte bodies; rate limits off", body.len());
    let get_trivial = || {
        http_load(workers, total, Target::one(reqwest::Method::GET, format!("{floor_base}/hello"), None, body.clone()))
    };
    let floor_run = || {
        http_load(workers, total, Target::one(reqwest::Method::POST, format!("{floor_base}/floor"), None, body.clone()))
    };
    let api_run = || {
        let target =
            Target::one(reqwest::Method::POST, format!("{api}/api/v1/posts"), Some(token.clone()), body.clone());
        http_load(workers, total, target)
    };
    let raw_run = || {
        let (jetstream, body, subject) =
            (jetstream.clone(), body.clone(), format!("{}.content.post", namespace.as_str()));
        load(workers, total, move |_, _| {
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
    report("in-process clients", &FLOOR_VS_API, pairs);

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
            report("wrk", &FLOOR_VS_API, pairs);
        }
    }
    store.delete_streams().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
