//! The read side, measured against baselines taken in the same run:
//!
//! 1. **rebuild rate** of the profiles and the posts projections into SQLite
//!    (a file in a temp dir), with `Projector::build` on a fresh generation,
//!    against the raw ordered-consumer read of the same streams (`tail`, every
//!    event read and decoded, nothing written). Goal: at least 0.25 of raw.
//! 2. **projection lag**: under `POST /api/v1/posts` at about half the API's
//!    measured maximum, the time from a sampled command's 202 until the posts
//!    projection's progress notices reach its `position`. Goal: p99 < 50 ms.
//! 3. **`GET /api/v1/feed` at 64 connections** against a trivial axum route
//!    (goal: at least 0.4 of its throughput), and, for reference, against a
//!    route answering one stored feed page.
//! 4. **growth**: the feed of a user following 5,000 accounts against one
//!    following 10 (goal: p99 at most 2x), and `GET /api/v1/users/{id}` with a
//!    million events in the log against an empty log (goal: p99 at most 1.2x).
//!
//! `cargo run --release -p command-api --example read_bench -- [--rebuild-events N] [--stream-events N] [--only PART]`
//! (or `READ_BENCH_REBUILD_EVENTS`, `READ_BENCH_STREAM_EVENTS`; defaults
//! 200,000 and 1,000,000; `--only rebuild|lag|feed|profile` runs one part). Events are seeded with raw JetStream publishes of
//! correctly encoded Pulse events, many acks in flight. Every comparison
//! alternates pairs (baseline first) and reports the median ratio. Everything
//! lives in throwaway NATS namespaces and Redis key prefixes, deleted at the
//! end, and the SQLite files in a temp dir, removed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "bench/mod.rs"]
mod bench;

use async_nats::header::{HeaderMap, HeaderName};
use async_nats::jetstream::context::PublishAckFuture;
use auth::JwtKeys;
use axum::routing::get;
use bench::{Comparison, Medians, Run, Target, http_load, report, serve};
use bytes::Bytes;
use command_api::{App, Config, RateLimits};
use events::catalog::content::{PostBody, PostCreated, PostLiked};
use events::catalog::users::{Followed, UserRegistered};
use events::ids::{Handle, PostId, UserId};
use events::store::{Position, Subscribe};
use events::{Aggregate, Context, DomainEvent, Envelope, EventStore, EventType, Namespace, StoreConfig};
use futures::StreamExt;
use hdrhistogram::Histogram;
use projectors::{Job, Progress, Projector, ProjectorMetrics, Reactor, Settings};
use read_models::{Generation, Projection, registry};
use read_store::{AnyStore, CacheSettings, ReadStore, SqliteStore};
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::watch;

/// Events in the log the rebuilds read, unless told otherwise.
const REBUILD_EVENTS: usize = 200_000;
/// Events in the full log of the profile comparison, unless told otherwise.
const STREAM_EVENTS: usize = 1_000_000;
/// Raw publishes awaiting their ack while seeding.
const IN_FLIGHT: usize = 4_096;
/// Raw-read/build pairs per projection.
const REBUILD_PAIRS: usize = 3;

/// Command clients, the burst that finds the maximum, and the paced windows.
const LAG_CLIENTS: usize = 64;
const LAG_BURST: usize = 6_000;
const LAG_WINDOWS: usize = 3;
const LAG_WINDOW: Duration = Duration::from_secs(6);
/// One command in this many is followed to the projection.
const LAG_SAMPLE: usize = 4;
/// How long a sample waits for the projection before it counts as missed.
const LAG_GIVE_UP: Duration = Duration::from_secs(10);

/// Feed readers, each following `READER_FOLLOWS` authors, and the loads.
const FEED_CLIENTS: usize = 64;
const READER_FOLLOWS: usize = 50;
const AUTHORS: usize = 5_000;
const POSTS_PER_AUTHOR: usize = 2;
const FEED_REQUESTS: usize = 10_000;
const FEED_PAIRS: usize = 7;
const BIG_FOLLOWS: usize = AUTHORS;
const SMALL_FOLLOWS: usize = 10;
const GROWTH_CLIENTS: usize = 8;
const GROWTH_REQUESTS: usize = 3_000;
const GROWTH_PAIRS: usize = 7;
const PROFILE_CLIENTS: usize = 16;
const PROFILE_REQUESTS: usize = 8_000;
const PROFILE_PAIRS: usize = 7;

