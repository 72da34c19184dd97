//! The insight queries (coverage, summaries over view fields) on SQLite. Read-only; kept
//! apart from the write path in `ingest.rs`.

use std::collections::BTreeSet;

use prost::Message;
use rusqlite::{params, params_from_iter};

use landmeter_proto::v1::{Fact, StoreFilter, SummaryRow, fact::Body};

use super::queries::Where;
use super::{SqliteStore, view_from_row};
use crate::store::{
    AccountCoverageRecord, GapRecord, InsightStore, MAX_SETTING_FACTS, ScanCoverage, Scope,
    SettingFact, StoreError, ViewDimension, setting_fact, settings_tenant,
};

/// Most gaps listed per scan; `ScanCoverage::gaps` is cut there (a scan of an account
/// without read rights can record one gap per bucket and call).
pub const MAX_GAPS_PER_SCAN: usize = 1_000;

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

impl InsightStore for SqliteStore {
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
        self.read(|c| {
            // Insertion order: agents' clocks do not decide what is newest.
            let mut stmt = c.prepare_cached(
                "SELECT tenant, scan_id, agent, provider, accounts, started_at_ms, ended_at_ms,
                        COALESCE(coverage, '')
                 FROM scans WHERE ?1 IS NULL OR tenant = ?1 ORDER BY rowid DESC LIMIT ?2",
            )?;
            let scans = stmt
                .query_map(params![tenant, limit as i64], |r| {
                    let coverage: String = r.get(7)?;
                    let accounts: String = r.get(4)?;
                    Ok(ScanCoverage {
                        tenant: r.get(0)?,
                        scan_id: r.get(1)?,
                        agent: r.get(2)?,
                        provider: r.get(3)?,
                        accounts: accounts
                            .split(',')
                            .filter(|a| !a.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        started_at_ms: r.get(5)?,
                        ended_at_ms: r.get(6)?,
                        complete: false,
                        account_coverage: parse_coverage(&coverage),
                        gaps: Vec::new(),
                        gaps_truncated: false,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut gaps_stmt = c.prepare_cached(
                "SELECT f.subject, f.body,
                        COALESCE((SELECT s.region FROM stores s
                                  WHERE s.tenant = f.tenant AND s.account = f.account
                                    AND s.name = f.subject LIMIT 1), '')
                 FROM facts f INDEXED BY facts_gaps_by_scan
                 WHERE f.tenant = ?1 AND f.account = ?2 AND f.scan_id = ?3 AND f.kind LIKE 'gap:%'
                 ORDER BY f.subject, f.kind LIMIT ?4",
            )?;
            let mut out = Vec::with_capacity(scans.len());
            for mut scan in scans {
                scan.complete = scan.ended_at_ms.is_some()
                    && !scan.account_coverage.is_empty()
                    && scan.account_coverage.iter().all(|a| a.complete);
                let mut accounts: BTreeSet<String> = scan.accounts.iter().cloned().collect();
                accounts.extend(scan.account_coverage.iter().map(|a| a.account.clone()));
                for account in accounts {
                    let room = MAX_GAPS_PER_SCAN + 1 - scan.gaps.len().min(MAX_GAPS_PER_SCAN);
                    let rows = gaps_stmt.query_map(
                        params![scan.tenant, account, scan.scan_id, room as i64],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, Vec<u8>>(1)?,
                                r.get::<_, String>(2)?,
                            ))
                        },
                    )?;
                    for row in rows {
                        let (subject, body, region) = row?;
                        let fact = Fact::decode(body.as_slice())?;
                        let Some(Body::Gap(g)) = fact.body else {
                            continue;
                        };
                        scan.gaps.push(GapRecord {
                            account: account.clone(),
                            region,
                            call: g.call.clone(),
                            subject,
                            kind: g.kind().as_str_name().to_owned(),
                            code: g.code,
                            message: g.message,
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
        })
    }

    fn settings(
        &self,
        scope: &Scope,
        tenant: Option<&str>,
    ) -> Result<Vec<SettingFact>, StoreError> {
        let Some(tenant) = settings_tenant(scope, tenant)? else {
            return Ok(Vec::new());
        };
        self.read(|c| {
            // Two partial indexes: the setting facts, and the gap facts (of which only those
            // of a setting's read are kept, decided by their topic).
            let mut stmt = c.prepare_cached(
                "SELECT tenant, body FROM facts INDEXED BY facts_settings
                 WHERE (?1 IS NULL OR tenant = ?1) AND kind = 'setting'
                 UNION ALL
                 SELECT tenant, body FROM facts INDEXED BY facts_gaps_by_scan
                 WHERE (?1 IS NULL OR tenant = ?1) AND kind LIKE 'gap:%'",
            )?;
            let rows = stmt.query_map(params![tenant], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (tenant, body) = row?;
                if let Some(fact) = setting_fact(tenant, &body)? {
                    out.push(fact);
                    if out.len() >= MAX_SETTING_FACTS {
                        break;
                    }
                }
            }
            Ok(out)
        })
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
        let w = Where::new(scope, filter);
        let sql = format!(
            "SELECT tenant, view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id
             FROM stores WHERE {}",
            w.sql
        );
        let mut groups = crate::store::ViewGroups::new(dimensions);
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(w.params.iter()), |r| {
                Ok((r.get::<_, String>(0)?, view_from_row(r)?))
            })?;
            for row in rows {
                let (tenant, view) = row?;
                groups.add(&tenant, &view?);
            }
            Ok(())
        })?;
        Ok(groups.rows(scope))
    }
}
