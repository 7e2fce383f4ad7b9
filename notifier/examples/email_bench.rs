//! The notifier's speed, in two figures:
//!
//! - emails: emails per second from `NotificationCreated` in the log to the
//!   SMTP server's acceptance, through the mailer as `pulse notifier` runs it
//!   (the engine reading the notifications stream, each email's outcome
//!   appended), against a raw lettre client sending the very same messages
//!   one after the other to the same SMTP server (aiosmtpd on loopback, the
//!   tests' server), in alternating pairs; the median ratio;
//! - in-app: from a `Followed` appended to the follower's `NotificationCreated`
//!   in the log (what the chat gateway pushes to sockets), with the notifier
//!   running on the engine; p50 and p99.
//!
//! `cargo run --release -p notifier --example email_bench` (what `make bench`
//! runs), against the NATS of `PULSE_NATS_URL` (else `.pulse/nats.url`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use auth::Secret;
use domain::notify::RetryPolicy;
use events::catalog::notifications::{Channel, NotificationCreated, NotificationKind};
use events::catalog::users::{Followed, HandleClaimed, UserRegistered};
use events::ids::{Handle, NotificationId, UserId};
use events::{Aggregate, EventStore, Expected, Metadata, Namespace, StoreConfig};
use futures::StreamExt;
use hdrhistogram::Histogram;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use notifier::{EmailSettings, Mailer, Notifier, NotifierMetrics};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::smtp::SmtpSink;

const EMAILS: usize = 400;
const PAIRS: usize = 5;
const FOLLOWS: usize = 1_000;
const FOLLOWS_PER_SECOND: u64 = 200;
const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

fn user(i: usize) -> UserId {
    UserId::parse(&format!("u{i}")).unwrap()
}

async fn fresh_log(prefix: &str) -> EventStore {
    let namespace = Namespace::parse(&format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).unwrap();
    EventStore::connect(&testkit::nats_url(), StoreConfig { namespace, ..StoreConfig::default() }).await.unwrap()
}

async fn append(log: &EventStore, aggregate: Aggregate, event: impl Into<events::DomainEvent>) {
    log.append(&aggregate, Expected::Any, event, &Metadata::new(None), None).await.unwrap();
}

/// `count` registered users with an email address each.
async fn register(log: &EventStore, count: usize) {
    for i in 0..count {
        let handle = Handle::parse(&format!("user_{i}")).unwrap();
        append(log, Aggregate::handle(&handle), HandleClaimed { handle: handle.clone(), user: user(i) }).await;
        let email = Some(format!("u{i}@example.org"));
        let registered = UserRegistered { user: user(i), handle, display_name: format!("U{i}"), email };
        append(log, Aggregate::user(&user(i)), registered).await;
    }
}

fn notification(i: usize) -> NotificationCreated {
    NotificationCreated {
        notification: NotificationId(uuid::Uuid::now_v7()),
        recipient: user(i % 50),
        kind: NotificationKind::Mentioned,
        actor: Some(user(999)),
        text: format!("u999 mentioned you in a post ({i})"),
        link: Some(format!("/posts/{i}")),
        channels: vec![Channel::InApp, Channel::Email],
    }
}

fn mailer(log: &EventStore, smtp: &SmtpSink) -> Mailer {
    let settings = EmailSettings {
        smtp_url: Some(smtp.url()),
        from: "Pulse <pulse@example.org>".into(),
        public_url: "https://pulse.example.org".into(),
        secret: Secret::new(SECRET),
        retry: RetryPolicy::default(),
    };
    let commands = commands::Commands::new(log.clone(), commands::Settings::default());
    Mailer::new(commands, settings, NotifierMetrics::default()).unwrap()
}

/// The raw client: the same messages, one after the other, over one pooled
/// lettre transport. Emails per second.
async fn raw(smtp: &SmtpSink, composer: &Mailer) -> f64 {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(smtp.port).build();
    let messages: Vec<_> =
        (0..EMAILS).map(|i| composer.compose(&notification(i), &format!("u{}@example.org", i % 50)).unwrap()).collect();
    let started = Instant::now();
    for message in messages {
        transport.send(message).await.unwrap();
    }
    EMAILS as f64 / started.elapsed().as_secs_f64()
}

