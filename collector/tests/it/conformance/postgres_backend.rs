//! What only the PostgreSQL backend promises beyond the shared behaviours: several stores
//! (collector processes) on one database, the database-side check of scan-end plans, change
//! ids in commit order, verified TLS, and use from inside an async runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use landmeter_collector::store::{
    self, AccountPlanner, AccountSnapshot, AccountWrites, BatchOutcome, EncodedView, GroupField,
    MapStore, PendingChange, Scope,
};
use landmeter_proto::v1::{
    AccountCoverage, ChangeEvent, ChangeKind, Fact, FactsBatch, ScanBegin, ScanEnd, Store,
    StoreFilter, StoreView, fact::Body,
};

use super::database::TestDatabase;

fn open(db: &TestDatabase) -> Arc<dyn MapStore> {
    store::open(db.url(), Default::default()).expect("open postgres store")
}

fn bucket(account: &str, name: &str) -> Fact {
    Fact {
        account: account.into(),
        subject: name.into(),
        api_call: "s3:ListBuckets".into(),
        observed_at_ms: 1,
        body: Some(Body::Store(Store {
            provider: "aws".into(),
            name: name.into(),
            region: "eu-west-3".into(),
            ..Store::default()
        })),
    }
}

fn begin(s: &dyn MapStore, scan: &str, account: &str) {
    s.begin_scan(
        "t",
        "agent",
        &ScanBegin {
            scan_id: scan.into(),
            started_at_ms: 1,
            accounts: vec![account.into()],
            provider: "aws".into(),
            ..ScanBegin::default()
        },
    )
    .expect("begin");
}

fn batch(scan: &str, seq: u64, facts: Vec<Fact>) -> FactsBatch {
    FactsBatch {
        scan_id: scan.into(),
        seq,
        facts,
    }
}

fn end(scan: &str, account: &str, batches: u64) -> ScanEnd {
    ScanEnd {
        scan_id: scan.into(),
        batches,
        coverage: vec![AccountCoverage {
            account: account.into(),
            complete: true,
            ..AccountCoverage::default()
        }],
        ..ScanEnd::default()
    }
}

/// A stand-in for the scan-end use case: a store per Store fact of its scan, gone marks for
/// present stores not seen, an event per write. Counts its calls; `on_first_call` runs
/// inside the first one (while the backend holds its snapshot).
struct Planner<'a> {
    scan_id: String,
    calls: AtomicUsize,
    on_first_call: Option<Box<dyn Fn() + Sync + 'a>>,
}

impl<'a> Planner<'a> {
    fn new(scan_id: &str) -> Self {
        Self {
            scan_id: scan_id.into(),
            calls: AtomicUsize::new(0),
            on_first_call: None,
        }
    }
}

fn event(kind: ChangeKind, v: &StoreView) -> PendingChange {
    PendingChange::new(ChangeEvent {
        tenant: v.tenant.clone(),
        store_id: v.id.clone(),
        kind: kind as i32,
        store: Some(v.clone()),
        ..ChangeEvent::default()
    })
}

impl AccountPlanner for Planner<'_> {
    fn plan(&self, s: AccountSnapshot<'_>) -> AccountWrites {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(hook) = &self.on_first_call
        {
            hook();
        }
        let mut w = AccountWrites::default();
        let mut seen = Vec::new();
        for f in s.facts.iter().filter(|f| f.scan_id == self.scan_id) {
            if let Some(Body::Store(st)) = &f.fact.body {
                let v = StoreView {
                    id: format!("{}:{}", s.account, st.name),
                    tenant: s.tenant.into(),
                    account: s.account.into(),
                    name: st.name.clone(),
                    region: st.region.clone(),
                    ..StoreView::default()
                };
                if !s
                    .views
                    .iter()
                    .any(|p| p.id == v.id && p.gone_at_ms.is_none())
                {
                    w.changes.push(event(ChangeKind::Added, &v));
                }
                seen.push(v.id.clone());
                w.seen.push(EncodedView::new(v));
            }
        }
        for v in s.views.iter().filter(|v| v.gone_at_ms.is_none()) {
            if !seen.contains(&v.id) {
                w.gone.push(v.id.clone());
                w.changes.push(event(ChangeKind::Gone, v));
            }
        }
        w
    }
}

