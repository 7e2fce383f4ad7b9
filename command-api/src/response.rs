//! What an accepted command answers: the resource's id and the position of
//! its event, in the body and in the `Pulse-Position` header.

use crate::command::Outcome;
use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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
