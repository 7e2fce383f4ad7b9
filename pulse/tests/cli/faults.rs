//! The fault suite: `pulse all` under a steady load of posts while NATS
//! restarts on its store, Pulse itself is killed (SIGKILL) and started again
//! on its data dir, Redis is flushed, and the read store is deleted under a
//! killed Pulse; a talker sends chat messages all along, and listeners on
//! sockets resume after every disconnect. Every command carries an
//! `Idempotency-Key`; what each answer said is checked against the log
//! afterwards: a 2xx is in it exactly once, `unavailable` is not in it, and an
//! unknown outcome (`outcome-unknown`, `timed-out`, or no answer at all)
//! settles to exactly one event once retried with its key. The counts and
//! each fault's recovery time are printed (docs/operations.md has a run).

use crate::process::{start_with, token, until_healthy};
use events::catalog::{ChatEvent, ContentEvent, DomainEvent};
use events::{Context, EventStore};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use testkit::TestLog;
use testkit::cluster::NatsCluster;
use testkit::redis::PrivateRedis;

/// Writers, each posting as a user of its own.
const WRITERS: usize = 4;
/// Posts a second, all writers together.
const RATE: u64 = 200;
/// Chat messages a second, by the talker.
const MESSAGES: u64 = 20;
/// Who listens to the talker's group on sockets.
const LISTENERS: &[&str] = &["listener0", "listener1"];

/// What an answer said about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Appended,
    NotAppended,
    Unknown,
}

/// Every command's key and what its latest answer said.
#[derive(Default)]
struct Ledger {
    answers: Mutex<HashMap<String, Answer>>,
    first_answers: Mutex<HashMap<&'static str, usize>>,
    appended_at: Mutex<HashMap<String, Instant>>,
}

impl Ledger {
    /// What the command of `key`, sent at `sent`, was answered.
    fn record(&self, key: &str, answer: Answer, first: bool, sent: Instant) {
        self.answers.lock().unwrap().insert(key.to_owned(), answer);
        if first {
            let name = match answer {
                Answer::Appended => "2xx",
                Answer::NotAppended => "unavailable",
                Answer::Unknown => "unknown",
            };
            *self.first_answers.lock().unwrap().entry(name).or_default() += 1;
        }
        if answer == Answer::Appended {
            self.appended_at.lock().unwrap().entry(key.to_owned()).or_insert(sent);
        }
    }

    /// How long after `fault` the first command that was then appended was
    /// sent: how long the fault kept writes out.
    fn recovered_after(&self, fault: Instant) -> Option<Duration> {
        self.appended_at.lock().unwrap().values().filter(|at| **at > fault).min().map(|at| *at - fault)
    }
}

/// Who sends the command of `key`, where, and what: posts are `w<writer>-<n>`
/// by `writer<writer>`, chat messages `m-<n>` by the talker.
fn request_of(key: &str, conversation: &str) -> (String, String, serde_json::Value) {
    match key.strip_prefix("m-") {
        Some(_) => ("talker".into(), format!("/api/v1/conversations/{conversation}/messages"), json!({ "body": key })),
        None => {
            let writer = format!("writer{}", &key[1..key.find('-').unwrap()]);
            (writer, "/api/v1/posts".into(), json!({ "text": format!("post {key}") }))
        }
    }
}

/// Sends the command of `key` once; what the answer says.
async fn send(http: &reqwest::Client, base: &str, key: &str, conversation: &str) -> Answer {
    let (user, path, body) = request_of(key, conversation);
    let sent = http
        .post(format!("{base}{path}"))
        .bearer_auth(token(&user))
        .header("Idempotency-Key", key)
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let Ok(response) = sent else { return Answer::Unknown };
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match (status.as_u16(), body["type"].as_str()) {
        (202, _) => Answer::Appended,
        (503, Some("urn:pulse:problem:unavailable")) => Answer::NotAppended,
        (503, _) => Answer::Unknown,
        (status, kind) => panic!("{key}: an answer no fault explains: {status} {kind:?} {body}"),
    }
}

/// The posts and chat messages the log holds per client key (keys are scoped
/// `<user>:<key>@<aggregate>`).
async fn created_in_the_log(log: &EventStore) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (context, pattern) in [(Context::Content, "content.post.*"), (Context::Chat, "chat.message.*.*")] {
        let backlog = log.read_after(context, &[pattern.to_owned()], 0, 1_000_000).await.unwrap();
        assert!(backlog.complete);
        count_created(backlog.events, &mut counts);
    }
    counts
}

