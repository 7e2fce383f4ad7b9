//! The behaviours every [`ReadStore`] backend shows, one pub async fn each,
//! named for what it proves. Each takes a fresh, empty store and panics when
//! the backend misbehaves. A backend's tests run them all with
//! [`conformance_tests!`](crate::conformance_tests), which lists every one, so
//! a new behaviour reaches every backend at once:
//!
//! ```ignore
//! read_store::conformance_tests!(fresh_store());
//! ```
//!
//! Built for the crate's own tests and behind the `conformance` feature for
//! other backends' crates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::model::{Collection, Direction, Document, Filter, IfMissing, MAX_PAGE_SIZE, Query, Update, Write};
use crate::{ReadStore, ReadStoreError, prefix_tokens, tokens};
use serde_json::{Value, json};

/// Generates one `#[tokio::test]` per behaviour, each calling it on the store
/// the expression (a future, evaluated anew per test) yields. With `kept:`,
/// the future yields the store and something to keep until the test ends (a
/// temporary directory holding the store's files).
#[macro_export]
macro_rules! conformance_tests {
    (kept: $make:expr) => {
        $crate::conformance_tests!(@each $make;
            a_put_document_reads_back_unchanged,
            putting_again_replaces_the_whole_document,
            a_deleted_document_is_gone_and_deleting_it_again_reports_nothing,
            an_increment_applied_to_a_missing_document_creates_it,
            increments_add_up_and_may_go_below_zero,
            an_update_of_a_missing_document_can_leave_it_missing,
            setting_fields_leaves_the_other_fields_alone,
            adding_to_a_set_twice_keeps_one,
            removing_from_a_set_removes_only_that_member,
            an_update_that_meets_a_field_of_another_type_changes_nothing,
            filters_select_only_documents_equal_on_every_field,
            counts_match_the_filter,
            pages_follow_the_sort_order_and_a_cursor_resumes_after_the_last_item_even_after_inserts,
            descending_pages_break_ties_by_descending_id,
            documents_without_the_sort_field_come_first_ascending_and_last_descending,
            the_last_page_has_no_cursor,
            a_page_never_exceeds_the_maximum_size,
            a_forged_cursor_is_refused_not_a_panic,
            search_is_case_and_accent_insensitive_and_needs_every_word,
            search_finds_the_start_of_a_word_in_documents_that_store_prefixes,
            search_follows_the_words_a_document_has_now,
            search_matches_stored_words_exactly_whatever_they_hold,
            search_combines_with_filters_order_and_counts,
            ensure_is_idempotent,
            undeclared_collections_and_unindexed_fields_are_refused,
            a_marked_write_applies_once_per_sequence_counters_included,
            a_mark_holds_back_puts_and_deletes_of_older_sequences,
            a_batch_applies_in_order_and_counts_what_changed,
            a_document_written_many_times_in_one_batch_ends_as_its_last_write_left_it,
            a_bad_write_refuses_the_whole_batch_before_anything_runs,
            a_dropped_collection_is_gone_and_can_be_declared_anew,
            many_documents_read_at_once_come_in_the_order_asked_with_none_for_missing,
        );
    };
    ($make:expr) => {
        $crate::conformance_tests!(kept: async { ($make.await, ()) });
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _kept) = $make.await;
                $crate::conformance::$name(store).await;
            }
        )*
    };
}

const PEOPLE: &str = "people";
const POSTS: &str = "posts";

fn collections() -> Vec<Collection> {
    vec![
        Collection::new(PEOPLE).index(&["city", "age"]).index(&["age"]).index(&["name"]).index(&["active"]),
        Collection::new(POSTS).index(&["author", "at"]).index(&["at"]),
    ]
}

async fn ready<S: ReadStore>(store: &S) {
    store.ensure(&collections()).await.unwrap();
}

#[track_caller]
fn doc(value: Value) -> Document {
    value.as_object().cloned().expect("a JSON object")
}

/// The ids of a page, in order.
async fn ids<S: ReadStore>(store: &S, collection: &str, query: &Query) -> (Vec<String>, Option<String>) {
    let page = store.find(collection, query).await.unwrap();
    (page.items.into_iter().map(|f| f.id).collect(), page.next)
}

/// Every id of a query, page by page. A backend whose cursor does not advance
/// fails here instead of paging forever.
async fn all_ids<S: ReadStore>(store: &S, collection: &str, mut query: Query) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..1_000 {
        let (page, next) = ids(store, collection, &query).await;
        out.extend(page);
        match next {
            Some(cursor) => query = query.after(Some(cursor)),
            None => return out,
        }
    }
    panic!("still paging after 1000 pages; the cursor does not advance: {out:?}");
}

