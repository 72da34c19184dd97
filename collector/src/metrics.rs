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
    /// Alerts given up after every retry (the dead-letter count).
    pub webhook_dead_letters: Counter,
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
            webhook_dead_letters: Counter::default(),
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
        registry.register(
            "webhook_dead_letters",
            "Alerts given up after every retry",
            m.webhook_dead_letters.clone(),
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

/// How many of the newest scans the staleness gauges look at per scrape.
pub const STALENESS_SCANS: usize = 10_000;

/// Per tenant and agent, from the newest scans first: the age of the last complete scan
/// (`+Inf` when none has completed: alert on it as on a large age), whether the latest scan
/// was complete, and how many coverage gaps it left. OpenMetrics text, without `# EOF`.
pub fn render_staleness(scans: &[crate::store::ScanCoverage], now_ms: i64) -> String {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Agent {
        last_complete_ms: Option<i64>,
        latest: Option<(bool, usize)>,
    }
    let mut agents: BTreeMap<(&str, &str), Agent> = BTreeMap::new();
    for scan in scans {
        let a = agents.entry((&scan.tenant, &scan.agent)).or_default();
        if a.latest.is_none() && scan.ended_at_ms.is_some() {
            a.latest = Some((scan.complete, scan.gaps.len()));
        }
        if a.last_complete_ms.is_none() && scan.complete {
            a.last_complete_ms = scan.ended_at_ms;
        }
    }
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut age = String::from(
        "# TYPE landmeter_agent_last_complete_scan_age_seconds gauge\n\
         # HELP landmeter_agent_last_complete_scan_age_seconds Seconds since the agent's last complete scan ended (+Inf: none yet).\n",
    );
    let mut complete = String::from(
        "# TYPE landmeter_agent_last_scan_complete gauge\n\
         # HELP landmeter_agent_last_scan_complete Whether the agent's latest ended scan was complete (1) or not (0).\n",
    );
    let mut gaps = String::from(
        "# TYPE landmeter_agent_last_scan_coverage_gaps gauge\n\
         # HELP landmeter_agent_last_scan_coverage_gaps Coverage gaps the agent's latest ended scan left.\n",
    );
    for ((tenant, agent), a) in &agents {
        let labels = format!(
            "{{tenant=\"{}\",agent=\"{}\"}}",
            escape(tenant),
            escape(agent)
        );
        let seconds = a.last_complete_ms.map_or("+Inf".to_owned(), |ended| {
            format!("{:.3}", (now_ms - ended).max(0) as f64 / 1000.0)
        });
        age.push_str(&format!(
            "landmeter_agent_last_complete_scan_age_seconds{labels} {seconds}\n"
        ));
        if let Some((ok, n)) = a.latest {
            complete.push_str(&format!(
                "landmeter_agent_last_scan_complete{labels} {}\n",
                u8::from(ok)
            ));
            gaps.push_str(&format!(
                "landmeter_agent_last_scan_coverage_gaps{labels} {n}\n"
            ));
        }
    }
    format!("{age}{complete}{gaps}")
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
