//! A real SMTP server per test: aiosmtpd running `infra/scripts/smtp_sink.py`
//! on a free loopback port, writing each message it accepts to a folder of
//! its own, and killed when it drops. `make test` installs aiosmtpd into
//! `.pulse/venv` (`services.sh smtp-tool`). It can be stopped and started
//! again on the same port, to prove delivery after the server comes back.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One SMTP server and what it received.
pub struct SmtpSink {
    /// The port it listens on (while it runs).
    pub port: u16,
    out: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpSink {
    /// A server on a free port, listening when this returns.
    pub fn start() -> Self {
        let port = free_port();
        let mut sink = Self::stopped_on(port);
        sink.restart();
        sink
    }

    /// A server that will listen on `port` once [`SmtpSink::restart`] is
    /// called: until then, connections to it are refused.
    pub fn stopped_on(port: u16) -> Self {
        let out = tempfile::tempdir().unwrap_or_else(|e| panic!("a folder for the SMTP server's mail: {e}"));
        Self { port, out, child: None }
    }

    /// A port on loopback nothing listens on now.
    pub fn free_port() -> u16 {
        free_port()
    }

    /// The URL for `PULSE_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port.
    pub fn restart(&mut self) {
        self.stop();
        let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let python = root.join(".pulse/venv/bin/python");
        let mut child = Command::new(&python)
            .arg(root.join("infra/scripts/smtp_sink.py"))
            .args(["--port", &self.port.to_string(), "--out"])
            .arg(self.out.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting {}: {e} (`infra/scripts/services.sh smtp-tool` installs aiosmtpd)", python.display())
            });
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("the SMTP server's stdout"));
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        if read.is_err() || line.trim() != "ready" {
            let _ = child.kill();
            panic!("the SMTP server did not start (is aiosmtpd in .pulse/venv? `infra/scripts/services.sh smtp-tool`)");
        }
        self.child = Some(child);
    }

    /// Stops the server; what it received stays readable.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, oldest first, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.out.path()) else { return Vec::new() };
        let mut names: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
        names.sort();
        names.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
    }

    /// Waits (bounded) until `count` messages arrived; all of them.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= count || tokio::time::Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("a free port: {e}"));
    listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("a free port: {e}"))
}
