//! Chat over REST, for clients without a socket: direct and group
//! conversations, members, messages, read marks. The chat gateway uses the same
//! rules (`domain::chat`).
//!
//! Who may add people to a group: any member. Everyone added must accept
//! messages from the one adding them (the rule of a direct conversation:
//! registered, no block either way, their `messages_from`). Someone who left
//! is added back only by the group's creator.

use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Body, Caller, PathId};
use crate::limits::Limit;
use axum::extract::State;
use commands::{chat, facts};
use domain::InvalidInput;
use domain::chat::{
    Conversation, ConversationCommand, ConversationRejection, GroupTitle, MAX_NAMED_MEMBERS, MessageBody,
    direct_conversation_id,
};
use events::Aggregate;
use events::ids::{ConversationId, MessageId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(start_direct))
        .routes(routes!(start_group))
        .routes(routes!(add_members))
        .routes(routes!(leave))
        .routes(routes!(send_message))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(mark_read))
}

/// Who to talk to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectRequest {
    /// The other person's user id.
    pub with: String,
}

/// A new group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// 1 to 80 characters.
    pub title: String,
    /// The other members' user ids (the caller joins too): at most 255, as a
    /// group has at most 256 members (`domain::chat::MAX_GROUP_MEMBERS`).
    pub members: Vec<String>,
}

/// People to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersRequest {
    /// User ids: at most 255 in one request, and the group at most 256
    /// members after it (`domain::chat::MAX_GROUP_MEMBERS`).
    pub members: Vec<String>,
}

/// A message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// 1 to 4000 characters.
    pub body: String,
    /// The message this one answers.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// How far the caller has read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The last message read.
    pub up_to: String,
}

fn invalid(field: &str, problem: impl ToString) -> ApiError {
    ApiError::Invalid(InvalidInput::new(field, problem.to_string()))
}

fn message_id(field: &str, raw: &str) -> Result<MessageId, ApiError> {
    MessageId::parse(raw).map_err(|e| invalid(field, e))
}

/// The people a request names to start or join a group. A list that could
/// never fit is refused as the rules would refuse it, before one fact is
/// looked up per person.
fn user_ids(field: &str, raw: &[String]) -> Result<Vec<UserId>, ApiError> {
    if raw.len() > MAX_NAMED_MEMBERS {
        return Err(ConversationRejection::GroupTooLarge.into());
    }
    raw.iter().enumerate().map(|(i, id)| UserId::parse(id).map_err(|e| invalid(&format!("{field}[{i}]"), e))).collect()
}

async fn run(
    app: &App,
    caller: &Caller,
    id: ConversationId,
    command: ConversationCommand,
) -> Result<Accepted, ApiError> {
    let outcome =
        app.commands().execute::<Conversation>(&caller.context, &Aggregate::conversation(id), command).await?;
    Ok(Accepted::new(id, outcome))
}

/// Start (or find) the direct conversation with a user: one per pair.
#[utoipa::path(post, path = "/api/v1/conversations/direct", tag = "chat", request_body = DirectRequest,
    responses(CommandResponses))]
async fn start_direct(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<DirectRequest>,
) -> Result<Accepted, ApiError> {
    let with = UserId::parse(&req.with).map_err(|e| invalid("with", e))?;
    let id = direct_conversation_id(&caller.user, &with);
    let may_message = with != caller.user && facts::may_message(app.commands(), &caller.user, &with).await?;
    run(
        &app,
        &caller,
        id,
        ConversationCommand::StartDirect { conversation: id, by: caller.user.clone(), with, may_message },
    )
    .await
}

/// Start a group conversation.
#[utoipa::path(post, path = "/api/v1/conversations", tag = "chat", request_body = GroupRequest,
    responses(CommandResponses))]
async fn start_group(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<GroupRequest>,
) -> Result<Accepted, ApiError> {
    app.limiter().check(Limit::Groups, caller.user.as_str()).map_err(ApiError::rate_limited)?;
    let title = GroupTitle::parse(&req.title)?;
    let members = user_ids("members", &req.members)?;
    let refused = facts::refusing(app.commands(), &caller.user, &members).await?;
    let id = ConversationId(caller.context.new_id("conversation", ""));
    let command =
        ConversationCommand::StartGroup { conversation: id, by: caller.user.clone(), members, title, refused };
    let aggregate = Aggregate::conversation(id);
    let outcome = app.commands().create::<Conversation>(&caller.context, &aggregate, command).await?;
    Ok(Accepted::new(id, outcome))
}

