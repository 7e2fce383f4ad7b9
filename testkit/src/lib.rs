//! Test support: each test gets its own JetStream namespace (its own streams)
//! on the shared NATS, so tests run in parallel and never see each other's
//! events. Streams are deleted when the [`TestLog`] drops; streams left by a
//! crashed run are swept by the next one; one empty stream, `TESTKIT_ANCHOR`,
//! stays for good (see `keep_an_anchor_stream`).
//!
//! NATS is found at `PULSE_NATS_URL`, else at the address `make services`
//! wrote to `.pulse/nats.url`, else at `nats://127.0.0.1:4222`; `make test`
//! starts a current one when none is running. [`old_nats`] runs a server below
//! the floor, for the tests of the refusal; [`read_stores`] gives each test a
//! read store of its own, on SQLite or MongoDB; [`redis`] finds the shared
//! Redis or starts a private one; [`smtp`] starts an SMTP server per test;
//! [`cluster`] runs a three-node JetStream cluster of its own.

pub mod cluster;
pub mod old_nats;
pub mod read_stores;
pub mod redis;
pub mod smtp;

use events::{EventStore, Namespace, StoreConfig};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The NATS server tests use. The file written by `make services` is read so
/// that a plain `cargo test` finds the current server the script started when
/// an older one holds the default port.
pub fn nats_url() -> String {
    if let Ok(url) = std::env::var("PULSE_NATS_URL") {
        return url;
    }
    let written = concat!(env!("CARGO_MANIFEST_DIR"), "/../.pulse/nats.url");
    match std::fs::read_to_string(written) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => "nats://127.0.0.1:4222".to_owned(),
    }
}

/// Test namespaces start with this, so stale ones can be recognised.
const PREFIX: &str = "t_";

/// An event store on fresh streams of its own (and, when it drops, no keys
/// left under its namespace in the shared Redis).
pub struct TestLog {
    /// The store, on this test's namespace.
    pub store: EventStore,
    /// A plain client on the same server, for raw publishes and checks.
    pub client: async_nats::Client,
    /// The namespace.
    pub namespace: Namespace,
    /// The server's address.
    pub url: String,
}

impl TestLog {
    /// Creates the streams of a new random namespace.
    pub async fn new() -> Self {
        Self::with_timeout(Duration::from_secs(5)).await
    }

    /// Like [`TestLog::new`] with a given store timeout.
    pub async fn with_timeout(timeout: Duration) -> Self {
        Self::on_server(&nats_url(), timeout).await
    }

    /// Like [`TestLog::new`] on a server of the test's own (a [`cluster`]
    /// node it wipes, restores or kills), with a given store timeout.
    pub async fn on_server(url: &str, timeout: Duration) -> Self {
        let namespace = Namespace::parse(&format!("{PREFIX}{}", &uuid::Uuid::new_v4().simple().to_string()[..12]))
            .unwrap_or_default();
        let config = StoreConfig {
            namespace: namespace.clone(),
            timeout,
            source: "/pulse/tests".to_owned(),
            ..StoreConfig::default()
        };
        let store = match EventStore::connect(url, config).await {
            Ok(store) => store,
            Err(e) => panic!("tests need NATS with JetStream at {url} (run `make test`): {e}"),
        };
        let client = store.client().clone();
        if url == nats_url() {
            sweep_stale_streams(&client).await;
            keep_an_anchor_stream(&client).await;
        }
        Self { store, client, namespace, url: url.to_owned() }
    }

    /// Makes this namespace's streams again (they are gone after the server's
    /// store was wiped): what every Pulse process does when it starts.
    pub async fn make_streams(&self, timeout: Duration) {
        let config = StoreConfig {
            namespace: self.namespace.clone(),
            timeout,
            source: "/pulse/tests".to_owned(),
            ..StoreConfig::default()
        };
        EventStore::connect(&self.url, config).await.unwrap_or_else(|e| panic!("streams on {}: {e}", self.url));
    }
}

impl Drop for TestLog {
    fn drop(&mut self) {
        // Drop cannot be async, and the test's runtime is blocked here, so the
        // test's client cannot make progress: a short-lived runtime on another
        // thread deletes the streams over a connection of its own.
        let (namespace, url) = (self.namespace.clone(), self.url.clone());
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                let connect = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(2)).connect(url);
                let Ok(client) = connect.await else { return };
                let jetstream = async_nats::jetstream::new(client);
                for context in events::Context::ALL {
                    let _ = jetstream.delete_stream(namespace.stream(context)).await;
                }
                redis::forget_namespace(namespace.as_str()).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Deletes test streams older than an hour, once per test process: those of
/// runs that crashed before their drop ran.
/// Keeps one empty file-stored stream, `TESTKIT_ANCHOR`, on the server for
/// good. Why: when the last file stream of an account is deleted, nats-server
/// (seen on 2.15.1) removes the account's stream directory, and a stream
/// created at that moment by another test fails with "could not create
/// storage directory" (error 10049). Tests delete their streams as they end,
/// so with many in parallel the count can touch zero; the anchor keeps it
/// above. Its name does not start with the tests' prefix, so no sweep takes it.
async fn keep_an_anchor_stream(client: &async_nats::Client) {
    static ANCHORED: AtomicBool = AtomicBool::new(false);
    if ANCHORED.swap(true, Ordering::SeqCst) {
        return;
    }
    let jetstream = async_nats::jetstream::new(client.clone());
    let config = async_nats::jetstream::stream::Config {
        name: "TESTKIT_ANCHOR".to_owned(),
        subjects: vec!["testkit.anchor".to_owned()],
        max_messages: 1,
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    };
    let _ = jetstream.get_or_create_stream(config).await;
}

async fn sweep_stale_streams(client: &async_nats::Client) {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    let jetstream = async_nats::jetstream::new(client.clone());
    let mut streams = jetstream.streams();
    let cutoff = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let mut stale = Vec::new();
    while let Some(Ok(info)) = streams.next().await {
        if info.config.name.starts_with(&PREFIX.to_ascii_uppercase()) && info.created < cutoff {
            stale.push(info.config.name.clone());
        }
    }
    for name in stale {
        let _ = jetstream.delete_stream(&name).await;
    }
}
