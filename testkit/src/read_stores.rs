//! Read stores for tests: an in-memory SQLite one, and a MongoDB one on a
//! database of its own. MongoDB is found at `PULSE_MONGO_URL`, else at the
//! address `infra/scripts/services.sh mongo-up` wrote to `.pulse/mongo.url`
//! (`make test` starts SecantusDB there). Without either, a test that asks
//! for it fails: a missing server is never a silent pass.

use read_store::{AnyStore, MongoStore, SqliteStore};
use std::time::{SystemTime, UNIX_EPOCH};

/// The MongoDB server tests use.
pub fn mongo_url() -> String {
    if let Ok(url) = std::env::var("PULSE_MONGO_URL")
        && !url.trim().is_empty()
    {
        return url.trim().to_owned();
    }
    let written = concat!(env!("CARGO_MANIFEST_DIR"), "/../.pulse/mongo.url");
    match std::fs::read_to_string(written) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => panic!(
            "this test needs MongoDB: set PULSE_MONGO_URL, or run `make test` \
             (or `infra/scripts/services.sh mongo-up`, which writes .pulse/mongo.url)"
        ),
    }
}

/// A private in-memory SQLite store.
pub fn sqlite() -> AnyStore {
    match SqliteStore::in_memory() {
        Ok(store) => store.into(),
        Err(e) => panic!("an in-memory SQLite store: {e}"),
    }
}

/// A MongoDB store on a new database (`rm_test_<seconds>_<random>`).
pub async fn mongo() -> AnyStore {
    let url = mongo_url();
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let database = format!("rm_test_{seconds}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    match MongoStore::connect(&url, &database).await {
        Ok(store) => store.into(),
        Err(e) => panic!("this test needs MongoDB at {url} (run `make test`): {e}"),
    }
}
