//! `landmeter-bench`: the collector measured side by side in one run, on one machine.
//!
//! # Layout
//! - [`estate`]: the synthetic estate (accounts of 1,000 buckets, three facts each).
//! - [`collector`]: the real collector served in-process, agents and an operator client
//!   speaking gRPC to it over loopback.
//! - [`raw`]: the reference: a raw SQLite bulk insert of the same rows.
//! - [`raw_copy`]: PostgreSQL's reference: the same rows, COPYed by `psql`.
//! - [`measure`]: latency percentiles, peak memory, the results table.
//!
//! Scenarios: ingest from 1 and from 8 agents against the raw insert; filtered ListStores and
//! Summary on maps of growing size; the time a change takes to reach a Watch subscriber.

mod collector;
mod estate;
mod measure;
mod raw;
mod raw_copy;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tokio_stream::StreamExt;

use landmeter_collector::store::Durability;
use landmeter_proto::v1::{Custody, ListStoresRequest, StoreFilter, SummaryRequest, WatchRequest};

use collector::Collector;
use measure::{Latencies, Row, Sampler, Table};

#[derive(Parser, Debug)]
#[command(about = "Collector benchmark: ingest vs raw SQLite, queries, watch latency")]
struct Args {
    /// Stores in the ingest scenarios and in the largest queried map (multiple of 1,000).
    #[arg(long, default_value_t = 1_000_000)]
    stores: u64,
    /// Smaller maps to query besides the ingested one.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    query_sizes: Vec<u64>,
    /// Skip the single-agent ingest (it streams the whole estate a second time).
    #[arg(long)]
    skip_single_agent: bool,
    /// Collector durability: full or normal (default: the collector's default).
    #[arg(long)]
    durability: Option<String>,
    /// Small scans watched for the change latency.
    #[arg(long, default_value_t = 200)]
    watch_scans: u32,
    /// Where the temporary databases go (removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Measure PostgreSQL instead of SQLite: a server URL whose database the bench may use to
    /// create (and afterwards drop) `lm_bench_<pid>`; ingest through two collectors on it,
    /// queries, and Watch across collectors.
    #[arg(long)]
    postgres: Option<String>,
    /// With --postgres: keep the database afterwards (its name is printed), to look into it.
    #[arg(long)]
    keep: bool,
    /// With --postgres: no raw-COPY reference (it renders every row to text files first:
    /// about 4 GB per million stores).
    #[arg(long)]
    no_raw_copy: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.stores >= estate::STORES_PER_ACCOUNT
            && args.stores.is_multiple_of(estate::STORES_PER_ACCOUNT),
        "--stores must be a multiple of {}",
        estate::STORES_PER_ACCOUNT
    );
    let durability = match args.durability.as_deref() {
        None => Durability::default(),
        Some("full") => Durability::Full,
        Some("normal") => Durability::Normal,
        Some(other) => anyhow::bail!("--durability {other:?}: full or normal"),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args, durability))
}

async fn run(args: Args, durability: Durability) -> anyhow::Result<()> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("landmeter-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = match &args.postgres {
        Some(url) => postgres_scenarios(&args, durability, url, &dir).await,
        None => scenarios(&args, durability, &dir).await,
    };
    let _ = std::fs::remove_dir_all(&dir);
    let table = result?;
    println!("{}", table.markdown());
    Ok(())
}

