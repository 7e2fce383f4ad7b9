//! Email against a real NATS JetStream and a real SMTP server (aiosmtpd on
//! loopback): sent once however often the event is delivered, retried while
//! the server is down, dead-lettered when refused for good, and skipped with
//! a reason when it cannot be tried.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth::Secret;
use domain::notify::RetryPolicy;
use events::catalog::notifications::{Channel, NotificationCreated, NotificationKind, Preferences, PreferencesChanged};
use events::catalog::users::{HandleClaimed, UserRegistered};
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::{Handle, NotificationId, UserId};
use events::{Aggregate, EventStore, Expected, Metadata, Recorded};
use notifier::{EmailSettings, Mailer, NotifierMetrics};
use std::time::Duration;
use testkit::TestLog;
use testkit::smtp::SmtpSink;

const SECRET: &str = "email-test-secret-0123456789abcdef";

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

async fn record(log: &EventStore, aggregate: Aggregate, event: impl Into<DomainEvent>) -> Recorded {
    let appended = log.append(&aggregate, Expected::Any, event, &Metadata::new(None), None).await.unwrap();
    log.get(appended.position).await.unwrap().unwrap()
}

async fn registered(log: &EventStore, id: &str, email: Option<&str>) {
    let handle = Handle::parse(&format!("{id}_h")).unwrap();
    record(log, Aggregate::handle(&handle), HandleClaimed { handle: handle.clone(), user: user(id) }).await;
    let registration =
        UserRegistered { user: user(id), handle, display_name: id.into(), email: email.map(str::to_owned) };
    record(log, Aggregate::user(&user(id)), registration).await;
}

/// A notification for `recipient` that asks for email, as the notifier appends it.
async fn notification(log: &EventStore, recipient: &str) -> Recorded {
    let notification = NotificationId(uuid::Uuid::now_v7());
    let created = NotificationCreated {
        notification,
        recipient: user(recipient),
        kind: NotificationKind::Mentioned,
        actor: Some(user("ben")),
        text: "ben mentioned you in a post".into(),
        link: Some("/posts/42".into()),
        channels: vec![Channel::InApp, Channel::Email],
    };
    record(log, Aggregate::notification(notification), created).await
}

fn mailer(log: &TestLog, smtp_url: Option<String>, retry: RetryPolicy) -> Mailer {
    let settings = EmailSettings {
        smtp_url,
        from: "Pulse <pulse@example.org>".into(),
        public_url: "https://pulse.example.org/".into(),
        secret: Secret::new(SECRET),
        retry,
    };
    let commands = commands::Commands::new(log.store.clone(), commands::Settings::default());
    Mailer::new(commands, settings, NotifierMetrics::default()).unwrap()
}

fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy { attempts, base: Duration::from_millis(100), cap: Duration::from_millis(400) }
}

