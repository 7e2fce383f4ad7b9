//! What 1,000 concurrent users cost: the release `pulse all` (every service in
//! one process, SQLite read store, Redis feeds) under the load of that many
//! signed-in people, measured in CPU and memory of the process and of
//! nats-server, with the latency each of them sees. The README's sizing
//! ("Deploying") comes from this run.
//!
//! `cargo build --release -p pulse && cargo run --release -p pulse --example sizing_bench
//! [-- --users N --seconds S]` (defaults 1,000 users, 60 s). Needs the NATS of
//! `make services` (`PULSE_NATS_URL`) and Redis on loopback; writes to a
//! throwaway namespace.
//!
//! What a concurrent user does (an active session of a student community
//! app; each interval jittered by ±50 %, each user starting at a random
//! phase): keeps one chat socket open, subscribed to a direct conversation;
//! reads the home feed every 30 s, a profile every 15 s; likes a post every
//! 60 s; sends a chat message every 30 s; publishes a post every 10 minutes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../command-api/examples/bench/mod.rs"]
mod bench;

use auth::{JwtConfig, JwtKeys, Secret};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

/// Latencies per kind of operation, in microseconds.
type Latencies = Arc<Mutex<BTreeMap<&'static str, Histogram<u64>>>>;

fn record(latencies: &Latencies, kind: &'static str, micros: u64) {
    let mut all = latencies.lock().unwrap();
    let histogram = all.entry(kind).or_insert_with(|| Histogram::new(3).unwrap());
    let _ = histogram.record(micros.max(1));
}

