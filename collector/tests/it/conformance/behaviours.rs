//! One function per behaviour of the store boundary; each opens a fresh store with `open`.

use std::collections::HashSet;
use std::sync::Arc;

use landmeter_collector::config::CollectorConfig;
use landmeter_collector::map::Interpreter;
use landmeter_collector::scan_end;
use landmeter_collector::store::{
    AgentCertificate, AuditEntry, BatchOutcome, GroupField, MapStore, Scope, StoreError,
};
use landmeter_proto::v1::{
    AccountCoverage, ChangeKind, Fact, FactsBatch, ScanBegin, ScanEnd, Size, StoreFilter,
    StoreView, fact::Body,
};

use super::Open;
use crate::harness::bucket_in;

const AGENT: &str = "agent-1";

fn interpreter() -> Interpreter {
    landmeter_collector::server::build_interpreter(&CollectorConfig::default())
        .expect("interpreter")
        .0
}

/// A store with a scan session helper bound to it.
struct Bench {
    store: Arc<dyn MapStore>,
    interpreter: Interpreter,
}

impl Bench {
    fn new(open: Open) -> Self {
        Self {
            store: open(),
            interpreter: interpreter(),
        }
    }

    fn begin(
        &self,
        tenant: &str,
        agent: &str,
        scan: &str,
        account: &str,
    ) -> Result<(), StoreError> {
        self.store.begin_scan(
            tenant,
            agent,
            &ScanBegin {
                scan_id: scan.into(),
                started_at_ms: 1,
                accounts: vec![account.into()],
                provider: "aws".into(),
                providers: vec!["aws".into()],
            },
        )
    }

