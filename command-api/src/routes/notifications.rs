//! Notifications: the caller's inbox (list, unread count, read one, read
//! all) and their settings (preferences, Web Push subscriptions).

use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Body, Caller, Identity, LinkHolder, LinkParams, PathId};
use crate::reads::{AfterParam, Paging, QueryStore, Read, ReadAfter};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use commands::facts;
use domain::notify::delivery;
use domain::notify::quiet::parse_quiet_hours;
use domain::notify::{
    InboxMark, Notification, NotifySettings, NotifySettingsCommand, ReadAll, ReadOne, parse_subscription,
};
use events::Aggregate;
use events::catalog::notifications::{Mutable, NotificationKind, Preferences};
use events::ids::{ConversationId, NotificationId, PostId};
use read_models::inbox::{InboxQueries, NotificationPage, UnreadCount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

const INBOX: &str = "inbox";

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(inbox))
        .routes(routes!(unread))
        .routes(routes!(read_one))
        .routes(routes!(read_all))
        .routes(routes!(unsubscribe, unsubscribe_page))
        .routes(routes!(preferences, change_preferences))
        .routes(routes!(mute_post, unmute_post))
        .routes(routes!(mute_conversation, unmute_conversation))
        .routes(routes!(add_subscription, remove_subscription))
}

fn queries(app: &App) -> Result<InboxQueries<'_, QueryStore>, ApiError> {
    let reads = app.reads()?;
    Ok(InboxQueries::new(&reads.store, reads.generation(INBOX)))
}

/// The caller's notifications, newest first, each saying whether it was read.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::inbox::NotificationView>)))]
async fn inbox(
    State(app): State<App>,
    Identity(caller): Identity,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<NotificationPage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(&[INBOX], after).await?;
    let page = queries(&app)?.page(caller.user.as_str(), limit, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}

/// How many of the caller's notifications are unread (among the newest 100;
/// `more` says there may be others).
#[utoipa::path(get, path = "/api/v1/notifications/unread-count", tag = "notifications", params(AfterParam),
    responses((status = 200, body = UnreadCount)))]
async fn unread(
    State(app): State<App>,
    Identity(caller): Identity,
    after: ReadAfter,
) -> Result<Read<Json<UnreadCount>>, ApiError> {
    let consistency = app.read_after(&[INBOX], after).await?;
    Ok(Read(consistency, Json(queries(&app)?.unread(caller.user.as_str()).await?)))
}

/// Mark one of the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/{notification_id}/read", tag = "notifications",
    params(("notification_id" = String, Path, description = "The notification")), responses(CommandResponses))]
async fn read_one(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<NotificationId>,
) -> Result<Accepted, ApiError> {
    let command = ReadOne { notification: id, reader: caller.user.clone() };
    let outcome =
        app.commands().execute::<Notification>(&caller.context, &Aggregate::notification(id), command).await?;
    Ok(Accepted::new(id, outcome))
}

/// Up to where the caller read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadAllRequest {
    /// The newest notification the client showed: it and everything before
    /// it are read, what arrived since stays unread. Absent: the newest in
    /// the inbox now.
    #[schema(value_type = Option<String>)]
    pub up_to: Option<NotificationId>,
}

/// Mark the caller's notifications read, up to and including one; 204 when
/// the inbox is empty.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", request_body = ReadAllRequest,
    responses(CommandResponses, (status = 204, description = "The inbox is empty: nothing to mark")))]
async fn read_all(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<ReadAllRequest>,
) -> Result<Response, ApiError> {
    let newest = match req.up_to {
        Some(id) => Some(id),
        None => queries(&app)?.newest(caller.user.as_str()).await?.and_then(|id| NotificationId::parse(&id).ok()),
    };
    let Some(up_to) = newest else { return Ok(StatusCode::NO_CONTENT.into_response()) };
    let up_to_recipient = facts::notification(app.commands(), up_to).await?.recipient;
    let command = ReadAll { recipient: caller.user.clone(), up_to, up_to_recipient };
    let aggregate = Aggregate::inbox(&caller.user);
    let outcome = app.commands().execute::<InboxMark>(&caller.context, &aggregate, command).await?;
    Ok(Accepted::new(up_to, outcome).into_response())
}

/// All preferences (a replacement, not a patch).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesRequest {
    /// Email notifications on or off.
    pub email: bool,
    /// Web Push notifications on or off.
    pub push: bool,
    /// Kinds never to hear of: `new_follower`, `post_liked`, `post_commented`,
    /// `mentioned`, `event_rsvp`, `event_reminder`, `message_received`,
    /// `event_updated`, `event_cancelled`, `moderation`.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub muted: Vec<NotificationKind>,
    /// The kinds to send by email; absent: the defaults (`mentioned`,
    /// `message_received`, `event_reminder`, `event_cancelled`, `moderation`).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub email_kinds: Option<Vec<NotificationKind>>,
    /// The kinds to send by Web Push; absent: the defaults (those of email,
    /// and `post_commented`, `event_rsvp`).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub push_kinds: Option<Vec<NotificationKind>>,
    /// When email and push wait (in-app never does); absent: never.
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursRequest>,
}

