//! Posts: each post with its like and comment counts, the comments on it, and
//! who likes what; with the queries a post page, an author's page and search
//! need.
//!
//! Collections: `posts` (one document per post, id = post id), `comments`
//! (one per comment, id = comment id) and `likes` (one per user and post ever
//! liked, id `post:user`, with `liked` true or false). A user id holds no `:`,
//! so like ids are unique.
//!
//! Rules a reader should know:
//! - Nothing is removed: a deleted post or comment keeps its document with
//!   `state` `deleted`, and an unlike sets `liked` false, so the engine's marks
//!   still hold back a replayed event and replays change nothing. Queries never
//!   return deleted content, to anyone.
//! - `state` is `live`, `hidden` (by a moderator) or `deleted`; `present` is
//!   false once deleted. The store only compares for equality, so a public list
//!   filters `state = live` and a moderator's list `present = true` (live and
//!   hidden, each shown with its state).
//! - `likes` counts current likes. `comments` counts comments added and not
//!   deleted by their authors, hidden ones included: `ContentHidden` on a
//!   comment does not name its post, and a projection never reads, so hiding
//!   cannot move the post's counter. The list a non-moderator reads omits
//!   hidden comments, so it can hold fewer than the count.
//! - Comments are listed oldest first (a thread reads top down); posts by an
//!   author and search results newest first, by the sequence of the event that
//!   created them.
//! - Search words are the text's words (see [`read_store::tokens()`]) plus one
//!   `#tag` word per hashtag, so `rust` finds every post saying rust (tagged
//!   or not) and `#rust` only the posts tagged with it.
//! - Authors are returned by id, with their handle and display name looked up
//!   in the profiles model: for a page, the names of all its authors in one
//!   call, bounded by the page size.

use crate::profiles::{Names, ProfileQueries};
use crate::projection::{Event, Generation, Projection};
use crate::rendered::{Json, Rendered};
use events::catalog::content::{CommentAdded, ContentEvent, ContentRef, PostBody};
use events::catalog::{Context, DomainEvent};
use read_store::{
    Collection, Direction, Document, Filter, Found, IfMissing, Query, ReadStore, ReadStoreError, Update, Write,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

const POSTS: &str = "posts";
const COMMENTS: &str = "comments";
const LIKES: &str = "likes";

const LIVE: &str = "live";
const HIDDEN: &str = "hidden";
const DELETED: &str = "deleted";

/// The posts projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Posts;

impl Projection for Posts {
    fn name(&self) -> &'static str {
        "posts"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Content]
    }

    fn collections(&self) -> Vec<Collection> {
        vec![
            Collection::new(POSTS)
                .index(&["author", "state", "seq"])
                .index(&["author", "present", "seq"])
                .index(&["state", "seq"])
                .index(&["present", "seq"]),
            Collection::new(COMMENTS).index(&["post", "state", "seq"]).index(&["post", "present", "seq"]),
            // No query lists likes; the index lets a snapshot read them in pages.
            Collection::new(LIKES).index(&["post"]),
        ]
    }

    fn apply(&self, event: Event<'_>) -> Vec<Write> {
        match event.event {
            DomainEvent::Content(e) => content_event(e, event),
            _ => Vec::new(),
        }
    }
}

