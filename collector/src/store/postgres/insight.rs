//! The insight queries (coverage, summaries over view fields) on PostgreSQL. Read-only.

use std::collections::BTreeSet;

use prost::Message;

use landmeter_proto::v1::{Fact, StoreFilter, SummaryRow, fact::Body};

use super::PostgresStore;
use crate::store::{
    AccountCoverageRecord, GapRecord, InsightStore, MAX_SETTING_FACTS, ScanCoverage, Scope,
    SettingFact, StoreError, ViewDimension, setting_fact, settings_tenant,
};

// Most gaps listed per scan: the one limit both backends cut `ScanCoverage::gaps` at.
use crate::store::sqlite::MAX_GAPS_PER_SCAN;

/// `account:complete|incomplete:stores_seen:gaps:reason`, as `finish_scan` writes it.
fn parse_coverage(text: &str) -> Vec<AccountCoverageRecord> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.splitn(5, ':');
            let mut next = || parts.next().unwrap_or_default();
            AccountCoverageRecord {
                account: next().to_owned(),
                complete: next() == "complete",
                stores_seen: next().parse().unwrap_or(0),
                gaps: next().parse().unwrap_or(0),
                reason: next().to_owned(),
            }
        })
        .collect()
}

impl InsightStore for PostgresStore {
    fn scan_coverage(
        &self,
        scope: &Scope,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScanCoverage>, StoreError> {
        let tenant = match (scope, tenant) {
            (Scope::Pool { .. }, _) => {
                return Err(StoreError::Forbidden(
                    "the pool role reads aggregates only".into(),
                ));
            }
            // A tenant role sees its own scans, whatever it asks for.
            (Scope::Tenant(own), Some(t)) if t != own => return Ok(Vec::new()),
            (Scope::Tenant(own), _) => Some(own.as_str()),
            (Scope::AllTenants, t) => t,
        };
        // Insertion order (`seq`): agents' clocks do not decide what is newest.
        let rows = self.query(
            "SELECT tenant, scan_id, agent, provider, accounts, started_at_ms, ended_at_ms,
                    COALESCE(coverage, '')
             FROM scans WHERE $1::text IS NULL OR tenant = $1 ORDER BY seq DESC LIMIT $2",
            &[&tenant, &(limit as i64)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let accounts: String = r.try_get(4)?;
            let coverage: String = r.try_get(7)?;
            let mut scan = ScanCoverage {
                tenant: r.try_get(0)?,
                scan_id: r.try_get(1)?,
                agent: r.try_get(2)?,
                provider: r.try_get(3)?,
                accounts: accounts
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
                started_at_ms: r.try_get(5)?,
                ended_at_ms: r.try_get(6)?,
                complete: false,
                account_coverage: parse_coverage(&coverage),
                gaps: Vec::new(),
                gaps_truncated: false,
            };
            scan.complete = scan.ended_at_ms.is_some()
                && !scan.account_coverage.is_empty()
                && scan.account_coverage.iter().all(|a| a.complete);
            let mut accounts: BTreeSet<String> = scan.accounts.iter().cloned().collect();
            accounts.extend(scan.account_coverage.iter().map(|a| a.account.clone()));
            for account in accounts {
                let room = MAX_GAPS_PER_SCAN + 1 - scan.gaps.len().min(MAX_GAPS_PER_SCAN);
                let gaps = self.query(
                    "SELECT f.subject, f.body,
                            COALESCE((SELECT s.region FROM stores s
                                      WHERE s.tenant = f.tenant AND s.account = f.account
                                        AND s.name = f.subject LIMIT 1), '')
                     FROM facts f
                     WHERE f.tenant = $1 AND f.account = $2 AND f.scan_id = $3
                       AND f.kind LIKE 'gap:%'
                     ORDER BY f.subject, f.kind LIMIT $4",
                    &[&scan.tenant, &account, &scan.scan_id, &(room as i64)],
                )?;
                for g in gaps {
                    let body: &[u8] = g.try_get(1)?;
                    let fact = Fact::decode(body)?;
                    let Some(Body::Gap(gap)) = fact.body else {
                        continue;
                    };
                    scan.gaps.push(GapRecord {
                        account: account.clone(),
                        region: g.try_get(2)?,
                        call: gap.call.clone(),
                        subject: g.try_get(0)?,
                        kind: gap.kind().as_str_name().to_owned(),
                        code: gap.code,
                        message: gap.message,
                    });
                }
                if scan.gaps.len() > MAX_GAPS_PER_SCAN {
                    scan.gaps.truncate(MAX_GAPS_PER_SCAN);
                    scan.gaps_truncated = true;
                    break;
                }
            }
            out.push(scan);
        }
        Ok(out)
    }

    fn settings(
        &self,
        scope: &Scope,
        tenant: Option<&str>,
    ) -> Result<Vec<SettingFact>, StoreError> {
        let Some(tenant) = settings_tenant(scope, tenant)? else {
            return Ok(Vec::new());
        };
        let rows = self.query(
            "SELECT tenant, body FROM facts
             WHERE ($1::text IS NULL OR tenant = $1) AND kind = 'setting'
             UNION ALL
             SELECT tenant, body FROM facts
             WHERE ($1::text IS NULL OR tenant = $1) AND kind LIKE 'gap:%'",
            &[&tenant],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let body: &[u8] = row.try_get(1)?;
            if let Some(fact) = setting_fact(row.try_get(0)?, body)? {
                out.push(fact);
                if out.len() >= MAX_SETTING_FACTS {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn summary_by_view(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        dimensions: &[ViewDimension],
    ) -> Result<Vec<Vec<SummaryRow>>, StoreError> {
        if let Scope::Pool { .. } = scope
            && !filter.accounts.is_empty()
        {
            return Err(StoreError::Forbidden(
                "the pool role cannot group or filter by tenant or account".into(),
            ));
        }
        // From the columns migration 0015 added: the counts hold them as dimensions.
        dimensions
            .iter()
            .map(|d| self.summary_rows(scope, filter, &[super::queries::view_sql_key(*d)], false))
            .collect()
    }
}
