//! Users: register (or refresh) from the identity token, profile, settings,
//! follows and blocks.

use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Body, Caller, Identity, PathId};
use axum::extract::State;
use commands::facts;
use commands::{CommandContext, CommandError};
use domain::InvalidInput;
use domain::users::{
    Block, BlockCommand, DisplayName, Follow, FollowCommand, HandleClaim, HandleCommand, HandleRejection, Holder,
    ProfileChanges, RawProfileChanges, User, UserCommand, handle_candidates,
};
use events::catalog::UserEvent;
use events::catalog::users::{MessagePolicy, Settings};
use events::ids::{Handle, UserId};
use events::{Aggregate, DomainEvent};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(update_profile))
        .routes(routes!(change_settings))
        .routes(routes!(follow_user, unfollow_user))
        .routes(routes!(block_user, unblock_user))
}

/// First registration; later calls change nothing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The handle wanted (3 to 30 of a-z, 0-9, `_`); absent: one is made from
    /// the token's name.
    #[serde(default)]
    pub handle: Option<String>,
}

/// Profile fields to change; absent fields stay, `""` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// 1 to 50 characters.
    pub display_name: Option<String>,
    /// Up to 300 characters.
    pub bio: Option<String>,
    /// An https URL.
    pub avatar_url: Option<String>,
    /// Up to 100 characters.
    pub location: Option<String>,
    /// An http(s) URL.
    pub website: Option<String>,
}

/// All settings (a replacement, not a patch).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    /// Whether others see when you are online.
    pub show_presence: bool,
    /// Whether others see that you read their messages.
    pub read_receipts: bool,
    /// `everyone`, `following` or `nobody` may start a conversation with you.
    #[schema(value_type = String, example = "everyone")]
    pub messages_from: MessagePolicy,
}

/// The display name and email a new user starts with, from the identity
/// token's (or the calling backend's) `name` and `email`. The name goes
/// through the same parser as a profile edit, falling back to the email's
/// local part and then the user id ([`DisplayName::from_identity`]).
pub(super) fn identity(user: &UserId, name: Option<&str>, email: Option<&str>) -> (DisplayName, Option<String>) {
    let email = email.filter(|e| e.len() <= 254 && e.contains('@')).map(str::to_owned);
    (DisplayName::from_identity(name, email.as_deref(), user), email)
}

/// Register the caller from their token, or nothing if already registered.
#[utoipa::path(post, path = "/api/v1/users/me", tag = "users", request_body = RegisterRequest,
    responses(CommandResponses))]
async fn register(
    State(app): State<App>,
    Identity(caller): Identity,
    Body(req): Body<RegisterRequest>,
) -> Result<Accepted, ApiError> {
    let (name, email) =
        identity(&caller.user, caller.token.claims.name.as_deref(), caller.token.claims.email.as_deref());
    register_user(&app, &caller.context, &caller.user, (name, email), req.handle.as_deref()).await
}

/// Registers `user` under the wanted handle, or the first free one made from
/// their name; a user already registered changes nothing (and a retry of the
/// request that did register is answered with its result).
pub(super) async fn register_user(
    app: &App,
    context: &CommandContext,
    user: &UserId,
    (display_name, email): (DisplayName, Option<String>),
    wanted: Option<&str>,
) -> Result<Accepted, ApiError> {
    let handle = match facts::user(app.commands(), user).await? {
        User::Registered { handle, .. } => handle,
        User::Unregistered => {
            let candidates = match wanted {
                Some(raw) => vec![Handle::parse(raw).map_err(|e| InvalidInput::new("handle", e.to_string()))?],
                None => handle_candidates(display_name.as_str(), user),
            };
            claim_first_free(app, context, user, candidates).await?
        }
    };
    let command = UserCommand::Register { user: user.clone(), handle, display_name, email };
    let outcome = app.commands().execute::<User>(context, &Aggregate::user(user), command).await?;
    app.remember_registered(user);
    Ok(Accepted::new(user, outcome))
}

/// Claims the first handle nobody else holds (a retry finds its own claim).
async fn claim_first_free(
    app: &App,
    context: &CommandContext,
    user: &UserId,
    candidates: Vec<Handle>,
) -> Result<Handle, ApiError> {
    let mut last = HandleRejection::HandleTaken;
    for candidate in candidates {
        let aggregate = Aggregate::handle(&candidate);
        let holder = holder_of(app, &aggregate).await?;
        let now = OffsetDateTime::now_utc();
        let command = HandleCommand { handle: candidate.clone(), user: user.clone(), holder, now };
        match app.commands().execute::<HandleClaim>(context, &aggregate, command).await {
            Ok(_) => return Ok(candidate),
            Err(CommandError::Rejected(rejection)) => last = rejection,
            Err(other) => return Err(other.into()),
        }
    }
    Err(last.into())
}

/// Who holds a handle's latest claim, when, and under which handle they
/// registered: what decides whether the claim still stands.
async fn holder_of(app: &App, handle: &Aggregate) -> Result<Option<Holder>, ApiError> {
    let Some(last) = app.events().last(handle).await? else { return Ok(None) };
    let DomainEvent::Users(UserEvent::HandleClaimed(claim)) = last.event else { return Ok(None) };
    let registered_as = match facts::user(app.commands(), &claim.user).await? {
        User::Registered { handle, .. } => Some(handle),
        User::Unregistered => None,
    };
    Ok(Some(Holder { user: claim.user, registered_as, claimed_at: last.envelope.time }))
}