    fn batch(
        &self,
        tenant: &str,
        agent: &str,
        scan: &str,
        seq: u64,
        facts: Vec<Fact>,
    ) -> Result<BatchOutcome, StoreError> {
        self.store.commit_batch(
            tenant,
            agent,
            &FactsBatch {
                scan_id: scan.into(),
                seq,
                facts,
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn end(
        &self,
        tenant: &str,
        agent: &str,
        scan: &str,
        account: &str,
        batches: u64,
        complete: bool,
        now_ms: i64,
    ) -> Result<landmeter_collector::store::ScanOutcome, StoreError> {
        let end = ScanEnd {
            scan_id: scan.into(),
            ended_at_ms: now_ms,
            batches,
            coverage: vec![AccountCoverage {
                account: account.into(),
                complete,
                ..AccountCoverage::default()
            }],
        };
        scan_end::finish_scan(
            self.store.as_ref(),
            &self.interpreter,
            tenant,
            agent,
            &end,
            now_ms,
        )
    }

    /// One complete scan of `buckets` (name, region) in `account`, one batch.
    fn scan(&self, tenant: &str, scan: &str, account: &str, buckets: &[(&str, &str)], now: i64) {
        self.begin(tenant, AGENT, scan, account).expect("begin");
        let facts: Vec<Fact> = buckets
            .iter()
            .flat_map(|(name, region)| bucket_in(account, name, region, &[]))
            .collect();
        self.batch(tenant, AGENT, scan, 1, facts).expect("batch");
        self.end(tenant, AGENT, scan, account, 1, true, now)
            .expect("end");
    }

    fn list(&self, scope: &Scope, filter: &StoreFilter) -> Vec<StoreView> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let (page, next) = self
                .store
                .list_stores(scope, filter, 7, &token)
                .expect("list");
            out.extend(page);
            if next.is_empty() {
                return out;
            }
            token = next;
        }
    }

    fn names(&self, scope: &Scope, filter: &StoreFilter) -> Vec<String> {
        self.list(scope, filter)
            .into_iter()
            .map(|v| v.name)
            .collect()
    }
}

fn all_stores_incl_gone() -> StoreFilter {
    StoreFilter {
        include_gone: true,
        ..StoreFilter::default()
    }
}

pub fn a_batch_is_committed_once_and_a_resend_is_a_duplicate(open: Open) {
    let b = Bench::new(open);
    b.begin("t", AGENT, "s1", "acct").expect("begin");
    assert_eq!(b.store.last_seq("t", "s1").expect("seq"), 0);
    let facts = bucket_in("acct", "a", "eu-west-1", &[]);
    assert_eq!(
        b.batch("t", AGENT, "s1", 1, facts.clone()).expect("first"),
        BatchOutcome::Committed
    );
    // The resend carries other facts under the same (tenant, scan, seq): still a duplicate,
    // and nothing of it is stored.
    let other = bucket_in("acct", "b", "eu-west-1", &[]);
    assert_eq!(
        b.batch("t", AGENT, "s1", 1, other).expect("again"),
        BatchOutcome::Duplicate
    );
    assert_eq!(b.store.last_seq("t", "s1").expect("seq"), 1);
    let stored = b
        .store
        .tenant_facts(&Scope::AllTenants, "t")
        .expect("facts");
    assert_eq!(stored.len(), facts.len(), "{stored:?}");
    assert!(stored.iter().all(|f| f.subject == "a"));
    // The same seq in another tenant is another batch.
    b.begin("u", AGENT, "s1", "acct").expect("begin u");
    assert_eq!(
        b.batch(
            "u",
            AGENT,
            "s1",
            1,
            bucket_in("acct", "a", "eu-west-1", &[])
        )
        .expect("u"),
        BatchOutcome::Committed
    );
}

pub fn sequence_rules_hold_at_the_scan_end(open: Open) {
    let b = Bench::new(open);
    assert!(matches!(
        b.batch(
            "t",
            AGENT,
            "never",
            1,
            bucket_in("acct", "a", "eu-west-1", &[])
        ),
        Err(StoreError::UnknownScan(_))
    ));
    assert!(matches!(
        b.end("t", AGENT, "never", "acct", 0, true, 5),
        Err(StoreError::UnknownScan(_))
    ));
    b.begin("t", AGENT, "s1", "acct").expect("begin");
    // Beginning again after a reconnect is allowed.
    b.begin("t", AGENT, "s1", "acct").expect("begin again");
    b.batch(
        "t",
        AGENT,
        "s1",
        1,
        bucket_in("acct", "a", "eu-west-1", &[]),
    )
    .expect("1");
    match b.end("t", AGENT, "s1", "acct", 2, true, 5) {
        Err(StoreError::MissingBatches {
            declared,
            committed,
            ..
        }) => assert_eq!((declared, committed), (2, 1)),
        other => panic!("expected missing batches, got {other:?}"),
    }
    // A refused end wrote nothing.
    assert!(
        b.names(&Scope::AllTenants, &all_stores_incl_gone())
            .is_empty()
    );
    b.batch(
        "t",
        AGENT,
        "s1",
        2,
        bucket_in("acct", "b", "eu-west-1", &[]),
    )
    .expect("2");
    let out = b.end("t", AGENT, "s1", "acct", 2, true, 6).expect("end");
    assert_eq!((out.stores_interpreted, out.already_finished), (2, false));
    let again = b
        .end("t", AGENT, "s1", "acct", 2, true, 7)
        .expect("resent end");
    assert!(again.already_finished);
    assert!(again.changes.is_empty());
}

pub fn only_the_agent_that_began_a_scan_may_add_to_or_end_it(open: Open) {
    let b = Bench::new(open);
    b.begin("t", "agent-a", "s1", "acct").expect("begin");
    let owned = |r: Result<(), StoreError>| {
        assert!(
            matches!(r, Err(StoreError::ScanOwnedElsewhere { .. })),
            "{r:?}"
        )
    };
    owned(b.begin("t", "agent-b", "s1", "acct"));
    owned(
        b.batch(
            "t",
            "agent-b",
            "s1",
            1,
            bucket_in("acct", "a", "eu-west-1", &[]),
        )
        .map(|_| ()),
    );
    owned(b.end("t", "agent-b", "s1", "acct", 0, true, 5).map(|_| ()));
    b.batch(
        "t",
        "agent-a",
        "s1",
        1,
        bucket_in("acct", "a", "eu-west-1", &[]),
    )
    .expect("owner's batch");
    b.end("t", "agent-a", "s1", "acct", 1, true, 5)
        .expect("owner's end");
}

pub fn gone_only_after_a_complete_scan(open: Open) {
    let b = Bench::new(open);
    b.scan(
        "t",
        "s1",
        "acct",
        &[("x", "eu-west-1"), ("y", "eu-west-1")],
        10,
    );
    // An incomplete scan that did not see y leaves it present.
    b.begin("t", AGENT, "s2", "acct").expect("begin");
    b.batch(
        "t",
        AGENT,
        "s2",
        1,
        bucket_in("acct", "x", "eu-west-1", &[]),
    )
    .expect("batch");
    let out = b.end("t", AGENT, "s2", "acct", 1, false, 20).expect("end");
    assert_eq!(out.stores_gone, 0);
    assert_eq!(
        b.names(&Scope::AllTenants, &StoreFilter::default()),
        ["x", "y"]
    );
    // A complete one marks it gone: kept, with the time, and a change event.
    b.scan("t", "s3", "acct", &[("x", "eu-west-1")], 30);
    assert_eq!(b.names(&Scope::AllTenants, &StoreFilter::default()), ["x"]);
    let all = b.list(&Scope::AllTenants, &all_stores_incl_gone());
    let y = all.iter().find(|v| v.name == "y").expect("y kept");
    assert_eq!(y.gone_at_ms, Some(30));
    assert_eq!(y.first_seen_ms, 10);
    // Another account's complete scan does not touch this account.
    b.scan("t", "s4", "other", &[("z", "eu-west-1")], 40);
    assert_eq!(
        b.names(&Scope::AllTenants, &StoreFilter::default()),
        ["x", "z"]
    );
    // Seen again: present again.
    b.scan(
        "t",
        "s5",
        "acct",
        &[("x", "eu-west-1"), ("y", "eu-west-1")],
        50,
    );
    let y = b
        .list(&Scope::AllTenants, &StoreFilter::default())
        .into_iter()
        .find(|v| v.name == "y")
        .expect("y back");
    assert_eq!((y.gone_at_ms, y.last_seen_ms), (None, 50));
}

pub fn change_events_are_recorded_with_the_writes_that_make_them(open: Open) {
    let b = Bench::new(open);
    b.begin("t", AGENT, "s1", "acct").expect("begin");
    b.batch(
        "t",
        AGENT,
        "s1",
        1,
        bucket_in("acct", "x", "eu-west-1", &[]),
    )
    .expect("batch");
    let first = b.end("t", AGENT, "s1", "acct", 1, true, 10).expect("end");
    assert_eq!(first.changes.len(), 1);
    assert_eq!(first.changes[0].kind(), ChangeKind::Added);
    // Moved to another country, and a new store: a change and an addition, then a gone.
    b.scan(
        "t",
        "s2",
        "acct",
        &[("x", "us-east-1"), ("n", "eu-west-1")],
        20,
    );
    b.scan("t", "s3", "acct", &[("x", "us-east-1")], 30);
    let listed = b
        .store
        .list_changes(&Scope::AllTenants, 0, 0, 100, &StoreFilter::default())
        .expect("changes");
    let kinds: Vec<(String, ChangeKind)> = listed
        .iter()
        .map(|c| (c.store.as_ref().expect("view").name.clone(), c.kind()))
        .collect();
    // Within one scan end, stores in name order.
    let expected = [
        ("x", ChangeKind::Added),
        ("n", ChangeKind::Added),
        ("x", ChangeKind::Changed),
        ("n", ChangeKind::Gone),
    ];
    let expected: Vec<(String, ChangeKind)> = expected
        .iter()
        .map(|(n, k)| ((*n).to_owned(), *k))
        .collect();
    assert_eq!(kinds, expected);
    // Ids increase in commit order; the first scan end returned exactly what is listed.
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(listed[0], first.changes[0]);
    assert_eq!(listed[3].kind(), ChangeKind::Gone);
    let changed = &listed[2];
    assert!(
        changed.changes.iter().any(|f| f.field == "country"),
        "{changed:?}"
    );
    // Resuming after an id gives only what follows it.
    let after = b
        .store
        .list_changes(
            &Scope::AllTenants,
            0,
            listed[1].id,
            100,
            &StoreFilter::default(),
        )
        .expect("after");
    assert_eq!(after, listed[2..]);
}

pub fn a_tenant_scope_sees_only_its_tenant(open: Open) {
    let b = Bench::new(open);
    b.scan(
        "a",
        "s1",
        "acct-a",
        &[("a1", "eu-west-1"), ("a2", "eu-west-1")],
        10,
    );
    b.scan("b", "s1", "acct-b", &[("b1", "eu-west-1")], 10);
    let a = Scope::Tenant("a".into());
    assert_eq!(b.names(&a, &StoreFilter::default()), ["a1", "a2"]);
    let b_id = b.list(&Scope::Tenant("b".into()), &StoreFilter::default())[0]
        .id
        .clone();
    assert!(b.store.get_store(&a, &b_id).expect("get").is_none());
    assert!(
        b.store
            .get_store(&Scope::AllTenants, &b_id)
            .expect("get")
            .is_some()
    );
    let total = b
        .store
        .summary(&a, &StoreFilter::default(), &[])
        .expect("sum");
    assert_eq!(total[0].stores, 2);
    let changes = b
        .store
        .list_changes(&a, 0, 0, 100, &StoreFilter::default())
        .expect("changes");
    assert!(changes.iter().all(|c| c.tenant == "a") && changes.len() == 2);
    assert!(matches!(
        b.store.tenant_facts(&a, "b"),
        Err(StoreError::Forbidden(_))
    ));
}

pub fn the_pool_sees_only_summaries_over_at_least_k_tenants(open: Open) {
    let b = Bench::new(open);
    // Ireland: tenants a and b; Germany: tenant c only.
    b.scan("a", "s1", "acct-a", &[("a1", "eu-west-1")], 10);
    b.scan("b", "s1", "acct-b", &[("b1", "eu-west-1")], 10);
    b.scan("c", "s1", "acct-c", &[("c1", "eu-central-1")], 10);
    let pool = Scope::Pool { min_tenants: 2 };
    let rows = b
        .store
        .summary(&pool, &StoreFilter::default(), &[GroupField::Country])
        .expect("summary");
    let countries: Vec<&str> = rows.iter().map(|r| r.keys[0].as_str()).collect();
    assert_eq!(countries, ["IE"], "{rows:?}");
    assert_eq!(rows[0].stores, 2);
    for forbidden in [GroupField::Tenant, GroupField::Account] {
        assert!(matches!(
            b.store
                .summary(&pool, &StoreFilter::default(), &[forbidden]),
            Err(StoreError::Forbidden(_))
        ));
    }
    assert!(matches!(
        b.store.list_stores(&pool, &StoreFilter::default(), 10, ""),
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        b.store
            .list_changes(&pool, 0, 0, 10, &StoreFilter::default()),
        Err(StoreError::Forbidden(_))
    ));
}

pub fn keyset_pages_cover_every_store_once(open: Open) {
    let b = Bench::new(open);
    let names: Vec<String> = (0..23).map(|i| format!("bucket-{i:02}")).collect();
    let buckets: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "eu-west-1")).collect();
    b.scan("a", "s1", "acct-a", &buckets[..13], 10);
    b.scan("b", "s1", "acct-b", &buckets[13..], 10);
    let (first, token) = b
        .store
        .list_stores(&Scope::AllTenants, &StoreFilter::default(), 10, "")
        .expect("page 1");
    assert_eq!(first.len(), 10);
    assert!(!token.is_empty());
    let listed = b.list(&Scope::AllTenants, &StoreFilter::default());
    let keys: Vec<(String, String)> = listed
        .iter()
        .map(|v| (v.tenant.clone(), v.id.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "in (tenant, id) order, each once");
    assert_eq!(keys.len(), 23);
    assert!(matches!(
        b.store
            .list_stores(&Scope::AllTenants, &StoreFilter::default(), 10, "garbage"),
        Err(StoreError::BadPageToken)
    ));
}

