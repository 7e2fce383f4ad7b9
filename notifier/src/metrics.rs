//! What the notifier counts. Labels come from closed sets: the channels and
//! the outcomes named here.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

/// The notifier's metrics, registered with the service's registry.
#[derive(Clone)]
pub struct NotifierMetrics {
    /// Deliveries by channel (`email`, `push`) and outcome (`delivered`,
    /// `retried`, `dead_letter`, `skipped`, `held` for quiet hours, and
    /// `gone` for a removed push subscription).
    pub outcomes: Family<OutcomeLabels, Counter>,
    /// One SMTP exchange, in seconds.
    pub smtp_seconds: Histogram,
    /// 1 when an SMTP server is configured, else 0 (emails are skipped).
    pub email_configured: Gauge,
    /// 1 when a VAPID key is configured, else 0 (pushes are skipped).
    pub push_configured: Gauge,
}

/// The `channel` and `outcome` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    channel: &'static str,
    outcome: &'static str,
}

impl Default for NotifierMetrics {
    fn default() -> Self {
        Self {
            outcomes: Family::default(),
            smtp_seconds: Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]),
            email_configured: Gauge::default(),
            push_configured: Gauge::default(),
        }
    }
}

impl NotifierMetrics {
    /// Adds them to a service's registry.
    pub fn register(&self, metrics: &ops::Metrics) {
        metrics.register("notifier_deliveries", "Deliveries by channel and outcome", self.outcomes.clone());
        metrics.register("notifier_smtp_seconds", "One SMTP exchange", self.smtp_seconds.clone());
        metrics.register(
            "notifier_email_configured",
            "1 when an SMTP server is configured",
            self.email_configured.clone(),
        );
        metrics.register("notifier_push_configured", "1 when a VAPID key is configured", self.push_configured.clone());
    }

    /// Counts one outcome.
    pub fn outcome(&self, channel: &'static str, outcome: &'static str) {
        self.outcomes.get_or_create(&OutcomeLabels { channel, outcome }).inc();
    }
}
