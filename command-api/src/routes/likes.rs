//! Likes: one per user and post, liking twice is one like.

use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Caller, PathId};
use axum::extract::State;
use commands::facts;
use domain::content::{Like, LikeCommand, LikeRejection, Post};
use events::Aggregate;
use events::ids::{PostId, UserId};
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(like_post, unlike_post))
}

/// Like a post. Liking a post already liked changes nothing (`changed: false`).
#[utoipa::path(put, path = "/api/v1/posts/{post_id}/like", tag = "likes",
    params(("post_id" = String, Path, description = "The post")),
    responses(CommandResponses))]
async fn like_post(State(app): State<App>, caller: Caller, PathId(post): PathId<PostId>) -> Result<Accepted, ApiError> {
    let Post::Live { author, hidden: false, .. } = facts::post(app.commands(), post).await? else {
        return Err(LikeRejection::NoSuchPost.into());
    };
    let blocked = facts::blocks(app.commands(), &author, &caller.user).await?;
    let command =
        LikeCommand::Like { post, user: caller.user.clone(), author, post_live: true, blocked_by_author: blocked };
    like(&app, &caller, post, command).await
}

/// Take a like back. Unliking a post not liked changes nothing.
#[utoipa::path(delete, path = "/api/v1/posts/{post_id}/like", tag = "likes",
    params(("post_id" = String, Path, description = "The post")),
    responses(CommandResponses))]
async fn unlike_post(
    State(app): State<App>,
    caller: Caller,
    PathId(post): PathId<PostId>,
) -> Result<Accepted, ApiError> {
    let author = match facts::post(app.commands(), post).await? {
        Post::Live { author, .. } => author,
        // A deleted post's like can still be taken back; its author is in the like's own history.
        _ => liked_author(&app, post, &caller.user).await?.ok_or(LikeRejection::NoSuchPost)?,
    };
    let command = LikeCommand::Unlike { post, user: caller.user.clone(), author };
    like(&app, &caller, post, command).await
}

async fn like(app: &App, caller: &Caller, post: PostId, command: LikeCommand) -> Result<Accepted, ApiError> {
    let outcome =
        app.commands().execute::<Like>(&caller.context, &Aggregate::like(post, &caller.user), command).await?;
    Ok(Accepted::new(post, outcome))
}

async fn liked_author(app: &App, post: PostId, user: &UserId) -> Result<Option<UserId>, ApiError> {
    let last = app.events().last(&Aggregate::like(post, user)).await?;
    Ok(match last.map(|r| r.event) {
        Some(events::DomainEvent::Content(events::ContentEvent::PostLiked(e))) => Some(e.author),
        _ => None,
    })
}