/// A window of the day in the caller's time zone.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursRequest {
    /// `HH:MM`, 24 hours.
    pub start: String,
    /// `HH:MM`; before `start`, the window wraps midnight (`22:00` to `07:00`).
    pub end: String,
    /// An IANA time zone, `Europe/Berlin`.
    pub time_zone: String,
}

/// A browser's `PushSubscription.toJSON()`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubscriptionRequest {
    /// The push service URL (https).
    pub endpoint: String,
    /// Sent by browsers; not used.
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub expiration_time: Option<serde_json::Value>,
    /// The browser's keys.
    pub keys: SubscriptionKeys,
}

/// The keys of a push subscription, base64url.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// P-256 public key.
    pub p256dh: String,
    /// Authentication secret.
    pub auth: String,
}

/// Which subscription to forget.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveSubscriptionRequest {
    /// Its endpoint.
    pub endpoint: String,
}

async fn run(app: &App, caller: &Caller, command: NotifySettingsCommand) -> Result<Accepted, ApiError> {
    let aggregate = Aggregate::preferences(&caller.user);
    let outcome = app.commands().execute::<NotifySettings>(&caller.context, &aggregate, command).await?;
    Ok(Accepted::new(&caller.user, outcome))
}

/// Replace the caller's notification preferences.
#[utoipa::path(put, path = "/api/v1/notifications/preferences", tag = "notifications", request_body = PreferencesRequest,
    responses(CommandResponses))]
async fn change_preferences(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<PreferencesRequest>,
) -> Result<Accepted, ApiError> {
    let preferences = Preferences {
        email: req.email,
        push: req.push,
        muted: kinds(req.muted),
        email_kinds: req.email_kinds.map(kinds),
        push_kinds: req.push_kinds.map(kinds),
        quiet_hours: req.quiet_hours.map(|q| parse_quiet_hours(&q.start, &q.end, &q.time_zone)).transpose()?,
    };
    run(&app, &caller, NotifySettingsCommand::ChangePreferences { user: caller.user.clone(), preferences }).await
}

/// Sorted, each once: the same choice is the same preferences.
fn kinds(mut kinds: Vec<NotificationKind>) -> Vec<NotificationKind> {
    kinds.sort();
    kinds.dedup();
    kinds
}

/// The caller's notification settings, as they stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// Email on or off.
    pub email: bool,
    /// Web Push on or off.
    pub push: bool,
    /// Kinds never heard of.
    #[schema(value_type = Vec<String>)]
    pub muted: Vec<NotificationKind>,
    /// The kinds that go out by email (the caller's choice, else the defaults).
    #[schema(value_type = Vec<String>)]
    pub email_kinds: Vec<NotificationKind>,
    /// The kinds that go out by Web Push (the caller's choice, else the defaults).
    #[schema(value_type = Vec<String>)]
    pub push_kinds: Vec<NotificationKind>,
    /// Posts silenced.
    pub muted_posts: Vec<String>,
    /// Conversations silenced.
    pub muted_conversations: Vec<String>,
    /// The endpoints of the caller's push subscriptions.
    pub push_endpoints: Vec<String>,
    /// When email and push wait, if ever.
    pub quiet_hours: Option<QuietHoursRequest>,
}

/// The caller's notification settings: preferences with the kinds per
/// channel in effect, what they silenced, and their push subscriptions, from
/// the inbox model (pass a change's position as `Pulse-After` to read it).
#[utoipa::path(get, path = "/api/v1/notifications/preferences", tag = "notifications", params(AfterParam),
    responses((status = 200, body = SettingsView)))]
async fn preferences(
    State(app): State<App>,
    Identity(caller): Identity,
    after: ReadAfter,
) -> Result<Read<Json<SettingsView>>, ApiError> {
    let consistency = app.read_after(&[INBOX], after).await?;
    let settings = queries(&app)?.settings(caller.user.as_str()).await?;
    let p = settings.preferences;
    let view = SettingsView {
        email: p.email,
        push: p.push,
        muted: p.muted,
        email_kinds: p.email_kinds.unwrap_or_else(|| delivery::EMAIL_BY_DEFAULT.to_vec()),
        push_kinds: p.push_kinds.unwrap_or_else(|| delivery::PUSH_BY_DEFAULT.to_vec()),
        muted_posts: settings.muted_posts,
        muted_conversations: settings.muted_conversations,
        push_endpoints: settings.push_endpoints,
        quiet_hours: p.quiet_hours.map(|q| QuietHoursRequest { start: q.start, end: q.end, time_zone: q.time_zone }),
    };
    Ok(Read(consistency, Json(view)))
}