fn store_config(namespace: &Namespace) -> StoreConfig {
    StoreConfig { namespace: namespace.clone(), source: "/pulse/bench".to_owned(), ..StoreConfig::default() }
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

/// Correctly encoded Pulse events (CloudEvents headers, JSON body), published
/// straight to JetStream with many acks in flight: what `append` writes,
/// without its per-event round trip.
struct Publisher {
    jetstream: async_nats::jetstream::Context,
    namespace: Namespace,
    acks: futures::stream::FuturesUnordered<<PublishAckFuture as IntoFuture>::IntoFuture>,
    sent: usize,
}

impl Publisher {
    fn new(store: &EventStore) -> Self {
        Self {
            jetstream: async_nats::jetstream::new(store.client().clone()),
            namespace: store.namespace().clone(),
            acks: futures::stream::FuturesUnordered::new(),
            sent: 0,
        }
    }

    async fn publish(&mut self, aggregate: Aggregate, event: DomainEvent, actor: Option<&UserId>) {
        let body = event.to_json().unwrap();
        let envelope = Envelope {
            id: uuid::Uuid::now_v7(),
            source: "/pulse/bench".to_owned(),
            event_type: EventType {
                context: aggregate.context(),
                name: event.name().to_owned(),
                version: event.version(),
            },
            subject: aggregate.to_string(),
            time: OffsetDateTime::now_utc(),
            correlation_id: uuid::Uuid::now_v7().to_string(),
            causation_id: None,
            actor: actor.cloned(),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in envelope.to_headers() {
            headers.insert(HeaderName::from_static(name), value);
        }
        if self.acks.len() >= IN_FLIGHT {
            self.acks.next().await.unwrap().unwrap();
        }
        let subject = aggregate.subject(&self.namespace);
        let ack = self.jetstream.publish_with_headers(subject, headers, body.into()).await.unwrap();
        self.acks.push(ack.into_future());
        self.sent += 1;
    }

    async fn register(&mut self, id: &UserId) {
        let handle = Handle::parse(&format!("h_{}", id.as_str().to_ascii_lowercase().replace('-', "_"))).unwrap();
        let event = UserRegistered { user: id.clone(), handle, display_name: format!("{id} name"), email: None };
        self.publish(Aggregate::user(id), DomainEvent::Users(event.into()), Some(id)).await;
    }

    async fn follow(&mut self, follower: &UserId, followee: &UserId) {
        let event = Followed { follower: follower.clone(), followee: followee.clone() };
        self.publish(Aggregate::follow(follower, followee), DomainEvent::Users(event.into()), Some(follower)).await;
    }

    async fn post(&mut self, author: &UserId) -> PostId {
        let post = PostId::new();
        let body = PostBody {
            text: format!("A post of {author} about the read side, long enough to look like one: {}", "x".repeat(120)),
            media: Vec::new(),
            hashtags: vec!["bench".to_owned()],
            mentions: Vec::new(),
            flagged: Vec::new(),
        };
        let event = PostCreated { post, author: author.clone(), body };
        self.publish(Aggregate::post(post), DomainEvent::Content(event.into()), Some(author)).await;
        post
    }

    async fn like(&mut self, post: PostId, liker: &UserId, author: &UserId) {
        let event = PostLiked { post, user: liker.clone(), author: author.clone() };
        self.publish(Aggregate::like(post, liker), DomainEvent::Content(event.into()), Some(liker)).await;
    }

    /// Waits for every ack; the number of events published.
    async fn flush(&mut self) -> usize {
        while let Some(ack) = self.acks.next().await {
            ack.unwrap();
        }
        self.sent
    }
}

/// A small deterministic generator, so every run seeds the same shape.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// A social log of about `events` events: half in users (registrations, then
/// nine follows per user), half in content (posts, then as many likes).
async fn seed_social(store: &EventStore, events: usize, prefix: &str) -> usize {
    let mut publisher = Publisher::new(store);
    let mut rng = Lcg(7);
    let users: Vec<UserId> = (0..(events / 20).max(10)).map(|i| user(&format!("{prefix}{i}"))).collect();
    for id in &users {
        publisher.register(id).await;
    }
    for (i, follower) in users.iter().enumerate() {
        for k in 1..=9 {
            publisher.follow(follower, &users[(i + k * 7 + rng.below(3)) % users.len()]).await;
        }
    }
    let posts_wanted = (events / 4).max(10);
    let mut posts = Vec::with_capacity(posts_wanted);
    for i in 0..posts_wanted {
        let author = &users[i % users.len()];
        posts.push((publisher.post(author).await, i % users.len()));
    }
    for _ in 0..posts_wanted {
        let (post, author) = posts[rng.below(posts.len())];
        let liker = &users[rng.below(users.len())];
        publisher.like(post, liker, &users[author]).await;
    }
    publisher.flush().await
}

/// A SQLite read store in a file of the run's temp dir.
fn sqlite(dir: &Path, name: &str) -> AnyStore {
    AnyStore::from(SqliteStore::open(&dir.join(format!("{name}.sqlite"))).unwrap())
}

fn projection(name: &str) -> Arc<dyn Projection> {
    read_models::all().into_iter().find(|p| p.name() == name).unwrap()
}

/// The heads of a projection's streams, and their sum.
async fn heads(log: &EventStore, contexts: &[Context]) -> (Vec<(Context, u64)>, u64) {
    let mut until = Vec::new();
    for &context in contexts {
        until.push((context, log.head(context).await.unwrap()));
    }
    let total = until.iter().map(|(_, head)| head).sum();
    (until, total)
}

/// Reads and decodes every event of the streams up to their heads with
/// throwaway ordered consumers, the streams at once; events per second.
async fn raw_read(log: &EventStore, until: &[(Context, u64)]) -> f64 {
    let started = Instant::now();
    let reads = until.iter().map(|&(context, head)| async move {
        let mut tail = log.tail(Subscribe::all(context)).await.unwrap();
        let (mut read, mut decoded) = (0u64, 0u64);
        while read < head {
            for delivery in tail.next_batch(256).await {
                let delivery = delivery.unwrap();
                read = read.max(delivery.sequence);
                decoded += u64::from(delivery.recorded.is_ok());
            }
        }
        assert_eq!(decoded, head, "every seeded event decodes");
        head
    });
    let total: u64 = futures::future::join_all(reads).await.into_iter().sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// Drops what a generation left in the store.
async fn discard(store: &AnyStore, projection: &dyn Projection, generation: Generation) {
    for collection in generation.collections(projection) {
        store.drop_collection(&collection.name).await.unwrap();
    }
    registry::forget(store, projection.name(), generation).await.unwrap();
}

/// One line of the closing table.
struct Figure {
    what: String,
    measured: String,
    baseline: String,
    goal: String,
    holds: bool,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn show(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ")
}

async fn rebuild_bench(url: &str, dir: &Path, events: usize, figures: &mut Vec<Figure>) -> EventStore {
    let namespace = bench::throwaway_namespace("bench_rebuild");
    let log = EventStore::connect(url, store_config(&namespace)).await.expect("NATS with JetStream");
    let started = Instant::now();
    let seeded = seed_social(&log, events, "r").await;
    println!(
        "seeded {seeded} events (users: registrations, follows; content: posts, likes) in {:.1} s ({:.0} publishes/s)",
        started.elapsed().as_secs_f64(),
        seeded as f64 / started.elapsed().as_secs_f64()
    );
    let store = sqlite(dir, "rebuild");
    let projector = Projector::new(log.clone(), store.clone(), ProjectorMetrics::default(), Settings::default());
    let mut generation = 10;
    for name in ["profiles", "posts"] {
        let projection = projection(name);
        registry::declare(&store, std::slice::from_ref(&projection)).await.unwrap();
        let (until, total) = heads(&log, projection.contexts()).await;
        let (mut ratios, mut raws, mut builds) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..REBUILD_PAIRS {
            let raw = raw_read(&log, &until).await;
            generation += 1;
            let fresh = Generation(generation);
            let started = Instant::now();
            projector.build(&projection, fresh, &until).await.unwrap();
            let built = total as f64 / started.elapsed().as_secs_f64();
            discard(&store, projection.as_ref(), fresh).await;
            println!("  {name}: raw read {raw:>9.0} events/s, build {built:>9.0} events/s, ratio {:.2}", built / raw);
            ratios.push(built / raw);
            raws.push(raw);
            builds.push(built);
        }
        let ratio = median(ratios.clone());
        println!(
            "rebuild of {name} ({total} events), {REBUILD_PAIRS} pairs: ratios sorted {}, median {ratio:.2} (goal >= 0.25)",
            show(&ratios)
        );
        figures.push(Figure {
            what: format!("rebuild {name}, SQLite ({total} ev)"),
            measured: format!("{:.0} ev/s", median(builds)),
            baseline: format!("raw read {:.0} ev/s", median(raws)),
            goal: format!("ratio {ratio:.2} >= 0.25"),
            holds: ratio >= 0.25,
        });
    }
    log
}

/// A full read side over `log`, as `pulse` runs it: every projection and
/// reactor (the feed writer among them) into SQLite and Redis, and the
/// progress the queries wait on. Stops when the sender is dropped or fires.
struct ReadSide {
    reads: command_api::reads::Reads,
    stop: watch::Sender<bool>,
    running: tokio::task::JoinHandle<()>,
}

async fn read_side(log: &EventStore, store: AnyStore, redis_url: &str) -> ReadSide {
    let projections = read_models::all();
    let reactor = [(feeds::NAME, feeds::CONTEXTS)];
    let progress = Progress::start(log, &store, &projections, &reactor).await.unwrap();
    let feeds =
        feeds::Feeds::connect(redis_url, log.namespace().as_str(), feeds::FeedSettings::default()).await.unwrap();
    let projector = Projector::new(log.clone(), store.clone(), ProjectorMetrics::default(), Settings::default());
    let reactions = projectors::Reactions::new(commands::Commands::new(log.clone(), commands::Settings::default()));
    let writer = feeds::FeedWriter::new(feeds.clone(), store.clone(), progress.clone());
    let reactors: Vec<Arc<dyn Reactor>> = vec![Arc::new(reactions), Arc::new(writer)];
    let jobs = Job::all(&projections, reactors);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(async move {
        projector.run(&jobs, stopped).await.unwrap();
    });
    // First pages kept as `pulse` keeps them by default (PULSE_FEED_CACHE_PAGES).
    let feeds = feeds.with_first_pages(10_000);
    let reads =
        command_api::reads::Reads::new(store, progress, CacheSettings::default(), Duration::from_secs(5), feeds);
    ReadSide { reads, stop, running }
}

impl ReadSide {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.running).await;
    }

    /// Waits, up to `limit`, until the projections and the feeds have applied
    /// everything the log holds now; whether they did.
    async fn caught_up(&self, log: &EventStore, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        for context in [Context::Users, Context::Content] {
            let head = log.head(context).await.unwrap();
            let position = Position { context, sequence: head };
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.reads.progress.wait(&["profiles", "posts", feeds::NAME], position, left).await {
                println!("  the read side did not reach {position} within {} s", limit.as_secs());
                return false;
            }
        }
        true
    }
}

/// An API over `log` with rate limits off, its queries over `reads`.
async fn api(log: &EventStore, reads: command_api::reads::Reads) -> String {
    let config = Config { limits: RateLimits::OFF, ..Config::with_secret(bench::SECRET) };
    let app = App::with_reads(log.clone(), config, ops::Metrics::new("command-api"), reads).unwrap();
    serve(command_api::router(app)).await
}

fn post_body() -> Bytes {
    serde_json::to_vec(&serde_json::json!({ "text": "Lag ".repeat(100) })).unwrap().into()
}

/// Paced `POST /api/v1/posts` at `rate` per second for `window`; every
/// `LAG_SAMPLE`th command is followed until the posts projection has applied
/// its position. The rate reached, and the lags in microseconds.
async fn paced_posts(
    api: &str,
    tokens: &[String],
    progress: &Progress,
    rate: f64,
    window: Duration,
) -> (f64, Histogram<u64>, usize) {
    let lags = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let missed = Arc::new(Mutex::new(0usize));
    let per_client = Duration::from_secs_f64(tokens.len() as f64 / rate);
    let url = format!("{api}/api/v1/posts");
    let started = Instant::now();
    let clients: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(w, token)| {
            let (url, token, progress, lags, missed) =
                (url.clone(), token.clone(), progress.clone(), lags.clone(), missed.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
                // Spread the clients' first requests over one interval.
                let offset = per_client.mul_f64(w as f64 / LAG_CLIENTS as f64);
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, per_client);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let (mut sent, mut followers) = (0usize, Vec::new());
                while started.elapsed() < window {
                    ticks.tick().await;
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(post_body())
                        .send()
                        .await;
                    let answered = Instant::now();
                    sent += 1;
                    let Ok(response) = response else { continue };
                    if !response.status().is_success() || sent % LAG_SAMPLE != 0 {
                        continue;
                    }
                    let answer: serde_json::Value = response.json().await.unwrap_or_default();
                    let position: Position = answer["position"].as_str().expect("a position").parse().unwrap();
                    let (progress, lags, missed) = (progress.clone(), lags.clone(), missed.clone());
                    followers.push(tokio::spawn(async move {
                        // One not reached in time counts as the whole wait:
                        // the percentiles cover every sample.
                        if !progress.wait(&["posts"], position, LAG_GIVE_UP).await {
                            *missed.lock().unwrap() += 1;
                        }
                        lags.lock().unwrap().record(answered.elapsed().as_micros() as u64).unwrap();
                    }));
                }
                for follower in followers {
                    follower.await.unwrap();
                }
                sent
            })
        })
        .collect();
    let mut sent = 0;
    for client in clients {
        sent += client.await.unwrap();
    }
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    let lags = lags.lock().unwrap().clone();
    let missed = *missed.lock().unwrap();
    (rate, lags, missed)
}

