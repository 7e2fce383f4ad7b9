//! The chat gateway over the network: real NATS JetStream, real WebSocket
//! clients, the gateway on 127.0.0.1:0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chat_gateway::Settings;
use chat_gateway::protocol::close;
use events::catalog::ChatEvent;
use events::catalog::notifications::{Channel, NotificationCreated, NotificationKind};
use events::{DomainEvent, Position};
use serde_json::{Value, json};
use std::time::Duration;
use support::Harness;

fn position(frame: &Value) -> Position {
    frame["position"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_socket_that_sends_no_auth_frame_in_time_is_closed_as_unauthenticated() {
    let settings = Settings { auth_timeout: Duration::from_millis(300), ..Settings::default() };
    let harness = Harness::with(settings, 1).await;
    let mut client = harness.open(0).await;
    assert_eq!(client.closed_with().await, close::UNAUTHENTICATED);
}

#[tokio::test]
async fn a_first_frame_other_than_auth_or_a_bad_token_closes_the_socket() {
    let harness = Harness::start().await;
    let mut client = harness.open(0).await;
    client.send(json!({"type": "subscribe", "conversation": "x"})).await;
    assert_eq!(client.closed_with().await, close::UNAUTHENTICATED);

    let mut client = harness.open(0).await;
    client.send(json!({"type": "auth", "token": "not.a.token"})).await;
    assert_eq!(client.closed_with().await, close::INVALID_TOKEN);

    let mut client = harness.open(0).await;
    client.send(json!({"type": "auth", "token": expired_token()})).await;
    assert_eq!(client.closed_with().await, close::INVALID_TOKEN);
}

/// A token that expired a minute ago, beyond the 30 s leeway.
fn expired_token() -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = auth::Claims {
        sub: "ana".into(),
        name: None,
        email: None,
        picture: None,
        role: None,
        iat: now - 120,
        exp: now - 60,
        nbf: None,
        iss: None,
        aud: None,
    };
    support::keys().mint(&claims).unwrap()
}

#[tokio::test]
async fn a_connection_is_closed_when_its_token_expires() {
    let harness = Harness::start().await;
    let mut client = harness.open(0).await;
    // Expires in 1 s (the leeway applies to verifying, not to the deadline).
    client.send(json!({"type": "auth", "token": harness.token("ana", 1)})).await;
    client.next_of("ready").await;
    assert_eq!(client.closed_with().await, close::TOKEN_EXPIRED);
}

#[tokio::test]
async fn a_message_is_acknowledged_once_its_event_is_in_the_log_and_reaches_the_other_member() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let mut ben = harness.connect("ben").await;
    ben.subscribe(group).await;

    let ack = ana.say(group, "m1", "hello ben").await;
    assert_eq!(ack["client_id"], "m1");
    assert_eq!(ack["duplicate"], false);
    assert_eq!(ack["epoch"], harness.epoch());
    let stored = harness.log.store.get(position(&ack)).await.unwrap().expect("the event is in the log");
    let DomainEvent::Chat(ChatEvent::MessageSent(sent)) = stored.event else { panic!("{:?}", stored.event) };
    assert_eq!(sent.body, "hello ben");
    assert_eq!(sent.message.to_string(), ack["message"]);

    let message = ben.next_of("message").await;
    assert_eq!(message["change"], "sent");
    assert_eq!(message["body"], "hello ben");
    assert_eq!(message["sender"], "ana");
    assert_eq!(message["message"], ack["message"]);
    assert_eq!(message["position"], ack["position"]);
}

#[tokio::test]
async fn a_resend_with_the_same_client_id_gets_the_same_ack_and_appends_nothing() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let first = ana.say(group, "same-id", "once").await;
    let again = ana.say(group, "same-id", "once").await;
    assert_eq!(again["message"], first["message"]);
    assert_eq!(again["position"], first["position"]);
    assert_eq!(again["duplicate"], true);
    ana.send(json!({"type": "send", "conversation": group.to_string(), "client_id": "same-id", "body": "other"})).await;
    assert_eq!(ana.next_of("error").await["code"], "client-id-reused");
    let state = harness.log.store.stream_state(events::Context::Chat).await.unwrap();
    assert_eq!(state.last_sequence, position(&first).sequence, "nothing appended after the first send");
}

