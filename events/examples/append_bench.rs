//! Append throughput and latency of the event store against raw JetStream
//! publish+ack, measured in the same run with the same payloads.
//!
//! `cargo run --release -p events --example append_bench -- [writers] [events] [bytes]`
//! (defaults: 64 writers, 20000 events per run, 512-byte event bodies; 5 alternating pairs of runs, median reported). Uses a
//! throwaway namespace on the NATS at `PULSE_NATS_URL`, deleted afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::content::{PostBody, PostCreated};
use events::ids::{PostId, UserId};
use events::{Aggregate, EventStore, Expected, Metadata, Namespace, StoreConfig};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Run {
    rate: f64,
    latency: Histogram<u64>,
}

impl Run {
    fn print(&self, name: &str) {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        println!("{name:<28} {:>9.0} events/s   p50 {:>6.2} ms   p99 {:>6.2} ms", self.rate, ms(0.5), ms(0.99));
    }
}

/// Runs `per_writer` operations on each of `writers` tasks; `op(writer, i)` does one.
async fn measure<F, Fut>(writers: usize, per_writer: usize, op: F) -> Run
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).unwrap();
                for i in 0..per_writer {
                    let t = Instant::now();
                    op(w, i).await;
                    latency.record(t.elapsed().as_micros() as u64).unwrap();
                }
                latency
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        latency.add(task.await.unwrap()).unwrap();
    }
    Run { rate: (writers * per_writer) as f64 / started.elapsed().as_secs_f64(), latency }
}

/// Alternating raw/store pairs per run.
const PAIRS: usize = 5;

fn p99(run: &Run) -> f64 {
    run.latency.value_at_quantile(0.99) as f64
}

fn event_of_size(bytes: usize) -> PostCreated {
    let mut event = PostCreated {
        post: PostId::new(),
        author: UserId::parse("bench_author").unwrap(),
        body: PostBody { text: String::new(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] },
    };
    let overhead = serde_json::to_vec(&event).unwrap().len();
    event.body.text = "x".repeat(bytes.saturating_sub(overhead));
    event
}

// The allocator the `pulse` binary ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let writers = args.first().copied().unwrap_or(64);
    let events = args.get(1).copied().unwrap_or(20_000);
    let bytes = args.get(2).copied().unwrap_or(512);
    let per_writer = events / writers;
    let url = std::env::var("PULSE_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());

    let namespace = Namespace::parse(&format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).unwrap();
    let config =
        StoreConfig { namespace: namespace.clone(), source: "/pulse/bench".to_owned(), ..StoreConfig::default() };
    let store = EventStore::connect(&url, config).await.expect("NATS with JetStream");
    let client = async_nats::connect(&url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let template = event_of_size(bytes);
    let payload: bytes::Bytes = serde_json::to_vec(&template).unwrap().into();
    println!("{writers} writers, {} events of {} bytes each, per mode", writers * per_writer, payload.len());

    let raw = || {
        let (jetstream, payload, namespace) = (jetstream.clone(), payload.clone(), namespace.clone());
        measure(writers, per_writer, move |_, _| {
            let (jetstream, payload) = (jetstream.clone(), payload.clone());
            let subject = Aggregate::post(PostId::new()).subject(&namespace);
            async move {
                jetstream.publish(subject, payload).await.unwrap().await.unwrap();
            }
        })
    };
    let through_store = || {
        let (store, template) = (store.clone(), template.clone());
        measure(writers, per_writer, move |_, _| {
            let store = store.clone();
            let mut event = template.clone();
            event.post = PostId::new();
            async move {
                let metadata = Metadata::new(Some(event.author.clone()));
                store.append(&Aggregate::post(event.post), Expected::Version(0), event, &metadata, None).await.unwrap();
            }
        })
    };

    // Warm up both paths, then run alternating pairs: the machine is shared and
    // noisy, so each pair's ratio is taken and the median pair is reported.
    raw().await;
    through_store().await;
    let mut pairs = Vec::new();
    for _ in 0..PAIRS {
        let (raw_run, store_run) = (raw().await, through_store().await);
        pairs.push((store_run.rate / raw_run.rate, p99(&store_run) / p99(&raw_run), raw_run, store_run));
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ratio, _, raw_run, store_run) = &pairs[PAIRS / 2];
    raw_run.print("raw publish+ack");
    store_run.print("EventStore::append");
    let mut p99_ratios: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    p99_ratios.sort_by(f64::total_cmp);
    let all: Vec<String> = pairs.iter().map(|p| format!("{:.2}", p.0)).collect();
    println!("throughput ratios of {PAIRS} pairs: {}", all.join(" "));
    println!(
        "median: throughput {ratio:.2} of raw (goal >= 0.80), p99 {:.2}x raw (goal <= 1.50)",
        p99_ratios[PAIRS / 2]
    );
    store.delete_streams().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