fn names(s: &dyn MapStore) -> Vec<String> {
    store::all_stores(s, &Scope::AllTenants, &Default::default())
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect()
}

#[test]
fn a_scan_begun_through_one_collector_is_finished_through_another() {
    let db = TestDatabase::create();
    let (a, b) = (open(&db), open(&db));
    begin(a.as_ref(), "s1", "acct");
    let first = batch("s1", 1, vec![bucket("acct", "x")]);
    assert_eq!(
        a.commit_batch("t", "agent", &first).expect("via a"),
        BatchOutcome::Committed
    );
    // Resent to the other collector after a failover: a duplicate, not a second copy.
    assert_eq!(
        b.commit_batch("t", "agent", &first).expect("resent via b"),
        BatchOutcome::Duplicate
    );
    let second = batch("s1", 2, vec![bucket("acct", "y")]);
    assert_eq!(
        b.commit_batch("t", "agent", &second).expect("via b"),
        BatchOutcome::Committed
    );
    assert_eq!(a.last_seq("t", "s1").expect("seq"), 2);
    let planner = Planner::new("s1");
    let out = b
        .finish_scan("t", "agent", &end("s1", "acct", 2), 10, &planner)
        .expect("end via b");
    assert_eq!(out.stores_interpreted, 2);
    // The ScanEnd resent to the first collector: already finished, nothing written twice.
    let again = a
        .finish_scan("t", "agent", &end("s1", "acct", 2), 11, &planner)
        .expect("end again via a");
    assert!(again.already_finished);
    assert_eq!(names(a.as_ref()), ["x", "y"]);
    let changes = a
        .list_changes(&Scope::AllTenants, 0, 0, 100, &Default::default())
        .expect("changes");
    assert_eq!(changes.len(), 2);
}

#[test]
fn a_plan_made_stale_by_a_commit_is_refused_by_the_database_and_redone() {
    let db = TestDatabase::create();
    let (a, b) = (open(&db), open(&db));
    begin(a.as_ref(), "s1", "acct");
    a.commit_batch("t", "agent", &batch("s1", 1, vec![bucket("acct", "x")]))
        .expect("s1 batch");
    // Unchanged since its snapshot: the plan is used, the planner asked once.
    let planner = Planner::new("s1");
    a.finish_scan("t", "agent", &end("s1", "acct", 1), 10, &planner)
        .expect("end s1");
    assert_eq!(planner.calls.load(Ordering::SeqCst), 1);

    begin(a.as_ref(), "s2", "acct");
    a.commit_batch("t", "agent", &batch("s2", 1, vec![bucket("acct", "y")]))
        .expect("s2 batch");
    begin(b.as_ref(), "s3", "acct");
    // While s2's end is planned on its snapshot, another collector commits a batch of
    // another scan for the same account: the generation moved, the plan is refused.
    let mut planner = Planner::new("s2");
    let b2 = Arc::clone(&b);
    planner.on_first_call = Some(Box::new(move || {
        let out = b2
            .commit_batch("t", "agent", &batch("s3", 1, vec![bucket("acct", "z")]))
            .expect("s3 batch during the plan");
        assert_eq!(out, BatchOutcome::Committed);
    }));
    let out = a
        .finish_scan("t", "agent", &end("s2", "acct", 1), 20, &planner)
        .expect("end s2");
    assert_eq!(
        planner.calls.load(Ordering::SeqCst),
        2,
        "planned on the snapshot, then again in the write transaction"
    );
    assert_eq!((out.stores_interpreted, out.stores_gone), (1, 1));
    assert_eq!(names(a.as_ref()), ["y"]);
}

