//! Queries over the posts projection: a post with its counts, the caller's
//! like and its first comments; a post's comments; an author's posts; and
//! search by words and `#hashtags`.
//!
//! Visibility is decided here once per request: a moderator (the same
//! [`Caller::moderator`](crate::extract::Caller) that lets them hide content)
//! reads as [`Audience::Moderator`] and sees hidden content with its state;
//! everyone else reads live content only, so a hidden or deleted post is a
//! 404 and hidden or deleted items are left out of lists. Each route waits
//! for a passed position in both the posts and the profiles projection, since
//! authors' handles come from the latter.

use crate::App;
use crate::error::ApiError;
use crate::extract::{Caller, Identity, PathId};
use crate::reads::{AfterParam, DEFAULT_LIMIT, Paging, QueryStore, Read, ReadAfter};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use events::ids::{PostId, UserId};
use read_models::posts::{Audience, CommentPage, Post, PostPage, PostQueries, Search};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

const READS: &[&str] = &["posts", "profiles"];

/// The longest search text accepted, in characters.
const MAX_QUERY_CHARS: usize = 200;

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(post_view))
        .routes(routes!(post_comments))
        .routes(routes!(posts_by_author))
        .routes(routes!(search_posts))
}

fn queries(app: &App) -> Result<PostQueries<'_, QueryStore>, ApiError> {
    let reads = app.reads()?;
    Ok(PostQueries::new(&reads.store, reads.generation("posts"), reads.generation("profiles")))
}

fn audience(caller: &Caller) -> Audience {
    if caller.moderator { Audience::Moderator } else { Audience::Public }
}

/// A post as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostView {
    /// The post.
    #[serde(flatten)]
    pub post: Post,
    /// How the caller relates to it.
    pub viewer: PostViewer,
    /// The first page of its comments, oldest first (`limit` 20); the rest
    /// from `GET /posts/{post_id}/comments?cursor=...`.
    pub comments: read_models::Page<read_models::posts::Comment>,
}

/// The caller's relation to a post.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostViewer {
    /// The caller likes it.
    pub liked: bool,
}

/// A post, its counts, whether the caller likes it, and its first comments.
/// Hidden posts are found by moderators only; deleted ones by nobody.
#[utoipa::path(get, path = "/api/v1/posts/{post_id}", tag = "posts",
    params(("post_id" = String, Path, description = "The post"), AfterParam),
    responses((status = 200, body = PostView), (status = 404, body = crate::error::Problem)))]
async fn post_view(
    State(app): State<App>,
    Identity(caller): Identity,
    PathId(id): PathId<PostId>,
    after: ReadAfter,
) -> Result<Read<Json<PostView>>, ApiError> {
    let consistency = app.read_after(READS, after).await?;
    let queries = queries(&app)?;
    let (id, audience) = (id.to_string(), audience(&caller));
    let post = queries.post(&id, audience).await?.ok_or(ApiError::NotFound("post"))?;
    let viewer = PostViewer { liked: queries.liked(&id, caller.user.as_str()).await? };
    let comments = queries.comments(&id, audience, DEFAULT_LIMIT, None).await?;
    Ok(Read(consistency, Json(PostView { post, viewer, comments })))
}

/// A post's comments, oldest first; 404 when the caller cannot see the post.
#[utoipa::path(get, path = "/api/v1/posts/{post_id}/comments", tag = "comments",
    params(("post_id" = String, Path, description = "The post"), Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::posts::Comment>), (status = 404, body = crate::error::Problem)))]
async fn post_comments(
    State(app): State<App>,
    Identity(caller): Identity,
    PathId(id): PathId<PostId>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<CommentPage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(READS, after).await?;
    let queries = queries(&app)?;
    let (id, audience) = (id.to_string(), audience(&caller));
    // The post first: the comments of a post the caller cannot see are not theirs to read either.
    queries.post(&id, audience).await?.ok_or(ApiError::NotFound("post"))?;
    let page = queries.comments(&id, audience, limit, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}

/// A user's posts, newest first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/posts", tag = "posts",
    params(("user_id" = String, Path, description = "The author"), Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::posts::Post>)))]
async fn posts_by_author(
    State(app): State<App>,
    Identity(caller): Identity,
    PathId(author): PathId<UserId>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<PostPage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(READS, after).await?;
    let page = queries(&app)?.by_author(author.as_str(), audience(&caller), limit, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}

/// What to search for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words and `#hashtags` (up to 200 characters); a post must hold them all.
    pub q: String,
}

/// Posts holding every word and `#hashtag` of `q`, newest first. Words are
/// whole words, case- and accent-insensitive; `#rust` finds posts tagged
/// `#rust`, `rust` any post saying it.
#[utoipa::path(get, path = "/api/v1/search/posts", tag = "posts", params(SearchParams, Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::posts::Post>), (status = 422, body = crate::error::Problem)))]
async fn search_posts(
    State(app): State<App>,
    Identity(caller): Identity,
    params: Result<Query<SearchParams>, QueryRejection>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<PostPage>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::Malformed(format!("query string: {}", e.body_text())))?;
    let search = parse_search(&params.q)?;
    let limit = paging.limit()?;
    let consistency = app.read_after(READS, after).await?;
    let page = queries(&app)?.search(&search, audience(&caller), limit, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}

fn parse_search(q: &str) -> Result<Search, ApiError> {
    let invalid = |why: &str| ApiError::Invalid(domain::InvalidInput::new("q", why));
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid("must be at most 200 characters"));
    }
    Search::parse(q).ok_or_else(|| invalid("must hold a word or a #hashtag"))
}