fn content_event(e: &ContentEvent, at: Event<'_>) -> Vec<Write> {
    match e {
        ContentEvent::PostCreated(p) => {
            let mut fields = body_fields(&p.body);
            fields.extend([
                ("author", json!(p.author)),
                ("created", json!(timestamp(at.time))),
                ("seq", json!(at.sequence)),
                ("edited", json!(false)),
            ]);
            fields.extend(state_fields(LIVE));
            vec![update(POSTS, &p.post.to_string(), fields, IfMissing::Create)]
        }
        ContentEvent::PostEdited(p) => {
            let mut fields = body_fields(&p.body);
            fields.push(("edited", json!(true)));
            vec![update(POSTS, &p.post.to_string(), fields, IfMissing::Skip)]
        }
        ContentEvent::PostDeleted(p) => vec![set_state(POSTS, &p.post.to_string(), DELETED)],
        ContentEvent::CommentAdded(c) => vec![
            update(COMMENTS, &c.comment.to_string(), comment_fields(c, at), IfMissing::Create),
            count(&c.post.to_string(), "comments", 1),
        ],
        ContentEvent::CommentDeleted(c) => {
            vec![set_state(COMMENTS, &c.comment.to_string(), DELETED), count(&c.post.to_string(), "comments", -1)]
        }
        ContentEvent::PostLiked(l) => {
            vec![like(&l.post.to_string(), l.user.as_str(), true), count(&l.post.to_string(), "likes", 1)]
        }
        ContentEvent::PostUnliked(l) => {
            vec![like(&l.post.to_string(), l.user.as_str(), false), count(&l.post.to_string(), "likes", -1)]
        }
        ContentEvent::ContentHidden(h) => vec![moderated(h.target, HIDDEN)],
        ContentEvent::ContentRestored(r) => vec![moderated(r.target, LIVE)],
        _ => Vec::new(),
    }
}

/// What a post's body contributes to its document, on creation and on edit.
fn body_fields(body: &PostBody) -> Vec<(&'static str, Value)> {
    vec![
        ("text", json!(body.text)),
        ("media", json!(body.media)),
        ("hashtags", json!(body.hashtags)),
        ("mentions", json!(body.mentions)),
        (read_store::TOKENS_FIELD, json!(search_words(body))),
    ]
}

fn comment_fields(c: &CommentAdded, at: Event<'_>) -> Vec<(&'static str, Value)> {
    let mut fields = vec![
        ("post", json!(c.post.to_string())),
        ("author", json!(c.author)),
        ("reply_to", json!(c.reply_to.map(|r| r.to_string()))),
        ("text", json!(c.body.text)),
        ("created", json!(timestamp(at.time))),
        ("seq", json!(at.sequence)),
    ];
    fields.extend(state_fields(LIVE));
    fields
}

fn state_fields(state: &'static str) -> [(&'static str, Value); 2] {
    [("state", json!(state)), ("present", json!(state != DELETED))]
}

/// The words a post is found by: its text's, and `#tag` per hashtag.
fn search_words(body: &PostBody) -> Vec<String> {
    let mut words = read_store::tokens(&body.text);
    for tag in body.hashtags.iter().filter_map(|tag| tag_word(tag)) {
        if !words.contains(&tag) {
            words.push(tag);
        }
    }
    words
}

/// The search word of a hashtag (given with or without `#`), normalised as
/// words are, so `#Café` and `#cafe` are the same tag; `None` when it holds
/// no letter or digit.
fn tag_word(tag: &str) -> Option<String> {
    let parts = read_store::tokens(tag.trim_start_matches('#'));
    (!parts.is_empty()).then(|| format!("#{}", parts.join("_")))
}

fn moderated(target: ContentRef, state: &'static str) -> Write {
    match target {
        ContentRef::Post(post) => set_state(POSTS, &post.to_string(), state),
        ContentRef::Comment(comment) => set_state(COMMENTS, &comment.to_string(), state),
    }
}

fn set_state(collection: &str, id: &str, state: &'static str) -> Write {
    update(collection, id, state_fields(state).to_vec(), IfMissing::Skip)
}

/// Counters of a post never create it: an event about a post this model never
/// saw created (which the rules refuse) leaves no half document behind.
fn count(post: &str, field: &str, by: i64) -> Write {
    Write::update(POSTS, post, vec![Update::Increment(field.to_owned(), by)], IfMissing::Skip)
}

