//! The notifier against a real NATS JetStream: events in, notifications in
//! the log out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::content::{
    CommentAdded, ContentHidden, ContentRef, EventCreated, EventDetails, PostBody, PostCreated, PostLiked, Rsvp,
    RsvpChanged,
};
use events::catalog::notifications::{NotificationCreated, NotificationKind, Preferences, PreferencesChanged};
use events::catalog::users::{Followed, HandleClaimed, UserBlocked, UserRegistered};
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::{CommentId, EventId, Handle, PostId, UserId};
use events::{Aggregate, Context, EventStore, Expected, Metadata, Recorded};
use notifier::Notifier;
use std::time::Duration;
use testkit::TestLog;

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn body(text: &str) -> PostBody {
    PostBody { text: text.into(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] }
}

/// Appends an event and reads it back as the engine hands it over.
async fn record(log: &EventStore, aggregate: Aggregate, event: impl Into<DomainEvent>) -> Recorded {
    let appended = log.append(&aggregate, Expected::Any, event, &Metadata::new(None), None).await.unwrap();
    log.get(appended.position).await.unwrap().unwrap()
}

/// Every notification in the log, in order.
async fn notifications(log: &EventStore) -> Vec<NotificationCreated> {
    let patterns = ["notifications.notification.*".to_owned()];
    let backlog = log.read_after(Context::Notifications, &patterns, 0, 1_000).await.unwrap();
    backlog
        .events
        .into_iter()
        .filter_map(|r| match r.event {
            DomainEvent::Notifications(NotificationEvent::NotificationCreated(created)) => Some(created),
            _ => None,
        })
        .collect()
}

async fn bens_post(log: &EventStore) -> PostId {
    let post = PostId(uuid::Uuid::now_v7());
    record(log, Aggregate::post(post), PostCreated { post, author: user("ben"), body: body("hello") }).await;
    post
}

#[tokio::test]
async fn a_follow_a_like_and_a_comment_notify_their_recipient_once_however_often_delivered() {
    let log = TestLog::new().await;
    let notifier = Notifier::new(commands::Commands::new(log.store.clone(), commands::Settings::default()));
    let post = bens_post(&log.store).await;
    let comment = CommentId(uuid::Uuid::now_v7());
    let events = [
        record(
            &log.store,
            Aggregate::follow(&user("ana"), &user("ben")),
            Followed { follower: user("ana"), followee: user("ben") },
        )
        .await,
        record(
            &log.store,
            Aggregate::like(post, &user("ana")),
            PostLiked { post, user: user("ana"), author: user("ben") },
        )
        .await,
        record(
            &log.store,
            Aggregate::comment(comment),
            CommentAdded { comment, post, author: user("ana"), reply_to: None, body: body("nice") },
        )
        .await,
    ];
    for event in events.iter().chain(&events) {
        notifier.run(event).await.unwrap();
    }
    let found = notifications(&log.store).await;
    // UUIDv7s of the events' times: their first 48 bits (13 characters) are the millisecond.
    let ids: Vec<String> = found.iter().map(|n| n.notification.to_string()).collect();
    assert!(ids.windows(2).all(|w| w[0][..13] <= w[1][..13]), "ids follow the events' times: {ids:?}");
    assert!(ids.iter().all(|id| id.as_bytes()[14] == b'7'), "version 7: {ids:?}");
    let kinds: Vec<_> = found.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, [NotificationKind::NewFollower, NotificationKind::PostLiked, NotificationKind::PostCommented]);
    assert!(found.iter().all(|n| n.recipient == user("ben") && n.actor == Some(user("ana"))), "{found:?}");
}

#[tokio::test]
async fn no_one_hears_of_their_own_actions_from_someone_they_block_or_of_a_kind_they_muted() {
    let log = TestLog::new().await;
    let notifier = Notifier::new(commands::Commands::new(log.store.clone(), commands::Settings::default()));
    let post = bens_post(&log.store).await;
    let own = record(
        &log.store,
        Aggregate::like(post, &user("ben")),
        PostLiked { post, user: user("ben"), author: user("ben") },
    )
    .await;
    record(
        &log.store,
        Aggregate::block(&user("ben"), &user("cy")),
        UserBlocked { blocker: user("ben"), blocked: user("cy") },
    )
    .await;
    let blocked = record(
        &log.store,
        Aggregate::like(post, &user("cy")),
        PostLiked { post, user: user("cy"), author: user("ben") },
    )
    .await;
    let muted = Preferences { muted: vec![NotificationKind::NewFollower], ..Preferences::default() };
    record(
        &log.store,
        Aggregate::preferences(&user("ben")),
        PreferencesChanged { user: user("ben"), preferences: muted },
    )
    .await;
    let follow = Followed { follower: user("dee"), followee: user("ben") };
    let followed = record(&log.store, Aggregate::follow(&user("dee"), &user("ben")), follow).await;
    notifier.run(&own).await.unwrap();
    notifier.run(&blocked).await.unwrap();
    notifier.run(&followed).await.unwrap();
    assert!(notifications(&log.store).await.is_empty());
}

