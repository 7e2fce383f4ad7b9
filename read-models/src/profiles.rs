//! Profiles: each user's public profile with its statistics (followers,
//! following, posts, likes received), who follows whom, and who blocks whom.
//!
//! Collections: `users` (one document per user), `follows` (one per follow,
//! id `follower:followee`), `blocks` (one per block, id `blocker:blocked`).
//! Counters move by one per event; the engine's marks make a replayed event
//! move them not at all. A user id holds no `:`, so the pair ids are unique.
//!
//! User search: a users document carries `tokens`, the
//! [`read_store::substring_tokens`] of its handle and display name, written
//! with them by `UserRegistered` and `ProfileUpdated` (v2 carries the handle
//! for this: the projection cannot read the document it updates). An update
//! stored as v1 has no handle, so it indexes the display name alone: such a
//! user is found by name, not by handle, until their next profile update.
//!
//! "Who to follow" is computed when asked, from the follows, within fixed
//! bounds: see [`ProfileQueries::suggestions`].

use crate::projection::{Event, Generation, Projection};
use events::catalog::content::ContentEvent;
use events::catalog::users::UserEvent;
use events::catalog::{Context, DomainEvent};
use read_store::{
    Collection, Direction, Document, Filter, IfMissing, Query, ReadStore, ReadStoreError, TOKENS_FIELD, Update, Write,
    substring_matches, substring_query, substring_tokens,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

const USERS: &str = "users";
const FOLLOWS: &str = "follows";
const BLOCKS: &str = "blocks";

/// The profiles projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Profiles;

impl Projection for Profiles {
    fn name(&self) -> &'static str {
        "profiles"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Users, Context::Content]
    }

    fn collections(&self) -> Vec<Collection> {
        vec![
            Collection::new(USERS).index(&["handle"]),
            Collection::new(FOLLOWS).index(&["followee", "since"]).index(&["follower", "since"]),
            Collection::new(BLOCKS).index(&["blocker", "since"]),
        ]
    }

    fn apply(&self, event: Event<'_>) -> Vec<Write> {
        match event.event {
            DomainEvent::Users(e) => users_event(e, event),
            DomainEvent::Content(e) => content_event(e),
            _ => Vec::new(),
        }
    }
}

fn users_event(e: &UserEvent, at: Event<'_>) -> Vec<Write> {
    match e {
        UserEvent::UserRegistered(r) => vec![set(
            r.user.as_str(),
            [
                ("user", json!(r.user)),
                ("handle", json!(r.handle)),
                ("display_name", json!(r.display_name)),
                ("joined", json!(timestamp(at.time))),
                (TOKENS_FIELD, json!(substring_tokens(&[r.handle.as_str(), &r.display_name]))),
            ],
        )],
        UserEvent::ProfileUpdated(u) => {
            let name = u.profile.display_name.as_str();
            let tokens = match &u.handle {
                Some(handle) => substring_tokens(&[handle.as_str(), name]),
                // A v1 update: the handle is unknown here (see the module doc).
                None => substring_tokens(&[name]),
            };
            vec![set(
                u.user.as_str(),
                [
                    (TOKENS_FIELD, json!(tokens)),
                    ("display_name", json!(name)),
                    ("bio", json!(u.profile.bio)),
                    ("avatar_url", json!(u.profile.avatar_url)),
                    ("location", json!(u.profile.location)),
                    ("website", json!(u.profile.website)),
                ],
            )]
        }
        UserEvent::Followed(f) => {
            let (follower, followee) = (f.follower.as_str(), f.followee.as_str());
            let edge =
                json!({"follower": follower, "followee": followee, "since": at.sequence, "at": timestamp(at.time)});
            vec![
                Write::put(FOLLOWS, &pair(follower, followee), object(edge)),
                count(followee, "followers", 1),
                count(follower, "following", 1),
            ]
        }
        UserEvent::Unfollowed(f) => {
            let (follower, followee) = (f.follower.as_str(), f.followee.as_str());
            vec![
                Write::delete(FOLLOWS, &pair(follower, followee)),
                count(followee, "followers", -1),
                count(follower, "following", -1),
            ]
        }
        UserEvent::UserBlocked(b) => {
            let (blocker, blocked) = (b.blocker.as_str(), b.blocked.as_str());
            let edge = json!({"blocker": blocker, "blocked": blocked, "since": at.sequence, "at": timestamp(at.time)});
            vec![Write::put(BLOCKS, &pair(blocker, blocked), object(edge))]
        }
        UserEvent::UserUnblocked(b) => vec![Write::delete(BLOCKS, &pair(b.blocker.as_str(), b.blocked.as_str()))],
        UserEvent::HandleClaimed(_) | UserEvent::SettingsChanged(_) => Vec::new(),
    }
}

