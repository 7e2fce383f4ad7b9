//! `pulse command-api`, `pulse projectors`, `pulse chat-gateway` and `pulse all`
//! as processes.

use crate::process::{start, start_with, token, token_with_email, until_healthy};
use std::time::{Duration, Instant};

#[tokio::test]
async fn each_way_to_start_the_api_serves_health_ready_and_metrics() {
    let log = testkit::TestLog::new().await;
    for subcommand in ["command-api", "all"] {
        let running = start(subcommand, log.namespace.as_str());
        let base = running.api.clone();
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

#[tokio::test]
async fn the_projectors_serve_health_ready_and_lag_metrics_alone_and_in_pulse_all() {
    let log = testkit::TestLog::new().await;
    let ana = events::ids::UserId::parse("ana").unwrap();
    let handle = events::ids::Handle::parse("ana").unwrap();
    let registered =
        events::catalog::users::UserRegistered { user: ana.clone(), handle, display_name: "Ana".into(), email: None };
    let metadata = events::Metadata::new(None);
    log.store.append(&events::Aggregate::user(&ana), events::Expected::Any, registered, &metadata, None).await.unwrap();
    for subcommand in ["projectors", "all"] {
        let running = start(subcommand, log.namespace.as_str());
        let base = running.projectors.clone();
        let http = reqwest::Client::new();
        let health = until_healthy(&http, &base).await;
        assert_eq!(health["service"], "projectors", "{subcommand}");
        assert_eq!(http.get(format!("{base}/ready")).send().await.unwrap().status(), 200);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Each stream's gauges appear with its first batch.
            let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
            let applied = r#"pulse_projection_events_applied_total{projection="profiles",context="users"} 1"#;
            let no_lag = r#"pulse_projection_lag_events{projection="profiles",context="users"} 0"#;
            if metrics.contains(applied) && metrics.contains(no_lag) {
                break;
            }
            assert!(Instant::now() < deadline, "{subcommand}: no batch applied: {metrics}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn the_chat_gateway_serves_probes_and_sockets_alone_and_in_pulse_all() {
    use futures::{SinkExt, StreamExt};
    let log = testkit::TestLog::new().await;
    for subcommand in ["chat-gateway", "all"] {
        let running = start(subcommand, log.namespace.as_str());
        let base = running.chat.clone();
        let http = reqwest::Client::new();
        let health = until_healthy(&http, &base).await;
        assert_eq!(health["service"], "chat-gateway", "{subcommand}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/ready")).send().await.unwrap().status() != 200 {
            assert!(Instant::now() < deadline, "{subcommand}: never ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("pulse_chat_connections"), "{metrics}");
        let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let auth = serde_json::json!({"type": "auth", "token": token("ana")}).to_string();
        socket.send(tokio_tungstenite::tungstenite::Message::text(auth)).await.unwrap();
        let ready = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        let ready: serde_json::Value = serde_json::from_str(ready.to_text().unwrap()).unwrap();
        assert_eq!((ready["type"].as_str(), ready["user"].as_str()), (Some("ready"), Some("ana")), "{subcommand}");
    }
}

#[tokio::test]
async fn the_notifier_serves_probes_and_notifies_alone_and_in_pulse_all() {
    let log = testkit::TestLog::new().await;
    for (n, subcommand) in ["notifier", "all"].into_iter().enumerate() {
        let running = start(subcommand, log.namespace.as_str());
        let base = running.notifier.clone();
        let http = reqwest::Client::new();
        let health = until_healthy(&http, &base).await;
        assert_eq!(health["service"], "notifier", "{subcommand}");
        let ready = http.get(format!("{base}/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let ready: serde_json::Value = ready.json().await.unwrap();
        let email = ready["details"]["channels"]["email"].as_str().unwrap_or_default().to_owned();
        assert!(email.starts_with("not configured"), "email off is visible: {ready}");
        let push = ready["details"]["channels"]["push"].as_str().unwrap_or_default().to_owned();
        assert!(push.starts_with("not configured"), "push off is visible: {ready}");
        // A new follower and followee each time: a second follow of the same
        // user within the hour would join the first one's group.
        let (follower, followee) = [("ana", "ben"), ("cy", "dee")][n];
        let follower = events::ids::UserId::parse(follower).unwrap();
        let followee = events::ids::UserId::parse(followee).unwrap();
        let aggregate = events::Aggregate::follow(&follower, &followee);
        let followed = events::catalog::users::Followed { follower, followee };
        log.store
            .append(&aggregate, events::Expected::Any, followed, &events::Metadata::new(None), None)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let patterns = ["notifications.notification.*".to_owned()];
        loop {
            let found = log.store.read_after(events::Context::Notifications, &patterns, 0, 100).await.unwrap();
            if found.events.len() > n {
                break;
            }
            assert!(Instant::now() < deadline, "{subcommand}: no notification appended");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket to a gateway process, authenticated as `user`.
async fn socket(base: &str, user: &str) -> Socket {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut socket, serde_json::json!({"type": "auth", "token": token(user)})).await;
    assert_eq!(next_frame(&mut socket).await["type"], "ready");
    socket
}

async fn send(socket: &mut Socket, frame: serde_json::Value) {
    use futures::SinkExt;
    socket.send(tokio_tungstenite::tungstenite::Message::text(frame.to_string())).await.unwrap();
}

/// The next JSON frame (pings skipped).
async fn next_frame(socket: &mut Socket) -> serde_json::Value {
    use futures::StreamExt;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a frame in time");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message.unwrap().unwrap() {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn two_gateway_processes_carry_chat_typing_and_presence_and_a_killed_ones_users_go_offline() {
    let log = testkit::TestLog::new().await;
    let (ana, ben) = (events::ids::UserId::parse("ana").unwrap(), events::ids::UserId::parse("ben").unwrap());
    let group = events::ids::ConversationId(uuid::Uuid::now_v7());
    let start_group = domain::chat::ConversationCommand::StartGroup {
        conversation: group,
        by: ana.clone(),
        members: vec![ben],
        title: domain::chat::GroupTitle::parse("two gateways").unwrap(),
        refused: vec![],
    };
    let runner = commands::Commands::new(log.store.clone(), commands::Settings::default());
    let context = commands::CommandContext::new(events::Metadata::new(Some(ana)), None);
    let aggregate = events::Aggregate::conversation(group);
    runner.create::<domain::chat::Conversation>(&context, &aggregate, start_group).await.unwrap();

    let one = start("chat-gateway", log.namespace.as_str());
    let two = start("chat-gateway", log.namespace.as_str());
    let mut ana = socket(&one.chat, "ana").await;
    let mut ben = socket(&two.chat, "ben").await;
    for socket in [&mut ana, &mut ben] {
        send(socket, serde_json::json!({"type": "subscribe", "conversation": group.to_string()})).await;
        assert_eq!(next_frame(socket).await["type"], "subscribed");
    }
    send(&mut ben, serde_json::json!({"type": "presence", "users": ["ana"]})).await;
    assert_eq!(next_frame(&mut ben).await["online"], true);

    send(&mut ben, serde_json::json!({"type": "typing", "conversation": group.to_string(), "state": "start"})).await;
    let typing = next_frame(&mut ana).await;
    assert_eq!((typing["type"].as_str(), typing["user"].as_str()), (Some("typing"), Some("ben")));
    let message =
        serde_json::json!({"type": "send", "conversation": group.to_string(), "client_id": "1", "body": "hi"});
    send(&mut ana, message).await;
    let received = loop {
        let frame = next_frame(&mut ben).await;
        if frame["type"] == "message" {
            break frame;
        }
    };
    assert_eq!(received["body"], "hi");

    // Gateway one dies without a word (SIGKILL): Ana's entry lapses.
    drop(one);
    let offline = loop {
        let frame = next_frame(&mut ben).await;
        if frame["type"] == "presence" {
            break frame;
        }
    };
    assert_eq!((offline["user"].as_str(), offline["online"].as_bool()), (Some("ana"), Some(false)));
    assert!(offline["last_seen"].is_string(), "{offline}");
}

#[tokio::test]
async fn pulse_all_answers_a_read_after_its_own_write_and_status_shows_the_projections_caught_up() {
    let log = testkit::TestLog::new().await;
    let running = start("all", log.namespace.as_str());
    let base = running.api.clone();
    let http = reqwest::Client::new();
    until_healthy(&http, &base).await;
    let registered = http
        .post(format!("{base}/api/v1/users/me"))
        .bearer_auth(token("ana"))
        .json(&serde_json::json!({"handle": "ana_b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 202);
    let position = registered.headers()["pulse-position"].to_str().unwrap().to_owned();

    let profile = http
        .get(format!("{base}/api/v1/users/ana"))
        .bearer_auth(token("ana"))
        .header("Pulse-After", &position)
        .send()
        .await
        .unwrap();

    assert_eq!(profile.status(), 200);
    assert_eq!(profile.headers()["pulse-consistency"], "caught-up");
    assert_eq!(profile.json::<serde_json::Value>().await.unwrap()["handle"], "ana_b");
    let data = running.data.path().to_str().unwrap().to_owned();
    let namespace = log.namespace.as_str().to_owned();
    let status = tokio::task::spawn_blocking(move || {
        crate::pulse(&["projections", "status"], &[("PULSE_NAMESPACE", &namespace), ("PULSE_DATA_DIR", &data)])
    })
    .await
    .unwrap();
    let printed = crate::stdout(&status);
    assert!(status.status.success(), "{}", crate::stderr(&status));
    assert!(
        printed.lines().any(|l| l.starts_with("profiles") && l.contains("users") && l.ends_with("caught up")),
        "{printed}"
    );
    assert!(printed.lines().any(|l| l.starts_with("notifier") && l.contains("content")), "{printed}");

    let operate = |args: &'static [&'static str]| {
        let (namespace, data) = (log.namespace.as_str().to_owned(), running.data.path().to_str().unwrap().to_owned());
        tokio::task::spawn_blocking(move || {
            crate::pulse(args, &[("PULSE_NAMESPACE", &namespace), ("PULSE_DATA_DIR", &data)])
        })
    };
    let verified = operate(&["projections", "verify", "profiles"]).await.unwrap();
    assert!(verified.status.success(), "{}{}", crate::stdout(&verified), crate::stderr(&verified));
    assert!(crate::stdout(&verified).contains("the live model equals a rebuild from the log"));
    let rebuilt = operate(&["projections", "rebuild", "profiles"]).await.unwrap();
    assert!(rebuilt.status.success(), "{}", crate::stderr(&rebuilt));
    assert!(crate::stdout(&rebuilt).contains("generation 2 is live (was 1)"), "{}", crate::stdout(&rebuilt));
    let profile = http.get(format!("{base}/api/v1/users/ana")).bearer_auth(token("ana")).send().await.unwrap();
    assert_eq!(profile.json::<serde_json::Value>().await.unwrap()["handle"], "ana_b", "served from the new generation");
    let unknown = operate(&["projections", "rebuild", "nope"]).await.unwrap();
    assert!(!unknown.status.success());
    let refused = crate::stderr(&unknown);
    assert!(refused.contains("no projection named \"nope\"; there are: profiles"), "{refused}");
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

#[tokio::test]
async fn pulse_all_emails_a_mention_through_the_smtp_server_and_ready_says_email_is_on() {
    let log = testkit::TestLog::new().await;
    let smtp = testkit::smtp::SmtpSink::start();
    let env = [("PULSE_SMTP_URL", smtp.url()), ("PULSE_PUBLIC_URL", "https://pulse.example.org".to_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let running = start_with("all", log.namespace.as_str(), &env);
    let (base, http) = (running.api.clone(), reqwest::Client::new());
    until_healthy(&http, &base).await;
    let ready: serde_json::Value =
        http.get(format!("{}/ready", running.notifier)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["details"]["channels"]["email"], "configured", "{ready}");

    for (user, handle, email) in [("ana", "ana_mail", Some("ana@example.org")), ("ben", "ben_mail", None)] {
        let registered = http
            .post(format!("{base}/api/v1/users/me"))
            .bearer_auth(token_with_email(user, email))
            .json(&serde_json::json!({ "handle": handle }))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 202);
    }
    let posted = http
        .post(format!("{base}/api/v1/posts"))
        .bearer_auth(token("ben"))
        .json(&serde_json::json!({ "text": "see you there @ana_mail" }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);

    let messages = smtp.wait_for(1, Duration::from_secs(30)).await;
    let [message] = messages.as_slice() else { panic!("one email, not {}", messages.len()) };
    assert!(message.contains("To: ana@example.org"), "{message}");
    assert!(message.contains("Subject: ben mentioned you in a post"), "{message}");
    assert!(message.contains("List-Unsubscribe: <https://pulse.example.org/api/v1/notifications/unsubscribe?user=ana"));
}
