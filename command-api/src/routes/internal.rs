//! Routes for other backends, not for clients: they present the service API
//! key (`X-Api-Key`, `PULSE_SERVICE_API_KEY`) instead of a user's token, and
//! are off when no key is configured.

use super::users::{identity, register_user};
use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Body, PathId, Service};
use axum::extract::State;
use events::ids::UserId;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(register_for))
}

/// Who is signing up, as the identity provider knows them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InternalRegisterRequest {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Wanted handle; absent: one is made from the name.
    #[serde(default)]
    pub handle: Option<String>,
}

/// Register a user on their behalf (for example from NextAuth's sign-in
/// callback), exactly as their own first `POST /users/me` would.
#[utoipa::path(post, path = "/api/v1/internal/users/{user_id}", tag = "internal", request_body = InternalRegisterRequest,
    params(("user_id" = String, Path, description = "The user (the token `sub` they will carry)")),
    security(("api_key" = [])),
    responses(CommandResponses))]
async fn register_for(
    State(app): State<App>,
    service: Service,
    PathId(user): PathId<UserId>,
    Body(req): Body<InternalRegisterRequest>,
) -> Result<Accepted, ApiError> {
    let who = identity(&user, req.name.as_deref(), req.email.as_deref());
    register_user(&app, &service.context, &user, who, req.handle.as_deref()).await
}