async fn lag_bench(
    url: &str,
    dir: &Path,
    redis_url: &str,
    keys: &JwtKeys,
    figures: &mut Vec<Figure>,
) -> (EventStore, ReadSide) {
    let namespace = bench::throwaway_namespace("bench_lag");
    let log = EventStore::connect(url, store_config(&namespace)).await.expect("NATS with JetStream");
    let side = read_side(&log, sqlite(dir, "lag"), redis_url).await;
    let api = api(&log, side.reads.clone()).await;
    let tokens: Vec<String> = (0..LAG_CLIENTS).map(|w| bench::token(keys, &format!("bench_lag_{w}"))).collect();
    for token in &tokens {
        bench::register(&api, token).await;
    }
    let target = Target {
        method: reqwest::Method::POST,
        urls: vec![format!("{api}/api/v1/posts")],
        tokens: tokens.clone(),
        bodies: vec![post_body()],
    };
    http_load(LAG_CLIENTS, LAG_BURST / 4, target.clone()).await;
    let burst = http_load(LAG_CLIENTS, LAG_BURST, target).await;
    burst.print("POST /api/v1/posts, burst (max)");
    side.caught_up(&log, Duration::from_secs(120)).await;
    let rate = burst.rate / 2.0;
    println!("\nprojection lag under POST /api/v1/posts at {rate:.0}/s (half the burst), {LAG_CLIENTS} clients:");
    let (mut p50s, mut p99s, mut rates, mut missed_all) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..LAG_WINDOWS {
        let (reached, lags, missed) = paced_posts(&api, &tokens, &side.reads.progress, rate, LAG_WINDOW).await;
        let (p50, p99) = (lags.value_at_quantile(0.5) as f64 / 1000.0, lags.value_at_quantile(0.99) as f64 / 1000.0);
        println!(
            "  {reached:>6.0} commands/s, {} sampled: lag p50 {p50:>6.2} ms, p99 {p99:>6.2} ms, max {:>6.2} ms, not reached in 10 s (counted as 10 s): {missed}",
            lags.len(),
            lags.max() as f64 / 1000.0
        );
        p50s.push(p50);
        p99s.push(p99);
        rates.push(reached);
        missed_all += missed;
        side.caught_up(&log, Duration::from_secs(60)).await;
    }
    // Each durable projector holds one consumer of the stream; anything
    // beyond those is a throwaway tail (a catch-up) not yet expired.
    let jetstream = async_nats::jetstream::new(log.client().clone());
    let stream = log.namespace().stream(Context::Content);
    let consumers = jetstream.get_stream(&stream).await.unwrap().info().await.unwrap().state.consumer_count;
    println!("consumers of the content stream after the windows: {consumers}");
    let (p50, p99) = (median(p50s), median(p99s.clone()));
    println!(
        "lag p99 per window, sorted: {} ms; median p50 {p50:.2} ms, p99 {p99:.2} ms (goal p99 < 50 ms)",
        show(&p99s)
    );
    figures.push(Figure {
        what: "lag, 202 to posts model (p50/p99)".to_owned(),
        measured: format!("{p50:.1} / {p99:.1} ms"),
        baseline: format!("at {:.0}/s of max {:.0}/s, {missed_all} >10 s", median(rates), burst.rate),
        goal: "p99 < 50 ms".to_owned(),
        holds: p99 < 50.0,
    });
    (log, side)
}

