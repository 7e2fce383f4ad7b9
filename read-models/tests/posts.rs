//! The posts projection on both real stores, SQLite and MongoDB, event for
//! event: counts, what hiding and deleting show to whom, search by word and
//! hashtag, paging, and that replaying the history, whole or from the middle,
//! changes nothing.

#![allow(clippy::unwrap_used)]

use events::catalog::DomainEvent;
use events::catalog::content::{
    CommentAdded, CommentDeleted, ContentHidden, ContentRef, ContentRestored, PostBody, PostCreated, PostDeleted,
    PostEdited, PostLiked, PostUnliked,
};
use events::catalog::users::UserRegistered;
use events::ids::{CommentId, Handle, PostId, UserId};
use read_models::Generation;
use read_models::posts::{Audience, PostQueries, PostStats, Posts, Search, State};
use read_models::profiles::Profiles;
use read_store::{AnyStore, ReadStore};
use uuid::Uuid;

const HELLO: PostId = PostId(Uuid::from_u128(1));
const TAGGED: PostId = PostId(Uuid::from_u128(2));
const GONE: PostId = PostId(Uuid::from_u128(3));
const HIDDEN: PostId = PostId(Uuid::from_u128(4));
const BENS: PostId = PostId(Uuid::from_u128(5));
const C1: CommentId = CommentId(Uuid::from_u128(11));
const C2: CommentId = CommentId(Uuid::from_u128(12));
const C3: CommentId = CommentId(Uuid::from_u128(13));
const C4: CommentId = CommentId(Uuid::from_u128(14));

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn body(text: &str, hashtags: &[&str]) -> PostBody {
    let hashtags = hashtags.iter().map(|t| (*t).to_owned()).collect();
    PostBody { text: text.into(), media: vec![], hashtags, mentions: vec![], flagged: vec![] }
}

fn post(author: &str, post: PostId, text: &str, hashtags: &[&str]) -> DomainEvent {
    PostCreated { post, author: user(author), body: body(text, hashtags) }.into()
}

fn comment(comment: CommentId, post: PostId, author: &str, reply_to: Option<CommentId>) -> DomainEvent {
    CommentAdded { comment, post, author: user(author), reply_to, body: body(&format!("from {author}"), &[]) }.into()
}

fn like(post: PostId, by: &str) -> DomainEvent {
    PostLiked { post, user: user(by), author: user("ana") }.into()
}

fn hide(target: ContentRef) -> DomainEvent {
    ContentHidden { target, by: user("mod"), reason: None }.into()
}

/// Applies the events as the engine does, each stamped with its position in
/// its own stream, to both the posts and the profiles model (posts show
/// their authors' handles).
async fn apply(store: &AnyStore, history: &[DomainEvent]) {
    testkit::read_stores::apply_history(store, &[&Posts, &Profiles], history).await;
}

testkit::on_both_stores!(
    a_post_counts_current_likes_and_comments_not_deleted_and_knows_who_likes_it,
    an_edit_changes_the_text_and_words_and_keeps_the_counts,
    deleted_posts_and_comments_are_shown_to_nobody,
    hidden_content_is_shown_to_moderators_only_with_its_state_until_restored,
    a_search_finds_live_posts_by_every_word_or_hashtag_newest_first,
    an_authors_posts_are_newest_first_and_comments_oldest_first_in_pages,
    replaying_the_whole_history_or_any_suffix_changes_nothing,
);

async fn ready(store: AnyStore) -> AnyStore {
    store.ensure(&Generation::FIRST.collections(&Posts)).await.unwrap();
    store.ensure(&Generation::FIRST.collections(&Profiles)).await.unwrap();
    store
}

fn history() -> Vec<DomainEvent> {
    let ana = Handle::parse("ana_h").unwrap();
    vec![
        UserRegistered { user: user("ana"), handle: ana, display_name: "Ana".into(), email: None }.into(),
        post("ana", HELLO, "Hello world", &[]),
        post("ana", TAGGED, "Learning #Rust today, rust is fun", &["rust"]),
        post("ana", GONE, "Rust mistakes", &[]),
        post("ben", BENS, "A rusty bike #bikes", &["bikes"]),
        post("ana", HIDDEN, "Rust spam", &[]),
        comment(C1, HELLO, "ben", None),
        comment(C2, HELLO, "cy", Some(C1)),
        comment(C3, HELLO, "dee", None),
        comment(C4, HELLO, "eve", None),
        CommentDeleted { comment: C3, post: HELLO, by: user("dee") }.into(),
        hide(ContentRef::Comment(C4)),
        like(HELLO, "ben"),
        like(HELLO, "cy"),
        like(HELLO, "dee"),
        PostUnliked { post: HELLO, user: user("cy"), author: user("ana") }.into(),
        PostDeleted { post: GONE, by: user("ana") }.into(),
        hide(ContentRef::Post(HIDDEN)),
        hide(ContentRef::Post(BENS)),
        ContentRestored { target: ContentRef::Post(BENS), by: user("mod") }.into(),
    ]
}

