//! Home feeds in Redis. Each user's feed is a sorted set of the posts of the
//! people they follow (and their own), scored by the log sequence of each
//! `PostCreated`, capped at [`FeedSettings::cap`] (400, the figure Mastodon
//! uses). Members are `author:post`, so everything of one author can be
//! taken out of a feed without a lookup.
//!
//! Owns: the fan-out on write ([`writer`], run by the projectors as a
//! [`projectors::Reactor`]): a new post goes to every follower's feed, a
//! follow brings the followee's recent posts in, an unfollow or a block takes
//! them out, a deleted or hidden post leaves every feed. Authors with more
//! followers than [`FeedSettings::fanout_max`] are not fanned out: their posts
//! are merged in when a feed is read ([`reader`]). A feed that is missing (a
//! new user, or Redis lost its data) is built from the read models on first
//! read, never served empty.
//! Never touches: the read models' documents (it reads them through their
//! queries), HTTP.
//!
//! Every write is a set operation (add a member with its score, remove one,
//! trim), so an event handled twice changes nothing.

pub mod page_cache;
pub mod reader;
pub mod writer;

pub use page_cache::PageCacheStats;
pub use reader::{FeedPage, PageRequest};
pub use writer::FeedWriter;

use page_cache::PageCache;
use read_models::Generation;
use read_models::posts::PostQueries;
use read_models::profiles::{ProfileQueries, Side};
use read_store::{ReadStore, ReadStoreError};
use reader::Stored;
use redis::aio::ConnectionManager;
use std::time::Duration;

/// The reactor's name in checkpoints, consumers and `Pulse-After` waits.
pub const NAME: &str = "feeds";

/// The streams the feeds follow: follows and blocks, posts and moderation.
pub const CONTEXTS: &[events::Context] = &[events::Context::Users, events::Context::Content];

/// How feeds are kept.
#[derive(Debug, Clone, Copy)]
pub struct FeedSettings {
    /// The most posts a feed holds.
    pub cap: usize,
    /// Authors with more followers than this are merged at read time instead
    /// of fanned out on write.
    pub fanout_max: u64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self { cap: 400, fanout_max: 10_000 }
    }
}

/// Why a feed could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Redis is down or refused the command.
    #[error("redis unavailable: {0}")]
    Redis(String),
    /// The read models could not be read.
    #[error(transparent)]
    Store(#[from] ReadStoreError),
}

impl From<redis::RedisError> for FeedError {
    fn from(error: redis::RedisError) -> Self {
        Self::Redis(error.to_string())
    }
}

/// The feeds of one namespace in one Redis. Cheap to clone.
#[derive(Clone)]
pub struct Feeds {
    redis: ConnectionManager,
    client: redis::Client,
    prefix: String,
    settings: FeedSettings,
    /// First pages as Redis last gave them, in a process that serves feeds.
    first_pages: Option<PageCache<Stored>>,
}

/// What a feed's key is followed by in the key of its built mark.
const BUILT: &str = ":built";

/// Bound on every Redis call: a stuck server must not hold a request or a
/// projector forever.
const TIMEOUT: Duration = Duration::from_secs(3);

impl Feeds {
    /// Connects to Redis at `url`; keys start with `namespace`.
    pub async fn connect(url: &str, namespace: &str, settings: FeedSettings) -> Result<Self, FeedError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(2);
        let redis = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Self { redis, client, prefix: namespace.to_owned(), settings, first_pages: None })
    }

    /// These feeds, keeping the first pages of up to `pages` feeds as Redis
    /// last gave them, kept true by Redis's notices of writes (see
    /// [`page_cache`]); zero keeps none. For a process that serves feeds:
    /// it opens a connection of its own.
    #[must_use]
    pub fn with_first_pages(mut self, pages: usize) -> Self {
        if pages == 0 {
            self.first_pages = None;
            return self;
        }
        let feeds = format!("{}:feed:", self.prefix);
        // A feed's page is read from its sorted set, its built mark and the
        // large accounts; the last (or anything else) concerns every page.
        let page_of =
            move |key: &str| key.starts_with(&feeds).then(|| key.strip_suffix(BUILT).unwrap_or(key).to_owned());
        let prefix = format!("{}:feed", self.prefix);
        self.first_pages = Some(PageCache::start(self.client.clone(), prefix, pages, Box::new(page_of)));
        self
    }

    /// How the first-page cache is doing, if there is one.
    pub fn first_pages_stats(&self) -> Option<PageCacheStats> {
        self.first_pages.as_ref().map(PageCache::stats)
    }

    /// Deletes every feed of this namespace, with their marks and the large
    /// accounts: after the log began a new life they hold the old one's
    /// posts. Each is rebuilt from the read models when next read.
    pub async fn forget_all(&self) -> Result<(), FeedError> {
        let mut redis = self.connection();
        let pattern = format!("{}:feed*", self.prefix);
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut redis)
                .await?;
            if !keys.is_empty() {
                let _: u64 = redis::cmd("UNLINK").arg(&keys).query_async(&mut redis).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Whether Redis answers.
    pub async fn ping(&self) -> Result<(), FeedError> {
        let _: String = redis::cmd("PING").query_async(&mut self.redis.clone()).await?;
        Ok(())
    }

    fn feed_key(&self, user: &str) -> String {
        format!("{}:feed:{user}", self.prefix)
    }

    /// Set once a feed was built in full: a feed that only received fan-out
    /// since Redis lost its data is not complete.
    fn built_key(&self, user: &str) -> String {
        format!("{}{BUILT}", self.feed_key(user))
    }

    /// The authors whose posts are merged at read time.
    fn large_key(&self) -> String {
        format!("{}:feed-large-authors", self.prefix)
    }

    fn connection(&self) -> ConnectionManager {
        self.redis.clone()
    }
}

fn member(author: &str, post: &str) -> String {
    format!("{author}:{post}")
}

/// The read models a feed is made from, in their live generations.
pub struct Models<'a, S> {
    /// Followers and followings.
    pub profiles: ProfileQueries<'a, S>,
    /// Authors' posts.
    pub posts: PostQueries<'a, S>,
}

impl<'a, S: ReadStore> Models<'a, S> {
    /// The models in `store`, at these generations.
    pub fn new(store: &'a S, profiles: Generation, posts: Generation) -> Self {
        Self { profiles: ProfileQueries::new(store, profiles), posts: PostQueries::new(store, posts, profiles) }
    }

    /// Everyone on one side of `user`'s follows, page by page.
    async fn all_related(&self, user: &str, side: Side) -> Result<Vec<String>, ReadStoreError> {
        let mut users = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.profiles.related(user, side, 100, cursor).await?;
            users.extend(page.items.into_iter().map(|r| r.user));
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(users),
            }
        }
    }
}