#[tokio::test]
async fn someone_outside_a_conversation_can_neither_subscribe_nor_send() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut eve = harness.connect("eve").await;
    eve.send(json!({"type": "subscribe", "conversation": group.to_string()})).await;
    let error = eve.next_of("error").await;
    assert_eq!(error["code"], "not-a-member");
    eve.send(json!({"type": "send", "conversation": group.to_string(), "client_id": "x", "body": "hi"})).await;
    let error = eve.next_of("error").await;
    assert_eq!(error["code"], "not-a-member");
    assert_eq!(error["client_id"], "x");
}

#[tokio::test]
async fn a_client_resuming_after_a_disconnect_gets_what_it_missed_in_order_then_live_without_gap_or_duplicate() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let mut ben = harness.connect("ben").await;
    ben.subscribe(group).await;
    ana.say(group, "1", "one").await;
    let seen = ben.next_of("message").await;
    ben.close().await;

    // Ana keeps talking while Ben is away.
    for (id, body) in [("2", "two"), ("3", "three"), ("4", "four")] {
        ana.say(group, id, body).await;
    }
    let mut ben = harness.connect("ben").await;
    let since = json!({"position": seen["position"], "epoch": seen["epoch"]});
    ben.send(json!({"type": "subscribe", "conversation": group.to_string(), "since": since})).await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(ben.next_of("message").await["body"].as_str().unwrap().to_owned());
    }
    assert_eq!(bodies, ["two", "three", "four"]);
    let subscribed = ben.next_of("subscribed").await;
    let live = ana.say(group, "5", "five").await;
    assert!(position(&live).sequence > position(&subscribed).sequence);
    assert_eq!(ben.next_of("message").await["body"], "five");
    ben.silent_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_resume_replays_each_message_as_it_stands_never_text_edited_away_or_deleted() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let first = ana.say(group, "1", "hello").await;
    let typo = ana.say(group, "2", "my pasword is hunter2").await;
    let regret = ana.say(group, "3", "something I regret").await;
    let (conversation, typo, regret) = (group.to_string(), typo["message"].clone(), regret["message"].clone());
    let edit = json!({"type": "edit", "conversation": conversation, "message": typo, "body": "my password is secret"});
    ana.send(edit).await;
    ana.next_of("ack").await;
    ana.send(json!({"type": "delete", "conversation": conversation, "message": regret})).await;
    ana.next_of("ack").await;

    let mut ben = harness.connect("ben").await;
    let since = json!({"position": first["position"], "epoch": first["epoch"]});
    ben.send(json!({"type": "subscribe", "conversation": conversation, "since": since})).await;
    let mut frames = Vec::new();
    for _ in 0..4 {
        frames.push(ben.next_of("message").await);
    }
    ben.next_of("subscribed").await;

    let seen: Vec<_> = frames.iter().map(|f| (f["change"].clone(), f["message"].clone(), f["body"].clone())).collect();
    assert_eq!(
        seen,
        [
            (json!("sent"), typo.clone(), json!("my password is secret")),
            (json!("sent"), regret.clone(), Value::Null),
            (json!("edited"), typo, json!("my password is secret")),
            (json!("deleted"), regret, Value::Null),
        ]
    );
    let everything = serde_json::to_string(&frames).unwrap();
    assert!(!everything.contains("hunter2") && !everything.contains("regret"), "{everything}");
}

#[tokio::test]
async fn a_position_from_another_epoch_or_beyond_retained_history_gets_a_resync() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let first = ana.say(group, "1", "one").await;
    ana.say(group, "2", "two").await;

    let other_epoch = json!({"position": first["position"], "epoch": "1"});
    ana.send(json!({"type": "subscribe", "conversation": group.to_string(), "since": other_epoch})).await;
    let resync = ana.next_of("resync").await;
    assert_eq!(resync["reason"], "epoch");
    assert_eq!(resync["epoch"], harness.epoch());

    // Retention drops both messages.
    let stream = harness.log.namespace.stream(events::Context::Chat);
    let js = async_nats::jetstream::new(harness.log.client.clone());
    let last = harness.log.store.stream_state(events::Context::Chat).await.unwrap().last_sequence;
    js.get_stream(&stream).await.unwrap().purge().sequence(last + 1).await.unwrap();
    let gone = json!({"position": first["position"], "epoch": harness.epoch()});
    ana.send(json!({"type": "subscribe", "conversation": group.to_string(), "since": gone})).await;
    assert_eq!(ana.next_of("resync").await["reason"], "history-gone");
}