/// Authors with posts, readers following some of them, and two users
/// following 5,000 and 10; the read side builds the feeds by fan-out.
async fn feed_bench(
    url: &str,
    dir: &Path,
    redis_url: &str,
    keys: &JwtKeys,
    figures: &mut Vec<Figure>,
) -> (EventStore, ReadSide) {
    let namespace = bench::throwaway_namespace("bench_feed");
    let log = EventStore::connect(url, store_config(&namespace)).await.expect("NATS with JetStream");
    let side = read_side(&log, sqlite(dir, "feed"), redis_url).await;
    let api = api(&log, side.reads.clone()).await;
    let started = Instant::now();
    let mut publisher = Publisher::new(&log);
    let authors: Vec<UserId> = (0..AUTHORS).map(|i| user(&format!("author{i}"))).collect();
    let readers: Vec<UserId> = (0..FEED_CLIENTS).map(|i| user(&format!("reader{i}"))).collect();
    let (big, small) = (user("follows_many"), user("follows_few"));
    for id in authors.iter().chain(&readers).chain([&big, &small]) {
        publisher.register(id).await;
    }
    for author in &authors {
        for _ in 0..POSTS_PER_AUTHOR {
            publisher.post(author).await;
        }
    }
    for (r, reader) in readers.iter().enumerate() {
        for k in 0..READER_FOLLOWS {
            publisher.follow(reader, &authors[(r * READER_FOLLOWS + k * 97) % AUTHORS]).await;
        }
    }
    for author in &authors[..BIG_FOLLOWS] {
        publisher.follow(&big, author).await;
    }
    for k in 0..SMALL_FOLLOWS {
        publisher.follow(&small, &authors[k * 491]).await;
    }
    let seeded = publisher.flush().await;
    assert!(side.caught_up(&log, Duration::from_secs(300)).await, "the feeds need a caught-up read side");
    println!(
        "\nseeded {seeded} events ({AUTHORS} authors with {POSTS_PER_AUTHOR} posts, {FEED_CLIENTS} readers following \
         {READER_FOLLOWS}, one user following {BIG_FOLLOWS}, one {SMALL_FOLLOWS}) and projected them in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Read every feed once, so each is built before it is measured.
    let feed = format!("{api}/api/v1/feed");
    let reader_tokens: Vec<String> = readers.iter().map(|r| bench::token(keys, r.as_str())).collect();
    let (big_token, small_token) = (bench::token(keys, big.as_str()), bench::token(keys, small.as_str()));
    let client = reqwest::Client::new();
    let mut stored_page = Bytes::new();
    for token in reader_tokens.iter().chain([&big_token, &small_token]) {
        let body = client
            .get(&feed)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(page["items"].as_array().map(Vec::len), Some(20), "a full first page: {page}");
        stored_page = body;
    }

    let trivial = serve(axum::Router::new().route("/", get(|| async { "ok" }))).await;
    let trivial = Target::one(reqwest::Method::GET, format!("{trivial}/"), None, Bytes::new());
    let feeds = Target {
        method: reqwest::Method::GET,
        urls: vec![feed.clone()],
        tokens: reader_tokens,
        bodies: vec![Bytes::new()],
    };
    http_load(FEED_CLIENTS, FEED_REQUESTS / 4, trivial.clone()).await;
    http_load(FEED_CLIENTS, FEED_REQUESTS / 4, feeds.clone()).await;
    let mut pairs = Vec::new();
    for _ in 0..FEED_PAIRS {
        pairs.push((
            http_load(FEED_CLIENTS, FEED_REQUESTS, trivial.clone()).await,
            http_load(FEED_CLIENTS, FEED_REQUESTS, feeds.clone()).await,
        ));
    }
    let (trivial_run, feed_run) = median_pair(&pairs);
    println!("\nGET /api/v1/feed (20 posts a page), {FEED_CLIENTS} connections, {FEED_REQUESTS} requests per run:");
    if let Some(pages) = side.reads.feeds.first_pages_stats() {
        println!("first pages: {} served as Redis last gave them, {} read from Redis", pages.hits, pages.misses);
    }
    let comparison = Comparison {
        base: "trivial axum GET",
        measured: "GET /api/v1/feed",
        min_throughput: Some(0.4),
        max_p50: None,
        max_p99: None,
    };
    let medians = report("in-process clients", &comparison, pairs).unwrap();
    figures.push(Figure {
        what: format!("GET /api/v1/feed, {FEED_CLIENTS} conns (thr, p99)"),
        measured: format!("{:.0} req/s, {:.1} ms", feed_run.0, feed_run.1),
        baseline: format!("trivial {:.0} req/s, {:.1} ms", trivial_run.0, trivial_run.1),
        goal: format!("thr ratio {:.2} >= 0.4", medians.throughput),
        holds: medians.throughput >= 0.4,
    });

    // Not a goal: a reference for how much of the gap is the page's size. The
    // same bytes as a real page, from a route that does nothing else.
    let page_bytes = stored_page.len();
    let stored = serve(axum::Router::new().route(
        "/",
        get(move || {
            let body = stored_page.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body) }
        }),
    ))
    .await;
    let stored = Target::one(reqwest::Method::GET, format!("{stored}/"), None, Bytes::new());
    let mut pairs = Vec::new();
    for _ in 0..FEED_PAIRS {
        pairs.push((
            http_load(FEED_CLIENTS, FEED_REQUESTS, stored.clone()).await,
            http_load(FEED_CLIENTS, FEED_REQUESTS, feeds.clone()).await,
        ));
    }
    println!("\nthe same against an axum GET answering a stored feed page ({page_bytes} bytes), for reference:");
    let comparison = Comparison {
        base: "axum GET of a stored page",
        measured: "GET /api/v1/feed",
        min_throughput: None,
        max_p50: None,
        max_p99: None,
    };
    report("in-process clients", &comparison, pairs).unwrap();

    let one = |token: &str| Target::one(reqwest::Method::GET, feed.clone(), Some(token.to_owned()), Bytes::new());
    let (few, many) = (one(&small_token), one(&big_token));
    let mut pairs = Vec::new();
    for _ in 0..GROWTH_PAIRS {
        pairs.push((
            http_load(GROWTH_CLIENTS, GROWTH_REQUESTS, few.clone()).await,
            http_load(GROWTH_CLIENTS, GROWTH_REQUESTS, many.clone()).await,
        ));
    }
    let (few_run, many_run) = median_pair(&pairs);
    println!(
        "\nfeed of a user following {BIG_FOLLOWS} against one following {SMALL_FOLLOWS}, {GROWTH_CLIENTS} connections:"
    );
    let comparison = Comparison {
        base: "feed, following 10",
        measured: "feed, following 5,000",
        min_throughput: None,
        max_p50: None,
        max_p99: Some(2.0),
    };
    let medians = report("in-process clients", &comparison, pairs).unwrap();
    figures.push(Figure {
        what: format!("feed p99, following {BIG_FOLLOWS}"),
        measured: format!("{:.2} ms", many_run.1),
        baseline: format!("following {SMALL_FOLLOWS}: {:.2} ms", few_run.1),
        goal: format!("p99 ratio {:.2} <= 2", medians.p99),
        holds: medians.p99 <= 2.0,
    });
    (log, side)
}

