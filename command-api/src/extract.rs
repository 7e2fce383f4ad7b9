//! Request extractors: who is calling ([`Caller`]: token, ids, idempotency
//! key, per-user and per-address limits) and what they sent ([`Body`]: JSON checked against its
//! type, errors naming the field).

use crate::App;
use crate::error::ApiError;
use crate::forwarded;
use crate::limits::Limit;
use auth::{AuthError, Verified};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use bytes::Bytes;
use commands::CommandContext;
use events::ids::{CommentId, ConversationId, EventId, MessageId, NotificationId, PostId, UserId};
use events::{IdempotencyKey, Metadata};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;

/// The request id header, set by the router when the client sent none.
pub const REQUEST_ID: &str = "x-request-id";
/// The correlation id header; defaults to the request id.
pub const CORRELATION_ID: &str = "x-correlation-id";
/// The idempotency key header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The service API key header of internal routes.
pub const API_KEY: &str = "x-api-key";

/// An authenticated, registered caller and the context their command runs in.
/// A valid token of someone who never registered is refused with
/// `not-registered`, which says how to register: every author, follower and
/// member the read side shows has a profile.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user id (`sub`).
    pub user: UserId,
    /// The verified token: its claims (name, email for first registration).
    pub token: Arc<Verified>,
    /// Whether the caller may moderate.
    pub moderator: bool,
    /// Correlation, causation, actor and idempotency key for the events.
    pub context: CommandContext,
}

/// A caller with a valid token, registered or not: what registering takes.
#[derive(Debug, Clone)]
pub struct Identity(pub Caller);

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let Identity(caller) = Identity::from_request_parts(parts, app).await?;
        if !app.is_registered(&caller.user).await? {
            return Err(domain::users::UserRejection::NotRegistered.into());
        }
        Ok(caller)
    }
}

impl FromRequestParts<App> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let token = header(AUTHORIZATION.as_str())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        // A token verified before answers from memory and is limited per
        // user below. Anything else (no token, a new or a wrong one) counts
        // against the client address first, so guessing tokens is throttled
        // before the guess is checked.
        let verified = match token.map(|token| (token, app.keys().recall(token))) {
            Some((_, Some(remembered))) => remembered,
            Some((token, None)) => {
                limit_address(parts, app)?;
                app.keys().verify(token)
            }
            None => {
                limit_address(parts, app)?;
                Err(AuthError::Missing)
            }
        };
        let token = verified.map_err(ApiError::Unauthenticated)?;
        let user = token.user.clone();
        app.limiter().check(Limit::Commands, user.as_str()).map_err(ApiError::rate_limited)?;
        let key = match header(IDEMPOTENCY_KEY) {
            Some(raw) => Some(scoped_key(&user, raw)?),
            None => None,
        };
        let metadata = metadata(parts, Some(user.clone()));
        let made = parts.extensions.get::<crate::routes::MadeKey>().is_some();
        let moderator = token.claims.role.as_deref() == Some("moderator") || app.is_configured_moderator(&user);
        Ok(Identity(Caller { user, token, moderator, context: CommandContext::new(metadata, key).fresh_key(made) }))
    }
}

/// Takes one request from the client address's allowance. The address is the
/// TCP peer's, or the one a trusted proxy forwarded; a router served without
/// connection info (some tests) has no address to limit.
fn limit_address(parts: &Parts, app: &App) -> Result<(), ApiError> {
    if !app.limiter().is_ip_on() {
        return Ok(());
    }
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else { return Ok(()) };
    let client = forwarded::client_ip(peer.ip(), &parts.headers, &app.config().trusted_proxies);
    app.limiter().check_ip(client).map_err(ApiError::rate_limited)
}

/// Another backend calling `/api/v1/internal/*` with the service API key.
#[derive(Debug, Clone)]
pub struct Service {
    /// Correlation, causation and idempotency key for the events; no actor.
    pub context: CommandContext,
}

impl FromRequestParts<App> for Service {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        // Every call counts against the client address, before the key is
        // compared: otherwise keys could be guessed at full speed.
        limit_address(parts, app)?;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let expected = app.config().service_api_key.as_ref().ok_or(ApiError::Unauthenticated(AuthError::ApiKey))?;
        let presented = header(API_KEY).ok_or(ApiError::Unauthenticated(AuthError::ApiKey))?;
        if !auth::api_key_matches(presented, expected.expose()) {
            return Err(ApiError::Unauthenticated(AuthError::ApiKey));
        }
        let key = match header(IDEMPOTENCY_KEY) {
            Some(raw) => Some(scoped_key_for(SERVICE_SCOPE, raw)?),
            None => None,
        };
        Ok(Self { context: CommandContext::new(metadata(parts, None), key) })
    }
}

/// Whoever follows an email's unsubscribe link: the `user` and `token` query
/// parameters, the token checked ([`auth::unsubscribe`]). It can turn that
/// user's emails off and nothing else.
#[derive(Debug, Clone)]
pub struct LinkHolder {
    /// The user the link is for.
    pub user: UserId,
    /// The link's token, checked: base64url characters only.
    pub token: String,
    /// Correlation and causation for the events; the user as actor.
    pub context: CommandContext,
}

