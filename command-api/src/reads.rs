//! The read side as the API sees it: the read store, the projections'
//! progress, and the two things every query route shares: paging parameters
//! and read-your-writes.
//!
//! Read-your-writes: a command answers with the `position` of its event
//! (`<context>:<sequence>`); a query that passes it back (`Pulse-After`
//! header or `after` parameter) waits, up to [`Reads::wait`], until the
//! projections it reads have applied it, woken by their progress notices.
//! The answer's `Pulse-Consistency` header says `caught-up`, or `stale` when
//! it gave up waiting and answered from what was there.

use crate::App;
use crate::error::ApiError;
use axum::extract::{FromRequestParts, Query};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use events::store::Position;
use projectors::Progress;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use read_models::Generation;
use read_models::posts::RenderedPosts;
use read_store::{AnyStore, CacheSettings, Cached, Docs};
use serde::Deserialize;
use std::time::Duration;

/// The header a query passes a command's position in.
pub const AFTER: &str = "pulse-after";
/// The header that says whether a read saw the position it asked for.
pub const CONSISTENCY: &str = "pulse-consistency";

/// The read store as queries read it: documents by id through a cache that
/// the projections' progress notices keep true (see [`Progress::keep_fresh`]).
pub type QueryStore = Cached<AnyStore>;

/// What the query routes read from.
#[derive(Clone)]
pub struct Reads {
    /// The read models.
    pub store: QueryStore,
    /// How far each projection got.
    pub progress: Progress,
    /// The longest a query waits for a position.
    pub wait: Duration,
    /// The home feeds.
    pub feeds: feeds::Feeds,
    /// Posts as pages send them, as many as the cache keeps documents.
    pub rendered: RenderedPosts,
}

impl Reads {
    /// Queries over `store`, reading the projections' documents by id
    /// through a cache of `cache`'s size that `progress` keeps true.
    pub fn new(store: AnyStore, progress: Progress, cache: CacheSettings, wait: Duration, feeds: feeds::Feeds) -> Self {
        // Only projections write the collections of a generation, and their
        // notices name what they wrote; the rest (the registry, timers) is
        // read from the store.
        let docs = Docs::new(cache, |collection| Generation::of(collection).is_some());
        progress.keep_fresh(&docs);
        Self { store: Cached::new(store, docs), progress, wait, feeds, rendered: RenderedPosts::new(cache.capacity) }
    }

    /// The generation of `projection` that queries read.
    pub fn generation(&self, projection: &str) -> Generation {
        self.progress.generation(projection)
    }
}

/// Parameters of every list: `limit` (1 to 100, default 20) and the `cursor`
/// of the previous page.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// How many items, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

/// The read-your-writes parameter, for the OpenAPI document ([`ReadAfter`]
/// reads it).
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AfterParam {
    /// A command's `position` (`users:42`) to wait for, up to a bound; the
    /// `Pulse-After` header does the same.
    pub after: Option<String>,
}

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 20;

impl Paging {
    /// The page size asked for, checked.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n @ 1..=100) => Ok(n),
            Some(_) => Err(domain::InvalidInput::new("limit", "must be 1 to 100").into()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(paging) = Query::<Paging>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Malformed(format!("query string: {}", e.body_text())))?;
        Ok(paging)
    }
}

/// The position a query must read after, if it named one.
#[derive(Debug, Clone, Copy)]
pub struct ReadAfter(pub Option<Position>);

impl<S: Send + Sync> FromRequestParts<S> for ReadAfter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let header = parts.headers.get(AFTER).map(|v| v.to_str().map(str::to_owned));
        let raw = match header {
            Some(Ok(value)) => Some(value),
            Some(Err(_)) => return Err(invalid_position()),
            None => Query::<AfterParam>::from_request_parts(parts, state).await.ok().and_then(|q| q.0.after),
        };
        let position = raw.map(|raw| raw.parse::<Position>().map_err(|_| invalid_position())).transpose()?;
        Ok(Self(position))
    }
}

fn invalid_position() -> ApiError {
    domain::InvalidInput::new("after", "must be a position a command returned, such as users:42").into()
}

/// Whether a read saw what it asked to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// No position was asked for.
    Any,
    /// The projections had applied the position.
    CaughtUp,
    /// They had not, within the wait; the answer may be older.
    Stale,
}

impl App {
    /// The read side; 503 when this process serves no queries.
    pub fn reads(&self) -> Result<&Reads, ApiError> {
        self.read_side().ok_or(ApiError::ReadSideOff)
    }

    /// Waits until `projections` applied `after` (bounded).
    pub async fn read_after(&self, projections: &[&str], after: ReadAfter) -> Result<Consistency, ApiError> {
        let Some(position) = after.0 else { return Ok(Consistency::Any) };
        let reads = self.reads()?;
        let reached = reads.progress.wait(projections, position, reads.wait).await;
        Ok(if reached { Consistency::CaughtUp } else { Consistency::Stale })
    }
}

/// A query's answer with its consistency header.
pub struct Read<T>(pub Consistency, pub T);

impl<T: IntoResponse> IntoResponse for Read<T> {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        let value = match self.0 {
            Consistency::Any => return response,
            Consistency::CaughtUp => "caught-up",
            Consistency::Stale => "stale",
        };
        response.headers_mut().insert(CONSISTENCY, HeaderValue::from_static(value));
        response
    }
}

/// The read caches' counts on `/metrics`, read at each scrape: documents,
/// and the feeds' first pages.
pub struct CacheMetrics(pub Docs, pub feeds::Feeds);

impl std::fmt::Debug for CacheMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CacheMetrics").field(&self.0.stats()).field(&self.1.first_pages_stats()).finish()
    }
}

impl Collector for CacheMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let docs = self.0.stats();
        let pages = self.1.first_pages_stats().unwrap_or_default();
        let counters = [
            ("read_cache_hits", "Read-model documents served from the command API's cache", docs.hits),
            ("read_cache_misses", "Read-model documents the command API read from the store", docs.misses),
            ("feed_page_cache_hits", "First feed pages served from what Redis last said", pages.hits),
            ("feed_page_cache_misses", "First feed pages read from Redis", pages.misses),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        let gauges = [
            ("read_cache_documents", "Read-model documents the command API's cache holds", docs.kept),
            ("feed_page_cache_pages", "First feed pages the command API keeps", pages.kept),
            ("feed_page_cache_tracking", "1 while Redis's notices of feed writes arrive", usize::from(pages.tracking)),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}