/// The median throughput and median p99 (ms) of each side of a set of pairs.
fn median_pair(pairs: &[(Run, Run)]) -> ((f64, f64), (f64, f64)) {
    let side = |pick: &dyn Fn(&(Run, Run)) -> &Run| {
        let rate = median(pairs.iter().map(|p| pick(p).rate).collect());
        let p99 = median(pairs.iter().map(|p| pick(p).p99 / 1000.0).collect());
        (rate, p99)
    };
    (side(&|p| &p.0), side(&|p| &p.1))
}

/// A users log of about `events` events: registrations, then nine follows
/// per user; `target` is registered first and followed by many.
async fn seed_users(log: &EventStore, events: usize, target: &UserId, caller: &UserId) -> usize {
    let mut publisher = Publisher::new(log);
    publisher.register(target).await;
    publisher.register(caller).await;
    publisher.follow(caller, target).await;
    let users: Vec<UserId> = (0..events / 10).map(|i| user(&format!("p{i}"))).collect();
    for id in &users {
        publisher.register(id).await;
    }
    let mut rng = Lcg(11);
    for (i, follower) in users.iter().enumerate() {
        publisher.follow(follower, target).await;
        for k in 1..=8 {
            publisher.follow(follower, &users[(i + k * 13 + rng.below(5)) % users.len()]).await;
        }
    }
    publisher.flush().await
}