fn like(post: &str, user: &str, liked: bool) -> Write {
    let fields = vec![("post", json!(post)), ("user", json!(user)), ("liked", json!(liked))];
    update(LIKES, &pair(post, user), fields, IfMissing::Create)
}

fn update(collection: &str, id: &str, fields: Vec<(&str, Value)>, missing: IfMissing) -> Write {
    let updates = fields.into_iter().map(|(field, value)| Update::Set(field.to_owned(), value)).collect();
    Write::update(collection, id, updates, missing)
}

fn pair(a: &str, b: &str) -> String {
    format!("{a}:{b}")
}

fn timestamp(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// Whether a post or comment is visible, or hidden by a moderator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Visible to everyone.
    Live,
    /// Hidden by a moderator: only moderators see it.
    Hidden,
}

/// Who is reading, which decides whether hidden content is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Anyone: live content only.
    Public,
    /// A moderator: live and hidden content, each with its state.
    Moderator,
}

impl Audience {
    /// Whether content in `state` (a stored state) is shown to this audience.
    fn sees(self, state: &str) -> Option<State> {
        match (state, self) {
            (LIVE, _) => Some(State::Live),
            (HIDDEN, Audience::Moderator) => Some(State::Hidden),
            _ => None,
        }
    }

    /// The equality that keeps a list to what this audience sees.
    fn filter(self) -> Filter {
        match self {
            Audience::Public => Filter::all().eq("state", LIVE),
            Audience::Moderator => Filter::all().eq("present", true),
        }
    }
}

/// Who wrote a post or comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Author {
    /// The user id.
    pub user: String,
    /// Their handle, when their profile is there.
    pub handle: Option<String>,
    /// Their display name, when their profile is there.
    pub display_name: Option<String>,
}

/// A post as queries return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Post {
    /// The post id.
    pub id: String,
    /// Who wrote it.
    pub author: Author,
    /// The text as written.
    pub text: String,
    /// https URLs of attached images or video.
    pub media: Vec<String>,
    /// Hashtags in the text, lowercased, without `#`.
    pub hashtags: Vec<String>,
    /// Handles mentioned in the text, lowercased, without `@`.
    pub mentions: Vec<String>,
    /// When it was published (RFC 3339).
    pub created: String,
    /// Whether the author edited it since.
    pub edited: bool,
    /// `live`, or `hidden` (shown to moderators only).
    pub state: State,
    /// Counts.
    pub stats: PostStats,
}

/// What a post counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PostStats {
    /// Users who like it now.
    pub likes: u64,
    /// Comments not deleted by their authors (hidden ones included).
    pub comments: u64,
}

/// A comment as queries return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Comment {
    /// The comment id.
    pub id: String,
    /// The post it is on.
    pub post: String,
    /// Who wrote it.
    pub author: Author,
    /// The comment it answers, if any.
    pub reply_to: Option<String>,
    /// What it says.
    pub text: String,
    /// When it was written (RFC 3339).
    pub created: String,
    /// `live`, or `hidden` (shown to moderators only).
    pub state: State,
}

/// Posts as JSON, each kept with the author name it was rendered with.
pub type RenderedPosts = Rendered<Author>;

/// A post as a feed holds it: enough to place it and fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRef {
    /// The post id.
    pub id: String,
    /// Its author.
    pub author: String,
    /// The sequence of its `PostCreated`: feeds order by it.
    pub seq: u64,
    /// Whether everyone may see it now.
    pub live: bool,
}

fn post_ref(id: &str, doc: &Document) -> Option<PostRef> {
    Some(PostRef {
        id: id.to_owned(),
        author: text(doc, "author")?,
        seq: doc.get("seq").and_then(Value::as_u64)?,
        live: text(doc, "state").as_deref() == Some(LIVE),
    })
}

/// A page of Posts.
pub type PostPage = crate::Page<Post>;

/// A page of Comments.
pub type CommentPage = crate::Page<Comment>;

/// What a search asks for: words, and hashtags as `#tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search(Vec<String>);