/// The notification's events after its creation.
async fn outcome(log: &EventStore, recorded: &Recorded) -> Vec<NotificationEvent> {
    let DomainEvent::Notifications(NotificationEvent::NotificationCreated(created)) = &recorded.event else {
        panic!("not a notification")
    };
    let loaded = log.load(&Aggregate::notification(created.notification)).await.unwrap();
    loaded
        .events
        .into_iter()
        .skip(1)
        .map(|r| match r.event {
            DomainEvent::Notifications(e) => e,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn names(events: &[NotificationEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            NotificationEvent::NotificationDelivered(_) => "Delivered",
            NotificationEvent::NotificationFailed(f) if f.will_retry => "Failed, will retry",
            NotificationEvent::NotificationFailed(_) => "Failed for good",
            NotificationEvent::NotificationSkipped(_) => "Skipped",
            _ => "other",
        })
        .collect()
}

#[tokio::test]
async fn an_email_reaches_the_smtp_server_once_however_often_the_event_is_delivered() {
    let log = TestLog::new().await;
    let smtp = SmtpSink::start();
    registered(&log.store, "ana", Some("ana@example.org")).await;
    let recorded = notification(&log.store, "ana").await;
    let mailer = mailer(&log, Some(smtp.url()), quick(3));

    mailer.run(&recorded).await.unwrap();
    mailer.run(&recorded).await.unwrap();

    let messages = smtp.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 1, "sent once");
    assert_eq!(names(&outcome(&log.store, &recorded).await), ["Delivered"]);
    let message = &messages[0];
    assert!(message.contains("To: ana@example.org"), "{message}");
    assert!(message.contains("Subject: ben mentioned you in a post"), "{message}");
    assert!(message.contains("Content-Type: text/plain") && message.contains("Content-Type: text/html"), "{message}");
    assert!(message.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{message}");
    let token = auth::unsubscribe::token(&Secret::new(SECRET), &user("ana"));
    let link = format!("<https://pulse.example.org/api/v1/notifications/unsubscribe?user=ana&token={token}>");
    assert!(message.contains(&format!("List-Unsubscribe: {link}")), "{message}");
}

#[tokio::test]
async fn while_the_smtp_server_is_down_the_email_is_retried_and_delivered_once_it_is_back() {
    let log = TestLog::new().await;
    let mut smtp = SmtpSink::stopped_on(SmtpSink::free_port());
    registered(&log.store, "ana", Some("ana@example.org")).await;
    let recorded = notification(&log.store, "ana").await;
    let mailer = mailer(&log, Some(smtp.url()), quick(20));

    let sending = tokio::spawn(async move {
        mailer.run(&recorded).await.unwrap();
        recorded
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    smtp.restart();
    let recorded = tokio::time::timeout(Duration::from_secs(20), sending).await.unwrap().unwrap();

    assert_eq!(smtp.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    let outcome = names(&outcome(&log.store, &recorded).await);
    assert!(outcome.len() >= 2, "failed at least once first: {outcome:?}");
    assert_eq!(outcome.last(), Some(&"Delivered"));
    assert!(outcome[..outcome.len() - 1].iter().all(|n| *n == "Failed, will retry"), "{outcome:?}");
}

#[tokio::test]
async fn a_refusal_for_good_is_a_dead_letter_at_once_and_a_refusal_for_now_after_the_last_attempt() {
    let log = TestLog::new().await;
    let smtp = SmtpSink::start();
    registered(&log.store, "ana", Some("bounce@example.org")).await;
    registered(&log.store, "ben", Some("busy@example.org")).await;
    let mailer = mailer(&log, Some(smtp.url()), quick(3));

    let bounced = notification(&log.store, "ana").await;
    mailer.run(&bounced).await.unwrap();
    let events = outcome(&log.store, &bounced).await;
    assert_eq!(names(&events), ["Failed for good"]);
    let NotificationEvent::NotificationFailed(failed) = &events[0] else { unreachable!() };
    assert!(failed.error.contains("550"), "the reason is kept: {}", failed.error);

    let busy = notification(&log.store, "ben").await;
    mailer.run(&busy).await.unwrap();
    mailer.run(&busy).await.unwrap();
    let events = outcome(&log.store, &busy).await;
    assert_eq!(names(&events), ["Failed, will retry", "Failed, will retry", "Failed for good"]);
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn without_an_smtp_server_or_an_address_the_email_is_skipped_with_the_reason() {
    let log = TestLog::new().await;
    registered(&log.store, "ana", None).await;
    registered(&log.store, "ben", Some("ben@example.org")).await;
    let smtp = SmtpSink::start();

    let no_address = notification(&log.store, "ana").await;
    mailer(&log, Some(smtp.url()), quick(3)).run(&no_address).await.unwrap();
    let not_configured = notification(&log.store, "ben").await;
    let unconfigured = mailer(&log, None, quick(3));
    assert!(!unconfigured.is_configured());
    unconfigured.run(&not_configured).await.unwrap();

    for (recorded, reason) in [(&no_address, "no email address"), (&not_configured, "not configured")] {
        let events = outcome(&log.store, recorded).await;
        let [NotificationEvent::NotificationSkipped(skipped)] = events.as_slice() else { panic!("{events:?}") };
        assert!(skipped.reason.contains(reason), "{}", skipped.reason);
    }
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn past_the_hours_limit_of_emails_a_recipient_gets_none_and_the_reason_is_recorded() {
    let log = TestLog::new().await;
    let smtp = SmtpSink::start();
    registered(&log.store, "ana", Some("ana@example.org")).await;
    let redis = redis::Client::open(testkit::redis::redis_url()).unwrap().get_connection_manager().await.unwrap();
    let limits = notifier::Limits { in_app: 100, email: 2, push: 100 };
    let limiter = notifier::RateLimiter::new(redis, log.namespace.as_str(), limits);
    let mailer = mailer(&log, Some(smtp.url()), quick(3)).with_limiter(limiter);

    let mut sent = Vec::new();
    for _ in 0..3 {
        let recorded = notification(&log.store, "ana").await;
        mailer.run(&recorded).await.unwrap();
        sent.push(names(&outcome(&log.store, &recorded).await));
    }

    assert_eq!(sent, [vec!["Delivered"], vec!["Delivered"], vec!["Skipped"]]);
    assert_eq!(smtp.wait_for(2, Duration::from_secs(5)).await.len(), 2);
    testkit::redis::forget_namespace(log.namespace.as_str()).await;
}

#[tokio::test]
async fn inside_quiet_hours_an_email_waits_for_them_to_end_and_then_goes_once() {
    let log = TestLog::new().await;
    let smtp = SmtpSink::start();
    registered(&log.store, "ana", Some("ana@example.org")).await;
    let now = time::OffsetDateTime::now_utc();
    let clock = |at: time::OffsetDateTime| format!("{:02}:{:02}", at.hour(), at.minute());
    let quiet = domain::notify::quiet::parse_quiet_hours(
        &clock(now - time::Duration::hours(1)),
        &clock(now + time::Duration::hours(1)),
        "UTC",
    )
    .unwrap();
    let preferences = Preferences { quiet_hours: Some(quiet), ..Preferences::default() };
    let changed = PreferencesChanged { user: user("ana"), preferences };
    record(&log.store, Aggregate::preferences(&user("ana")), changed).await;
    let store = read_store::AnyStore::from(read_store::SqliteStore::in_memory().unwrap());
    let mailer = mailer(&log, Some(smtp.url()), quick(3)).with_quiet_hours(store).await.unwrap();
    let recorded = notification(&log.store, "ana").await;

    mailer.run(&recorded).await.unwrap();
    mailer.run(&recorded).await.unwrap();
    assert_eq!(mailer.fire_held(now).await.unwrap(), 0, "the hours have not ended");
    assert!(smtp.messages().is_empty() && outcome(&log.store, &recorded).await.is_empty(), "held, not skipped");

    assert_eq!(mailer.fire_held(now + time::Duration::hours(2)).await.unwrap(), 1);
    assert_eq!(smtp.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    assert_eq!(names(&outcome(&log.store, &recorded).await), ["Delivered"]);
    assert_eq!(mailer.fire_held(now + time::Duration::hours(3)).await.unwrap(), 0, "nothing left held");
}
