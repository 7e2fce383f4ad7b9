//! The chat gateway's speed and memory, as `pulse chat-gateway` runs it (the
//! release binary, a process of its own, beside NATS and Redis):
//!
//! - fan-out: N sockets subscribed to one busy group; deliveries per second
//!   and p99 from send to delivery, against nats-server's own WebSocket
//!   listener delivering the same messages (the same `MessageSent` events,
//!   appended the same way) to the same number of clients subscribed to the
//!   conversation's subjects, in alternating pairs;
//! - pairs: 1,000 users chatting in pairs over their sockets, one message a
//!   second each; p99 from send to delivery;
//! - memory: resident memory of the gateway per idle authenticated socket at
//!   10,000 sockets.
//!
//! `cargo build --release -p pulse && cargo run --release -p chat-gateway
//! --example chat_bench [-- --only fanout|pairs|memory]` (what `make bench`
//! runs). It starts a nats-server of its own (JetStream and a WebSocket
//! listener, from `PULSE_BENCH_NATS_SERVER`, default the one `make services`
//! installs) and runs everything against it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../command-api/examples/bench/mod.rs"]
mod bench;

use auth::{JwtConfig, JwtKeys, Secret};
use bench::{Comparison, Run};
use commands::{CommandContext, Commands};
use domain::chat::{Conversation, ConversationCommand, GroupTitle, MessageBody};
use events::ids::{ConversationId, UserId};
use events::{Aggregate, EventStore, Metadata, StoreConfig};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const FANOUT_CLIENTS: usize = 200;
const FANOUT_MESSAGES: usize = 500;
const PAIRS: usize = 3;
const PAIR_USERS: usize = 1_000;
const PAIR_SECONDS: u64 = 10;
const IDLE_SOCKETS: usize = 10_000;

#[tokio::main]
async fn main() {
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    let wants = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let server = NatsServer::start();
    let nats_url = server.nats.clone();
    let namespace = bench::throwaway_namespace("chatbench");
    let config = StoreConfig { namespace: namespace.clone(), ..StoreConfig::default() };
    let log = EventStore::connect(&nats_url, config).await.unwrap();
    let commands = Commands::new(log.clone(), commands::Settings::default());
    let keys = JwtKeys::new(&JwtConfig { secret: Secret::new(bench::SECRET), issuer: None, audience: None });
    let mut figures = Vec::new();
    if wants("fanout") {
        figures.push(fanout(&server, namespace.as_str(), &commands, &keys).await);
    }
    if wants("pairs") {
        figures.push(pairs(&nats_url, namespace.as_str(), &commands, &keys).await);
    }
    if wants("memory") {
        figures.push(memory(&nats_url, namespace.as_str(), &keys).await);
    }
    println!("\nfigure                                   measured                       goal           holds");
    for (name, measured, goal, holds) in figures {
        println!("{name:<40} {measured:<30} {goal:<14} {}", if holds { "yes" } else { "NO" });
    }
    drop(server);
    println!("stopped the bench's nats-server and deleted its data");
}

type Figure = (String, String, String, bool);