impl Search {
    /// The words and `#tags` of `text`; `None` when it holds neither, since an
    /// empty search would match nothing.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = Vec::new();
        for part in text.split_whitespace() {
            let found = match part.strip_prefix('#') {
                Some(tag) => tag_word(tag).into_iter().collect(),
                None => read_store::tokens(part),
            };
            for word in found {
                if !words.contains(&word) {
                    words.push(word);
                }
            }
        }
        (!words.is_empty()).then_some(Self(words))
    }
}

/// The queries over one generation of the posts projection, with authors
/// looked up in the profiles projection.
pub struct PostQueries<'a, S> {
    store: &'a S,
    generation: Generation,
    profiles: ProfileQueries<'a, S>,
}

impl<'a, S: ReadStore> PostQueries<'a, S> {
    /// Queries over `generation` of posts, and `profiles` of profiles, in `store`.
    pub fn new(store: &'a S, generation: Generation, profiles: Generation) -> Self {
        Self { store, generation, profiles: ProfileQueries::new(store, profiles) }
    }

    /// A post as `audience` sees it: `None` when it does not exist, was
    /// deleted, or is hidden from this audience.
    pub async fn post(&self, id: &str, audience: Audience) -> Result<Option<Post>, ReadStoreError> {
        let Some(doc) = self.store.get(&self.generation.collection(POSTS), id).await? else { return Ok(None) };
        match audience.sees(&text(&doc, "state").unwrap_or_default()) {
            Some(state) => Ok(Some(self.post_of(id, &doc, state).await?)),
            None => Ok(None),
        }
    }

