//! The inbox (with the notifier and the projectors running), notification
//! preferences and push subscriptions.

use crate::support::*;
use events::Aggregate;
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::UserId;
use reqwest::Method;
use serde_json::json;

fn subscription(n: usize) -> serde_json::Value {
    json!({ "endpoint": format!("https://push.example.org/{n}"), "expirationTime": null, "keys": { "p256dh": "B".repeat(87), "auth": "a".repeat(22) } })
}

fn preferences_of() -> Aggregate {
    Aggregate::preferences(&UserId::parse("ana").unwrap())
}

#[tokio::test]
async fn preferences_change_once_and_unknown_kinds_are_named() {
    let api = spawn().await;
    let body = json!({ "email": false, "push": true, "muted": ["post_liked", "post_liked"] });
    api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(body.clone())).await.accepted();
    let again = api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(body)).await;
    assert_eq!(again.body["changed"], false);
    let events = api.events_of(&preferences_of()).await;
    let [DomainEvent::Notifications(NotificationEvent::PreferencesChanged(e))] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert!(!e.preferences.email && e.preferences.muted.len() == 1);
    let unknown = json!({ "email": true, "push": true, "muted": ["gossip"] });
    let reply = api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(unknown)).await;
    reply.problem(422, "invalid-input");
    assert_eq!(reply.body["field"], "muted[0]");
}

#[tokio::test]
async fn a_browser_subscription_is_added_once_removed_once_and_bounded_per_user() {
    let api = spawn().await;
    api.post("/notifications/push-subscriptions", "ana", subscription(1)).await.accepted();
    let again = api.post("/notifications/push-subscriptions", "ana", subscription(1)).await;
    assert_eq!(again.body["changed"], false);
    let remove = json!({ "endpoint": "https://push.example.org/1" });
    api.call(Method::DELETE, "/notifications/push-subscriptions", Some("ana"), Some(remove.clone())).await.accepted();
    let twice = api.call(Method::DELETE, "/notifications/push-subscriptions", Some("ana"), Some(remove)).await;
    assert_eq!(twice.body["changed"], false);
    assert_eq!(api.event_names_of(&preferences_of()).await, ["PushSubscriptionAdded", "PushSubscriptionRemoved"]);
    for n in 0..10 {
        api.post("/notifications/push-subscriptions", "ana", subscription(10 + n)).await.accepted();
    }
    api.post("/notifications/push-subscriptions", "ana", subscription(99)).await.problem(409, "too-many-subscriptions");
    let mut bad = subscription(1);
    bad["keys"]["auth"] = json!("!");
    let reply = api.post("/notifications/push-subscriptions", "ana", bad).await;
    reply.problem(422, "invalid-input");
    assert_eq!(reply.body["field"], "keys.auth");
}

#[tokio::test]
async fn a_subscription_on_a_loopback_or_private_host_is_refused() {
    let api = spawn().await;
    for endpoint in ["https://127.0.0.1/push", "https://[::1]/push", "https://metadata.google.internal/x"] {
        let mut internal = subscription(1);
        internal["endpoint"] = json!(endpoint);
        let reply = api.post("/notifications/push-subscriptions", "ana", internal).await;
        reply.problem(422, "invalid-input");
        assert_eq!(reply.body["field"], "endpoint");
    }
    assert!(api.event_names_of(&preferences_of()).await.is_empty());
}

