//! Every conformance behaviour against the MongoDB backend, each on a new
//! database of its own (so the tests run in parallel), plus what only this
//! backend can get wrong. The server is the one `PULSE_MONGO_URL` names, else
//! the one `infra/scripts/services.sh mongo-up` started (`make test` does)
//! and wrote to `.pulse/mongo.url`. Without either the tests fail: a missing
//! server is never a silent pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::TryStreamExt;
use mongodb::Client;
use mongodb::bson::{Document as BsonDocument, doc};
use read_store::{Collection, Direction, Filter, IfMissing, MongoStore, Query, ReadStore, ReadStoreError, Update};
use serde_json::{Value, json};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Test databases start with this, then the second they were made in, so
/// stale ones from runs that died can be recognised and dropped.
const PREFIX: &str = "rs_test_";

/// Older test databases are left over from an earlier run, never from this one.
const STALE_AFTER: Duration = Duration::from_secs(3600);

static SWEPT: AtomicBool = AtomicBool::new(false);

fn mongo_url() -> String {
    if let Ok(url) = std::env::var("PULSE_MONGO_URL")
        && !url.trim().is_empty()
    {
        return url.trim().to_owned();
    }
    let written = concat!(env!("CARGO_MANIFEST_DIR"), "/../.pulse/mongo.url");
    match std::fs::read_to_string(written) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => panic!(
            "the MongoDB tests need a server: set PULSE_MONGO_URL, or run `make test` \
             (or `infra/scripts/services.sh mongo-up`, which writes .pulse/mongo.url)"
        ),
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Drops the test databases of runs long gone, once per test binary.
async fn sweep_stale_databases(url: &str) {
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    let Ok(client) = Client::with_uri_str(url).await else { return };
    let Ok(names) = client.list_database_names().await else { return };
    let cutoff = now_secs().saturating_sub(STALE_AFTER.as_secs());
    for name in names {
        let made = name.strip_prefix(PREFIX).and_then(|rest| rest.split('_').next()?.parse::<u64>().ok());
        if made.is_some_and(|made| made < cutoff) {
            let _ = client.database(&name).drop().await;
        }
    }
}

/// A store on a new database, and the database's name.
async fn fresh_database() -> (MongoStore, String) {
    let url = mongo_url();
    let random = RandomState::new().build_hasher().finish();
    let database = format!("{PREFIX}{}_{random:016x}", now_secs());
    let store = match MongoStore::connect(&url, &database).await {
        Ok(store) => store,
        Err(e) => panic!("the MongoDB tests need a server at {url} (run `make test`): {e}"),
    };
    sweep_stale_databases(&url).await;
    (store, database)
}

async fn fresh() -> MongoStore {
    fresh_database().await.0
}

read_store::conformance_tests!(fresh());

fn json_doc(value: Value) -> read_store::Document {
    value.as_object().cloned().unwrap()
}

#[tokio::test]
async fn connecting_to_no_server_fails_fast_as_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let refused = MongoStore::connect(&format!("mongodb://127.0.0.1:{port}/?directConnection=true"), "x").await;
    assert!(matches!(refused, Err(ReadStoreError::Unavailable(_))), "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn ensure_creates_each_declared_index_with_the_id_last_and_one_on_tokens() {
    let (store, database) = fresh_database().await;
    let posts = [Collection::new("posts").index(&["author", "at"]).index(&["at"])];
    store.ensure(&posts).await.unwrap();
    store.ensure(&posts).await.unwrap();
    let client = Client::with_uri_str(mongo_url()).await.unwrap();
    let posts = client.database(&database).collection::<BsonDocument>("posts");
    let mut indexes = posts.list_index_names().await.unwrap();
    indexes.sort();
    assert_eq!(indexes, ["_id_", "by__at", "by__author__at", "search"]);
    let keys: Vec<BsonDocument> = posts
        .list_indexes()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.keys)
        .collect();
    assert!(keys.contains(&doc! { "author": 1, "at": 1, "_id": 1 }), "{keys:?}");
}