fn person(name: &str, city: &str, age: i64) -> Document {
    doc(json!({ "name": name, "city": city, "age": age, "active": true, "tokens": tokens(name) }))
}

/// Nested values, unicode, big and fractional numbers all survive a round trip.
pub async fn a_put_document_reads_back_unchanged<S: ReadStore>(store: S) {
    ready(&store).await;
    let original = doc(json!({
        "name": "Zoë Ångström 🦀", "age": 41, "big": 9_007_199_254_740_993_i64, "ratio": 0.25,
        "active": false, "nothing": null, "tags": ["a", "b"], "nested": { "deep": [1, { "x": "y" }] }
    }));
    store.put(PEOPLE, "zoe", &original).await.unwrap();
    assert_eq!(store.get(PEOPLE, "zoe").await.unwrap(), Some(original));
    assert_eq!(store.get(PEOPLE, "nobody").await.unwrap(), None);
}

/// A put is the whole document: fields it lacks are gone afterwards.
pub async fn putting_again_replaces_the_whole_document<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &doc(json!({"name": "Ana", "age": 30}))).await.unwrap();
    store.put(PEOPLE, "ana", &doc(json!({"name": "Ana B."}))).await.unwrap();
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(doc(json!({"name": "Ana B."}))));
    assert_eq!(store.count(PEOPLE, &Filter::all()).await.unwrap(), 1);
}

/// Delete reports whether there was something to delete.
pub async fn a_deleted_document_is_gone_and_deleting_it_again_reports_nothing<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &person("Ana", "Lisboa", 30)).await.unwrap();
    assert!(store.delete(PEOPLE, "ana").await.unwrap());
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), None);
    assert!(!store.delete(PEOPLE, "ana").await.unwrap());
    assert_eq!(store.count(PEOPLE, &Filter::all()).await.unwrap(), 0);
}

/// A counter's first event may arrive before anything created its document.
pub async fn an_increment_applied_to_a_missing_document_creates_it<S: ReadStore>(store: S) {
    ready(&store).await;
    let updated =
        store.update(PEOPLE, "ana", &[Update::Increment("followers".into(), 1)], IfMissing::Create).await.unwrap();
    assert!(updated);
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(doc(json!({"followers": 1}))));
}

/// Increments accumulate on the stored value, in both directions.
pub async fn increments_add_up_and_may_go_below_zero<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &doc(json!({"likes": 2}))).await.unwrap();
    for by in [3, -1, -10] {
        store.update(PEOPLE, "ana", &[Update::Increment("likes".into(), by)], IfMissing::Create).await.unwrap();
    }
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(doc(json!({"likes": -6}))));
}

/// `IfMissing::Skip` reports that nothing was there and creates nothing.
pub async fn an_update_of_a_missing_document_can_leave_it_missing<S: ReadStore>(store: S) {
    ready(&store).await;
    let updated =
        store.update(PEOPLE, "ghost", &[Update::Set("name".into(), json!("x"))], IfMissing::Skip).await.unwrap();
    assert!(!updated);
    assert_eq!(store.get(PEOPLE, "ghost").await.unwrap(), None);
}

/// Set changes the fields named and no others.
pub async fn setting_fields_leaves_the_other_fields_alone<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &doc(json!({"name": "Ana", "age": 30, "city": "Lisboa"}))).await.unwrap();
    let updates = [Update::Set("age".into(), json!(31)), Update::Set("bio".into(), json!({"lang": "pt"}))];
    assert!(store.update(PEOPLE, "ana", &updates, IfMissing::Skip).await.unwrap());
    assert_eq!(
        store.get(PEOPLE, "ana").await.unwrap(),
        Some(doc(json!({"name": "Ana", "age": 31, "city": "Lisboa", "bio": {"lang": "pt"}})))
    );
}

/// A redelivered "followed" adds its follower once.
pub async fn adding_to_a_set_twice_keeps_one<S: ReadStore>(store: S) {
    ready(&store).await;
    for follower in ["ben", "cy", "ben"] {
        let add = [Update::AddToSet("followers".into(), json!(follower))];
        store.update(PEOPLE, "ana", &add, IfMissing::Create).await.unwrap();
    }
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(doc(json!({"followers": ["ben", "cy"]}))));
}

