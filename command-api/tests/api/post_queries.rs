//! Queries over the posts projection, with the projectors running: a post
//! read right after the commands that made it, its counts and comments, who
//! sees hidden and deleted posts, an author's posts, search, and how bad
//! reads are refused.

use crate::support::{Api, Reply, claims, reply, spawn};
use reqwest::Method;
use serde_json::{Value, json};

/// Publishes a post as `author`; its id and the position to read after.
async fn publish(api: &Api, author: &str, text: &str) -> (String, String) {
    let reply = api.post("/posts", author, json!({ "text": text })).await;
    reply.accepted();
    (reply.id(), reply.position())
}

/// Runs a command and answers its position.
async fn command(api: &Api, method: Method, path: &str, user: &str) -> String {
    let body = (method == Method::POST).then(|| json!({}));
    let reply = api.call(method, path, Some(user), body).await;
    reply.accepted();
    reply.position()
}

async fn comment(api: &Api, post: &str, user: &str, text: &str) -> (String, String) {
    let reply = api.post(&format!("/posts/{post}/comments"), user, json!({ "text": text })).await;
    reply.accepted();
    (reply.id(), reply.position())
}

/// A GET as a user whose token carries `"role": "moderator"`.
async fn get_as_role_moderator(api: &Api, path: &str, user: &str, position: &str) -> Reply {
    api.member(user).await;
    let mut claims = claims(user);
    claims.role = Some("moderator".to_owned());
    let request = api.http.get(format!("{}/api/v1{path}", api.base)).bearer_auth(api.token_with(&claims));
    reply(request.header("Pulse-After", position).send().await.unwrap()).await
}

