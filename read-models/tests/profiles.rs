//! The profiles projection on both real stores, SQLite and MongoDB, event for
//! event: what the queries answer after a history, and that replaying the
//! history, whole or from the middle, changes nothing.

#![allow(clippy::unwrap_used)]

use events::catalog::DomainEvent;
use events::catalog::content::{PostBody, PostCreated, PostDeleted, PostLiked, PostUnliked};
use events::catalog::users::{
    Followed, Profile as ProfileBody, ProfileUpdated, Unfollowed, UserBlocked, UserRegistered, UserUnblocked,
};
use events::ids::{Handle, PostId, UserId};
use read_models::Generation;
use read_models::profiles::{ProfileQueries, Profiles, SearchError, Side, Stats};
use read_store::{AnyStore, ReadStore};

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn registered(id: &str) -> DomainEvent {
    let handle = Handle::parse(&format!("{id}_h")).unwrap();
    UserRegistered { user: user(id), handle, display_name: id.to_uppercase(), email: None }.into()
}

fn registered_as(id: &str, handle: &str, display_name: &str) -> DomainEvent {
    let handle = Handle::parse(handle).unwrap();
    UserRegistered { user: user(id), handle, display_name: display_name.into(), email: None }.into()
}

/// A profile update as v2 writes it (with the handle) or, with `None`, as a
/// v1 update reads after upcasting.
fn renamed(id: &str, handle: Option<&str>, display_name: &str) -> DomainEvent {
    ProfileUpdated {
        user: user(id),
        handle: handle.map(|h| Handle::parse(h).unwrap()),
        profile: ProfileBody { display_name: display_name.into(), ..Default::default() },
    }
    .into()
}

fn block(a: &str, b: &str) -> DomainEvent {
    UserBlocked { blocker: user(a), blocked: user(b) }.into()
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
    testkit::read_stores::apply_history(store, &[&Profiles], history).await;
}

testkit::on_both_stores!(
    a_profile_counts_followers_following_posts_and_likes_received,
    lists_of_followers_and_following_are_newest_first_and_page_with_a_cursor,
    replaying_the_whole_history_or_any_suffix_changes_nothing,
    users_are_found_by_a_prefix_or_substring_of_handle_or_name_in_any_case_or_accent,
    after_a_profile_update_the_old_name_no_longer_matches_and_the_handle_still_does,
    a_v1_profile_update_still_applies_and_makes_the_user_findable_by_name_only,
    search_results_are_ordered_by_handle_and_page_with_a_cursor,
    an_empty_or_too_long_search_is_refused,
    suggestions_rank_friends_of_friends_by_mutual_follows_then_by_id,
    suggestions_leave_out_the_user_those_followed_and_blocks_either_way,
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
        renamed("ben", None, "Benoît"),
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

/// The handles `q` finds, in order, on the first page of 100.
async fn found(queries: &ProfileQueries<'_, AnyStore>, q: &str) -> Vec<String> {
    queries.search(q, 100, None).await.unwrap().items.into_iter().map(|hit| hit.handle).collect()
}

fn people() -> Vec<DomainEvent> {
    vec![
        registered_as("u1", "ana_silva", "Ana Silva"),
        registered_as("u2", "mari", "Mariana Costa"),
        registered_as("u3", "jose_p", "José Pérez"),
        registered_as("u4", "zed", "ZOË Ångström"),
        // A document made by a counter before registration is no user.
        follow("u9", "u5"),
    ]
}

async fn users_are_found_by_a_prefix_or_substring_of_handle_or_name_in_any_case_or_accent<
    F: Future<Output = AnyStore>,
>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &people()).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    assert_eq!(found(&queries, "ana").await, ["ana_silva", "mari"], "prefix of one, inside the other's name");
    assert_eq!(found(&queries, "ANA").await, ["ana_silva", "mari"]);
    assert_eq!(found(&queries, "ana_s").await, ["ana_silva"], "handle words");
    assert_eq!(found(&queries, "ilv").await, ["ana_silva"]);
    assert_eq!(found(&queries, "jose").await, ["jose_p"], "accent-free query, accented name");
    assert_eq!(found(&queries, "JOSÉ").await, ["jose_p"]);
    assert_eq!(found(&queries, "perez").await, ["jose_p"]);
    assert_eq!(found(&queries, "zoe ang").await, ["zed"], "every word must match");
    assert_eq!(found(&queries, "ze").await, ["zed"], "two letters: a word start");
    assert_eq!(found(&queries, "m").await, ["mari"]);
    assert_eq!(found(&queries, "ri").await, Vec::<String>::new(), "two letters inside a word are no prefix");
    assert_eq!(found(&queries, "costa ana").await, ["mari"]);
    assert_eq!(found(&queries, "anaa").await, Vec::<String>::new(), "trigrams alone do not make a match");
    let hit = &queries.search("mariana", 10, None).await.unwrap().items[0];
    assert_eq!((hit.user.as_str(), hit.display_name.as_str()), ("u2", "Mariana Costa"));
}

