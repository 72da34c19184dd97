//! `landmeter db migrate | copy | backup`: the map's database on the collector host.

use anyhow::Context;
use clap::Subcommand;

use crate::store;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the schema migrations a database lacks (`serve` does this at start too) and
    /// print the schema version it is at.
    Migrate {
        /// A SQLite file (`map.db`, `sqlite:map.db`) or a `postgres://` URL.
        #[arg(long, env = "LANDMETER_DATABASE")]
        db: String,
    },
    /// Copy a whole map (facts, stores, scans, changes, tokens, audit log, reports) from a
    /// SQLite file into an empty PostgreSQL database, in one transaction. Stop the
    /// collector writing to the file first, or copy a backup of it.
    Copy {
        /// The SQLite file (`map.db`, `sqlite:map.db`).
        #[arg(long)]
        from: String,
        /// The PostgreSQL database (`postgres://user@host:5432/name`), migrated and empty.
        #[arg(long)]
        to: String,
    },
    /// Write a consistent copy of a SQLite map while the collector runs (one read
    /// transaction; the copy is created 0600). PostgreSQL: use pg_dump.
    Backup {
        /// The SQLite file (`map.db`, `sqlite:map.db`).
        #[arg(long, env = "LANDMETER_DATABASE")]
        db: String,
        /// The backup file to create (must not exist).
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

pub(super) fn run(cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Migrate { db } => {
            let shown = store::redacted_url(&db);
            let version = store::migrate(&db).with_context(|| format!("migrating {shown}"))?;
            println!("{shown}: schema version {version}");
        }
        DbCommand::Copy { from, to } => {
            let (shown_from, shown_to) = (store::redacted_url(&from), store::redacted_url(&to));
            let counts = store::copy(&from, &to)
                .with_context(|| format!("copying {shown_from} to {shown_to}"))?;
            for (table, rows) in counts {
                println!("{table}: {rows} rows");
            }
            println!("copied {shown_from} to {shown_to}");
        }
        DbCommand::Backup { db, out } => {
            let shown = store::redacted_url(&db);
            store::backup(&db, &out)
                .with_context(|| format!("backing up {shown} to {}", out.display()))?;
            println!("backed up {shown} to {}", out.display());
        }
    }
    Ok(())
}