#[tokio::test]
async fn a_client_too_far_behind_is_told_to_resync_instead_of_replayed_without_bound() {
    let settings = Settings { resume_max: 2, ..Settings::default() };
    let harness = Harness::with(settings, 1).await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let first = ana.say(group, "1", "one").await;
    for id in ["2", "3", "4"] {
        ana.say(group, id, "more").await;
    }
    let since = json!({"position": first["position"], "epoch": harness.epoch()});
    ana.send(json!({"type": "subscribe", "conversation": group.to_string(), "since": since})).await;
    assert_eq!(ana.next_of("resync").await["reason"], "too-far-behind");
}

#[tokio::test]
async fn malformed_unknown_and_oversized_frames_get_error_frames_and_the_connection_stays() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    ana.send_text("{not json").await;
    assert_eq!(ana.next_of("error").await["code"], "malformed");
    ana.send(json!({"type": "dance"})).await;
    assert_eq!(ana.next_of("error").await["code"], "unknown-type");
    ana.send(json!({"type": "send", "conversation": group.to_string()})).await;
    assert_eq!(ana.next_of("error").await["code"], "invalid-frame");
    ana.send(
        json!({"type": "send", "conversation": group.to_string(), "client_id": "big", "body": "x".repeat(20_000)}),
    )
    .await;
    assert_eq!(ana.next_of("error").await["code"], "too-large");
    ana.send(json!({"type": "send", "conversation": group.to_string(), "client_id": "long", "body": "x".repeat(4001)}))
        .await;
    assert_eq!(ana.next_of("error").await["code"], "invalid-body");
    ana.send(json!({"type": "subscribe", "conversation": "not-an-id"})).await;
    assert_eq!(ana.next_of("error").await["code"], "invalid-id");
    ana.send(json!({"type": "send", "conversation": group.to_string(), "client_id": "has space", "body": "hi"})).await;
    assert_eq!(ana.next_of("error").await["code"], "invalid-client-id");
    // Still open and working.
    ana.say(group, "ok", "still here").await;
}

#[tokio::test]
async fn a_socket_sending_faster_than_its_allowance_gets_rate_limited_frames() {
    let settings = Settings { frames_per_second: 1, frame_burst: 2, ..Settings::default() };
    let harness = Harness::with(settings, 1).await;
    let mut ana = harness.connect("ana").await;
    for _ in 0..3 {
        ana.send(json!({"type": "dance"})).await;
    }
    assert_eq!(ana.next_of("error").await["code"], "unknown-type");
    assert_eq!(ana.next_of("error").await["code"], "unknown-type");
    assert_eq!(ana.next_of("error").await["code"], "rate-limited");
}

#[tokio::test]
async fn every_device_of_a_user_receives_every_message() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let mut phone = harness.connect("ben").await;
    let mut laptop = harness.connect("ben").await;
    phone.subscribe(group).await;
    laptop.subscribe(group).await;
    ana.say(group, "1", "to both").await;
    assert_eq!(phone.next_of("message").await["body"], "to both");
    assert_eq!(laptop.next_of("message").await["body"], "to both");
}

#[tokio::test]
async fn a_member_who_leaves_stops_receiving_at_once() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben", "cy"]).await;
    let mut ana = harness.connect("ana").await;
    let mut cy = harness.connect("cy").await;
    cy.subscribe(group).await;
    harness.leave(group, "cy").await;
    let unsubscribed = cy.next_of("unsubscribed").await;
    assert_eq!(unsubscribed["reason"], "left");
    ana.say(group, "1", "after cy left").await;
    cy.silent_for(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn read_receipts_reach_the_other_members_and_the_readers_other_devices() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let mut ben = harness.connect("ben").await;
    let mut bens_laptop = harness.connect("ben").await;
    ana.subscribe(group).await;
    bens_laptop.subscribe(group).await;
    let sent = ana.say(group, "1", "read me").await;
    ana.next_of("message").await;
    ben.send(json!({"type": "read", "conversation": group.to_string(), "up_to": sent["message"], "client_id": "r1"}))
        .await;
    let ack = ben.next_of("ack").await;
    assert_eq!(ack["client_id"], "r1");
    let receipt = ana.next_of("receipt").await;
    assert_eq!(receipt["reader"], "ben");
    assert_eq!(receipt["up_to"], sent["message"]);
    bens_laptop.next_of("message").await;
    let synced = bens_laptop.next_of("receipt").await;
    assert_eq!((synced["reader"].as_str(), &synced["up_to"]), (Some("ben"), &sent["message"]));
}

