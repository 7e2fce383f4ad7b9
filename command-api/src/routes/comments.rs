//! Comments: add, delete, report, and moderators' hide and restore.

use super::posts::{HideRequest, ReportRequest};
use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Body, Caller, PathId};
use crate::limits::Limit;
use axum::extract::State;
use commands::facts;
use domain::InvalidInput;
use domain::content::{Comment, CommentCommand, HideReason, Post, ReportReason, compose_comment};
use events::Aggregate;
use events::ids::{CommentId, PostId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(add_comment))
        .routes(routes!(delete_comment))
        .routes(routes!(report_comment))
        .routes(routes!(hide_comment))
        .routes(routes!(restore_comment))
}

/// A new comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// 1 to 2000 characters.
    pub text: String,
    /// The comment this one answers; it must be on the same post.
    #[serde(default)]
    pub reply_to: Option<String>,
}

async fn run(app: &App, caller: &Caller, id: CommentId, command: CommentCommand) -> Result<Accepted, ApiError> {
    let outcome = app.commands().execute::<Comment>(&caller.context, &Aggregate::comment(id), command).await?;
    Ok(Accepted::new(id, outcome))
}

/// Comment on a post.
#[utoipa::path(post, path = "/api/v1/posts/{post_id}/comments", tag = "comments", request_body = CommentRequest,
    params(("post_id" = String, Path, description = "The post")),
    responses(CommandResponses))]
async fn add_comment(
    State(app): State<App>,
    caller: Caller,
    PathId(post): PathId<PostId>,
    Body(req): Body<CommentRequest>,
) -> Result<Accepted, ApiError> {
    app.limiter().check(Limit::Comments, caller.user.as_str()).map_err(ApiError::rate_limited)?;
    let body = compose_comment(&req.text, app.words())?;
    let reply_to = match req.reply_to.as_deref() {
        Some(raw) => Some(reply_target(&app, raw, post).await?),
        None => None,
    };
    let (post_live, blocked) = match facts::post(app.commands(), post).await? {
        Post::Live { author, hidden: false, .. } => (true, facts::blocks(app.commands(), &author, &caller.user).await?),
        _ => (false, false),
    };
    let id = CommentId(caller.context.new_id("comment", &post.to_string()));
    let command = CommentCommand::Add {
        comment: id,
        post,
        author: caller.user.clone(),
        reply_to,
        body,
        post_live,
        blocked_by_post_author: blocked,
    };
    let outcome = app.commands().create::<Comment>(&caller.context, &Aggregate::comment(id), command).await?;
    Ok(Accepted::new(id, outcome))
}

/// A reply must answer a live comment on the same post.
async fn reply_target(app: &App, raw: &str, post: PostId) -> Result<CommentId, ApiError> {
    let invalid = |problem: &str| ApiError::Invalid(InvalidInput::new("reply_to", problem));
    let id = CommentId::parse(raw).map_err(|_| invalid("must be a comment id"))?;
    match facts::comment(app.commands(), id).await? {
        Comment::Live { post: on, .. } if on == post => Ok(id),
        _ => Err(invalid("must be a comment on the same post")),
    }
}

/// Delete a comment (author only).
#[utoipa::path(delete, path = "/api/v1/comments/{comment_id}", tag = "comments",
    params(("comment_id" = String, Path, description = "The comment")),
    responses(CommandResponses))]
async fn delete_comment(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<CommentId>,
) -> Result<Accepted, ApiError> {
    run(&app, &caller, id, CommentCommand::Delete { by: caller.user.clone() }).await
}

/// Report a comment to the moderators.
#[utoipa::path(post, path = "/api/v1/comments/{comment_id}/report", tag = "moderation", request_body = ReportRequest,
    params(("comment_id" = String, Path, description = "The comment")),
    responses(CommandResponses))]
async fn report_comment(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<CommentId>,
    Body(req): Body<ReportRequest>,
) -> Result<Accepted, ApiError> {
    let reason = ReportReason::parse(&req.reason)?;
    run(&app, &caller, id, CommentCommand::Report { by: caller.user.clone(), reason }).await
}

/// Hide a comment (moderators only).
#[utoipa::path(post, path = "/api/v1/comments/{comment_id}/hide", tag = "moderation", request_body = HideRequest,
    params(("comment_id" = String, Path, description = "The comment")),
    responses(CommandResponses))]
async fn hide_comment(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<CommentId>,
    Body(req): Body<HideRequest>,
) -> Result<Accepted, ApiError> {
    let reason = HideReason::parse_optional(req.reason.as_deref())?;
    run(&app, &caller, id, CommentCommand::Hide { by: caller.user.clone(), is_moderator: caller.moderator, reason })
        .await
}

/// Make a hidden comment visible again (moderators only).
#[utoipa::path(post, path = "/api/v1/comments/{comment_id}/restore", tag = "moderation",
    params(("comment_id" = String, Path, description = "The comment")),
    responses(CommandResponses))]
async fn restore_comment(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<CommentId>,
) -> Result<Accepted, ApiError> {
    run(&app, &caller, id, CommentCommand::Restore { by: caller.user.clone(), is_moderator: caller.moderator }).await
}
