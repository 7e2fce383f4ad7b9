//! Fan-out on write: the events that change who should see which post, and
//! what each does to the feeds.
//!
//! The writer reads followers from the profiles model and authors' posts from
//! the posts model, which other projectors build from other streams at their
//! own pace. Before it acts on a post it waits until the profiles model has
//! read the users stream as far as the writer itself has, and before it acts
//! on a follow, until the posts model has read the content stream as far: so
//! a follow and a post that cross are seen together by one side or the other
//! (the follow's backfill finds the post, or the post's fan-out finds the
//! follower), never by neither.

use crate::{FeedError, Feeds, Models, member};
use events::catalog::content::{ContentEvent, ContentRef};
use events::catalog::users::UserEvent;
use events::catalog::{Context, DomainEvent};
use events::store::{Position, Recorded};
use futures::future::BoxFuture;
use projectors::{Progress, Reactor};
use read_models::profiles::Side;
use read_models::{Generation, registry};
use read_store::AnyStore;
use std::time::Duration;

/// Longest wait for another model to catch up; past it the writer goes on
/// with what is there (a projector of that model is down, and a stuck feed
/// would help nobody).
const MODEL_WAIT: Duration = Duration::from_secs(5);

/// The feeds' side of the log, run by the projectors.
pub struct FeedWriter {
    feeds: Feeds,
    store: AnyStore,
    progress: Progress,
}

impl Reactor for FeedWriter {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn contexts(&self) -> &'static [Context] {
        crate::CONTEXTS
    }

    fn react<'a>(&'a self, recorded: &'a Recorded) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.handle(recorded).await.map_err(|e| e.to_string()) })
    }

    fn new_life<'a>(&'a self, _contexts: &'a [Context]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.feeds.forget_all().await.map_err(|e| e.to_string()) })
    }
}

impl FeedWriter {
    /// A writer of `feeds` reading the models in `store`; `progress` follows
    /// the profiles and posts projections.
    pub fn new(feeds: Feeds, store: AnyStore, progress: Progress) -> Self {
        Self { feeds, store, progress }
    }