#[tokio::test]
async fn edits_and_deletions_reach_subscribers_and_only_the_sender_may_make_them() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let mut ben = harness.connect("ben").await;
    ben.subscribe(group).await;
    let sent = ana.say(group, "1", "typo").await;
    ben.next_of("message").await;
    let message = sent["message"].clone();
    ben.send(json!({"type": "edit", "conversation": group.to_string(), "message": message, "body": "mine now"})).await;
    assert_eq!(ben.next_of("error").await["code"], "not-the-sender");
    ana.send(json!({"type": "edit", "conversation": group.to_string(), "message": message, "body": "fixed"})).await;
    ana.next_of("ack").await;
    let edited = ben.next_of("message").await;
    assert_eq!((edited["change"].as_str(), edited["body"].as_str()), (Some("edited"), Some("fixed")));
    ana.send(json!({"type": "delete", "conversation": group.to_string(), "message": message})).await;
    ana.next_of("ack").await;
    let deleted = ben.next_of("message").await;
    assert_eq!(deleted["change"], "deleted");
    assert!(deleted.get("body").is_none());
}

#[tokio::test]
async fn users_on_two_gateways_chat_with_each_other() {
    let harness = Harness::with(Settings::default(), 2).await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect_to(0, "ana").await;
    let mut ben = harness.connect_to(1, "ben").await;
    ana.subscribe(group).await;
    ben.subscribe(group).await;
    ana.say(group, "1", "from gateway one").await;
    assert_eq!(ben.next_of("message").await["body"], "from gateway one");
    ben.say(group, "2", "from gateway two").await;
    let mine = ana.next_of("message").await;
    assert_eq!(mine["body"], "from gateway one", "ana's own message comes back to her devices first");
    assert_eq!(ana.next_of("message").await["body"], "from gateway two");
}

#[tokio::test]
async fn typing_reaches_the_other_subscribers_not_the_typist_and_expires_on_its_own() {
    let settings = Settings { typing_ttl: Duration::from_millis(800), ..Settings::default() };
    let harness = Harness::with(settings, 1).await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let mut ben = harness.connect("ben").await;
    ana.subscribe(group).await;
    ben.subscribe(group).await;
    ana.send(json!({"type": "typing", "conversation": group.to_string(), "state": "start"})).await;
    let typing = ben.next_of("typing").await;
    assert_eq!((typing["user"].as_str(), typing["state"].as_str()), (Some("ana"), Some("start")));
    ana.silent_for(Duration::from_millis(300)).await;
    // Not repeated: it stops by itself.
    let stopped = ben.next_of("typing").await;
    assert_eq!((stopped["user"].as_str(), stopped["state"].as_str()), (Some("ana"), Some("stop")));
    // Nor does the typist hear the stop its silence caused.
    ana.silent_for(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_message_sent_ends_the_senders_typing_for_everyone() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ana = harness.connect("ana").await;
    let mut ben = harness.connect("ben").await;
    ana.subscribe(group).await;
    ben.subscribe(group).await;
    ana.send(json!({"type": "typing", "conversation": group.to_string(), "state": "start"})).await;
    assert_eq!(ben.next_of("typing").await["state"], "start");
    ana.say(group, "1", "done typing").await;
    let mut seen = [ben.next().await, ben.next().await];
    seen.sort_by_key(|f| f["type"].as_str().unwrap().to_owned());
    assert_eq!((seen[0]["type"].as_str(), seen[0]["body"].as_str()), (Some("message"), Some("done typing")));
    assert_eq!((seen[1]["type"].as_str(), seen[1]["state"].as_str()), (Some("typing"), Some("stop")));
}

#[tokio::test]
async fn typing_in_a_conversation_the_socket_did_not_subscribe_to_is_refused() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut eve = harness.connect("eve").await;
    eve.send(json!({"type": "typing", "conversation": group.to_string(), "state": "start"})).await;
    assert_eq!(eve.next_of("error").await["code"], "not-subscribed");
}