#[tokio::test]
async fn on_the_engine_the_notifier_follows_the_log_as_it_grows() {
    let log = TestLog::new().await;
    let store = read_store::AnyStore::from(read_store::SqliteStore::in_memory().unwrap());
    let notifier = Notifier::new(commands::Commands::new(log.store.clone(), commands::Settings::default()));
    let job = projectors::Job::React(std::sync::Arc::new(notifier));
    let projector = projectors::Projector::new(
        log.store.clone(),
        store,
        projectors::ProjectorMetrics::default(),
        projectors::Settings::default(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { projector.run(&[job], stopped).await });
    record(
        &log.store,
        Aggregate::follow(&user("ana"), &user("ben")),
        Followed { follower: user("ana"), followee: user("ben") },
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while notifications(&log.store).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no notification appended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(notifications(&log.store).await[0].recipient, user("ben"));
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

/// Registers `id` under `handle`, as the command API does: claim, then register.
async fn registered(log: &EventStore, id: &str, handle: &str) {
    let handle = Handle::parse(handle).unwrap();
    let claim = HandleClaimed { handle: handle.clone(), user: user(id) };
    record(log, Aggregate::handle(&handle), claim).await;
    let registration = UserRegistered { user: user(id), handle, display_name: id.into(), email: None };
    record(log, Aggregate::user(&user(id)), registration).await;
}

fn told(found: &[NotificationCreated]) -> Vec<(String, NotificationKind)> {
    found.iter().map(|n| (n.recipient.to_string(), n.kind)).collect()
}

#[tokio::test]
async fn mentions_answers_to_an_event_and_hidden_content_notify_who_they_concern() {
    let log = TestLog::new().await;
    let notifier = Notifier::new(commands::Commands::new(log.store.clone(), commands::Settings::default()));
    registered(&log.store, "ben", "benny").await;
    // cy claimed "cyd" but registered as "cy": "@cyd" names nobody.
    record(
        &log.store,
        Aggregate::handle(&Handle::parse("cyd").unwrap()),
        HandleClaimed { handle: Handle::parse("cyd").unwrap(), user: user("cy") },
    )
    .await;
    registered(&log.store, "cy", "cy_").await;
    let post = PostId(uuid::Uuid::now_v7());
    let mut mentioning = body("hi @benny @cyd @nobody");
    mentioning.mentions = vec!["benny".into(), "cyd".into(), "nobody".into()];
    let created =
        record(&log.store, Aggregate::post(post), PostCreated { post, author: user("ana"), body: mentioning }).await;

    let event = EventId(uuid::Uuid::now_v7());
    let starts_at = time::OffsetDateTime::now_utc() + time::Duration::days(2);
    let details = EventDetails {
        title: "Party".into(),
        description: String::new(),
        place: "Hall".into(),
        starts_at,
        ends_at: starts_at + time::Duration::hours(2),
        capacity: None,
    };
    record(&log.store, Aggregate::event(event), EventCreated { event, organizer: user("dee"), details }).await;
    let going =
        record(&log.store, Aggregate::event(event), RsvpChanged { event, user: user("ana"), rsvp: Rsvp::Going }).await;
    let not_going =
        record(&log.store, Aggregate::event(event), RsvpChanged { event, user: user("ana"), rsvp: Rsvp::NotGoing })
            .await;
    let hidden = ContentHidden { target: ContentRef::Post(post), by: user("mod"), reason: Some("spam".into()) };
    let hidden = record(&log.store, Aggregate::post(post), hidden).await;

    for recorded in [&created, &going, &not_going, &hidden, &created] {
        notifier.run(recorded).await.unwrap();
    }
    let found = notifications(&log.store).await;
    assert_eq!(
        told(&found),
        [
            ("ben".into(), NotificationKind::Mentioned),
            ("dee".into(), NotificationKind::EventRsvp),
            ("ana".into(), NotificationKind::Moderation),
        ]
    );
    assert_eq!(found[2].actor, None, "the moderator is not named");
    assert_eq!(found[2].link.as_deref(), Some(format!("/posts/{post}").as_str()));
}

#[tokio::test]
async fn likes_of_one_post_group_into_one_notification_counting_each_person_once() {
    let log = TestLog::new().await;
    let notifier = Notifier::new(commands::Commands::new(log.store.clone(), commands::Settings::default()));
    let post = bens_post(&log.store).await;
    let mut likes = Vec::new();
    for who in ["ana", "cy", "ana", "dee"] {
        let liked = PostLiked { post, user: user(who), author: user("ben") };
        likes.push(record(&log.store, Aggregate::like(post, &user(who)), liked).await);
    }
    for like in likes.iter().chain(&likes) {
        notifier.run(like).await.unwrap();
    }

    let found = notifications(&log.store).await;
    let [group] = found.as_slice() else { panic!("one notification: {found:?}") };
    let history = log.store.load(&Aggregate::notification(group.notification)).await.unwrap();
    let texts: Vec<String> = (history.events.iter())
        .filter_map(|r| match &r.event {
            DomainEvent::Notifications(NotificationEvent::NotificationGrouped(g)) => Some(g.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["ana and 1 other liked your post", "ana and 2 others liked your post"]);
}

#[tokio::test]
async fn past_the_hours_limit_an_inbox_takes_no_more() {
    let log = TestLog::new().await;
    let redis = redis::Client::open(testkit::redis::redis_url()).unwrap().get_connection_manager().await.unwrap();
    let limits = notifier::Limits { in_app: 2, email: 100, push: 100 };
    let limiter = notifier::RateLimiter::new(redis, log.namespace.as_str(), limits);
    let commands = commands::Commands::new(log.store.clone(), commands::Settings::default());
    let notifier = Notifier::new(commands).with_limiter(limiter);
    let post = bens_post(&log.store).await;
    for who in ["ana", "cy", "dee"] {
        let comment = CommentId(uuid::Uuid::now_v7());
        let added = CommentAdded { comment, post, author: user(who), reply_to: None, body: body("nice") };
        notifier.run(&record(&log.store, Aggregate::comment(comment), added).await).await.unwrap();
    }
    let found = notifications(&log.store).await;
    assert_eq!(found.len(), 2, "{found:?}");
    testkit::redis::forget_namespace(log.namespace.as_str()).await;
}