fn count_created(events: Vec<events::Recorded>, counts: &mut HashMap<String, usize>) {
    for recorded in events {
        let created = matches!(
            recorded.event,
            DomainEvent::Content(ContentEvent::PostCreated(_)) | DomainEvent::Chat(ChatEvent::MessageSent(_))
        );
        if created {
            let scoped = recorded.idempotency_key.expect("every post has a key");
            let key = scoped.split_once(':').and_then(|(_, rest)| rest.split_once('@')).map(|(key, _)| key);
            *counts.entry(key.expect("a scoped key").to_owned()).or_default() += 1;
        }
    }
}

/// What one listener's sockets delivered: each `sent` message's stream
/// sequence and id, in the order it came, and how often it had to resync.
#[derive(Default)]
struct Heard {
    messages: Vec<(u64, String)>,
    resyncs: usize,
    sockets: usize,
}

/// Listens to `conversation` as `user` over the gateway at `chat` (which
/// moves when Pulse restarts), resuming after every disconnect from the last
/// position delivered, until `stopped`.
async fn listen(
    chat: Arc<RwLock<String>>,
    user: String,
    conversation: String,
    heard: Arc<Mutex<Heard>>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut since: Option<serde_json::Value> = None;
    while !*stopped.borrow() {
        let url = format!("{}/ws", chat.read().unwrap().replacen("http://", "ws://", 1));
        let Ok(Ok((mut socket, _))) =
            tokio::time::timeout(Duration::from_secs(2), tokio_tungstenite::connect_async(&url)).await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        heard.lock().unwrap().sockets += 1;
        let auth = json!({ "type": "auth", "token": token(&user) }).to_string();
        let mut subscribe = json!({ "type": "subscribe", "conversation": conversation });
        if let Some(since) = &since {
            subscribe["since"] = since.clone();
        }
        if socket.send(Message::text(auth)).await.is_err()
            || socket.send(Message::text(subscribe.to_string())).await.is_err()
        {
            continue;
        }
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(Duration::from_secs(5), socket.next()) => next,
                _ = stopped.changed() => return,
            };
            let Ok(Some(Ok(Message::Text(text)))) = next else { break };
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let position = json!({ "position": frame["position"], "epoch": frame["epoch"] });
            match frame["type"].as_str() {
                Some("message") => {
                    if frame["change"] == "sent" {
                        let sequence = frame["position"]
                            .as_str()
                            .and_then(|p| p.strip_prefix("chat:"))
                            .and_then(|s| s.parse().ok());
                        let id = frame["message"].as_str().unwrap_or_default().to_owned();
                        heard.lock().unwrap().messages.push((sequence.unwrap_or(0), id));
                    }
                    since = Some(position);
                }
                Some("receipt") => since = Some(position),
                Some("subscribed") if since.is_none() => since = Some(position),
                Some("resync") => {
                    heard.lock().unwrap().resyncs += 1;
                    break;
                }
                _ => {}
            }
        }
    }
}

/// How many posts `user`'s home feed holds, page by page.
async fn feed_length(http: &reqwest::Client, base: &str, user: &str) -> usize {
    let (mut held, mut cursor) = (0, None::<String>);
    loop {
        let mut url = format!("{base}/api/v1/feed?limit=100");
        if let Some(cursor) = &cursor {
            url += &format!("&cursor={cursor}");
        }
        let page = http.get(url).bearer_auth(token(user)).send().await.unwrap();
        let page: serde_json::Value = page.json().await.unwrap_or_default();
        held += page["items"].as_array().map_or(0, Vec::len);
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return held,
        }
    }
}

