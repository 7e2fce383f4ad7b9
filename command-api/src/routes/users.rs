//! Users: register (or refresh) from the identity token, profile, settings,
//! follows and blocks.

use super::Accepted;
use crate::App;
use crate::command::{CommandContext, Outcome, current, execute, keyed, state_after};
use crate::error::{ApiError, Rejection};
use crate::extract::{Body, Caller};
use crate::facts;
use axum::extract::{Path, State};
use domain::InvalidInput;
use domain::users::{
    BlockCommand, DisplayName, FollowCommand, HandleRejection, ProfileChanges, RawProfileChanges, User, UserCommand,
    block, follow, handle, handle_candidates, user,
};
use events::catalog::users::{MessagePolicy, Settings};
use events::ids::{Handle, UserId};
use events::{Aggregate, Context, Position};
use serde::Deserialize;
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

fn user_path(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::Invalid(InvalidInput::new("user_id", e.to_string())))
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
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn register(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<RegisterRequest>,
) -> Result<Accepted, ApiError> {
    let (name, email) =
        identity(&caller.user, caller.token.claims.name.as_deref(), caller.token.claims.email.as_deref());
    register_user(&app, &caller.context, &caller.user, (name, email), req.handle.as_deref()).await
}

/// Registers `user` under the wanted handle, or the first free one made from
/// their name; a user already registered changes nothing.
pub(super) async fn register_user(
    app: &App,
    context: &CommandContext,
    user: &UserId,
    (display_name, email): (DisplayName, Option<String>),
    wanted: Option<&str>,
) -> Result<Accepted, ApiError> {
    let account = Aggregate::user(user);
    let history = app.events().load(&account).await?;
    if let User::Registered { .. } = state_after(&history.events, user::evolve) {
        // Registering again changes nothing; a retry of the request that did
        // register answers with its result, as every keyed command does.
        let key = context.key.as_ref().map(|k| k.on(&account));
        let outcome = match key.and_then(|key| keyed(&history, &key)) {
            Some(at) => Outcome { position: history.events[at].position, replayed: true, changed: true },
            None => Outcome {
                position: Position { context: Context::Users, sequence: history.version },
                replayed: false,
                changed: false,
            },
        };
        return Ok(Accepted::new(user, outcome));
    }
    let candidates = match wanted {
        Some(raw) => vec![Handle::parse(raw).map_err(|e| InvalidInput::new("handle", e.to_string()))?],
        None => handle_candidates(display_name.as_str(), user),
    };
    let handle = claim_first_free(app, context, user, candidates).await?;
    let command = UserCommand::Register { user: user.clone(), handle, display_name, email };
    let outcome = execute(app, context, &account, user::evolve, |s| user::decide(s, command.clone())).await?;
    Ok(Accepted::new(user, outcome))
}

/// Claims the first handle nobody else holds (a retry finds its own claim).
async fn claim_first_free(
    app: &App,
    context: &CommandContext,
    user: &UserId,
    candidates: Vec<Handle>,
) -> Result<Handle, ApiError> {
    let mut last = ApiError::from(HandleRejection::HandleTaken);
    for candidate in candidates {
        let claim = |s: &_| handle::decide(s, candidate.clone(), user.clone());
        match execute(app, context, &Aggregate::handle(&candidate), handle::evolve, claim).await {
            Ok(_) => return Ok(candidate),
            Err(error @ ApiError::Rejected(Rejection::Handle(_))) => last = error,
            Err(other) => return Err(other),
        }
    }
    Err(last)
}

/// Change profile fields.
#[utoipa::path(patch, path = "/api/v1/users/me/profile", tag = "users", request_body = ProfileRequest,
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
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
    let account = Aggregate::user(&caller.user);
    let outcome = execute(&app, &caller.context, &account, user::evolve, |s| user::decide(s, command.clone())).await?;
    Ok(Accepted::new(&caller.user, outcome))
}

/// Replace the account settings.
#[utoipa::path(put, path = "/api/v1/users/me/settings", tag = "users", request_body = SettingsRequest,
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
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
    let account = Aggregate::user(&caller.user);
    let outcome = execute(&app, &caller.context, &account, user::evolve, |s| user::decide(s, command.clone())).await?;
    Ok(Accepted::new(&caller.user, outcome))
}

async fn run_follow(
    app: &App,
    caller: &Caller,
    followee: UserId,
    command: FollowCommand,
) -> Result<Accepted, ApiError> {
    let aggregate = Aggregate::follow(&caller.user, &followee);
    let outcome =
        execute(app, &caller.context, &aggregate, follow::evolve, |s| follow::decide(s, command.clone())).await?;
    Ok(Accepted::new(&followee, outcome))
}

/// Follow a user.
#[utoipa::path(put, path = "/api/v1/users/{user_id}/follow", tag = "users",
    params(("user_id" = String, Path, description = "Who to follow")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn follow_user(
    State(app): State<App>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Accepted, ApiError> {
    let followee = user_path(&user_id)?;
    let exists = matches!(current(&app, &Aggregate::user(&followee), user::evolve).await?, User::Registered { .. });
    let blocked = facts::blocks(&app, &followee, &caller.user).await?;
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
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn unfollow_user(
    State(app): State<App>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Accepted, ApiError> {
    let followee = user_path(&user_id)?;
    let command = FollowCommand::Unfollow { follower: caller.user.clone(), followee: followee.clone() };
    run_follow(&app, &caller, followee, command).await
}

async fn run_block(app: &App, caller: &Caller, blocked: UserId, command: BlockCommand) -> Result<Accepted, ApiError> {
    let aggregate = Aggregate::block(&caller.user, &blocked);
    let outcome =
        execute(app, &caller.context, &aggregate, block::evolve, |s| block::decide(s, command.clone())).await?;
    Ok(Accepted::new(&blocked, outcome))
}

/// Block a user: they can no longer follow you, comment on or like your posts,
/// answer your events or message you.
#[utoipa::path(put, path = "/api/v1/users/{user_id}/block", tag = "users",
    params(("user_id" = String, Path, description = "Who to block")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn block_user(State(app): State<App>, caller: Caller, Path(user_id): Path<String>) -> Result<Accepted, ApiError> {
    let blocked = user_path(&user_id)?;
    let command = BlockCommand::Block { blocker: caller.user.clone(), blocked: blocked.clone() };
    run_block(&app, &caller, blocked, command).await
}

/// Lift a block.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/block", tag = "users",
    params(("user_id" = String, Path, description = "Who to unblock")),
    responses((status = 202, body = Accepted), (status = "4XX", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn unblock_user(
    State(app): State<App>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Accepted, ApiError> {
    let blocked = user_path(&user_id)?;
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
