//! Likes: one per user and post, liking twice is one like.

use super::Accepted;
use super::posts::post_path;
use crate::App;
use crate::command::execute;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::facts;
use axum::extract::{Path, State};
use domain::content::{LikeCommand, LikeRejection, Post, like};
use events::Aggregate;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(like_post, unlike_post))
}

/// Like a post. Liking a post already liked changes nothing (`changed: false`).
#[utoipa::path(put, path = "/api/v1/posts/{post_id}/like", tag = "likes",
    params(("post_id" = String, Path, description = "The post")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn like_post(State(app): State<App>, caller: Caller, Path(post_id): Path<String>) -> Result<Accepted, ApiError> {
    let post = post_path(&post_id)?;
    let Post::Live { author, hidden: false, .. } = facts::post(&app, post).await? else {
        return Err(LikeRejection::NoSuchPost.into());
    };
    let blocked = facts::blocks(&app, &author, &caller.user).await?;
    let command =
        LikeCommand::Like { post, user: caller.user.clone(), author, post_live: true, blocked_by_author: blocked };
    let aggregate = Aggregate::like(post, &caller.user);
    let outcome =
        execute(&app, &caller.context, &aggregate, like::evolve, |s| like::decide(s, command.clone())).await?;
    Ok(Accepted::new(post, outcome))
}

/// Take a like back. Unliking a post not liked changes nothing.
#[utoipa::path(delete, path = "/api/v1/posts/{post_id}/like", tag = "likes",
    params(("post_id" = String, Path, description = "The post")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn unlike_post(
    State(app): State<App>,
    caller: Caller,
    Path(post_id): Path<String>,
) -> Result<Accepted, ApiError> {
    let post = post_path(&post_id)?;
    let author = match facts::post(&app, post).await? {
        Post::Live { author, .. } => author,
        // A deleted post's like can still be taken back; its author is in the like's own history.
        _ => liked_author(&app, post, &caller.user).await?.ok_or(LikeRejection::NoSuchPost)?,
    };
    let command = LikeCommand::Unlike { post, user: caller.user.clone(), author };
    let aggregate = Aggregate::like(post, &caller.user);
    let outcome =
        execute(&app, &caller.context, &aggregate, like::evolve, |s| like::decide(s, command.clone())).await?;
    Ok(Accepted::new(post, outcome))
}

async fn liked_author(
    app: &App,
    post: events::ids::PostId,
    user: &events::ids::UserId,
) -> Result<Option<events::ids::UserId>, ApiError> {
    let last = app.events().last(&Aggregate::like(post, user)).await?;
    Ok(match last.map(|r| r.event) {
        Some(events::DomainEvent::Content(events::ContentEvent::PostLiked(e))) => Some(e.author),
        _ => None,
    })
}
