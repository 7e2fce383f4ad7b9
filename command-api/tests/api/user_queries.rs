//! User search and who-to-follow suggestions, with the projectors running:
//! what a client finds right after its own commands, and how bad input is
//! refused.

use crate::support::{Api, spawn};
use reqwest::Method;
use serde_json::{Value, json};

/// Registers `user` with `handle`; the position of the registration.
async fn register(api: &Api, user: &str, handle: &str) -> String {
    let reply = api.send(Method::POST, "/users/me", Some(api.token(user)), Some(json!({"handle": handle})), None).await;
    reply.accepted();
    reply.position()
}

fn handles(body: &Value) -> Vec<&str> {
    body["items"].as_array().expect("items").iter().map(|item| item["handle"].as_str().expect("a handle")).collect()
}

#[tokio::test]
async fn a_user_is_found_by_handle_or_name_right_after_the_command_when_the_search_passes_its_position() {
    let api = spawn().await;
    let ana = register(&api, "ana", "ana_silva").await;

    let found = api.get("/search/users?q=ANA_S", "ana", Some(&ana)).await;

    assert_eq!(found.status, 200, "{:?}", found.body);
    assert_eq!(found.headers["pulse-consistency"], "caught-up");
    assert_eq!(found.body["items"], json!([{"user": "ana", "handle": "ana_silva", "display_name": "ana name"}]));
    assert_eq!(found.body["next"], Value::Null);

    register(&api, "mar", "mar_c").await;
    let renamed = api
        .send(
            Method::PATCH,
            "/users/me/profile",
            Some(api.token("mar")),
            Some(json!({"display_name": "Mariana José"})),
            None,
        )
        .await;
    renamed.accepted();
    let by_name = api.get("/search/users?q=jose", "ana", Some(&renamed.position())).await;
    assert_eq!(handles(&by_name.body), ["mar_c"], "{:?}", by_name.body);
    let inside = api.get("/search/users?q=ana", "ana", None).await;
    assert_eq!(handles(&inside.body), ["ana_silva", "mar_c"], "a prefix of one, inside the other's name");
    let first = api.get("/search/users?q=ana&limit=1", "ana", None).await;
    assert_eq!(handles(&first.body), ["ana_silva"]);
    let cursor = first.body["next"].as_str().expect("a next page").to_owned();
    let second = api.get(&format!("/search/users?q=ana&limit=1&cursor={cursor}"), "ana", None).await;
    assert_eq!(handles(&second.body), ["mar_c"]);
    let name_before = api.get("/search/users?q=mar%20name", "ana", None).await;
    assert_eq!(handles(&name_before.body), Vec::<&str>::new(), "the old display name no longer matches");
}

#[tokio::test]
async fn suggestions_are_friends_of_friends_by_mutual_follows_without_blocks() {
    let api = spawn().await;
    for user in ["ana", "ben", "cy", "dee", "eve", "fay"] {
        register(&api, user, &format!("{user}_h")).await;
    }
    for (follower, followee) in
        [("ana", "ben"), ("ana", "cy"), ("ben", "dee"), ("cy", "dee"), ("cy", "eve"), ("cy", "fay"), ("ben", "ana")]
    {
        api.call(Method::PUT, &format!("/users/{followee}/follow"), Some(follower), None).await.accepted();
    }
    let blocked = api.call(Method::PUT, "/users/ana/block", Some("fay"), None).await;
    blocked.accepted();

    let suggested = api.get("/users/me/suggestions", "ana", Some(&blocked.position())).await;

    assert_eq!(suggested.status, 200, "{:?}", suggested.body);
    assert_eq!(suggested.headers["pulse-consistency"], "caught-up");
    assert_eq!(
        suggested.body["items"],
        json!([
            {"user": "dee", "handle": "dee_h", "display_name": "dee name", "mutual": 2},
            {"user": "eve", "handle": "eve_h", "display_name": "eve name", "mutual": 1},
        ]),
        "fay blocks ana; ana and those ana follows are left out"
    );
    let one = api.get("/users/me/suggestions?limit=1", "ana", None).await;
    assert_eq!(handles(&one.body), ["dee_h"]);
    let nobody = api.get("/users/me/suggestions", "eve", None).await;
    assert_eq!(nobody.body, json!({"items": []}), "follows nobody");
}

#[tokio::test]
async fn bad_searches_and_suggestion_requests_are_refused_with_a_problem_never_a_server_error() {
    let api = spawn().await;
    api.member("ana").await;
    api.get("/search/users", "ana", None).await.problem(400, "malformed-request");
    api.get("/search/users?q=", "ana", None).await.problem(422, "invalid-input");
    api.get("/search/users?q=%20_-!", "ana", None).await.problem(422, "invalid-input");
    api.get(&format!("/search/users?q={}", "a".repeat(51)), "ana", None).await.problem(422, "invalid-input");
    api.get("/search/users?q=ana&limit=0", "ana", None).await.problem(422, "invalid-input");
    api.get("/search/users?q=ana&cursor=forged", "ana", None).await.problem(400, "invalid-cursor");
    api.get("/search/users?q=ana&after=users:abc", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/me/suggestions?limit=0", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/me/suggestions?limit=51", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/me/suggestions?limit=x", "ana", None).await.problem(400, "malformed-request");
    api.get("/users/me/suggestions", "ana", Some("users:abc")).await.problem(422, "invalid-input");
    api.send(Method::GET, "/search/users?q=ana", None, None, None).await.problem(401, "unauthenticated");
    api.send(Method::GET, "/users/me/suggestions", None, None, None).await.problem(401, "unauthenticated");
}
