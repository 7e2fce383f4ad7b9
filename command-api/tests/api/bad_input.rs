//! Bad input over every route: always a 4xx with problem+json, never a 5xx.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

/// Every command route with a valid body, `{id}` standing for an existing resource.
fn routes() -> Vec<(Method, &'static str, serde_json::Value)> {
    vec![
        (Method::POST, "/posts", json!({ "text": "hello" })),
        (Method::PATCH, "/posts/{id}", json!({ "text": "hello" })),
        (Method::POST, "/posts/{id}/report", json!({ "reason": "spam" })),
        (Method::POST, "/posts/{id}/hide", json!({})),
        (Method::POST, "/posts/{id}/comments", json!({ "text": "hello" })),
        (
            Method::POST,
            "/events",
            json!({ "title": "t", "place": "p", "starts_at": "2999-01-01T10:00:00Z", "ends_at": "2999-01-01T11:00:00Z" }),
        ),
        (Method::PUT, "/events/{event}/rsvp", json!({ "rsvp": "going" })),
        (Method::PATCH, "/users/me/profile", json!({ "bio": "hello" })),
        (
            Method::PUT,
            "/users/me/settings",
            json!({ "show_presence": true, "read_receipts": true, "messages_from": "everyone" }),
        ),
    ]
}

/// One bad-input case: name, token, content type, body, expected status and slug.
type Case = (&'static str, Option<String>, &'static str, Vec<u8>, u16, &'static str);

async fn raw(api: &Api, method: Method, path: &str, token: Option<String>, content_type: &str, body: Vec<u8>) -> Reply {
    let mut request =
        api.http.request(method, format!("{}{path}", api.base)).header("content-type", content_type).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    reply(request.send().await.unwrap()).await
}

#[tokio::test]
async fn bad_input_on_any_route_is_a_4xx_problem_never_a_5xx() {
    let api = spawn_with(no_limits()).await;
    let id = api.post("/posts", "ana", json!({ "text": "target" })).await.id();
    let when = |h: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::hours(h))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let event = api
        .post("/events", "ana", json!({ "title": "t", "place": "p", "starts_at": when(24), "ends_at": when(25) }))
        .await
        .id();
    let good = || Some(api.token("ana"));
    let mut expired = claims("ana");
    expired.exp = now() - 3600;
    let expired = api.token_with(&expired);
    let forged = {
        let token = api.token("ana");
        let (rest, _) = token.rsplit_once('.').unwrap();
        format!("{rest}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    };
    let alg_none = {
        use base64::Engine;
        let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(json!({"alg":"none","typ":"JWT"})), b64(json!({"sub":"ana","exp": now() + 3600})))
    };
    for (method, template, valid) in routes() {
        let path = format!("/api/v1{}", template.replace("{id}", &id).replace("{event}", &event));
        let valid = serde_json::to_vec(&valid).unwrap();
        let cases: Vec<Case> = vec![
            ("malformed json", good(), "application/json", b"{\"text\": ".to_vec(), 400, "malformed-request"),
            ("trailing garbage", good(), "application/json", b"{} x".to_vec(), 400, "malformed-request"),
            ("wrong type", good(), "application/json", br#"{"text": 5, "reason": 5}"#.to_vec(), 422, "invalid-input"),
            (
                "unknown field",
                good(),
                "application/json",
                br#"{"text":"a","reason":"a","nope":1}"#.to_vec(),
                422,
                "invalid-input",
            ),
            ("not json at all", good(), "text/plain", valid.clone(), 415, "unsupported-media-type"),
            ("oversize", good(), "application/json", vec![b' '; 70 * 1024], 413, "too-large"),
            ("missing token", None, "application/json", valid.clone(), 401, "unauthenticated"),
            ("expired token", Some(expired.clone()), "application/json", valid.clone(), 401, "unauthenticated"),
            ("forged token", Some(forged.clone()), "application/json", valid.clone(), 401, "unauthenticated"),
            ("alg none", Some(alg_none.clone()), "application/json", valid.clone(), 401, "unauthenticated"),
            ("garbage token", Some("not.a.jwt".to_owned()), "application/json", valid.clone(), 401, "unauthenticated"),
            (
                "bidi override",
                good(),
                "application/json",
                serde_json::to_vec(&json!({"text":"a\u{202E}b","reason":"a\u{202E}b"})).unwrap(),
                422,
                "invalid-input",
            ),
        ];
        for (case, token, content_type, body, status, slug) in cases {
            let reply = raw(&api, method.clone(), &path, token, content_type, body).await;
            assert!(reply.status.is_client_error(), "{method} {template} {case}: {}", reply.status);
            if template.ends_with("/hide") && status == 422 && case != "unknown field" && case != "wrong type" {
                continue; // hide's only field is optional text; some cases are valid there
            }
            if template.ends_with("/hide") && (case == "unknown field" || case == "wrong type") {
                reply.problem(422, "invalid-input");
                continue;
            }
            let _ = reply.problem(status, slug);
        }
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let api = spawn().await;
    api.call(Method::GET, "/nope", Some("ana"), None).await.problem(404, "no-such-route");
    api.call(Method::PUT, "/posts", Some("ana"), None).await.problem(405, "method-not-allowed");
}

#[tokio::test]
async fn a_malformed_path_id_is_invalid_input_naming_it() {
    let api = spawn().await;
    let reply = api.call(Method::DELETE, "/posts/not-a-uuid", Some("ana"), None).await;
    reply.problem(422, "invalid-input");
    assert_eq!(reply.body["field"], "post_id");
}

/// Every route in the served OpenAPI document, with its path parameters filled.
async fn every_route(api: &Api) -> Vec<(Method, String, bool)> {
    let doc: serde_json::Value =
        api.http.get(format!("{}/api/v1/openapi.json", api.base)).send().await.unwrap().json().await.unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let filled = path
            .replace("{user_id}", "someone")
            .replace("{post_id}", &events::ids::PostId::new().to_string())
            .replace("{comment_id}", &events::ids::CommentId::new().to_string())
            .replace("{event_id}", &events::ids::EventId::new().to_string())
            .replace("{conversation_id}", &events::ids::ConversationId::new().to_string())
            .replace("{message_id}", &events::ids::MessageId::new().to_string())
            .replace("{notification_id}", &events::ids::NotificationId::new().to_string());
        assert!(!filled.contains('{'), "a path parameter this test does not know: {path}");
        for (method, operation) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            routes.push((method, filled.clone(), operation.get("requestBody").is_some()));
        }
    }
    assert!(routes.len() >= 35, "only {} routes documented", routes.len());
    routes
}

#[tokio::test]
async fn every_documented_route_answers_bad_input_with_a_4xx_problem() {
    let api = spawn_with(no_limits()).await;
    let mut expired = claims("ana");
    expired.exp = now() - 3600;
    let expired = api.token_with(&expired);
    let mut early = claims("ana");
    early.nbf = Some(now() + 3600);
    let early = api.token_with(&early);
    for (method, path, has_body) in every_route(&api).await {
        let valid_json = b"{}".to_vec();
        let mut cases: Vec<(&str, Option<String>, &str, Vec<u8>)> = vec![
            ("missing token", None, "application/json", valid_json.clone()),
            ("expired token", Some(expired.clone()), "application/json", valid_json.clone()),
            ("not yet valid token", Some(early.clone()), "application/json", valid_json.clone()),
            ("garbage token", Some("x.y.z".to_owned()), "application/json", valid_json.clone()),
        ];
        if has_body {
            let good = Some(api.token("ana"));
            cases.push(("malformed json", good.clone(), "application/json", b"{\"a\":".to_vec()));
            cases.push(("wrong types", good.clone(), "application/json", b"[1, 2, 3]".to_vec()));
            cases.push(("not json", good.clone(), "text/plain", b"hello".to_vec()));
            cases.push(("oversize", good.clone(), "application/json", vec![b' '; 70 * 1024]));
            cases.push((
                "unicode noise",
                good,
                "application/json",
                "{\"\u{202E}\": \"\u{0}\u{FEFF}\"}".as_bytes().to_vec(),
            ));
        }
        for (case, token, content_type, body) in cases {
            let reply = raw(&api, method.clone(), &path, token, content_type, body).await;
            assert!(reply.status.is_client_error(), "{method} {path} {case}: {} {:?}", reply.status, reply.body);
            let content = reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert_eq!(content, "application/problem+json", "{method} {path} {case}");
        }
    }
}

#[tokio::test]
async fn tokens_signed_with_another_algorithm_or_for_another_issuer_are_refused() {
    use auth::Audience;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let mut config = config();
    config.jwt.issuer = Some("https://auth.pulse.test".to_owned());
    config.jwt.audience = Some("pulse".to_owned());
    let api = spawn_with(config).await;
    let sign = |algorithm, claims: &auth::Claims| {
        jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
    };
    let mut good = claims("ana");
    good.iss = Some("https://auth.pulse.test".to_owned());
    good.aud = Some(Audience::One("pulse".to_owned()));
    let register = Some(sign(Algorithm::HS256, &good));
    api.send(Method::POST, "/users/me", register, Some(json!({})), None).await.accepted();
    let post = |token: String| api.send(Method::POST, "/posts", Some(token), Some(json!({ "text": "hi" })), None);
    post(sign(Algorithm::HS256, &good)).await.accepted();
    post(sign(Algorithm::HS512, &good)).await.problem(401, "unauthenticated");
    post(sign(Algorithm::HS384, &good)).await.problem(401, "unauthenticated");
    let mut wrong_issuer = good.clone();
    wrong_issuer.iss = Some("https://evil.test".to_owned());
    post(sign(Algorithm::HS256, &wrong_issuer)).await.problem(401, "unauthenticated");
    let mut no_audience = good.clone();
    no_audience.aud = None;
    post(sign(Algorithm::HS256, &no_audience)).await.problem(401, "unauthenticated");
    // RFC 7519 lets `aud` be an array; ours must be in it.
    let mut several = good.clone();
    several.aud = Some(Audience::Many(vec!["other".to_owned(), "pulse".to_owned()]));
    post(sign(Algorithm::HS256, &several)).await.accepted();
    several.aud = Some(Audience::Many(vec!["other".to_owned()]));
    post(sign(Algorithm::HS256, &several)).await.problem(401, "unauthenticated");
}
