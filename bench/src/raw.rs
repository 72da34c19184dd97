//! The references: the rows the collector writes, inserted straight into SQLite with
//! prepared statements in large transactions ([`ACCOUNTS_PER_TRANSACTION`]), into the
//! collector's own schema (its migrations create it), with the collector writer's journal,
//! sync, cache and checkpoint settings.
//!
//! Two of them, both timed inside SQLite only (generating, interpreting and encoding the
//! rows is not counted):
//! - [`Rows::Facts`]: the fact rows alone (the reference of the earlier tables).
//! - [`Rows::Everything`]: every row an ingest writes: the facts, the batch markers, the
//!   scan rows, the interpreted stores (the same views, interpreted by the collector's own
//!   interpreter, written by its own statement, `upsert_seen`) and one "added" change event
//!   per store. "The same rows" as the collector
//!   writes, so the ratio is what the collector's machinery costs above the database.

use std::path::Path;
use std::time::{Duration, Instant};

use prost::Message;
use rusqlite::{Connection, params};

use landmeter_collector::map::changes::history_view;
use landmeter_collector::store::Durability;
use landmeter_collector::store::sqlite::{configure_writer, fact_kind, upsert_seen};
use landmeter_proto::v1::{ChangeEvent, ChangeKind};

use crate::estate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    Facts,
    Everything,
}

/// Accounts (1,000 stores each) per transaction. The fastest of the sizes tried on 1M stores
/// (`bench/README.md`): one transaction for everything took 19.6-20.7 s, one per account
/// 16.4-16.9 s, per 5 / 10 / 20 / 50 accounts 16.5 / 14.1-15.2 / 13.2 / 13.3 s. A single huge
/// transaction spills its pages into an ever longer WAL that every page lookup then walks.
const ACCOUNTS_PER_TRANSACTION: u64 = 20;

pub struct Raw {
    /// Fact rows inserted (the rate is facts per second, as the ingest's).
    pub facts: u64,
    /// All rows inserted.
    pub rows: u64,
    pub elapsed: Duration,
}

pub fn bulk_insert(
    db: &Path,
    accounts: u64,
    durability: Durability,
    rows: Rows,
) -> anyhow::Result<Raw> {
    // The collector's schema, exactly: open (and migrate) the store, and keep it open while
    // inserting so its checkpoint thread serves this connection as it serves the collector's
    // writer (store/sqlite/checkpoint.rs).
    let _store = landmeter_collector::store::open(&db.display().to_string(), durability)?;
    let conn = Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )?;
    configure_writer(&conn)?;
    let (interpreter, _) = landmeter_collector::server::build_interpreter(
        &landmeter_collector::config::CollectorConfig::default(),
    )?;
    let tenant = "default";
    let now_ms = 1_700_000_000_000_i64;
    let mut out = Raw {
        facts: 0,
        rows: 0,
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    conn.execute_batch("BEGIN")?;
    out.elapsed += started.elapsed();
    {
        let mut fact_stmt = conn.prepare(
            "INSERT INTO facts (tenant, account, subject, kind, scan_id, agent, api_call, observed_at_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut batch_stmt = conn
            .prepare("INSERT INTO batches (tenant, scan_id, seq, facts) VALUES (?1, ?2, ?3, ?4)")?;
        let mut scan_stmt = conn.prepare(
            "INSERT INTO scans (tenant, scan_id, agent, provider, accounts, started_at_ms, ended_at_ms, batches, coverage)
             VALUES (?1, ?2, 'raw', 'aws', ?3, 1, 2, ?4, ?5)",
        )?;
        let mut change_stmt = conn.prepare(
            "INSERT INTO changes (tenant, store_id, at_ms, scan_id, event) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for a in 0..accounts {
            let account = estate::account_id(a);
            let scan_id = format!("raw-{a}");
            let batches: Vec<_> = estate::account_batches(a).collect();
            let encoded: Vec<Vec<_>> = batches
                .iter()
                .map(|batch| {
                    batch
                        .iter()
                        .map(|f| (f, fact_kind(f), f.encode_to_vec()))
                        .collect()
                })
                .collect();
            // The map rows, worked out as the collector does, before the clock runs.
            let map: Vec<_> = if rows == Rows::Everything {
                let facts: Vec<_> = batches.iter().flatten().cloned().collect();
                interpreter
                    .interpret_account(tenant, &account, &facts, &|_, _| None)
                    .into_iter()
                    .map(|mut view| {
                        view.first_seen_ms = now_ms;
                        view.last_seen_ms = now_ms;
                        view.last_scan_id = scan_id.clone();
                        let event = ChangeEvent {
                            id: 0,
                            tenant: tenant.into(),
                            store_id: view.id.clone(),
                            at_ms: now_ms,
                            scan_id: scan_id.clone(),
                            kind: ChangeKind::Added as i32,
                            changes: Vec::new(),
                            store: Some(history_view(&view)),
                        };
                        let view_bytes = view.encode_to_vec();
                        (view, view_bytes, event.encode_to_vec())
                    })
                    .collect()
            } else {
                Vec::new()
            };

            let t = Instant::now();
            for (seq, batch) in encoded.iter().enumerate() {
                for (f, kind, body) in batch {
                    fact_stmt.execute(params![
                        tenant,
                        f.account,
                        f.subject,
                        kind,
                        scan_id,
                        "raw",
                        f.api_call,
                        f.observed_at_ms,
                        body
                    ])?;
                }
                out.facts += batch.len() as u64;
                out.rows += batch.len() as u64;
                if rows == Rows::Everything {
                    batch_stmt.execute(params![
                        tenant,
                        scan_id,
                        seq as i64 + 1,
                        batch.len() as i64
                    ])?;
                    out.rows += 1;
                }
            }
            if rows == Rows::Everything {
                scan_stmt.execute(params![
                    tenant,
                    scan_id,
                    account,
                    encoded.len() as i64,
                    format!("{account}:complete:1000:0:")
                ])?;
                for (v, view_bytes, event) in &map {
                    upsert_seen(&conn, v, view_bytes, now_ms, &scan_id)?;
                    change_stmt.execute(params![tenant, v.id, now_ms, scan_id, event])?;
                }
                out.rows += 1 + 2 * map.len() as u64;
            }
            if (a + 1).is_multiple_of(ACCOUNTS_PER_TRANSACTION) {
                conn.execute_batch("COMMIT; BEGIN")?;
            }
            out.elapsed += t.elapsed();
        }
    }
    let t = Instant::now();
    conn.execute_batch("COMMIT")?;
    out.elapsed += t.elapsed();
    Ok(out)
}