/// `pulse all` as a process; killed when dropped.
struct Pulse {
    child: Child,
    api: String,
    chat: String,
    _data: tempfile::TempDir,
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pulse {
    fn start(nats_url: &str, namespace: &str) -> Self {
        let exe = std::env::current_exe().unwrap();
        let pulse = exe.parent().and_then(|d| d.parent()).unwrap().join("pulse");
        assert!(pulse.exists(), "build it first: cargo build --release -p pulse");
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(pulse)
            .arg("all")
            .env("PULSE_NATS_URL", nats_url)
            .env("PULSE_NAMESPACE", namespace)
            .env("PULSE_DATA_DIR", data.path())
            .env("PULSE_JWT_SECRET", bench::SECRET)
            .env_remove("PULSE_MONGO_URL")
            .env_remove("PULSE_SMTP_URL")
            .env("PULSE_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,pulse=info")
            .env("PULSE_COMMAND_API_ADDR", "127.0.0.1:0")
            .env("PULSE_PROJECTORS_ADDR", "127.0.0.1:0")
            .env("PULSE_CHAT_GATEWAY_ADDR", "127.0.0.1:0")
            .env("PULSE_NOTIFIER_ADDR", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut api, mut chat) = (String::new(), String::new());
        while api.is_empty() || chat.is_empty() {
            let line = lines.next().expect("pulse logged where it listens").unwrap();
            let entry: Value = serde_json::from_str(&line).unwrap_or_default();
            let address = entry["address"].as_str().unwrap_or_default();
            match entry["message"].as_str() {
                Some("command API listening") => api = format!("http://{address}"),
                Some("chat gateway listening") => chat = format!("ws://{address}/ws"),
                _ => {}
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, api, chat, _data: data }
    }
}

/// CPU seconds a process has used (user + system) and its resident memory in MiB.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (cpu, rss_kib / 1024.0)
}

/// The nats-server `make services` started, if it did (its pid file).
fn nats_pid() -> Option<u32> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../.pulse/nats.pid");
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// A pause of about `mean`, ±50 %.
fn jittered(mean: Duration) -> Duration {
    mean.mul_f64(0.5 + fastrand::f64())
}

/// Sends a request; its JSON body when it succeeded.
async fn call(request: reqwest::RequestBuilder) -> Option<Value> {
    let answer = request.send().await.ok()?;
    let ok = answer.status().is_success();
    let body: Value = answer.json().await.unwrap_or_default();
    ok.then_some(body)
}

struct Seeded {
    users: Vec<String>,
    tokens: Vec<String>,
    posts: Vec<String>,
    /// Per user, their direct conversation.
    conversations: Vec<String>,
    last: String,
}

async fn seed(api: &str, keys: &JwtKeys, users: usize) -> Seeded {
    let http = reqwest::Client::new();
    let names: Vec<String> = (0..users).map(|i| format!("user{i}")).collect();
    let tokens: Vec<String> = names.iter().map(|n| bench::token(keys, n)).collect();
    futures::stream::iter(tokens.clone())
        .for_each_concurrent(32, |t| async move { bench::register(api, &t).await })
        .await;
    // Each follows the next 20 (a ring), and posts once.
    let follows = (0..users).flat_map(|i| (1..=20).map(move |k| (i, (i + k) % users)));
    futures::stream::iter(follows)
        .for_each_concurrent(32, |(i, j)| {
            let (http, token, followee) = (http.clone(), tokens[i].clone(), names[j].clone());
            async move {
                call(http.put(format!("{api}/api/v1/users/{followee}/follow")).bearer_auth(token)).await;
            }
        })
        .await;
    let posts: Vec<(String, String)> = futures::stream::iter(0..users)
        .map(|i| {
            let (http, token) = (http.clone(), tokens[i].clone());
            async move {
                let body = json!({"text": format!("hello from user{i} #pulse")});
                let answer = call(http.post(format!("{api}/api/v1/posts")).bearer_auth(token).json(&body)).await;
                let answer = answer.expect("a seed post");
                (answer["id"].as_str().unwrap().to_owned(), answer["position"].as_str().unwrap().to_owned())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut conversations = vec![String::new(); users];
    for pair in (0..users - 1).step_by(2) {
        let body = json!({"with": names[pair + 1]});
        let request = http.post(format!("{api}/api/v1/conversations/direct")).bearer_auth(&tokens[pair]).json(&body);
        let id = call(request).await.expect("a direct conversation")["id"].as_str().unwrap().to_owned();
        conversations[pair] = id.clone();
        conversations[pair + 1] = id;
    }
    let last =
        posts.iter().map(|(_, p)| p.clone()).max_by_key(|p| p.rsplit(':').next().unwrap().parse::<u64>().unwrap());
    Seeded {
        users: names,
        tokens,
        posts: posts.into_iter().map(|(id, _)| id).collect(),
        conversations,
        last: last.unwrap(),
    }
}

/// One user's session until `until`.
async fn session(api: String, chat: String, seeded: Arc<Seeded>, me: usize, until: Instant, latencies: Latencies) {
    let http = reqwest::Client::new();
    let token = seeded.tokens[me].clone();
    let (mut socket, _) = tokio_tungstenite::connect_async(&chat).await.unwrap();
    socket.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.unwrap();
    let conversation = seeded.conversations[me].clone();
    if !conversation.is_empty() {
        socket
            .send(Message::text(json!({"type": "subscribe", "conversation": conversation}).to_string()))
            .await
            .unwrap();
    }
    let (mut sink, mut stream) = socket.split();
    let me_name = seeded.users[me].clone();
    let reader_latencies = latencies.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else { continue };
            let frame: Value = serde_json::from_str(&text).unwrap_or_default();
            if frame["type"] == "message" && frame["sender"] != me_name.as_str() {
                let sent: u128 = frame["body"].as_str().and_then(|b| b.parse().ok()).unwrap_or(0);
                let micros = (now_nanos().saturating_sub(sent) / 1000) as u64;
                record(&reader_latencies, "chat delivery", micros);
            }
        }
    });
    // Each activity's next time; a random phase first, so users do not move in step.
    let activities: [(&'static str, Duration); 5] = [
        ("GET /feed", Duration::from_secs(30)),
        ("GET /users/{id}", Duration::from_secs(15)),
        ("PUT /posts/{id}/like", Duration::from_secs(60)),
        ("chat send", Duration::from_secs(30)),
        ("POST /posts", Duration::from_secs(600)),
    ];
    let start = Instant::now();
    let mut next: Vec<Instant> = activities.iter().map(|(_, every)| start + every.mul_f64(fastrand::f64())).collect();
    let mut sent = 0_u64;
    loop {
        let (index, at) = next.iter().enumerate().min_by_key(|(_, at)| **at).map(|(i, at)| (i, *at)).unwrap();
        if at >= until {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let (kind, every) = activities[index];
        next[index] = Instant::now() + jittered(every);
        let t = Instant::now();
        let done = match kind {
            "GET /feed" => call(http.get(format!("{api}/api/v1/feed")).bearer_auth(&token)).await.is_some(),
            "GET /users/{id}" => {
                let other = &seeded.users[fastrand::usize(..seeded.users.len())];
                call(http.get(format!("{api}/api/v1/users/{other}")).bearer_auth(&token)).await.is_some()
            }
            "PUT /posts/{id}/like" => {
                let post = &seeded.posts[fastrand::usize(..seeded.posts.len())];
                call(http.put(format!("{api}/api/v1/posts/{post}/like")).bearer_auth(&token)).await.is_some()
            }
            "POST /posts" => {
                let body = json!({"text": format!("a post from {} at {}", seeded.users[me], now_nanos())});
                call(http.post(format!("{api}/api/v1/posts")).bearer_auth(&token).json(&body)).await.is_some()
            }
            _ if conversation.is_empty() => continue,
            _ => {
                sent += 1;
                let frame = json!({"type": "send", "conversation": conversation, "client_id": sent.to_string(),
                    "body": now_nanos().to_string()});
                sink.send(Message::text(frame.to_string())).await.is_ok()
            }
        };
        if done {
            record(&latencies, kind, t.elapsed().as_micros() as u64);
        } else {
            record(&latencies, "failed", 1);
        }
    }
    // Messages still in flight arrive within a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    reader.abort();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let users = arg("--users", 1000) as usize;
    let seconds = arg("--seconds", 60);
    let nats_url = std::env::var("PULSE_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let namespace = bench::throwaway_namespace("sizing");
    let pulse = Pulse::start(&nats_url, namespace.as_str());
    let keys = JwtKeys::new(&JwtConfig { secret: Secret::new(bench::SECRET), issuer: None, audience: None });
    let pid = pulse.child.id();
    println!(
        "sizing: {users} concurrent users for {seconds} s against `pulse all` (pid {pid}), namespace {}",
        namespace.as_str()
    );

    let t = Instant::now();
    let seeded = Arc::new(seed(&pulse.api, &keys, users).await);
    let http = reqwest::Client::new();
    let caught_up = http
        .get(format!("{}/api/v1/feed", pulse.api))
        .bearer_auth(&seeded.tokens[0])
        .header("Pulse-After", &seeded.last)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    println!(
        "seeded {users} users, {} follows, {} posts, {} conversations in {:.1} s ({})",
        users * 20,
        seeded.posts.len(),
        users / 2,
        t.elapsed().as_secs_f64(),
        caught_up.headers()["pulse-consistency"].to_str().unwrap()
    );
    // The seed's follows still fan out into feeds and notifications; measure
    // the users' load, not the seed's tail: wait until the process is quiet.
    let settle = Instant::now();
    let idle_cores = loop {
        let (before, _) = usage(pid);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cores = (usage(pid).0 - before) / 2.0;
        if cores < 0.05 || settle.elapsed() > Duration::from_secs(120) {
            break cores;
        }
    };
    let (_, rss_idle) = usage(pid);
    println!("quiet after {:.0} s: {idle_cores:.3} cores with nobody on", settle.elapsed().as_secs_f64());
    let latencies: Latencies = Arc::default();
    let until = Instant::now() + Duration::from_secs(seconds) + Duration::from_secs(2);
    let sessions: Vec<_> = (0..users)
        .map(|me| {
            let (api, chat, seeded, latencies) =
                (pulse.api.clone(), pulse.chat.clone(), seeded.clone(), latencies.clone());
            tokio::spawn(session(api, chat, seeded, me, until, latencies))
        })
        .collect();
    // Measure once every socket is open and every user is under way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = Instant::now();
    let (cpu_before, _) = usage(pid);
    let nats_before = nats_pid().map(|p| usage(p).0);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let elapsed = window.elapsed().as_secs_f64();
    let (cpu_after, rss_busy) = usage(pid);
    let nats_after = nats_pid().map(|p| usage(p).0);
    for session in sessions {
        session.await.unwrap();
    }

    println!("\n{:<24} {:>9} {:>10} {:>10}", "operation", "per s", "p50 ms", "p99 ms");
    for (kind, histogram) in latencies.lock().unwrap().iter() {
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        let rate = histogram.len() as f64 / (seconds as f64 + 2.0);
        println!("{kind:<24} {rate:>9.1} {:>10.2} {:>10.2}", ms(0.5), ms(0.99));
    }
    println!(
        "\npulse all: {:.3} cores on average, resident memory {rss_idle:.0} MiB before the sockets, {rss_busy:.0} MiB with {users} users",
        (cpu_after - cpu_before) / elapsed
    );
    match (nats_before, nats_after) {
        (Some(before), Some(after)) => println!("nats-server: {:.3} cores on average", (after - before) / elapsed),
        _ => println!("nats-server: not started by `make services`, not measured"),
    }
    drop(pulse);
    let client = async_nats::connect(&nats_url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    for context in events::Context::ALL {
        let _ = jetstream.delete_stream(namespace.stream(context)).await;
    }
    testkit::redis::forget_namespace(namespace.as_str()).await;
    println!("deleted the run's streams and Redis keys");
}