pub fn summaries_count_unknown_sizes_apart(open: Open) {
    let b = Bench::new(open);
    b.begin("t", AGENT, "s1", "acct").expect("begin");
    let mut facts = bucket_in("acct", "sized", "eu-west-1", &[]);
    facts.extend(bucket_in("acct", "unsized", "eu-west-1", &[]));
    facts.extend(bucket_in("acct", "de", "eu-central-1", &[]));
    for (name, bytes) in [("sized", 1_000), ("de", 24)] {
        facts.push(Fact {
            account: "acct".into(),
            subject: name.into(),
            api_call: "cloudwatch:GetMetricData".into(),
            observed_at_ms: 1,
            body: Some(Body::Size(Size {
                bytes_by_storage_type: [("StandardStorage".to_owned(), bytes)].into(),
                objects: 3,
                datapoint_at_ms: 1,
                known: true,
                allocated_bytes: None,
            })),
        });
    }
    b.batch("t", AGENT, "s1", 1, facts).expect("batch");
    b.end("t", AGENT, "s1", "acct", 1, true, 10).expect("end");
    let rows = b
        .store
        .summary(
            &Scope::AllTenants,
            &StoreFilter::default(),
            &[GroupField::Country],
        )
        .expect("summary");
    let got: Vec<(String, u64, i64, u64)> = rows
        .iter()
        .map(|r| (r.keys[0].clone(), r.stores, r.bytes, r.stores_without_size))
        .collect();
    assert_eq!(
        got,
        [("DE".into(), 1, 24, 0), ("IE".into(), 2, 1_000, 1)],
        "unknown is never zero"
    );
}

/// An interpreter whose region table says nothing: every country unknown.
fn blind_interpreter() -> Interpreter {
    let mut i = interpreter();
    i.tables = landmeter_collector::map::reference::ReferenceTables::parse(
        "provider,region_code,display_name,country_iso2,in_eu_eea,city,comment\n",
        landmeter_collector::map::reference::PROVIDERS_CSV,
    )
    .expect("tables");
    i
}

pub fn reinterpretation_keeps_bookkeeping_and_records_changes(open: Open) {
    let b = Bench::new(open);
    b.scan(
        "t",
        "s1",
        "acct",
        &[("x", "eu-west-1"), ("g", "eu-west-1")],
        10,
    );
    b.scan("t", "s2", "acct", &[("x", "eu-west-1")], 20);
    let before = b.list(&Scope::AllTenants, &all_stores_incl_gone());
    let n = scan_end::reinterpret_all(b.store.as_ref(), &blind_interpreter(), 99).expect("re");
    assert_eq!(n, 2, "present and gone stores are both re-interpreted");
    let after = b.list(&Scope::AllTenants, &all_stores_incl_gone());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            (
                old.first_seen_ms,
                old.last_seen_ms,
                old.gone_at_ms,
                &old.last_scan_id
            ),
            (
                new.first_seen_ms,
                new.last_seen_ms,
                new.gone_at_ms,
                &new.last_scan_id
            )
        );
        assert_eq!(new.country, "", "the new rules apply");
    }
    let changes = b
        .store
        .list_changes(&Scope::AllTenants, 0, 0, 100, &StoreFilter::default())
        .expect("changes");
    let last = changes.last().expect("a change");
    // Only the present store's re-interpretation is news.
    assert_eq!(
        (last.scan_id.as_str(), last.kind(), last.store_id.as_str()),
        (
            scan_end::REINTERPRETATION,
            ChangeKind::Changed,
            after[1].id.as_str()
        )
    );
    assert_eq!(
        changes
            .iter()
            .filter(|c| c.scan_id == scan_end::REINTERPRETATION)
            .count(),
        1
    );
}

