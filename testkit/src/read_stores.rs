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

/// Applies a history to `projections` as the engine does: each event stamped
/// with its position in its own stream (each stream numbers its events), all
/// at one time, into the first generation.
pub async fn apply_history(
    store: &AnyStore,
    projections: &[&dyn read_models::Projection],
    history: &[events::DomainEvent],
) {
    use read_store::ReadStore;
    let mut sequences = std::collections::HashMap::new();
    for event in history {
        let sequence = *sequences.entry(event.context()).and_modify(|s| *s += 1).or_insert(1_u64);
        let at = read_models::Event { event, sequence, time: time::OffsetDateTime::UNIX_EPOCH };
        let mut writes = Vec::new();
        for projection in projections {
            writes.extend(read_models::Generation::FIRST.stamp(projection.apply(at), event.context(), sequence));
        }
        if let Err(e) = store.write(&writes).await {
            panic!("the store refused a history's writes: {e}");
        }
    }
}

/// Runs each named behaviour twice, on a fresh SQLite store and on a fresh
/// MongoDB one: each is an `async fn(fresh: impl Fn() -> impl Future<Output =
/// AnyStore>)` in the calling module, and the macro makes a `sqlite` and a
/// `mongo` module of `#[tokio::test]`s.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(|| async { $crate::read_stores::sqlite() }).await; })*
        }
        mod mongo {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::read_stores::mongo).await; })*
        }
    };
}
