//! Plan and run one scan: which clouds and accounts, in which order, into which sink.
//!
//! One scan covers every configured cloud: one scan id, one `ScanBegin` naming the accounts
//! of all of them, one coverage line per account of either. [`plan`] asks each
//! [`Provider`] to enumerate its accounts (the collector is told before any fact); a cloud
//! whose planning fails (credentials, its account listing) does not stop the others: its
//! accounts are reported incomplete with the reason. Only when every cloud fails does the
//! scan fail. [`run`] scans the clouds side by side (each has its own API quotas), and each
//! cloud's accounts as many at once as the provider allows
//! ([`Provider::accounts_in_parallel`]), their coverage kept in plan order.

use futures::future::join_all;
use futures::{StreamExt as _, stream};
use landmeter_proto::v1::{AccountCoverage, fact};
use tracing::Instrument as _;

use crate::config::Config;
use crate::providers::{self, PlanError, Provider, ProvidersError, new_fact};
use crate::sink::{FactSink, ProgressSnapshot, SinkClosed};

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Providers(#[from] ProvidersError),
    /// Every configured cloud failed to plan; the first failure. (Shown, not chained: the
    /// message is the whole story, as it was for the single-cloud scan.)
    #[error("{provider}: {error}")]
    Plan { provider: String, error: PlanError },
    #[error(transparent)]
    Sink(#[from] SinkClosed),
}

/// A planned scan: its id, its clouds and the accounts it covers.
pub struct ScanPlan {
    pub scan_id: String,
    pub started_at_ms: i64,
    /// Every provider the scan covers, in scan order (`ScanBegin.providers`).
    pub providers: Vec<String>,
    /// Every account of every provider, in scan order (`ScanBegin.accounts`).
    pub accounts: Vec<String>,
    clouds: Vec<PlannedCloud>,
}

impl std::fmt::Debug for ScanPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanPlan")
            .field("scan_id", &self.scan_id)
            .field("providers", &self.providers)
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

/// One cloud of a scan: enumerated, or failed with the accounts that stand in for it.
struct PlannedCloud {
    provider: Box<dyn Provider>,
    accounts: Vec<String>,
    failed: Option<PlanError>,
}

/// Resolves credentials and the accounts to scan, for every configured cloud.
pub async fn plan(config: &Config) -> Result<ScanPlan, ScanError> {
    let started_at_ms = crate::now_ms();
    let scan_id = new_scan_id(&config.name, started_at_ms);
    let providers = providers::configured(config)?;
    plan_providers(scan_id, started_at_ms, providers).await
}

/// [`plan`] for given providers: enumerates them side by side.
pub async fn plan_providers(
    scan_id: String,
    started_at_ms: i64,
    mut providers: Vec<Box<dyn Provider>>,
) -> Result<ScanPlan, ScanError> {
    let enumerated = join_all(providers.iter_mut().map(|p| p.enumerate())).await;
    let mut clouds = Vec::with_capacity(providers.len());
    for (provider, result) in providers.into_iter().zip(enumerated) {
        let cloud = match result {
            Ok(accounts) => PlannedCloud {
                provider,
                accounts,
                failed: None,
            },
            Err(err) => {
                tracing::error!(provider = provider.id(), error = %err, "cannot plan this cloud's scan");
                // Unknown is never "no": the accounts the configuration names (or the
                // provider itself, when it names none) are reported, incomplete.
                let mut accounts = provider.configured_accounts();
                if accounts.is_empty() {
                    accounts.push(provider.id().to_owned());
                }
                PlannedCloud {
                    provider,
                    accounts,
                    failed: Some(err),
                }
            }
        };
        clouds.push(cloud);
    }
    // The only cloud (or every cloud) failed: nothing to scan, the scan fails as it did
    // before several clouds per agent.
    if clouds.iter().all(|c| c.failed.is_some()) {
        let Some(first) = clouds.into_iter().next() else {
            return Err(ProvidersError::NoneEnabled.into());
        };
        return Err(ScanError::Plan {
            provider: first.provider.id().to_owned(),
            error: first
                .failed
                .unwrap_or_else(|| PlanError::setup("planning failed")),
        });
    }
    Ok(ScanPlan {
        scan_id,
        started_at_ms,
        providers: clouds.iter().map(|c| c.provider.id().to_owned()).collect(),
        accounts: clouds.iter().flat_map(|c| c.accounts.clone()).collect(),
        clouds,
    })
}

/// Scans every planned account into `sink` (dropped at the end, which tells the consumer
/// that no more facts come) and returns the coverage per account, in plan order.
#[tracing::instrument(
    name = "scan",
    skip_all,
    fields(scan_id = %plan.scan_id, providers = %plan.providers.join(","), accounts = plan.accounts.len())
)]
pub async fn run(plan: ScanPlan, sink: FactSink) -> Result<Vec<AccountCoverage>, ScanError> {
    let per_cloud = join_all(plan.clouds.iter().map(|cloud| run_cloud(cloud, &sink))).await;
    let mut coverage = Vec::with_capacity(plan.accounts.len());
    for cloud in per_cloud {
        coverage.extend(cloud?);
    }
    Ok(coverage)
}

async fn run_cloud(
    cloud: &PlannedCloud,
    sink: &FactSink,
) -> Result<Vec<AccountCoverage>, SinkClosed> {
    let mut coverage = Vec::with_capacity(cloud.accounts.len());
    if let Some(err) = &cloud.failed {
        for account in &cloud.accounts {
            let mut gaps = 0;
            if let Some((call, failed)) = &err.failed_call {
                sink.push(new_fact(
                    account,
                    account,
                    call.name,
                    fact::Body::Gap(failed.gap(call)),
                ))
                .await?;
                gaps = 1;
            }
            coverage.push(AccountCoverage {
                account: account.clone(),
                complete: false,
                stores_seen: 0,
                gaps,
                reason: format!("{} could not be planned: {err}", cloud.provider.id()),
            });
        }
        return Ok(coverage);
    }
    let provider = &cloud.provider;
    // `buffered`, not unordered: coverage comes back in plan order whatever finishes first.
    let mut scans = stream::iter(&cloud.accounts)
        .map(|account| {
            let span =
                tracing::info_span!("scan_account", provider = provider.id(), account = %account);
            provider.scan(account, sink).instrument(span)
        })
        .buffered(provider.accounts_in_parallel().max(1));
    while let Some(account) = scans.next().await {
        coverage.push(account?);
    }
    provider.scan_finished();
    Ok(coverage)
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