    /// One page of a post's comments that `audience` sees, oldest first.
    pub async fn comments(
        &self,
        post: &str,
        audience: Audience,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<CommentPage, ReadStoreError> {
        let query =
            Query::new(audience.filter().eq("post", post), "seq", Direction::Ascending).limit(limit).after(cursor);
        let page = self.store.find(&self.generation.collection(COMMENTS), &query).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for found in page.items {
            if let Some(state) = audience.sees(&text(&found.doc, "state").unwrap_or_default()) {
                items.push(self.comment_of(found, state).await?);
            }
        }
        Ok(CommentPage { items, next: page.next })
    }

    /// One page of an author's posts that `audience` sees, newest first.
    pub async fn by_author(
        &self,
        author: &str,
        audience: Audience,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<PostPage, ReadStoreError> {
        self.posts(audience.filter().eq("author", author), audience, limit, cursor).await
    }

    /// One page of the posts `audience` sees holding every word and tag of
    /// `search`, newest first.
    pub async fn search(
        &self,
        search: &Search,
        audience: Audience,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<PostPage, ReadStoreError> {
        let filter = Filter { words: Some(search.0.clone()), ..audience.filter() };
        self.posts(filter, audience, limit, cursor).await
    }

    /// Up to `limit` of an author's live posts, newest first, all older than
    /// `before` (a sequence) when given: what a home feed is built from.
    pub async fn recent(&self, author: &str, before: Option<u64>, limit: u32) -> Result<Vec<PostRef>, ReadStoreError> {
        let filter = Audience::Public.filter().eq("author", author);
        let query = Query::new(filter, "seq", Direction::Descending).limit(limit);
        // Resuming after (before - 1, "~") in this order is "seq < before":
        // every id sorts below "~".
        let cursor = before.map(|seq| read_store::cursor::encode(&query, &json!(seq.saturating_sub(1)), "~"));
        let query = query.after(cursor);
        let page = self.store.find(&self.generation.collection(POSTS), &query).await?;
        Ok(page.items.iter().filter_map(|found| post_ref(&found.id, &found.doc)).collect())
    }

    /// Who wrote a post, where it is in the log, and whether it is live.
    pub async fn reference(&self, post: &str) -> Result<Option<PostRef>, ReadStoreError> {
        let doc = self.store.get(&self.generation.collection(POSTS), post).await?;
        Ok(doc.and_then(|doc| post_ref(post, &doc)))
    }

    /// Whether `user` likes `post` now.
    pub async fn liked(&self, post: &str, user: &str) -> Result<bool, ReadStoreError> {
        let doc = self.store.get(&self.generation.collection(LIKES), &pair(post, user)).await?;
        Ok(doc.is_some_and(|d| d.get("liked").and_then(Value::as_bool).unwrap_or(false)))
    }

    /// Several posts at once, in the order of `ids`, leaving out those that
    /// do not exist or that `audience` does not see; at most a page's worth.
    pub async fn many(&self, ids: &[String], audience: Audience) -> Result<Vec<Post>, ReadStoreError> {
        let docs = self.store.get_many_shared(&self.generation.collection(POSTS), ids).await?;
        let found = ids.iter().zip(docs).filter_map(|(id, doc)| Some((id.clone(), doc?)));
        self.assemble(found.collect(), audience).await
    }

    /// [`PostQueries::many`] as JSON, each post taken from `rendered` when it
    /// was rendered from the same document by the same author name, and kept
    /// there otherwise.
    pub async fn many_rendered(
        &self,
        ids: &[String],
        audience: Audience,
        rendered: &RenderedPosts,
    ) -> Result<Vec<Json>, ReadStoreError> {
        let docs = self.store.get_many_shared(&self.generation.collection(POSTS), ids).await?;
        let found = ids.iter().zip(docs).filter_map(|(id, doc)| Some((id.clone(), doc?)));
        let visible = visible(found.collect(), audience);
        let authors = self.authors(&visible).await?;
        let posts: Vec<(Visible, Author)> = visible
            .into_iter()
            .map(|post| {
                let author = author_of(&authors, &post.0.1);
                (post, author)
            })
            .collect();
        let kept = rendered.lookup_all(posts.iter().map(|(((id, doc), _), author)| (id.as_str(), doc, author)));
        posts
            .into_iter()
            .zip(kept)
            .map(|((((id, doc), state), author), kept)| match kept {
                Some(json) => Ok(json),
                None => {
                    let json = Json::of(&post_from(&id, &doc, state, author.clone()))
                        .map_err(|e| ReadStoreError::Codec(e.to_string()))?;
                    rendered.keep(&id, &doc, author, json.clone());
                    Ok(json)
                }
            })
            .collect()
    }

    async fn posts(
        &self,
        filter: Filter,
        audience: Audience,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<PostPage, ReadStoreError> {
        let query = Query::new(filter, "seq", Direction::Descending).limit(limit).after(cursor);
        let page = self.store.find(&self.generation.collection(POSTS), &query).await?;
        let found = page.items.into_iter().map(|f| (f.id, Arc::new(f.doc))).collect();
        Ok(PostPage { items: self.assemble(found, audience).await?, next: page.next })
    }

    /// The posts `audience` sees among `found`, each with its author, whose
    /// profiles are read in one call.
    async fn assemble(
        &self,
        found: Vec<(String, Arc<Document>)>,
        audience: Audience,
    ) -> Result<Vec<Post>, ReadStoreError> {
        let visible = visible(found, audience);
        let authors = self.authors(&visible).await?;
        Ok(visible
            .into_iter()
            .map(|((id, doc), state)| post_from(&id, &doc, state, author_of(&authors, &doc)))
            .collect())
    }

    /// The authors of these posts, by user id, whose profiles are read in one
    /// call; a user without a profile is missing.
    async fn authors(&self, posts: &[Visible]) -> Result<HashMap<String, Names>, ReadStoreError> {
        let mut users: Vec<String> =
            posts.iter().map(|((_, doc), _)| text(doc, "author").unwrap_or_default()).collect();
        users.sort();
        users.dedup();
        let names = self.profiles.names(&users).await?;
        Ok(users.into_iter().zip(names).filter_map(|(user, names)| Some((user, names?))).collect())
    }

    async fn post_of(&self, id: &str, doc: &Document, state: State) -> Result<Post, ReadStoreError> {
        Ok(post_from(id, doc, state, self.author(doc).await?))
    }

    async fn comment_of(&self, found: Found, state: State) -> Result<Comment, ReadStoreError> {
        let doc = &found.doc;
        Ok(Comment {
            author: self.author(doc).await?,
            post: text(doc, "post").unwrap_or_default(),
            reply_to: text(doc, "reply_to"),
            text: text(doc, "text").unwrap_or_default(),
            created: text(doc, "created").unwrap_or_default(),
            state,
            id: found.id,
        })
    }

    async fn author(&self, doc: &Document) -> Result<Author, ReadStoreError> {
        let user = text(doc, "author").unwrap_or_default();
        let profile = self.profiles.profile(&user).await?;
        Ok(Author {
            handle: profile.as_ref().map(|p| p.handle.clone()),
            display_name: profile.map(|p| p.display_name),
            user,
        })
    }
}

/// A post document `audience` sees, with its id and the state it is shown in.
type Visible = ((String, Arc<Document>), State);

/// The documents among `found` that `audience` sees.
fn visible(found: Vec<(String, Arc<Document>)>, audience: Audience) -> Vec<Visible> {
    found
        .into_iter()
        .filter_map(|f| {
            audience.sees(f.1.get("state").and_then(Value::as_str).unwrap_or_default()).map(|state| (f, state))
        })
        .collect()
}

/// Who wrote `doc`, named from their profile among `authors` when it is there.
fn author_of(authors: &HashMap<String, Names>, doc: &Document) -> Author {
    let user = text(doc, "author").unwrap_or_default();
    let names = authors.get(&user);
    Author { handle: names.map(|n| n.handle.clone()), display_name: names.map(|n| n.display_name.clone()), user }
}

fn post_from(id: &str, doc: &Document, state: State, author: Author) -> Post {
    Post {
        id: id.to_owned(),
        author,
        text: text(doc, "text").unwrap_or_default(),
        media: strings(doc, "media"),
        hashtags: strings(doc, "hashtags"),
        mentions: strings(doc, "mentions"),
        created: text(doc, "created").unwrap_or_default(),
        edited: doc.get("edited").and_then(Value::as_bool).unwrap_or(false),
        state,
        stats: PostStats { likes: counter(doc, "likes"), comments: counter(doc, "comments") },
    }
}

fn text(doc: &Document, field: &str) -> Option<String> {
    doc.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn strings(doc: &Document, field: &str) -> Vec<String> {
    let items = doc.get(field).and_then(Value::as_array);
    items.map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
}

/// A counter as a count: a negative one, which the rules never let happen,
/// reads as 0 rather than failing the query.
fn counter(doc: &Document, field: &str) -> u64 {
    doc.get(field).and_then(Value::as_i64).map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_splits_words_and_hashtags_and_folds_both() {
        let search = Search::parse("Café  #Rust_Lang #ÉTÉ rust").map(|s| s.0);
        assert_eq!(search, Some(vec!["cafe".into(), "#rust_lang".into(), "#ete".into(), "rust".into()]));
    }

    #[test]
    fn a_search_without_a_word_or_tag_is_none() {
        for empty in ["", "   ", "#", "!!! # ..."] {
            assert_eq!(Search::parse(empty), None, "{empty:?}");
        }
    }

    #[test]
    fn a_post_is_found_by_its_words_and_by_its_tags_as_tags() {
        let body = PostBody {
            text: "Hello #Rust world".into(),
            media: vec![],
            hashtags: vec!["rust".into()],
            mentions: vec![],
            flagged: vec![],
        };
        assert_eq!(search_words(&body), ["hello", "rust", "world", "#rust"]);
    }
}
