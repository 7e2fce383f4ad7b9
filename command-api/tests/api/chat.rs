//! Chat over REST.

use crate::support::*;
use events::Aggregate;
use events::ids::{ConversationId, MessageId, UserId};
use reqwest::Method;
use serde_json::json;

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

async fn registered(api: &Api, ids: &[&str]) {
    for id in ids {
        api.post("/users/me", id, json!({})).await.accepted();
    }
}

async fn direct(api: &Api, by: &str, with: &str) -> Reply {
    api.post("/conversations/direct", by, json!({ "with": with })).await
}

async fn send(api: &Api, conversation: &str, by: &str, body: &str) -> Reply {
    api.post(&format!("/conversations/{conversation}/messages"), by, json!({ "body": body })).await
}

#[tokio::test]
async fn a_direct_conversation_is_one_per_pair_whoever_starts_it() {
    let api = spawn().await;
    registered(&api, &["ana", "ben"]).await;
    let first = direct(&api, "ana", "ben").await;
    first.accepted();
    let again = direct(&api, "ben", "ana").await;
    again.accepted();
    assert_eq!(first.id(), again.id());
    assert_eq!(again.body["changed"], false);
    direct(&api, "ana", "ana").await.problem(422, "cannot-talk-to-yourself");
    let id = ConversationId::parse(&first.id()).unwrap();
    assert_eq!(api.event_names_of(&Aggregate::conversation(id)).await, ["ConversationStarted"]);
}

#[tokio::test]
async fn a_message_policy_or_a_block_keeps_a_direct_conversation_from_starting() {
    let api = spawn().await;
    registered(&api, &["ana", "ben", "carla"]).await;
    let only_following = json!({ "show_presence": true, "read_receipts": true, "messages_from": "following" });
    api.call(Method::PUT, "/users/me/settings", Some("ben"), Some(only_following)).await.accepted();
    direct(&api, "ana", "ben").await.problem(403, "cannot-message");
    api.call(Method::PUT, "/users/ana/follow", Some("ben"), None).await.accepted();
    direct(&api, "ana", "ben").await.accepted();
    api.call(Method::PUT, "/users/ana/block", Some("carla"), None).await.accepted();
    direct(&api, "ana", "carla").await.problem(403, "cannot-message");
    direct(&api, "ana", "nobody").await.problem(403, "cannot-message");
}

#[tokio::test]
async fn only_members_write_and_a_block_silences_a_direct_conversation() {
    let api = spawn().await;
    registered(&api, &["ana", "ben"]).await;
    let conversation = direct(&api, "ana", "ben").await.id();
    send(&api, &conversation, "ana", "hi ben").await.accepted();
    send(&api, &conversation, "zed", "let me in").await.problem(403, "not-a-member");
    api.call(Method::PUT, "/users/ana/block", Some("ben"), None).await.accepted();
    send(&api, &conversation, "ana", "still there?").await.problem(403, "blocked");
    send(&api, &conversation, "ben", "").await.problem(422, "invalid-input");
}

#[tokio::test]
async fn a_group_gains_members_from_members_and_a_leaver_can_no_longer_write() {
    let api = spawn().await;
    registered(&api, &["ana", "ben", "carla", "zed"]).await;
    let group = api.post("/conversations", "ana", json!({ "title": "Study group", "members": ["ben"] })).await;
    group.accepted();
    let id = group.id();
    api.post(&format!("/conversations/{id}/members"), "zed", json!({ "members": ["carla"] }))
        .await
        .problem(403, "not-a-member");
    api.post(&format!("/conversations/{id}/members"), "ben", json!({ "members": ["carla"] })).await.accepted();
    send(&api, &id, "carla", "hello all").await.accepted();
    api.call(Method::POST, &format!("/conversations/{id}/leave"), Some("carla"), None).await.accepted();
    send(&api, &id, "carla", "wait").await.problem(403, "not-a-member");
    api.post("/conversations", "ana", json!({ "title": "Alone", "members": [] }))
        .await
        .problem(422, "group-needs-members");
    let conversation = ConversationId::parse(&id).unwrap();
    assert_eq!(
        api.event_names_of(&Aggregate::conversation(conversation)).await,
        ["ConversationStarted", "MembersAdded", "MemberLeft"]
    );
}

#[tokio::test]
async fn naming_more_people_than_a_group_holds_is_refused_as_too_large() {
    let api = spawn().await;
    registered(&api, &["ana", "ben"]).await;
    let crowd: Vec<String> = (0..domain::chat::MAX_GROUP_MEMBERS).map(|i| format!("u{i}")).collect();
    api.post("/conversations", "ana", json!({ "title": "Crowd", "members": crowd }))
        .await
        .problem(422, "group-too-large");
    let id = api.post("/conversations", "ana", json!({ "title": "G", "members": ["ben"] })).await.id();
    api.post(&format!("/conversations/{id}/members"), "ana", json!({ "members": crowd }))
        .await
        .problem(422, "group-too-large");
}