pub fn tokens_revocations_and_the_audit_log(open: Open) {
    let b = Bench::new(open);
    let id = b
        .store
        .create_token("hash-1", "tenant-viewer", Some("t"), "ci")
        .expect("create");
    let found = b.store.find_token("hash-1").expect("find").expect("found");
    assert_eq!(
        (found.id, found.role.as_str(), found.tenant.as_deref()),
        (id, "tenant-viewer", Some("t"))
    );
    assert!(b.store.find_token("hash-2").expect("find").is_none());
    // Expiry and revocation: a token is live until either.
    let expiring = b
        .store
        .create_token_until("hash-3", "admin", None, "short", Some(1_000))
        .expect("create");
    assert!(
        b.store
            .find_token_at("hash-3", 999)
            .expect("find")
            .is_some()
    );
    assert!(
        b.store
            .find_token_at("hash-3", 1_000)
            .expect("find")
            .is_none()
    );
    assert!(b.store.revoke_token(id).expect("revoke"));
    assert!(!b.store.revoke_token(id).expect("again"), "revoked once");
    assert!(b.store.find_token("hash-1").expect("find").is_none());
    let listed: Vec<(i64, Option<i64>, bool)> = b
        .store
        .list_tokens()
        .expect("list")
        .into_iter()
        .map(|t| (t.id, t.expires_at_ms, t.revoked_at_ms.is_some()))
        .collect();
    assert_eq!(listed, [(id, None, true), (expiring, Some(1_000), false)]);
    assert!(!b.store.is_certificate_revoked("ab12").expect("check"));
    b.store
        .revoke_certificate("ab12", "t", "a")
        .expect("revoke");
    b.store
        .revoke_certificate("ab12", "t", "a")
        .expect("revoking twice is fine");
    assert!(b.store.is_certificate_revoked("ab12").expect("check"));
    for (i, method) in ["ListStores", "Summary"].into_iter().enumerate() {
        b.store
            .append_audit(&AuditEntry {
                token_id: Some(id),
                role: "tenant-viewer".into(),
                tenant: Some("t".into()),
                method: method.into(),
                request: format!("request {i}"),
                rows: i as u64,
                outcome: "ok".into(),
            })
            .expect("audit");
    }
    let log = b.store.audit_log(10).expect("log");
    let methods: Vec<&str> = log.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(methods, ["Summary", "ListStores"], "newest first");
    assert_eq!(log[0].rows, 1);
    assert_eq!(b.store.audit_log(1).expect("log").len(), 1);
}

fn certificate(serial: &str, agent: &str, renewed_from: Option<&str>) -> AgentCertificate {
    AgentCertificate {
        serial: serial.into(),
        tenant: "t".into(),
        agent: agent.into(),
        issued_at_ms: 1_000,
        not_after_ms: 9_000,
        renewed_from: renewed_from.map(Into::into),
    }
}

/// An enrolment token is used once: the second use, a use after its expiry, a use for
/// another tenant or another agent than it binds record nothing. Of many concurrent uses
/// exactly one wins.
pub fn an_enrolment_token_is_used_once_before_it_expires(open: Open) {
    let b = Bench::new(open);
    let id = b
        .store
        .create_enrolment_token("h1", "t", Some("a1"), 100, 5_000)
        .expect("create");
    let found = b
        .store
        .find_enrolment_token("h1")
        .expect("find")
        .expect("found");
    assert_eq!(
        (
            found.id,
            found.tenant.as_str(),
            found.agent.as_deref(),
            found.expires_at_ms,
            found.used_at_ms
        ),
        (id, "t", Some("a1"), 5_000, None)
    );
    assert!(
        b.store
            .find_enrolment_token("h-none")
            .expect("find")
            .is_none()
    );
    // Bound to tenant t and agent a1: another tenant or agent does not use it.
    let mut other_tenant = certificate("s0", "a1", None);
    other_tenant.tenant = "u".into();
    assert!(
        !b.store
            .consume_enrolment_token("h1", 200, &other_tenant)
            .expect("use")
    );
    assert!(
        !b.store
            .consume_enrolment_token("h1", 200, &certificate("s0", "a2", None))
            .expect("use")
    );
    // Expired at 5_000.
    assert!(
        !b.store
            .consume_enrolment_token("h1", 5_000, &certificate("s0", "a1", None))
            .expect("use")
    );
    assert!(
        b.store
            .agent_certificates("t", "a1")
            .expect("certs")
            .is_empty(),
        "nothing recorded"
    );
    assert!(
        b.store
            .consume_enrolment_token("h1", 4_999, &certificate("s1", "a1", None))
            .expect("use")
    );
    assert!(
        !b.store
            .consume_enrolment_token("h1", 4_999, &certificate("s2", "a1", None))
            .expect("again"),
        "used once"
    );
    let used = b
        .store
        .find_enrolment_token("h1")
        .expect("find")
        .expect("found");
    assert_eq!(used.used_at_ms, Some(4_999));
    let certs = b.store.agent_certificates("t", "a1").expect("certs");
    assert_eq!(certs, [certificate("s1", "a1", None)]);
    // A token binding no agent enrols whichever name is given.
    b.store
        .create_enrolment_token("h2", "t", None, 100, 5_000)
        .expect("create");
    // Eight uses at once: one wins.
    let store = Arc::clone(&b.store);
    let won: usize = std::thread::scope(|scope| {
        let uses: Vec<_> = (0..8)
            .map(|i| {
                let store = Arc::clone(&store);
                scope.spawn(move || {
                    store
                        .consume_enrolment_token(
                            "h2",
                            200,
                            &certificate(&format!("c{i}"), &format!("n{i}"), None),
                        )
                        .expect("use")
                })
            })
            .collect();
        uses.into_iter()
            .map(|u| usize::from(u.join().expect("joined")))
            .sum()
    });
    assert_eq!(won, 1, "one concurrent use wins");
}

