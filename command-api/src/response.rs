//! What an accepted command answers: the resource's id and the position of
//! its event, in the body and in the `Pulse-Position` header.

use crate::error::Problem;
use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commands::Outcome;
use serde::Serialize;

/// The answer to a command that was accepted: the id of the resource it
/// created or changed, and the position of its event (the consistency token a
/// read can wait for; also in the `Pulse-Position` header).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The resource's id.
    pub id: String,
    /// `<context>:<sequence>` of the event, or of the resource's last event
    /// when nothing changed.
    pub position: String,
    /// False when the command was already satisfied (liking twice).
    pub changed: bool,
    /// True when this request repeated an earlier one with the same
    /// `Idempotency-Key` and nothing new was appended.
    pub replayed: bool,
}

impl Accepted {
    /// The response for a command's outcome on a resource.
    pub fn new(id: impl ToString, outcome: Outcome) -> Self {
        Self {
            id: id.to_string(),
            position: outcome.position.to_string(),
            changed: outcome.changed,
            replayed: outcome.replayed,
        }
    }
}

/// The consistency-token header.
pub const POSITION_HEADER: &str = "pulse-position";

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        let position = HeaderValue::from_str(&self.position).ok();
        let replayed = self.replayed;
        let mut response = (StatusCode::ACCEPTED, Json(self)).into_response();
        if let Some(position) = position {
            response.headers_mut().insert(HeaderName::from_static(POSITION_HEADER), position);
        }
        if replayed {
            response
                .headers_mut()
                .insert(HeaderName::from_static("idempotent-replayed"), HeaderValue::from_static("true"));
        }
        response
    }
}

/// The responses every command route documents: 202 with [`Accepted`], or a
/// problem. One declaration instead of one per route.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only its OpenAPI description is used
pub enum CommandResponses {
    /// The command was accepted and its event appended, exactly once.
    #[response(status = 202, headers(
        ("Pulse-Position" = String, description = "The appended event's position: wait for it with `Pulse-After`"),
        ("Idempotency-Key" = String, description = "The command's key: the client's own, or one the server made")
    ))]
    Accepted(Accepted),
    /// The command was refused; `type` names why. Nothing was appended.
    #[response(status = "4XX", content_type = "application/problem+json",
        headers(("Idempotency-Key" = String, description = "The command's key")))]
    Problem(Problem),
    /// `unavailable`: nothing was appended. `outcome-unknown` and `timed-out`:
    /// the command may be appended now, later or never; retry it with the
    /// `Idempotency-Key` this response carries, which appends it at most once.
    #[response(status = 503, content_type = "application/problem+json",
        headers(
            ("Idempotency-Key" = String, description = "The key to retry with"),
            ("Retry-After" = u64, description = "Seconds to wait before retrying")
        ))]
    Unavailable(Problem),
}