/// The mailer on the engine: `EMAILS` notifications already in the log, the
/// clock from the engine's start to the SMTP server's last acceptance.
async fn through_mailer(smtp: &SmtpSink) -> f64 {
    let log = fresh_log("emailbench").await;
    register(&log, 50).await;
    for i in 0..EMAILS {
        let created = notification(i);
        append(&log, Aggregate::notification(created.notification), created).await;
    }
    let before = smtp.messages().len();
    let job = projectors::Job::React(Arc::new(mailer(&log, smtp)));
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(engine(log.clone(), vec![job], stopped));
    while smtp.messages().len() < before + EMAILS {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let rate = EMAILS as f64 / started.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    running.await.unwrap();
    log.delete_streams().await.ok();
    rate
}

async fn engine(log: EventStore, jobs: Vec<projectors::Job>, stop: tokio::sync::watch::Receiver<bool>) {
    let store = read_store::AnyStore::from(read_store::SqliteStore::in_memory().unwrap());
    let projector = projectors::Projector::new(
        log,
        store,
        projectors::ProjectorMetrics::default(),
        projectors::Settings::default(),
    );
    projector.run(&jobs, stop).await.unwrap();
}

/// p50 and p99, in ms, from a follow appended to its notification in the log.
async fn in_app() -> (f64, f64) {
    let log = fresh_log("inappbench").await;
    let subject = format!("{}.notifications.notification.*", log.namespace().as_str());
    let mut arrivals = log.client().subscribe(subject).await.unwrap();
    let job = projectors::Job::React(Arc::new(Notifier::new(commands::Commands::new(
        log.clone(),
        commands::Settings::default(),
    ))));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(engine(log.clone(), vec![job], stopped));
    // Each follow notifies someone new, in order: the i-th notification is the i-th follow's.
    let receiving = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(FOLLOWS);
        while seen.len() < FOLLOWS {
            arrivals.next().await.unwrap();
            seen.push(Instant::now());
        }
        seen
    });
    let mut sent = Vec::with_capacity(FOLLOWS);
    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / FOLLOWS_PER_SECOND));
    for i in 0..FOLLOWS {
        pace.tick().await;
        let followed = Followed { follower: user(10_000 + i), followee: user(20_000 + i) };
        sent.push(Instant::now());
        append(&log, Aggregate::follow(&followed.follower, &followed.followee), followed).await;
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), receiving).await.unwrap().unwrap();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for (sent, seen) in sent.iter().zip(&seen) {
        latency.record(seen.duration_since(*sent).as_micros() as u64).unwrap();
    }
    stop.send(true).unwrap();
    running.await.unwrap();
    log.delete_streams().await.ok();
    (latency.value_at_quantile(0.5) as f64 / 1000.0, latency.value_at_quantile(0.99) as f64 / 1000.0)
}

#[tokio::main]
async fn main() {
    let smtp = SmtpSink::start();
    let composer_log = fresh_log("emailbench").await;
    let composer = mailer(&composer_log, &smtp);
    let mut ratios = Vec::new();
    for pair in 1..=PAIRS {
        let base = raw(&smtp, &composer).await;
        let measured = through_mailer(&smtp).await;
        println!(
            "pair {pair}: raw lettre {base:>7.0} emails/s   mailer {measured:>7.0} emails/s   ratio {:.2}",
            measured / base
        );
        ratios.push(measured / base);
    }
    composer_log.delete_streams().await.ok();
    ratios.sort_by(f64::total_cmp);
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    let median = ratios[ratios.len() / 2];
    println!("emails: ratios to raw lettre, sorted: {}", shown.join(" "));
    println!("emails: median {median:.2} of raw lettre (goal >= 0.70): {}", if median >= 0.7 { "holds" } else { "NO" });
    let (p50, p99) = in_app().await;
    println!(
        "in-app: {FOLLOWS} follows at {FOLLOWS_PER_SECOND}/s, follow appended to notification appended: p50 {p50:.2} ms, p99 {p99:.2} ms"
    );
}
