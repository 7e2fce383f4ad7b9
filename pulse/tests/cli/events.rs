//! `pulse events show` and `pulse events tail`.

use crate::{pulse, stderr, stdout};
use events::catalog::content::{PostBody, PostCreated, PostDeleted, PostEdited};
use events::ids::{PostId, UserId};
use events::{Aggregate, Expected, Metadata};
use testkit::TestLog;

fn body(text: &str) -> PostBody {
    PostBody { text: text.into(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] }
}

/// A post by ana, edited by her, and a post by ben.
async fn given_two_posts(log: &TestLog) -> (PostId, PostId) {
    let (ana, ben) = (UserId::parse("ana").unwrap(), UserId::parse("ben").unwrap());
    let (first, second) = (PostId::new(), PostId::new());
    let by = |user: &UserId| Metadata::new(Some(user.clone()));
    let created = PostCreated { post: first, author: ana.clone(), body: body("hello") };
    log.store.append(&Aggregate::post(first), Expected::Version(0), created, &by(&ana), None).await.unwrap();
    let edited = PostEdited { post: first, body: body("hello again") };
    log.store.append(&Aggregate::post(first), Expected::Any, edited, &by(&ana), None).await.unwrap();
    let other = PostCreated { post: second, author: ben.clone(), body: body("hi") };
    log.store.append(&Aggregate::post(second), Expected::Version(0), other, &by(&ben), None).await.unwrap();
    (first, second)
}

#[tokio::test]
async fn show_prints_an_aggregates_history_in_order_with_its_version() {
    let log = TestLog::new().await;
    let (first, _) = given_two_posts(&log).await;
    let namespace = log.namespace.as_str().to_owned();
    let address = format!("content.post.{first}");
    let output =
        tokio::task::spawn_blocking(move || pulse(&["events", "show", &address], &[("PULSE_NAMESPACE", &namespace)]))
            .await
            .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("pulse.content.PostCreated.v1") && lines[0].contains("actor=ana"), "{}", lines[0]);
    assert!(lines[1].contains("pulse.content.PostEdited.v1") && lines[1].contains("hello again"), "{}", lines[1]);
    assert!(stderr(&output).contains("2 events, version"), "{}", stderr(&output));
}

#[tokio::test]
async fn show_at_a_position_prints_the_history_up_to_it_and_the_state_the_rules_saw_there() {
    let log = TestLog::new().await;
    let (first, _) = given_two_posts(&log).await;
    let aggregate = Aggregate::post(first);
    let edited = log.store.version(&aggregate).await.unwrap();
    let deletion = PostDeleted { post: first, by: UserId::parse("ana").unwrap() };
    let metadata = Metadata::new(UserId::parse("ana").ok());
    let deleted = log.store.append(&aggregate, Expected::Version(edited), deletion, &metadata, None).await.unwrap();
    let namespace = log.namespace.as_str().to_owned();
    let show = move |at: String| {
        let (namespace, address) = (namespace.clone(), aggregate.to_string());
        tokio::task::spawn_blocking(move || {
            pulse(&["events", "show", &address, "--at", &at], &[("PULSE_NAMESPACE", &namespace)])
        })
    };

    let output = show(format!("content:{edited}")).await.unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("PostEdited.v1") && !printed.contains("PostDeleted"), "{printed}");
    assert!(printed.contains(&format!("state at content:{edited}:")) && printed.contains("Live {"), "{printed}");
    assert!(stderr(&output).contains(&format!("2 events, version {edited}")), "{}", stderr(&output));

    let later = show(deleted.position.to_string()).await.unwrap();
    assert!(stdout(&later).contains("Deleted"), "{}", stdout(&later));

    let elsewhere = show("chat:1".to_owned()).await.unwrap();
    assert!(!elsewhere.status.success());
    assert!(stderr(&elsewhere).contains("is in the content stream, not chat"), "{}", stderr(&elsewhere));
}

#[tokio::test]
async fn tail_until_now_prints_the_filtered_log_as_cloudevents_and_exits() {
    let log = TestLog::new().await;
    let (_, second) = given_two_posts(&log).await;
    let namespace = log.namespace.as_str().to_owned();
    let until = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let args = ["events", "tail", "--context", "content", "--actor", "ben", "--until", &until, "--format", "json"];
        pulse(&args, &[("PULSE_NAMESPACE", &namespace)])
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["type"], "pulse.content.PostCreated.v1");
    assert_eq!(lines[0]["subject"], format!("content.post.{second}"));
    assert_eq!(lines[0]["actor"], "ben");
    assert_eq!(lines[0]["specversion"], "1.0");
}

#[tokio::test]
async fn tail_by_type_across_contexts_sees_only_that_type() {
    let log = TestLog::new().await;
    given_two_posts(&log).await;
    let namespace = log.namespace.as_str().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let until = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
        pulse(&["events", "tail", "--type", "PostEdited", "--until", &until], &[("PULSE_NAMESPACE", &namespace)])
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("PostEdited"), "{text}");
}

#[tokio::test]
async fn a_malformed_aggregate_address_is_a_clear_error() {
    let output = tokio::task::spawn_blocking(|| pulse(&["events", "show", "content.tweet.x"], &[])).await.unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("unknown aggregate kind"), "{}", stderr(&output));
}
