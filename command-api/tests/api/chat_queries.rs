//! Queries over the chat projection, with the projectors running: a client
//! reads its conversations and messages right after sending, with unread
//! counts, and a conversation stays hidden from those not in it.

use crate::support::*;
use serde_json::{Value, json};

async fn registered(api: &Api, ids: &[&str]) {
    for id in ids {
        api.member(id).await;
    }
}

async fn send(api: &Api, conversation: &str, by: &str, body: &str) -> Reply {
    let reply = api.post(&format!("/conversations/{conversation}/messages"), by, json!({ "body": body })).await;
    reply.accepted();
    reply
}

#[tokio::test]
async fn the_list_and_the_history_show_a_message_right_after_it_is_sent() {
    let api = spawn().await;
    registered(&api, &["ana", "ben"]).await;
    let direct = api.post("/conversations/direct", "ana", json!({ "with": "ben" })).await.id();
    let group = api.post("/conversations", "ana", json!({ "title": "Study", "members": ["ben"] })).await.id();
    send(&api, &group, "ben", "first").await;
    let sent = send(&api, &direct, "ben", "hello ana").await;

    let list = api.get("/conversations", "ana", Some(&sent.position())).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.headers["pulse-consistency"], "caught-up");
    let ids: Vec<_> = list.body["items"].as_array().unwrap().iter().map(|c| c["conversation"].clone()).collect();
    assert_eq!(ids, [json!(direct), json!(group)], "latest activity first");
    assert_eq!(list.body["items"][0]["last_message"]["excerpt"], "hello ana");
    assert_eq!(list.body["items"][1]["title"], "Study");

    let history = api.get(&format!("/conversations/{direct}/messages"), "ana", Some(&sent.position())).await;
    assert_eq!(history.status, 200, "{:?}", history.body);
    assert_eq!(history.body["items"][0]["message"], sent.id());
    assert_eq!(history.body["items"][0]["text"], "hello ana");
}

#[tokio::test]
async fn unread_counts_messages_from_others_after_the_read_mark() {
    let api = spawn().await;
    registered(&api, &["ana", "ben"]).await;
    let id = api.post("/conversations", "ana", json!({ "title": "G", "members": ["ben"] })).await.id();
    let first = send(&api, &id, "ben", "one").await;
    send(&api, &id, "ben", "two").await;
    let own = send(&api, &id, "ana", "mine").await;

    let before = api.get("/conversations", "ana", Some(&own.position())).await;
    assert_eq!(before.body["items"][0]["unread"], 2, "{:?}", before.body);
    let read = api.post(&format!("/conversations/{id}/read"), "ana", json!({ "up_to": first.id() })).await;
    read.accepted();

    let after = api.get("/conversations", "ana", Some(&read.position())).await;
    assert_eq!(after.body["items"][0]["unread"], 1, "{:?}", after.body);
    assert_eq!(after.body["items"][0]["unread_more"], false);
    let ben = api.get("/conversations", "ben", Some(&read.position())).await;
    assert_eq!(ben.body["items"][0]["unread"], 1, "ana's message only: {:?}", ben.body);
}

#[tokio::test]
async fn a_deleted_message_keeps_its_place_without_its_text_and_the_history_pages() {
    let api = spawn().await;
    registered(&api, &["ana", "ben"]).await;
    let id = api.post("/conversations/direct", "ana", json!({ "with": "ben" })).await.id();
    send(&api, &id, "ana", "one").await;
    let gone = send(&api, &id, "ana", "oops").await;
    let deleted = api
        .call(reqwest::Method::DELETE, &format!("/conversations/{id}/messages/{}", gone.id()), Some("ana"), None)
        .await;
    deleted.accepted();

    let first = api.get(&format!("/conversations/{id}/messages?limit=1"), "ben", Some(&deleted.position())).await;
    assert_eq!(first.body["items"][0]["deleted"], true, "{:?}", first.body);
    assert_eq!(first.body["items"][0]["text"], Value::Null);
    let cursor = first.body["next"].as_str().expect("a next page").to_owned();
    let second = api.get(&format!("/conversations/{id}/messages?limit=1&cursor={cursor}"), "ben", None).await;
    assert_eq!(second.body["items"][0]["text"], "one");
    assert_eq!(second.body["next"], Value::Null);
}

#[tokio::test]
async fn someone_not_in_a_conversation_gets_not_found_as_for_one_that_does_not_exist() {
    let api = spawn().await;
    registered(&api, &["ana", "ben", "cy"]).await;
    let id = api.post("/conversations/direct", "ana", json!({ "with": "ben" })).await.id();
    let sent = send(&api, &id, "ana", "private").await;

    let outsider = api.get(&format!("/conversations/{id}/messages"), "cy", Some(&sent.position())).await;
    outsider.problem(404, "not-found");
    let unknown = events::ids::ConversationId::new();
    api.get(&format!("/conversations/{unknown}/messages"), "cy", None).await.problem(404, "not-found");
    let list = api.get("/conversations", "cy", Some(&sent.position())).await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn bad_chat_query_input_is_a_problem_never_a_server_error() {
    let api = spawn().await;
    registered(&api, &["ana"]).await;
    api.get("/conversations/not-a-uuid/messages", "ana", None).await.problem(422, "invalid-input");
    api.get("/conversations?limit=0", "ana", None).await.problem(422, "invalid-input");
    api.get("/conversations?limit=many", "ana", None).await.problem(400, "malformed-request");
    api.get("/conversations?cursor=garbage", "ana", None).await.problem(400, "invalid-cursor");
    api.get("/conversations", "ana", Some("nowhere")).await.problem(422, "invalid-input");
    let id = events::ids::ConversationId::new();
    api.get(&format!("/conversations/{id}/messages?cursor=garbage"), "ana", None).await.problem(404, "not-found");
}