#[tokio::test]
async fn a_cursor_resumes_across_values_of_different_types_in_both_directions() {
    let store = fresh().await;
    store.ensure(&[Collection::new("posts").index(&["at"])]).await.unwrap();
    let values = [json!(2), json!("b"), json!(1.5), json!(true), Value::Null, json!("a"), json!(false), json!(-3)];
    for (n, at) in values.into_iter().enumerate() {
        store.put("posts", &format!("p{n}"), &json_doc(json!({ "at": at }))).await.unwrap();
    }
    store.put("posts", "none", &json_doc(json!({}))).await.unwrap();
    for direction in [Direction::Ascending, Direction::Descending] {
        let query = Query::new(Filter::all(), "at", direction);
        let whole: Vec<String> = store.find("posts", &query).await.unwrap().items.into_iter().map(|f| f.id).collect();
        assert_eq!(whole.len(), 9);
        let mut paged = Vec::new();
        let mut query = query.limit(1);
        loop {
            let page = store.find("posts", &query).await.unwrap();
            paged.extend(page.items.into_iter().map(|f| f.id));
            match page.next {
                Some(next) if paged.len() <= whole.len() => query = query.after(Some(next)),
                _ => break,
            }
        }
        assert_eq!(paged, whole, "{direction:?}");
        // MongoDB's order of types: null (or missing), numbers, strings, booleans.
        let mut expected = ["none", "p4", "p7", "p2", "p0", "p5", "p1", "p6", "p3"];
        if direction == Direction::Descending {
            expected.reverse();
        }
        assert_eq!(paged, expected, "{direction:?}");
    }
}

#[tokio::test]
async fn numbers_keep_their_kind_through_updates() {
    let store = fresh().await;
    store.ensure(&[Collection::new("people")]).await.unwrap();
    store.put("people", "ana", &json_doc(json!({"n": 1, "f": 1.5, "whole": 2.0}))).await.unwrap();
    let updates =
        [Update::Increment("n".into(), 2), Update::Increment("f".into(), 1), Update::Increment("whole".into(), 1)];
    store.update("people", "ana", &updates, IfMissing::Skip).await.unwrap();
    assert_eq!(store.get("people", "ana").await.unwrap(), Some(json_doc(json!({"n": 3, "f": 2.5, "whole": 3.0}))));
}

#[tokio::test]
async fn tokens_stay_an_array_of_strings_through_updates() {
    let store = fresh().await;
    store.ensure(&[Collection::new("people")]).await.unwrap();
    for update in [
        Update::Set("tokens".into(), json!("ana")),
        Update::AddToSet("tokens".into(), json!(1)),
        Update::Increment("tokens".into(), 1),
    ] {
        let refused = store.update("people", "ana", &[update], IfMissing::Create).await;
        assert!(matches!(refused, Err(ReadStoreError::Invalid(_))), "{refused:?}");
    }
    assert_eq!(store.get("people", "ana").await.unwrap(), None);
}

#[tokio::test]
async fn no_update_creates_an_empty_document_only_when_asked() {
    let store = fresh().await;
    store.ensure(&[Collection::new("people")]).await.unwrap();
    assert!(!store.update("people", "ana", &[], IfMissing::Skip).await.unwrap());
    assert_eq!(store.get("people", "ana").await.unwrap(), None);
    assert!(store.update("people", "ana", &[], IfMissing::Create).await.unwrap());
    assert_eq!(store.get("people", "ana").await.unwrap(), Some(json_doc(json!({}))));
    assert!(store.update("people", "ana", &[], IfMissing::Skip).await.unwrap());
}

#[tokio::test]
async fn an_increment_past_the_64_bit_range_is_refused_and_changes_nothing() {
    let store = fresh().await;
    store.ensure(&[Collection::new("people")]).await.unwrap();
    store.put("people", "ana", &json_doc(json!({"n": i64::MAX - 1}))).await.unwrap();
    let refused = store.update("people", "ana", &[Update::Increment("n".into(), 2)], IfMissing::Skip).await;
    assert!(matches!(&refused, Err(ReadStoreError::WrongType { field, .. }) if field == "n"), "{refused:?}");
    assert_eq!(store.get("people", "ana").await.unwrap(), Some(json_doc(json!({"n": i64::MAX - 1}))));
}

#[tokio::test]
async fn a_type_error_names_the_field_it_met() {
    let store = fresh().await;
    store.ensure(&[Collection::new("people")]).await.unwrap();
    store.put("people", "ana", &json_doc(json!({"name": "Ana", "n": 1, "likes": 2}))).await.unwrap();
    for (updates, field) in [
        (vec![Update::Increment("likes".into(), 1), Update::Increment("name".into(), 1)], "name"),
        (vec![Update::Increment("likes".into(), 1), Update::AddToSet("n".into(), json!("x"))], "n"),
        (vec![Update::Set("name".into(), json!("A")), Update::RemoveFromSet("likes".into(), json!(1))], "likes"),
    ] {
        let refused = store.update("people", "ana", &updates, IfMissing::Skip).await;
        assert!(matches!(&refused, Err(ReadStoreError::WrongType { field: f, .. }) if f == field), "{refused:?}");
    }
}
