//! Queries over the calendar projection: upcoming events soonest first, one
//! event with its answer counts and the first people going, the rest of the
//! people going page by page, and the answers a user gave. Events are visible to every signed-in caller, as their
//! commands are.

use crate::App;
use crate::error::ApiError;
use crate::extract::{Identity, PathId};
use crate::reads::{AfterParam, DEFAULT_LIMIT, Paging, QueryStore, Read, ReadAfter};
use axum::Json;
use axum::extract::State;
use events::ids::{EventId, UserId};
use read_models::calendar::{AnswerPage, CalendarEvent, CalendarQueries, EventPage};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

const CALENDAR: &str = "calendar";

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(upcoming)).routes(routes!(event)).routes(routes!(going)).routes(routes!(rsvps))
}

fn queries(app: &App) -> Result<CalendarQueries<'_, QueryStore>, ApiError> {
    let reads = app.reads()?;
    Ok(CalendarQueries::new(&reads.store, reads.generation(CALENDAR)))
}

/// One event with the first page of the people going.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// The event and its counts.
    #[serde(flatten)]
    pub event: CalendarEvent,
    /// The first people going, first to answer first; `next` pages on.
    pub going: read_models::Page<read_models::calendar::Answer>,
}

/// Live events starting after now, soonest first.
#[utoipa::path(get, path = "/api/v1/events/upcoming", tag = "events", params(Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::calendar::CalendarEvent>)))]
async fn upcoming(
    State(app): State<App>,
    Identity(_caller): Identity,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<EventPage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(&[CALENDAR], after).await?;
    let page = queries(&app)?.upcoming(OffsetDateTime::now_utc(), limit, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}

/// One event, live or cancelled, with its counts and the first people going.
#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = "events",
    params(("event_id" = String, Path, description = "The event"), AfterParam),
    responses((status = 200, body = EventView), (status = 404, body = crate::error::Problem)))]
async fn event(
    State(app): State<App>,
    Identity(_caller): Identity,
    PathId(id): PathId<EventId>,
    after: ReadAfter,
) -> Result<Read<Json<EventView>>, ApiError> {
    let consistency = app.read_after(&[CALENDAR], after).await?;
    let queries = queries(&app)?;
    let id = id.to_string();
    let event = queries.event(&id).await?.ok_or(ApiError::NotFound("event"))?;
    let going = queries.going(&id, DEFAULT_LIMIT, None).await?;
    Ok(Read(consistency, Json(EventView { event, going })))
}

/// The people going to an event, first to answer first: the pages after the
/// first one `GET /events/{event_id}` shows (its `going.next` is this list's
/// cursor).
#[utoipa::path(get, path = "/api/v1/events/{event_id}/going", tag = "events",
    params(("event_id" = String, Path, description = "The event"), Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::calendar::Answer>),
        (status = 404, body = crate::error::Problem)))]
async fn going(
    State(app): State<App>,
    Identity(_caller): Identity,
    PathId(id): PathId<EventId>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<AnswerPage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(&[CALENDAR], after).await?;
    let queries = queries(&app)?;
    let id = id.to_string();
    queries.event(&id).await?.ok_or(ApiError::NotFound("event"))?;
    Ok(Read(consistency, Json(queries.going(&id, limit, paging.cursor).await?)))
}

/// A user's answers to events, latest first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/rsvps", tag = "events",
    params(("user_id" = String, Path, description = "The user id"), Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::calendar::Answer>)))]
async fn rsvps(
    State(app): State<App>,
    Identity(_caller): Identity,
    PathId(user): PathId<UserId>,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<AnswerPage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(&[CALENDAR], after).await?;
    let page = queries(&app)?.answers_of(user.as_str(), limit, paging.cursor).await?;
    Ok(Read(consistency, Json(page)))
}
