//! Profiles: each user's public profile with its statistics (followers,
//! following, posts, likes received), who follows whom, and who blocks whom.
//!
//! Collections: `users` (one document per user), `follows` (one per follow,
//! id `follower:followee`), `blocks` (one per block, id `blocker:blocked`).
//! Counters move by one per event; the engine's marks make a replayed event
//! move them not at all. A user id holds no `:`, so the pair ids are unique.

use crate::projection::{Event, Generation, Projection};
use events::catalog::content::ContentEvent;
use events::catalog::users::UserEvent;
use events::catalog::{Context, DomainEvent};
use read_store::{Collection, Direction, Document, Filter, IfMissing, Query, ReadStore, ReadStoreError, Update, Write};
use serde::Serialize;
use serde_json::{Value, json};
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
            ],
        )],
        UserEvent::ProfileUpdated(u) => vec![set(
            u.user.as_str(),
            [
                ("display_name", json!(u.profile.display_name)),
                ("bio", json!(u.profile.bio)),
                ("avatar_url", json!(u.profile.avatar_url)),
                ("location", json!(u.profile.location)),
                ("website", json!(u.profile.website)),
            ],
        )],
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

/// A page of related users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RelatedPage {
    /// The users, newest relation first.
    pub items: Vec<Related>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next: Option<String>,
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
