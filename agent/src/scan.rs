//! Plan and run one scan: which accounts, in which order, into which sink.
//!
//! [`plan`] talks to the provider only to learn who the agent is and which accounts the scan
//! covers (the collector is told before any fact). [`run`] scans them, one account after
//! another (each with its own bucket concurrency), and returns each account's coverage.

use landmeter_proto::v1::AccountCoverage;

use crate::config::Config;
use crate::sink::{FactSink, ProgressSnapshot, SinkClosed};

#[cfg(feature = "aws")]
use crate::providers::aws;
#[cfg(feature = "azure")]
use crate::providers::azure;

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[cfg(feature = "aws")]
    #[error(transparent)]
    Aws(#[from] aws::AwsError),
    #[cfg(feature = "azure")]
    #[error(transparent)]
    Azure(#[from] azure::AzureError),
    #[error(
        "no cloud provider compiled in for this configuration: build landmeter-agent with the `aws` or `azure` feature"
    )]
    NoProvider,
    #[error(transparent)]
    Sink(#[from] SinkClosed),
}

/// A planned scan: its id and the accounts it covers.
#[derive(Debug)]
pub struct ScanPlan {
    pub scan_id: String,
    pub started_at_ms: i64,
    pub provider: String,
    pub accounts: Vec<String>,
    inner: ProviderPlan,
}

#[derive(Debug)]
enum ProviderPlan {
    #[cfg(feature = "aws")]
    // Boxed: the AWS plan (SDK clients, config) dwarfs the others.
    Aws(Box<aws::AwsPlan>),
    #[cfg(feature = "azure")]
    Azure(azure::AzurePlan),
}

/// Resolves credentials and the accounts to scan.
pub async fn plan(config: &Config) -> Result<ScanPlan, ScanError> {
    let started_at_ms = crate::now_ms();
    let scan_id = new_scan_id(&config.name, started_at_ms);
    #[cfg(feature = "azure")]
    if config.azure.enabled {
        let plan = azure::plan(&config.azure).await?;
        return Ok(ScanPlan {
            scan_id,
            started_at_ms,
            provider: plan.provider().to_owned(),
            accounts: plan.accounts(),
            inner: ProviderPlan::Azure(plan),
        });
    }
    #[cfg(not(feature = "azure"))]
    if config.azure.enabled {
        return Err(ScanError::NoProvider);
    }
    plan_provider(config, scan_id, started_at_ms).await
}

#[cfg(feature = "aws")]
async fn plan_provider(
    config: &Config,
    scan_id: String,
    started_at_ms: i64,
) -> Result<ScanPlan, ScanError> {
    let plan = aws::plan(&config.aws).await?;
    Ok(ScanPlan {
        scan_id,
        started_at_ms,
        provider: plan.provider().to_owned(),
        accounts: plan.accounts(),
        inner: ProviderPlan::Aws(Box::new(plan)),
    })
}

#[cfg(not(feature = "aws"))]
async fn plan_provider(
    _config: &Config,
    _scan_id: String,
    _started_at_ms: i64,
) -> Result<ScanPlan, ScanError> {
    Err(ScanError::NoProvider)
}

/// Scans every planned account into `sink` (dropped at the end, which tells the consumer
/// that no more facts come) and returns the coverage per account.
#[cfg_attr(not(any(feature = "aws", feature = "azure")), allow(unused_variables))]
pub async fn run(plan: ScanPlan, sink: FactSink) -> Result<Vec<AccountCoverage>, ScanError> {
    match plan.inner {
        #[cfg(feature = "aws")]
        ProviderPlan::Aws(aws_plan) => Ok(aws::run(*aws_plan, &sink).await?),
        #[cfg(feature = "azure")]
        ProviderPlan::Azure(azure_plan) => Ok(azure::run(azure_plan, &sink).await?),
    }
}

/// A scan id unique per agent and run: `NAME-UNIXMS-RANDOM` (random from the process's
/// hash seed and a counter, so two scans in one millisecond still differ).
pub fn new_scan_id(agent_name: &str, now_ms: i64) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{agent_name}-{now_ms}-{:08x}", hasher.finish() as u32)
}

/// The progress line shown on a terminal.
pub fn progress_line(p: &ProgressSnapshot) -> String {
    format!(
        "scanned {}/{} buckets, {} facts, {} gaps",
        p.stores_done, p.stores_found, p.facts, p.gaps
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_ids_are_unique_and_named() {
        let a = new_scan_id("agent-1", 1_700_000_000_000);
        let b = new_scan_id("agent-1", 1_700_000_000_000);
        assert_ne!(a, b);
        assert!(a.starts_with("agent-1-1700000000000-"), "{a}");
    }

    #[test]
    fn progress_line_reads_well() {
        let p = ProgressSnapshot {
            facts: 700,
            gaps: 2,
            stores_found: 5000,
            stores_done: 120,
        };
        assert_eq!(
            progress_line(&p),
            "scanned 120/5000 buckets, 700 facts, 2 gaps"
        );
    }
}