#[test]
fn concurrent_batches_and_scan_ends_through_two_collectors_keep_every_fact_and_change() {
    const THREADS: usize = 6;
    const BATCHES: u64 = 20;
    const PER_BATCH: usize = 25;
    let db = TestDatabase::create();
    let stores = [open(&db), open(&db)];
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let s = Arc::clone(&stores[t % 2]);
            let other = Arc::clone(&stores[(t + 1) % 2]);
            scope.spawn(move || {
                let (scan, account) = (format!("scan-{t}"), format!("acct-{t}"));
                begin(s.as_ref(), &scan, &account);
                for seq in 1..=BATCHES {
                    let facts = (0..PER_BATCH)
                        .map(|i| bucket(&account, &format!("b-{t}-{seq}-{i}")))
                        .collect();
                    let out = s.commit_batch("t", "agent", &batch(&scan, seq, facts));
                    assert_eq!(out.expect("commit"), BatchOutcome::Committed);
                    // Committed when acknowledged: the other collector sees it at once.
                    assert_eq!(other.last_seq("t", &scan).expect("seq"), seq);
                }
                let planner = Planner::new(&scan);
                let out = other
                    .finish_scan("t", "agent", &end(&scan, &account, BATCHES), 5, &planner)
                    .expect("end");
                assert_eq!(out.stores_interpreted, BATCHES as usize * PER_BATCH);
            });
        }
    });
    let total = THREADS * BATCHES as usize * PER_BATCH;
    assert_eq!(names(stores[0].as_ref()).len(), total);
    let changes = stores[1]
        .list_changes(&Scope::AllTenants, 0, 0, total + 10, &Default::default())
        .expect("changes");
    // Ids are gap-free and in commit order, whichever collector recorded them.
    let ids: Vec<i64> = changes.iter().map(|c| c.id).collect();
    assert_eq!(ids, (1..=total as i64).collect::<Vec<_>>());
}

/// Summaries without an account read the counts the triggers of migration 0014 keep: through
/// stores added, a store gone and a scan that changes nothing, before and after the deltas
/// are folded, they equal the stores counted one by one, and the summary by account (which
/// reads `stores` itself).
#[test]
fn summaries_from_the_counts_equal_the_stores_before_and_after_a_fold() {
    let db = TestDatabase::create();
    let pg = store::postgres::PostgresStore::open(db.url(), Default::default()).expect("open");
    let s: &dyn MapStore = &pg;
    let scan = |id: &str, stores: &[(&str, &str)]| {
        begin(s, id, "acct");
        let facts = stores
            .iter()
            .map(|(name, region)| {
                let mut f = bucket("acct", name);
                if let Some(Body::Store(st)) = &mut f.body {
                    st.region = (*region).into();
                }
                f
            })
            .collect();
        s.commit_batch("t", "agent", &batch(id, 1, facts))
            .expect("batch");
        s.finish_scan("t", "agent", &end(id, "acct", 1), 10, &Planner::new(id))
            .expect("end");
    };
    scan(
        "s1",
        &[("x", "eu-west-3"), ("y", "eu-west-3"), ("z", "us-east-1")],
    );
    scan("s2", &[("x", "eu-west-3"), ("z", "us-east-1")]);
    scan("s3", &[("x", "eu-west-3"), ("z", "us-east-1")]);
    let summary = |include_gone: bool, by: GroupField| -> Vec<(Vec<String>, u64)> {
        let filter = StoreFilter {
            include_gone,
            ..StoreFilter::default()
        };
        s.summary(&Scope::AllTenants, &filter, &[by])
            .expect("summary")
            .into_iter()
            .map(|r| (r.keys, r.stores))
            .collect()
    };
    let counted_one_by_one = |include_gone: bool| -> Vec<(Vec<String>, u64)> {
        let filter = StoreFilter {
            include_gone,
            ..StoreFilter::default()
        };
        let mut by_region = std::collections::BTreeMap::<String, u64>::new();
        for v in store::all_stores(s, &Scope::AllTenants, &filter).expect("list") {
            *by_region.entry(v.region).or_default() += 1;
        }
        by_region.into_iter().map(|(r, n)| (vec![r], n)).collect()
    };
    let region = |r: &str, n: u64| (vec![r.to_owned()], n);
    let check = || {
        let present = summary(false, GroupField::Region);
        assert_eq!(present, [region("eu-west-3", 1), region("us-east-1", 1)]);
        assert_eq!(present, counted_one_by_one(false));
        let with_gone = summary(true, GroupField::Region);
        assert_eq!(with_gone, [region("eu-west-3", 2), region("us-east-1", 1)]);
        assert_eq!(with_gone, counted_one_by_one(true));
        assert_eq!(
            summary(false, GroupField::Account),
            [(vec!["acct".to_owned()], 2)]
        );
    };
    check();
    assert!(
        pg.fold_counts().expect("fold") > 0,
        "the deltas were folded"
    );
    assert_eq!(
        pg.fold_counts().expect("fold again"),
        0,
        "nothing left to fold"
    );
    check();
}