/// Removal takes out the member named, is a no-op when repeated, and leaves a
/// missing set missing.
pub async fn removing_from_a_set_removes_only_that_member<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &doc(json!({"followers": ["ben", "cy", "dee"]}))).await.unwrap();
    for _ in 0..2 {
        let remove = [Update::RemoveFromSet("followers".into(), json!("cy"))];
        store.update(PEOPLE, "ana", &remove, IfMissing::Skip).await.unwrap();
    }
    let remove_missing = [Update::RemoveFromSet("blocked".into(), json!("cy"))];
    store.update(PEOPLE, "ana", &remove_missing, IfMissing::Skip).await.unwrap();
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(doc(json!({"followers": ["ben", "dee"]}))));
}

/// Updates are all or nothing: when one fails on the stored type, the others
/// in the same call are not applied either.
pub async fn an_update_that_meets_a_field_of_another_type_changes_nothing<S: ReadStore>(store: S) {
    ready(&store).await;
    let before = doc(json!({"name": "Ana", "likes": 1, "followers": 3}));
    store.put(PEOPLE, "ana", &before).await.unwrap();
    let updates = [Update::Increment("likes".into(), 1), Update::Increment("name".into(), 1)];
    let refused = store.update(PEOPLE, "ana", &updates, IfMissing::Skip).await;
    assert!(matches!(refused, Err(ReadStoreError::WrongType { .. })), "{refused:?}");
    let add = [Update::AddToSet("followers".into(), json!("ben"))];
    let refused = store.update(PEOPLE, "ana", &add, IfMissing::Skip).await;
    assert!(matches!(refused, Err(ReadStoreError::WrongType { .. })), "{refused:?}");
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(before));
}

async fn some_people<S: ReadStore>(store: &S) {
    let people = [
        ("ana", "Ana Sousa", "Lisboa", 30),
        ("ben", "Ben Okafor", "Porto", 25),
        ("cy", "Cy Tan", "Lisboa", 25),
        ("dee", "Dee Élodie", "Porto", 41),
        ("eli", "Eli Zoë", "Lisboa", 30),
    ];
    for (id, name, city, age) in people {
        store.put(PEOPLE, id, &person(name, city, age)).await.unwrap();
    }
}

/// Equality on several indexed fields, of text, number and boolean.
pub async fn filters_select_only_documents_equal_on_every_field<S: ReadStore>(store: S) {
    ready(&store).await;
    some_people(&store).await;
    store.update(PEOPLE, "eli", &[Update::Set("active".into(), json!(false))], IfMissing::Skip).await.unwrap();
    let by_name = |filter: Filter| Query::new(filter, "name", Direction::Ascending);
    let lisboa_30 = by_name(Filter::all().eq("city", "Lisboa").eq("age", 30));
    assert_eq!(all_ids(&store, PEOPLE, lisboa_30).await, ["ana", "eli"]);
    let active_lisboa = by_name(Filter::all().eq("city", "Lisboa").eq("active", true));
    assert_eq!(all_ids(&store, PEOPLE, active_lisboa).await, ["ana", "cy"]);
    assert_eq!(all_ids(&store, PEOPLE, by_name(Filter::all().eq("city", "Faro"))).await, Vec::<String>::new());
}

/// Count sees what find sees.
pub async fn counts_match_the_filter<S: ReadStore>(store: S) {
    ready(&store).await;
    assert_eq!(store.count(PEOPLE, &Filter::all()).await.unwrap(), 0);
    some_people(&store).await;
    assert_eq!(store.count(PEOPLE, &Filter::all()).await.unwrap(), 5);
    assert_eq!(store.count(PEOPLE, &Filter::all().eq("city", "Lisboa")).await.unwrap(), 3);
    assert_eq!(store.count(PEOPLE, &Filter::all().eq("city", "Porto").eq("age", 25)).await.unwrap(), 1);
    assert_eq!(store.count(PEOPLE, &Filter::all().eq("age", 99)).await.unwrap(), 0);
}

fn post(author: &str, at: i64) -> Document {
    doc(json!({ "author": author, "at": at }))
}

