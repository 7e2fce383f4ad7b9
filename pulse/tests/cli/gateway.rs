//! The nginx gateway of `infra/nginx`, run for real (Debian's nginx) in front
//! of a real `pulse all`: what it routes, what it keeps inside, its limits
//! and headers, TLS with HTTP/2, and the WebSocket upgrade.

use crate::deploy::{repo, succeeds, tool};
use crate::process::{Running, start, token, until_healthy};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nginx started with the gateway's template rendered for this test's
/// services; stopped when dropped.
struct Gateway {
    nginx: Child,
    _dir: tempfile::TempDir,
    http: String,
    https: String,
    /// The CA the gateway's certificate is issued by, PEM.
    ca_certificate: Vec<u8>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What the nginx image's entrypoint does with `templates/*.template`:
/// replaces each `${NAME}` with the environment's value.
fn render(template: &str, values: &[(&str, String)]) -> String {
    let rendered =
        values.iter().fold(template.to_owned(), |text, (name, value)| text.replace(&format!("${{{name}}}"), value));
    assert!(!rendered.contains("${PULSE_"), "a template variable was left unset");
    rendered
}

/// The parts of the image's main config a gateway needs, with every path in
/// the test's directory. One process, no master: killing the child the test
/// started leaves no worker behind, even when the test panics.
const MAIN_CONFIG: &str = "master_process off;
pid nginx.pid;
error_log stderr;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    include conf.d/*.conf;
}
";

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

fn start_gateway(running: &Running) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["conf.d", "pulse", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    for file in ["gateway.conf", "security-headers.conf"] {
        std::fs::copy(repo().join("infra/nginx/pulse").join(file), root.join("pulse").join(file)).unwrap();
    }
    test_certificate(root);
    let (http, https) = (free_port(), free_port());
    let values = [
        ("PULSE_COMMAND_API_UPSTREAM", host_port(&running.api)),
        ("PULSE_CHAT_GATEWAY_UPSTREAM", host_port(&running.chat)),
        ("PULSE_GATEWAY_PORT", format!("127.0.0.1:{http}")),
        ("PULSE_GATEWAY_TLS_PORT", format!("127.0.0.1:{https}")),
        ("PULSE_TLS_CERTIFICATE", root.join("tls.crt").display().to_string()),
        ("PULSE_TLS_CERTIFICATE_KEY", root.join("tls.key").display().to_string()),
    ];
    let template = std::fs::read_to_string(repo().join("infra/nginx/templates/pulse.conf.template")).unwrap();
    std::fs::write(root.join("conf.d/pulse.conf"), render(&template, &values)).unwrap();
    std::fs::write(root.join("nginx.conf"), MAIN_CONFIG).unwrap();

    let nginx = tool("tools/usr/sbin/nginx");
    let prefix = format!("{}/", root.display());
    let config = root.join("nginx.conf");
    succeeds(Command::new(&nginx).args(["-t", "-e", "stderr", "-p", &prefix, "-c"]).arg(&config));
    let child = Command::new(&nginx)
        .args(["-e", "stderr", "-p", &prefix, "-g", "daemon off;", "-c"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen on {https}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ca_certificate = std::fs::read(root.join("ca.crt")).unwrap();
    Gateway {
        nginx: child,
        _dir: dir,
        http: format!("http://127.0.0.1:{http}"),
        https: format!("https://localhost:{https}"),
        ca_certificate,
    }
}

/// A certificate for `localhost` in `tls.crt` / `tls.key`, issued by a CA of
/// the test's own (`ca.crt`, which the client trusts): rustls refuses a
/// self-signed CA certificate as a server's.
fn test_certificate(dir: &Path) {
    let openssl = |args: &[&str]| succeeds(Command::new("openssl").args(args).current_dir(dir));
    let key = ["-newkey", "rsa:2048", "-nodes"];
    openssl(
        &[
            &["req", "-x509", "-days", "1", "-subj", "/CN=pulse test CA"][..],
            &key,
            &["-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat(),
    );
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(&[&["req", "-subj", "/CN=localhost"][..], &key, &["-keyout", "tls.key", "-out", "tls.csr"]].concat());
    openssl(
        &["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1"]
            .into_iter()
            .chain(["-extfile", "leaf.ext", "-out", "tls.crt"])
            .collect::<Vec<_>>(),
    );
}

fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff", "{headers:?}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers.contains_key("content-security-policy"));
    assert!(!headers.get("server").is_some_and(|s| s.to_str().unwrap_or_default().contains('.')), "no version");
}

async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_security_headers(&response);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_gateway_routes_api_and_socket_keeps_internals_in_and_speaks_http2_over_tls() {
    let log = testkit::TestLog::new().await;
    let running = start("all", log.namespace.as_str());
    let http = reqwest::Client::new();
    until_healthy(&http, &running.api).await;
    until_healthy(&http, &running.chat).await;
    let gateway = start_gateway(&running);
    let base = &gateway.http;

    let registered = http
        .post(format!("{base}/api/v1/users/me"))
        .bearer_auth(token("ana"))
        .json(&serde_json::json!({"handle": "ana_gw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 202, "a command through the gateway");
    assert_security_headers(&registered);
    let position = registered.headers()["pulse-position"].to_str().unwrap().to_owned();
    let profile = http
        .get(format!("{base}/api/v1/users/ana"))
        .bearer_auth(token("ana"))
        .header("Pulse-After", &position)
        .send()
        .await
        .unwrap();
    assert_eq!(profile.json::<serde_json::Value>().await.unwrap()["handle"], "ana_gw", "a query through the gateway");
    let refused =
        http.post(format!("{base}/api/v1/posts")).json(&serde_json::json!({"text": "x"})).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the API's own errors pass through");

    for inside in ["/metrics", "/health", "/ready", "/api/v1/internal/users", "/"] {
        let answer = http.get(format!("{base}{inside}")).send().await.unwrap();
        assert_eq!(problem(answer, 404).await["status"], 404, "{inside} is not exposed");
    }
    let too_large = http
        .post(format!("{base}/api/v1/posts"))
        .bearer_auth(token("ana"))
        .header("content-type", "application/json")
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .unwrap();
    problem(too_large, 413).await;

    chat_through_the_gateway(base).await;
    http2_over_tls(&gateway).await;
    the_probe_exits_zero_only_for_an_answering_service(&running.api).await;
    one_address_is_rate_limited(base).await;
}

async fn chat_through_the_gateway(base: &str) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("the upgrade passes the gateway");
    socket.send(Message::text(serde_json::json!({"type": "auth", "token": token("ana")}).to_string())).await.unwrap();
    let ready = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            break serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    };
    assert_eq!(ready["type"], "ready", "{ready}");
}

async fn http2_over_tls(gateway: &Gateway) {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&gateway.ca_certificate).unwrap())
        .build()
        .unwrap();
    let answer = client.get(format!("{}/api/v1/openapi.json", gateway.https)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), reqwest::Version::HTTP_2);
    assert!(answer.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    assert_security_headers(&answer);
}

async fn the_probe_exits_zero_only_for_an_answering_service(api: &str) {
    let probe = |url: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_pulse")).args(["probe", &url]).output().unwrap()
        })
    };
    let ready = probe(format!("{api}/ready")).await.unwrap();
    assert!(ready.status.success(), "{}", String::from_utf8_lossy(&ready.stderr));
    let missing = probe(format!("{api}/no-such-route")).await.unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("answered 404"));
    let closed = probe(format!("http://127.0.0.1:{}/health", free_port())).await.unwrap();
    assert!(!closed.status.success());
}

/// Last: it spends this address's budget at the gateway.
async fn one_address_is_rate_limited(base: &str) {
    let http = reqwest::Client::new();
    let sent = (0..400).map(|_| http.get(format!("{base}/api/v1/openapi.json")).send());
    let answers = futures::future::join_all(sent).await;
    let limited: Vec<&reqwest::Response> =
        answers.iter().filter_map(|a| a.as_ref().ok()).filter(|a| a.status() == 429).collect();
    assert!(!limited.is_empty(), "400 requests at once from one address, none limited");
    assert_eq!(limited[0].headers()["retry-after"], "1");
    assert_eq!(limited[0].headers()["content-type"], "application/problem+json");
}