#[tokio::test]
async fn presence_is_per_user_across_devices_and_gateways_with_last_seen() {
    let harness = Harness::with(Settings::default(), 2).await;
    let mut ben = harness.connect_to(0, "ben").await;
    ben.send(json!({"type": "presence", "users": ["ana"]})).await;
    let now = ben.next_of("presence").await;
    assert_eq!((now["user"].as_str(), now["online"].as_bool()), (Some("ana"), Some(false)));
    assert!(now.get("last_seen").is_none(), "never seen: {now}");

    let phone = harness.connect_to(1, "ana").await;
    assert_eq!(ben.next_of("presence").await["online"], true);
    let laptop = harness.connect_to(0, "ana").await;
    phone.close().await;
    ben.silent_for(Duration::from_millis(500)).await; // the laptop is still on
    laptop.close().await;
    let gone = ben.next_of("presence").await;
    assert_eq!(gone["online"], false);
    assert!(gone["last_seen"].is_string(), "{gone}");
}

#[tokio::test]
async fn a_user_who_hides_their_presence_is_offline_with_no_last_seen_to_everyone_until_they_show_it() {
    let settings = Settings { presence_ttl: Duration::from_millis(900), ..Settings::default() };
    let harness = Harness::with(settings, 2).await;
    harness.settings("ana", false, true).await;
    let mut ben = harness.connect_to(0, "ben").await;
    let phone = harness.connect_to(1, "ana").await;
    ben.send(json!({"type": "presence", "users": ["ana"]})).await;
    let hidden = ben.next_of("presence").await;
    assert_eq!(hidden["online"], false, "{hidden}");
    assert!(hidden.get("last_seen").is_none(), "{hidden}");
    phone.close().await;
    ben.silent_for(Duration::from_millis(700)).await; // leaving stamps no last seen either

    let phone = harness.connect_to(1, "ana").await;
    ben.silent_for(Duration::from_millis(400)).await;
    harness.settings("ana", true, true).await;
    // Read again at the next renewal (a third of the time to live).
    let shown = ben.next_of("presence").await;
    assert_eq!(shown["online"], true, "{shown}");
    phone.close().await;
    let gone = ben.next_of("presence").await;
    assert_eq!(gone["online"], false);
    assert!(gone["last_seen"].is_string(), "shown again, so seen again: {gone}");
}

#[tokio::test]
async fn a_blocked_pair_sees_neither_each_others_presence_nor_read_receipts() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben", "cy"]).await;
    harness.block("ben", "ana").await;
    let mut ana = harness.connect("ana").await;
    let mut ben = harness.connect("ben").await;
    let mut cy = harness.connect("cy").await;
    ben.send(json!({"type": "presence", "users": ["ana", "cy"]})).await;
    let (first, second) = (ben.next_of("presence").await, ben.next_of("presence").await);
    assert_eq!((first["user"].as_str(), first["online"].as_bool()), (Some("ana"), Some(false)), "{first}");
    assert_eq!((second["user"].as_str(), second["online"].as_bool()), (Some("cy"), Some(true)), "{second}");
    ana.send(json!({"type": "presence", "users": ["ben"]})).await;
    assert_eq!(ana.next_of("presence").await["online"], false, "a block hides both ways");

    ben.subscribe(group).await;
    cy.subscribe(group).await;
    let sent = cy.say(group, "1", "hello").await;
    ben.next_of("message").await;
    cy.next_of("message").await;
    ana.send(json!({"type": "read", "conversation": group.to_string(), "up_to": sent["message"]})).await;
    ana.next_of("ack").await;
    let receipt = cy.next_of("receipt").await;
    assert_eq!(receipt["reader"], "ana");
    ben.silent_for(Duration::from_millis(500)).await;

    let mut later = harness.connect("ben").await;
    let since = json!({"position": sent["position"], "epoch": sent["epoch"]});
    later.send(json!({"type": "subscribe", "conversation": group.to_string(), "since": since})).await;
    later.next_of("subscribed").await;
}