/// Keyset paging: new documents before the cursor do not shift the next
/// page, ties on the sort field are broken by id, and every document is
/// seen once.
pub async fn pages_follow_the_sort_order_and_a_cursor_resumes_after_the_last_item_even_after_inserts<S: ReadStore>(
    store: S,
) {
    ready(&store).await;
    for (id, at) in [("p1", 10), ("p2", 20), ("p3", 20), ("p4", 30), ("p5", 40), ("p6", 50)] {
        store.put(POSTS, id, &post("ana", at)).await.unwrap();
    }
    store.put(POSTS, "other", &post("ben", 25)).await.unwrap();
    let query = Query::new(Filter::all().eq("author", "ana"), "at", Direction::Ascending).limit(2);
    let (first, next) = ids(&store, POSTS, &query).await;
    assert_eq!(first, ["p1", "p2"]);
    // Inserted before the cursor (earlier time, or the same time with a
    // smaller id): never seen by the next pages. After it: seen in place.
    store.put(POSTS, "p0", &post("ana", 5)).await.unwrap();
    store.put(POSTS, "p2a", &post("ana", 20)).await.unwrap();
    store.put(POSTS, "p1b", &post("ana", 20)).await.unwrap();
    store.put(POSTS, "p45", &post("ana", 45)).await.unwrap();
    let rest = all_ids(&store, POSTS, query.clone().after(next)).await;
    assert_eq!(rest, ["p2a", "p3", "p4", "p5", "p45", "p6"]);
    let everything = all_ids(&store, POSTS, query).await;
    assert_eq!(everything, ["p0", "p1", "p1b", "p2", "p2a", "p3", "p4", "p5", "p45", "p6"]);
}

/// Newest first, and among equal times the larger id first.
pub async fn descending_pages_break_ties_by_descending_id<S: ReadStore>(store: S) {
    ready(&store).await;
    for (id, at) in [("a", 1), ("b", 2), ("c", 2), ("d", 2), ("e", 3)] {
        store.put(POSTS, id, &post("ana", at)).await.unwrap();
    }
    let query = Query::new(Filter::all().eq("author", "ana"), "at", Direction::Descending).limit(2);
    assert_eq!(all_ids(&store, POSTS, query).await, ["e", "d", "c", "b", "a"]);
}

/// A document lacking the sort field sorts as null, as MongoDB sorts it, and
/// a cursor that ends on one still resumes.
pub async fn documents_without_the_sort_field_come_first_ascending_and_last_descending<S: ReadStore>(store: S) {
    ready(&store).await;
    for (id, at) in [("a", Some(2)), ("b", None), ("c", Some(1)), ("d", None)] {
        let body = match at {
            Some(at) => post("ana", at),
            None => doc(json!({"author": "ana"})),
        };
        store.put(POSTS, id, &body).await.unwrap();
    }
    let filter = Filter::all().eq("author", "ana");
    let ascending = Query::new(filter.clone(), "at", Direction::Ascending).limit(1);
    assert_eq!(all_ids(&store, POSTS, ascending).await, ["b", "d", "c", "a"]);
    let descending = Query::new(filter, "at", Direction::Descending).limit(1);
    assert_eq!(all_ids(&store, POSTS, descending).await, ["a", "c", "d", "b"]);
}

/// A page that ends the list says so, even when it is exactly full.
pub async fn the_last_page_has_no_cursor<S: ReadStore>(store: S) {
    ready(&store).await;
    let query = Query::new(Filter::all(), "at", Direction::Ascending).limit(2);
    assert_eq!(ids(&store, POSTS, &query).await, (vec![], None));
    store.put(POSTS, "a", &post("ana", 1)).await.unwrap();
    store.put(POSTS, "b", &post("ana", 2)).await.unwrap();
    assert_eq!(ids(&store, POSTS, &query).await, (vec!["a".to_owned(), "b".to_owned()], None));
}