/// Change profile fields.
#[utoipa::path(patch, path = "/api/v1/users/me/profile", tag = "users", request_body = ProfileRequest,
    responses(CommandResponses))]
async fn update_profile(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<ProfileRequest>,
) -> Result<Accepted, ApiError> {
    let changes = ProfileChanges::parse(RawProfileChanges {
        display_name: req.display_name,
        bio: req.bio,
        avatar_url: req.avatar_url,
        location: req.location,
        website: req.website,
    })?;
    let command = UserCommand::UpdateProfile { user: caller.user.clone(), changes };
    let outcome = app.commands().execute::<User>(&caller.context, &Aggregate::user(&caller.user), command).await?;
    Ok(Accepted::new(&caller.user, outcome))
}

/// Replace the account settings.
#[utoipa::path(put, path = "/api/v1/users/me/settings", tag = "users", request_body = SettingsRequest,
    responses(CommandResponses))]
async fn change_settings(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<SettingsRequest>,
) -> Result<Accepted, ApiError> {
    let settings = Settings {
        show_presence: req.show_presence,
        read_receipts: req.read_receipts,
        messages_from: req.messages_from,
    };
    let command = UserCommand::ChangeSettings { user: caller.user.clone(), settings };
    let outcome = app.commands().execute::<User>(&caller.context, &Aggregate::user(&caller.user), command).await?;
    Ok(Accepted::new(&caller.user, outcome))
}

async fn run_follow(
    app: &App,
    caller: &Caller,
    followee: UserId,
    command: FollowCommand,
) -> Result<Accepted, ApiError> {
    let aggregate = Aggregate::follow(&caller.user, &followee);
    let outcome = app.commands().execute::<Follow>(&caller.context, &aggregate, command).await?;
    Ok(Accepted::new(&followee, outcome))
}

/// Follow a user.
#[utoipa::path(put, path = "/api/v1/users/{user_id}/follow", tag = "users",
    params(("user_id" = String, Path, description = "Who to follow")),
    responses(CommandResponses))]
async fn follow_user(
    State(app): State<App>,
    caller: Caller,
    PathId(followee): PathId<UserId>,
) -> Result<Accepted, ApiError> {
    let exists = matches!(facts::user(app.commands(), &followee).await?, User::Registered { .. });
    let blocked = facts::blocks(app.commands(), &followee, &caller.user).await?;
    let command = FollowCommand::Follow {
        follower: caller.user.clone(),
        followee: followee.clone(),
        followee_exists: exists,
        blocked_by_followee: blocked,
    };
    run_follow(&app, &caller, followee, command).await
}

/// Stop following a user.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/follow", tag = "users",
    params(("user_id" = String, Path, description = "Who to stop following")),
    responses(CommandResponses))]
async fn unfollow_user(
    State(app): State<App>,
    caller: Caller,
    PathId(followee): PathId<UserId>,
) -> Result<Accepted, ApiError> {
    let command = FollowCommand::Unfollow { follower: caller.user.clone(), followee: followee.clone() };
    run_follow(&app, &caller, followee, command).await
}

async fn run_block(app: &App, caller: &Caller, blocked: UserId, command: BlockCommand) -> Result<Accepted, ApiError> {
    let aggregate = Aggregate::block(&caller.user, &blocked);
    let outcome = app.commands().execute::<Block>(&caller.context, &aggregate, command).await?;
    Ok(Accepted::new(&blocked, outcome))
}

/// Block a user: they can no longer follow you, comment on or like your posts,
/// answer your events or message you.
#[utoipa::path(put, path = "/api/v1/users/{user_id}/block", tag = "users",
    params(("user_id" = String, Path, description = "Who to block")),
    responses(CommandResponses))]
async fn block_user(
    State(app): State<App>,
    caller: Caller,
    PathId(blocked): PathId<UserId>,
) -> Result<Accepted, ApiError> {
    let command = BlockCommand::Block { blocker: caller.user.clone(), blocked: blocked.clone() };
    run_block(&app, &caller, blocked, command).await
}

/// Lift a block.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/block", tag = "users",
    params(("user_id" = String, Path, description = "Who to unblock")),
    responses(CommandResponses))]
async fn unblock_user(
    State(app): State<App>,
    caller: Caller,
    PathId(blocked): PathId<UserId>,
) -> Result<Accepted, ApiError> {
    let command = BlockCommand::Unblock { blocker: caller.user.clone(), blocked: blocked.clone() };
    run_block(&app, &caller, blocked, command).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_local_part_that_would_be_an_invalid_name_is_not_used_as_one() {
        let user = UserId::parse("u1").unwrap_or_else(|e| panic!("{e}"));
        let (name, email) = identity(&user, None, Some("\u{202E}evil\u{2028}@example.org"));
        assert_eq!((name.as_str(), email.as_deref()), ("u1", Some("\u{202E}evil\u{2028}@example.org")));
        let (name, _) = identity(&user, Some("Ana\u{200B}"), Some("ana@example.org"));
        assert_eq!(name.as_str(), "ana");
    }
}