/// Revoking a certificate revokes every certificate renewed from it; a revoked certificate
/// is not renewed; revoking an agent revokes all its recorded certificates.
pub fn revocation_follows_renewals_and_stops_them(open: Open) {
    let b = Bench::new(open);
    b.store
        .create_enrolment_token("h", "t", None, 0, 10_000)
        .expect("token");
    assert!(
        b.store
            .consume_enrolment_token("h", 1, &certificate("e1", "a", None))
            .expect("enrol")
    );
    assert!(
        b.store
            .record_renewal(&certificate("e2", "a", Some("e1")))
            .expect("renew")
    );
    assert!(
        b.store
            .record_renewal(&certificate("e3", "a", Some("e2")))
            .expect("renew")
    );
    // A certificate made on the CA host (`agent enroll`, not recorded) renews too.
    assert!(
        b.store
            .record_renewal(&certificate("x2", "b", Some("x1")))
            .expect("renew")
    );
    b.store.revoke_certificate("e2", "t", "a").expect("revoke");
    assert!(
        !b.store.is_certificate_revoked("e1").expect("e1"),
        "the older one is not"
    );
    assert!(b.store.is_certificate_revoked("e2").expect("e2"));
    assert!(
        b.store.is_certificate_revoked("e3").expect("e3"),
        "renewed from a revoked one"
    );
    assert!(
        !b.store
            .record_renewal(&certificate("e4", "a", Some("e2")))
            .expect("renew"),
        "a revoked certificate is not renewed"
    );
    assert!(
        !b.store
            .record_renewal(&certificate("e4", "a", Some("e3")))
            .expect("renew")
    );
    assert!(
        b.store
            .agent_certificates("t", "a")
            .expect("certs")
            .iter()
            .all(|c| c.serial != "e4"),
        "nothing recorded"
    );
    b.store.revoke_certificate("x1", "t", "b").expect("revoke");
    assert!(b.store.is_certificate_revoked("x2").expect("x2"));
    // The agent as a whole: e1 was left.
    assert_eq!(b.store.revoke_agent("t", "a").expect("agent"), 1);
    assert!(b.store.is_certificate_revoked("e1").expect("e1"));
    assert_eq!(b.store.revoke_agent("t", "a").expect("again"), 0);
}

