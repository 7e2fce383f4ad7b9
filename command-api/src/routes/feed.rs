//! The caller's home feed: the posts of the people they follow, and their
//! own, newest first, from Redis (see the `feeds` crate).

use crate::App;
use crate::error::ApiError;
use crate::extract::Identity;
use crate::reads::{AfterParam, Consistency, Paging, Read, ReadAfter};
use axum::Json;
use axum::extract::State;
use feeds::{FeedPage, Models};
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(home_feed))
}

/// The caller's home feed, newest first. A feed never read before is built
/// on this first read.
#[utoipa::path(get, path = "/api/v1/feed", tag = "feed", params(Paging, AfterParam),
    responses((status = 200, body = read_models::Page<read_models::posts::Post>), (status = 503, body = crate::error::Problem)))]
async fn home_feed(
    State(app): State<App>,
    Identity(caller): Identity,
    paging: Paging,
    after: ReadAfter,
) -> Result<Read<Json<FeedPage>>, ApiError> {
    let limit = paging.limit()?;
    let consistency = app.read_after(&[feeds::NAME, "posts", "profiles"], after).await?;
    let reads = app.reads()?;
    let models = Models::new(&reads.store, reads.generation("profiles"), reads.generation("posts"));
    let request = feeds::PageRequest {
        user: caller.user.as_str(),
        limit,
        cursor: paging.cursor.as_deref(),
        fresh: consistency != Consistency::Any,
    };
    let page = reads.feeds.page(&models, &reads.rendered, request).await?;
    Ok(Read(consistency, Json(page)))
}