/// The environment of the suite's `pulse all`, for an operator command.
fn env_with<'a>(namespace: &'a str, env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = env.to_vec();
    all.push(("PULSE_NAMESPACE", namespace));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_every_answer_is_true_and_no_post_is_lost_or_doubled() {
    let mut nats = NatsCluster::start_with(1, "");
    let redis = PrivateRedis::start();
    let nats_url = nats.urls()[0].clone();
    let log = TestLog::on_server(&nats_url, Duration::from_secs(2)).await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let env = [
        ("PULSE_NATS_URL", nats_url.as_str()),
        ("PULSE_REDIS_URL", redis.url.as_str()),
        ("PULSE_DATA_DIR", data_dir.as_str()),
        ("PULSE_NATS_TIMEOUT_MS", "1000"),
        ("PULSE_REQUEST_TIMEOUT_MS", "3000"),
        // The load is the test's own: no limit should answer for a fault.
        ("PULSE_RATE_POSTS_PER_MINUTE", "0"),
        ("PULSE_RATE_MESSAGES_PER_MINUTE", "0"),
        ("PULSE_RATE_USER_PER_MINUTE", "0"),
        ("PULSE_RATE_IP_PER_MINUTE", "0"),
    ];
    let namespace = log.namespace.as_str().to_owned();
    let mut pulse = start_with("all", &namespace, &env);
    let http = reqwest::Client::new();
    until_healthy(&http, &pulse.api).await;
    let people = (0..WRITERS).map(|w| format!("writer{w}")).chain(["talker".into()]);
    for person in people.chain(LISTENERS.iter().map(|l| (*l).to_owned())) {
        let registered = http
            .post(format!("{}/api/v1/users/me", pulse.api))
            .bearer_auth(token(&person))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 202);
    }
    let group = json!({ "title": "the faults", "members": LISTENERS });
    let started = http.post(format!("{}/api/v1/conversations", pulse.api)).bearer_auth(token("talker")).json(&group);
    let started: serde_json::Value = started.send().await.unwrap().json().await.unwrap();
    let conversation = started["id"].as_str().expect("a conversation").to_owned();

    let base = Arc::new(RwLock::new(pulse.api.clone()));
    let chat = Arc::new(RwLock::new(pulse.chat.clone()));
    let ledger = Arc::new(Ledger::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (stop_listening, listening) = tokio::sync::watch::channel(false);
    let mut listeners = Vec::new();
    for listener in LISTENERS {
        let heard = Arc::new(Mutex::new(Heard::default()));
        let (chat, conversation, listening) = (chat.clone(), conversation.clone(), listening.clone());
        tokio::spawn(listen(chat, (*listener).to_owned(), conversation, heard.clone(), listening));
        listeners.push((*listener, heard));
    }
    while listeners.iter().any(|(_, heard)| heard.lock().unwrap().sockets == 0) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Subscribed before the first message (a socket's first answers come in order).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut writers = Vec::new();
    let senders = (0..WRITERS).map(|w| (format!("w{w}"), RATE / WRITERS as u64)).chain([("m".to_owned(), MESSAGES)]);
    for (prefix, rate) in senders {
        let (base, ledger, http, stopped) = (base.clone(), ledger.clone(), http.clone(), stopped.clone());
        let conversation = conversation.clone();
        writers.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            let mut n = 0;
            while !*stopped.borrow() {
                tick.tick().await;
                let key = format!("{prefix}-{n}");
                let url = base.read().unwrap().clone();
                let sent = Instant::now();
                ledger.record(&key, send(&http, &url, &key, &conversation).await, true, sent);
                n += 1;
            }
        }));
    }

    let mut recovery = Vec::new();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fault = Instant::now();
    nats.kill("n1");
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.restart("n1");
    tokio::time::sleep(Duration::from_secs(4)).await;
    recovery.push(("nats-server killed, restarted on its store 1 s later", ledger.recovered_after(fault)));

    let fault = Instant::now();
    let _ = pulse.child.kill();
    let _ = pulse.child.wait();
    pulse = start_with("all", &namespace, &env);
    *base.write().unwrap() = pulse.api.clone();
    *chat.write().unwrap() = pulse.chat.clone();
    tokio::time::sleep(Duration::from_secs(4)).await;
    recovery.push(("pulse all killed (SIGKILL) and started again", ledger.recovered_after(fault)));

    let flushed = Instant::now();
    let fault = flushed;
    let mut connection = redis::Client::open(redis.url.as_str()).unwrap().get_multiplexed_async_connection().await;
    let _: () = redis::cmd("FLUSHALL").query_async(connection.as_mut().unwrap()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    recovery.push(("Redis flushed (FLUSHALL)", ledger.recovered_after(fault)));

    let fault = Instant::now();
    let _ = pulse.child.kill();
    let _ = pulse.child.wait();
    for file in ["read.sqlite", "read.sqlite-wal", "read.sqlite-shm"] {
        let _ = std::fs::remove_file(data.path().join(file));
    }
    pulse = start_with("all", &namespace, &env);
    *base.write().unwrap() = pulse.api.clone();
    *chat.write().unwrap() = pulse.chat.clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    recovery.push(("the read store deleted under a killed pulse all", ledger.recovered_after(fault)));
    stop.send(true).unwrap();
    for writer in writers {
        writer.await.unwrap();
    }

    // Settle every unknown outcome the way a client must: retry with its key.
    let unknown: Vec<String> = {
        let answers = ledger.answers.lock().unwrap();
        answers.iter().filter(|(_, a)| **a == Answer::Unknown).map(|(k, _)| k.clone()).collect()
    };
    for key in &unknown {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let sent = Instant::now();
            let answer = send(&http, &pulse.api, key, &conversation).await;
            ledger.record(key, answer, false, sent);
            if answer != Answer::Unknown {
                break;
            }
            assert!(Instant::now() < deadline, "{key} never settled");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let in_the_log = created_in_the_log(&log.store).await;
    let answers = ledger.answers.lock().unwrap().clone();
    let first = ledger.first_answers.lock().unwrap().clone();
    let count = |answer| answers.values().filter(|a| **a == answer).count();
    let once = |answer| answers.iter().filter(|(k, a)| **a == answer && in_the_log.get(*k) == Some(&1)).count();
    let lost = answers.iter().filter(|(k, a)| **a == Answer::Appended && !in_the_log.contains_key(*k)).count();
    let untrue = answers.iter().filter(|(k, a)| **a == Answer::NotAppended && in_the_log.contains_key(*k)).count();
    let doubled = in_the_log.values().filter(|n| **n > 1).count();
    let strangers = in_the_log.keys().filter(|k| !answers.contains_key(*k)).count();
    let messages = answers.keys().filter(|k| k.starts_with("m-")).count();
    println!(
        "fault suite: {} commands: posts at {RATE}/s by {WRITERS} writers, {messages} chat messages at {MESSAGES}/s",
        answers.len()
    );
    println!("  first answers: {first:?}; unknown outcomes retried with their key: {}", unknown.len());
    println!(
        "  answered 2xx in the end: {}, in the log exactly once: {}",
        count(Answer::Appended),
        once(Answer::Appended)
    );
    println!("  answered unavailable: {}, in the log: {untrue}", count(Answer::NotAppended));
    println!("  lost: {lost}, doubled: {doubled}, in the log with no command: {strangers}");
    for (fault, after) in &recovery {
        println!("  recovery, {fault}: {after:?}");
    }

    // The flush took every feed. writer0's, read now, holds posts appended
    // before it: it was rebuilt from the read models, not only fed anew.
    let after_the_flush = {
        let appended = ledger.appended_at.lock().unwrap();
        appended.iter().filter(|(k, at)| k.starts_with("w0-") && **at > flushed).count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let held = feed_length(&http, &pulse.api, "writer0").await;
        if held > after_the_flush {
            break held;
        }
        assert!(Instant::now() < deadline, "writer0's feed holds {held} posts, all from after FLUSHALL");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "  feeds rebuilt after FLUSHALL: writer0's holds {held} posts, {after_the_flush} of them appended after it"
    );

    // Every listener heard every message the log holds, once, in the log's
    // order, across every disconnect, without a resync.
    let patterns = [format!("chat.message.{conversation}.*")];
    let backlog = log.store.read_after(Context::Chat, &patterns, 0, 100_000).await.unwrap();
    let sent: Vec<(u64, String)> = backlog
        .events
        .iter()
        .filter_map(|r| match &r.event {
            DomainEvent::Chat(ChatEvent::MessageSent(m)) => Some((r.position.sequence, m.message.to_string())),
            _ => None,
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    for (listener, heard) in &listeners {
        while heard.lock().unwrap().messages.len() < sent.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let heard = heard.lock().unwrap();
        assert_eq!(heard.resyncs, 0, "{listener} had to resync");
        assert!(
            heard.messages == sent,
            "{listener} heard {} messages, the log holds {} (a gap or a duplicate)",
            heard.messages.len(),
            sent.len()
        );
        println!(
            "  {listener}: {} messages over {} sockets, no gap, no duplicate, no resync",
            sent.len(),
            heard.sockets
        );
    }
    stop_listening.send(true).unwrap();

    // Every read model, refilled from the log after the store was deleted,
    // is what a fresh build from the log makes.
    let _ = pulse.child.kill();
    let _ = pulse.child.wait();
    for projection in ["profiles", "posts", "chat", "calendar", "inbox"] {
        let verified = crate::pulse(&["projections", "verify", projection], &env_with(&namespace, &env));
        assert!(verified.status.success(), "{projection}: {}", crate::stdout(&verified));
    }
    println!("  read models after the faults: verify clean (profiles, posts, chat, calendar, inbox)");

    assert_eq!((lost, untrue, doubled, strangers), (0, 0, 0, 0), "0 lost, 0 untrue, 0 doubled");
    assert_eq!(count(Answer::Unknown), 0, "every unknown outcome settled");
    assert_eq!(once(Answer::Appended), count(Answer::Appended));
    for (fault, after) in &recovery {
        assert!(after.is_some(), "no post was appended after: {fault}");
    }
}
