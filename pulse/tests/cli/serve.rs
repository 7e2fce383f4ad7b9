//! `pulse command-api` and `pulse all` as processes.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn start(subcommand: &str, port: u16, namespace: &str) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg(subcommand)
        .env("PULSE_COMMAND_API_ADDR", format!("127.0.0.1:{port}"))
        .env("PULSE_NAMESPACE", namespace)
        .env("PULSE_NATS_URL", testkit::nats_url())
        .env("PULSE_JWT_SECRET", "serve-test-secret-0123456789abcdef")
        .env_remove("PULSE_DEV")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

async fn until_healthy(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http.get(format!("{base}/health")).send().await {
            return response.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "{base}/health never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn each_way_to_start_the_api_serves_health_ready_and_metrics() {
    let log = testkit::TestLog::new().await;
    for subcommand in ["command-api", "all"] {
        let port = free_port();
        let _running = start(subcommand, port, log.namespace.as_str());
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let health = until_healthy(&http, &base).await;
        assert_eq!(health["status"], "healthy", "{subcommand}");
        assert_eq!(health["service"], "command-api");
        assert!(health["timestamp"].is_string() && health["uptime"].is_u64());
        assert_eq!(http.get(format!("{base}/ready")).send().await.unwrap().status(), 200);
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("pulse_http_requests"), "{metrics}");
        let unauthenticated =
            http.post(format!("{base}/api/v1/posts")).json(&serde_json::json!({"text": "x"})).send().await.unwrap();
        assert_eq!(unauthenticated.status(), 401);
    }
}

#[test]
fn without_a_secret_outside_dev_mode_the_api_refuses_to_start() {
    let output = crate::pulse(&["command-api"], &[("PULSE_COMMAND_API_ADDR", "127.0.0.1:0")]);
    assert!(!output.status.success());
    assert!(crate::stderr(&output).contains("PULSE_JWT_SECRET is required"), "{}", crate::stderr(&output));
}

#[test]
fn a_jwt_secret_shorter_than_32_bytes_is_refused_at_start_up() {
    let env = [("PULSE_COMMAND_API_ADDR", "127.0.0.1:0"), ("PULSE_JWT_SECRET", "0123456789abcdef0123456789abcde")];
    let output = crate::pulse(&["command-api"], &env);
    assert!(!output.status.success());
    let stderr = crate::stderr(&output);
    assert!(stderr.contains("PULSE_JWT_SECRET must be at least 32 bytes (it has 31)"), "{stderr}");
}

#[test]
fn a_service_api_key_shorter_than_32_bytes_is_refused_at_start_up() {
    let env = [
        ("PULSE_COMMAND_API_ADDR", "127.0.0.1:0"),
        ("PULSE_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("PULSE_SERVICE_API_KEY", "short-key"),
    ];
    let output = crate::pulse(&["command-api"], &env);
    assert!(!output.status.success());
    let stderr = crate::stderr(&output);
    assert!(stderr.contains("PULSE_SERVICE_API_KEY must be at least 32 bytes (it has 9)"), "{stderr}");
}
