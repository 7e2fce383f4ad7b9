//! `ApiError` and its single mapping to RFC 9457 problem+json: the only place
//! in Pulse that picks an HTTP status.
//!
//! A rejection (the domain said no) is an answer: 4xx, logged at debug. A
//! failure (the store could not do it) is a problem: 5xx, logged once here,
//! with no internal text in the body.

use auth::AuthError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::InvalidInput;
use domain::{chat, content, notify, users};
use events::StoreError;
use read_store::ReadStoreError;
use serde::Serialize;
use std::time::Duration;

/// Everything a request can end in besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field is missing, of the wrong type or out of bounds.
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    /// The body is not JSON at all.
    #[error("{0}")]
    Malformed(String),
    /// The body is not `application/json`.
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit.
    #[error("request body is too large")]
    TooLarge,
    /// No valid bearer token.
    #[error("{0}")]
    Unauthenticated(#[from] AuthError),
    /// No such route.
    #[error("no such route")]
    NoSuchRoute,
    /// The route exists, the method does not.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Too many requests; retry after the duration.
    #[error("too many requests; retry in {} s", retry_seconds(*retry_after))]
    RateLimited {
        /// How long until a request would pass.
        retry_after: Duration,
    },
    /// An `Idempotency-Key` already used for a different request.
    #[error("this Idempotency-Key was used for a different request; use a new key for a new request")]
    IdempotencyKeyReused,
    /// The domain refused the command.
    #[error("{0}")]
    Rejected(#[from] Rejection),
    /// The event store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The read store failed, or a page cursor is not one it made.
    #[error("{0}")]
    ReadStore(#[from] read_store::ReadStoreError),
    /// A home feed could not be read.
    #[error("{0}")]
    Feed(#[from] feeds::FeedError),
    /// Nothing at this address: the detail names what.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// This process serves no queries (no read store was given to it).
    #[error("this server does not serve queries")]
    ReadSideOff,
    /// The request took longer than the configured request timeout and was
    /// abandoned; a command may or may not have been appended.
    #[error("the request took too long and was abandoned")]
    TimedOut,
    /// An unsubscribe link whose token does not match its user.
    #[error("This unsubscribe link is not valid; sign in to change your notification settings.")]
    InvalidLink,
    /// A bug: a handler panicked. The text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 429 from a limiter's wait.
    pub fn rate_limited(retry_after: Duration) -> Self {
        Self::RateLimited { retry_after }
    }

    /// Status and problem type slug; exhaustive, so a new variant does not
    /// compile until someone picks its status.
    fn classify(&self) -> (StatusCode, &'static str) {
        use ApiError as E;
        match self {
            E::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-input"),
            E::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed-request"),
            E::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
            E::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            E::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            E::NoSuchRoute => (StatusCode::NOT_FOUND, "no-such-route"),
            E::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
            E::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate-limited"),
            E::IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused"),
            E::Rejected(rejection) => rejection.classify(),
            E::Store(StoreError::Conflict { .. }) => (StatusCode::CONFLICT, "concurrent-update"),
            E::Store(StoreError::TooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            // A server below the floor is refused at connect, so a running API
            // never sees this; were it to, the store is as good as unreachable.
            E::Store(StoreError::Unavailable(_) | StoreError::ServerTooOld { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            E::Store(StoreError::OutcomeUnknown(_)) => (StatusCode::SERVICE_UNAVAILABLE, "outcome-unknown"),
            E::ReadStore(ReadStoreError::InvalidCursor) => (StatusCode::BAD_REQUEST, "invalid-cursor"),
            E::ReadStore(ReadStoreError::Unavailable(_)) | E::ReadSideOff => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            E::ReadStore(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            E::Feed(feeds::FeedError::Store(ReadStoreError::InvalidCursor)) => {
                (StatusCode::BAD_REQUEST, "invalid-cursor")
            }
            E::Feed(feeds::FeedError::Redis(_) | feeds::FeedError::Store(ReadStoreError::Unavailable(_))) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            E::Feed(feeds::FeedError::Store(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            E::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            E::InvalidLink => (StatusCode::FORBIDDEN, "invalid-link"),
            // 503, not 408: 408 says the client was slow to send, and some
            // clients resend a 408 on their own, without backing off.
            E::TimedOut => (StatusCode::SERVICE_UNAVAILABLE, "timed-out"),
            E::Store(StoreError::Codec(_) | StoreError::Config(_)) | E::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl ApiError {
    /// The problem's `detail`: what went wrong, for the client. A lost race
    /// says what to do, and not which internal subject or version lost (the
    /// log line above keeps those).
    fn detail(&self) -> Option<String> {
        match self {
            ApiError::Store(StoreError::Conflict { .. }) => {
                Some("the resource was changed by other requests while this one was decided; retry it".to_owned())
            }
            // The two 5xx answers a client must act on carry fixed texts; no
            // other failure's internal text reaches the body.
            ApiError::Store(StoreError::OutcomeUnknown(_)) => Some(OUTCOME_UNKNOWN.to_owned()),
            ApiError::TimedOut => Some(TIMED_OUT.to_owned()),
            failure if failure.classify().0.is_server_error() => None,
            answer => Some(answer.to_string()),
        }
    }
}

const OUTCOME_UNKNOWN: &str = "the event log did not confirm this command: it may have been appended, now or \
    later, or not at all. Retry it with the same Idempotency-Key (the one in this response's Idempotency-Key \
    header): the retry appends it at most once and answers with its result";

const TIMED_OUT: &str = "the request took too long and was abandoned: a command may or may not have been \
    appended. Retry it with the same Idempotency-Key (the one in this response's Idempotency-Key header)";

/// Whole seconds to wait, rounded up, as both `Retry-After` and the detail
/// say it.
fn retry_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// An RFC 9457 problem details body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:pulse:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request; on 5xx only for `outcome-unknown`
    /// and `timed-out`, which say what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The offending field, for `invalid-input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug) = self.classify();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request refused");
        }
        let field = match &self {
            ApiError::Invalid(invalid) => Some(invalid.field.clone()),
            _ => None,
        };
        let detail = self.detail();
        let problem = Problem {
            kind: format!("urn:pulse:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            field,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match &self {
            ApiError::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_seconds(*retry_after)));
            }
            ApiError::Store(StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_)) | ApiError::TimedOut => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// A refusal by the domain, per aggregate.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// About a post.
    #[error(transparent)]
    Post(#[from] content::PostRejection),
    /// About a comment.
    #[error(transparent)]
    Comment(#[from] content::CommentRejection),
    /// About a like.
    #[error(transparent)]
    Like(#[from] content::LikeRejection),
    /// About a calendar event.
    #[error(transparent)]
    Event(#[from] content::CalendarEventRejection),
    /// About a handle.
    #[error(transparent)]
    Handle(#[from] users::HandleRejection),
    /// About the caller's account.
    #[error(transparent)]
    User(#[from] users::UserRejection),
    /// About a follow.
    #[error(transparent)]
    Follow(#[from] users::FollowRejection),
    /// About a block.
    #[error(transparent)]
    Block(#[from] users::BlockRejection),
    /// About a conversation.
    #[error(transparent)]
    Conversation(#[from] chat::ConversationRejection),
    /// About a message.
    #[error(transparent)]
    Message(#[from] chat::MessageRejection),
    /// About a read mark.
    #[error(transparent)]
    Read(#[from] chat::ReadRejection),
    /// About notification settings.
    #[error(transparent)]
    Notify(#[from] notify::NotifySettingsRejection),
    /// About reading notifications.
    #[error(transparent)]
    Inbox(#[from] notify::InboxRejection),
}

impl Rejection {
    fn classify(&self) -> (StatusCode, &'static str) {
        match self {
            Rejection::Post(r) => post_status(r),
            Rejection::Comment(r) => comment_status(r),
            Rejection::Like(r) => like_status(r),
            Rejection::Event(r) => event_status(r),
            Rejection::Handle(users::HandleRejection::HandleTaken) => (CONFLICT, "handle-taken"),
            Rejection::User(users::UserRejection::NotRegistered) => (CONFLICT, "not-registered"),
            Rejection::Follow(r) => follow_status(r),
            Rejection::Block(users::BlockRejection::CannotBlockSelf) => (UNPROCESSABLE, "cannot-block-self"),
            Rejection::Conversation(r) => conversation_status(r),
            Rejection::Message(r) => (message_status(r), r.code()),
            Rejection::Read(r @ chat::ReadRejection::NotAMember) => (FORBIDDEN, r.code()),
            Rejection::Read(r @ chat::ReadRejection::NoSuchMessage) => (NOT_FOUND, r.code()),
            Rejection::Notify(notify::NotifySettingsRejection::TooManySubscriptions) => {
                (CONFLICT, "too-many-subscriptions")
            }
            Rejection::Notify(notify::NotifySettingsRejection::TooManyMutes) => (CONFLICT, "too-many-mutes"),
            Rejection::Inbox(notify::InboxRejection::NoSuchNotification) => (NOT_FOUND, "no-such-notification"),
        }
    }
}

const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const CONFLICT: StatusCode = StatusCode::CONFLICT;
const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

fn post_status(rejection: &content::PostRejection) -> (StatusCode, &'static str) {
    use content::PostRejection as P;
    match rejection {
        P::NoSuchPost => (NOT_FOUND, "no-such-post"),
        P::AlreadyExists => (CONFLICT, "already-exists"),
        P::PostDeleted => (CONFLICT, "post-deleted"),
        P::NotTheAuthor => (FORBIDDEN, "not-the-author"),
        P::NotAModerator => (FORBIDDEN, "not-a-moderator"),
        P::CannotReportOwnContent => (UNPROCESSABLE, "cannot-report-own-content"),
    }
}

fn comment_status(rejection: &content::CommentRejection) -> (StatusCode, &'static str) {
    use content::CommentRejection as C;
    match rejection {
        C::NoSuchPost => (NOT_FOUND, "no-such-post"),
        C::NoSuchComment => (NOT_FOUND, "no-such-comment"),
        C::Blocked => (FORBIDDEN, "blocked"),
        C::AlreadyExists => (CONFLICT, "already-exists"),
        C::CommentDeleted => (CONFLICT, "comment-deleted"),
        C::NotTheAuthor => (FORBIDDEN, "not-the-author"),
        C::NotAModerator => (FORBIDDEN, "not-a-moderator"),
        C::CannotReportOwnContent => (UNPROCESSABLE, "cannot-report-own-content"),
    }
}

fn like_status(rejection: &content::LikeRejection) -> (StatusCode, &'static str) {
    use content::LikeRejection as L;
    match rejection {
        L::NoSuchPost => (NOT_FOUND, "no-such-post"),
        L::Blocked => (FORBIDDEN, "blocked"),
    }
}

fn event_status(rejection: &content::CalendarEventRejection) -> (StatusCode, &'static str) {
    use content::CalendarEventRejection as E;
    match rejection {
        E::NoSuchEvent => (NOT_FOUND, "no-such-event"),
        E::AlreadyExists => (CONFLICT, "already-exists"),
        E::InvalidSchedule => (UNPROCESSABLE, "invalid-schedule"),
        E::StartsInThePast => (UNPROCESSABLE, "starts-in-the-past"),
        E::NotTheOrganizer => (FORBIDDEN, "not-the-organizer"),
        E::CapacityBelowAttendance { .. } => (CONFLICT, "capacity-below-attendance"),
        E::EventFull => (CONFLICT, "event-full"),
        E::EventCancelled => (CONFLICT, "event-cancelled"),
        E::EventOver => (CONFLICT, "event-over"),
        E::Blocked => (FORBIDDEN, "blocked"),
    }
}

fn follow_status(rejection: &users::FollowRejection) -> (StatusCode, &'static str) {
    use users::FollowRejection as F;
    match rejection {
        F::CannotFollowSelf => (UNPROCESSABLE, "cannot-follow-self"),
        F::NoSuchUser => (NOT_FOUND, "no-such-user"),
        F::Blocked => (FORBIDDEN, "blocked"),
    }
}

fn conversation_status(rejection: &chat::ConversationRejection) -> (StatusCode, &'static str) {
    use chat::ConversationRejection as C;
    match rejection {
        C::NoSuchConversation => (NOT_FOUND, "no-such-conversation"),
        C::AlreadyExists => (CONFLICT, "already-exists"),
        C::CannotTalkToYourself => (UNPROCESSABLE, "cannot-talk-to-yourself"),
        C::CannotMessage => (FORBIDDEN, "cannot-message"),
        C::GroupNeedsMembers => (UNPROCESSABLE, "group-needs-members"),
        C::GroupTooLarge => (UNPROCESSABLE, "group-too-large"),
        C::LeftTheGroup => (FORBIDDEN, "left-the-group"),
        C::NotAMember => (FORBIDDEN, "not-a-member"),
        C::DirectConversationIsFixed => (CONFLICT, "direct-conversation-is-fixed"),
    }
}

fn message_status(rejection: &chat::MessageRejection) -> StatusCode {
    use chat::MessageRejection as M;
    match rejection {
        M::NotAMember | M::Blocked | M::NotTheSender => FORBIDDEN,
        M::NoSuchMessage => NOT_FOUND,
        M::MessageDeleted => CONFLICT,
    }
}

impl<R: Into<Rejection>> From<commands::CommandError<R>> for ApiError {
    fn from(error: commands::CommandError<R>) -> Self {
        match error {
            commands::CommandError::Rejected(rejection) => ApiError::Rejected(rejection.into()),
            commands::CommandError::KeyReused => ApiError::IdempotencyKeyReused,
            commands::CommandError::Store(store) => ApiError::Store(store),
        }
    }
}

/// Every domain rejection converts straight into an `ApiError`.
macro_rules! rejection_into_api_error {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                ApiError::Rejected(rejection.into())
            }
        }
    )*};
}

rejection_into_api_error!(
    content::PostRejection,
    content::CommentRejection,
    content::LikeRejection,
    content::CalendarEventRejection,
    users::HandleRejection,
    users::UserRejection,
    users::FollowRejection,
    users::BlockRejection,
    chat::ConversationRejection,
    chat::MessageRejection,
    chat::ReadRejection,
    notify::NotifySettingsRejection
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lost_race_tells_the_client_to_retry_without_naming_subjects_or_versions() {
        let conflict = StoreError::Conflict { aggregate: "pulse.content.post.0199aaaa".to_owned(), expected: 41 };
        let response = ApiError::Store(conflict).into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], "urn:pulse:problem:concurrent-update");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("retry"), "{detail}");
        assert!(!detail.contains("pulse.") && !detail.contains("0199aaaa") && !detail.contains("41"), "{detail}");
    }

    async fn answer(error: ApiError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = error.into_response();
        let (status, headers) = (response.status(), response.headers().clone());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn an_unconfirmed_append_is_outcome_unknown_and_says_to_retry_with_the_same_key() {
        let (status, headers, problem) =
            answer(ApiError::Store(StoreError::OutcomeUnknown("ack timed out on 10.1.2.3".into()))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem["type"], "urn:pulse:problem:outcome-unknown");
        assert_eq!(headers[header::RETRY_AFTER], "1");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("same Idempotency-Key") && detail.contains("may have been appended"), "{detail}");
        assert!(!detail.contains("10.1.2.3"), "no internal text: {detail}");
        let (_, _, unavailable) = answer(ApiError::Store(StoreError::Unavailable("down at 10.1.2.3".into()))).await;
        assert_eq!(unavailable["type"], "urn:pulse:problem:unavailable");
        assert!(unavailable.get("detail").is_none(), "{unavailable}");
    }

    #[tokio::test]
    async fn a_rate_limit_says_the_same_wait_in_its_header_and_its_detail() {
        for (wait, seconds) in [(1_200, "2"), (1_000, "1"), (10, "1"), (2_001, "3")] {
            let limited = ApiError::rate_limited(Duration::from_millis(wait));
            let (_, headers, problem) = answer(limited).await;
            assert_eq!(headers[header::RETRY_AFTER], seconds, "{wait} ms");
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains(&format!("retry in {seconds} s")), "{wait} ms: {detail}");
        }
    }
}
