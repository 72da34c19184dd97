//! Moving a whole map from a SQLite file into an empty PostgreSQL database: every table, row
//! for row (facts, stores with their bookkeeping, scans in their order, change history with
//! its ids, tokens, sessions, revocations, audit log, reports, the interpretation's
//! fingerprint), in one transaction, with `COPY ... FROM STDIN`. Both schemas are at the same
//! migration (the source is migrated by opening it first), so the columns correspond one to
//! one; only SQLite's integers for booleans and its rowid (a scan's order) are translated.

use std::path::Path;

use bytes::Bytes;
use futures::SinkExt;
use rusqlite::types::{Type, ValueRef};

use prost::Message;

use landmeter_proto::v1::StoreView;

use super::PostgresStore;
use super::view_dims::ViewDims;
use crate::store::{BackendError, StoreError};

/// One table: its SQLite SELECT (in the order rows are copied) and the PostgreSQL columns
/// the selected values go to, in the same order.
pub struct CopyTable {
    name: &'static str,
    select: &'static str,
    columns: &'static str,
    /// The selected column holding an encoded view, when the PostgreSQL row also has the
    /// view dimensions (migration 0015) that SQLite does not keep: they are appended to
    /// each row, read from the view, as `columns` ends with them.
    view_column: Option<usize>,
}

const TABLES: &[CopyTable] = &[
    CopyTable {
        name: "scans",
        select: "SELECT tenant, scan_id, rowid, agent, provider, accounts, started_at_ms,
                        ended_at_ms, batches, coverage FROM scans ORDER BY rowid",
        columns: "tenant, scan_id, seq, agent, provider, accounts, started_at_ms, ended_at_ms,
                  batches, coverage",
        view_column: None,
    },
    CopyTable {
        name: "batches",
        select: "SELECT tenant, scan_id, seq, facts FROM batches",
        columns: "tenant, scan_id, seq, facts",
        view_column: None,
    },
    CopyTable {
        name: "facts",
        select: "SELECT tenant, account, subject, kind, scan_id, agent, api_call, observed_at_ms,
                        body FROM facts",
        columns: "tenant, account, subject, kind, scan_id, agent, api_call, observed_at_ms, body",
        view_column: None,
    },
    CopyTable {
        name: "stores",
        select: "SELECT tenant, id, provider, account, name, region, country, eu, custody,
                        custody_rank, classification, process, jurisdiction, cloud_act,
                        replicated_outside_eu, bytes, objects, view, first_seen_ms,
                        last_seen_ms, gone_at_ms, last_scan_id, kind, unknown_dims FROM stores",
        columns: "tenant, id, provider, account, name, region, country, eu, custody,
                  custody_rank, classification, process, jurisdiction, cloud_act,
                  replicated_outside_eu, bytes, objects, view, first_seen_ms, last_seen_ms,
                  gone_at_ms, last_scan_id, kind, unknown_dims, provider_parent, sov2, sov3",
        view_column: Some(17),
    },
    CopyTable {
        name: "account_claims",
        select: "SELECT tenant, account, first_seen_ms FROM account_claims",
        columns: "tenant, account, first_seen_ms",
        view_column: None,
    },
    CopyTable {
        name: "account_generations",
        select: "SELECT DISTINCT tenant, account, 1 FROM facts",
        columns: "tenant, account, generation",
        view_column: None,
    },
    CopyTable {
        name: "changes",
        select: "SELECT tenant, id, store_id, at_ms, scan_id, event FROM changes ORDER BY id",
        columns: "tenant, id, store_id, at_ms, scan_id, event",
        view_column: None,
    },
    CopyTable {
        name: "tokens",
        select: "SELECT id, hash, role, tenant, name, created_at_ms, revoked_at_ms, expires_at_ms
                 FROM tokens ORDER BY id",
        columns: "id, hash, role, tenant, name, created_at_ms, revoked_at_ms, expires_at_ms",
        view_column: None,
    },
    CopyTable {
        name: "sessions",
        select: "SELECT id_hash, token_id, created_at_ms, expires_at_ms, ended_at_ms
                 FROM sessions",
        columns: "id_hash, token_id, created_at_ms, expires_at_ms, ended_at_ms",
        view_column: None,
    },
    CopyTable {
        name: "revoked_certificates",
        select: "SELECT serial, tenant, agent, revoked_at_ms FROM revoked_certificates",
        columns: "serial, tenant, agent, revoked_at_ms",
        view_column: None,
    },
    CopyTable {
        name: "enrolment_tokens",
        select: "SELECT id, hash, tenant, agent, created_at_ms, expires_at_ms, used_at_ms,
                        used_serial FROM enrolment_tokens ORDER BY id",
        columns: "id, hash, tenant, agent, created_at_ms, expires_at_ms, used_at_ms, used_serial",
        view_column: None,
    },
    CopyTable {
        name: "agent_certificates",
        select: "SELECT serial, tenant, agent, issued_at_ms, not_after_ms, renewed_from
                 FROM agent_certificates",
        columns: "serial, tenant, agent, issued_at_ms, not_after_ms, renewed_from",
        view_column: None,
    },
    CopyTable {
        name: "audit_log",
        select: "SELECT id, at_ms, token_id, role, tenant, method, request, rows, outcome
                 FROM audit_log ORDER BY id",
        columns: "id, at_ms, token_id, role, tenant, method, request, rows, outcome",
        view_column: None,
    },
    CopyTable {
        name: "reports",
        select: "SELECT tenant, id, issued_at_ms, figures FROM reports ORDER BY id",
        columns: "tenant, id, issued_at_ms, figures",
        view_column: None,
    },
    CopyTable {
        name: "meta",
        select: "SELECT key, value FROM meta WHERE key = 'interpretation'",
        columns: "key, value",
        view_column: None,
    },
];