/// `pulse chat-gateway` as a process, and where it listens.
struct GatewayProcess {
    child: Child,
    url: String,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GatewayProcess {
    fn start(nats_url: &str, namespace: &str) -> Self {
        // The release `pulse` beside this example's binary (target/release/examples/..).
        let exe = std::env::current_exe().unwrap();
        let pulse = exe.parent().and_then(|d| d.parent()).unwrap().join("pulse");
        assert!(pulse.exists(), "build it first: cargo build --release -p pulse");
        let mut child = Command::new(pulse)
            .arg("chat-gateway")
            .env("PULSE_NATS_URL", nats_url)
            .env("PULSE_NAMESPACE", namespace)
            .env("PULSE_CHAT_GATEWAY_ADDR", "127.0.0.1:0")
            .env("PULSE_JWT_SECRET", bench::SECRET)
            .env("PULSE_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,pulse=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let address = loop {
            let line = lines.next().expect("the gateway logged where it listens").unwrap();
            let entry: Value = serde_json::from_str(&line).unwrap_or_default();
            if entry["message"] == "chat gateway listening" {
                break entry["address"].as_str().unwrap().to_owned();
            }
        };
        // Keep reading, so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url: format!("ws://{address}/ws") }
    }

    /// Resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// Microseconds since the send time a frame's body carries.
fn latency_since(body: &str) -> Option<u64> {
    let sent: u128 = body.parse().ok()?;
    u64::try_from(now_nanos().saturating_sub(sent) / 1_000).ok()
}

async fn group(commands: &Commands, members: &[UserId]) -> ConversationId {
    let conversation = ConversationId(uuid::Uuid::now_v7());
    let command = ConversationCommand::StartGroup {
        conversation,
        by: members[0].clone(),
        members: members[1..].to_vec(),
        title: GroupTitle::parse("bench").unwrap(),
        refused: vec![],
    };
    let context = CommandContext::new(Metadata::new(Some(members[0].clone())), None);
    commands.create::<Conversation>(&context, &Aggregate::conversation(conversation), command).await.unwrap();
    conversation
}

async fn gateway_socket(url: &str, token: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.unwrap();
    expect(&mut socket, "ready").await;
    socket
}

async fn expect(socket: &mut Socket, kind: &str) -> Value {
    loop {
        if let Message::Text(text) = socket.next().await.unwrap().unwrap() {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == kind {
                return frame;
            }
        }
    }
}

/// Per client, `expected` message frames: their latencies.
async fn receive_gateway(mut socket: Socket, expected: usize) -> Histogram<u64> {
    let mut latency = Histogram::<u64>::new(3).unwrap();
    while latency.len() < expected as u64 {
        let Some(Ok(Message::Text(text))) = socket.next().await else { break };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["type"] == "message"
            && let Some(micros) = frame["body"].as_str().and_then(latency_since)
        {
            latency.record(micros.max(1)).unwrap();
        }
    }
    latency
}

fn run_of(latency: &Histogram<u64>, deliveries: usize, took: Duration, expected: usize) -> Run {
    Run {
        rate: deliveries as f64 / took.as_secs_f64(),
        p50: latency.value_at_quantile(0.5) as f64,
        p99: latency.value_at_quantile(0.99) as f64,
        failures: expected - deliveries,
    }
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Histogram<u64>>>, started: Instant, expected: usize) -> Run {
    let mut all = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        all.add(task.await.unwrap()).unwrap();
    }
    let took = started.elapsed();
    run_of(&all, all.len() as usize, took, expected)
}

async fn fanout(server: &NatsServer, namespace: &str, commands: &Commands, keys: &JwtKeys) -> Figure {
    let gateway = GatewayProcess::start(&server.nats, namespace);
    let sender = UserId::parse("sender").unwrap();
    let members: Vec<UserId> = std::iter::once(sender.clone())
        .chain((0..FANOUT_CLIENTS).map(|i| UserId::parse(&format!("r{i}")).unwrap()))
        .collect();
    let conversation = group(commands, &members).await;
    let mut pairs = Vec::new();
    for pair in 0..5 {
        let subjects = format!("{namespace}.chat.message.{conversation}.*");
        let base = server.fanout(&subjects, commands, &members[0], conversation).await;
        let measured = gateway_fanout(&gateway, commands, keys, &members, conversation).await;
        println!("pair {pair}: nats-server websocket {:.0}/s, gateway {:.0}/s", base.rate, measured.rate);
        pairs.push((base, measured));
    }
    let comparison = Comparison {
        base: "nats-server websocket",
        measured: "chat gateway",
        min_throughput: Some(0.7),
        max_p50: None,
        max_p99: None,
    };
    let title = format!("fan-out, {FANOUT_CLIENTS} sockets, {FANOUT_MESSAGES} messages");
    let medians = bench::report(&title, &comparison, pairs).unwrap();
    let measured = format!("{:.2} of nats ws, p99 {:.2}x", medians.throughput, medians.p99);
    ("fan-out deliveries/s vs nats websocket".into(), measured, ">= 0.70".into(), medians.throughput >= 0.7)
}

async fn gateway_fanout(
    gateway: &GatewayProcess,
    commands: &Commands,
    keys: &JwtKeys,
    members: &[UserId],
    conversation: ConversationId,
) -> Run {
    let mut sockets = Vec::new();
    for member in &members[1..] {
        let mut socket = gateway_socket(&gateway.url, &bench::token(keys, member.as_str())).await;
        let subscribe = json!({"type": "subscribe", "conversation": conversation.to_string()});
        socket.send(Message::text(subscribe.to_string())).await.unwrap();
        expect(&mut socket, "subscribed").await;
        sockets.push(socket);
    }
    let tasks: Vec<_> = sockets.into_iter().map(|s| tokio::spawn(receive_gateway(s, FANOUT_MESSAGES))).collect();
    let started = Instant::now();
    send_messages(commands, &members[0], conversation).await;
    collect(tasks, started, FANOUT_CLIENTS * FANOUT_MESSAGES).await
}

/// The busy group's messages, appended as the gateway appends them, from 4
/// senders at once; each body is its send time.
async fn send_messages(commands: &Commands, sender: &UserId, conversation: ConversationId) {
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (commands, sender) = (commands.clone(), sender.clone());
            tokio::spawn(async move {
                for _ in 0..FANOUT_MESSAGES / 4 {
                    let body = MessageBody::parse(&now_nanos().to_string()).unwrap();
                    let context = CommandContext::new(Metadata::new(Some(sender.clone())), None);
                    let send = commands::chat::Send { conversation, sender: sender.clone(), body, reply_to: None };
                    commands::chat::send(&commands, &context, send).await.unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
}

/// The bench's own nats-server: JetStream, and a WebSocket listener.
struct NatsServer {
    child: Child,
    nats: String,
    websocket: String,
    _dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl NatsServer {
    fn start() -> Self {
        let server = std::env::var("PULSE_BENCH_NATS_SERVER").unwrap_or_else(|_| ".pulse/venv/bin/nats-server".into());
        let dir = tempfile::tempdir().unwrap();
        let (port, ws) = (free_port(), free_port());
        let config = dir.path().join("nats.conf");
        let text = format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: {:?} }}\nwebsocket {{ listen: \"127.0.0.1:{ws}\", no_tls: true }}\n",
            dir.path().join("js")
        );
        std::fs::write(&config, text).unwrap();
        let child = Command::new(&server)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {server} (make services installs it): {e}"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", ws)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, nats: format!("nats://127.0.0.1:{port}"), websocket: format!("ws://127.0.0.1:{ws}"), _dir: dir }
    }

    /// The same messages as the gateway's run, to clients of this server's
    /// WebSocket listener subscribed to the conversation's subjects.
    async fn fanout(&self, subjects: &str, commands: &Commands, sender: &UserId, conversation: ConversationId) -> Run {
        let mut tasks = Vec::new();
        for _ in 0..FANOUT_CLIENTS {
            let (mut socket, _) = tokio_tungstenite::connect_async(&self.websocket).await.unwrap();
            let hello = format!("CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\nSUB {subjects} 1\r\nPING\r\n");
            socket.send(Message::binary(hello.as_bytes().to_vec())).await.unwrap();
            let mut reader = NatsReader::default();
            // The PONG says the subscription is in place.
            while !reader.read(&mut socket).await.iter().any(|l| l == "PONG") {}
            tasks.push(tokio::spawn(receive_nats(socket, reader, FANOUT_MESSAGES)));
        }
        let started = Instant::now();
        send_messages(commands, sender, conversation).await;
        collect(tasks, started, FANOUT_CLIENTS * FANOUT_MESSAGES).await
    }
}

/// The NATS protocol's lines and payloads out of WebSocket frames, which
/// may split them anywhere.
#[derive(Default)]
struct NatsReader {
    buffer: Vec<u8>,
}

impl NatsReader {
    /// Reads one frame; the complete control lines and payloads it finished.
    async fn read(&mut self, socket: &mut Socket) -> Vec<String> {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => self.buffer.extend_from_slice(&bytes),
            Some(Ok(Message::Text(text))) => self.buffer.extend_from_slice(text.as_bytes()),
            Some(Ok(_)) => {}
            _ => return vec!["EOF".into()],
        }
        let mut out = Vec::new();
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
            if let Some(size) =
                line.strip_prefix("MSG ").and_then(|rest| rest.rsplit(' ').next()?.parse::<usize>().ok())
            {
                if self.buffer.len() < end + 2 + size + 2 {
                    break; // the payload is still on its way
                }
                out.push(String::from_utf8_lossy(&self.buffer[end + 2..end + 2 + size]).into_owned());
                self.buffer.drain(..end + 2 + size + 2);
            } else {
                out.push(line);
                self.buffer.drain(..end + 2);
            }
        }
        out
    }
}

