//! The reference: the same fact rows inserted straight into SQLite, one transaction, one
//! prepared statement, same `facts` table (the collector's own migrations create it), same
//! encoded bodies, same journal and sync settings.

use std::path::Path;
use std::time::{Duration, Instant};

use prost::Message;
use rusqlite::{Connection, params};

use landmeter_collector::store::Durability;
use landmeter_collector::store::sqlite::SqliteStore;
use landmeter_proto::v1::fact::Body;

use crate::estate;

pub struct Raw {
    pub rows: u64,
    /// Time inside SQLite only: generating and encoding the rows is not counted.
    pub elapsed: Duration,
}

pub fn bulk_insert(db: &Path, accounts: u64, durability: Durability) -> anyhow::Result<Raw> {
    // The collector's schema, exactly: open (and migrate) the store, then let go of it.
    drop(SqliteStore::open_with(db, durability)?);
    let mut conn = Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )?;
    let mut elapsed = Duration::ZERO;
    let mut rows = 0;
    let started = Instant::now();
    let tx = conn.transaction()?;
    elapsed += started.elapsed();
    {
        let mut stmt = tx.prepare(
            "INSERT INTO facts (tenant, account, subject, kind, scan_id, agent, api_call, observed_at_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for a in 0..accounts {
            let scan_id = format!("raw-{a}");
            for batch in estate::account_batches(a) {
                let encoded: Vec<_> = batch
                    .iter()
                    .map(|f| {
                        let kind = match &f.body {
                            Some(Body::Store(_)) => "store",
                            Some(Body::Encryption(_)) => "encryption",
                            _ => "tags",
                        };
                        (f, kind, f.encode_to_vec())
                    })
                    .collect();
                let t = Instant::now();
                for (f, kind, body) in &encoded {
                    stmt.execute(params![
                        "default",
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
                elapsed += t.elapsed();
                rows += encoded.len() as u64;
            }
        }
    }
    let t = Instant::now();
    tx.commit()?;
    elapsed += t.elapsed();
    Ok(Raw { rows, elapsed })
}
