//! What durability costs: `EventStore::append` throughput and p99 on the
//! server settings the README's "Durability" section compares, each against
//! one nats-server with default settings (fsync every 2 minutes) measured in
//! the same round:
//!
//! - one server with `sync_interval: always` (every write on disk before its ack);
//! - three servers, streams with three replicas (an ack once two of them hold it);
//! - three servers, three replicas and `sync_interval: always`.
//!
//! `cargo run --release -p events --example durability_bench -- [writers] [events]`
//! (defaults: 64 writers, 10000 events per run, 512-byte bodies, 3 rounds,
//! median ratio reported). Every server is a nats-server process of the
//! benchmark's own on loopback (`testkit::cluster`), its store in a temporary
//! directory on this machine's disk, so fsync costs what this disk makes it cost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::content::{PostBody, PostCreated};
use events::ids::{PostId, UserId};
use events::{Aggregate, EventStore, Expected, Metadata, Namespace, StoreConfig};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::Instant;
use testkit::cluster::NatsCluster;

const ROUNDS: usize = 3;

/// One server setting under test.
struct Setting {
    name: &'static str,
    nodes: usize,
    jetstream: &'static str,
}

const SETTINGS: [Setting; 4] = [
    Setting { name: "1 server, default fsync", nodes: 1, jetstream: "" },
    Setting { name: "1 server, sync always", nodes: 1, jetstream: "sync_interval: always" },
    Setting { name: "3 servers, 3 replicas", nodes: 3, jetstream: "" },
    Setting { name: "3 replicas + sync always", nodes: 3, jetstream: "sync_interval: always" },
];

struct Run {
    rate: f64,
    p99_ms: f64,
}

async fn store_on(cluster: &NatsCluster, replicas: usize, round: usize) -> EventStore {
    let config = StoreConfig {
        namespace: Namespace::parse(&format!("bench_d{round}")).unwrap(),
        replicas,
        source: "/pulse/bench".to_owned(),
        ..StoreConfig::default()
    };
    EventStore::connect(&cluster.urls()[0], config).await.unwrap()
}

/// `events` appends of new posts from `writers` tasks, each its own aggregate.
async fn appends(store: EventStore, writers: usize, events: usize, bytes: usize) -> Run {
    let store = Arc::new(store);
    let text = "x".repeat(bytes);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (store, text) = (store.clone(), text.clone());
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).unwrap();
                let author = UserId::parse("bench").unwrap();
                for _ in 0..events / writers {
                    let post = PostId(uuid::Uuid::now_v7());
                    let body = PostBody {
                        text: text.clone(),
                        media: vec![],
                        hashtags: vec![],
                        mentions: vec![],
                        flagged: vec![],
                    };
                    let event = PostCreated { post, author: author.clone(), body };
                    let t = Instant::now();
                    store
                        .append(&Aggregate::post(post), Expected::Any, event, &Metadata::new(None), None)
                        .await
                        .unwrap();
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
    let rate = (events / writers * writers) as f64 / started.elapsed().as_secs_f64();
    Run { rate, p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0 }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let writers = args.first().copied().unwrap_or(64);
    let events = args.get(1).copied().unwrap_or(10_000);
    println!("durability: {writers} writers, {events} events of 512 bytes per run, {ROUNDS} rounds");
    let clusters: Vec<NatsCluster> = SETTINGS.iter().map(|s| NatsCluster::start_with(s.nodes, s.jetstream)).collect();
    let mut runs: Vec<Vec<Run>> = SETTINGS.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        for (i, (setting, cluster)) in SETTINGS.iter().zip(&clusters).enumerate() {
            let store = store_on(cluster, setting.nodes, round).await;
            let run = appends(store, writers, events, 512).await;
            println!("  round {round} {:<26} {:>8.0} events/s   p99 {:>7.2} ms", setting.name, run.rate, run.p99_ms);
            runs[i].push(run);
        }
    }
    println!("\n{:<26} {:>10} {:>12} {:>14} {:>10}", "setting", "events/s", "vs default", "p99", "vs default");
    for (setting, setting_runs) in SETTINGS.iter().zip(&runs) {
        let rate = median(setting_runs.iter().map(|r| r.rate).collect());
        let p99 = median(setting_runs.iter().map(|r| r.p99_ms).collect());
        let rate_ratio = median(setting_runs.iter().zip(&runs[0]).map(|(r, base)| r.rate / base.rate).collect());
        let p99_ratio = median(setting_runs.iter().zip(&runs[0]).map(|(r, base)| r.p99_ms / base.p99_ms).collect());
        println!("{:<26} {rate:>10.0} {rate_ratio:>11.2}x {p99:>11.2} ms {p99_ratio:>9.2}x", setting.name);
    }
}