fn ids(page: &Value) -> Vec<String> {
    let items = page["items"].as_array().cloned().unwrap_or_default();
    items.iter().map(|item| item["id"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn a_post_is_readable_right_after_it_is_created_when_the_read_passes_the_position() {
    let api = spawn().await;
    let (id, position) = publish(&api, "ana", "Hello #pulse @ben_h").await;

    let read = api.get(&format!("/posts/{id}"), "ben", Some(&position)).await;

    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.headers["pulse-consistency"], "caught-up");
    assert_eq!(read.body["id"], id.as_str());
    assert_eq!(read.body["text"], "Hello #pulse @ben_h");
    assert_eq!(read.body["hashtags"], json!(["pulse"]));
    assert_eq!(read.body["author"]["user"], "ana");
    assert!(read.body["author"]["handle"].is_string(), "{:?}", read.body);
    assert_eq!(read.body["state"], "live");
    assert_eq!(read.body["edited"], false);
    assert_eq!(read.body["stats"], json!({"likes": 0, "comments": 0}));
    assert_eq!(read.body["viewer"], json!({"liked": false}));
    assert_eq!(read.body["comments"], json!({"items": [], "next": null}));
}

#[tokio::test]
async fn likes_and_comments_show_in_the_counts_the_viewer_flag_and_the_comment_pages() {
    let api = spawn().await;
    let (id, _) = publish(&api, "ana", "counting").await;
    command(&api, Method::PUT, &format!("/posts/{id}/like"), "ben").await;
    command(&api, Method::PUT, &format!("/posts/{id}/like"), "cy").await;
    let unliked = command(&api, Method::DELETE, &format!("/posts/{id}/like"), "cy").await;
    let (first, _) = comment(&api, &id, "ben", "first").await;
    let (second, _) = comment(&api, &id, "cy", "second").await;
    let (gone, _) = comment(&api, &id, "dee", "oops").await;
    let deleted = command(&api, Method::DELETE, &format!("/comments/{gone}"), "dee").await;

    let as_ben = api.get(&format!("/posts/{id}"), "ben", Some(&deleted)).await;
    assert_eq!(as_ben.body["stats"], json!({"likes": 1, "comments": 2}), "{:?}", as_ben.body);
    assert_eq!(as_ben.body["viewer"]["liked"], true);
    assert_eq!(ids(&as_ben.body["comments"]), [first.clone(), second.clone()], "oldest first, deleted left out");
    assert_eq!(as_ben.body["comments"]["items"][0]["author"]["user"], "ben");
    let as_cy = api.get(&format!("/posts/{id}"), "cy", Some(&unliked)).await;
    assert_eq!(as_cy.body["viewer"]["liked"], false, "cy took the like back");

    let page = api.get(&format!("/posts/{id}/comments?limit=1"), "cy", None).await;
    assert_eq!(ids(&page.body), [first]);
    let cursor = page.body["next"].as_str().expect("a next page").to_owned();
    let rest = api.get(&format!("/posts/{id}/comments?limit=1&cursor={cursor}"), "cy", None).await;
    assert_eq!(ids(&rest.body), [second]);
    assert_eq!(rest.body["next"], Value::Null);
}

#[tokio::test]
async fn a_hidden_post_is_not_found_by_others_but_moderators_see_it_with_its_state() {
    let api = spawn().await;
    let (id, _) = publish(&api, "ana", "borderline rust").await;
    let (kept, _) = publish(&api, "ana", "fine rust").await;
    let hidden = command(&api, Method::POST, &format!("/posts/{id}/hide"), "mod").await;

    api.get(&format!("/posts/{id}"), "ben", Some(&hidden)).await.problem(404, "not-found");
    api.get(&format!("/posts/{id}/comments"), "ben", Some(&hidden)).await.problem(404, "not-found");
    api.get(&format!("/posts/{id}"), "ana", Some(&hidden)).await.problem(404, "not-found");
    let listed = api.get("/users/ana/posts", "ben", Some(&hidden)).await;
    assert_eq!(ids(&listed.body), [kept.as_str()], "{:?}", listed.body);
    let found = api.get("/search/posts?q=rust", "ben", Some(&hidden)).await;
    assert_eq!(ids(&found.body), [kept.as_str()]);

    let configured = api.get(&format!("/posts/{id}"), "mod", Some(&hidden)).await;
    assert_eq!(configured.status, 200, "{:?}", configured.body);
    assert_eq!(configured.body["state"], "hidden");
    let by_role = get_as_role_moderator(&api, "/users/ana/posts", "carla", &hidden).await;
    assert_eq!(ids(&by_role.body), [kept.clone(), id.clone()], "newest first, hidden included");
    assert_eq!(by_role.body["items"][1]["state"], "hidden");

    let restored = command(&api, Method::POST, &format!("/posts/{id}/restore"), "mod").await;
    let back = api.get(&format!("/posts/{id}"), "ben", Some(&restored)).await;
    assert_eq!(back.body["state"], "live", "{:?}", back.body);
}

#[tokio::test]
async fn a_deleted_post_is_gone_for_everyone_including_moderators() {
    let api = spawn().await;
    let (id, _) = publish(&api, "ana", "regret").await;
    let deleted = command(&api, Method::DELETE, &format!("/posts/{id}"), "ana").await;

    for user in ["ana", "ben", "mod"] {
        api.get(&format!("/posts/{id}"), user, Some(&deleted)).await.problem(404, "not-found");
        let listed = api.get("/users/ana/posts", user, Some(&deleted)).await;
        assert_eq!(listed.body["items"], json!([]), "{user}: {:?}", listed.body);
    }
}

#[tokio::test]
async fn an_authors_posts_are_newest_first_and_page_with_a_cursor() {
    let api = spawn().await;
    let (older, _) = publish(&api, "ana", "one").await;
    let (newer, position) = publish(&api, "ana", "two").await;
    publish(&api, "ben", "not ana's").await;

    let first = api.get("/users/ana/posts?limit=1", "cy", Some(&position)).await;
    assert_eq!(ids(&first.body), [newer]);
    let cursor = first.body["next"].as_str().expect("a next page").to_owned();
    let second = api.get(&format!("/users/ana/posts?limit=1&cursor={cursor}"), "cy", None).await;
    assert_eq!(ids(&second.body), [older]);
    assert_eq!(second.body["next"], Value::Null);
    let nobody = api.get("/users/nobody/posts", "cy", None).await;
    assert_eq!(nobody.body, json!({"items": [], "next": null}));
}

#[tokio::test]
async fn search_finds_posts_by_every_word_and_by_hashtag_newest_first() {
    let api = spawn().await;
    let (plain, _) = publish(&api, "ana", "Rust is fun").await;
    let (tagged, _) = publish(&api, "ben", "Learning #Rust at the Café").await;
    let (_, position) = publish(&api, "cy", "Nothing to see").await;

    let words = api.get("/search/posts?q=RUST", "dee", Some(&position)).await;
    assert_eq!(ids(&words.body), [tagged.clone(), plain], "{:?}", words.body);
    let tag = api.get("/search/posts?q=%23rust", "dee", None).await;
    assert_eq!(ids(&tag.body), [tagged.as_str()]);
    let accents = api.get("/search/posts?q=cafe%20learning", "dee", None).await;
    assert_eq!(ids(&accents.body), [tagged]);
    let none = api.get("/search/posts?q=rust%20see", "dee", None).await;
    assert_eq!(none.body["items"], json!([]));
}

#[tokio::test]
async fn bad_post_reads_are_refused_with_a_problem_never_a_server_error() {
    let api = spawn().await;
    let (id, position) = publish(&api, "ana", "hello").await;
    let missing = events::ids::PostId::new();
    api.get(&format!("/posts/{missing}"), "ana", Some(&position)).await.problem(404, "not-found");
    api.get(&format!("/posts/{missing}/comments"), "ana", None).await.problem(404, "not-found");
    api.get("/posts/not-a-post", "ana", None).await.problem(422, "invalid-input");
    api.get(&format!("/posts/{id}?after=content:abc"), "ana", None).await.problem(422, "invalid-input");
    api.get(&format!("/posts/{id}/comments?limit=0"), "ana", None).await.problem(422, "invalid-input");
    api.get(&format!("/posts/{id}/comments?cursor=forged"), "ana", None).await.problem(400, "invalid-cursor");
    api.get("/users/a%20b/posts", "ana", None).await.problem(422, "invalid-input");
    api.get("/users/ana/posts?limit=101", "ana", None).await.problem(422, "invalid-input");
    api.get("/search/posts?q=", "ana", None).await.problem(422, "invalid-input");
    api.get("/search/posts?q=%20%23%20!!", "ana", None).await.problem(422, "invalid-input");
    api.get(&format!("/search/posts?q={}", "a".repeat(201)), "ana", None).await.problem(422, "invalid-input");
    api.get("/search/posts", "ana", None).await.problem(400, "malformed-request");
    api.get("/search/posts?q=hello&limit=x", "ana", None).await.problem(400, "malformed-request");
    let anonymous = api.send(Method::GET, &format!("/posts/{id}"), None, None, None).await;
    anonymous.problem(401, "unauthenticated");
}

#[tokio::test]
async fn the_openapi_document_describes_the_post_queries_beside_the_commands_on_the_same_paths() {
    let api = spawn().await;
    let doc: Value =
        api.http.get(format!("{}/api/v1/openapi.json", api.base)).send().await.unwrap().json().await.unwrap();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/posts/{post_id}", "get"),
        ("/api/v1/posts/{post_id}", "patch"),
        ("/api/v1/posts/{post_id}", "delete"),
        ("/api/v1/posts/{post_id}/comments", "get"),
        ("/api/v1/posts/{post_id}/comments", "post"),
        ("/api/v1/users/{user_id}/posts", "get"),
        ("/api/v1/search/posts", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} is not described");
    }
}