async fn scenarios(
    args: &Args,
    durability: Durability,
    dir: &std::path::Path,
) -> anyhow::Result<Table> {
    let mut table = Table::default();
    let accounts = args.stores / estate::STORES_PER_ACCOUNT;
    let total_facts = args.stores * estate::FACTS_PER_STORE;
    eprintln!(
        "estate: {} stores in {accounts} accounts, {total_facts} facts, durability {:?}",
        args.stores, durability
    );

    // The references first: raw bulk inserts of the same rows into the same schema.
    let mut raw_rates = Vec::new();
    for (rows, label) in [
        (
            raw::Rows::Everything,
            "every row the ingest writes (facts, batch markers, scans, stores, change events)",
        ),
        (raw::Rows::Facts, "the fact rows only"),
    ] {
        measure::reset_peak_rss();
        let db = dir.join("raw.db");
        let raw = raw::bulk_insert(&db, accounts, durability, rows)?;
        remove_db(&db);
        let rate = raw.facts as f64 / raw.elapsed.as_secs_f64();
        eprintln!(
            "raw insert ({rows:?}): {} rows in {:.1?}",
            raw.rows, raw.elapsed
        );
        table.push(Row::figure(
            format!(
                "raw SQLite insert of {label}: {} rows, transactions of 20,000 stores",
                measure::thousands(raw.rows as f64)
            ),
            format!("{} facts/s", measure::thousands(rate)),
            "reference",
            None,
        ));
        table.push(Row::figure(
            "  peak RSS (whole process)",
            measure::peak_rss(),
            "",
            None,
        ));
        raw_rates.push(rate);
    }
    let (raw_rate, raw_facts_rate) = (raw_rates[0], raw_rates[1]);

    if !args.skip_single_agent {
        measure::reset_peak_rss();
        let db = dir.join("one-agent.db");
        let c = Collector::start(collector::config(&db, durability)).await?;
        let started = Instant::now();
        let facts = collector::ingest(&c, 1, accounts).await?;
        let elapsed = started.elapsed();
        c.stop().await?;
        remove_db(&db);
        let rate = facts as f64 / elapsed.as_secs_f64();
        eprintln!("ingest, 1 agent: {facts} facts in {elapsed:.1?}");
        table.push(Row::figure(
            format!("ingest, 1 agent, {} stores ({elapsed:.0?})", args.stores),
            format!(
                "{} facts/s = {:.2}x raw (every row), {:.2}x raw (fact rows only)",
                measure::thousands(rate),
                rate / raw_rate,
                rate / raw_facts_rate
            ),
            "",
            None,
        ));
        table.push(Row::figure(
            "  peak RSS (whole process)",
            measure::peak_rss(),
            "",
            None,
        ));
    }

    measure::reset_peak_rss();
    let big_db = dir.join("map-big.db");
    let big = Collector::start(collector::config(&big_db, durability)).await?;
    let started = Instant::now();
    let facts = collector::ingest(&big, 8, accounts).await?;
    let elapsed = started.elapsed();
    let rate = facts as f64 / elapsed.as_secs_f64();
    eprintln!("ingest, 8 agents: {facts} facts in {elapsed:.1?}");
    table.push(Row::figure(
        format!("ingest, 8 agents, {} stores ({elapsed:.0?})", args.stores),
        format!("{} facts/s", measure::thousands(rate)),
        ">= 100,000 facts/s",
        Some(rate >= 100_000.0),
    ));
    table.push(Row::figure(
        "  ingest (8 agents) / raw insert of every row the ingest writes",
        format!("{:.2}x", rate / raw_rate),
        ">= 0.5x",
        Some(rate / raw_rate >= 0.5),
    ));
    table.push(Row::figure(
        "  ingest (8 agents) / raw insert of the fact rows only",
        format!("{:.2}x", rate / raw_facts_rate),
        "(shown; the reference of earlier runs)",
        None,
    ));
    table.push(Row::figure(
        "  peak RSS (whole process)",
        measure::peak_rss(),
        "",
        None,
    ));

    // Queries on maps of growing size; the largest is the one the ingest built.
    let mut sizes: Vec<u64> = args
        .query_sizes
        .iter()
        .copied()
        .filter(|s| *s < args.stores && s.is_multiple_of(estate::STORES_PER_ACCOUNT))
        .collect();
    sizes.sort_unstable();
    for size in sizes {
        let db = dir.join(format!("map-{size}.db"));
        let c = Collector::start(collector::config(&db, durability)).await?;
        collector::ingest(&c, 8, size / estate::STORES_PER_ACCOUNT).await?;
        let target = Duration::from_millis(200);
        queries(&c, size, size == args.stores, target, "", &mut table).await?;
        dashboard(&db.display().to_string(), size, "", &mut table).await?;
        c.stop().await?;
        remove_db(&db);
    }
    let target = Duration::from_millis(200);
    queries(
        &big,
        args.stores,
        args.stores >= 1_000_000,
        target,
        "",
        &mut table,
    )
    .await?;
    dashboard(&big_db.display().to_string(), args.stores, "", &mut table).await?;

    watch(&big, &big, args.watch_scans, "", &mut table).await?;
    big.stop().await?;
    Ok(table)
}