/// Migration 0015 on a map with stores: the view dimensions (provider parent, SOV-2, SOV-3),
/// which only the encoded views held before, are filled in from them, and the dashboard's
/// tables read from the counts are what they were before the columns were emptied.
#[test]
fn the_view_dimensions_migration_fills_in_the_stores_already_there() {
    use landmeter_collector::store::ViewDimension;
    let db = TestDatabase::create();
    let interpreter = landmeter_collector::server::build_interpreter(&Default::default())
        .expect("interpreter")
        .0;
    let dims = [
        ViewDimension::ProviderParent,
        ViewDimension::Sov2,
        ViewDimension::Sov3,
    ];
    let by_view = |s: &dyn MapStore| {
        s.summary_by_view(&Scope::AllTenants, &StoreFilter::default(), &dims)
            .expect("summary by view")
    };
    let filled = {
        let s = open(&db);
        begin(s.as_ref(), "s1", "acct");
        let facts = [
            ("eu", "eu-west-3"),
            ("us", "us-east-1"),
            ("nowhere", "xx-nowhere-9"),
        ]
        .iter()
        .flat_map(|(name, region)| crate::harness::bucket_in("acct", name, region, &[]))
        .collect();
        s.commit_batch("t", "agent", &batch("s1", 1, facts))
            .expect("batch");
        landmeter_collector::scan_end::finish_scan(
            s.as_ref(),
            &interpreter,
            "t",
            "agent",
            &end("s1", "acct", 1),
            10,
        )
        .expect("end");
        by_view(s.as_ref())
    };
    assert!(
        filled[0].iter().all(|r| !r.keys[0].is_empty()) && filled[0].len() == 1,
        "one parent, named: {:?}",
        filled[0]
    );
    assert!(
        filled[2].iter().any(|r| r.keys[0] != "unknown"),
        "a level: {:?}",
        filled[2]
    );
    // The database as the build before 0015 would leave it: no values in the columns (the
    // triggers move the counts with them) and the schema one migration back.
    db.execute("UPDATE stores SET provider_parent = '', sov2 = NULL, sov3 = NULL");
    let emptied = by_view(open(&db).as_ref());
    assert_ne!(emptied, filled, "the columns emptied: {emptied:?}");
    db.execute("UPDATE meta SET value = '14' WHERE key = 'schema_version'");
    let refilled = by_view(open(&db).as_ref());
    assert_eq!(refilled, filled, "filled in by the migration");
    assert_eq!(store::migrate(db.url()).expect("version"), 15);
}

#[test]
fn tls_to_the_database_is_verified() {
    // The machine's server (Debian) serves its snakeoil certificate, issued for localhost.
    let url = std::env::var("LANDMETER_TEST_PG_TLS").unwrap_or_else(|_| {
        "postgres://postgres@localhost:5432/postgres?sslmode=require\
         &sslrootcert=/etc/ssl/certs/ssl-cert-snakeoil.pem"
            .to_owned()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (config, tls) = store::postgres::tls::connect_config(&url).expect("config");
    let encrypted: bool = runtime.block_on(async {
        let (client, connection) = config
            .connect(tls)
            .await
            .unwrap_or_else(|e| panic!("TLS connection to {url}: {e}"));
        tokio::spawn(connection);
        client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl")
            .get(0)
    });
    assert!(encrypted);
    // With roots that did not issue the server's certificate, the handshake is refused.
    let other_ca = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a certificate of another issuer");
    let dir = crate::harness::temp_dir("pg-tls");
    let other_root = dir.join("other-ca.pem");
    std::fs::write(&other_root, other_ca.cert.pem()).expect("write root");
    let mut parts: Vec<String> = url
        .split('&')
        .filter(|p| !p.starts_with("sslrootcert="))
        .map(str::to_owned)
        .collect();
    parts.push(format!("sslrootcert={}", other_root.display()));
    let (config, tls) = store::postgres::tls::connect_config(&parts.join("&")).expect("config");
    let refused = runtime.block_on(config.connect(tls));
    let err = refused
        .err()
        .expect("an unverifiable certificate is refused");
    assert!(
        format!("{err:?}").contains("UnknownIssuer"),
        "refused for its certificate: {err:?}"
    );
}

#[test]
fn used_and_dropped_inside_an_async_runtime() {
    let db = TestDatabase::create();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Called from a task of another runtime (not only from spawn_blocking): the
        // backend's own runtime does the I/O, so this thread waiting on it is no deadlock.
        let s = open(&db);
        begin(s.as_ref(), "s1", "acct");
        assert_eq!(s.last_seq("t", "s1").expect("seq"), 0);
        drop(s);
    });
}

