//! The PostgreSQL reference (issue 16): every row an ingest writes, COPYed into the
//! collector's own schema (its migrations create it) in one transaction by PostgreSQL's own
//! client, `psql \copy`.
//!
//! "The same rows": the SQLite reference ([`raw::bulk_insert`], [`Rows::Everything`]) writes
//! them first (facts, batch markers, scans, the interpreted stores and their "added" change
//! events, worked out by the collector's own interpreter), and each table is rendered to COPY
//! text the way `landmeter db copy` sends it (`CopyTable::copy_text_row`). Only the `psql` run is
//! timed: its COPYs and the COMMIT. The ingest's per-account bookkeeping rows
//! (`account_claims`, `account_generations`: one each per 1,000 stores) are left out.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::Connection;

use landmeter_collector::store::Durability;
use landmeter_collector::store::postgres::{PostgresStore, copy_table};

use crate::raw::{self, Rows};

/// The tables an ingest writes, in the order `db copy` fills them.
const TABLES: [&str; 5] = ["scans", "batches", "facts", "stores", "changes"];

pub struct RawCopy {
    /// Fact rows copied (the rate is facts per second, as the ingest's).
    pub facts: u64,
    /// All rows copied.
    pub rows: u64,
    pub elapsed: Duration,
}

/// Renders the rows of `accounts` accounts under `dir` and COPYs them into the empty
/// database `url` names.
pub fn copy_everything(
    dir: &Path,
    url: &str,
    accounts: u64,
    durability: Durability,
) -> anyhow::Result<RawCopy> {
    let db = dir.join("raw-copy.db");
    raw::bulk_insert(&db, accounts, durability, Rows::Everything)?;
    let mut files: Vec<(&str, String, PathBuf)> = Vec::new();
    let (mut facts, mut rows) = (0, 0);
    {
        let conn = Connection::open(&db)?;
        for name in TABLES {
            let table = copy_table(name).context("a table db copy moves")?;
            let path = dir.join(format!("{name}.copy"));
            let mut out = BufWriter::new(File::create(&path)?);
            let mut stmt = conn.prepare(table.select())?;
            let width = stmt.column_count();
            let mut found = stmt.query([])?;
            let mut line = String::new();
            let mut n = 0u64;
            while let Some(row) = found.next()? {
                line.clear();
                table.copy_text_row(&mut line, row, width)?;
                out.write_all(line.as_bytes())?;
                n += 1;
            }
            out.flush()?;
            rows += n;
            if name == "facts" {
                facts = n;
            }
            // `\copy` takes its whole command on one line.
            let columns = table
                .columns()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            files.push((name, columns, path));
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    // The collector's schema, exactly: opening the store migrates the fresh database.
    drop(PostgresStore::open(url, durability)?);
    let commands: Vec<String> = files
        .iter()
        .map(|(name, columns, path)| format!("\\copy {name} ({columns}) FROM '{}'", path.display()))
        .collect();
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    // One transaction for every table, as one bulk load; only psql is timed.
    let started = Instant::now();
    let copied = crate::psql_commands(url, true, &commands);
    let elapsed = started.elapsed();
    for (_, _, path) in &files {
        let _ = std::fs::remove_file(path);
    }
    copied?;
    Ok(RawCopy {
        facts,
        rows,
        elapsed,
    })
}
