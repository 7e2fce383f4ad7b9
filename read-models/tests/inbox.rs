//! The inbox projection on both real stores, SQLite and MongoDB: newest
//! first in pages, read one at a time or all up to a mark, an unread count
//! that stops at its scan, and replay that changes nothing.

#![allow(clippy::unwrap_used)]

use events::catalog::notifications::{
    Channel, NotificationCreated, NotificationDelivered, NotificationFailed, NotificationGrouped, NotificationKind,
    NotificationRead, NotificationsRead,
};
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::{NotificationId, UserId};
use read_models::Generation;
use read_models::inbox::{Inbox, InboxQueries, NotificationPage, UNREAD_SCAN, UnreadCount};
use read_store::{AnyStore, ReadStore};

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

/// The n-th notification in time: ids are UUIDv7s, ordered by their time.
fn nth(n: u64) -> NotificationId {
    NotificationId(uuid::Builder::from_unix_timestamp_millis(1_800_000_000_000 + n, &[7; 10]).into_uuid())
}

fn created(id: NotificationId, recipient: &str) -> DomainEvent {
    NotificationCreated {
        notification: id,
        recipient: user(recipient),
        kind: NotificationKind::NewFollower,
        actor: Some(user("bo")),
        text: "bo started following you".into(),
        link: Some("/users/bo".into()),
        channels: vec![Channel::InApp],
    }
    .into()
}

fn read_one(id: NotificationId, recipient: &str) -> DomainEvent {
    NotificationRead { notification: id, recipient: user(recipient) }.into()
}

fn read_all(recipient: &str, up_to: NotificationId) -> DomainEvent {
    NotificationsRead { recipient: user(recipient), up_to }.into()
}

async fn apply(store: &AnyStore, history: &[DomainEvent]) {
    testkit::read_stores::apply_history(store, &[&Inbox], history).await;
}

testkit::on_both_stores!(
    an_inbox_lists_its_users_notifications_newest_by_their_time_in_pages,
    read_one_at_a_time_or_all_up_to_a_mark_leaves_later_ones_unread,
    an_emails_status_follows_its_attempts,
    a_group_is_updated_in_place,
    the_unread_count_stops_at_its_scan_and_says_there_may_be_more,
    replaying_the_whole_history_or_any_suffix_changes_nothing,
    notification_settings_follow_preferences_mutes_and_push_subscriptions,
);

async fn ready(store: AnyStore) -> AnyStore {
    store.ensure(&Generation::FIRST.collections(&Inbox)).await.unwrap();
    store
}

/// Ana's notifications 1 to 5, appended out of time order (as the notifier
/// does when one stream runs behind another), and one of Bo's.
fn history() -> Vec<DomainEvent> {
    vec![
        created(nth(2), "ana"),
        created(nth(1), "ana"),
        created(nth(9), "bo"),
        created(nth(4), "ana"),
        created(nth(3), "ana"),
        created(nth(5), "ana"),
    ]
}

fn ids(page: &NotificationPage) -> Vec<String> {
    page.items.iter().map(|n| n.notification.clone()).collect()
}

fn named(ns: &[u64]) -> Vec<String> {
    ns.iter().map(|n| nth(*n).to_string()).collect()
}

async fn an_inbox_lists_its_users_notifications_newest_by_their_time_in_pages<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &history()).await;
    let queries = InboxQueries::new(&store, Generation::FIRST);

    let first = queries.page("ana", 3, None).await.unwrap();
    assert_eq!(ids(&first), named(&[5, 4, 3]));
    let second = queries.page("ana", 3, first.next).await.unwrap();
    assert_eq!(ids(&second), named(&[2, 1]));
    assert_eq!(second.next, None);
    let item = &second.items[0];
    assert_eq!(
        (item.kind.as_str(), item.actor.as_deref(), item.link.as_deref()),
        ("new_follower", Some("bo"), Some("/users/bo"))
    );
    assert!(!item.read);
    assert_eq!(queries.newest("ana").await.unwrap(), Some(nth(5).to_string()));
    assert_eq!(queries.newest("cy").await.unwrap(), None);
    assert!(queries.page("cy", 3, None).await.unwrap().items.is_empty());
}

async fn read_one_at_a_time_or_all_up_to_a_mark_leaves_later_ones_unread<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let mut events = history();
    events.extend([read_one(nth(5), "ana"), read_all("ana", nth(2))]);
    apply(&store, &events).await;
    let queries = InboxQueries::new(&store, Generation::FIRST);

    let page = queries.page("ana", 10, None).await.unwrap();
    let read: Vec<bool> = page.items.iter().map(|n| n.read).collect();
    assert_eq!(read, [true, false, false, true, true], "5 read on its own, 1 and 2 by the mark");
    assert_eq!(queries.unread("ana").await.unwrap(), UnreadCount { unread: 2, more: false });
    assert_eq!(queries.unread("bo").await.unwrap(), UnreadCount { unread: 1, more: false });
    assert_eq!(queries.unread("cy").await.unwrap(), UnreadCount { unread: 0, more: false });
}

async fn the_unread_count_stops_at_its_scan_and_says_there_may_be_more<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let over = u64::from(UNREAD_SCAN) + 5;
    let many: Vec<DomainEvent> = (1..=over).map(|n| created(nth(n), "ana")).collect();
    apply(&store, &many).await;
    let queries = InboxQueries::new(&store, Generation::FIRST);
    assert_eq!(queries.unread("ana").await.unwrap(), UnreadCount { unread: u64::from(UNREAD_SCAN), more: true });

    // Marked up to the oldest counted: the rest are read, so there is no more.
    apply(&store, &[read_all("ana", nth(over - u64::from(UNREAD_SCAN) + 1))]).await;
    assert_eq!(queries.unread("ana").await.unwrap(), UnreadCount { unread: u64::from(UNREAD_SCAN) - 1, more: false });
}