async fn receive_nats(mut socket: Socket, mut reader: NatsReader, expected: usize) -> Histogram<u64> {
    let mut latency = Histogram::<u64>::new(3).unwrap();
    while latency.len() < expected as u64 {
        for item in reader.read(&mut socket).await {
            if item == "EOF" {
                return latency;
            }
            if item == "PING" {
                socket.send(Message::binary(b"PONG\r\n".to_vec())).await.unwrap();
            } else if let Ok(event) = serde_json::from_str::<Value>(&item)
                && let Some(micros) = event["body"].as_str().and_then(latency_since)
            {
                latency.record(micros.max(1)).unwrap();
            }
        }
    }
    latency
}

async fn pairs(nats_url: &str, namespace: &str, commands: &Commands, keys: &JwtKeys) -> Figure {
    let gateway = GatewayProcess::start(nats_url, namespace);
    let mut p99s = Vec::new();
    for run in 0..PAIRS {
        let run_started = Instant::now();
        let mut ready = Vec::new();
        for pair in 0..PAIR_USERS / 2 {
            let users = [format!("p{run}a{pair}"), format!("p{run}b{pair}")].map(|u| UserId::parse(&u).unwrap());
            let conversation = group(commands, &users).await;
            for user in &users {
                let mut socket = gateway_socket(&gateway.url, &bench::token(keys, user.as_str())).await;
                let subscribe = json!({"type": "subscribe", "conversation": conversation.to_string()});
                socket.send(Message::text(subscribe.to_string())).await.unwrap();
                expect(&mut socket, "subscribed").await;
                ready.push((socket, conversation, user.clone()));
            }
        }
        // Everyone subscribed before anyone talks.
        let tasks: Vec<_> = ready.into_iter().map(|(s, c, u)| tokio::spawn(chat(s, c, u))).collect();
        let mut all = Histogram::<u64>::new(3).unwrap();
        for task in tasks {
            all.add(task.await.unwrap()).unwrap();
        }
        let p99 = all.value_at_quantile(0.99) as f64 / 1000.0;
        println!(
            "pairs run {run}: {PAIR_USERS} users, {} deliveries, p50 {:.2} ms, p99 {p99:.2} ms ({:.0} s with set-up)",
            all.len(),
            all.value_at_quantile(0.5) as f64 / 1000.0,
            run_started.elapsed().as_secs_f64()
        );
        p99s.push(p99);
    }
    p99s.sort_by(f64::total_cmp);
    let p99 = p99s[p99s.len() / 2];
    let title = format!("{PAIR_USERS} users in pairs, p99 send to deliver");
    (title, format!("{p99:.2} ms (median of {PAIRS} runs)"), "< 10 ms".into(), p99 < 10.0)
}