/// Tables whose copied rows must be all the target has: the map is moved into an empty one.
const MUST_BE_EMPTY: [&str; 5] = ["scans", "facts", "stores", "tokens", "changes"];

/// Bytes of COPY text sent per message.
const CHUNK: usize = 1 << 20;

/// Rows copied, per table, in copy order.
pub type CopyCounts = Vec<(&'static str, u64)>;

fn refused(why: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(BackendError {
        message: why.to_string(),
        code: None,
    })
}

impl PostgresStore {
    /// Copies the whole map in the SQLite file at `source` (which must exist; it is migrated
    /// to the current schema first) into this database, which must hold no map yet.
    pub fn import_sqlite(&self, source: &Path) -> Result<CopyCounts, StoreError> {
        if !source.exists() {
            return Err(refused(format_args!("{}: no such file", source.display())));
        }
        // Opening migrates the file to the schema this build writes (the same numbering).
        drop(crate::store::sqlite::SqliteStore::open(source)?);
        let sqlite = rusqlite::Connection::open_with_flags(
            source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut client = self.client()?;
        let tx = self.block(client.transaction())?;
        for table in MUST_BE_EMPTY {
            let any = self.block(tx.query_opt(&format!("SELECT 1 FROM {table} LIMIT 1"), &[]))?;
            if any.is_some() {
                return Err(refused(format_args!(
                    "the target database already holds a map (table {table} is not empty)"
                )));
            }
        }
        // A reading transaction: one consistent view of the file, even if a collector
        // still writes to it.
        sqlite.execute_batch("BEGIN")?;
        let mut counts = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let mut stmt = sqlite.prepare(table.select)?;
            let width = stmt.column_count();
            let mut rows = stmt.query([])?;
            let sink = self.block(tx.copy_in(&format!(
                "COPY {} ({}) FROM STDIN",
                table.name, table.columns
            )))?;
            futures::pin_mut!(sink);
            let mut text = String::with_capacity(CHUNK + 4096);
            let mut n = 0u64;
            while let Some(row) = rows.next()? {
                table.copy_text_row(&mut text, row, width)?;
                n += 1;
                if text.len() >= CHUNK {
                    let chunk = Bytes::from(std::mem::take(&mut text));
                    self.block(sink.send(chunk))?;
                }
            }
            if !text.is_empty() {
                self.block(sink.send(Bytes::from(text)))?;
            }
            let copied = self.block(sink.as_mut().finish())?;
            debug_assert_eq!(copied, n);
            counts.push((table.name, n));
        }
        sqlite.execute_batch("COMMIT")?;
        // Identities and the change counter go on after the copied ids.
        self.block(tx.batch_execute(
            "SELECT setval(pg_get_serial_sequence('scans', 'seq'),
                           COALESCE((SELECT MAX(seq) FROM scans), 0) + 1, false);
             SELECT setval(pg_get_serial_sequence('tokens', 'id'),
                           COALESCE((SELECT MAX(id) FROM tokens), 0) + 1, false);
             SELECT setval(pg_get_serial_sequence('enrolment_tokens', 'id'),
                           COALESCE((SELECT MAX(id) FROM enrolment_tokens), 0) + 1, false);
             SELECT setval(pg_get_serial_sequence('audit_log', 'id'),
                           COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1, false);
             SELECT setval(pg_get_serial_sequence('reports', 'id'),
                           COALESCE((SELECT MAX(id) FROM reports), 0) + 1, false);
             UPDATE change_head SET last_id = COALESCE((SELECT MAX(id) FROM changes), 0);",
        ))?;
        self.block(tx.commit())?;
        Ok(counts)
    }
}