pub fn issued_reports_keep_their_figures_per_tenant(open: Open) {
    let b = Bench::new(open);
    let a = Scope::Tenant("a".into());
    assert!(b.store.last_report(&a, "a").expect("none").is_none());
    let first = b
        .store
        .record_report(&a, "a", 100, r#"{"n":1}"#)
        .expect("1");
    let second = b
        .store
        .record_report(&a, "a", 200, r#"{"n":2}"#)
        .expect("2");
    assert!(second > first);
    let last = b.store.last_report(&a, "a").expect("last").expect("some");
    assert_eq!(
        (last.id, last.issued_at_ms, last.figures.as_str()),
        (second, 200, r#"{"n":2}"#)
    );
    assert!(
        b.store
            .last_report(&Scope::AllTenants, "b")
            .expect("b")
            .is_none()
    );
    assert!(matches!(
        b.store.record_report(&a, "b", 1, "{}"),
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        b.store.last_report(&Scope::Pool { min_tenants: 2 }, "a"),
        Err(StoreError::Forbidden(_))
    ));
}

pub fn filters_select_by_kind_and_provider(open: Open) {
    let b = Bench::new(open);
    b.scan(
        "t",
        "s1",
        "acct",
        &[("x", "eu-west-1"), ("y", "us-east-1")],
        10,
    );
    let by = |f: StoreFilter| b.names(&Scope::AllTenants, &f);
    assert_eq!(
        by(StoreFilter {
            eu: Some(false),
            ..StoreFilter::default()
        }),
        ["y"]
    );
    assert_eq!(
        by(StoreFilter {
            providers: vec!["aws".into()],
            ..StoreFilter::default()
        }),
        ["x", "y"]
    );
    assert!(
        by(StoreFilter {
            providers: vec!["microsoft-azure".into()],
            ..StoreFilter::default()
        })
        .is_empty()
    );
    let kinds: HashSet<String> = b
        .list(&Scope::AllTenants, &StoreFilter::default())
        .into_iter()
        .map(|v| v.kind)
        .collect();
    // Every view's kind selects it again, whatever label the interpreter gives buckets.
    for kind in kinds {
        assert_eq!(
            by(StoreFilter {
                kinds: vec![kind.clone()],
                ..StoreFilter::default()
            })
            .len(),
            2,
            "kind {kind:?}"
        );
    }
    assert!(
        by(StoreFilter {
            kinds: vec!["log-group".into()],
            ..StoreFilter::default()
        })
        .is_empty()
    );
}

pub fn a_store_id_is_unique_within_its_tenant_only(open: Open) {
    let b = Bench::new(open);
    // Two tenants report the same account and bucket: the same store id in both.
    b.scan("a", "s1", "shared", &[("twin", "eu-west-1")], 10);
    b.scan("b", "s1", "shared", &[("twin", "us-east-1")], 10);
    let id = b.list(&Scope::Tenant("a".into()), &StoreFilter::default())[0]
        .id
        .clone();
    match b.store.get_store(&Scope::AllTenants, &id) {
        Err(StoreError::AmbiguousStore { tenants, .. }) => assert_eq!(tenants, ["a", "b"]),
        other => panic!("expected an ambiguity, got {other:?}"),
    }
    for (tenant, country) in [("a", "IE"), ("b", "US")] {
        let one = b
            .store
            .get_store(&Scope::Tenant(tenant.into()), &id)
            .expect("get")
            .expect("found");
        let view = one.store.expect("view");
        assert_eq!(
            (view.tenant.as_str(), view.country.as_str()),
            (tenant, country)
        );
        assert!(!one.facts.is_empty());
    }
}

/// A failed read of `topic` on `subject`, as an agent reports it.
fn denied(account: &str, subject: &str, call: &str, topic: landmeter_proto::FactTopic) -> Fact {
    Fact {
        account: account.into(),
        subject: subject.into(),
        api_call: call.into(),
        observed_at_ms: 1,
        body: Some(Body::Gap(landmeter_proto::v1::Gap {
            kind: landmeter_proto::v1::GapKind::AccessDenied as i32,
            code: "AccessDenied".into(),
            message: "not allowed".into(),
            call: call.into(),
            topic: topic as i32,
        })),
    }
}

/// Unknown is never "no": a yes/no filter selects known values only, "unknown" is a filter
/// value of its own, summaries count unknowns in their own row; and the store's filters and
/// group keys mean what `landmeter_proto::filter::matches` and `GroupField::key` say.
pub fn unknowns_are_never_no_in_filters_and_summaries(open: Open) {
    use landmeter_proto::FactTopic;
    let b = Bench::new(open);
    b.begin("t", AGENT, "s1", "acct").expect("begin");
    let mut facts = Vec::new();
    for (name, region) in [
        ("known", "eu-west-1"),
        ("repl-denied", "eu-west-1"),
        ("tags-denied", "eu-west-1"),
        ("nowhere", "mars-north-1"),
        ("us", "us-east-1"),
    ] {
        facts.extend(bucket_in("acct", name, region, &[]));
    }
    facts.push(denied(
        "acct",
        "repl-denied",
        "s3:GetBucketReplication",
        FactTopic::Replication,
    ));
    facts.push(denied(
        "acct",
        "tags-denied",
        "s3:GetBucketTagging",
        FactTopic::Tags,
    ));
    // bucket_in reports tags (read, empty) for every bucket: drop tags-denied's.
    facts.retain(|f| !(f.subject == "tags-denied" && matches!(f.body, Some(Body::Tags(_)))));
    b.batch("t", AGENT, "s1", 1, facts).expect("batch");
    b.end("t", AGENT, "s1", "acct", 1, true, 10).expect("end");

    let names = |f: StoreFilter| {
        let mut n = b.names(&Scope::AllTenants, &f);
        n.sort();
        n
    };
    assert_eq!(
        names(StoreFilter {
            replicated_outside_eu: Some(false),
            ..StoreFilter::default()
        }),
        ["known", "nowhere", "tags-denied", "us"],
        "replication unknown is not 'no replication outside the EU'"
    );
    assert_eq!(
        names(StoreFilter {
            unknown: vec!["replication".into()],
            ..StoreFilter::default()
        }),
        ["repl-denied"]
    );
    assert_eq!(
        names(StoreFilter {
            eu: Some(false),
            ..StoreFilter::default()
        }),
        ["us"],
        "an unknown location is not 'outside the EU'"
    );
    assert_eq!(
        names(StoreFilter {
            unknown: vec!["location".into()],
            ..StoreFilter::default()
        }),
        ["nowhere"]
    );
    assert_eq!(
        names(StoreFilter {
            classifications: vec!["unknown".into()],
            ..StoreFilter::default()
        }),
        ["tags-denied"]
    );

    // Every filter above and every group key: the store agrees with the in-memory meaning.
    let all = b.list(&Scope::AllTenants, &StoreFilter::default());
    for f in [
        StoreFilter {
            replicated_outside_eu: Some(true),
            ..StoreFilter::default()
        },
        StoreFilter {
            eu: Some(true),
            ..StoreFilter::default()
        },
        StoreFilter {
            cloud_act: Some(true),
            ..StoreFilter::default()
        },
        StoreFilter {
            custody_at_most: landmeter_proto::Custody::Provider as i32,
            ..StoreFilter::default()
        },
        StoreFilter {
            unknown: vec!["size".into(), "classification".into()],
            ..StoreFilter::default()
        },
    ] {
        let mut want: Vec<String> = all
            .iter()
            .filter(|v| landmeter_proto::filter::matches(&f, v))
            .map(|v| v.name.clone())
            .collect();
        want.sort();
        assert_eq!(names(f.clone()), want, "{f:?}");
    }
    for field in GroupField::ALL {
        let rows = b
            .store
            .summary(&Scope::AllTenants, &StoreFilter::default(), &[field])
            .expect("summary");
        let mut got: Vec<(String, u64)> =
            rows.iter().map(|r| (r.keys[0].clone(), r.stores)).collect();
        got.sort();
        let mut counted: std::collections::BTreeMap<String, u64> = Default::default();
        for v in &all {
            *counted.entry(field.key(v)).or_default() += 1;
        }
        let want: Vec<(String, u64)> = counted.into_iter().collect();
        assert_eq!(got, want, "{}", field.name());
    }
    let by_eu = b
        .store
        .summary(
            &Scope::AllTenants,
            &StoreFilter::default(),
            &[GroupField::Eu],
        )
        .expect("summary");
    assert!(
        by_eu
            .iter()
            .any(|r| r.keys[0] == "unknown" && r.stores == 1),
        "unknown counted apart: {by_eu:?}"
    );
}

/// A storage account (or, with `containers`, its containers) as an Azure agent reports it.
fn azure_store(name: &str, parent: &str) -> Fact {
    Fact {
        account: "sub-1".into(),
        subject: name.into(),
        api_call: "blob:ListContainers".into(),
        observed_at_ms: 1,
        body: Some(Body::Store(landmeter_proto::v1::Store {
            provider: "microsoft-azure".into(),
            service: if parent.is_empty() { "storage" } else { "blob" }.into(),
            name: name.into(),
            region: "westeurope".into(),
            parent: parent.into(),
            kind: if parent.is_empty() {
                landmeter_proto::StoreKind::StorageAccount
            } else {
                landmeter_proto::StoreKind::Container
            } as i32,
            ..Default::default()
        })),
    }
}

/// A failed listing of part of an account (a storage firewall refusing the container
/// listing) leaves that part unknown: nothing under it is marked gone, and no change event
/// says so; a later successful listing marks what is really gone.
pub fn a_failed_listing_of_a_part_marks_nothing_under_it_gone(open: Open) {
    use landmeter_proto::FactTopic;
    let b = Bench::new(open);
    let containers = ["sa/c1", "sa/c2", "sa/c3"];
    b.begin("t", AGENT, "s1", "sub-1").expect("begin");
    let mut facts = vec![azure_store("sa", "")];
    facts.extend(containers.iter().map(|c| azure_store(c, "sa")));
    b.batch("t", AGENT, "s1", 1, facts).expect("batch");
    b.end("t", AGENT, "s1", "sub-1", 1, true, 10).expect("end");

    b.begin("t", AGENT, "s2", "sub-1").expect("begin");
    let mut denied_listing = denied("sub-1", "sa", "blob:ListContainers", FactTopic::Listing);
    denied_listing.account = "sub-1".into();
    b.batch(
        "t",
        AGENT,
        "s2",
        1,
        vec![azure_store("sa", ""), denied_listing],
    )
    .expect("batch");
    let outcome = b.end("t", AGENT, "s2", "sub-1", 1, true, 20).expect("end");
    assert_eq!(outcome.stores_gone, 0, "{outcome:?}");
    let mut present = b.names(&Scope::AllTenants, &StoreFilter::default());
    present.sort();
    assert_eq!(present, ["sa", "sa/c1", "sa/c2", "sa/c3"]);
    let gone_events = b
        .store
        .list_changes(&Scope::AllTenants, 0, 0, 100, &StoreFilter::default())
        .expect("changes")
        .into_iter()
        .filter(|e| e.kind() == ChangeKind::Gone)
        .count();
    assert_eq!(gone_events, 0);

    // Listed again, with c1 only: c2 and c3 are gone now.
    b.begin("t", AGENT, "s3", "sub-1").expect("begin");
    b.batch(
        "t",
        AGENT,
        "s3",
        1,
        vec![azure_store("sa", ""), azure_store("sa/c1", "sa")],
    )
    .expect("batch");
    let outcome = b.end("t", AGENT, "s3", "sub-1", 1, true, 30).expect("end");
    assert_eq!(outcome.stores_gone, 2, "{outcome:?}");
}

fn kind_store(name: &str, kind: landmeter_proto::StoreKind, region: &str) -> Fact {
    Fact {
        account: "acct".into(),
        subject: name.into(),
        api_call: "rds:DescribeDBInstances".into(),
        observed_at_ms: 1,
        body: Some(Body::Store(landmeter_proto::v1::Store {
            provider: "aws".into(),
            service: "rds".into(),
            name: name.into(),
            region: region.into(),
            kind: kind as i32,
            ..Default::default()
        })),
    }
}

/// A failed listing of one kind in one region (`database@eu-west-1`) or in every region
/// (`volume`) marks none of those stores gone; stores of other kinds and regions that a
/// complete scan did not see are gone.
pub fn a_failed_listing_of_a_kind_marks_none_of_that_kind_gone(open: Open) {
    use landmeter_proto::{FactTopic, StoreKind, listing_part};
    let b = Bench::new(open);
    b.begin("t", AGENT, "s1", "acct").expect("begin");
    b.batch(
        "t",
        AGENT,
        "s1",
        1,
        vec![
            kind_store("db-eu", StoreKind::Database, "eu-west-1"),
            kind_store("db-us", StoreKind::Database, "us-east-1"),
            kind_store("vol-eu", StoreKind::Volume, "eu-west-1"),
            kind_store("table-eu", StoreKind::Table, "eu-west-1"),
        ],
    )
    .expect("batch");
    b.end("t", AGENT, "s1", "acct", 1, true, 10).expect("end");

    b.begin("t", AGENT, "s2", "acct").expect("begin");
    b.batch(
        "t",
        AGENT,
        "s2",
        1,
        vec![
            denied(
                "acct",
                &listing_part(StoreKind::Database, "eu-west-1"),
                "rds:DescribeDBInstances",
                FactTopic::Listing,
            ),
            denied(
                "acct",
                &listing_part(StoreKind::Volume, ""),
                "ec2:DescribeRegions",
                FactTopic::Listing,
            ),
        ],
    )
    .expect("batch");
    let outcome = b.end("t", AGENT, "s2", "acct", 1, true, 20).expect("end");
    // db-us (its region was listed) and table-eu (its kind was listed) are gone.
    assert_eq!(outcome.stores_gone, 2, "{outcome:?}");
    let mut present = b.names(&Scope::AllTenants, &StoreFilter::default());
    present.sort();
    assert_eq!(present, ["db-eu", "vol-eu"]);
}

fn setting(account: &str, name: &str, region: &str, value: &str) -> Fact {
    Fact {
        account: account.into(),
        subject: format!("{name}@{region}"),
        api_call: "ec2:GetEbsEncryptionByDefault".into(),
        observed_at_ms: 1,
        body: Some(Body::Setting(landmeter_proto::v1::Setting {
            name: name.into(),
            region: region.into(),
            value: value.into(),
        })),
    }
}

/// Account and region settings are listed per tenant with their newest answer: a failed read
/// of a setting is listed (as its gap), other gaps are not; a later scan's answer replaces a
/// failed one; a tenant sees only its own; the pool role is refused.
pub fn settings_are_listed_per_tenant_with_their_newest_answer(open: Open) {
    use landmeter_proto::FactTopic;
    let b = Bench::new(open);
    let ebs = "ebs-encryption-by-default";
    b.begin("t", AGENT, "s1", "acct").expect("begin");
    b.batch(
        "t",
        AGENT,
        "s1",
        1,
        vec![
            setting("acct", ebs, "eu-west-1", "false"),
            denied(
                "acct",
                &format!("{ebs}@eu-central-1"),
                "ec2:GetEbsEncryptionByDefault",
                FactTopic::Setting,
            ),
            // A bucket's denied encryption read is a coverage gap, not a setting.
            denied(
                "acct",
                "some-bucket",
                "s3:GetBucketEncryption",
                FactTopic::Encryption,
            ),
        ],
    )
    .expect("batch");
    b.end("t", AGENT, "s1", "acct", 1, true, 10).expect("end");
    b.begin("u", AGENT, "s2", "other").expect("begin");
    b.batch(
        "u",
        AGENT,
        "s2",
        1,
        vec![setting("other", ebs, "us-east-1", "true")],
    )
    .expect("batch");
    b.end("u", AGENT, "s2", "other", 1, true, 11).expect("end");

    let subjects = |scope: &Scope, tenant: Option<&str>| -> Vec<(String, String, bool)> {
        let mut out: Vec<_> = b
            .store
            .settings(scope, tenant)
            .expect("settings")
            .into_iter()
            .map(|s| {
                let known = matches!(s.fact.body, Some(Body::Setting(_)));
                (s.tenant, s.fact.subject, known)
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(
        subjects(&Scope::AllTenants, Some("t")),
        vec![
            ("t".into(), format!("{ebs}@eu-central-1"), false),
            ("t".into(), format!("{ebs}@eu-west-1"), true),
        ]
    );
    assert_eq!(subjects(&Scope::AllTenants, None).len(), 3);
    assert_eq!(
        subjects(&Scope::Tenant("u".into()), None),
        vec![("u".into(), format!("{ebs}@us-east-1"), true)]
    );
    // A tenant role naming another tenant reads nothing of it.
    assert!(subjects(&Scope::Tenant("u".into()), Some("t")).is_empty());
    assert!(matches!(
        b.store.settings(&Scope::Pool { min_tenants: 1 }, None),
        Err(StoreError::Forbidden(_))
    ));

    // The next scan reads the denied region: its answer replaces the gap.
    b.begin("t", AGENT, "s3", "acct").expect("begin");
    b.batch(
        "t",
        AGENT,
        "s3",
        1,
        vec![
            setting("acct", ebs, "eu-west-1", "false"),
            setting("acct", ebs, "eu-central-1", "true"),
        ],
    )
    .expect("batch");
    b.end("t", AGENT, "s3", "acct", 1, true, 12).expect("end");
    assert_eq!(
        subjects(&Scope::AllTenants, Some("t")),
        vec![
            ("t".into(), format!("{ebs}@eu-central-1"), true),
            ("t".into(), format!("{ebs}@eu-west-1"), true),
        ]
    );
}

/// Tenant a: a1 (Ireland), a2 (gone), a3 (no known region: no country, so no indicator);
/// tenant b: b1 (Ireland), b2 (Germany); tenant c: an Azure storage account.
fn three_tenants_with_a_gone_store_and_an_unknown_region(b: &Bench) {
    b.scan(
        "a",
        "s1",
        "acct-a",
        &[
            ("a1", "eu-west-1"),
            ("a2", "us-east-1"),
            ("a3", "xx-nowhere-9"),
        ],
        10,
    );
    b.scan(
        "a",
        "s2",
        "acct-a",
        &[("a1", "eu-west-1"), ("a3", "xx-nowhere-9")],
        20,
    );
    b.scan(
        "b",
        "s1",
        "acct-b",
        &[("b1", "eu-west-1"), ("b2", "eu-central-1")],
        10,
    );
    b.begin("c", AGENT, "s1", "sub-1").expect("begin");
    b.batch("c", AGENT, "s1", 1, vec![azure_store("sa", "")])
        .expect("batch");
    b.end("c", AGENT, "s1", "sub-1", 1, true, 10).expect("end");
}

/// The dashboard's tables by provider parent and by the SOV-2 and SOV-3 indicators equal
/// the selected views grouped one by one (the backend may read them from anywhere: the
/// PostgreSQL one reads its counts): present and gone stores, an indicator that is unknown,
/// a tenant's scope, a filter, and the pool's k.
pub fn summaries_by_view_equal_the_views_grouped_one_by_one(open: Open) {
    use landmeter_collector::store::{ViewDimension, ViewGroups};
    let b = Bench::new(open);
    three_tenants_with_a_gone_store_and_an_unknown_region(&b);

    let dims = [
        ViewDimension::ProviderParent,
        ViewDimension::Sov2,
        ViewDimension::Sov3,
    ];
    let grouped_one_by_one = |listed_as: &Scope, scope: &Scope, filter: &StoreFilter| {
        let mut groups = ViewGroups::new(&dims);
        for v in b.list(listed_as, filter) {
            groups.add(&v.tenant, &v);
        }
        groups.rows(scope)
    };
    let eu_only = StoreFilter {
        eu: Some(true),
        ..StoreFilter::default()
    };
    let pool = Scope::Pool { min_tenants: 2 };
    for (scope, filter) in [
        (Scope::AllTenants, StoreFilter::default()),
        (Scope::AllTenants, all_stores_incl_gone()),
        (Scope::AllTenants, eu_only.clone()),
        (Scope::Tenant("a".into()), StoreFilter::default()),
        (pool.clone(), StoreFilter::default()),
    ] {
        let got = b
            .store
            .summary_by_view(&scope, &filter, &dims)
            .expect("summary by view");
        let listed_as = match &scope {
            Scope::Pool { .. } => Scope::AllTenants,
            other => other.clone(),
        };
        assert_eq!(
            got,
            grouped_one_by_one(&listed_as, &scope, &filter),
            "{scope:?} {filter:?}"
        );
    }
    // What the rows say, not only that both ways agree.
    let all = b
        .store
        .summary_by_view(&Scope::AllTenants, &StoreFilter::default(), &dims)
        .expect("summary by view");
    let total =
        |rows: &[landmeter_proto::v1::SummaryRow]| rows.iter().map(|r| r.stores).sum::<u64>();
    for rows in &all {
        assert_eq!(total(rows), 5, "a1, a3, b1, b2, sa: {rows:?}");
    }
    assert_eq!(
        all[0].len(),
        2,
        "two parents (AWS's and Azure's): {:?}",
        all[0]
    );
    for rows in &all[1..] {
        // a3 (no known region), and sa when its encryption is not known.
        assert!(
            rows.iter().any(|r| r.keys[0] == "unknown" && r.stores >= 1)
                && rows.iter().any(|r| r.keys[0] != "unknown"),
            "a level, and no indicator for the store in no known region: {rows:?}"
        );
    }
    let pooled = b
        .store
        .summary_by_view(&pool, &StoreFilter::default(), &dims)
        .expect("pool");
    let parents: Vec<u64> = pooled[0].iter().map(|r| r.stores).collect();
    assert_eq!(
        parents,
        [4],
        "only AWS's parent is over two tenants (a1, a3, b1, b2; Azure's has c alone): {:?}",
        pooled[0]
    );
}

/// What the pool's release is computed from: every present store per tenant and
/// combination of the release's fifteen dimensions equals the listed views grouped one by
/// one with each dimension's key (the backend may group them itself: PostgreSQL reads its
/// counts), and the release made from them says what the stores say.
pub fn tenant_cells_equal_the_views_grouped_one_by_one(open: Open) {
    use landmeter_collector::api::disclosure::{self, TABLES};
    use landmeter_collector::store::TenantCell;
    use std::collections::BTreeMap;
    let b = Bench::new(open);
    three_tenants_with_a_gone_store_and_an_unknown_region(&b);
    let dimensions = TABLES.map(|(_, d)| d);
    let mut got = b.store.tenant_cells(&dimensions).expect("cells");
    got.sort_by(|x, y| (&x.tenant, &x.keys).cmp(&(&y.tenant, &y.keys)));
    let mut grouped: BTreeMap<(String, Vec<String>), TenantCell> = BTreeMap::new();
    for v in b.list(&Scope::AllTenants, &StoreFilter::default()) {
        let keys: Vec<String> = dimensions.iter().map(|d| d.key(&v)).collect();
        let cell = grouped
            .entry((v.tenant.clone(), keys.clone()))
            .or_insert_with(|| TenantCell {
                tenant: v.tenant.clone(),
                keys,
                ..TenantCell::default()
            });
        cell.stores += 1;
        cell.bytes += v.bytes.unwrap_or(0);
        cell.stores_without_size += u64::from(v.size_unknown());
    }
    let expected: Vec<TenantCell> = grouped.into_values().collect();
    assert_eq!(got, expected);
    assert_eq!(
        got.iter().map(|c| c.stores).sum::<u64>(),
        5,
        "a1, a3, b1, b2 and sa; a2 is gone: {got:?}"
    );
    let release = disclosure::release(b.store.as_ref(), 2).expect("release");
    let total = release.total.expect("three tenants, k = 2");
    assert_eq!(total.stores, 5);
}
