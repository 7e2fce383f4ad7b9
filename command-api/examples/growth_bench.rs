//! Whether a command's cost stays flat as the log grows, in the two ways it
//! grows (issue 13):
//!
//! - **a long aggregate history**: `PUT /api/v1/events/{id}/rsvp` on calendar
//!   events with 10,000 RSVP changes against the same command on events with
//!   10. Anyone can grow an event's history by toggling an answer, so a load
//!   that walked it would let one user slow every later command on the event.
//!   Goal: at most 2x the latency. Measured again with the aggregate cache off
//!   (`cache_capacity: 0`), to show what the cache buys.
//! - **a full stream**: `POST /api/v1/posts/{id}/comments` (which loads the
//!   post) with a million events already in the content stream, against the
//!   same command on an empty stream. nats-server 2.9's per-subject reads grew
//!   with the stream; a current server's should not. Goal: at least 0.9 of the
//!   throughput, p99 within 2x.
//!
//! `cargo run --release -p command-api --example growth_bench -- [--stream-events N]`
//! (or `GROWTH_BENCH_STREAM_EVENTS=N`; default 1,000,000). Each comparison
//! alternates pairs of runs and reports the median pair, as `post_bench` does.
//! Everything is written to throwaway namespaces, deleted at the end. Rate
//! limits are off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "bench/mod.rs"]
mod bench;

use async_nats::jetstream::context::PublishAckFuture;
use auth::JwtKeys;
use bench::{Comparison, Target, http_load, report, serve};
use bytes::Bytes;
use command_api::{App, Config, RateLimits};
use events::Expected;
use events::catalog::content::{EventCreated, EventDetails, Rsvp, RsvpChanged};
use events::ids::{EventId, UserId};
use events::{Aggregate, ContentEvent, EventStore, IntoDomainEvent, Metadata, Namespace, StoreConfig};
use futures::StreamExt;
use std::future::IntoFuture;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// RSVP changes in a long history, and in a short one.
const LONG_HISTORY: usize = 10_000;
const SHORT_HISTORY: usize = 10;
/// Concurrent RSVP clients. Each answers on its own calendar event: clients
/// sharing one event would measure lost optimistic-concurrency races, not the
/// history's length. Every client needs a long history of its own, so their
/// number bounds the seeding time (16 x 10,000 appends).
const RSVP_CLIENTS: usize = 16;
/// RSVP requests per run with the cache on. Each one appends, so a run grows
/// each long history by 4000 / 16 = 250 events at most (to about 11,750 after
/// seven runs); the short histories are seeded afresh for every pair.
const RSVP_REQUESTS: usize = 4_000;
const RSVP_PAIRS: usize = 7;
/// With the cache off every request walks the whole history twice (the
/// organiser's block check reads the event first), one direct get per event:
/// one request on a long history takes seconds on a busy 2-core machine, so
/// each client sends one.
const UNCACHED_CLIENTS: usize = 4;
const UNCACHED_REQUESTS: usize = 4;
const UNCACHED_PAIRS: usize = 3;

/// Comment clients and requests per run on the full and the empty stream.
const COMMENT_CLIENTS: usize = 64;
const COMMENT_REQUESTS: usize = 20_000;
const COMMENT_PAIRS: usize = 7;
/// Events already in the full stream, unless told otherwise.
const STREAM_EVENTS: usize = 1_000_000;
/// Events per aggregate in the full stream: many distinct subjects,
/// interleaved, as a content stream of many posts is.
const EVENTS_PER_SUBJECT: usize = 4;
/// Raw publishes awaiting their ack while seeding.
const IN_FLIGHT: usize = 4_096;

fn store_config(namespace: &Namespace) -> StoreConfig {
    StoreConfig { namespace: namespace.clone(), source: "/pulse/bench".to_owned(), ..StoreConfig::default() }
}

/// An API over `store` with rate limits off and the given aggregate cache.
async fn api(store: &EventStore, cache_capacity: usize) -> String {
    let settings = commands::Settings { cache_capacity, ..commands::Settings::default() };
    let config = Config { limits: RateLimits::OFF, commands: settings, ..Config::with_secret(bench::SECRET) };
    let app = App::new(store.clone(), config, ops::Metrics::new("command-api")).unwrap();
    serve(command_api::router(app)).await
}

