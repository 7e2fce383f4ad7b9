//! Queries over the chat projection: the caller's conversations, latest
//! activity first, and a conversation's messages, newest first, for its
//! members only. A conversation the caller is not in answers 404, as one that
//! does not exist, so its id leaks nothing.

use crate::App;
use crate::error::ApiError;
use crate::extract::{Identity, PathId};
use crate::reads::{AfterParam, Paging, QueryStore, Read, ReadAfter};
use axum::Json;
use axum::extract::State;
use events::ids::ConversationId;
use read_models::chat::{ChatQueries, ConversationPage, MessagePage};
use utoipa_axum::{router::OpenApiRouter, routes};

const CHAT: &str = "chat";

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(conversations)).routes(routes!(messages))
}

fn queries(app: &App) -> Result<ChatQueries<'_, QueryStore>, ApiError> {
    let reads = app.reads()?;
    Ok(ChatQueries::new(&reads.store, reads.generation(CHAT)))
}

/// The caller's conversations, latest activity first, each with its last
/// message and how many messages from others the caller has not read.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "chat", params(Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::chat::ConversationSummary>)))]
async fn conversations(
    State(app): State<App>,
    Identity(caller): Identity,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<ConversationPage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(&[CHAT], after).await?;
    let page = queries(&app)?.conversations(caller.user.as_str(), limit, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}

/// A conversation's messages, newest first; deleted ones keep their place
/// without their text. Members only.
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/messages", tag = "chat",
    params(("conversation_id" = String, Path, description = "The conversation"), Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::chat::ChatMessage>), (status = 404, body = crate::error::Problem)))]
async fn messages(
    State(app): State<App>,
    Identity(caller): Identity,
    PathId(id): PathId<ConversationId>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<MessagePage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(&[CHAT], after).await?;
    let page = queries(&app)?.history(&id.to_string(), caller.user.as_str(), limit, paging.cursor).await?;
    Ok(Read(consistency, Json(page.ok_or(ApiError::NotFound("conversation"))?)))
}