fn queries(store: &AnyStore) -> PostQueries<'_, AnyStore> {
    PostQueries::new(store, Generation::FIRST, Generation::FIRST)
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|item| id(item).to_owned()).collect()
}

async fn a_post_counts_current_likes_and_comments_not_deleted_and_knows_who_likes_it<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &history()).await;
    let queries = queries(&store);
    let hello = queries.post(&HELLO.to_string(), Audience::Public).await.unwrap().unwrap();
    assert_eq!(hello.text, "Hello world");
    assert_eq!(hello.author.user, "ana");
    assert_eq!(hello.author.handle.as_deref(), Some("ana_h"));
    assert_eq!(hello.author.display_name.as_deref(), Some("Ana"));
    assert_eq!(hello.state, State::Live);
    assert!(!hello.edited);
    // Three comments not deleted, the hidden one included (see the module doc).
    assert_eq!(hello.stats, PostStats { likes: 2, comments: 3 });
    assert!(queries.liked(&HELLO.to_string(), "ben").await.unwrap());
    assert!(!queries.liked(&HELLO.to_string(), "cy").await.unwrap(), "cy took the like back");
    assert!(!queries.liked(&HELLO.to_string(), "eve").await.unwrap());
    let bens = queries.post(&BENS.to_string(), Audience::Public).await.unwrap().unwrap();
    assert_eq!(bens.author.handle, None, "ben never registered");
    assert_eq!(queries.post(&PostId::new().to_string(), Audience::Moderator).await.unwrap(), None);
}

async fn an_edit_changes_the_text_and_words_and_keeps_the_counts<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    let mut history = history();
    history.push(PostEdited { post: HELLO, body: body("Goodbye #world", &["world"]) }.into());
    apply(&store, &history).await;
    let queries = queries(&store);
    let hello = queries.post(&HELLO.to_string(), Audience::Public).await.unwrap().unwrap();
    assert_eq!((hello.text.as_str(), hello.edited), ("Goodbye #world", true));
    assert_eq!(hello.hashtags, ["world"]);
    assert_eq!(hello.stats, PostStats { likes: 2, comments: 3 });
    let hello_search = queries.search(&Search::parse("hello").unwrap(), Audience::Public, 10, None).await.unwrap();
    assert!(hello_search.items.is_empty(), "the old words are gone");
    let tag = queries.search(&Search::parse("#World").unwrap(), Audience::Public, 10, None).await.unwrap();
    assert_eq!(ids(&tag.items, |p| &p.id), [HELLO.to_string()]);
}

async fn deleted_posts_and_comments_are_shown_to_nobody<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    apply(&store, &history()).await;
    let queries = queries(&store);
    for audience in [Audience::Public, Audience::Moderator] {
        assert_eq!(queries.post(&GONE.to_string(), audience).await.unwrap(), None, "{audience:?}");
        let by_ana = queries.by_author("ana", audience, 10, None).await.unwrap();
        assert!(!ids(&by_ana.items, |p| &p.id).contains(&GONE.to_string()), "{audience:?}");
        let comments = queries.comments(&HELLO.to_string(), audience, 10, None).await.unwrap();
        assert!(!ids(&comments.items, |c| &c.id).contains(&C3.to_string()), "{audience:?}");
    }
}