/// Runs the `landmeter` binary; its standard output, or the test fails with its errors.
async fn landmeter(args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
        .args(args)
        .output()
        .await
        .expect("run landmeter");
    assert!(
        out.status.success(),
        "landmeter {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_copied_from_sqlite_is_served_the_same_and_ingest_goes_on_there() {
    use crate::harness::{ACCOUNT, Collector, bucket, temp_dir};
    use landmeter_collector::config::CollectorConfig;
    use landmeter_collector::store::ViewDimension;
    use landmeter_proto::v1::collector_message::Msg;

    // A SQLite map made through a collector, as in production: two scans, one store gone.
    let dir = temp_dir("pg-copy-source");
    let source = Collector::start_in(
        dir.clone(),
        CollectorConfig {
            insecure_plaintext: true,
            ..CollectorConfig::default()
        },
    )
    .await;
    let mut a = source.agent("agent-1").await;
    for (scan, names) in [("s1", ["keep", "leaves"]), ("s2", ["keep", "arrives"])] {
        a.begin(scan).await;
        let facts = names
            .iter()
            .flat_map(|n| bucket(n, "eu-west-3", &[("classification", "bbn2")]))
            .collect();
        a.batch(scan, 1, facts).await;
        assert!(matches!(a.next().await, Msg::Ack(_)));
        a.end(scan, 1, true).await;
        assert!(matches!(a.next().await, Msg::Ack(_)));
    }
    drop(a);

    let db = TestDatabase::create();
    let copied = landmeter(&[
        "db",
        "copy",
        "--from",
        &format!("sqlite:{}", dir.join("map.db").display()),
        "--to",
        db.url(),
    ])
    .await;
    assert!(copied.contains("stores: 3 rows"), "{copied}");
    assert!(copied.contains("changes: 4 rows"), "{copied}");
    let migrated = landmeter(&["db", "migrate", "--db", db.url()]).await;
    assert!(migrated.contains("schema version 15"), "{migrated}");

    let target = Collector::start_in(
        temp_dir("pg-copy-target"),
        CollectorConfig {
            insecure_plaintext: true,
            database: db.url().to_owned(),
            ..CollectorConfig::default()
        },
    )
    .await;
    let stores_json = |c: &Collector| {
        let (url, token) = (c.url.clone(), c.admin_token.clone());
        async move {
            landmeter(&[
                "stores",
                "--format",
                "json",
                "--include-gone",
                "--server",
                &url,
                "--token",
                &token,
            ])
            .await
        }
    };
    let from_sqlite = stores_json(&source).await;
    assert!(from_sqlite.contains("arrives"), "{from_sqlite}");
    assert_eq!(from_sqlite, stores_json(&target).await);
    let changes_json = |c: &Collector| {
        let (url, token) = (c.url.clone(), c.admin_token.clone());
        async move {
            landmeter(&[
                "changes", "--since", "0", "--format", "json", "--server", &url, "--token", &token,
            ])
            .await
        }
    };
    assert_eq!(changes_json(&source).await, changes_json(&target).await);
    // The dashboard's tables by parent and indicator: PostgreSQL reads them from columns the
    // copy fills in from the views (SQLite has no such columns).
    let dims = [
        ViewDimension::ProviderParent,
        ViewDimension::Sov2,
        ViewDimension::Sov3,
    ];
    let by_view = |c: &Collector| {
        let filter = StoreFilter {
            include_gone: true,
            ..StoreFilter::default()
        };
        c.store
            .summary_by_view(&Scope::AllTenants, &filter, &dims)
            .expect("summary by view")
    };
    let from_source = by_view(&source);
    assert!(
        from_source[0]
            .iter()
            .all(|r| !r.keys[0].is_empty() && r.stores == 3),
        "{from_source:?}"
    );
    assert_eq!(from_source, by_view(&target));

    // The copy is a live map: the next scan goes to PostgreSQL, its change ids after the
    // copied ones.
    let mut b = target.agent("agent-1").await;
    b.begin("s3").await;
    b.batch("s3", 1, bucket("keep", "eu-west-3", &[])).await;
    assert!(matches!(b.next().await, Msg::Ack(_)));
    b.end("s3", 1, true).await;
    assert!(matches!(b.next().await, Msg::Ack(_)));
    drop(b);
    let changes = target
        .store
        .list_changes(&Scope::AllTenants, 0, 0, 100, &Default::default())
        .expect("changes");
    let ids: Vec<i64> = changes.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 6, "{changes:?}");
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let present: Vec<String> = names(target.store.as_ref());
    assert_eq!(present, ["keep"]);
    assert!(changes.iter().all(|c| c.store.is_some()));
    assert_eq!(ACCOUNT, changes[5].store.as_ref().expect("view").account);

    // The operator commands that take --db work on PostgreSQL too.
    let created = landmeter(&[
        "token",
        "create",
        "--db",
        db.url(),
        "--role",
        "admin",
        "--name",
        "ops",
    ])
    .await;
    assert!(!created.trim().is_empty());
    let listed = landmeter(&["token", "list", "--db", db.url()]).await;
    assert!(listed.contains("ops"), "{listed}");
    landmeter(&["audit", "--db", db.url()]).await;
    assert!(source.stop().await);
    assert!(target.stop().await);
}