#[tokio::test]
async fn a_reader_with_receipts_off_is_heard_by_their_own_devices_only_live_and_on_resume() {
    let harness = Harness::start().await;
    let group = harness.group(&["ana", "ben"]).await;
    harness.settings("ben", true, false).await;
    let mut ana = harness.connect("ana").await;
    let mut bens_laptop = harness.connect("ben").await;
    let mut ben = harness.connect("ben").await;
    ana.subscribe(group).await;
    bens_laptop.subscribe(group).await;
    let sent = ana.say(group, "1", "read me").await;
    ana.next_of("message").await;
    bens_laptop.next_of("message").await;

    ben.send(json!({"type": "read", "conversation": group.to_string(), "up_to": sent["message"]})).await;
    ben.next_of("ack").await;

    let synced = bens_laptop.next_of("receipt").await;
    assert_eq!(synced["reader"], "ben", "the reader's other devices still hear of it");
    ana.silent_for(Duration::from_millis(500)).await;
    let since = json!({"position": sent["position"], "epoch": sent["epoch"]});
    let resume = json!({"type": "subscribe", "conversation": group.to_string(), "since": since});
    let mut anas_phone = harness.connect("ana").await;
    anas_phone.send(resume.clone()).await;
    anas_phone.next_of("subscribed").await;
    let mut bens_phone = harness.connect("ben").await;
    bens_phone.send(resume).await;
    assert_eq!(bens_phone.next_of("receipt").await["reader"], "ben");
    bens_phone.next_of("subscribed").await;
}

#[tokio::test]
async fn watching_too_many_users_or_bad_ids_gets_an_error_frame() {
    let harness = Harness::start().await;
    let mut ben = harness.connect("ben").await;
    let many: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
    ben.send(json!({"type": "presence", "users": many})).await;
    assert_eq!(ben.next_of("error").await["code"], "too-many-users");
    ben.send(json!({"type": "presence", "users": ["not an id!"]})).await;
    assert_eq!(ben.next_of("error").await["code"], "invalid-id");
}