async fn hidden_content_is_shown_to_moderators_only_with_its_state_until_restored<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &history()).await;
    let queries = queries(&store);
    let hidden = HIDDEN.to_string();
    assert_eq!(queries.post(&hidden, Audience::Public).await.unwrap(), None);
    let seen = queries.post(&hidden, Audience::Moderator).await.unwrap().unwrap();
    assert_eq!(seen.state, State::Hidden);
    let public = queries.by_author("ana", Audience::Public, 10, None).await.unwrap();
    assert_eq!(ids(&public.items, |p| &p.id), [TAGGED.to_string(), HELLO.to_string()]);
    let moderated = queries.by_author("ana", Audience::Moderator, 10, None).await.unwrap();
    assert_eq!(ids(&moderated.items, |p| &p.id), [hidden, TAGGED.to_string(), HELLO.to_string()]);

    let comments = queries.comments(&HELLO.to_string(), Audience::Public, 10, None).await.unwrap();
    assert_eq!(ids(&comments.items, |c| &c.id), [C1.to_string(), C2.to_string()]);
    assert_eq!(comments.items[1].reply_to, Some(C1.to_string()));
    let all = queries.comments(&HELLO.to_string(), Audience::Moderator, 10, None).await.unwrap();
    assert_eq!(
        all.items.iter().map(|c| (c.id.clone(), c.state)).collect::<Vec<_>>(),
        [(C1.to_string(), State::Live), (C2.to_string(), State::Live), (C4.to_string(), State::Hidden)]
    );

    let restored = queries.post(&BENS.to_string(), Audience::Public).await.unwrap().unwrap();
    assert_eq!(restored.state, State::Live, "hidden, then restored");
}

async fn a_search_finds_live_posts_by_every_word_or_hashtag_newest_first<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &history()).await;
    let queries = queries(&store);
    let search = |text: &'static str, audience| {
        let queries = &queries;
        async move {
            let page = queries.search(&Search::parse(text).unwrap(), audience, 10, None).await.unwrap();
            ids(&page.items, |p| &p.id)
        }
    };
    // Newest first; the deleted post says rust too and the hidden one is kept from the public.
    assert_eq!(search("RUST", Audience::Public).await, [TAGGED.to_string()]);
    assert_eq!(search("rust", Audience::Moderator).await, [HIDDEN.to_string(), TAGGED.to_string()]);
    assert_eq!(search("#rust", Audience::Public).await, [TAGGED.to_string()]);
    assert!(search("#spam", Audience::Moderator).await.is_empty(), "a word is not a tag");
    assert_eq!(search("#bikes rusty", Audience::Public).await, [BENS.to_string()]);
    assert!(search("rust bike", Audience::Public).await.is_empty(), "every word must match");
    assert!(search("rus", Audience::Public).await.is_empty(), "whole words, not prefixes");
}

async fn an_authors_posts_are_newest_first_and_comments_oldest_first_in_pages<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    apply(&store, &history()).await;
    let queries = queries(&store);
    let first = queries.by_author("ana", Audience::Public, 1, None).await.unwrap();
    assert_eq!(ids(&first.items, |p| &p.id), [TAGGED.to_string()]);
    let second = queries.by_author("ana", Audience::Public, 1, first.next).await.unwrap();
    assert_eq!(ids(&second.items, |p| &p.id), [HELLO.to_string()]);
    assert_eq!(second.next, None, "the last page says so");

    let first = queries.comments(&HELLO.to_string(), Audience::Public, 1, None).await.unwrap();
    assert_eq!(ids(&first.items, |c| &c.id), [C1.to_string()]);
    assert_eq!(first.items[0].author.user, "ben");
    let second = queries.comments(&HELLO.to_string(), Audience::Public, 1, first.next).await.unwrap();
    assert_eq!(ids(&second.items, |c| &c.id), [C2.to_string()]);
    let search = Search::parse("rust").unwrap();
    let page = queries.search(&search, Audience::Moderator, 1, None).await.unwrap();
    let rest = queries.search(&search, Audience::Moderator, 1, page.next).await.unwrap();
    assert_eq!(ids(&rest.items, |p| &p.id), [TAGGED.to_string()]);
}

async fn snapshot(store: &AnyStore) -> Vec<((String, String), read_store::Document)> {
    read_models::snapshot(store, &Posts, Generation::FIRST).await.unwrap().into_iter().collect()
}

async fn replaying_the_whole_history_or_any_suffix_changes_nothing<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let mut history = history();
    // A like taken back and given again: the like document is written thrice.
    history.push(like(HELLO, "cy"));
    let once = ready(fresh().await).await;
    apply(&once, &history).await;
    let expected = snapshot(&once).await;
    assert!(expected.iter().any(|((collection, _), _)| collection == "likes"), "the snapshot covers likes");
    // Each suffix replayed is what a crash after any event, before its ack,
    // redelivers; the whole history twice is a replay from the start.
    let replayed = ready(fresh().await).await;
    apply(&replayed, &history).await;
    apply(&replayed, &history).await;
    assert_eq!(snapshot(&replayed).await, expected);
    for from in 0..history.len() {
        let partial = ready(fresh().await).await;
        apply(&partial, &history[..from]).await;
        apply(&partial, &history).await;
        assert_eq!(snapshot(&partial).await, expected, "after a crash following event {from}");
    }
}