/// Calendar events with `changes` RSVP changes each, appended through the
/// event store (many in flight) rather than through HTTP: real events, which
/// the API then loads like any others. A crowd of 50 users toggles between
/// going and interested, as someone growing a history on purpose would.
async fn seed_events(store: &EventStore, count: usize, changes: usize) -> Vec<EventId> {
    let ids: Vec<EventId> = (0..count).map(|_| EventId(uuid::Uuid::now_v7())).collect();
    let now = OffsetDateTime::now_utc();
    let details = EventDetails {
        title: "Growth bench".to_owned(),
        description: String::new(),
        place: "Online".to_owned(),
        starts_at: now + Duration::from_secs(86_400),
        ends_at: now + Duration::from_secs(2 * 86_400),
        capacity: None,
    };
    let organizer = UserId::parse("bench_organizer").unwrap();
    let append = |id: EventId, event: ContentEvent| async move {
        let metadata = Metadata::new(None);
        store.append(&Aggregate::event(id), Expected::Any, event.into_domain(), &metadata, None).await.unwrap();
    };
    futures::stream::iter(ids.iter().map(|&id| {
        let created = EventCreated { event: id, organizer: organizer.clone(), details: details.clone() };
        append(id, created.into())
    }))
    .buffer_unordered(256)
    .collect::<()>()
    .await;
    let crowd: Vec<UserId> = (0..50).map(|k| UserId::parse(&format!("bench_crowd_{k}")).unwrap()).collect();
    let changes = (0..changes).flat_map(|k| ids.iter().map(move |&id| (id, k)));
    futures::stream::iter(changes.map(|(id, k)| {
        let rsvp = if (k / crowd.len()).is_multiple_of(2) { Rsvp::Going } else { Rsvp::Interested };
        append(id, RsvpChanged { event: id, user: crowd[k % crowd.len()].clone(), rsvp }.into())
    }))
    .buffer_unordered(256)
    .collect::<()>()
    .await;
    ids
}

