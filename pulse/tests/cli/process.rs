//! `pulse` processes started for a test: each binds port 0 and logs where it
//! listens; the helpers here read that, wait for health and mint tokens the
//! processes accept.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started process, and where it said it listens. Each binds port 0 and
/// logs the address it got: ports picked by the test could be taken by
/// another test's process in the meantime, and then the test would talk to
/// the wrong one.
pub struct Running {
    pub child: Child,
    pub api: String,
    pub projectors: String,
    pub chat: String,
    pub notifier: String,
    pub data: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(subcommand: &str, namespace: &str) -> Running {
    start_with(subcommand, namespace, &[])
}

/// [`start`] with more environment variables.
pub fn start_with(subcommand: &str, namespace: &str, env: &[(&str, &str)]) -> Running {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg(subcommand)
        .env_remove("PULSE_SMTP_URL")
        .env("PULSE_COMMAND_API_ADDR", "127.0.0.1:0")
        .env("PULSE_PROJECTORS_ADDR", "127.0.0.1:0")
        .env("PULSE_CHAT_GATEWAY_ADDR", "127.0.0.1:0")
        .env("PULSE_CHAT_PRESENCE_TTL_MS", "1500")
        .env("PULSE_NOTIFIER_ADDR", "127.0.0.1:0")
        .env("PULSE_DATA_DIR", data.path())
        .env("PULSE_LOG_FORMAT", "json")
        .env_remove("PULSE_MONGO_URL")
        .env("PULSE_NAMESPACE", namespace)
        .env("PULSE_NATS_URL", testkit::nats_url())
        .env("PULSE_JWT_SECRET", "serve-test-secret-0123456789abcdef")
        .env_remove("PULSE_DEV")
        // Last, so a test's own settings win over the defaults above.
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (heard, listening) = std::sync::mpsc::channel();
    let logs = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        // Reads to the end, so the process never blocks on a full pipe.
        for line in std::io::BufRead::lines(logs).map_while(Result::ok) {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if let (Some(message), Some(address)) = (entry["message"].as_str(), entry["address"].as_str()) {
                let _ = heard.send((message.to_owned(), format!("http://{address}")));
            }
        }
    });
    let wanted: &[&str] = match subcommand {
        "command-api" => &["command API listening"],
        "projectors" => &["projectors listening"],
        "chat-gateway" => &["chat gateway listening"],
        "notifier" => &["notifier listening"],
        _ => &["command API listening", "projectors listening", "chat gateway listening", "notifier listening"],
    };
    let mut addresses = std::collections::HashMap::new();
    while addresses.len() < wanted.len() {
        let (message, base) = listening.recv_timeout(Duration::from_secs(30)).expect("pulse logged where it listens");
        if wanted.contains(&message.as_str()) {
            addresses.insert(message, base);
        }
    }
    let address = |message: &str| addresses.get(message).cloned().unwrap_or_default();
    Running {
        api: address("command API listening"),
        projectors: address("projectors listening"),
        chat: address("chat gateway listening"),
        notifier: address("notifier listening"),
        child,
        data,
    }
}

pub async fn until_healthy(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http.get(format!("{base}/health")).send().await {
            return response.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "{base}/health never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A token the processes started here accept.
pub fn token(user: &str) -> String {
    token_with_email(user, None)
}

pub fn token_with_email(user: &str, email: Option<&str>) -> String {
    let keys = auth::JwtKeys::new(&auth::JwtConfig {
        secret: auth::Secret::new("serve-test-secret-0123456789abcdef"),
        issuer: None,
        audience: None,
    });
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = auth::Claims {
        sub: user.to_owned(),
        name: Some("Ana".to_owned()),
        email: email.map(str::to_owned),
        picture: None,
        role: None,
        iat: now,
        exp: now + 600,
        nbf: None,
        iss: None,
        aud: None,
    };
    keys.mint(&claims).unwrap()
}
