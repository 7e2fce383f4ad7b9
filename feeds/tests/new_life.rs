//! After the log began a new life, the feeds of the old one go: every key
//! under this namespace's feed prefix, and no other namespace's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use redis::AsyncCommands;

fn namespace() -> String {
    format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[tokio::test]
async fn forgetting_every_feed_deletes_the_namespaces_feeds_marks_and_large_accounts_and_nothing_else() {
    let url = testkit::redis::redis_url();
    let (ours, theirs) = (namespace(), namespace());
    let mut redis = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut keys = Vec::new();
    for n in 0..1_500 {
        keys.push(format!("{ours}:feed:user{n}"));
    }
    keys.extend([format!("{ours}:feed:ana:built"), format!("{ours}:feed-large-authors")]);
    for key in &keys {
        let _: () = redis.zadd(key, "ana:post", 1).await.unwrap();
    }
    let kept = [format!("{theirs}:feed:ana"), format!("{ours}:presence:ana")];
    for key in &kept {
        let _: () = redis.zadd(key, "x", 1).await.unwrap();
    }
    let feeds = feeds::Feeds::connect(&url, &ours, feeds::FeedSettings::default()).await.unwrap();

    feeds.forget_all().await.unwrap();

    let left: Vec<String> = redis.keys(format!("{ours}:feed*")).await.unwrap();
    assert!(left.is_empty(), "{} feed keys left", left.len());
    for key in &kept {
        assert!(redis.exists::<_, bool>(key).await.unwrap(), "{key} is not a feed of this namespace");
    }
    let _: () = redis.del(&kept[..]).await.unwrap();
}