#[tokio::test]
async fn only_the_sender_edits_or_deletes_a_message() {
    let api = spawn().await;
    registered(&api, &["ana", "ben"]).await;
    let id = api.post("/conversations", "ana", json!({ "title": "G", "members": ["ben"] })).await.id();
    let message = send(&api, &id, "ana", "typo").await.id();
    let path = format!("/conversations/{id}/messages/{message}");
    api.call(Method::PATCH, &path, Some("ben"), Some(json!({ "body": "mine" }))).await.problem(403, "not-the-sender");
    api.call(Method::PATCH, &path, Some("ana"), Some(json!({ "body": "fixed" }))).await.accepted();
    api.call(Method::DELETE, &path, Some("ana"), None).await.accepted();
    api.call(Method::PATCH, &path, Some("ana"), Some(json!({ "body": "again" }))).await.problem(409, "message-deleted");
    let aggregate = Aggregate::message(ConversationId::parse(&id).unwrap(), MessageId::parse(&message).unwrap());
    assert_eq!(api.event_names_of(&aggregate).await, ["MessageSent", "MessageEdited", "MessageDeleted"]);
}

#[tokio::test]
async fn a_read_mark_moves_forward_only() {
    let api = spawn().await;
    registered(&api, &["ana", "ben"]).await;
    let id = api.post("/conversations", "ana", json!({ "title": "G", "members": ["ben"] })).await.id();
    let first = send(&api, &id, "ana", "one").await.id();
    let second = send(&api, &id, "ana", "two").await.id();
    let read = |up_to: &str| json!({ "up_to": up_to });
    api.post(&format!("/conversations/{id}/read"), "ben", read(&second)).await.accepted();
    let back = api.post(&format!("/conversations/{id}/read"), "ben", read(&first)).await;
    back.accepted();
    assert_eq!(back.body["changed"], false);
    api.post(&format!("/conversations/{id}/read"), "zed", read(&second)).await.problem(403, "not-a-member");
    let unknown = MessageId::new().to_string();
    api.post(&format!("/conversations/{id}/read"), "ben", read(&unknown)).await.problem(404, "no-such-message");
    let aggregate = Aggregate::read(ConversationId::parse(&id).unwrap(), &user("ben"));
    assert_eq!(api.event_names_of(&aggregate).await, ["MessagesRead"]);
}

#[tokio::test]
async fn sending_faster_than_the_limit_is_refused_and_a_retried_send_is_one_message() {
    let mut config = config();
    config.limits.messages_per_minute = 2;
    let api = spawn_with(config).await;
    registered(&api, &["ana", "ben"]).await;
    let id = api.post("/conversations", "ana", json!({ "title": "G", "members": ["ben"] })).await.id();
    let path = format!("/conversations/{id}/messages");
    let first =
        api.send(Method::POST, &path, Some(api.token("ana")), Some(json!({ "body": "once" })), Some("m-1")).await;
    let retry =
        api.send(Method::POST, &path, Some(api.token("ana")), Some(json!({ "body": "once" })), Some("m-1")).await;
    assert_eq!(first.id(), retry.id());
    assert_eq!(retry.body["replayed"], true);
    send(&api, &id, "ana", "third").await.problem(429, "rate-limited");
}

#[tokio::test]
async fn a_group_cannot_reach_someone_who_takes_no_messages_or_blocks_the_adder() {
    let api = spawn().await;
    registered(&api, &["ana", "ben", "carla", "dan"]).await;
    let closed = json!({ "show_presence": true, "read_receipts": true, "messages_from": "nobody" });
    api.call(Method::PUT, "/users/me/settings", Some("carla"), Some(closed)).await.accepted();
    api.call(Method::PUT, "/users/ana/block", Some("dan"), None).await.accepted();
    for members in [json!(["ben", "carla"]), json!(["ben", "dan"]), json!(["ben", "nobody-registered"])] {
        let body = json!({ "title": "Study group", "members": members });
        api.post("/conversations", "ana", body).await.problem(403, "cannot-message");
    }
    let id = api.post("/conversations", "ana", json!({ "title": "Study group", "members": ["ben"] })).await.id();
    let members = format!("/conversations/{id}/members");
    let add = |by: &'static str, who: &'static str| api.post(&members, by, json!({ "members": [who] }));
    add("ana", "carla").await.problem(403, "cannot-message");
    add("ben", "dan").await.accepted();
}

#[tokio::test]
async fn someone_who_left_a_group_is_added_back_by_its_creator_only() {
    let api = spawn().await;
    registered(&api, &["ana", "ben", "carla"]).await;
    let id = api.post("/conversations", "ana", json!({ "title": "G", "members": ["ben", "carla"] })).await.id();
    api.call(Method::POST, &format!("/conversations/{id}/leave"), Some("carla"), None).await.accepted();
    let members = format!("/conversations/{id}/members");
    let add = |by: &'static str| api.post(&members, by, json!({ "members": ["carla"] }));
    add("ben").await.problem(403, "left-the-group");
    add("ana").await.accepted();
}

#[tokio::test]
async fn one_idempotency_key_in_two_conversations_sends_two_messages() {
    let api = spawn().await;
    registered(&api, &["ana", "ben", "carla"]).await;
    let with_ben = direct(&api, "ana", "ben").await.id();
    let with_carla = direct(&api, "ana", "carla").await.id();
    let api = &api;
    let send_keyed = |path: String| async move {
        api.send(Method::POST, &path, Some(api.token("ana")), Some(json!({ "body": "hi" })), Some("same-key")).await
    };
    let first = send_keyed(format!("/conversations/{with_ben}/messages")).await;
    let second = send_keyed(format!("/conversations/{with_carla}/messages")).await;
    first.accepted();
    second.accepted();
    assert_ne!(first.id(), second.id());
    assert_eq!(second.body["replayed"], false);
}