/// An API over `log` whose profiles model was built to the log's head.
async fn built_api(log: &EventStore, dir: &Path, name: &str, redis_url: &str) -> (String, f64) {
    let store = sqlite(dir, name);
    let profiles = projection("profiles");
    let projections = read_models::all();
    registry::declare(&store, &projections).await.unwrap();
    let (until, total) = heads(log, profiles.contexts()).await;
    let projector = Projector::new(log.clone(), store.clone(), ProjectorMetrics::default(), Settings::default());
    let started = Instant::now();
    projector.build(&profiles, Generation::FIRST, &until).await.unwrap();
    let rate = total as f64 / started.elapsed().as_secs_f64().max(1e-6);
    let progress = Progress::start(log, &store, &projections, &[(feeds::NAME, feeds::CONTEXTS)]).await.unwrap();
    let feeds =
        feeds::Feeds::connect(redis_url, log.namespace().as_str(), feeds::FeedSettings::default()).await.unwrap();
    let reads =
        command_api::reads::Reads::new(store, progress, CacheSettings::default(), Duration::from_secs(5), feeds);
    (api(log, reads).await, rate)
}

async fn profile_bench(
    url: &str,
    dir: &Path,
    redis_url: &str,
    keys: &JwtKeys,
    stream_events: usize,
    figures: &mut Vec<Figure>,
) -> Vec<EventStore> {
    let (full_ns, empty_ns) = (bench::throwaway_namespace("bench_pfull"), bench::throwaway_namespace("bench_pempty"));
    let full = EventStore::connect(url, store_config(&full_ns)).await.expect("NATS with JetStream");
    let empty = EventStore::connect(url, store_config(&empty_ns)).await.expect("NATS with JetStream");
    let (target, caller) = (user("profile_target"), user("profile_caller"));
    let started = Instant::now();
    let seeded = seed_users(&full, stream_events, &target, &caller).await;
    println!(
        "\nseeded the users stream with {seeded} events in {:.1} s ({:.0} publishes/s)",
        started.elapsed().as_secs_f64(),
        seeded as f64 / started.elapsed().as_secs_f64()
    );
    seed_users(&empty, 0, &target, &caller).await;
    let (on_full, rate) = built_api(&full, dir, "profiles_full", redis_url).await;
    println!("built the profiles model of {seeded} events at {rate:.0} events/s");
    let (on_empty, _) = built_api(&empty, dir, "profiles_empty", redis_url).await;
    let token = bench::token(keys, caller.as_str());
    let target_of = |api: &str| {
        Target::one(reqwest::Method::GET, format!("{api}/api/v1/users/{target}"), Some(token.clone()), Bytes::new())
    };
    let (on_empty, on_full) = (target_of(&on_empty), target_of(&on_full));
    http_load(PROFILE_CLIENTS, PROFILE_REQUESTS / 4, on_empty.clone()).await;
    http_load(PROFILE_CLIENTS, PROFILE_REQUESTS / 4, on_full.clone()).await;
    let mut pairs = Vec::new();
    for _ in 0..PROFILE_PAIRS {
        pairs.push((
            http_load(PROFILE_CLIENTS, PROFILE_REQUESTS, on_empty.clone()).await,
            http_load(PROFILE_CLIENTS, PROFILE_REQUESTS, on_full.clone()).await,
        ));
    }
    let (empty_run, full_run) = median_pair(&pairs);
    println!("\nGET /api/v1/users/{{id}}, {PROFILE_CLIENTS} connections, {PROFILE_REQUESTS} requests per run:");
    let measured = format!("profile, log of {seeded}");
    let comparison = Comparison {
        base: "profile, empty log",
        measured: &measured,
        min_throughput: None,
        max_p50: None,
        max_p99: Some(1.2),
    };
    let medians: Medians = report("in-process clients", &comparison, pairs).unwrap();
    figures.push(Figure {
        what: format!("profile p99, log of {seeded} ev"),
        measured: format!("{:.2} ms", full_run.1),
        baseline: format!("empty log: {:.2} ms", empty_run.1),
        goal: format!("p99 ratio {:.2} <= 1.2", medians.p99),
        holds: medians.p99 <= 1.2,
    });
    vec![full, empty]
}

