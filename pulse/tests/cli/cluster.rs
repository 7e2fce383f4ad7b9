//! Pulse scaled out over a real three-node JetStream cluster: two command-API
//! processes and two projector processes (sharing one MongoDB read store, as
//! in production), streams with three replicas, commands sent to both APIs
//! at once with the same key, and the node leading the posts' stream killed
//! under load. Every acknowledged command must be in the stream once and in
//! the read model once, and commands must keep being accepted while two of
//! the three nodes run.

use crate::process::{start_with, token, until_healthy};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Writers posting at once; each alternates between the two APIs.
const WRITERS: usize = 6;

/// One acknowledged post: who, its id, and when the ack came.
struct Acked {
    author: String,
    id: String,
    position: String,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apis_and_two_projectors_on_a_cluster_losing_its_stream_leader_keep_each_acknowledged_command_once() {
    let mut cluster = testkit::cluster::NatsCluster::start();
    let seed = cluster.urls()[0].clone();
    let namespace = format!("t_cluster_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let database = namespace.clone();
    let mongo = testkit::read_stores::mongo_url();
    let env = [
        ("PULSE_NATS_URL", seed.as_str()),
        ("PULSE_NATS_REPLICAS", "3"),
        ("PULSE_MONGO_URL", mongo.as_str()),
        ("PULSE_MONGO_DATABASE", database.as_str()),
        // Off: the writers below send more posts a minute than a person would.
        ("PULSE_RATE_POSTS_PER_MINUTE", "0"),
        ("PULSE_RATE_USER_PER_MINUTE", "0"),
        ("PULSE_RATE_IP_PER_MINUTE", "0"),
    ];
    let apis = [start_with("command-api", &namespace, &env), start_with("command-api", &namespace, &env)];
    let projectors = [start_with("projectors", &namespace, &env), start_with("projectors", &namespace, &env)];
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    for running in apis.iter() {
        until_healthy(&http, &running.api).await;
    }
    for running in projectors.iter() {
        until_healthy(&http, &running.projectors).await;
    }
    let bases: Vec<String> = apis.iter().map(|r| r.api.clone()).collect();
    let authors: Vec<String> = (0..WRITERS).map(|i| format!("writer{i}")).collect();
    for (i, author) in authors.iter().enumerate() {
        command(&http, &bases[i % 2], author, "/api/v1/users/me", serde_json::json!({}), None).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let writers: Vec<_> = authors
        .iter()
        .map(|author| {
            tokio::spawn(write_posts(http.clone(), bases.clone(), author.clone(), stop.clone(), acked.clone()))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let leader = stream_leader(&seed, &namespace).await;
    let killed_at = Instant::now();
    cluster.kill(&leader);
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }

    let acked = acked.lock().await;
    let after_kill = acked.iter().filter(|a| a.at > killed_at + Duration::from_secs(1)).count();
    eprintln!(
        "{} posts acknowledged, {after_kill} of them more than 1 s after {leader} (the leader) died",
        acked.len()
    );
    assert!(after_kill > 0, "no command was accepted in the 5 s after {leader} died ({} before)", acked.len());
    let survivor = cluster.urls()[0].clone();
    every_acknowledged_post_is_in_the_stream_once(&survivor, &namespace, &acked).await;
    the_read_model_counts_each_post_once(&http, &bases, &acked).await;
    a_process_asking_for_one_replica_leaves_three(&survivor, &namespace).await;
    drop((apis, projectors));
    testkit::redis::forget_namespace(&namespace).await;
}

/// Posts in a loop until told to stop; each post is retried with the same
/// Idempotency-Key until acknowledged, and every other one is sent to both
/// APIs at once, so the two processes race to append the same command.
async fn write_posts(
    http: reqwest::Client,
    bases: Vec<String>,
    author: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
) {
    let mut n = 0_usize;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = format!("{author}-{n}");
        let body = serde_json::json!({"text": format!("post {n} of {author}")});
        let answer = if n.is_multiple_of(2) {
            let (one, two) = tokio::join!(
                command(&http, &bases[0], &author, "/api/v1/posts", body.clone(), Some(&key)),
                command(&http, &bases[1], &author, "/api/v1/posts", body, Some(&key)),
            );
            assert_eq!(one["id"], two["id"], "one key, one post, whichever API answered");
            one
        } else {
            command(&http, &bases[n % 2], &author, "/api/v1/posts", body, Some(&key)).await
        };
        let entry = Acked {
            author: author.clone(),
            id: answer["id"].as_str().unwrap().to_owned(),
            position: answer["position"].as_str().unwrap().to_owned(),
            at: Instant::now(),
        };
        acked.lock().await.push(entry);
    }
}

/// Sends a command until it is acknowledged (202), retrying with the same
/// key through refusals that say "try again" (503, 409) and lost
/// connections, for at most a minute.
async fn command(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    path: &str,
    body: serde_json::Value,
    key: Option<&str>,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut request = http.post(format!("{base}{path}")).bearer_auth(token(user)).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        match request.send().await {
            Ok(answer) if answer.status() == 202 => return answer.json().await.unwrap(),
            Ok(answer) => {
                let status = answer.status().as_u16();
                assert!(matches!(status, 503 | 409), "{path}: {status} {}", answer.text().await.unwrap_or_default());
            }
            Err(e) => assert!(!e.is_builder(), "{e}"),
        }
        assert!(Instant::now() < deadline, "{path} of {user} never acknowledged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The content stream's (the posts') info, as the server reports it.
async fn content_stream(url: &str, namespace: &str) -> async_nats::jetstream::stream::Info {
    let client = async_nats::connect(url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let name = format!("{}_CONTENT", namespace.to_ascii_uppercase());
    let mut stream = jetstream.get_stream(&name).await.unwrap();
    stream.info().await.unwrap().clone()
}

/// The node leading the content stream.
async fn stream_leader(url: &str, namespace: &str) -> String {
    let info = content_stream(url, namespace).await;
    assert_eq!(info.config.num_replicas, 3, "the content stream has three replicas");
    info.cluster.unwrap().leader.unwrap()
}

/// An operator's command started without `PULSE_NATS_REPLICAS` connects
/// with the default of one replica: the streams keep their three.
async fn a_process_asking_for_one_replica_leaves_three(url: &str, namespace: &str) {
    let config = events::StoreConfig {
        namespace: events::Namespace::parse(namespace).unwrap(),
        replicas: 1,
        ..events::StoreConfig::default()
    };
    events::EventStore::connect(url, config).await.unwrap();
    assert_eq!(content_stream(url, namespace).await.config.num_replicas, 3);
}

async fn every_acknowledged_post_is_in_the_stream_once(url: &str, namespace: &str, acked: &[Acked]) {
    // Three replicas, as the services run: connecting makes the streams
    // match the config, and one replica would shrink them.
    let config = events::StoreConfig {
        namespace: events::Namespace::parse(namespace).unwrap(),
        source: "/pulse/tests".to_owned(),
        replicas: 3,
        ..events::StoreConfig::default()
    };
    // The streams the dead node led elect new leaders within seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let store = loop {
        match events::EventStore::connect(url, config.clone()).await {
            Ok(store) => break store,
            Err(e) => assert!(Instant::now() < deadline, "the surviving nodes never served the streams: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let backlog =
        store.read_after(events::Context::Content, &["content.post.>".to_owned()], 0, 1_000_000).await.unwrap();
    assert!(backlog.complete);
    let mut per_post: BTreeMap<String, usize> = BTreeMap::new();
    for recorded in &backlog.events {
        *per_post.entry(recorded.envelope.subject.clone()).or_default() += 1;
    }
    let acked_ids: BTreeSet<&str> = acked.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(acked_ids.len(), acked.len(), "every key made a post of its own");
    for id in &acked_ids {
        assert_eq!(per_post.get(&format!("content.post.{id}")), Some(&1), "post {id} in the stream once");
    }
    assert_eq!(per_post.len(), acked_ids.len(), "no post the writers were not told about");
}

async fn the_read_model_counts_each_post_once(http: &reqwest::Client, bases: &[String], acked: &[Acked]) {
    let last = acked.iter().map(|a| a.position.clone()).max_by_key(|p| sequence(p)).unwrap();
    let mut per_author: BTreeMap<&str, u64> = BTreeMap::new();
    for a in acked {
        *per_author.entry(a.author.as_str()).or_default() += 1;
    }
    for (author, posts) in per_author {
        for base in bases {
            let profile = caught_up_profile(http, base, author, &last).await;
            assert_eq!(profile["stats"]["posts"], posts, "{author}'s posts counted once, read through {base}");
        }
    }
}

/// A profile read once the projections reached `position`; a read that gave
/// up waiting (`Pulse-Consistency: stale`) is asked again, for a minute.
async fn caught_up_profile(http: &reqwest::Client, base: &str, user: &str, position: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = http
            .get(format!("{base}/api/v1/users/{user}"))
            .bearer_auth(token(user))
            .header("Pulse-After", position)
            .send()
            .await
            .unwrap();
        if answer.headers()["pulse-consistency"] == "caught-up" {
            return answer.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "the projections never reached {position}");
    }
}

fn sequence(position: &str) -> u64 {
    position.rsplit(':').next().and_then(|s| s.parse().ok()).unwrap_or_default()
}