/// A limit above [`MAX_PAGE_SIZE`] gets a page of that size, and zero gets one item.
pub async fn a_page_never_exceeds_the_maximum_size<S: ReadStore>(store: S) {
    ready(&store).await;
    for n in 0..=i64::from(MAX_PAGE_SIZE) {
        store.put(POSTS, &format!("p{n:04}"), &post("ana", n)).await.unwrap();
    }
    let query = Query::new(Filter::all(), "at", Direction::Ascending).limit(10_000);
    let page = store.find(POSTS, &query).await.unwrap();
    assert_eq!(page.items.len(), MAX_PAGE_SIZE as usize);
    assert!(page.next.is_some());
    let page = store.find(POSTS, &query.limit(0)).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

/// Anything but a cursor this store made for this list (its order and its
/// filter) is refused with [`ReadStoreError::InvalidCursor`].
pub async fn a_forged_cursor_is_refused_not_a_panic<S: ReadStore>(store: S) {
    ready(&store).await;
    for n in 0..3 {
        store.put(POSTS, &format!("p{n}"), &post("ana", n)).await.unwrap();
    }
    let ascending = Query::new(Filter::all(), "at", Direction::Ascending).limit(1);
    let genuine = store.find(POSTS, &ascending).await.unwrap().next.unwrap();
    let mut tampered = genuine.clone();
    tampered.insert(3, '!');
    let other_order = Query::new(Filter::all(), "at", Direction::Descending).after(Some(genuine.clone()));
    let other_field = Query::new(Filter::all(), "author", Direction::Ascending).after(Some(genuine.clone()));
    let other_list = Query::new(Filter::all().eq("author", "ana"), "at", Direction::Ascending).after(Some(genuine));
    let forged = [
        "".to_owned(),
        "not a cursor".into(),
        "eyJ9".into(),
        "'; DROP TABLE posts; --".into(),
        tampered,
        "A".repeat(100_000),
    ];
    for cursor in forged {
        let query = ascending.clone().after(Some(cursor.clone()));
        assert_eq!(store.find(POSTS, &query).await, Err(ReadStoreError::InvalidCursor), "{cursor:?}");
    }
    assert_eq!(store.find(POSTS, &other_order).await, Err(ReadStoreError::InvalidCursor));
    assert_eq!(store.find(POSTS, &other_field).await, Err(ReadStoreError::InvalidCursor));
    assert_eq!(store.find(POSTS, &other_list).await, Err(ReadStoreError::InvalidCursor));
    assert_eq!(store.count(POSTS, &Filter::all()).await.unwrap(), 3);
}

async fn search<S: ReadStore>(store: &S, text: &str) -> Vec<String> {
    all_ids(store, PEOPLE, Query::new(Filter::all().search(text), "name", Direction::Ascending)).await
}

/// Words match whatever their case and accents, in any order, and every word
/// of the query must be there. A query without words finds nothing.
pub async fn search_is_case_and_accent_insensitive_and_needs_every_word<S: ReadStore>(store: S) {
    ready(&store).await;
    some_people(&store).await;
    assert_eq!(search(&store, "ZOE").await, ["eli"]);
    assert_eq!(search(&store, "elodie dee").await, ["dee"]);
    assert_eq!(search(&store, "Dée, ÉLODIE!").await, ["dee"]);
    assert_eq!(search(&store, "dee zoe").await, Vec::<String>::new());
    assert_eq!(search(&store, "tan").await, ["cy"]);
    assert_eq!(search(&store, "ta").await, Vec::<String>::new());
    assert_eq!(search(&store, "  !? ").await, Vec::<String>::new());
}

/// With [`prefix_tokens`] stored, the start of any word finds the document.
pub async fn search_finds_the_start_of_a_word_in_documents_that_store_prefixes<S: ReadStore>(store: S) {
    ready(&store).await;
    for (id, name) in [("ana", "Anabel Sousa"), ("andre", "André Souza"), ("bo", "Bo Anker")] {
        let body = doc(json!({"name": name, "tokens": prefix_tokens(name)}));
        store.put(PEOPLE, id, &body).await.unwrap();
    }
    assert_eq!(search(&store, "an").await, ["ana", "andre", "bo"]);
    assert_eq!(search(&store, "ANDR").await, ["andre"]);
    assert_eq!(search(&store, "sou an").await, ["ana", "andre"]);
    assert_eq!(search(&store, "souz").await, ["andre"]);
    assert_eq!(search(&store, "nabel").await, Vec::<String>::new());
}

/// Replacing, updating or deleting a document changes what finds it.
pub async fn search_follows_the_words_a_document_has_now<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &person("Ana Sousa", "Lisboa", 30)).await.unwrap();
    store.put(PEOPLE, "ana", &person("Ana Costa", "Lisboa", 30)).await.unwrap();
    assert_eq!(search(&store, "sousa").await, Vec::<String>::new());
    assert_eq!(search(&store, "costa").await, ["ana"]);
    let rename = [Update::Set("tokens".into(), json!(tokens("Ana Lima")))];
    store.update(PEOPLE, "ana", &rename, IfMissing::Skip).await.unwrap();
    assert_eq!(search(&store, "costa").await, Vec::<String>::new());
    assert_eq!(search(&store, "lima").await, ["ana"]);
    store.update(PEOPLE, "ana", &[Update::Increment("age".into(), 1)], IfMissing::Skip).await.unwrap();
    assert_eq!(search(&store, "lima").await, ["ana"]);
    store.delete(PEOPLE, "ana").await.unwrap();
    assert_eq!(search(&store, "ana").await, Vec::<String>::new());
}