/// Waits (bounded) until `user`'s inbox holds `count` notifications: the
/// notifier appends them after the events that caused them, so no command
/// position names them.
async fn inbox_of(api: &Api, user: &str, count: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let reply = api.get("/notifications", user, None).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let items = reply.body["items"].as_array().unwrap().clone();
        if items.len() >= count {
            return items;
        }
        assert!(std::time::Instant::now() < deadline, "{user} has {} notifications, not {count}", items.len());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn unread(api: &Api, user: &str, position: Option<&str>) -> serde_json::Value {
    let reply = api.get("/notifications/unread-count", user, position).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

/// Ana's post, and a comment on it by each of `by`, one after the other:
/// one notification each (comments are not grouped).
async fn comments_on_anas_post(api: &Api, by: &[&str]) -> String {
    let post = api.post("/posts", "ana", json!({ "text": "hello" })).await.id();
    for who in by {
        api.member(who).await;
        api.post(&format!("/posts/{post}/comments"), who, json!({ "text": "nice" })).await.accepted();
    }
    post
}

#[tokio::test]
async fn notifications_reach_the_inbox_newest_first_and_are_read_one_at_a_time_or_all_at_once() {
    let api = spawn().await;
    let post = comments_on_anas_post(&api, &["ben", "cy", "dee"]).await;

    let items = inbox_of(&api, "ana", 3).await;
    let actors: Vec<_> = items.iter().map(|n| n["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, ["dee", "cy", "ben"], "newest first");
    assert_eq!(items[0]["kind"], "post_commented");
    assert!(items[0]["link"].as_str().unwrap().starts_with(&format!("/posts/{post}#comment-")), "{items:?}");
    assert!(items.iter().all(|n| n["read"] == false));
    assert_eq!(unread(&api, "ana", None).await, json!({ "unread": 3, "more": false }));

    let newest = items[0]["notification"].as_str().unwrap().to_owned();
    let read = api.post(&format!("/notifications/{newest}/read"), "ana", json!(null)).await;
    read.accepted();
    assert_eq!(unread(&api, "ana", Some(&read.position())).await, json!({ "unread": 2, "more": false }));
    let again = api.post(&format!("/notifications/{newest}/read"), "ana", json!(null)).await;
    assert_eq!(again.body["changed"], false);

    // Read all up to the middle one: the oldest goes with it.
    let middle = items[1]["notification"].as_str().unwrap().to_owned();
    let up_to = api.post("/notifications/read-all", "ana", json!({ "up_to": middle })).await;
    up_to.accepted();
    assert_eq!(unread(&api, "ana", Some(&up_to.position())).await, json!({ "unread": 0, "more": false }));
    let page = api.get("/notifications", "ana", Some(&up_to.position())).await;
    assert!(page.body["items"].as_array().unwrap().iter().all(|n| n["read"] == true), "{:?}", page.body);
}

#[tokio::test]
async fn read_all_without_an_id_reads_up_to_the_newest_and_an_empty_inbox_answers_204() {
    let api = spawn().await;
    api.member("ana").await;
    let empty = api.post("/notifications/read-all", "ana", json!({})).await;
    assert_eq!(empty.status, 204, "{:?}", empty.body);
    comments_on_anas_post(&api, &["ben", "cy"]).await;
    inbox_of(&api, "ana", 2).await;

    let all = api.post("/notifications/read-all", "ana", json!({})).await;
    all.accepted();
    assert_eq!(unread(&api, "ana", Some(&all.position())).await, json!({ "unread": 0, "more": false }));
    assert_eq!(api.event_names_of(&Aggregate::inbox(&UserId::parse("ana").unwrap())).await, ["NotificationsRead"]);
}

#[tokio::test]
async fn nobody_reads_another_users_notification_or_marks_up_to_it() {
    let api = spawn().await;
    for who in ["ana", "ben"] {
        api.member(who).await;
    }
    api.call(Method::PUT, "/users/ana/follow", Some("ben"), None).await.accepted();
    let anas = inbox_of(&api, "ana", 1).await[0]["notification"].as_str().unwrap().to_owned();

    api.post(&format!("/notifications/{anas}/read"), "ben", json!(null)).await.problem(404, "no-such-notification");
    let stolen = json!({ "up_to": anas });
    api.post("/notifications/read-all", "ben", stolen).await.problem(404, "no-such-notification");
    let made_up = json!({ "up_to": uuid::Uuid::now_v7().to_string() });
    api.post("/notifications/read-all", "ana", made_up).await.problem(404, "no-such-notification");
    let reply = api.post("/notifications/not-an-id/read", "ana", json!(null)).await;
    reply.problem(422, "invalid-input");
    assert_eq!(reply.body["field"], "notification_id");
    assert_eq!(unread(&api, "ana", None).await, json!({ "unread": 1, "more": false }));
    assert!(api.get("/notifications", "ben", None).await.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_unsubscribe_link_turns_email_off_for_its_user_only_and_a_forged_one_is_refused() {
    let api = spawn().await;
    api.member("ana").await;
    let muted = json!({ "email": true, "push": true, "muted": ["post_liked"] });
    api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(muted)).await.accepted();
    let token = auth::unsubscribe::token(&auth::Secret::new(SECRET), &UserId::parse("ana").unwrap());
    let link = format!("{}/api/v1/notifications/unsubscribe?user=ana&token={token}", api.base);

    let page = api.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert_eq!(api.event_names_of(&preferences_of()).await, ["PreferencesChanged"], "opening the link changes nothing");

    // What a mail client sends for a one-click unsubscribe.
    let one_click = api.http.post(&link).header("content-type", "application/x-www-form-urlencoded");
    let reply = one_click.body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(reply.status(), 202);
    let again = api.http.post(&link).send().await.unwrap();
    assert_eq!(again.json::<serde_json::Value>().await.unwrap()["changed"], false);
    let events = api.events_of(&preferences_of()).await;
    let Some(DomainEvent::Notifications(NotificationEvent::PreferencesChanged(last))) = events.last() else {
        panic!("{events:?}")
    };
    assert!(!last.preferences.email && last.preferences.muted.len() == 1, "{last:?}");

    for forged in [
        format!("{}/api/v1/notifications/unsubscribe?user=ben&token={token}", api.base),
        format!("{}/api/v1/notifications/unsubscribe?user=ana&token=AAAA", api.base),
        format!("{}/api/v1/notifications/unsubscribe?user=ana", api.base),
    ] {
        let reply = api.http.post(&forged).send().await.unwrap();
        assert_eq!(reply.status(), 403, "{forged}");
        let problem: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(problem["type"], "urn:pulse:problem:invalid-link");
    }
}

#[tokio::test]
async fn follows_within_an_hour_become_one_notification_updated_in_place() {
    let api = spawn().await;
    for who in ["ana", "ben", "cy", "dee"] {
        api.member(who).await;
    }
    for who in ["ben", "cy", "dee"] {
        api.call(Method::PUT, "/users/ana/follow", Some(who), None).await.accepted();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let group = loop {
        let items = inbox_of(&api, "ana", 1).await;
        if items[0]["actors"] == 3 {
            break items;
        }
        assert!(std::time::Instant::now() < deadline, "the group did not reach 3: {items:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(group.len(), 1, "one notification: {group:?}");
    assert_eq!(group[0]["kind"], "new_follower");
    assert_eq!(group[0]["actor"], "ben");
    assert_eq!(group[0]["text"], "ben and 2 others started following you");
}

#[tokio::test]
async fn a_muted_post_tells_nothing_and_the_settings_show_kinds_per_channel_and_mutes() {
    let api = spawn().await;
    api.member("ben").await;
    let quiet = api.post("/posts", "ana", json!({ "text": "quiet" })).await.id();
    let loud = api.post("/posts", "ana", json!({ "text": "loud" })).await.id();
    api.call(Method::PUT, &format!("/notifications/mutes/posts/{quiet}"), Some("ana"), None).await.accepted();
    api.call(Method::PUT, &format!("/posts/{quiet}/like"), Some("ben"), None).await.accepted();
    api.post(&format!("/posts/{loud}/comments"), "ben", json!({ "text": "nice" })).await.accepted();

    // The content stream is read in order: once the comment is in, the like was decided.
    let items = inbox_of(&api, "ana", 1).await;
    let kinds: Vec<_> = items.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["post_commented"], "nothing of the muted post");

    let chosen = json!({ "email": true, "push": false, "email_kinds": ["post_liked", "post_liked"] });
    let changed = api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(chosen)).await;
    let settings = api.get("/notifications/preferences", "ana", Some(&changed.accepted().position())).await;
    assert_eq!(settings.status, 200, "{:?}", settings.body);
    assert_eq!(settings.body["muted_posts"], json!([quiet]));
    assert_eq!(settings.body["email_kinds"], json!(["post_liked"]));
    assert!(
        settings.body["push_kinds"].as_array().unwrap().contains(&json!("mentioned")),
        "defaults: {:?}",
        settings.body
    );
    let unmuted = api.call(Method::DELETE, &format!("/notifications/mutes/posts/{quiet}"), Some("ana"), None).await;
    let settings = api.get("/notifications/preferences", "ana", Some(&unmuted.accepted().position())).await;
    assert_eq!(settings.body["muted_posts"], json!([]));
}

#[tokio::test]
async fn quiet_hours_are_kept_in_the_users_time_zone_and_bad_ones_are_named() {
    let api = spawn().await;
    let nights = json!({ "email": true, "push": true,
        "quiet_hours": { "start": "22:00", "end": "07:00", "time_zone": "Europe/Berlin" } });
    let changed = api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(nights)).await;
    let settings = api.get("/notifications/preferences", "ana", Some(&changed.accepted().position())).await;
    assert_eq!(settings.body["quiet_hours"], json!({ "start": "22:00", "end": "07:00", "time_zone": "Europe/Berlin" }));

    for (quiet, field) in [
        (json!({ "start": "22:00", "end": "07:00", "time_zone": "Mars/Olympus" }), "quiet_hours.time_zone"),
        (json!({ "start": "9:00", "end": "07:00", "time_zone": "UTC" }), "quiet_hours.start"),
        (json!({ "start": "07:00", "end": "07:00", "time_zone": "UTC" }), "quiet_hours.end"),
    ] {
        let body = json!({ "email": true, "push": true, "quiet_hours": quiet });
        let reply = api.call(Method::PUT, "/notifications/preferences", Some("ana"), Some(body)).await;
        reply.problem(422, "invalid-input");
        assert_eq!(reply.body["field"], field);
    }
}

#[tokio::test]
async fn everyone_going_or_interested_hears_when_an_event_changes_and_when_it_is_cancelled() {
    let api = spawn().await;
    let at = |hours: i64| {
        let when = time::OffsetDateTime::now_utc() + time::Duration::hours(hours);
        when.format(&time::format_description::well_known::Rfc3339).unwrap()
    };
    let details = |place: &str| json!({ "title": "Meetup", "place": place, "starts_at": at(24), "ends_at": at(26) });
    let event = api.post("/events", "ana", details("Room 1")).await.id();
    for (who, answer) in [("ben", "going"), ("cy", "interested"), ("dee", "not_going")] {
        let rsvp = json!({ "rsvp": answer });
        api.call(Method::PUT, &format!("/events/{event}/rsvp"), Some(who), Some(rsvp)).await.accepted();
    }

    api.call(Method::PUT, &format!("/events/{event}"), Some("ana"), Some(details("Room 2"))).await.accepted();
    for who in ["ben", "cy"] {
        let told = inbox_of(&api, who, 1).await;
        assert_eq!(told[0]["kind"], "event_updated", "{who}: {told:?}");
        assert_eq!(told[0]["link"], format!("/events/{event}"));
    }
    let cancel = json!({ "reason": "the room flooded" });
    api.post(&format!("/events/{event}/cancel"), "ana", cancel).await.accepted();

    for who in ["ben", "cy"] {
        let told = inbox_of(&api, who, 2).await;
        assert_eq!(told[0]["kind"], "event_cancelled", "{who}: {told:?}");
        assert_eq!(told[0]["text"], "Meetup was cancelled: the room flooded");
    }
    // The organiser (whose own actions these are) and who said no hear nothing;
    // ana hears of the two answers of going and interested only.
    let anas: Vec<_> = inbox_of(&api, "ana", 2).await.iter().map(|n| n["kind"].clone()).collect();
    assert!(anas.iter().all(|kind| kind == "event_rsvp"), "{anas:?}");
    let reply = api.get("/notifications", "dee", None).await;
    assert_eq!(reply.body["items"], json!([]), "{:?}", reply.body);
}
