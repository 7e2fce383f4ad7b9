//! Finding people: user search by handle or display name, and "who to
//! follow" suggestions. Both read the profiles projection only.

use crate::App;
use crate::error::ApiError;
use crate::extract::Identity;
use crate::reads::{AfterParam, Paging, QueryStore, Read, ReadAfter};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use read_models::profiles::{MAX_SUGGESTIONS, ProfileQueries, SearchError, Suggestions, UserPage};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

const PROFILES: &str = "profiles";

/// How many suggestions when the client does not say.
const DEFAULT_SUGGESTIONS: u32 = 10;

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(search_users)).routes(routes!(suggestions))
}

fn queries(app: &App) -> Result<ProfileQueries<'_, QueryStore>, ApiError> {
    let reads = app.reads()?;
    Ok(ProfileQueries::new(&reads.store, reads.generation(PROFILES)))
}

fn query_string<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(params)| params).map_err(|e| ApiError::Malformed(format!("query string: {}", e.body_text())))
}

/// Who to look for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearchParams {
    /// Up to 50 characters; every word must be in the handle or display name.
    pub q: String,
}

/// Registered users whose handle or display name holds every word of `q`,
/// by handle. Case- and accent-insensitive; a word of one or two characters
/// matches the start of a word (`jo` finds "José"), a longer one any part
/// of a word (`ana` finds "Mariana"). A page may hold fewer than `limit`
/// users while `next` is set.
#[utoipa::path(get, path = "/api/v1/search/users", tag = "users", params(UserSearchParams, Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::profiles::UserHit>), (status = 422, body = crate::error::Problem)))]
async fn search_users(
    State(app): State<App>,
    Identity(_caller): Identity,
    params: Result<Query<UserSearchParams>, QueryRejection>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<UserPage>>, ApiError> {
    let params = query_string(params)?;
    let limit = paging.limit()?;
    let consistency = app.read_after(&[PROFILES], after).await?;
    let page = queries(&app)?.search(&params.q, limit, paging.cursor).await.map_err(|e| match e {
        SearchError::Invalid(why) => ApiError::Invalid(domain::InvalidInput::new("q", why)),
        SearchError::Store(e) => ApiError::ReadStore(e),
    })?;
    Ok(Read(consistency, Json(page)))
}

/// How many suggestions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionParams {
    /// 1 to 50 (default 10).
    pub limit: Option<u32>,
}

/// People the caller might follow: those followed by the people the caller
/// follows, most mutual follows first, then by user id. Leaves out the
/// caller, whoever the caller follows, and blocks either way. Computed on
/// request from the caller's 100 most recent followings and the 100 most
/// recent followings of each.
#[utoipa::path(get, path = "/api/v1/users/me/suggestions", tag = "users", params(SuggestionParams, AfterParam),
    responses((status = 200, body = Suggestions), (status = 422, body = crate::error::Problem)))]
async fn suggestions(
    State(app): State<App>,
    Identity(caller): Identity,
    params: Result<Query<SuggestionParams>, QueryRejection>,
    after: ReadAfter,
) -> Result<Read<Json<Suggestions>>, ApiError> {
    let limit = match query_string(params)?.limit {
        None => DEFAULT_SUGGESTIONS,
        Some(n @ 1..=MAX_SUGGESTIONS) => n,
        Some(_) => return Err(domain::InvalidInput::new("limit", "must be 1 to 50").into()),
    };
    let consistency = app.read_after(&[PROFILES], after).await?;
    let suggestions = queries(&app)?.suggestions(caller.user.as_str(), limit).await?;
    Ok(Read(consistency, Json(suggestions)))
}