#[test]
fn collectors_starting_at_once_on_a_new_database_migrate_it_once() {
    let db = TestDatabase::create();
    let stores: Vec<Arc<dyn MapStore>> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..4).map(|_| scope.spawn(|| open(&db))).collect();
        opening
            .into_iter()
            .map(|t| t.join().expect("opened"))
            .collect()
    });
    assert_eq!(store::migrate(db.url()).expect("version"), 15);
    // One schema, usable through every one of them.
    begin(stores[0].as_ref(), "s1", "acct");
    assert_eq!(stores[3].last_seq("t", "s1").expect("seq"), 0);
}

/// `serve --no-migrate`: a database behind this build's schema is refused with the versions
/// and the command to run, on both backends; once `landmeter db migrate` ran it opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_migrate_refuses_a_database_behind_and_opens_it_once_migrated() {
    use landmeter_collector::store::{Migrations, StoreError};

    let dir = crate::harness::temp_dir("no-migrate");
    let sqlite = format!("sqlite:{}", dir.join("map.db").display());
    let pg = TestDatabase::create();
    for url in [sqlite.as_str(), pg.url()] {
        let refused = store::open_with(url, Default::default(), Migrations::Refuse);
        let Err(StoreError::SchemaBehind { at: 0, needs }) = refused else {
            panic!(
                "{url}: an empty database is refused, got {:?}",
                refused.err()
            );
        };
        assert!(needs > 0);

        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
            .args(["serve", "--insecure-plaintext", "--listen", "127.0.0.1:0"])
            .args(["--no-migrate", "--db", url])
            .output()
            .await
            .expect("run landmeter serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}: serve --no-migrate started");
        assert!(
            stderr.contains("schema version 0") && stderr.contains("landmeter db migrate"),
            "{url}: {stderr}"
        );

        let migrated = landmeter(&["db", "migrate", "--db", url]).await;
        assert!(
            migrated.contains(&format!("schema version {needs}")),
            "{migrated}"
        );
        store::open_with(url, Default::default(), Migrations::Refuse)
            .unwrap_or_else(|e| panic!("{url}: a migrated database opens: {e}"));
    }
}