/// Add people to a group (members only).
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/members", tag = "chat", request_body = MembersRequest,
    params(("conversation_id" = String, Path, description = "The group")),
    responses(CommandResponses))]
async fn add_members(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<ConversationId>,
    Body(req): Body<MembersRequest>,
) -> Result<Accepted, ApiError> {
    app.limiter().check(Limit::Groups, caller.user.as_str()).map_err(ApiError::rate_limited)?;
    let members = user_ids("members", &req.members)?;
    let refused = facts::refusing(app.commands(), &caller.user, &members).await?;
    run(&app, &caller, id, ConversationCommand::AddMembers { by: caller.user.clone(), members, refused }).await
}

/// Leave a group.
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/leave", tag = "chat",
    params(("conversation_id" = String, Path, description = "The group")),
    responses(CommandResponses))]
async fn leave(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<ConversationId>,
) -> Result<Accepted, ApiError> {
    run(&app, &caller, id, ConversationCommand::Leave { member: caller.user.clone() }).await
}

/// Send a message (members only; in a direct conversation, not to someone who
/// blocks you).
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/messages", tag = "chat", request_body = MessageRequest,
    params(("conversation_id" = String, Path, description = "The conversation")),
    responses(CommandResponses))]
async fn send_message(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<ConversationId>,
    Body(req): Body<MessageRequest>,
) -> Result<Accepted, ApiError> {
    app.limiter().check(Limit::Messages, caller.user.as_str()).map_err(ApiError::rate_limited)?;
    let body = MessageBody::parse(&req.body)?;
    let reply_to = req.reply_to.as_deref().map(|r| message_id("reply_to", r)).transpose()?;
    let send = chat::Send { conversation: id, sender: caller.user.clone(), body, reply_to };
    let (message, outcome) = chat::send(app.commands(), &caller.context, send).await?;
    Ok(Accepted::new(message, outcome))
}

/// Change a message's text (its sender only).
#[utoipa::path(patch, path = "/api/v1/conversations/{conversation_id}/messages/{message_id}", tag = "chat", request_body = MessageRequest,
    params(("conversation_id" = String, Path, description = "The conversation"), ("message_id" = String, Path, description = "The message")),
    responses(CommandResponses))]
async fn edit_message(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<ConversationId>,
    PathId(message): PathId<MessageId>,
    Body(req): Body<MessageRequest>,
) -> Result<Accepted, ApiError> {
    let body = MessageBody::parse(&req.body)?;
    let outcome = chat::edit(app.commands(), &caller.context, (id, message), caller.user.clone(), body).await?;
    Ok(Accepted::new(message, outcome))
}

/// Delete a message (its sender only).
#[utoipa::path(delete, path = "/api/v1/conversations/{conversation_id}/messages/{message_id}", tag = "chat",
    params(("conversation_id" = String, Path, description = "The conversation"), ("message_id" = String, Path, description = "The message")),
    responses(CommandResponses))]
async fn delete_message(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<ConversationId>,
    PathId(message): PathId<MessageId>,
) -> Result<Accepted, ApiError> {
    let outcome = chat::delete(app.commands(), &caller.context, (id, message), caller.user.clone()).await?;
    Ok(Accepted::new(message, outcome))
}

/// Mark the conversation read up to a message; marks only move forward.
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/read", tag = "chat", request_body = ReadRequest,
    params(("conversation_id" = String, Path, description = "The conversation")),
    responses(CommandResponses))]
async fn mark_read(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<ConversationId>,
    Body(req): Body<ReadRequest>,
) -> Result<Accepted, ApiError> {
    let up_to = message_id("up_to", &req.up_to)?;
    let outcome = chat::mark_read(app.commands(), &caller.context, (id, up_to), caller.user.clone()).await?;
    Ok(Accepted::new(id, outcome))
}