    fn models(&self) -> Models<'_, AnyStore> {
        Models::new(&self.store, self.progress.generation("profiles"), self.progress.generation("posts"))
    }

    async fn handle(&self, recorded: &Recorded) -> Result<(), FeedError> {
        let sequence = recorded.position.sequence;
        match &recorded.event {
            DomainEvent::Content(event) => match event {
                ContentEvent::PostCreated(p) => {
                    self.caught_up("profiles", Context::Users).await?;
                    self.publish(p.author.as_str(), &p.post.to_string(), sequence).await
                }
                // Only the author deletes a post, so `by` is the author.
                ContentEvent::PostDeleted(p) => self.retract(p.by.as_str(), &p.post.to_string()).await,
                ContentEvent::ContentHidden(h) => self.moderated(h.target, sequence, false).await,
                ContentEvent::ContentRestored(r) => self.moderated(r.target, sequence, true).await,
                _ => Ok(()),
            },
            DomainEvent::Users(event) => match event {
                UserEvent::Followed(f) => {
                    self.caught_up("posts", Context::Content).await?;
                    self.backfill(f.follower.as_str(), f.followee.as_str()).await
                }
                UserEvent::Unfollowed(f) => self.forget(f.follower.as_str(), f.followee.as_str()).await,
                UserEvent::UserBlocked(b) => {
                    self.forget(b.blocker.as_str(), b.blocked.as_str()).await?;
                    self.forget(b.blocked.as_str(), b.blocker.as_str()).await
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Waits until `projection` has read `context` as far as this writer has.
    async fn caught_up(&self, projection: &str, context: Context) -> Result<(), FeedError> {
        let mine = registry::checkpoint(&self.store, crate::NAME, Generation::FIRST, context).await?.sequence;
        let position = Position { context, sequence: mine };
        if !self.progress.wait(&[projection], position, MODEL_WAIT).await {
            tracing::warn!(projection, %position, "the feeds went on before a model caught up");
        }
        Ok(())
    }

    /// Adds a post to its author's feed and every follower's, unless the
    /// author has too many followers: then it is merged at read time.
    async fn publish(&self, author: &str, post: &str, sequence: u64) -> Result<(), FeedError> {
        let models = self.models();
        let mut redis = self.feeds.connection();
        let large: bool =
            redis::cmd("SISMEMBER").arg(self.feeds.large_key()).arg(author).query_async(&mut redis).await?;
        let followers = models.profiles.profile(author).await?.map_or(0, |p| p.stats.followers);
        if large || followers > self.feeds.settings.fanout_max {
            let _: () = redis::cmd("SADD").arg(self.feeds.large_key()).arg(author).query_async(&mut redis).await?;
            return self.add(&[author.to_owned()], &[(sequence, member(author, post))]).await;
        }
        let mut readers = models.all_related(author, Side::Followers).await?;
        readers.push(author.to_owned());
        self.add(&readers, &[(sequence, member(author, post))]).await
    }

    /// Takes a post out of its author's feed and every follower's.
    async fn retract(&self, author: &str, post: &str) -> Result<(), FeedError> {
        let mut readers = self.models().all_related(author, Side::Followers).await?;
        readers.push(author.to_owned());
        let mut pipe = redis::pipe();
        for reader in &readers {
            pipe.cmd("ZREM").arg(self.feeds.feed_key(reader)).arg(member(author, post)).ignore();
        }
        let _: () = pipe.query_async(&mut self.feeds.connection()).await?;
        Ok(())
    }

    /// A post hidden or restored by a moderator leaves or rejoins the feeds.
    async fn moderated(&self, target: ContentRef, sequence: u64, restored: bool) -> Result<(), FeedError> {
        let ContentRef::Post(post) = target else { return Ok(()) };
        // The post's author and place are in the posts model, from events
        // before this one.
        let position = Position { context: Context::Content, sequence: sequence.saturating_sub(1) };
        self.progress.wait(&["posts"], position, MODEL_WAIT).await;
        let Some(found) = self.models().posts.reference(&post.to_string()).await? else { return Ok(()) };
        if restored {
            self.publish(&found.author, &found.id, found.seq).await
        } else {
            self.retract(&found.author, &found.id).await
        }
    }

    /// Brings the followee's recent posts into the follower's feed.
    async fn backfill(&self, follower: &str, followee: &str) -> Result<(), FeedError> {
        let mut redis = self.feeds.connection();
        let large: bool =
            redis::cmd("SISMEMBER").arg(self.feeds.large_key()).arg(followee).query_async(&mut redis).await?;
        if large {
            return Ok(());
        }
        let cap = u32::try_from(self.feeds.settings.cap).unwrap_or(u32::MAX).min(read_store::MAX_PAGE_SIZE);
        let recent = self.models().posts.recent(followee, None, cap).await?;
        let entries: Vec<_> = recent.iter().map(|p| (p.seq, member(&p.author, &p.id))).collect();
        self.add(&[follower.to_owned()], &entries).await
    }

    /// Takes every post of `author` out of `reader`'s feed.
    async fn forget(&self, reader: &str, author: &str) -> Result<(), FeedError> {
        let key = self.feeds.feed_key(reader);
        let mut redis = self.feeds.connection();
        let members: Vec<String> = redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query_async(&mut redis).await?;
        let prefix = format!("{author}:");
        let gone: Vec<&String> = members.iter().filter(|m| m.starts_with(&prefix)).collect();
        if !gone.is_empty() {
            let _: () = redis::cmd("ZREM").arg(&key).arg(gone).query_async(&mut redis).await?;
        }
        Ok(())
    }

    /// Adds entries to each reader's feed and trims it to the cap.
    async fn add(&self, readers: &[String], entries: &[(u64, String)]) -> Result<(), FeedError> {
        if entries.is_empty() {
            return Ok(());
        }
        let keep = -(i64::try_from(self.feeds.settings.cap).unwrap_or(i64::MAX)) - 1;
        for chunk in readers.chunks(500) {
            let mut pipe = redis::pipe();
            for reader in chunk {
                let key = self.feeds.feed_key(reader);
                pipe.cmd("ZADD").arg(&key);
                for (score, member) in entries {
                    pipe.arg(*score).arg(member);
                }
                pipe.ignore();
                pipe.cmd("ZREMRANGEBYRANK").arg(&key).arg(0).arg(keep).ignore();
            }
            let _: () = pipe.query_async(&mut self.feeds.connection()).await?;
        }
        Ok(())
    }
}