/// The store compares words as stored, whatever they hold (spaces,
/// punctuation, accents, nothing): a word finds the documents holding that
/// exact word, never one holding a part of it or a word it is a part of.
pub async fn search_matches_stored_words_exactly_whatever_they_hold<S: ReadStore>(store: S) {
    ready(&store).await;
    let words = ["a b", "#rust", "naïve", "", "\"q\"", "AND"];
    store.put(PEOPLE, "odd", &doc(json!({"name": "odd", "tokens": words}))).await.unwrap();
    store.put(PEOPLE, "plain", &doc(json!({"name": "plain", "tokens": ["a", "b", "rust", "naive"]}))).await.unwrap();
    let found = |words: &[&str]| {
        let words = Some(words.iter().map(|w| (*w).to_owned()).collect());
        all_ids(&store, PEOPLE, Query::new(Filter { words, ..Filter::all() }, "name", Direction::Ascending))
    };
    for word in words {
        assert_eq!(found(&[word]).await, ["odd"], "{word:?}");
    }
    assert_eq!(found(&words).await, ["odd"]);
    for word in ["a", "rust", "naive"] {
        assert_eq!(found(&[word]).await, ["plain"], "{word:?}");
    }
    for word in ["a b c", "and", "q", "#"] {
        assert_eq!(found(&[word]).await, Vec::<String>::new(), "{word:?}");
    }
    store.delete(PEOPLE, "odd").await.unwrap();
    assert_eq!(found(&["#rust"]).await, Vec::<String>::new());
}

/// A search is one more condition: it pages, sorts and counts like any filter.
pub async fn search_combines_with_filters_order_and_counts<S: ReadStore>(store: S) {
    ready(&store).await;
    for n in 0..5 {
        store.put(PEOPLE, &format!("s{n}"), &person(&format!("Sam {n}"), "Porto", 20 + n)).await.unwrap();
    }
    store.put(PEOPLE, "x", &person("Sam X", "Lisboa", 99)).await.unwrap();
    let filter = Filter::all().search("sam").eq("city", "Porto");
    assert_eq!(store.count(PEOPLE, &filter).await.unwrap(), 5);
    let oldest_first = Query::new(filter, "age", Direction::Descending).limit(2);
    assert_eq!(all_ids(&store, PEOPLE, oldest_first).await, ["s4", "s3", "s2", "s1", "s0"]);
    assert_eq!(store.count(PEOPLE, &Filter::all().search("")).await.unwrap(), 0);
}

/// Start-up runs `ensure` every time; it neither fails nor loses data.
pub async fn ensure_is_idempotent<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &person("Ana", "Lisboa", 30)).await.unwrap();
    ready(&store).await;
    store.ensure(&[Collection::new(PEOPLE).index(&["age"]), Collection::new(PEOPLE).index(&["zip"])]).await.unwrap();
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(person("Ana", "Lisboa", 30)));
    assert_eq!(store.count(PEOPLE, &Filter::all().eq("city", "Lisboa")).await.unwrap(), 1);
    assert_eq!(store.count(PEOPLE, &Filter::all().eq("zip", "1000")).await.unwrap(), 0);
}

/// Names the store was not told about, or that could smuggle syntax, are
/// refused before anything runs.
pub async fn undeclared_collections_and_unindexed_fields_are_refused<S: ReadStore>(store: S) {
    ready(&store).await;
    let refused = |result: Result<(), ReadStoreError>| {
        assert!(matches!(result, Err(ReadStoreError::Invalid(_) | ReadStoreError::UnknownCollection(_))), "{result:?}");
    };
    refused(store.get("nope", "x").await.map(drop));
    refused(store.ensure(&[Collection::new("Bad-Name")]).await);
    refused(store.ensure(&[Collection::new("ok").index(&["a') --"])]).await);
    refused(store.count(PEOPLE, &Filter::all().eq("bio", "x")).await.map(drop));
    refused(store.count(PEOPLE, &Filter::all().eq("name') OR 1=1 --", "x")).await.map(drop));
    let by_bio = Query::new(Filter::all(), "bio", Direction::Ascending);
    refused(store.find(PEOPLE, &by_bio).await.map(drop));
    refused(store.put(PEOPLE, "x", &doc(json!({"$set": 1}))).await);
    refused(store.put(PEOPLE, "x", &doc(json!({"tokens": "not a list"}))).await);
    refused(store.put(PEOPLE, "", &doc(json!({}))).await);
    let twice = [Update::Increment("n".into(), 1), Update::Increment("n".into(), 1)];
    refused(store.update(PEOPLE, "x", &twice, IfMissing::Create).await.map(drop));
    assert_eq!(store.count(PEOPLE, &Filter::all()).await.unwrap(), 0);
}

fn bump(id: &str, field: &str, sequence: u64) -> Write {
    Write::update(PEOPLE, id, vec![Update::Increment(field.into(), 1)], IfMissing::Create).marked("seq", sequence)
}