fn content_event(e: &ContentEvent) -> Vec<Write> {
    match e {
        ContentEvent::PostCreated(p) => vec![count(p.author.as_str(), "posts", 1)],
        // Only the author deletes a post (moderators hide), so `by` is the author.
        ContentEvent::PostDeleted(p) => vec![count(p.by.as_str(), "posts", -1)],
        ContentEvent::PostLiked(l) => vec![count(l.author.as_str(), "likes_received", 1)],
        ContentEvent::PostUnliked(l) => vec![count(l.author.as_str(), "likes_received", -1)],
        _ => Vec::new(),
    }
}

/// Sets fields of a user's document, creating it: a counter's event from the
/// other stream may have created it first.
fn set<const N: usize>(user: &str, fields: [(&str, Value); N]) -> Write {
    let updates = fields.into_iter().map(|(field, value)| Update::Set(field.to_owned(), value)).collect();
    Write::update(USERS, user, updates, IfMissing::Create)
}

fn count(user: &str, field: &str, by: i64) -> Write {
    Write::update(USERS, user, vec![Update::Increment(field.to_owned(), by)], IfMissing::Create)
}

fn pair(a: &str, b: &str) -> String {
    format!("{a}:{b}")
}

fn object(value: Value) -> Document {
    match value {
        Value::Object(doc) => doc,
        _ => Document::new(),
    }
}

fn timestamp(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// A user's public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Profile {
    /// The user id.
    pub user: String,
    /// The unique handle.
    pub handle: String,
    /// The name shown to others.
    pub display_name: String,
    /// A short self-description.
    pub bio: Option<String>,
    /// An https URL to an image.
    pub avatar_url: Option<String>,
    /// Free text, such as a campus or city.
    pub location: Option<String>,
    /// An http(s) URL.
    pub website: Option<String>,
    /// When the user registered (RFC 3339).
    pub joined: String,
    /// Counts.
    pub stats: Stats,
}

/// What names a user on what they wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The unique handle.
    pub handle: String,
    /// The name shown to others.
    pub display_name: String,
}

/// What a profile counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Stats {
    /// Users following this one.
    pub followers: u64,
    /// Users this one follows.
    pub following: u64,
    /// Posts written and not deleted.
    pub posts: u64,
    /// Likes on this user's posts.
    pub likes_received: u64,
}

/// One user in a list of followers, following or blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Related {
    /// The other user's id.
    pub user: String,
    /// Their handle, when they are registered.
    pub handle: Option<String>,
    /// Their display name, when they are registered.
    pub display_name: Option<String>,
    /// Since when (RFC 3339).
    pub since: String,
}

/// A page of Relateds.
pub type RelatedPage = crate::Page<Related>;

/// One user found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserHit {
    /// The user id.
    pub user: String,
    /// Their handle.
    pub handle: String,
    /// Their display name.
    pub display_name: String,
}

/// A page of UserHits.
pub type UserPage = crate::Page<UserHit>;

/// The longest search text accepted, in characters: no display name is
/// longer, and the words asked for stay few.
pub const MAX_SEARCH_CHARS: usize = 50;

/// Why a user search did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    /// The text cannot be searched for; the reason is for the client.
    Invalid(&'static str),
    /// The store failed.
    Store(ReadStoreError),
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(why) => write!(f, "search text {why}"),
            Self::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SearchError {}

impl From<ReadStoreError> for SearchError {
    fn from(e: ReadStoreError) -> Self {
        Self::Store(e)
    }
}

/// How many of the user's own followings suggestions start from: the most
/// recent ones, one page of the store.
pub const SUGGESTION_FOLLOWINGS: u32 = 100;

/// How many followings of each of those are counted: again the most recent.
/// With [`SUGGESTION_FOLLOWINGS`], at most 101 list reads per request.
pub const SUGGESTION_FANOUT: u32 = 100;

/// How many ranked candidates are checked (already followed, blocked either
/// way, registered) before giving up on filling the list: three or four gets
/// each, so a user who blocks many popular accounts still gets a bounded answer.
pub const SUGGESTION_CHECKS: usize = 200;

/// The most suggestions one request returns.
pub const MAX_SUGGESTIONS: u32 = 50;

/// Someone the user might follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Suggestion {
    /// Their user id.
    pub user: String,
    /// Their handle.
    pub handle: String,
    /// Their display name.
    pub display_name: String,
    /// How many of the people the user follows (among those looked at) follow them.
    pub mutual: u32,
}

