//! Calendar events: create, update, cancel, and RSVPs with capacity.

use super::{Accepted, CommandResponses};
use crate::App;
use crate::error::ApiError;
use crate::extract::{Body, Caller, PathId};
use ::events::Aggregate;
use ::events::catalog::content::Rsvp;
use ::events::ids::EventId;
use axum::extract::State;
use commands::facts;
use domain::content::{CalendarEvent, CalendarEventCommand, CancelReason, RawEventDetails, parse_details};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(create_event))
        .routes(routes!(update_event))
        .routes(routes!(cancel_event))
        .routes(routes!(respond))
}

/// What, where, when and how many: the whole event (an update replaces it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// 1 to 120 characters.
    pub title: String,
    /// Up to 5000 characters.
    #[serde(default)]
    pub description: String,
    /// 1 to 200 characters: a room, an address or a URL.
    pub place: String,
    /// RFC 3339; not in the past.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: OffsetDateTime,
    /// RFC 3339; after `starts_at`.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: OffsetDateTime,
    /// Seats for people `going`, 1 to 100000; absent is unlimited.
    #[serde(default)]
    pub capacity: Option<i64>,
}

impl EventRequest {
    fn into_raw(self) -> RawEventDetails {
        RawEventDetails {
            title: self.title,
            description: self.description,
            place: self.place,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            capacity: self.capacity,
        }
    }
}

/// Why an event is cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Told to attendees; up to 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An answer to an event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RsvpRequest {
    /// `going` (takes a seat; refused when full), `interested` or `not_going`.
    #[schema(value_type = String, example = "going")]
    pub rsvp: Rsvp,
}

async fn run(app: &App, caller: &Caller, id: EventId, command: CalendarEventCommand) -> Result<Accepted, ApiError> {
    let outcome = app.commands().execute::<CalendarEvent>(&caller.context, &Aggregate::event(id), command).await?;
    Ok(Accepted::new(id, outcome))
}

/// Create a calendar event.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = EventRequest,
    responses(CommandResponses))]
async fn create_event(
    State(app): State<App>,
    caller: Caller,
    Body(req): Body<EventRequest>,
) -> Result<Accepted, ApiError> {
    let details = parse_details(req.into_raw())?;
    let id = EventId(caller.context.new_id("event", ""));
    let command = CalendarEventCommand::Create {
        event: id,
        organizer: caller.user.clone(),
        details,
        now: OffsetDateTime::now_utc(),
    };
    let outcome = app.commands().create::<CalendarEvent>(&caller.context, &Aggregate::event(id), command).await?;
    Ok(Accepted::new(id, outcome))
}

/// Replace an event's details (organiser only).
#[utoipa::path(put, path = "/api/v1/events/{event_id}", tag = "events", request_body = EventRequest,
    params(("event_id" = String, Path, description = "The event")),
    responses(CommandResponses))]
async fn update_event(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<EventId>,
    Body(req): Body<EventRequest>,
) -> Result<Accepted, ApiError> {
    let details = parse_details(req.into_raw())?;
    let command = CalendarEventCommand::Update { by: caller.user.clone(), details, now: OffsetDateTime::now_utc() };
    run(&app, &caller, id, command).await
}

/// Cancel an event (organiser only).
#[utoipa::path(post, path = "/api/v1/events/{event_id}/cancel", tag = "events", request_body = CancelRequest,
    params(("event_id" = String, Path, description = "The event")),
    responses(CommandResponses))]
async fn cancel_event(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<EventId>,
    Body(req): Body<CancelRequest>,
) -> Result<Accepted, ApiError> {
    let reason = CancelReason::parse_optional(req.reason.as_deref())?;
    run(&app, &caller, id, CalendarEventCommand::Cancel { by: caller.user.clone(), reason }).await
}

/// Answer an event: going (refused when full), interested, or not going.
#[utoipa::path(put, path = "/api/v1/events/{event_id}/rsvp", tag = "events", request_body = RsvpRequest,
    params(("event_id" = String, Path, description = "The event")),
    responses(CommandResponses))]
async fn respond(
    State(app): State<App>,
    caller: Caller,
    PathId(id): PathId<EventId>,
    Body(req): Body<RsvpRequest>,
) -> Result<Accepted, ApiError> {
    let blocked = match app.commands().current::<CalendarEvent>(&Aggregate::event(id)).await? {
        CalendarEvent::Scheduled { organizer, .. } => facts::blocks(app.commands(), &organizer, &caller.user).await?,
        _ => false,
    };
    let command = CalendarEventCommand::Respond {
        user: caller.user.clone(),
        rsvp: req.rsvp,
        blocked_by_organizer: blocked,
        now: OffsetDateTime::now_utc(),
    };
    run(&app, &caller, id, command).await
}