/// An event delivered again, or an older one arriving late, moves no counter.
pub async fn a_marked_write_applies_once_per_sequence_counters_included<S: ReadStore>(store: S) {
    ready(&store).await;
    assert_eq!(store.write(&[bump("ana", "likes", 5)]).await.unwrap(), 1);
    assert_eq!(store.write(&[bump("ana", "likes", 5)]).await.unwrap(), 0);
    assert_eq!(store.write(&[bump("ana", "likes", 4)]).await.unwrap(), 0);
    assert_eq!(store.write(&[bump("ana", "likes", 6), bump("ana", "likes", 6)]).await.unwrap(), 1);
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(doc(json!({"likes": 2, "seq": 6}))));
    // Marks of different fields are independent: two streams, one document.
    let other = Write::update(PEOPLE, "ana", vec![Update::Increment("posts".into(), 1)], IfMissing::Create)
        .marked("seq_content", 1);
    assert_eq!(store.write(&[other]).await.unwrap(), 1);
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap().unwrap()["posts"], json!(1));
}

/// A replay after a crash puts and deletes only what is newer than the mark.
pub async fn a_mark_holds_back_puts_and_deletes_of_older_sequences<S: ReadStore>(store: S) {
    ready(&store).await;
    let put = |name: &str, sequence| Write::put(PEOPLE, "ana", doc(json!({"name": name}))).marked("seq", sequence);
    assert_eq!(store.write(&[put("Ana", 3)]).await.unwrap(), 1);
    assert_eq!(store.write(&[put("Old", 2)]).await.unwrap(), 0);
    assert_eq!(store.write(&[Write::delete(PEOPLE, "ana").marked("seq", 3)]).await.unwrap(), 0);
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), Some(doc(json!({"name": "Ana", "seq": 3}))));
    assert_eq!(store.write(&[Write::delete(PEOPLE, "ana").marked("seq", 4)]).await.unwrap(), 1);
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), None);
    let skip = Write::update(PEOPLE, "ana", vec![Update::Set("x".into(), json!(1))], IfMissing::Skip).marked("seq", 9);
    assert_eq!(store.write(&[skip]).await.unwrap(), 0);
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), None);
}

/// Later writes of a batch see the earlier ones; the count leaves out what
/// changed nothing.
pub async fn a_batch_applies_in_order_and_counts_what_changed<S: ReadStore>(store: S) {
    ready(&store).await;
    let batch = [
        Write::put(PEOPLE, "ana", person("Ana", "Lisboa", 30)),
        Write::update(PEOPLE, "ana", vec![Update::Increment("age".into(), 1)], IfMissing::Skip),
        Write::delete(PEOPLE, "nobody"),
        Write::update(PEOPLE, "ghost", vec![Update::Set("x".into(), json!(1))], IfMissing::Skip),
        Write::put(POSTS, "p1", post("ana", 1)),
        Write::delete(POSTS, "p1"),
    ];
    assert_eq!(store.write(&batch).await.unwrap(), 4);
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap().unwrap()["age"], json!(31));
    assert_eq!(search(&store, "ana").await, ["ana"]);
    assert_eq!(store.count(POSTS, &Filter::all()).await.unwrap(), 0);
    assert_eq!(store.write(&[]).await.unwrap(), 0);
}

