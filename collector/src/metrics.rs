//! The collector's Prometheus metrics, one registry per process.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabel {
    /// Version, commit and build date, as `--version` prints them.
    pub version: String,
}

/// Counters and histograms the collector updates as it works.
pub struct Metrics {
    registry: Registry,
    /// Batches by outcome: committed, duplicate, rejected.
    pub batches: Family<OutcomeLabel, Counter>,
    pub facts_committed: Counter,
    /// Gap facts received: calls an agent could not make (coverage gaps).
    pub coverage_gaps: Counter,
    pub scans_finished: Counter,
    /// Seconds from receiving a batch to acknowledging it (commit included).
    pub ingest_latency: Histogram,
    pub changes: Family<KindLabel, Counter>,
    pub watchers: Gauge,
    /// Webhook deliveries by outcome: delivered, failed.
    pub webhooks: Family<OutcomeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("landmeter");
        let m = Metrics {
            batches: Family::default(),
            facts_committed: Counter::default(),
            coverage_gaps: Counter::default(),
            scans_finished: Counter::default(),
            ingest_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            changes: Family::default(),
            watchers: Gauge::default(),
            webhooks: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "ingest_batches",
            "Fact batches received, by outcome",
            m.batches.clone(),
        );
        registry.register("ingest_facts", "Facts committed", m.facts_committed.clone());
        registry.register(
            "coverage_gaps",
            "Gap facts received (calls an agent could not make)",
            m.coverage_gaps.clone(),
        );
        registry.register(
            "scans_finished",
            "Scans finished (ScanEnd committed)",
            m.scans_finished.clone(),
        );
        registry.register(
            "ingest_latency_seconds",
            "From receiving a batch to acknowledging it",
            m.ingest_latency.clone(),
        );
        registry.register(
            "map_changes",
            "Changes recorded in the map, by kind",
            m.changes.clone(),
        );
        registry.register(
            "watchers",
            "Open Watch streams and event subscribers",
            m.watchers.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Alert webhook deliveries, by outcome",
            m.webhooks.clone(),
        );
        // Which build runs, as the usual `_build_info` gauge fixed at 1.
        let build: Family<BuildLabel, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabel {
                version: env!("LANDMETER_VERSION").to_owned(),
            })
            .set(1);
        registry.register("build_info", "The running build (value 1)", build);
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn outcome(&self, family: &Family<OutcomeLabel, Counter>, outcome: &str) {
        family
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
