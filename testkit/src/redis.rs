//! Redis for tests. The shared one is found at `PULSE_REDIS_URL`, else at
//! 127.0.0.1:6379 (`make test` starts or reuses it); each test keeps its keys
//! under its own namespace. A test that must empty a whole server (FLUSHALL)
//! starts a [`PrivateRedis`] of its own instead.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shared Redis.
pub fn redis_url() -> String {
    std::env::var("PULSE_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// A redis-server of this test's own on a free loopback port, keeping
/// nothing on disk; stopped when dropped.
pub struct PrivateRedis {
    child: Child,
    /// Its URL.
    pub url: String,
}

impl PrivateRedis {
    /// Starts one; panics (the test cannot run) when redis-server is missing.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("this test needs redis-server on PATH (make test installs it): {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on 127.0.0.1:{port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, url: format!("redis://127.0.0.1:{port}") }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deletes the keys a test's namespace left in the shared Redis (feeds);
/// best effort: a Redis that is not there holds nothing to delete.
pub async fn forget_namespace(namespace: &str) {
    let Ok(client) = ::redis::Client::open(redis_url()) else { return };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else { return };
    let pattern = format!("{namespace}:*");
    let mut cursor = 0_u64;
    loop {
        let scanned: Result<(u64, Vec<String>), _> = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut connection)
            .await;
        let Ok((next, keys)) = scanned else { return };
        if !keys.is_empty() {
            let _: Result<(), _> = ::redis::cmd("DEL").arg(keys).query_async(&mut connection).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}
