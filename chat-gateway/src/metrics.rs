//! What the gateway counts. Every label comes from a closed set: frame types
//! the protocol defines (anything else is `other`), resume outcomes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

/// The gateway's metrics, registered with the service's registry.
#[derive(Clone)]
pub struct GatewayMetrics {
    /// Open, authenticated connections.
    pub connections: Gauge,
    /// Frames received, by type.
    pub frames_in: Family<FrameLabels, Counter>,
    /// Frames sent, by type.
    pub frames_out: Family<FrameLabels, Counter>,
    /// From an event's append to its frame written to a socket.
    pub delivery: Histogram,
    /// Connections cut because their queue filled.
    pub slow_disconnects: Counter,
    /// Subscriptions with a `since`, by outcome (`replayed`, `resync`).
    pub resumes: Family<OutcomeLabels, Counter>,
    /// Chat events the live tail could not read.
    pub undecodable: Counter,
}

/// The `type` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameLabels {
    r#type: &'static str,
}

/// The `outcome` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    outcome: &'static str,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self {
            connections: Gauge::default(),
            frames_in: Family::default(),
            frames_out: Family::default(),
            delivery: Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            slow_disconnects: Counter::default(),
            resumes: Family::default(),
            undecodable: Counter::default(),
        }
    }
}

impl GatewayMetrics {
    /// Adds them to a service's registry.
    pub fn register(&self, metrics: &ops::Metrics) {
        metrics.register("chat_connections", "Open authenticated WebSocket connections", self.connections.clone());
        metrics.register("chat_frames_in", "Frames received by type", self.frames_in.clone());
        metrics.register("chat_frames_out", "Frames sent by type", self.frames_out.clone());
        metrics.register("chat_delivery_seconds", "From an event's append to its frame sent", self.delivery.clone());
        metrics.register(
            "chat_slow_consumer_disconnects",
            "Connections cut for not reading",
            self.slow_disconnects.clone(),
        );
        metrics.register("chat_resumes", "Subscriptions resumed from a position, by outcome", self.resumes.clone());
        metrics.register(
            "chat_events_unreadable",
            "Chat events the live tail could not read",
            self.undecodable.clone(),
        );
    }

    /// Counts a frame received (`kind` is a protocol type or `other`).
    pub fn frame_in(&self, kind: &'static str) {
        self.frames_in.get_or_create(&FrameLabels { r#type: kind }).inc();
    }

    /// Counts a frame sent.
    pub fn frame_out(&self, kind: &'static str) {
        self.frames_out.get_or_create(&FrameLabels { r#type: kind }).inc();
    }

    /// Counts a resume.
    pub fn resume(&self, outcome: &'static str) {
        self.resumes.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}
