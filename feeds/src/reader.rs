//! Reading a home feed: one page of the sorted set, merged with the recent
//! posts of the large accounts the user follows, then each post read from
//! the posts model (which leaves out whatever was deleted or hidden since).
//! A feed never built is built first, from the read models. What Redis
//! holds for a first page may come from the first-page cache
//! ([`crate::page_cache`]), unless the read must see a given write.

use crate::{FeedError, Feeds, Models, member};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use read_models::posts::{Audience, RenderedPosts};
use read_models::profiles::Side;
use read_models::rendered::Json;
use read_store::{ReadStore, ReadStoreError};
use std::sync::Arc;

/// One page of a home feed: posts, newest first, as JSON.
pub type FeedPage = read_models::Page<Json>;

/// A feed entry: where the post is in the log, and which post.
type Entry = (u64, String);

/// Which page of whose feed.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// Whose feed.
    pub user: &'a str,
    /// How many posts, at most.
    pub limit: u32,
    /// The `next` of the previous page; none for the first.
    pub cursor: Option<&'a str>,
    /// Whether the page must show every write Redis acknowledged before the
    /// request (read-your-writes), so it is read from Redis itself.
    pub fresh: bool,
}

impl Feeds {
    /// One page of a feed, building the feed first if it was never built
    /// (or Redis lost it); posts rendered before are taken from `rendered`.
    pub async fn page<S: ReadStore>(
        &self,
        models: &Models<'_, S>,
        rendered: &RenderedPosts,
        request: PageRequest<'_>,
    ) -> Result<FeedPage, FeedError> {
        let PageRequest { user, limit, cursor, fresh } = request;
        let before = cursor.map(decode).transpose()?;
        let want = limit as usize + 1;
        let mut read = self.read(user, before, want, fresh).await?;
        if !read.built {
            self.build(models, user).await?;
            read = self.read(user, before, want, fresh).await?;
        }
        let large = merged_large_accounts(models, &read.large, user, before, limit).await?;
        let stored = read.stored.iter().map(|(member, seq)| (*seq, member.as_str()));
        let mut entries: Vec<(u64, &str)> = stored.chain(large.iter().map(|(seq, m)| (*seq, m.as_str()))).collect();
        entries.sort_by(|a, b| b.cmp(a));
        entries.dedup();
        let more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let next = if more { entries.last().map(|(seq, _)| encode(*seq)) } else { None };
        let ids: Vec<String> =
            entries.iter().map(|(_, m)| m.rsplit(':').next().unwrap_or_default().to_owned()).collect();
        // Deleted or hidden since it was fanned out: left out.
        let items = models.posts.many_rendered(&ids, Audience::Public, rendered).await?;
        Ok(FeedPage { items, next })
    }

    /// What one page needs from Redis: whether the feed was built, its
    /// entries before `before` (at most `want`), and the large accounts,
    /// whose posts are merged in. A first page not read `fresh` may come
    /// from the first-page cache.
    async fn read(&self, user: &str, before: Option<u64>, want: usize, fresh: bool) -> Result<Arc<Stored>, FeedError> {
        let key = self.feed_key(user);
        let cache = self.first_pages.as_ref().filter(|_| before.is_none() && !fresh);
        if let Some(kept) = cache.and_then(|cache| cache.get(&key, want)) {
            return Ok(kept);
        }
        let ticket = cache.and_then(|cache| cache.ticket());
        let stored = Arc::new(self.read_redis(user, &key, before, want).await?);
        if let (Some(cache), Some(ticket)) = (cache, ticket)
            && stored.built
        {
            cache.keep(ticket, key, want, stored.clone());
        }
        Ok(stored)
    }

    /// [`Self::read`] from Redis, in one round trip.
    async fn read_redis(&self, user: &str, key: &str, before: Option<u64>, want: usize) -> Result<Stored, FeedError> {
        let max = before.map_or("+inf".to_owned(), |seq| format!("({seq}"));
        let (built, stored, large) = redis::pipe()
            .cmd("EXISTS")
            .arg(self.built_key(user))
            .cmd("ZREVRANGEBYSCORE")
            .arg(key)
            .arg(max)
            .arg("-inf")
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(want)
            .cmd("SMEMBERS")
            .arg(self.large_key())
            .query_async(&mut self.connection())
            .await?;
        Ok(Stored { built, stored, large })
    }

    /// Builds `user`'s feed from the read models: the newest posts of
    /// everyone they follow, and their own, up to the cap.
    pub async fn build<S: ReadStore>(&self, models: &Models<'_, S>, user: &str) -> Result<(), FeedError> {
        let mut authors = models.all_related(user, Side::Following).await?;
        authors.push(user.to_owned());
        let per_author = u32::try_from(self.settings.cap).unwrap_or(u32::MAX).min(read_store::MAX_PAGE_SIZE);
        let mut entries: Vec<Entry> = Vec::new();
        for author in &authors {
            let recent = models.posts.recent(author, None, per_author).await?;
            entries.extend(recent.into_iter().map(|p| (p.seq, member(&p.author, &p.id))));
        }
        entries.sort_by(|a, b| b.cmp(a));
        entries.truncate(self.settings.cap);
        let key = self.feed_key(user);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if !entries.is_empty() {
            pipe.cmd("ZADD").arg(&key);
            for (seq, member) in &entries {
                pipe.arg(*seq).arg(member);
            }
            pipe.ignore();
        }
        let keep = -(i64::try_from(self.settings.cap).unwrap_or(i64::MAX)) - 1;
        pipe.cmd("ZREMRANGEBYRANK").arg(&key).arg(0).arg(keep).ignore();
        pipe.cmd("SET").arg(self.built_key(user)).arg(1).ignore();
        let _: () = pipe.query_async(&mut self.connection()).await?;
        Ok(())
    }
}

/// A page's entries as Redis holds them.
pub(crate) struct Stored {
    built: bool,
    /// (member, sequence), newest first.
    stored: Vec<(String, u64)>,
    /// The large accounts' ids.
    large: Vec<String>,
}

/// The recent posts, older than `before`, of the `large` accounts `user`
/// follows: those are not fanned out. Large accounts are few, so this does
/// not grow with how many people the user follows.
async fn merged_large_accounts<S: ReadStore>(
    models: &Models<'_, S>,
    large: &[String],
    user: &str,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<Entry>, FeedError> {
    let mut entries = Vec::new();
    for author in large {
        if author != user && !models.profiles.follows(user, author).await? {
            continue;
        }
        let recent = models.posts.recent(author, before, limit + 1).await?;
        entries.extend(recent.into_iter().map(|p| (p.seq, member(&p.author, &p.id))));
    }
    Ok(entries)
}

fn encode(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(seq.to_string())
}

fn decode(cursor: &str) -> Result<u64, FeedError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).map_err(|_| ReadStoreError::InvalidCursor)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ReadStoreError::InvalidCursor)?;
    Ok(text.parse().map_err(|_| ReadStoreError::InvalidCursor)?)
}