#[tokio::test]
async fn a_socket_that_does_not_read_is_cut_as_too_slow_and_resumes_without_loss() {
    let settings = Settings { queue: 4, ..Settings::default() };
    let harness = Harness::with(settings, 1).await;
    let group = harness.group(&["ana", "ben"]).await;
    let mut ben = harness.open_narrow(0).await;
    ben.send(json!({"type": "auth", "token": harness.token("ben", 3600)})).await;
    ben.next_of("ready").await;
    let subscribed = ben.subscribe(group).await;

    // More than the socket's buffers and its queue hold (the kernel's send
    // buffer grows to a few MiB), while Ben reads nothing, until he is cut.
    let ana = events::ids::UserId::parse("ana").unwrap();
    let body = domain::chat::MessageBody::parse(&"x".repeat(4000)).unwrap();
    let mut total = 0;
    while !harness.metrics(0).await.contains("pulse_chat_slow_consumer_disconnects_total 1") {
        assert!(total < 4_000, "still not cut after {total} messages of 4 kB");
        for _ in 0..100 {
            let context = commands::CommandContext::new(events::Metadata::new(Some(ana.clone())), None);
            let send =
                commands::chat::Send { conversation: group, sender: ana.clone(), body: body.clone(), reply_to: None };
            commands::chat::send(&harness.commands, &context, send).await.unwrap();
        }
        total += 100;
    }

    let mut last = subscribed["position"].as_str().unwrap().to_owned();
    let mut received = 0;
    loop {
        match ben.raw_next().await {
            Some(tokio_tungstenite::tungstenite::Message::Text(text)) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "message" {
                    received += 1;
                    last = frame["position"].as_str().unwrap().to_owned();
                }
            }
            Some(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(close::TOO_SLOW));
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    assert!(received < total, "the socket was cut before everything reached it ({received} of {total})");

    // Resuming from the last message it got brings the rest, each once, in order.
    let mut ben = harness.connect("ben").await;
    let since = json!({"position": last, "epoch": harness.epoch()});
    ben.send(json!({"type": "subscribe", "conversation": group.to_string(), "since": since})).await;
    let mut previous = position(&json!({"position": last})).sequence;
    for _ in received..total {
        let sequence = position(&ben.next_of("message").await).sequence;
        assert!(sequence > previous);
        previous = sequence;
    }
    ben.next_of("subscribed").await;
}

/// Appends a notification as the notifier does.
async fn notify(harness: &Harness, recipient: &str, text: &str, channels: Vec<Channel>) -> events::ids::NotificationId {
    let notification = events::ids::NotificationId(uuid::Uuid::now_v7());
    let created = NotificationCreated {
        notification,
        recipient: events::ids::UserId::parse(recipient).unwrap(),
        kind: NotificationKind::PostLiked,
        actor: Some(events::ids::UserId::parse("ana").unwrap()),
        text: text.to_owned(),
        link: Some("/posts/1".to_owned()),
        channels,
    };
    let aggregate = events::Aggregate::notification(notification);
    let metadata = events::Metadata::new(None);
    harness.log.store.append(&aggregate, events::Expected::Any, created, &metadata, None).await.unwrap();
    notification
}

#[tokio::test]
async fn an_in_app_notification_reaches_every_socket_of_its_recipient_and_no_one_else() {
    let harness = Harness::start().await;
    let mut phone = harness.connect("ben").await;
    let mut laptop = harness.connect("ben").await;
    let mut ana = harness.connect("ana").await;
    notify(&harness, "ben", "by email only", vec![Channel::Email]).await;
    notify(&harness, "ben", "Ana liked your post", vec![Channel::InApp, Channel::Email]).await;
    for socket in [&mut phone, &mut laptop] {
        let frame = socket.next_of("notification").await;
        assert_eq!(frame["text"], "Ana liked your post", "the email-only one never comes");
        assert_eq!((frame["kind"].as_str(), frame["actor"].as_str()), (Some("post_liked"), Some("ana")));
    }
    ana.silent_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_group_that_grows_and_read_marks_reach_every_socket_of_the_recipient_and_no_one_else() {
    use events::catalog::notifications::{NotificationGrouped, NotificationRead, NotificationsRead};
    let harness = Harness::start().await;
    let mut phone = harness.connect("ben").await;
    let mut laptop = harness.connect("ben").await;
    let mut ana = harness.connect("ana").await;
    let ben = events::ids::UserId::parse("ben").unwrap();
    let notification = notify(&harness, "ben", "ana liked your post", vec![Channel::InApp]).await;
    let aggregate = events::Aggregate::notification(notification);
    let metadata = events::Metadata::new(None);
    let (store, any) = (&harness.log.store, events::Expected::Any);
    let grouped = NotificationGrouped {
        notification,
        actor: events::ids::UserId::parse("cy").unwrap(),
        actors: 2,
        text: "ana and 1 other liked your post".into(),
        recipient: Some(ben.clone()),
    };
    store.append(&aggregate, any, grouped, &metadata, None).await.unwrap();
    let read_one = NotificationRead { notification, recipient: ben.clone() };
    store.append(&aggregate, any, read_one, &metadata, None).await.unwrap();
    let read_all = NotificationsRead { recipient: ben.clone(), up_to: notification };
    store.append(&events::Aggregate::inbox(&ben), any, read_all, &metadata, None).await.unwrap();

    for socket in [&mut phone, &mut laptop] {
        assert_eq!(socket.next_of("notification").await["notification"], notification.to_string());
        let updated = socket.next_of("notification_updated").await;
        assert_eq!(updated["notification"], notification.to_string());
        assert_eq!(
            (updated["actors"].as_u64(), updated["text"].as_str()),
            (Some(2), Some("ana and 1 other liked your post"))
        );
        let one = socket.next_of("notifications_read").await;
        assert_eq!((one["notification"].as_str(), one.get("up_to")), (Some(notification.to_string().as_str()), None));
        let all = socket.next_of("notifications_read").await;
        assert_eq!(all["up_to"], notification.to_string());
    }
    ana.silent_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_fresh_token_of_the_same_user_extends_the_connection_and_another_users_closes_it() {
    let harness = Harness::start().await;
    let mut ana = harness.open(0).await;
    ana.send(json!({"type": "auth", "token": harness.token("ana", 1)})).await;
    ana.next_of("ready").await;
    ana.send(json!({"type": "auth", "token": harness.token("ana", 3600)})).await;
    // Past the first token's expiry, still open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ana.send(json!({"type": "dance"})).await;
    assert_eq!(ana.next_of("error").await["code"], "unknown-type");
    ana.send(json!({"type": "auth", "token": harness.token("ben", 3600)})).await;
    assert_eq!(ana.closed_with().await, close::INVALID_TOKEN);
}