async fn snapshot(store: &AnyStore) -> Vec<((String, String), read_store::Document)> {
    read_models::snapshot(store, &Inbox, Generation::FIRST).await.unwrap().into_iter().collect()
}

async fn replaying_the_whole_history_or_any_suffix_changes_nothing<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let mut history = history();
    history.extend([read_one(nth(5), "ana"), read_all("ana", nth(2)), read_all("ana", nth(4))]);
    let once = ready(fresh().await).await;
    apply(&once, &history).await;
    let expected = snapshot(&once).await;

    let replayed = ready(fresh().await).await;
    apply(&replayed, &history).await;
    apply(&replayed, &history).await;
    assert_eq!(snapshot(&replayed).await, expected);
    for from in 1..history.len() {
        let partial = ready(fresh().await).await;
        apply(&partial, &history[..from]).await;
        apply(&partial, &history).await;
        assert_eq!(snapshot(&partial).await, expected, "after a crash following event {from}");
    }
}

async fn an_emails_status_follows_its_attempts<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    let DomainEvent::Notifications(NotificationEvent::NotificationCreated(mut emailed)) = created(nth(1), "ana") else {
        unreachable!()
    };
    emailed.channels.push(Channel::Email);
    let failed = NotificationFailed {
        notification: nth(1),
        channel: Channel::Email,
        attempt: 1,
        error: "421 busy".into(),
        will_retry: true,
    };
    let queries = InboxQueries::new(&store, Generation::FIRST);
    let email = |page: NotificationPage| (page.items[0].email.clone(), page.items[0].email_error.clone());

    // Each step applies the history so far: the helper numbers events from 1.
    let mut history = vec![emailed.into(), created(nth(2), "bo")];
    apply(&store, &history).await;
    assert_eq!(email(queries.page("ana", 1, None).await.unwrap()), (Some("queued".into()), None));
    assert_eq!(email(queries.page("bo", 1, None).await.unwrap()), (None, None), "no email asked for");
    history.push(failed.into());
    apply(&store, &history).await;
    let retrying = (Some("retrying".into()), Some("421 busy".into()));
    assert_eq!(email(queries.page("ana", 1, None).await.unwrap()), retrying);
    history.push(NotificationDelivered { notification: nth(1), channel: Channel::Email }.into());
    apply(&store, &history).await;
    assert_eq!(email(queries.page("ana", 1, None).await.unwrap()), (Some("sent".into()), None));
}

async fn a_group_is_updated_in_place<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    let grouped = NotificationGrouped {
        notification: nth(1),
        actor: user("cy"),
        actors: 2,
        text: "bo and 1 other started following you".into(),
        recipient: Some(user("ana")),
    };
    apply(&store, &[created(nth(1), "ana"), grouped.into()]).await;
    let page = InboxQueries::new(&store, Generation::FIRST).page("ana", 10, None).await.unwrap();
    let [one] = page.items.as_slice() else { panic!("{page:?}") };
    assert_eq!((one.actors, one.text.as_str()), (2, "bo and 1 other started following you"));
    assert_eq!(one.actor.as_deref(), Some("bo"), "who opened it");
}

async fn notification_settings_follow_preferences_mutes_and_push_subscriptions<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    use events::catalog::notifications::{
        Mutable, NotificationsMuted, NotificationsUnmuted, Preferences, PreferencesChanged, PushSubscription,
        PushSubscriptionAdded, PushSubscriptionRemoved,
    };
    use events::ids::PostId;
    let store = ready(fresh().await).await;
    let queries = InboxQueries::new(&store, Generation::FIRST);
    assert_eq!(queries.settings("ana").await.unwrap().preferences, Preferences::default(), "never changed");
    let (first, second) = (PostId(uuid::Uuid::from_u128(1)), PostId(uuid::Uuid::from_u128(2)));
    let quiet = Preferences { email: false, muted: vec![NotificationKind::PostLiked], ..Preferences::default() };
    let subscription = |n: u8| PushSubscription {
        endpoint: format!("https://push.example.org/{n}"),
        p256dh: "B".repeat(87),
        auth: "a".repeat(22),
    };
    let history: Vec<DomainEvent> = vec![
        PreferencesChanged { user: user("ana"), preferences: quiet.clone() }.into(),
        NotificationsMuted { user: user("ana"), target: Mutable::Post(first) }.into(),
        NotificationsMuted { user: user("ana"), target: Mutable::Post(second) }.into(),
        NotificationsUnmuted { user: user("ana"), target: Mutable::Post(first) }.into(),
        PushSubscriptionAdded { user: user("ana"), subscription: subscription(1) }.into(),
        PushSubscriptionAdded { user: user("ana"), subscription: subscription(2) }.into(),
        PushSubscriptionRemoved { user: user("ana"), endpoint: subscription(1).endpoint }.into(),
        PreferencesChanged { user: user("bo"), preferences: Preferences::default() }.into(),
    ];

    apply(&store, &history).await;

    let settings = queries.settings("ana").await.unwrap();
    assert_eq!(settings.preferences, quiet);
    assert_eq!(settings.muted_posts, [second.to_string()]);
    assert!(settings.muted_conversations.is_empty());
    assert_eq!(settings.push_endpoints, ["https://push.example.org/2"]);
}