/// The query of an unsubscribe link.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkParams {
    /// The user.
    pub user: String,
    /// The link's token.
    pub token: String,
}

impl FromRequestParts<App> for LinkHolder {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        // Counted per client address before the token is checked, as keys are.
        limit_address(parts, app)?;
        let Query(link) =
            Query::<LinkParams>::from_request_parts(parts, app).await.map_err(|_| ApiError::InvalidLink)?;
        let user = UserId::parse(&link.user).map_err(|_| ApiError::InvalidLink)?;
        if !auth::unsubscribe::verify(&app.config().jwt.secret, &user, &link.token) {
            return Err(ApiError::InvalidLink);
        }
        let key = match parts.headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok()) {
            Some(raw) => Some(scoped_key(&user, raw)?),
            None => None,
        };
        let context = CommandContext::new(metadata(parts, Some(user.clone())), key);
        Ok(Self { user, token: link.token, context })
    }
}

/// The scope of keys sent with the service API key. `!` is not allowed in a
/// user id, so no user's keys can share it.
const SERVICE_SCOPE: &str = "!service";

/// A client's idempotency key, made unique to the caller so two users can
/// never collide on one.
fn scoped_key(user: &UserId, raw: &str) -> Result<IdempotencyKey, ApiError> {
    scoped_key_for(user.as_str(), raw)
}

fn scoped_key_for(scope: &str, raw: &str) -> Result<IdempotencyKey, ApiError> {
    commands::scoped_key(scope, raw)
        .map_err(|problem| ApiError::Invalid(domain::InvalidInput::new("Idempotency-Key", problem)))
}

/// The events' CloudEvents extensions from the request: the correlation id
/// (`X-Correlation-Id`, else the request id), the request id as causation, and
/// the actor.
fn metadata(parts: &Parts, actor: Option<UserId>) -> Metadata {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| usable_id(v));
    let request_id = header(REQUEST_ID).map(str::to_owned);
    let correlation_id = header(CORRELATION_ID).map(str::to_owned);
    Metadata {
        correlation_id: correlation_id
            .or_else(|| request_id.clone())
            .unwrap_or_else(|| Metadata::new(None).correlation_id),
        causation_id: request_id,
        actor,
    }
}

fn usable_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| (b'!'..=b'~').contains(&b))
}

/// A JSON body of type `T`. Refuses other content types (415), malformed JSON
/// (400) and JSON of the wrong shape (422, naming the field's path).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
            });
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|_| ApiError::TooLarge)?;
        parse(&bytes).map(Body)
    }
}

/// Parses JSON into `T`, telling syntax errors (400) from shape errors (422).
/// The body is parsed once; only when that fails is it checked for syntax
/// alone, so that `{} x` is malformed (400) rather than missing a field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    if parsed.is_ok() {
        deserializer.end().map_err(|e| ApiError::Malformed(format!("malformed JSON: {e}")))?;
    }
    parsed.map_err(|e| {
        if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return ApiError::Malformed(format!("malformed JSON: {syntax}"));
        }
        let path = e.path().to_string();
        let message = strip_position(&e.into_inner().to_string());
        let field = match (path.as_str(), missing_field(&message)) {
            (".", Some(missing)) => missing.to_owned(),
            (".", None) => "body".to_owned(),
            (path, Some(missing)) => format!("{path}.{missing}"),
            (path, None) => path.to_owned(),
        };
        ApiError::Invalid(domain::InvalidInput::new(field, message))
    })
}

/// The field serde names in "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// serde's messages end with " at line L column C", which means nothing to a
/// client that sent one line.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// An id taken from the path, parsed into its type. A bad id is refused with
/// 422 naming the path parameter, so no handler parses ids itself.
pub struct PathId<T>(pub T);

/// An id type that appears in paths, under one parameter name.
pub trait PathParam: Sized {
    /// The parameter's name in route templates (`{post_id}`).
    const NAME: &'static str;
    /// Parses the raw segment.
    fn parse_param(raw: &str) -> Result<Self, String>;
}

macro_rules! path_param {
    ($($id:ty => $name:literal),* $(,)?) => {$(
        impl PathParam for $id {
            const NAME: &'static str = $name;
            fn parse_param(raw: &str) -> Result<Self, String> {
                <$id>::parse(raw).map_err(|e| e.to_string())
            }
        }
    )*};
}

path_param!(
    PostId => "post_id",
    CommentId => "comment_id",
    EventId => "event_id",
    ConversationId => "conversation_id",
    MessageId => "message_id",
    NotificationId => "notification_id",
    UserId => "user_id",
);

impl<T: PathParam, S: Send + Sync> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = |problem: String| ApiError::Invalid(domain::InvalidInput::new(T::NAME, problem));
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid("is not a valid path segment".to_owned()))?;
        let raw = params.iter().find(|(name, _)| *name == T::NAME).map(|(_, value)| value);
        let raw = raw.ok_or_else(|| ApiError::Internal(format!("route has no {{{}}} parameter", T::NAME)))?;
        T::parse_param(raw).map(PathId).map_err(invalid)
    }
}