/// Suggestions, best first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Suggestions {
    /// Most mutual follows first, then by user id.
    pub items: Vec<Suggestion>,
}

/// Which side of a follow a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Who follows the user.
    Followers,
    /// Whom the user follows.
    Following,
}

/// The queries over one generation of the profiles projection.
pub struct ProfileQueries<'a, S> {
    store: &'a S,
    generation: Generation,
}

impl<'a, S: ReadStore> ProfileQueries<'a, S> {
    /// Queries over `generation` in `store`.
    pub fn new(store: &'a S, generation: Generation) -> Self {
        Self { store, generation }
    }

    /// A registered user's profile; `None` for a user never registered (a
    /// document made only by counters is not a profile).
    pub async fn profile(&self, user: &str) -> Result<Option<Profile>, ReadStoreError> {
        let Some(doc) = self.store.get(&self.generation.collection(USERS), user).await? else { return Ok(None) };
        Ok(profile(user, &doc))
    }

    /// The names of several users at once, in their order (`None` for one
    /// never registered); at most a page's worth. Only the names: a page of
    /// posts names its authors and shows nothing else of their profiles.
    pub async fn names(&self, users: &[String]) -> Result<Vec<Option<Names>>, ReadStoreError> {
        let docs = self.store.get_many_shared(&self.generation.collection(USERS), users).await?;
        Ok(docs.into_iter().map(|doc| doc.and_then(|doc| names(&doc))).collect())
    }

