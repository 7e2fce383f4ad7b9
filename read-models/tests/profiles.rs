//! The profiles projection on both real stores, SQLite and MongoDB, event for
//! event: what the queries answer after a history, and that replaying the
//! history, whole or from the middle, changes nothing.

#![allow(clippy::unwrap_used)]

use events::catalog::DomainEvent;
use events::catalog::content::{PostBody, PostCreated, PostDeleted, PostLiked, PostUnliked};
use events::catalog::users::{
    Followed, Profile as ProfileBody, ProfileUpdated, Unfollowed, UserBlocked, UserRegistered,
};
use events::ids::{Handle, PostId, UserId};
use read_models::profiles::{ProfileQueries, Profiles, Side, Stats};
use read_models::{Event, Generation, Projection};
use read_store::{AnyStore, ReadStore};
use time::OffsetDateTime;

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn registered(id: &str) -> DomainEvent {
    let handle = Handle::parse(&format!("{id}_h")).unwrap();
    UserRegistered { user: user(id), handle, display_name: id.to_uppercase(), email: None }.into()
}

fn follow(a: &str, b: &str) -> DomainEvent {
    Followed { follower: user(a), followee: user(b) }.into()
}

fn post(author: &str, post: PostId) -> DomainEvent {
    let body = PostBody { text: "hi".into(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] };
    PostCreated { post, author: user(author), body }.into()
}

/// Applies the events as the engine does, each stamped with its position in
/// its own stream (users and content number their events separately).
async fn apply(store: &AnyStore, history: &[DomainEvent]) {
    let mut sequences = std::collections::HashMap::new();
    for event in history {
        let sequence = sequences.entry(event.context()).and_modify(|s| *s += 1).or_insert(1_u64);
        let writes = Profiles.apply(Event { event, sequence: *sequence, time: OffsetDateTime::UNIX_EPOCH });
        store.write(&Generation::FIRST.stamp(writes, event.context(), *sequence)).await.unwrap();
    }
}

/// Runs each behaviour on a fresh store of each backend.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(|| async { testkit::read_stores::sqlite() }).await; })*
        }
        mod mongo {
            $(#[tokio::test] async fn $name() { super::$name(testkit::read_stores::mongo).await; })*
        }
    };
}

on_both_stores!(
    a_profile_counts_followers_following_posts_and_likes_received,
    lists_of_followers_and_following_are_newest_first_and_page_with_a_cursor,
    replaying_the_whole_history_or_any_suffix_changes_nothing,
);

async fn ready(store: AnyStore) -> AnyStore {
    store.ensure(&Generation::FIRST.collections(&Profiles)).await.unwrap();
    store
}

fn history() -> Vec<DomainEvent> {
    let (p1, p2) = (PostId::new(), PostId::new());
    vec![
        registered("ana"),
        registered("ben"),
        registered("cy"),
        follow("ben", "ana"),
        follow("cy", "ana"),
        follow("ana", "ben"),
        Unfollowed { follower: user("cy"), followee: user("ana") }.into(),
        follow("cy", "ana"),
        UserBlocked { blocker: user("ana"), blocked: user("dee") }.into(),
        ProfileUpdated {
            user: user("ana"),
            handle: Some(Handle::parse("ana_h").unwrap()),
            profile: ProfileBody { display_name: "Ana S.".into(), bio: Some("hello".into()), ..Default::default() },
        }
        .into(),
        post("ana", p1),
        post("ana", p2),
        PostLiked { post: p1, user: user("ben"), author: user("ana") }.into(),
        PostLiked { post: p1, user: user("cy"), author: user("ana") }.into(),
        PostUnliked { post: p1, user: user("cy"), author: user("ana") }.into(),
        PostDeleted { post: p2, by: user("ana") }.into(),
    ]
}

async fn snapshot(store: &AnyStore) -> Vec<((String, String), read_store::Document)> {
    read_models::snapshot(store, &Profiles, Generation::FIRST).await.unwrap().into_iter().collect()
}

async fn a_profile_counts_followers_following_posts_and_likes_received<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &history()).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    let ana = queries.profile("ana").await.unwrap().unwrap();
    assert_eq!(ana.handle, "ana_h");
    assert_eq!(ana.display_name, "Ana S.");
    assert_eq!(ana.bio.as_deref(), Some("hello"));
    assert_eq!(ana.stats, Stats { followers: 2, following: 1, posts: 1, likes_received: 1 });
    assert_eq!(queries.profile("ben").await.unwrap().unwrap().stats.followers, 1);
    assert_eq!(queries.profile("nobody").await.unwrap(), None);
}

async fn lists_of_followers_and_following_are_newest_first_and_page_with_a_cursor<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &history()).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    let first = queries.related("ana", Side::Followers, 1, None).await.unwrap();
    assert_eq!(first.items.iter().map(|r| r.user.as_str()).collect::<Vec<_>>(), ["cy"]);
    assert_eq!(first.items[0].handle.as_deref(), Some("cy_h"));
    let second = queries.related("ana", Side::Followers, 1, first.next).await.unwrap();
    assert_eq!(second.items.iter().map(|r| r.user.as_str()).collect::<Vec<_>>(), ["ben"]);
    assert_eq!(second.next, None);
    let following = queries.related("ana", Side::Following, 10, None).await.unwrap();
    assert_eq!(following.items.iter().map(|r| r.user.as_str()).collect::<Vec<_>>(), ["ben"]);
    assert!(queries.follows("ben", "ana").await.unwrap());
    assert!(!queries.follows("ana", "cy").await.unwrap());
    let blocks = queries.blocks("ana", 10, None).await.unwrap();
    assert_eq!(blocks.items.iter().map(|r| (r.user.as_str(), r.handle.clone())).collect::<Vec<_>>(), [("dee", None)]);
    assert!(queries.blocks_user("ana", "dee").await.unwrap());
}

async fn replaying_the_whole_history_or_any_suffix_changes_nothing<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let history = history();
    let once = ready(fresh().await).await;
    apply(&once, &history).await;
    let expected = snapshot(&once).await;
    // Each suffix replayed is what a crash after any event, before its ack,
    // redelivers; the whole history twice is a replay from the start.
    let replayed = ready(fresh().await).await;
    apply(&replayed, &history).await;
    apply(&replayed, &history).await;
    assert_eq!(snapshot(&replayed).await, expected);
    for from in 0..history.len() {
        // The events keep their sequences: replay the full run, which
        // re-stamps the same numbers, after a partial one.
        let partial = ready(fresh().await).await;
        apply(&partial, &history[..from]).await;
        apply(&partial, &history).await;
        assert_eq!(snapshot(&partial).await, expected, "after a crash following event {from}");
    }
}
