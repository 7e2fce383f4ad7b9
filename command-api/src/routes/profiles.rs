//! Queries over the profiles projection: a profile with its statistics and
//! the caller's relation to it, followers and following, whether one user
//! follows another, and the caller's blocks.

use crate::App;
use crate::error::ApiError;
use crate::extract::{Identity, PathId};
use crate::reads::{AfterParam, Paging, QueryStore, Read, ReadAfter};
use axum::Json;
use axum::extract::{Query, State};
use events::ids::UserId;
use read_models::profiles::{Profile, ProfileQueries, RelatedPage, Side};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

const PROFILES: &str = "profiles";

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(profile))
        .routes(routes!(followers))
        .routes(routes!(following))
        .routes(routes!(follows))
        .routes(routes!(blocks))
}

fn queries(app: &App) -> Result<ProfileQueries<'_, QueryStore>, ApiError> {
    let reads = app.reads()?;
    Ok(ProfileQueries::new(&reads.store, reads.generation(PROFILES)))
}

/// A profile as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    /// The profile.
    #[serde(flatten)]
    pub profile: Profile,
    /// How the caller relates to this user.
    pub viewer: Viewer,
}

/// The caller's relation to a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Viewer {
    /// The caller follows them.
    pub follows: bool,
    /// They follow the caller.
    pub followed_by: bool,
    /// The caller blocks them.
    pub blocks: bool,
}

/// A user's profile, statistics and relation to the caller.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "The user id"), AfterParam),
    responses((status = 200, body = ProfileView), (status = 404, body = crate::error::Problem)))]
async fn profile(
    State(app): State<App>,
    Identity(caller): Identity,
    PathId(user): PathId<UserId>,
    after: ReadAfter,
) -> Result<Read<Json<ProfileView>>, ApiError> {
    let consistency = app.read_after(&[PROFILES], after).await?;
    let queries = queries(&app)?;
    let profile = queries.profile(user.as_str()).await?.ok_or(ApiError::NotFound("user"))?;
    let me = caller.user.as_str();
    let viewer = Viewer {
        follows: queries.follows(me, user.as_str()).await?,
        followed_by: queries.follows(user.as_str(), me).await?,
        blocks: queries.blocks_user(me, user.as_str()).await?,
    };
    Ok(Read(consistency, Json(ProfileView { profile, viewer })))
}

async fn related(
    app: &App,
    user: &UserId,
    side: Side,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<RelatedPage>>, ApiError> {
    let consistency = app.read_after(&[PROFILES], after).await?;
    let page = queries(app)?.related(user.as_str(), side, paging.limit()?, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}

/// Who follows a user, newest first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/followers", tag = "users",
    params(("user_id" = String, Path, description = "The user id"), Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::profiles::Related>)))]
async fn followers(
    State(app): State<App>,
    Identity(_caller): Identity,
    PathId(user): PathId<UserId>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<RelatedPage>>, ApiError> {
    related(&app, &user, Side::Followers, paging, after).await
}

/// Whom a user follows, newest first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/following", tag = "users",
    params(("user_id" = String, Path, description = "The user id"), Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::profiles::Related>)))]
async fn following(
    State(app): State<App>,
    Identity(_caller): Identity,
    PathId(user): PathId<UserId>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<RelatedPage>>, ApiError> {
    related(&app, &user, Side::Following, paging, after).await
}

/// The pair a follow check asks about.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowPair {
    /// Who might follow.
    pub follower: String,
    /// Who might be followed.
    pub followee: String,
}

/// Whether one user follows another.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowAnswer {
    /// The answer.
    pub follows: bool,
}

/// Whether `follower` follows `followee`.
#[utoipa::path(get, path = "/api/v1/follows", tag = "users", params(FollowPair, AfterParam),
    responses((status = 200, body = FollowAnswer)))]
async fn follows(
    State(app): State<App>,
    Identity(_caller): Identity,
    pair: Result<Query<FollowPair>, axum::extract::rejection::QueryRejection>,
    after: ReadAfter,
) -> Result<Read<Json<FollowAnswer>>, ApiError> {
    let Query(pair) = pair.map_err(|e| ApiError::Malformed(format!("query string: {}", e.body_text())))?;
    let parse = |field, raw: &str| {
        UserId::parse(raw).map_err(|e| ApiError::Invalid(domain::InvalidInput::new(field, e.to_string())))
    };
    let (follower, followee) = (parse("follower", &pair.follower)?, parse("followee", &pair.followee)?);
    let consistency = app.read_after(&[PROFILES], after).await?;
    let follows = queries(&app)?.follows(follower.as_str(), followee.as_str()).await?;
    Ok(Read(consistency, Json(FollowAnswer { follows })))
}

/// The users the caller blocks, newest first. Only the caller sees them.
#[utoipa::path(get, path = "/api/v1/users/me/blocks", tag = "users", params(Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::profiles::Related>)))]
async fn blocks(
    State(app): State<App>,
    Identity(caller): Identity,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<RelatedPage>>, ApiError> {
    let consistency = app.read_after(&[PROFILES], after).await?;
    let page = queries(&app)?.blocks(caller.user.as_str(), paging.limit()?, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}