/// Runs `psql` on `url` (the bench creates and drops its databases, and times its raw
/// references, with the server's own client, no driver of its own): each command in turn,
/// stopping at the first error; `single_transaction` wraps them in one. Returns its output.
fn psql_commands(url: &str, single_transaction: bool, commands: &[&str]) -> anyhow::Result<String> {
    let mut psql = std::process::Command::new("psql");
    psql.args([url, "-v", "ON_ERROR_STOP=1", "-q"]);
    if single_transaction {
        psql.arg("-1");
    }
    for command in commands {
        psql.args(["-c", command]);
    }
    let out = psql
        .output()
        .context("running psql (PostgreSQL's client)")?;
    anyhow::ensure!(
        out.status.success(),
        "psql {:?}: {}",
        commands.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    psql_commands(url, false, &[sql]).map(drop)
}

/// The summary by country and custody as one GROUP BY over `stores`, `n` times through
/// `psql` with its `\timing` (the server's time plus a loopback round trip).
fn summary_from_every_store(url: &str, n: usize) -> anyhow::Result<Latencies> {
    let query = "SELECT country, custody, COUNT(*), COALESCE(SUM(bytes), 0),
                    COUNT(*) FILTER (WHERE bytes IS NULL AND unknown_dims LIKE '%,size,%')
             FROM stores WHERE gone_at_ms IS NULL GROUP BY 1, 2 ORDER BY 1, 2";
    let mut commands = vec!["\\timing on"];
    commands.extend(std::iter::repeat_n(query, n));
    let out = psql_commands(url, false, &commands)?;
    let mut times = Latencies::default();
    for line in out.lines() {
        // "Time: 1234.567 ms" (and " (00:01.235)" beyond a second)
        if let Some(ms) = line
            .strip_prefix("Time: ")
            .and_then(|t| t.split_whitespace().next())
            .and_then(|t| t.parse::<f64>().ok())
        {
            times.push(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    anyhow::ensure!(
        times.len() == n,
        "psql printed {} timings of {n}",
        times.len()
    );
    Ok(times)
}

/// PostgreSQL: 8 agents through two collectors on one fresh database, the queries on the
/// map they built, and Watch with the subscriber on one collector and the writes through
/// the other.
async fn postgres_scenarios(
    args: &Args,
    durability: Durability,
    server: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Table> {
    let name = format!("lm_bench_{}", std::process::id());
    let (base, _) = server
        .rsplit_once('/')
        .context("the PostgreSQL URL names a database: postgres://user@host:port/db")?;
    let url = format!("{base}/{name}");
    let accounts = args.stores / estate::STORES_PER_ACCOUNT;

    // The reference first, into a database of its own, dropped before the ingest starts.
    let copy_rate = if args.no_raw_copy {
        None
    } else {
        let copy_name = format!("{name}_copy");
        let copy_url = format!("{base}/{copy_name}");
        psql(server, &format!("CREATE DATABASE {copy_name}"))?;
        let copied = {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || {
                raw_copy::copy_everything(&dir, &copy_url, accounts, durability)
            })
            .await?
        };
        psql(
            server,
            &format!("DROP DATABASE IF EXISTS {copy_name} WITH (FORCE)"),
        )?;
        let copied = copied?;
        eprintln!(
            "raw COPY of every row: {} rows ({} facts) in {:.1?}",
            copied.rows, copied.facts, copied.elapsed
        );
        Some((
            copied.rows,
            copied.facts as f64 / copied.elapsed.as_secs_f64(),
        ))
    };

    psql(server, &format!("CREATE DATABASE {name}"))?;
    let result = async {
        let mut table = Table::default();
        if let Some((rows, rate)) = copy_rate {
            table.push(Row::figure(
                format!(
                    "raw COPY (psql \\copy, one transaction) of every row the ingest writes \
                     (facts, batch markers, scans, stores, change events): {} rows",
                    measure::count(rows)
                ),
                format!("{} facts/s", measure::thousands(rate)),
                "reference",
                None,
            ));
        }
        let mut cfg = collector::config(std::path::Path::new(""), durability);
        cfg.database = url.clone();
        let a = Collector::start(cfg.clone()).await?;
        let b = Collector::start(cfg).await?;
        measure::reset_peak_rss();
        let started = Instant::now();
        let (fa, fb) = tokio::try_join!(
            collector::ingest_named(&a, 4, accounts, 0, 2),
            collector::ingest_named(&b, 4, accounts, 1, 2),
        )?;
        let elapsed = started.elapsed();
        let rate = (fa + fb) as f64 / elapsed.as_secs_f64();
        eprintln!(
            "postgres ingest, 8 agents via 2 collectors: {} facts in {elapsed:.1?}",
            fa + fb
        );
        table.push(Row::figure(
            format!(
                "PostgreSQL ingest, 8 agents through 2 collectors, {} stores ({elapsed:.0?})",
                args.stores
            ),
            format!("{} facts/s", measure::thousands(rate)),
            ">= 100,000 facts/s",
            Some(rate >= 100_000.0),
        ));
        if let Some((_, copy_rate)) = copy_rate {
            table.push(Row::figure(
                "  ingest (8 agents, 2 collectors) / raw COPY of every row the ingest writes",
                format!("{:.2}x", rate / copy_rate),
                ">= 0.5x",
                Some(rate / copy_rate >= 0.5),
            ));
        }
        table.push(Row::figure(
            "  peak RSS (whole process: both collectors, agents, clients)",
            measure::peak_rss(),
            "",
            None,
        ));
        // Issue 16's targets are set at 10M stores: p99 < 50 ms (list), < 500 ms (summary).
        let judged = args.stores >= 10_000_000;
        // Measured right after the ingest, then on the map at rest: its new rows vacuumed and
        // analysed, and the checkpoint that writes them out done, as on a map between scans
        // (the machine's server may run without autovacuum, as this one does).
        for label in [", right after the ingest", ", at rest"] {
            if label == ", at rest" {
                let started = Instant::now();
                let settled = psql_commands(
                    &url,
                    false,
                    &["VACUUM (ANALYZE) stores, facts, changes", "CHECKPOINT"],
                );
                if let Err(e) = settled {
                    // CHECKPOINT needs a superuser (or pg_checkpoint): no map at rest.
                    eprintln!("warning: the map was not put at rest, so not measured so: {e:#}");
                    break;
                }
                table.push(Row::figure(
                    "VACUUM (ANALYZE) stores, facts, changes; CHECKPOINT",
                    format!("{:.1?}", started.elapsed()),
                    "",
                    None,
                ));
            }
            queries(
                &a,
                args.stores,
                judged,
                Duration::from_millis(500),
                label,
                &mut table,
            )
            .await?;
            dashboard(&url, args.stores, label, &mut table).await?;
        }
        let every_store = summary_from_every_store(&url, 5)?;
        table.push(Row::figure(
            "  the same summary as one GROUP BY over every store (what refreshing a \
             materialised summary would run at each scan end; the counts replace it)",
            every_store.summary(),
            "",
            None,
        ));
        watch(
            &b,
            &a,
            args.watch_scans,
            ", across collectors (A writes, B watches)",
            &mut table,
        )
        .await?;
        a.stop().await?;
        b.stop().await?;
        Ok::<_, anyhow::Error>(table)
    }
    .await;
    // Dropped whatever happened (unless kept); FORCE ends connections the stopped collectors
    // left.
    let dropped = if args.keep {
        eprintln!("kept database {url}");
        Ok(())
    } else {
        psql(
            server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
    };
    let table = result?;
    dropped?;
    Ok(table)
}

fn remove_db(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// ListStores and Summary latencies on the map `c` serves; judged against the targets when
/// `judged` (the list's p99 < 50 ms, the summary's p99 < `summary_target`).
async fn queries(
    c: &Collector,
    size: u64,
    judged: bool,
    summary_target: Duration,
    label: &str,
    table: &mut Table,
) -> anyhow::Result<()> {
    let mut map = c.map().await?;
    let filter = StoreFilter {
        eu: Some(false),
        custody_at_most: Custody::Provider as i32,
        ..StoreFilter::default()
    };
    // Walk the filtered pages, as a client paging through the map does; wrap at the end.
    let mut token = String::new();
    let mut rows = 0usize;
    let mut list = Sampler::new(50, 300, Duration::from_secs(20));
    while list.more() {
        let t = Instant::now();
        let page = map
            .list_stores(ListStoresRequest {
                filter: Some(filter.clone()),
                page_size: 500,
                page_token: std::mem::take(&mut token),
            })
            .await?
            .into_inner();
        list.record(t.elapsed());
        anyhow::ensure!(!page.stores.is_empty(), "filtered list is empty");
        rows += page.stores.len();
        token = page.next_page_token;
    }
    let list = list.done();
    eprintln!("list on {size}: {} pages, {rows} rows", list.len());
    table.push(Row::figure(
        format!(
            "ListStores eu=false custody<=provider, page 500, {} map{label}",
            measure::count(size)
        ),
        list.summary(),
        if judged { "p99 < 50 ms" } else { "" },
        judged.then(|| list.p(0.99) < Duration::from_millis(50)),
    ));
    let mut summary = Sampler::new(20, 100, Duration::from_secs(20));
    while summary.more() {
        let t = Instant::now();
        let rows = map
            .summary(SummaryRequest {
                filter: None,
                group_by: vec!["country".into(), "custody".into()],
            })
            .await?
            .into_inner()
            .rows;
        summary.record(t.elapsed());
        anyhow::ensure!(!rows.is_empty(), "empty summary");
    }
    let summary = summary.done();
    let total: u64 = map
        .summary(SummaryRequest {
            filter: None,
            group_by: vec![],
        })
        .await?
        .into_inner()
        .rows
        .iter()
        .map(|r| r.stores)
        .sum();
    anyhow::ensure!(total == size, "map of {size} holds {total} stores");
    table.push(Row::figure(
        format!(
            "Summary by country,custody, {} map{label}",
            measure::count(size)
        ),
        summary.summary(),
        if judged {
            format!("< {} ms (p99)", summary_target.as_millis())
        } else {
            String::new()
        },
        judged.then(|| summary.p(0.99) < summary_target),
    ));
    Ok(())
}

/// The dashboard (`GET /v1/dashboard`'s document: every dimension's table, the indicators,
/// the cost) for an admin and for the pool, computed on a store of its own opened on the
/// same database, as a collector serving the page does. Not judged: issue 16 asks that it
/// "stay fast" with no figure, so it is reported beside the summary's target.
async fn dashboard(
    database: &str,
    size: u64,
    label: &str,
    table: &mut Table,
) -> anyhow::Result<()> {
    use landmeter_collector::api::insight;
    use landmeter_collector::map::exit::PriceTable;
    use landmeter_collector::store::Scope;
    let store = landmeter_collector::store::open(database, Durability::default())?;
    let prices = Arc::new(PriceTable::builtin()?);
    // The pool's dashboard is its release: every table made from the stores per tenant,
    // then suppressed; k = 1 so that the bench's one tenant gets the whole release computed.
    for (who, scope) in [
        ("admin", Scope::AllTenants),
        ("pool, k = 1", Scope::Pool { min_tenants: 1 }),
    ] {
        let (store, prices) = (Arc::clone(&store), Arc::clone(&prices));
        let latencies = tokio::task::spawn_blocking(move || {
            let mut sampler = Sampler::new(5, 50, Duration::from_secs(20));
            while sampler.more() {
                let t = Instant::now();
                let page = insight::dashboard(
                    store.as_ref(),
                    &scope,
                    &StoreFilter::default(),
                    &prices,
                    landmeter_collector::clock::now_ms(),
                )?;
                sampler.record(t.elapsed());
                anyhow::ensure!(
                    page["dimensions"]["sov3"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty()),
                    "a dashboard without its SOV-3 table"
                );
            }
            Ok::<_, anyhow::Error>(sampler.done())
        })
        .await??;
        table.push(Row::figure(
            format!(
                "  dashboard ({who}, every table), {} map{label}",
                measure::count(size)
            ),
            latencies.summary(),
            "",
            None,
        ));
    }
    Ok(())
}

/// Small scans of one account, each changing a bucket's tags; a Watch subscriber times the
/// change event against the ScanEnd that commits it.
/// Watch latency: a subscriber on `watcher`, small scans written through `writer` (the same
/// collector, or another one on a shared database).
async fn watch(
    watcher: &Collector,
    writer: &Collector,
    scans: u32,
    label: &str,
    table: &mut Table,
) -> anyhow::Result<()> {
    let mut map = watcher.map().await?;
    let mut events = map
        .watch(WatchRequest {
            filter: None,
            after_id: 0,
        })
        .await?
        .into_inner();
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(e) = events.next().await {
            if arrived_tx.send((Instant::now(), e)).is_err() {
                break;
            }
        }
    });
    let mut agent = writer.agent("bench-watch").await?;
    let a = 9_000_000; // an account of its own, beside the estate
    let account = estate::account_id(a);
    let mut from_end = Latencies::default();
    let mut from_ack = Latencies::default();
    let mut ack_before_event = 0;
    for round in 0..=scans {
        let scan_id = format!("watch-{round}");
        agent.begin(&scan_id, &account).await?;
        agent
            .batch(
                &scan_id,
                1,
                estate::store_facts(a, 0, u64::from(round)).to_vec(),
            )
            .await?;
        agent.ack().await?;
        let sent = Instant::now();
        agent.end(&scan_id, 1, &account).await?;
        agent.ack().await?;
        let acked = Instant::now();
        let (at, event) = tokio::time::timeout(Duration::from_secs(10), arrived.recv())
            .await
            .context("no change event within 10 s")?
            .context("watch ended")?;
        let event = event?;
        anyhow::ensure!(
            event.scan_id == scan_id,
            "event of {} for {scan_id}",
            event.scan_id
        );
        // The first round adds the bucket; later rounds change its tags.
        if round == 0 {
            continue;
        }
        from_end.push(at - sent);
        if at > acked {
            ack_before_event += 1;
            from_ack.push(at - acked);
        } else {
            from_ack.push(Duration::ZERO);
        }
    }
    reader.abort();
    table.push(Row::figure(
        format!("Watch: ScanEnd sent -> change event, {scans} scans on the big map{label}"),
        from_end.summary(),
        "< 100 ms (p99)",
        Some(from_end.p(0.99) < Duration::from_millis(100)),
    ));
    table.push(Row::figure(
        format!("  ScanEnd ack -> change event (event after ack in {ack_before_event} of {scans})"),
        from_ack.summary(),
        "",
        None,
    ));
    Ok(())
}