/// `--name N`, else the environment variable, else the default.
fn count(flag: &str, variable: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    let given = args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    given
        .or_else(|| std::env::var(variable).ok())
        .map(|n| n.replace('_', "").parse().unwrap_or_else(|_| panic!("{flag} takes a count")))
        .unwrap_or(default)
}

/// Deletes the keys of the run's namespaces from the shared Redis, by prefix.
async fn delete_keys(redis_url: &str, prefixes: &[String]) {
    let client = redis::Client::open(redis_url).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let mut deleted = 0usize;
    for prefix in prefixes {
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut redis)
                .await
                .unwrap();
            if !keys.is_empty() {
                deleted += keys.len();
                let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut redis).await.unwrap();
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    println!("deleted {deleted} Redis keys");
}

#[tokio::main]
async fn main() {
    let url = std::env::var("PULSE_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let redis_url = std::env::var("PULSE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let rebuild_events = count("--rebuild-events", "READ_BENCH_REBUILD_EVENTS", REBUILD_EVENTS);
    let stream_events = count("--stream-events", "READ_BENCH_STREAM_EVENTS", STREAM_EVENTS);
    let keys = JwtKeys::new(&Config::with_secret(bench::SECRET).jwt);
    let dir: PathBuf = std::env::temp_dir().join(format!("pulse-read-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let mut figures = Vec::new();

    // Projector pauses and retries show on stderr (`RUST_LOG` for more).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    // `--only rebuild|lag|feed|profile` runs one part.
    let only = std::env::args().collect::<Vec<_>>().windows(2).find(|w| w[0] == "--only").map(|w| w[1].clone());
    let runs = |part: &str| only.as_deref().is_none_or(|only| only == part);
    let mut logs = Vec::new();
    if runs("rebuild") {
        logs.push(rebuild_bench(&url, &dir, rebuild_events, &mut figures).await);
    }
    if runs("lag") {
        let (log, side) = lag_bench(&url, &dir, &redis_url, &keys, &mut figures).await;
        side.stop().await;
        logs.push(log);
    }
    if runs("feed") {
        let (log, side) = feed_bench(&url, &dir, &redis_url, &keys, &mut figures).await;
        side.stop().await;
        logs.push(log);
    }
    if runs("profile") {
        logs.extend(profile_bench(&url, &dir, &redis_url, &keys, stream_events, &mut figures).await);
    }

    println!("\n{:<40} {:>22} {:>30} {:>24}  holds", "figure", "measured", "baseline", "goal");
    for f in &figures {
        println!(
            "{:<40} {:>22} {:>30} {:>24}  {}",
            f.what,
            f.measured,
            f.baseline,
            f.goal,
            if f.holds { "yes" } else { "NO" }
        );
    }

    let prefixes: Vec<String> = logs.iter().map(|log| log.namespace().as_str().to_owned()).collect();
    for log in logs {
        log.delete_streams().await.unwrap();
    }
    delete_keys(&redis_url, &prefixes).await;
    std::fs::remove_dir_all(&dir).unwrap();
    println!("\nread bench done in {:.0} s", started.elapsed().as_secs_f64());
}
