//! A nats-server older than [`events::MIN_NATS_VERSION`], started for one test
//! and killed when it drops: the refusal to run on it is tested against a real
//! server, not a mock of its INFO line.
//!
//! It is Debian's `nats-server` package (2.9.10) at `/usr/sbin/nats-server`.
//! There is no install here: a machine without it fails the test and says so,
//! rather than passing without having checked anything.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OLD_BINARY: &str = "/usr/sbin/nats-server";

/// A running old nats-server with JetStream, on a port and directory of its own.
pub struct OldNats {
    child: Child,
    dir: PathBuf,
    /// Its address, `nats://127.0.0.1:<port>`.
    pub url: String,
    /// The version the binary reports.
    pub version: String,
}

impl OldNats {
    /// Starts one; panics with the reason when there is no old binary, it is not
    /// old, or it does not start.
    pub fn start() -> Self {
        let binary = OLD_BINARY;
        let version = reported_version(binary);
        let parsed = events::NatsVersion::parse(&version).unwrap_or_else(|e| panic!("{binary}: {e}"));
        assert!(
            parsed < events::MIN_NATS_VERSION,
            "{binary} is nats-server {version}, not older than {}: these tests need an older one there",
            events::MIN_NATS_VERSION
        );
        let dir = std::env::temp_dir().join(format!("pulse-old-nats-{}", uuid::Uuid::new_v4().simple()));
        let port = free_port();
        // nats-server has no port 0 for "any free port": take one the kernel
        // handed out and released. Another process could grab it in between;
        // the wait below then fails with the port in the message.
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        let server = Self { child, dir, url: format!("nats://127.0.0.1:{port}"), version };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{binary} did not listen on 127.0.0.1:{port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for OldNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What `<binary> --version` prints after the `v` (`nats-server: v2.9.10`).
fn reported_version(binary: &str) -> String {
    let output = Command::new(binary).arg("--version").output().unwrap_or_else(|e| {
        panic!(
            "the refusal of an old NATS is tested against a real nats-server older than {}, \
             expected at {binary} (Debian's package `nats-server`, 2.9): {e}",
            events::MIN_NATS_VERSION
        )
    });
    let text = String::from_utf8_lossy(&output.stdout);
    match text.split_whitespace().last().and_then(|word| word.strip_prefix('v')) {
        Some(version) => version.to_owned(),
        None => panic!("{binary} --version printed {text:?}"),
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("no free port: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("no free port: {e}")).port()
}