async fn after_a_profile_update_the_old_name_no_longer_matches_and_the_handle_still_does<
    F: Future<Output = AnyStore>,
>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let mut history = people();
    history.push(renamed("u2", Some("mari"), "Marisol Reyes"));
    apply(&store, &history).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    assert_eq!(found(&queries, "costa").await, Vec::<String>::new());
    assert_eq!(found(&queries, "ana").await, ["ana_silva"]);
    assert_eq!(found(&queries, "reyes").await, ["mari"]);
    assert_eq!(found(&queries, "mari").await, ["mari"]);
    assert_eq!(found(&queries, "sol").await, ["mari"]);
}

async fn a_v1_profile_update_still_applies_and_makes_the_user_findable_by_name_only<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let mut history = people();
    history.push(renamed("u3", None, "Pepe"));
    apply(&store, &history).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    assert_eq!(queries.profile("u3").await.unwrap().unwrap().display_name, "Pepe");
    assert_eq!(found(&queries, "pepe").await, ["jose_p"]);
    assert_eq!(found(&queries, "jose").await, Vec::<String>::new(), "a v1 update carries no handle to index");
    // The next update, written as v2, indexes the handle again. (The history
    // is delivered again first, a no-op, so the update gets its own sequence.)
    history.push(renamed("u3", Some("jose_p"), "Pepe"));
    apply(&store, &history).await;
    assert_eq!(found(&queries, "jose").await, ["jose_p"]);
}

async fn search_results_are_ordered_by_handle_and_page_with_a_cursor<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let history: Vec<DomainEvent> = ["kim_c", "kim_a", "kim_b"]
        .iter()
        .enumerate()
        .map(|(i, h)| registered_as(&format!("k{i}"), h, "Kim"))
        .collect();
    apply(&store, &history).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    let first = queries.search("kim", 2, None).await.unwrap();
    assert_eq!(first.items.iter().map(|h| h.handle.as_str()).collect::<Vec<_>>(), ["kim_a", "kim_b"]);
    let second = queries.search("kim", 2, first.next).await.unwrap();
    assert_eq!(second.items.iter().map(|h| h.handle.as_str()).collect::<Vec<_>>(), ["kim_c"]);
    assert_eq!(second.next, None);
}

async fn an_empty_or_too_long_search_is_refused<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    for bad in [String::new(), "  _-! ".into(), "a".repeat(51)] {
        assert!(matches!(queries.search(&bad, 10, None).await, Err(SearchError::Invalid(_))), "{bad:?}");
    }
}

/// `me` follows a, b, c; a follows x, y; b follows x, y, z; c follows x, me, a.
fn circle() -> Vec<DomainEvent> {
    let mut history: Vec<DomainEvent> = ["me", "a", "b", "c", "x", "y", "z"].iter().map(|id| registered(id)).collect();
    for (from, to) in
        [("me", "a"), ("me", "b"), ("me", "c"), ("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("b", "z")]
    {
        history.push(follow(from, to));
    }
    history.extend([follow("c", "x"), follow("c", "me"), follow("c", "a")]);
    history
}

fn ranked(suggestions: &read_models::profiles::Suggestions) -> Vec<(&str, u32)> {
    suggestions.items.iter().map(|s| (s.user.as_str(), s.mutual)).collect()
}

async fn suggestions_rank_friends_of_friends_by_mutual_follows_then_by_id<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &circle()).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    let all = queries.suggestions("me", 10).await.unwrap();
    assert_eq!(ranked(&all), [("x", 3), ("y", 2), ("z", 1)], "me and a (followed) left out");
    assert_eq!((all.items[0].handle.as_str(), all.items[0].display_name.as_str()), ("x_h", "X"));
    assert_eq!(ranked(&queries.suggestions("me", 2).await.unwrap()), [("x", 3), ("y", 2)]);
    // A tie goes to the smaller id. (The history is delivered again, a no-op,
    // so the new follow gets its own sequence.)
    apply(&store, &[circle(), vec![follow("a", "z")]].concat()).await;
    assert_eq!(ranked(&queries.suggestions("me", 10).await.unwrap()), [("x", 3), ("y", 2), ("z", 2)]);
    assert!(queries.suggestions("z", 10).await.unwrap().items.is_empty(), "follows nobody");
}

async fn suggestions_leave_out_the_user_those_followed_and_blocks_either_way<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let mut history = circle();
    history.extend([follow("me", "z"), block("me", "y"), block("x", "me"), follow("a", "w")]);
    apply(&store, &history).await;
    let queries = ProfileQueries::new(&store, Generation::FIRST);
    // x blocks me, y is blocked by me, z is followed, w never registered.
    assert_eq!(ranked(&queries.suggestions("me", 10).await.unwrap()), []);
    history.push(UserUnblocked { blocker: user("x"), blocked: user("me") }.into());
    apply(&store, &history).await;
    assert_eq!(ranked(&queries.suggestions("me", 10).await.unwrap()), [("x", 3)]);
}