/// A table as `db copy` moves it (the benchmark's raw-COPY reference renders the same rows
/// the same way).
pub fn copy_table(name: &str) -> Option<&'static CopyTable> {
    TABLES.iter().find(|t| t.name == name)
}

impl CopyTable {
    /// The SQLite SELECT, in copy order.
    pub fn select(&self) -> &'static str {
        self.select
    }

    /// The PostgreSQL columns a COPY of [`CopyTable::copy_text_row`]'s lines fills.
    pub fn columns(&self) -> &'static str {
        self.columns
    }

    /// Appends one row of the table's SELECT (`width` columns) to `out` as a line of COPY's
    /// text format, with the view dimensions read from its view where the table has them.
    pub fn copy_text_row(
        &self,
        out: &mut String,
        row: &rusqlite::Row<'_>,
        width: usize,
    ) -> Result<(), StoreError> {
        for i in 0..width {
            if i > 0 {
                out.push('\t');
            }
            copy_value(out, row.get_ref(i)?);
        }
        if let Some(column) = self.view_column {
            let body = row.get_ref(column)?.as_blob().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(column, Type::Blob, Box::new(e))
            })?;
            let view = StoreView::decode(body)?;
            let dims = ViewDims::of(&view);
            out.push('\t');
            copy_value(out, ValueRef::Text(dims.provider_parent.as_bytes()));
            for level in [dims.sov2, dims.sov3] {
                out.push('\t');
                copy_value(
                    out,
                    level.map_or(ValueRef::Null, |l| ValueRef::Integer(l.into())),
                );
            }
        }
        out.push('\n');
        Ok(())
    }
}

/// One value in COPY's text format: `\N` for NULL, bytea as escaped hex, text escaped.
fn copy_value(out: &mut String, value: ValueRef<'_>) {
    use std::fmt::Write as _;
    match value {
        ValueRef::Null => out.push_str("\\N"),
        ValueRef::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::Real(r) => {
            let _ = write!(out, "{r}");
        }
        ValueRef::Text(t) => {
            for c in String::from_utf8_lossy(t).chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
        }
        ValueRef::Blob(b) => {
            // bytea's hex input `\x...`, its backslash escaped for COPY.
            out.push_str("\\\\x");
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_would_misread() {
        let mut out = String::new();
        copy_value(&mut out, ValueRef::Text(b"a\tb\\c\nd"));
        out.push('|');
        copy_value(&mut out, ValueRef::Blob(&[0, 0xab]));
        out.push('|');
        copy_value(&mut out, ValueRef::Null);
        out.push('|');
        copy_value(&mut out, ValueRef::Integer(-5));
        assert_eq!(out, "a\\tb\\\\c\\nd|\\\\x00ab|\\N|-5");
    }
}