async fn mute(app: &App, caller: &Caller, target: Mutable, on: bool) -> Result<Accepted, ApiError> {
    let user = caller.user.clone();
    let command =
        if on { NotifySettingsCommand::Mute { user, target } } else { NotifySettingsCommand::Unmute { user, target } };
    run(app, caller, command).await
}

/// Silence a post: no likes, comments or mentions of it (at most 1000 mutes).
#[utoipa::path(put, path = "/api/v1/notifications/mutes/posts/{post_id}", tag = "notifications",
    params(("post_id" = String, Path, description = "The post")), responses(CommandResponses))]
async fn mute_post(State(app): State<App>, caller: Caller, PathId(post): PathId<PostId>) -> Result<Accepted, ApiError> {
    mute(&app, &caller, Mutable::Post(post), true).await
}

/// Hear of a post again.
#[utoipa::path(delete, path = "/api/v1/notifications/mutes/posts/{post_id}", tag = "notifications",
    params(("post_id" = String, Path, description = "The post")), responses(CommandResponses))]
async fn unmute_post(
    State(app): State<App>,
    caller: Caller,
    PathId(post): PathId<PostId>,
) -> Result<Accepted, ApiError> {
    mute(&app, &caller, Mutable::Post(post), false).await
}

/// Silence a conversation: no notifications of its messages (the socket
/// still delivers them).
#[utoipa::path(put, path = "/api/v1/notifications/mutes/conversations/{conversation_id}", tag = "notifications",
    params(("conversation_id" = String, Path, description = "The conversation")), responses(CommandResponses))]
async fn mute_conversation(
    State(app): State<App>,
    caller: Caller,
    PathId(conversation): PathId<ConversationId>,
) -> Result<Accepted, ApiError> {
    mute(&app, &caller, Mutable::Conversation(conversation), true).await
}

/// Hear of a conversation again.
#[utoipa::path(delete, path = "/api/v1/notifications/mutes/conversations/{conversation_id}", tag = "notifications",
    params(("conversation_id" = String, Path, description = "The conversation")), responses(CommandResponses))]
async fn unmute_conversation(
    State(app): State<App>,
    caller: Caller,
    PathId(conversation): PathId<ConversationId>,
) -> Result<Accepted, ApiError> {
    mute(&app, &caller, Mutable::Conversation(conversation), false).await
}

/// Register a Web Push subscription (at most 10 per user).
#[utoipa::path(post, path = "/api/v1/notifications/push-subscriptions", tag = "notifications", request_body = SubscriptionRequest,
    responses(CommandResponses))]
async fn add_subscription(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<SubscriptionRequest>,
) -> Result<Accepted, ApiError> {
    let subscription = parse_subscription(&req.endpoint, &req.keys.p256dh, &req.keys.auth)?;
    run(&app, &caller, NotifySettingsCommand::AddPushSubscription { user: caller.user.clone(), subscription }).await
}

/// Forget a Web Push subscription.
#[utoipa::path(delete, path = "/api/v1/notifications/push-subscriptions", tag = "notifications", request_body = RemoveSubscriptionRequest,
    responses(CommandResponses))]
async fn remove_subscription(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<RemoveSubscriptionRequest>,
) -> Result<Accepted, ApiError> {
    let endpoint = req.endpoint.trim().to_owned();
    run(&app, &caller, NotifySettingsCommand::RemovePushSubscription { user: caller.user.clone(), endpoint }).await
}

/// Turn email notifications off for the link's user: the one-click
/// unsubscribe (RFC 8058) of every email Pulse sends, authorized by the link's
/// token instead of a bearer token. Mail clients post
/// `List-Unsubscribe=One-Click`; the body is not read.
#[utoipa::path(post, path = "/api/v1/notifications/unsubscribe", tag = "notifications", params(LinkParams),
    security(()), responses(CommandResponses))]
async fn unsubscribe(State(app): State<App>, link: LinkHolder) -> Result<Accepted, ApiError> {
    let command = NotifySettingsCommand::TurnEmailOff { user: link.user.clone() };
    let aggregate = Aggregate::preferences(&link.user);
    let outcome = app.commands().execute::<NotifySettings>(&link.context, &aggregate, command).await?;
    Ok(Accepted::new(&link.user, outcome))
}

/// The page an unsubscribe link opens in a browser: one button that posts
/// the same link. Opening it changes nothing, because mail scanners open links.
#[utoipa::path(get, path = "/api/v1/notifications/unsubscribe", tag = "notifications", params(LinkParams),
    security(()), responses((status = 200, content_type = "text/html", description = "A page with one button")))]
async fn unsubscribe_page(link: LinkHolder) -> Html<String> {
    // Both passed the token check: a user id and base64url, nothing to escape.
    let action = format!("/api/v1/notifications/unsubscribe?user={}&amp;token={}", link.user, link.token);
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head>\
         <body><p>Stop email notifications for {user}?</p><form method=\"post\" action=\"{action}\">\
         <button type=\"submit\">Unsubscribe</button></form></body></html>",
        user = link.user
    ))
}