/// Its fields (as filters see them), its search words and its presence are
/// those of the batch's last write, however many came before it.
pub async fn a_document_written_many_times_in_one_batch_ends_as_its_last_write_left_it<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &person("Ana", "Lisboa", 30)).await.unwrap();
    store.put(PEOPLE, "bea", &person("Bea", "Porto", 40)).await.unwrap();
    let batch = [
        Write::update(PEOPLE, "ana", vec![Update::Increment("age".into(), 1)], IfMissing::Skip),
        Write::update(PEOPLE, "ana", vec![Update::Set("city".into(), json!("Porto"))], IfMissing::Skip),
        Write::update(PEOPLE, "ana", vec![Update::Set("tokens".into(), json!(tokens("Ana Maria")))], IfMissing::Skip),
        Write::delete(PEOPLE, "bea"),
        Write::delete(PEOPLE, "bea"),
        Write::put(PEOPLE, "bea", person("Beatriz", "Braga", 41)),
        Write::put(PEOPLE, "cy", person("Cy", "Porto", 20)),
        Write::delete(PEOPLE, "cy"),
        Write::update(PEOPLE, "dan", vec![Update::Increment("age".into(), 1)], IfMissing::Create),
        Write::update(PEOPLE, "dan", vec![Update::Increment("age".into(), 1)], IfMissing::Create),
    ];

    assert_eq!(store.write(&batch).await.unwrap(), 9, "the second delete of bea changed nothing");

    let ana = store.get(PEOPLE, "ana").await.unwrap().unwrap();
    assert_eq!((ana["age"].clone(), ana["city"].clone()), (json!(31), json!("Porto")));
    assert_eq!(store.get(PEOPLE, "cy").await.unwrap(), None);
    assert_eq!(store.get(PEOPLE, "dan").await.unwrap().unwrap()["age"], json!(2));
    let porto = Query::new(Filter::all().eq("city", "Porto"), "name", Direction::Ascending);
    assert_eq!(all_ids(&store, PEOPLE, porto).await, ["ana"]);
    let aged = Query::new(Filter::all().eq("age", 41), "name", Direction::Ascending);
    assert_eq!(all_ids(&store, PEOPLE, aged).await, ["bea"]);
    assert_eq!(search(&store, "maria").await, ["ana"]);
    assert_eq!(search(&store, "beatriz").await, ["bea"]);
    assert!(search(&store, "cy").await.is_empty());
    assert_eq!(store.count(PEOPLE, &Filter::all()).await.unwrap(), 3);
}

/// Checks run over the whole batch first: a bad write anywhere applies none.
pub async fn a_bad_write_refuses_the_whole_batch_before_anything_runs<S: ReadStore>(store: S) {
    ready(&store).await;
    let good = Write::put(PEOPLE, "ana", person("Ana", "Lisboa", 30));
    for bad in [
        Write::put(PEOPLE, "x", doc(json!({"$set": 1}))),
        Write::put(PEOPLE, "", doc(json!({}))),
        Write::update(PEOPLE, "x", vec![Update::Set("seq".into(), json!(1))], IfMissing::Create).marked("seq", 1),
        Write::delete(PEOPLE, "x").marked("a.b", 1),
    ] {
        let refused = store.write(&[good.clone(), bad]).await;
        assert!(matches!(refused, Err(ReadStoreError::Invalid(_))), "{refused:?}");
    }
    let unknown = store.write(&[good.clone(), Write::delete("nope", "x")]).await;
    assert!(matches!(unknown, Err(ReadStoreError::UnknownCollection(_))), "{unknown:?}");
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), None);
}

/// A rebuilt projection's old collection is dropped whole; the name can be
/// declared again, empty.
pub async fn a_dropped_collection_is_gone_and_can_be_declared_anew<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &person("Ana", "Lisboa", 30)).await.unwrap();
    store.drop_collection(PEOPLE).await.unwrap();
    assert!(matches!(store.get(PEOPLE, "ana").await, Err(ReadStoreError::UnknownCollection(_))));
    store.drop_collection(PEOPLE).await.unwrap();
    store.drop_collection("never_declared").await.unwrap();
    ready(&store).await;
    assert_eq!(store.get(PEOPLE, "ana").await.unwrap(), None);
    assert_eq!(search(&store, "ana").await, Vec::<String>::new());
    assert_eq!(store.count(PEOPLE, &Filter::all().eq("city", "Lisboa")).await.unwrap(), 0);
}

/// A page that names other documents reads them in one call, in its order.
pub async fn many_documents_read_at_once_come_in_the_order_asked_with_none_for_missing<S: ReadStore>(store: S) {
    ready(&store).await;
    store.put(PEOPLE, "ana", &person("Ana", "Lisboa", 30)).await.unwrap();
    store.put(PEOPLE, "ben", &person("Ben", "Porto", 25)).await.unwrap();
    let ids: Vec<String> = ["ben", "nobody", "ana", "ben"].iter().map(|s| (*s).to_owned()).collect();
    let found = store.get_many(PEOPLE, &ids).await.unwrap();
    assert_eq!(
        found,
        vec![
            Some(person("Ben", "Porto", 25)),
            None,
            Some(person("Ana", "Lisboa", 30)),
            Some(person("Ben", "Porto", 25))
        ]
    );
    assert_eq!(store.get_many(PEOPLE, &[]).await.unwrap(), Vec::<Option<Document>>::new());
    let too_many: Vec<String> = (0..=MAX_PAGE_SIZE).map(|n| n.to_string()).collect();
    assert!(matches!(store.get_many(PEOPLE, &too_many).await, Err(ReadStoreError::Invalid(_))));
    assert!(matches!(store.get_many("nope", &ids).await, Err(ReadStoreError::UnknownCollection(_))));
}
