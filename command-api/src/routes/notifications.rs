//! Notification settings: preferences and Web Push subscriptions.

use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Body, Caller};
use axum::extract::State;
use domain::notify::{NotifySettings, NotifySettingsCommand, parse_subscription};
use events::Aggregate;
use events::catalog::notifications::{NotificationKind, Preferences};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(change_preferences)).routes(routes!(add_subscription, remove_subscription))
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
    /// `mentioned`, `message_received`, `event_updated`, `event_cancelled`,
    /// `moderation`.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub muted: Vec<NotificationKind>,
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
    let mut muted = req.muted;
    muted.sort();
    muted.dedup();
    let preferences = Preferences { email: req.email, push: req.push, muted };
    run(&app, &caller, NotifySettingsCommand::ChangePreferences { user: caller.user.clone(), preferences }).await
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
