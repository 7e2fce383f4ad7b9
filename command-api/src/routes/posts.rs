//! Posts: create, edit, delete, report, and moderators' hide and restore.

use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Body, Caller, PathId};
use crate::limits::Limit;
use axum::extract::State;
use domain::content::text::MAX_POST_CHARS;
use domain::content::{HideReason, Post, PostCommand, ReportReason, text};
use events::Aggregate;
use events::ids::PostId;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(create_post))
        .routes(routes!(edit_post, delete_post))
        .routes(routes!(report_post))
        .routes(routes!(hide_post))
        .routes(routes!(restore_post))
}

/// A new post or the new version of one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    /// 1 to 5000 characters; `#hashtags` and `@mentions` are parsed from it.
    pub text: String,
    /// Up to 4 https URLs of images or video.
    #[serde(default)]
    pub media: Vec<String>,
}

/// Why content is reported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// 1 to 500 characters.
    pub reason: String,
}

/// A moderator's note on hiding content.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideRequest {
    /// Why, up to 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

async fn run(app: &App, caller: &Caller, id: PostId, command: PostCommand) -> Result<Accepted, ApiError> {
    let outcome = app.commands().execute::<Post>(&caller.context, &Aggregate::post(id), command).await?;
    Ok(Accepted::new(id, outcome))
}

/// Publish a post.
#[utoipa::path(post, path = "/api/v1/posts", tag = "posts", request_body = PostRequest,
    responses(CommandResponses))]
async fn create_post(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<PostRequest>,
) -> Result<Accepted, ApiError> {
    app.limiter().check(Limit::Posts, caller.user.as_str()).map_err(ApiError::rate_limited)?;
    let body = text::compose(&req.text, &req.media, app.words(), MAX_POST_CHARS)?;
    let id = PostId(caller.context.new_id("post", ""));
    let command = PostCommand::Create { post: id, author: caller.user.clone(), body };
    let outcome = app.commands().create::<Post>(&caller.context, &Aggregate::post(id), command).await?;
    Ok(Accepted::new(id, outcome))
}

/// Change a post's text or media (author only).
#[utoipa::path(patch, path = "/api/v1/posts/{post_id}", tag = "posts", request_body = PostRequest,
    params(("post_id" = String, Path, description = "The post")),
    responses(CommandResponses))]
async fn edit_post(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<PostId>,
    Body(req): Body<PostRequest>,
) -> Result<Accepted, ApiError> {
    let body = text::compose(&req.text, &req.media, app.words(), MAX_POST_CHARS)?;
    run(&app, &caller, id, PostCommand::Edit { by: caller.user.clone(), body }).await
}

/// Delete a post (author only).
#[utoipa::path(delete, path = "/api/v1/posts/{post_id}", tag = "posts",
    params(("post_id" = String, Path, description = "The post")),
    responses(CommandResponses))]
async fn delete_post(State(app): State<App>, caller: Caller, PathId(id): PathId<PostId>) -> Result<Accepted, ApiError> {
    run(&app, &caller, id, PostCommand::Delete { by: caller.user.clone() }).await
}

/// Report a post to the moderators.
#[utoipa::path(post, path = "/api/v1/posts/{post_id}/report", tag = "moderation", request_body = ReportRequest,
    params(("post_id" = String, Path, description = "The post")),
    responses(CommandResponses))]
async fn report_post(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<PostId>,
    Body(req): Body<ReportRequest>,
) -> Result<Accepted, ApiError> {
    let reason = ReportReason::parse(&req.reason)?;
    run(&app, &caller, id, PostCommand::Report { by: caller.user.clone(), reason }).await
}

/// Hide a post from everyone but moderators (moderators only).
#[utoipa::path(post, path = "/api/v1/posts/{post_id}/hide", tag = "moderation", request_body = HideRequest,
    params(("post_id" = String, Path, description = "The post")),
    responses(CommandResponses))]
async fn hide_post(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<PostId>,
    Body(req): Body<HideRequest>,
) -> Result<Accepted, ApiError> {
    let reason = HideReason::parse_optional(req.reason.as_deref())?;
    let command = PostCommand::Hide { by: caller.user.clone(), is_moderator: caller.moderator, reason };
    run(&app, &caller, id, command).await
}

/// Make a hidden post visible again (moderators only).
#[utoipa::path(post, path = "/api/v1/posts/{post_id}/restore", tag = "moderation",
    params(("post_id" = String, Path, description = "The post")),
    responses(CommandResponses))]
async fn restore_post(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<PostId>,
) -> Result<Accepted, ApiError> {
    run(&app, &caller, id, PostCommand::Restore { by: caller.user.clone(), is_moderator: caller.moderator }).await
}