    /// One page of a user's followers or followings, newest first.
    pub async fn related(
        &self,
        user: &str,
        side: Side,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<RelatedPage, ReadStoreError> {
        let (mine, theirs) = match side {
            Side::Followers => ("followee", "follower"),
            Side::Following => ("follower", "followee"),
        };
        self.page(FOLLOWS, mine, theirs, user, limit, cursor).await
    }

    /// One page of the users `blocker` blocks, newest first.
    pub async fn blocks(
        &self,
        blocker: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<RelatedPage, ReadStoreError> {
        self.page(BLOCKS, "blocker", "blocked", blocker, limit, cursor).await
    }

    /// Whether `follower` follows `followee`.
    pub async fn follows(&self, follower: &str, followee: &str) -> Result<bool, ReadStoreError> {
        Ok(self.store.get(&self.generation.collection(FOLLOWS), &pair(follower, followee)).await?.is_some())
    }

    /// Whether `blocker` blocks `blocked`.
    pub async fn blocks_user(&self, blocker: &str, blocked: &str) -> Result<bool, ReadStoreError> {
        Ok(self.store.get(&self.generation.collection(BLOCKS), &pair(blocker, blocked)).await?.is_some())
    }

    /// One page of the registered users whose handle or display name holds
    /// every word of `q`, by handle. A word of one or two characters matches
    /// the start of a word ("jo" finds "José"), a longer one any part of a
    /// word ("ana" finds "Mariana"), regardless of case and accents; `_` in a
    /// handle separates words ("ana_s" finds `ana_silva`).
    pub async fn search(&self, q: &str, limit: u32, cursor: Option<String>) -> Result<UserPage, SearchError> {
        if q.chars().count() > MAX_SEARCH_CHARS {
            return Err(SearchError::Invalid("must be at most 50 characters"));
        }
        let words = substring_query(q);
        if words.is_empty() {
            return Err(SearchError::Invalid("must hold a letter or a digit"));
        }
        let filter = Filter { words: Some(words), ..Filter::all() };
        let query = Query::new(filter, "handle", Direction::Ascending).limit(limit).after(cursor);
        let page = self.store.find(&self.generation.collection(USERS), &query).await?;
        let items = page
            .items
            .into_iter()
            .filter_map(|found| {
                let handle = text(&found.doc, "handle")?;
                let display_name = text(&found.doc, "display_name").unwrap_or_default();
                // The trigrams can all be there without the text being there.
                substring_matches(q, &[&handle, &display_name]).then_some(UserHit {
                    user: found.id,
                    handle,
                    display_name,
                })
            })
            .collect();
        Ok(UserPage { items, next: page.next })
    }

    /// Up to `limit` (at most [`MAX_SUGGESTIONS`]) registered users `user`
    /// might follow: the people followed by the people `user` follows, ranked
    /// by how many of those follow them, ties by user id. Left out: `user`,
    /// whoever `user` already follows, and anyone `user` blocks or who blocks
    /// `user`. Computed now, within bounds: the [`SUGGESTION_FOLLOWINGS`] most
    /// recent followings of `user`, the [`SUGGESTION_FANOUT`] most recent
    /// followings of each, and the first [`SUGGESTION_CHECKS`] candidates.
    pub async fn suggestions(&self, user: &str, limit: u32) -> Result<Suggestions, ReadStoreError> {
        let limit = limit.clamp(1, MAX_SUGGESTIONS) as usize;
        let mine = self.followees(user, SUGGESTION_FOLLOWINGS).await?;
        let followed: HashSet<&str> = mine.iter().map(String::as_str).collect();
        let mut mutual: HashMap<String, u32> = HashMap::new();
        for friend in &mine {
            for candidate in self.followees(friend, SUGGESTION_FANOUT).await? {
                if candidate != user && !followed.contains(candidate.as_str()) {
                    *mutual.entry(candidate).or_default() += 1;
                }
            }
        }
        let mut ranked: Vec<(String, u32)> = mutual.into_iter().collect();
        ranked.sort_by(|(a, m), (b, n)| n.cmp(m).then_with(|| a.cmp(b)));
        let users = self.generation.collection(USERS);
        let mut items = Vec::new();
        for (candidate, mutual) in ranked.into_iter().take(SUGGESTION_CHECKS) {
            if items.len() == limit {
                break;
            }
            // Followings older than the ones looked at are not in `followed`.
            if self.follows(user, &candidate).await?
                || self.blocks_user(user, &candidate).await?
                || self.blocks_user(&candidate, user).await?
            {
                continue;
            }
            let Some(doc) = self.store.get(&users, &candidate).await? else { continue };
            let Some(handle) = text(&doc, "handle") else { continue };
            let display_name = text(&doc, "display_name").unwrap_or_default();
            items.push(Suggestion { user: candidate, handle, display_name, mutual });
        }
        Ok(Suggestions { items })
    }

    /// The ids of the `limit` (at most a page) users `user` followed last.
    async fn followees(&self, user: &str, limit: u32) -> Result<Vec<String>, ReadStoreError> {
        let query = Query::new(Filter::all().eq("follower", user), "since", Direction::Descending).limit(limit);
        let page = self.store.find(&self.generation.collection(FOLLOWS), &query).await?;
        Ok(page.items.iter().filter_map(|found| text(&found.doc, "followee")).collect())
    }

    async fn page(
        &self,
        plain: &str,
        mine: &str,
        theirs: &str,
        user: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<RelatedPage, ReadStoreError> {
        let query = Query::new(Filter::all().eq(mine, user), "since", Direction::Descending).limit(limit).after(cursor);
        let page = self.store.find(&self.generation.collection(plain), &query).await?;
        let users = self.generation.collection(USERS);
        let mut items = Vec::with_capacity(page.items.len());
        // One get per item, bounded by the page size.
        for found in page.items {
            let other = text(&found.doc, theirs).unwrap_or_default();
            let doc = self.store.get(&users, &other).await?;
            let field = |name| doc.as_ref().and_then(|d| text(d, name));
            items.push(Related {
                handle: field("handle"),
                display_name: field("display_name"),
                since: text(&found.doc, "at").unwrap_or_default(),
                user: other,
            });
        }
        Ok(RelatedPage { items, next: page.next })
    }
}

/// A registered user's names, as [`profile`] reads them.
fn names(doc: &Document) -> Option<Names> {
    Some(Names { handle: text(doc, "handle")?, display_name: text(doc, "display_name").unwrap_or_default() })
}

fn profile(user: &str, doc: &Document) -> Option<Profile> {
    let handle = text(doc, "handle")?;
    let counter = |name| doc.get(name).and_then(Value::as_i64).map_or(0, |n| u64::try_from(n).unwrap_or(0));
    Some(Profile {
        user: user.to_owned(),
        handle,
        display_name: text(doc, "display_name").unwrap_or_default(),
        bio: text(doc, "bio"),
        avatar_url: text(doc, "avatar_url"),
        location: text(doc, "location"),
        website: text(doc, "website"),
        joined: text(doc, "joined").unwrap_or_default(),
        stats: Stats {
            followers: counter("followers"),
            following: counter("following"),
            posts: counter("posts"),
            likes_received: counter("likes_received"),
        },
    })
}

fn text(doc: &Document, field: &str) -> Option<String> {
    doc.get(field).and_then(Value::as_str).map(str::to_owned)
}
