//! Comments: add, delete, report, and moderators' hide and restore.

use super::Accepted;
use super::posts::{HideRequest, ReportRequest, new_id, post_path};
use crate::App;
use crate::command::{create, execute};
use crate::error::ApiError;
use crate::extract::{Body, Caller};
use crate::facts;
use crate::limits::Limit;
use axum::extract::{Path, State};
use domain::InvalidInput;
use domain::content::{Comment, CommentCommand, HideReason, Post, ReportReason, comment, compose_comment};
use events::Aggregate;
use events::ids::CommentId;
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

fn comment_path(raw: &str) -> Result<CommentId, ApiError> {
    CommentId::parse(raw).map_err(|e| ApiError::Invalid(InvalidInput::new("comment_id", e.to_string())))
}

async fn run(app: &App, caller: &Caller, id: CommentId, command: CommentCommand) -> Result<Accepted, ApiError> {
    let aggregate = Aggregate::comment(id);
    let outcome =
        execute(app, &caller.context, &aggregate, comment::evolve, |state| comment::decide(state, command.clone()))
            .await?;
    Ok(Accepted::new(id, outcome))
}

/// Comment on a post.
#[utoipa::path(post, path = "/api/v1/posts/{post_id}/comments", tag = "comments", request_body = CommentRequest,
    params(("post_id" = String, Path, description = "The post")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn add_comment(
    State(app): State<App>,
    caller: Caller,
    Path(post_id): Path<String>,
    Body(req): Body<CommentRequest>,
) -> Result<Accepted, ApiError> {
    let post = post_path(&post_id)?;
    app.limiter().check(Limit::Comments, caller.user.as_str()).map_err(ApiError::rate_limited)?;
    let body = compose_comment(&req.text, app.words())?;
    let reply_to = match req.reply_to.as_deref() {
        Some(raw) => Some(reply_target(&app, raw, post).await?),
        None => None,
    };
    let (post_live, blocked) = match facts::post(&app, post).await? {
        Post::Live { author, hidden: false, .. } => (true, facts::blocks(&app, &author, &caller.user).await?),
        _ => (false, false),
    };
    let id = CommentId(new_id(&caller, "comment"));
    let command = CommentCommand::Add {
        comment: id,
        post,
        author: caller.user.clone(),
        reply_to,
        body,
        post_live,
        blocked_by_post_author: blocked,
    };
    let aggregate = Aggregate::comment(id);
    let outcome =
        create(&app, &caller.context, &aggregate, comment::evolve, |s| comment::decide(s, command.clone())).await?;
    Ok(Accepted::new(id, outcome))
}

/// A reply must answer a live comment on the same post.
async fn reply_target(app: &App, raw: &str, post: events::ids::PostId) -> Result<CommentId, ApiError> {
    let invalid = |problem: &str| ApiError::Invalid(InvalidInput::new("reply_to", problem));
    let id = CommentId::parse(raw).map_err(|_| invalid("must be a comment id"))?;
    match facts::comment(app, id).await? {
        Comment::Live { post: on, .. } if on == post => Ok(id),
        _ => Err(invalid("must be a comment on the same post")),
    }
}

/// Delete a comment (author only).
#[utoipa::path(delete, path = "/api/v1/comments/{comment_id}", tag = "comments",
    params(("comment_id" = String, Path, description = "The comment")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn delete_comment(
    State(app): State<App>,
    caller: Caller,
    Path(comment_id): Path<String>,
) -> Result<Accepted, ApiError> {
    let id = comment_path(&comment_id)?;
    run(&app, &caller, id, CommentCommand::Delete { by: caller.user.clone() }).await
}

/// Report a comment to the moderators.
#[utoipa::path(post, path = "/api/v1/comments/{comment_id}/report", tag = "moderation", request_body = ReportRequest,
    params(("comment_id" = String, Path, description = "The comment")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn report_comment(
    State(app): State<App>,
    caller: Caller,
    Path(comment_id): Path<String>,
    Body(req): Body<ReportRequest>,
) -> Result<Accepted, ApiError> {
    let id = comment_path(&comment_id)?;
    let reason = ReportReason::parse(&req.reason)?;
    run(&app, &caller, id, CommentCommand::Report { by: caller.user.clone(), reason }).await
}

/// Hide a comment (moderators only).
#[utoipa::path(post, path = "/api/v1/comments/{comment_id}/hide", tag = "moderation", request_body = HideRequest,
    params(("comment_id" = String, Path, description = "The comment")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn hide_comment(
    State(app): State<App>,
    caller: Caller,
    Path(comment_id): Path<String>,
    Body(req): Body<HideRequest>,
) -> Result<Accepted, ApiError> {
    let id = comment_path(&comment_id)?;
    let reason = HideReason::parse_optional(req.reason.as_deref())?;
    run(&app, &caller, id, CommentCommand::Hide { by: caller.user.clone(), is_moderator: caller.moderator, reason })
        .await
}

/// Make a hidden comment visible again (moderators only).
#[utoipa::path(post, path = "/api/v1/comments/{comment_id}/restore", tag = "moderation",
    params(("comment_id" = String, Path, description = "The comment")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn restore_comment(
    State(app): State<App>,
    caller: Caller,
    Path(comment_id): Path<String>,
) -> Result<Accepted, ApiError> {
    let id = comment_path(&comment_id)?;
    run(&app, &caller, id, CommentCommand::Restore { by: caller.user.clone(), is_moderator: caller.moderator }).await
}