/// One user of a pair: a message a second for `PAIR_SECONDS`, starting at a
/// random moment of the first second; the latencies of the partner's.
async fn chat(socket: Socket, conversation: ConversationId, user: UserId) -> Histogram<u64> {
    let (mut write, mut read) = socket.split();
    let offset = Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 4);
    let writer = tokio::spawn(async move {
        tokio::time::sleep(offset).await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        for i in 0..PAIR_SECONDS {
            tick.tick().await;
            let frame = json!({"type": "send", "conversation": conversation.to_string(), "client_id": format!("m{i}"),
                "body": now_nanos().to_string()});
            write.send(Message::text(frame.to_string())).await.unwrap();
        }
        write
    });
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let me = user.to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(PAIR_SECONDS + 5);
    while latency.len() < PAIR_SECONDS {
        let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout_at(deadline, read.next()).await else { break };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["type"] == "message"
            && frame["sender"] != me.as_str()
            && let Some(micros) = frame["body"].as_str().and_then(latency_since)
        {
            latency.record(micros.max(1)).unwrap();
        }
    }
    // Both halves dropped: the socket closes.
    drop((writer.await, read));
    latency
}

async fn memory(nats_url: &str, namespace: &str, keys: &JwtKeys) -> Figure {
    let gateway = GatewayProcess::start(nats_url, namespace);
    let open = |from: usize, count: usize| {
        let url = gateway.url.clone();
        let tokens: Vec<String> = (from..from + count).map(|i| bench::token(keys, &format!("idle{i}"))).collect();
        async move {
            let tokens = Arc::new(tokens);
            let mut sockets = Vec::new();
            for chunk in tokens.chunks(100) {
                let opened = futures::future::join_all(chunk.iter().map(|t| gateway_socket(&url, t))).await;
                sockets.extend(opened);
            }
            sockets
        }
    };
    // Warm up: the runtime, the allocator, the first buffers.
    let warm = open(0, 200).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = gateway.rss_kib();
    let idle = open(200, IDLE_SOCKETS).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = gateway.rss_kib();
    let per = (after.saturating_sub(before)) as f64 / IDLE_SOCKETS as f64;
    println!(
        "memory: {before} KiB with {} sockets, {after} KiB with {} more: {per:.1} KiB per idle authenticated socket",
        warm.len(),
        idle.len()
    );
    drop((warm, idle));
    let title = format!("resident memory per idle socket at {IDLE_SOCKETS}");
    (title, format!("{per:.1} KiB"), "<= 20 KiB".into(), per <= 20.0)
}
