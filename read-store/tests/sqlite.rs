//! Every conformance behaviour against the SQLite backend, each on a fresh
//! in-memory store, plus what only a file-backed store can show.

use read_store::{Collection, Filter, ReadStore, SqliteStore};
use serde_json::json;

#[allow(clippy::unwrap_used)] // a test helper: no store, no test
async fn fresh() -> SqliteStore {
    SqliteStore::in_memory().unwrap()
}

read_store::conformance_tests!(fresh());

#[tokio::test]
async fn a_file_store_keeps_its_documents_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read.sqlite");
    let people = [Collection::new("people").index(&["city"])];
    let doc = json!({"name": "Ana", "city": "Lisboa", "tokens": ["ana"]}).as_object().cloned().unwrap();
    {
        let store = SqliteStore::open(&path).unwrap();
        store.ensure(&people).await.unwrap();
        store.put("people", "ana", &doc).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    store.ensure(&people).await.unwrap();
    assert_eq!(store.get("people", "ana").await.unwrap(), Some(doc));
    assert_eq!(store.count("people", &Filter::all().search("ana").eq("city", "Lisboa")).await.unwrap(), 1);
}
