//! What the projectors report to Prometheus, labelled by projection and
//! stream: both label sets are closed (the projections Pulse has, the four
//! contexts).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::AtomicU64;

/// One projection reading one stream.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Labels {
    /// The projection's name.
    pub projection: String,
    /// The stream's context.
    pub context: String,
}

/// The projectors' metrics. Cheap to clone.
#[derive(Clone)]
pub struct ProjectorMetrics {
    /// Events applied (not counting redeliveries skipped).
    pub applied: Family<Labels, Counter>,
    /// Events that could not be read and were skipped.
    pub unreadable: Family<Labels, Counter>,
    /// Events in the stream not yet applied, as of the last batch.
    pub lag_events: Family<Labels, Gauge>,
    /// Seconds between the last applied event's time and its application,
    /// while events wait behind it; 0 when caught up.
    pub lag_seconds: Family<Labels, Gauge<f64, AtomicU64>>,
    /// Events per batch.
    pub batch_size: Histogram,
    /// Store writes that failed and were retried.
    pub store_retries: Family<Labels, Counter>,
    /// Reads of the stream around the consumer: after a hand-over, a crash,
    /// or a lost store. Rare by design; many mean something is wrong.
    pub catch_ups: Family<Labels, Counter>,
}

impl Default for ProjectorMetrics {
    fn default() -> Self {
        Self {
            applied: Family::default(),
            unreadable: Family::default(),
            lag_events: Family::default(),
            lag_seconds: Family::default(),
            batch_size: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
            store_retries: Family::default(),
            catch_ups: Family::default(),
        }
    }
}

impl ProjectorMetrics {
    /// Registers every metric with a service's registry.
    pub fn register(&self, metrics: &ops::Metrics) {
        metrics.register("projection_events_applied", "Events applied by projection and stream", self.applied.clone());
        metrics.register("projection_events_unreadable", "Unreadable events skipped", self.unreadable.clone());
        metrics.register("projection_lag_events", "Events not yet applied", self.lag_events.clone());
        metrics.register("projection_lag_seconds", "How far behind the log a projection is", self.lag_seconds.clone());
        metrics.register("projection_batch_size", "Events per batch", self.batch_size.clone());
        metrics.register("projection_store_retries", "Read-store writes retried", self.store_retries.clone());
        metrics.register("projection_catch_ups", "Reads of the stream around the consumer", self.catch_ups.clone());
    }
}