/// Each client toggles its own answer on its own event, so every request
/// changes something and appends.
fn rsvp_target(api: &str, events: &[EventId], tokens: &[String]) -> Target {
    let body = |rsvp: &str| Bytes::from(format!(r#"{{"rsvp":"{rsvp}"}}"#));
    Target {
        method: reqwest::Method::PUT,
        urls: events.iter().map(|id| format!("{api}/api/v1/events/{id}/rsvp")).collect(),
        tokens: tokens.to_vec(),
        bodies: vec![body("going"), body("interested")],
    }
}

async fn rsvp_bench(url: &str, keys: &JwtKeys) -> Vec<EventStore> {
    let namespace = bench::throwaway_namespace("bench_rsvp");
    let store = EventStore::connect(url, store_config(&namespace)).await.expect("NATS with JetStream");
    let (cached, uncached) = (api(&store, commands::Settings::default().cache_capacity).await, api(&store, 0).await);
    let tokens: Vec<String> = (0..RSVP_CLIENTS).map(|w| bench::token(keys, &format!("bench_rsvp_{w}"))).collect();
    for token in &tokens {
        bench::register(&cached, token).await;
    }

    let started = Instant::now();
    let long = seed_events(&store, RSVP_CLIENTS, LONG_HISTORY).await;
    let seeded = started.elapsed();
    println!(
        "seeded {RSVP_CLIENTS} calendar events with {LONG_HISTORY} RSVP changes each in {:.1} s ({:.0} appends/s)",
        seeded.as_secs_f64(),
        (RSVP_CLIENTS * LONG_HISTORY) as f64 / seeded.as_secs_f64()
    );

    // Warm up: the first command on each long event is a cache miss that
    // walks its history once; after that, a load is one direct get.
    http_load(RSVP_CLIENTS, RSVP_CLIENTS, rsvp_target(&cached, &long, &tokens)).await;
    let comparison = Comparison {
        base: "RSVP, 10 changes",
        measured: "RSVP, 10,000 changes",
        min_throughput: None,
        max_p50: Some(2.0),
        max_p99: Some(2.0),
    };
    let mut pairs = Vec::new();
    for _ in 0..RSVP_PAIRS {
        let short = seed_events(&store, RSVP_CLIENTS, SHORT_HISTORY).await;
        let base = http_load(RSVP_CLIENTS, RSVP_REQUESTS, rsvp_target(&cached, &short, &tokens)).await;
        let measured = http_load(RSVP_CLIENTS, RSVP_REQUESTS, rsvp_target(&cached, &long, &tokens)).await;
        pairs.push((base, measured));
    }
    println!("\nRSVP on a long history, aggregate cache on, {RSVP_CLIENTS} clients, {RSVP_REQUESTS} requests per run:");
    report("in-process clients", &comparison, pairs);

    // The same with no cache, on the same long events (the cached API does
    // not touch them again, so its entries going stale matters to no one).
    let mut pairs = Vec::new();
    for _ in 0..UNCACHED_PAIRS {
        let short = seed_events(&store, UNCACHED_CLIENTS, SHORT_HISTORY).await;
        let base = http_load(UNCACHED_CLIENTS, UNCACHED_REQUESTS, rsvp_target(&uncached, &short, &tokens)).await;
        let measured = http_load(UNCACHED_CLIENTS, UNCACHED_REQUESTS, rsvp_target(&uncached, &long, &tokens)).await;
        pairs.push((base, measured));
    }
    println!(
        "\nRSVP on a long history, aggregate cache OFF, {UNCACHED_CLIENTS} clients, {UNCACHED_REQUESTS} requests per run:"
    );
    report("in-process clients", &Comparison { max_p50: None, max_p99: None, ..comparison }, pairs);
    vec![store]
}

/// `count` events of about 300 bytes published straight to the content
/// stream, with `IN_FLIGHT` awaiting their ack: the fastest way to fill it.
/// They are not CloudEvents (nothing reads them); what matters is that the
/// stream holds them, on many interleaved subjects.
async fn fill_stream(store: &EventStore, count: usize) {
    let jetstream = async_nats::jetstream::new(store.client().clone());
    let namespace = store.namespace().as_str();
    let subjects: Vec<String> = (0..count.div_ceil(EVENTS_PER_SUBJECT))
        .map(|_| format!("{namespace}.content.post.{}", uuid::Uuid::now_v7()))
        .collect();
    let payload = Bytes::from(format!(r#"{{"text":"{}"}}"#, "x".repeat(290)));
    let mut acks = futures::stream::FuturesUnordered::<<PublishAckFuture as IntoFuture>::IntoFuture>::new();
    for i in 0..count {
        if acks.len() >= IN_FLIGHT {
            acks.next().await.unwrap().unwrap();
        }
        let ack = jetstream.publish(subjects[i % subjects.len()].clone(), payload.clone()).await.unwrap();
        acks.push(ack.into_future());
    }
    while let Some(ack) = acks.next().await {
        ack.unwrap();
    }
}

async fn stream_bench(url: &str, keys: &JwtKeys, stream_events: usize) -> Vec<EventStore> {
    let (full_ns, empty_ns) = (bench::throwaway_namespace("bench_full"), bench::throwaway_namespace("bench_empty"));
    let full = EventStore::connect(url, store_config(&full_ns)).await.expect("NATS with JetStream");
    let empty = EventStore::connect(url, store_config(&empty_ns)).await.expect("NATS with JetStream");
    let started = Instant::now();
    fill_stream(&full, stream_events).await;
    let seeded = started.elapsed();
    println!(
        "\nseeded the content stream with {stream_events} events in {:.1} s ({:.0} publishes/s)",
        seeded.as_secs_f64(),
        stream_events as f64 / seeded.as_secs_f64()
    );

    let token = bench::token(keys, "bench_commenter");
    let mut targets = Vec::new();
    for store in [&empty, &full] {
        let api = api(store, commands::Settings::default().cache_capacity).await;
        bench::register(&api, &token).await;
        let post = bench::create(&format!("{api}/api/v1/posts"), &token, serde_json::json!({"text": "Growth"})).await;
        let body = serde_json::to_vec(&serde_json::json!({ "text": "c".repeat(200) })).unwrap();
        let url = format!("{api}/api/v1/posts/{post}/comments");
        targets.push(Target::one(reqwest::Method::POST, url, Some(token.clone()), body.into()));
    }
    let (on_empty, on_full) = (&targets[0], &targets[1]);
    http_load(COMMENT_CLIENTS, COMMENT_REQUESTS / 4, on_empty.clone()).await;
    http_load(COMMENT_CLIENTS, COMMENT_REQUESTS / 4, on_full.clone()).await;
    let mut pairs = Vec::new();
    for _ in 0..COMMENT_PAIRS {
        let base = http_load(COMMENT_CLIENTS, COMMENT_REQUESTS, on_empty.clone()).await;
        let measured = http_load(COMMENT_CLIENTS, COMMENT_REQUESTS, on_full.clone()).await;
        pairs.push((base, measured));
    }
    println!("\ncomment on a post, {COMMENT_CLIENTS} clients, {COMMENT_REQUESTS} requests per run:");
    let measured = format!("comment, stream of {stream_events}+");
    let comparison = Comparison {
        base: "comment, empty stream",
        measured: &measured,
        min_throughput: Some(0.9),
        max_p50: None,
        max_p99: Some(2.0),
    };
    report("in-process clients", &comparison, pairs);
    vec![full, empty]
}

/// The stream's event count: `--stream-events N`, else the environment, else
/// a million.
fn stream_events() -> usize {
    let args: Vec<String> = std::env::args().collect();
    let flag = args.windows(2).find(|w| w[0] == "--stream-events").map(|w| w[1].clone());
    flag.or_else(|| std::env::var("GROWTH_BENCH_STREAM_EVENTS").ok())
        .map(|n| n.replace('_', "").parse().expect("--stream-events takes a count"))
        .unwrap_or(STREAM_EVENTS)
}

#[tokio::main]
async fn main() {
    let url = std::env::var("PULSE_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let stream_events = stream_events();
    let keys = JwtKeys::new(&Config::with_secret(bench::SECRET).jwt);
    let started = Instant::now();
    let mut stores = rsvp_bench(&url, &keys).await;
    stores.extend(stream_bench(&url, &keys, stream_events).await);
    for store in stores {
        store.delete_streams().await.unwrap();
    }
    println!("\ngrowth bench done in {:.0} s", started.elapsed().as_secs_f64());
}
