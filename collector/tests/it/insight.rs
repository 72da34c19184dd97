//! The insight endpoints (dashboard, graph, coverage, costs, exit) and the session cookie,
//! over a real collector: facts ingested through IngestService, queried over HTTP.

use landmeter_collector::config::CollectorConfig;
use landmeter_proto::v1::{
    AccountCoverage, Fact, FactsBatch, Gap, GapKind, ScanBegin, ScanEnd, Size, Store, StoreFilter,
    collector_message::Msg, fact::Body,
};
use serde_json::Value;

use crate::harness::{ACCOUNT, Collector, bucket, bucket_in};

const OTHER_ACCOUNT: &str = "210987654321";

fn size(account: &str, subject: &str, bytes: i64) -> Fact {
    Fact {
        account: account.into(),
        subject: subject.into(),
        observed_at_ms: 1_700_000_000_000,
        api_call: "cloudwatch:GetMetricData".into(),
        body: Some(Body::Size(Size {
            bytes_by_storage_type: [("StandardStorage".to_owned(), bytes)].into(),
            objects: 7,
            datapoint_at_ms: 1_700_000_000_000,
            known: true,
            allocated_bytes: None,
        })),
    }
}

/// Tenant "default" through IngestService: b-de (100 GB, BBN2), b-us (size unknown, its
/// tagging call denied: a gap) and an OVHcloud store of 5 GB (no price in the table).
async fn seeded(name: &str, tweak: impl FnOnce(&mut CollectorConfig)) -> Collector {
    let c = Collector::start_http(name, tweak).await;
    let mut a = c.agent("agent-i").await;
    a.begin("q1").await;
    let mut facts = bucket("b-de", "eu-central-1", &[("classification", "BBN2")]);
    facts.push(size(ACCOUNT, "b-de", 100_000_000_000));
    facts.extend(
        bucket("b-us", "us-east-1", &[])
            .into_iter()
            .filter(|f| !matches!(f.body, Some(Body::Tags(_)))),
    );
    facts.push(Fact {
        account: ACCOUNT.into(),
        subject: "b-us".into(),
        observed_at_ms: 1_700_000_000_000,
        api_call: "s3:GetBucketTagging".into(),
        body: Some(Body::Gap(Gap {
            kind: GapKind::AccessDenied as i32,
            code: "AccessDenied".into(),
            message: "not allowed".into(),
            call: "s3:GetBucketTagging".into(),
            ..Default::default()
        })),
    });
    facts.push(Fact {
        account: ACCOUNT.into(),
        subject: "o-gra".into(),
        observed_at_ms: 1_700_000_000_000,
        api_call: "s3:ListBuckets".into(),
        body: Some(Body::Store(Store {
            provider: "ovhcloud".into(),
            service: "s3".into(),
            name: "o-gra".into(),
            region: "gra".into(),
            ..Store::default()
        })),
    });
    facts.push(size(ACCOUNT, "o-gra", 5_000_000_000));
    a.batch("q1", 1, facts).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end("q1", 1, true).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    c
}

/// A second tenant, written through the store's ingest methods (the plaintext listener
/// knows one tenant only): one store in Germany.
fn second_tenant(c: &Collector) {
    let (interpreter, _) =
        landmeter_collector::server::build_interpreter(&CollectorConfig::default())
            .expect("interpreter");
    let s = &c.store;
    s.begin_scan(
        "other",
        "agent-o",
        &ScanBegin {
            scan_id: "o1".into(),
            started_at_ms: 1,
            accounts: vec!["999".into()],
            provider: "aws".into(),
            ..Default::default()
        },
    )
    .expect("begin");
    s.commit_batch(
        "other",
        "agent-o",
        &FactsBatch {
            scan_id: "o1".into(),
            seq: 1,
            facts: bucket_in("999", "o-de", "eu-central-1", &[]),
        },
    )
    .expect("batch");
    landmeter_collector::scan_end::finish_scan(
        s.as_ref(),
        &interpreter,
        "other",
        "agent-o",
        &ScanEnd {
            scan_id: "o1".into(),
            ended_at_ms: 2,
            batches: 1,
            coverage: vec![AccountCoverage {
                account: "999".into(),
                complete: true,
                ..AccountCoverage::default()
            }],
        },
        3,
    )
    .expect("finish");
}

fn token(c: &Collector, role: &str, tenant: Option<&str>) -> String {
    let t = landmeter_collector::auth::new_token();
    c.store
        .create_token(
            &landmeter_collector::auth::token_hash(&t),
            role,
            tenant,
            role,
        )
        .expect("token");
    t
}

async fn get(c: &Collector, path: &str, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", c.http_url.as_deref().expect("http")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn keys(rows: &Value) -> Vec<(String, u64)> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                // The pool's merged row of withheld values has no key.
                r["key"].as_str().unwrap_or("(withheld)").to_owned(),
                r["stores"].as_u64().expect("stores"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_equals_summary_per_scope() {
    let c = seeded("dashboard", |cfg| cfg.pool_min_tenants = 2).await;
    second_tenant(&c);
    let admin = c.admin_token.clone();

    let (status, d) = get(&c, "/v1/dashboard", &admin).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["scope"], "all");
    assert_eq!(
        (&d["stores"], &d["bytes"], &d["stores_size_unknown"]),
        (
            &Value::from(4),
            &Value::from(105_000_000_000_i64),
            &Value::from(2)
        )
    );
    // Every dimension equals /v1/summary's rows for the same field.
    for (dim, by) in [
        ("country", "country"),
        ("eu", "eu"),
        ("cloud_act", "cloud_act"),
        ("custody", "custody"),
        ("process", "process"),
    ] {
        let (_, summary) = get(&c, &format!("/v1/summary?by={by}"), &admin).await;
        let from_summary: Vec<(String, u64, i64, u64)> = summary
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                (
                    r[by].as_str().expect("key").to_owned(),
                    r["stores"].as_u64().expect("stores"),
                    r["bytes"].as_i64().expect("bytes"),
                    r["stores_without_size"].as_u64().expect("unknown"),
                )
            })
            .collect();
        let from_dashboard: Vec<(String, u64, i64, u64)> = d["dimensions"][dim]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().expect("key").to_owned(),
                    r["stores"].as_u64().expect("stores"),
                    r["bytes"].as_i64().expect("bytes"),
                    r["stores_size_unknown"].as_u64().expect("unknown"),
                )
            })
            .collect();
        assert_eq!(from_dashboard, from_summary, "{dim}");
    }
    assert_eq!(
        keys(&d["dimensions"]["country"]),
        [("DE".into(), 2), ("FR".into(), 1), ("US".into(), 1)]
    );
    // The five headline figures agree with the dimension rows they sum.
    let headline = |id: &str| {
        d["headline"]
            .as_array()
            .expect("headline")
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no headline {id}: {d}"))
    };
    let rows_where = |dim: &str, keep: &dyn Fn(&str) -> bool| -> u64 {
        d["dimensions"][dim]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| keep(r["key"].as_str().unwrap_or_default()))
            .map(|r| r["stores"].as_u64().unwrap_or(0))
            .sum()
    };
    let unclassified = headline("unclassified");
    assert_eq!(
        unclassified["stores"],
        rows_where("classification", &|k| k.is_empty())
    );
    assert_eq!(unclassified["unknown_stores"], 1, "b-us's tags were denied");
    assert_eq!(
        headline("cloud-act")["stores"],
        rows_where("cloud_act", &|k| k == "yes" || k == "unclear")
    );
    assert_eq!(
        headline("outside-eu")["stores"],
        rows_where("jurisdiction", &|k| k.starts_with("non-EU"))
    );
    // b-us: tags denied; o-gra: no encryption answer (custody unknown).
    assert_eq!(headline("not-read")["stores"], 2);
    assert_eq!(
        headline("provider-keys")["unknown_stores"],
        rows_where("custody", &|k| k == "unknown")
    );
    assert!(
        d["headline"]
            .as_array()
            .expect("headline")
            .iter()
            .all(|f| f["total_stores"] == 4)
    );
    // Unclassified is the empty key; b-us, whose tags could not be read, is unknown, not
    // unclassified (unknown is never "no").
    assert_eq!(
        keys(&d["dimensions"]["classification"]),
        [("BBN2".into(), 1), ("".into(), 2), ("unknown".into(), 1)]
    );
    // The indicators: the two German AWS stores at 1, the US one at 0; OVHcloud in France
    // has SOV-2 4, and no SOV-3 while its custody is unknown (no encryption fact).
    assert_eq!(
        keys(&d["dimensions"]["sov2"]),
        [("0".into(), 1), ("1".into(), 2), ("4".into(), 1)]
    );
    assert_eq!(
        keys(&d["dimensions"]["sov3"]),
        [("0".into(), 1), ("1".into(), 2), ("unknown".into(), 1)]
    );
    assert!(
        d["indicators_note"]
            .as_str()
            .expect("note")
            .contains("not an official")
    );
    assert!(
        keys(&d["dimensions"]["provider_parent"])
            .iter()
            .any(|(k, n)| k.starts_with("Amazon.com") && *n == 3)
    );
    // Known cost: 100 GB of AWS at 0.0245 USD/GB-month (the US store's size is unknown);
    // OVHcloud's price is unknown, so its store is counted, not priced at zero.
    assert_eq!(d["costs"]["monthly_known"], 2.45);
    assert_eq!(d["costs"]["currency"], "USD");
    assert_eq!(d["costs"]["stores_price_unknown"], 1);

    // A tenant viewer sees its own tenant, and may not ask for another.
    let viewer = token(&c, "tenant-viewer", Some("other"));
    let (_, mine) = get(&c, "/v1/dashboard", &viewer).await;
    assert_eq!(
        (&mine["scope"], &mine["stores"]),
        (&Value::from("tenant:other"), &Value::from(1))
    );
    assert_eq!(keys(&mine["dimensions"]["country"]), [("DE".into(), 1)]);
    let (status, _) = get(&c, "/v1/dashboard?tenant=default", &viewer).await;
    assert_eq!(status, 403);
    // The admin narrows to one tenant; /v1/summary narrows the same way.
    let (_, narrowed) = get(&c, "/v1/dashboard?tenant=default&eu=true", &admin).await;
    assert_eq!(
        (&narrowed["scope"], &narrowed["stores"]),
        (&Value::from("tenant:default"), &Value::from(2))
    );
    let (_, summary) = get(&c, "/v1/summary?tenant=other", &admin).await;
    assert_eq!(summary[0]["stores"], 1, "{summary}");
    let (_, stores) = get(&c, "/v1/stores?tenant=other", &admin).await;
    assert_eq!(stores["stores"].as_array().expect("stores").len(), 1);
    let (_, changes) = get(&c, "/v1/changes?since_ms=0&tenant=other", &admin).await;
    let changes = changes.as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["store"]["name"], "o-de");
    assert_eq!(
        get(&c, "/v1/changes?tenant=default", &viewer).await.0,
        403,
        "a tenant role cannot read another tenant's changes"
    );

    // The pool (k = 2) sees only figures over two tenants. Germany (both tenants) beside the
    // total would give the US and France back (the first tenant's alone): all three are
    // withheld into one row.
    let pool = token(&c, "pool-viewer", None);
    let (status, p) = get(&c, "/v1/dashboard", &pool).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        (&p["scope"], &p["stores"]),
        (&Value::from("pool"), &Value::from(4))
    );
    assert_eq!(
        keys(&p["dimensions"]["country"]),
        [("(withheld)".into(), 4)]
    );
    assert_eq!(p["dimensions"]["country"][0]["withheld_cells"], 3);
    assert_eq!(keys(&p["dimensions"]["sov2"]), [("(withheld)".into(), 4)]);
    assert_eq!(p["pool_min_tenants"], 2);
    assert_eq!(get(&c, "/v1/graph", &pool).await.0, 403);
    // Names to choose from: the admin's include tenants; the pool gets none.
    let (status, names) = get(&c, "/v1/names", &admin).await;
    assert_eq!(status, 200, "{names}");
    assert_eq!(names["provider"], serde_json::json!(["aws", "ovhcloud"]));
    assert_eq!(names["tenant"], serde_json::json!(["default", "other"]));
    assert_eq!(get(&c, "/v1/names", &pool).await.0, 403);
    assert_eq!(get(&c, "/v1/dashboard?tenant=other", &pool).await.0, 403);
    // Audited like every query.
    let log = c.store.audit_log(50).expect("audit");
    assert!(
        log.iter()
            .any(|e| e.method == "Dashboard" && e.role == "pool-viewer" && e.rows == 4)
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_aggregates_large_sets_and_expands_groups() {
    let c = seeded("graph", |_| {}).await;
    let mut a = c.agent("agent-g").await;
    a.begin_for("g1", OTHER_ACCOUNT).await;
    let mut facts = Vec::new();
    for i in 0..210 {
        facts.extend(bucket_in(
            OTHER_ACCOUNT,
            &format!("g{i:03}"),
            "eu-west-1",
            &[],
        ));
    }
    a.batch("g1", 1, facts).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end_for("g1", 1, true, OTHER_ACCOUNT).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    let admin = c.admin_token.clone();

    // Three stores: no aggregation. tenant, account, 2 providers, 3 regions, 3 stores.
    let (status, g) = get(&c, &format!("/v1/graph?account={ACCOUNT}"), &admin).await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["aggregated"], false);
    let nodes = g["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 10, "{g}");
    let node = |id: &str| {
        nodes
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {g}"))
    };
    assert_eq!(
        node(&format!("store:aws:{ACCOUNT}:b-us"))["jurisdiction"],
        "non-eu"
    );
    assert_eq!(
        node(&format!("store:aws:{ACCOUNT}:b-de"))["jurisdiction"],
        "us-parent"
    );
    assert_eq!(
        node(&format!("store:ovhcloud:{ACCOUNT}:o-gra"))["jurisdiction"],
        "eu"
    );
    assert_eq!(
        node(&format!("store:aws:{ACCOUNT}:b-us"))["bytes"],
        Value::Null
    );
    assert_eq!(node(&format!("account:default/{ACCOUNT}"))["count"], 3);
    assert!(
        g["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .any(|e| e["kind"] == "located-in"
                && e["from"] == format!("store:aws:{ACCOUNT}:b-de")
                && e["to"] == "region:aws/eu-central-1")
    );

    // 210 stores in Ireland: one group per (account, region, custody).
    let (_, g) = get(&c, "/v1/graph?region=eu-west-1", &admin).await;
    assert_eq!(g["aggregated"], true);
    let nodes = g["nodes"].as_array().expect("nodes");
    let group_id = format!("group:default/{OTHER_ACCOUNT}/eu-west-1/bucket/provider");
    // tenant, account, provider, region, one group.
    assert_eq!(nodes.len(), 5, "{g}");
    let group = nodes.iter().find(|n| n["id"] == group_id).expect("group");
    assert_eq!(
        (&group["kind"], &group["count"], &group["custody"]),
        (
            &Value::from("store-group"),
            &Value::from(210),
            &Value::from("provider")
        )
    );
    let (_, g) = get(
        &c,
        &format!("/v1/graph?region=eu-west-1&expand={group_id}"),
        &admin,
    )
    .await;
    let nodes = g["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4 + 210);
    assert_eq!(nodes.iter().filter(|n| n["kind"] == "store").count(), 210);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_costs_exit_and_the_session_cookie() {
    let c = seeded("coverage", |_| {}).await;
    // A later, incomplete scan of another account.
    let mut a = c.agent("agent-i").await;
    a.begin_for("q2", OTHER_ACCOUNT).await;
    a.batch("q2", 1, bucket_in(OTHER_ACCOUNT, "late", "eu-west-1", &[]))
        .await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end_for("q2", 1, false, OTHER_ACCOUNT).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    let admin = c.admin_token.clone();

    let (status, cov) = get(&c, "/v1/coverage?tenant=default", &admin).await;
    assert_eq!(status, 200, "{cov}");
    let scans = cov["scans"].as_array().expect("scans");
    assert_eq!(scans.len(), 2);
    assert_eq!(
        (&scans[0]["scan_id"], &scans[0]["complete"]),
        (&Value::from("q2"), &Value::from(false))
    );
    assert_eq!(
        (&scans[1]["scan_id"], &scans[1]["complete"]),
        (&Value::from("q1"), &Value::from(true))
    );
    assert_eq!(scans[1]["accounts"], serde_json::json!([ACCOUNT]));
    assert_eq!(
        scans[1]["gaps"],
        serde_json::json!([{"account": ACCOUNT, "region": "us-east-1", "call": "s3:GetBucketTagging",
            "subject": "b-us", "kind": "GAP_KIND_ACCESS_DENIED", "code": "AccessDenied",
            "message": "not allowed"}])
    );
    let stranger = token(&c, "tenant-viewer", Some("other"));
    let (_, none) = get(&c, "/v1/coverage", &stranger).await;
    assert_eq!(none["scans"], serde_json::json!([]));

    // Costs: AWS priced from known sizes; OVHcloud unknown (null, never 0).
    let (status, costs) = get(&c, "/v1/costs?by=provider", &admin).await;
    assert_eq!(status, 200, "{costs}");
    let rows = costs["rows"].as_array().expect("rows");
    let row = |key: &str| rows.iter().find(|r| r["key"] == key).expect("row");
    assert_eq!(row("aws")["monthly"], 2.45);
    assert_eq!(row("aws")["currency"], "USD");
    assert_eq!(row("aws")["stores_size_unknown"], 2, "b-us and late");
    assert!(
        row("aws")["price_source"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(row("ovhcloud")["monthly"], Value::Null);
    assert_eq!(row("ovhcloud")["stores_price_unknown"], 1);
    assert_eq!(row("ovhcloud")["bytes"], 5_000_000_000_i64);
    let (_, by_store) = get(&c, "/v1/costs?by=store&provider=ovhcloud", &admin).await;
    assert_eq!(
        by_store["rows"][0]["key"],
        format!("ovhcloud:{ACCOUNT}:o-gra")
    );
    assert_eq!(by_store["rows"][0]["monthly"], Value::Null);
    assert_eq!(get(&c, "/v1/costs?by=planet", &admin).await.0, 400);

    // The exit scenario is the CLI's JSON rendering, computed for the day it is given.
    let (status, exit) = get(
        &c,
        "/v1/exit?from=aws&to=ovhcloud&bandwidth_mbps=100&on=2027-01-11",
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{exit}");
    assert_eq!(exit["on"], "2027-01-11");
    assert_eq!(exit["stores"], 3);
    assert_eq!(exit["bytes"], 100_000_000_000_i64);
    assert_eq!(exit["stores_size_unknown"], 2, "b-us and late");
    // 100 GB: exactly AWS's free 100 GB a month, so 0 USD at list price, every tier dated.
    let egress = &exit["egress"];
    assert_eq!(egress["currency"], "USD");
    assert_eq!(egress["unit"], "GB");
    assert_eq!(egress["volume"], 100.0);
    assert_eq!(egress["free_allowance_per_month"], 100.0);
    assert_eq!(egress["list_price"]["amount"], 0.0);
    assert_eq!(egress["list_price"]["tiers"], serde_json::json!([]));
    assert!(
        egress["list_price"]["source"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    // AWS's free-exit programme: a separate figure with its conditions.
    let programme = &egress["free_exit_programme"];
    assert_eq!(programme["amount"], 0.0);
    assert!(
        programme["conditions"]
            .as_str()
            .is_some_and(|c| c.contains("60 days"))
    );
    // The Data Act: at most cost the day before 12 January 2027 (unknown, bounded by the
    // list price), nothing from that day.
    assert_eq!(egress["data_act"]["phase"], "at-most-cost");
    assert_eq!(egress["data_act"]["amount"], Value::Null);
    assert_eq!(egress["data_act"]["upper_bound"], 0.0);
    let (_, after) = get(
        &c,
        "/v1/exit?from=aws&to=ovhcloud&bandwidth_mbps=100&on=2027-01-12",
        &admin,
    )
    .await;
    assert_eq!(after["egress"]["data_act"]["phase"], "no-switching-charges");
    assert_eq!(after["egress"]["data_act"]["amount"], 0.0);
    // Keys: SSE-S3 names no key, so no distinct key, three stores under provider keys;
    // OVHcloud has no external key manager (from the table, with its source).
    let keys = &exit["keys"];
    assert_eq!(keys["keys_to_recreate"], 0);
    assert_eq!(keys["stores_recreated_without_key_id"], 3);
    assert_eq!(keys["target_external_key_manager"]["support"], "no");
    assert_eq!(keys["hyok"], Value::Null);
    assert_eq!(keys["hyok_lost"]["stores"], 0);
    assert_eq!(keys["custody_unknown_stores"], 0);
    assert_eq!(
        exit["storage_per_month"]["after"]["amount"],
        Value::Null,
        "unknown, not 0"
    );
    let (url, token_arg) = (c.url.clone(), admin.clone());
    let cli = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
            .args([
                "exit",
                "--from",
                "aws",
                "--to",
                "ovhcloud",
                "--bandwidth-mbps",
                "100",
                "--on",
                "2027-01-11",
            ])
            .args(["--format", "json", "--server", &url, "--token", &token_arg])
            .output()
            .expect("run landmeter")
    })
    .await
    .expect("cli");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("json");
    assert_eq!(exit, cli);
    assert_eq!(
        get(&c, "/v1/exit?from=aws&to=ovhcloud&on=11-01-2027", &admin)
            .await
            .0,
        400
    );
    assert_eq!(get(&c, "/v1/exit?from=aws", &admin).await.0, 400);

    // The CLI's exports: costs equal the API's rows; the graph's edges as CSV equal the API's
    // edges (this map is below the aggregation threshold, so both show every store).
    let landmeter = |args: Vec<&'static str>| {
        let (url, token) = (c.url.clone(), admin.clone());
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
                .args(args)
                .args(["--server", &url, "--token", &token])
                .output()
                .expect("run landmeter");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).expect("utf-8")
        })
    };
    let cli_costs: Value = serde_json::from_str(
        &landmeter(vec!["costs", "--by", "provider", "--format", "json"])
            .await
            .expect("costs"),
    )
    .expect("json");
    assert_eq!(&cli_costs, &costs["rows"]);
    let csv = landmeter(vec!["costs", "--by", "provider", "--format", "csv"])
        .await
        .expect("csv");
    let ovh_line = csv
        .lines()
        .find(|l| l.starts_with("ovhcloud,"))
        .expect("ovhcloud row");
    assert!(
        ovh_line.starts_with("ovhcloud,1,5000000000,0,,"),
        "unknown price is an empty cell, not 0: {ovh_line}"
    );
    let (_, graph) = get(&c, "/v1/graph", &admin).await;
    let edges_csv = landmeter(vec!["graph", "--format", "edges-csv"])
        .await
        .expect("edges");
    let mut cli_edges: Vec<&str> = edges_csv.lines().skip(1).collect();
    let mut api_edges: Vec<String> = graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            format!(
                "{},{},{}",
                e["from"].as_str().unwrap_or_default(),
                e["to"].as_str().unwrap_or_default(),
                e["kind"].as_str().unwrap_or_default()
            )
        })
        .collect();
    cli_edges.sort_unstable();
    api_edges.sort_unstable();
    assert!(!api_edges.is_empty());
    assert_eq!(cli_edges, api_edges);

    // The UI's session cookie (opened with a token) authenticates like the bearer header; a
    // bad one does not, and neither does the token itself as a cookie.
    let http = c.http_url.clone().expect("http");
    let client = reqwest::Client::new();
    let session = client
        .post(format!("{http}/ui/session"))
        .json(&serde_json::json!({ "token": admin }))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(session.status(), 204);
    let session = session.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("session id");
    let with_cookie = |cookie: String| {
        client
            .get(format!("{http}/v1/dashboard"))
            .header("cookie", cookie)
            .send()
    };
    let ok = with_cookie(format!("theme=dark; landmeter_session={session}"))
        .await
        .expect("cookie");
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["stores"], 4);
    let as_token = with_cookie(format!("landmeter_session={admin}"))
        .await
        .expect("token cookie");
    assert_eq!(as_token.status(), 401);
    let bad = with_cookie(format!("landmeter_session=ls_{}", "0".repeat(64)))
        .await
        .expect("bad cookie");
    assert_eq!(bad.status(), 401);
    let err: Value = bad.json().await.expect("json");
    assert!(
        err["error"].as_str().is_some_and(|e| e.contains("revoked")),
        "{err}"
    );
    let none = client
        .get(format!("{http}/v1/graph"))
        .send()
        .await
        .expect("none");
    assert_eq!(none.status(), 401);
    // Server-sent events take the cookie too.
    let events = client
        .get(format!("{http}/v1/events"))
        .header("cookie", format!("landmeter_session={session}"))
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    drop(events);

    // Indicators reach the store page, with their reasons.
    let (_, store) = get(&c, &format!("/v1/stores/aws:{ACCOUNT}:b-de"), &admin).await;
    assert_eq!(
        (
            &store["store"]["sov2_indicator"],
            &store["store"]["sov3_indicator"]
        ),
        (&Value::from(1), &Value::from(1))
    );
    assert!(
        store["store"]["indicator_reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.starts_with("SOV-3: 1")))
    );
    let spec: Value = client
        .get(format!("{http}/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/dashboard",
        "/v1/graph",
        "/v1/coverage",
        "/v1/costs",
        "/v1/exit",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} not documented");
    }
    c.stop().await;
}

/// A database written before the indicators existed gets them at the next start: the
/// indicator rules are part of the interpretation fingerprint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_views_get_the_indicators_when_the_rules_change() {
    use prost::Message;
    let dir = crate::harness::temp_dir("indicators-upgrade");
    let cfg = CollectorConfig {
        insecure_plaintext: true,
        ..CollectorConfig::default()
    };
    let c = Collector::start_in(dir.clone(), cfg.clone()).await;
    let mut a = c.agent("agent-u").await;
    a.begin("u1").await;
    a.batch("u1", 1, bucket("b-de", "eu-central-1", &[])).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end("u1", 1, true).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    drop(a);
    c.store
        .set_interpretation_fingerprint("an older build")
        .expect("fingerprint");
    c.stop().await;

    // Rewrite the stored view as an older build wrote it: no indicators.
    let db = rusqlite::Connection::open(dir.join("map.db")).expect("open");
    let blob: Vec<u8> = db
        .query_row("SELECT view FROM stores", [], |r| r.get(0))
        .expect("view");
    let mut old = landmeter_proto::v1::StoreView::decode(blob.as_slice()).expect("decode");
    assert_eq!(old.sov3_indicator, Some(1));
    old.sov2_indicator = None;
    old.sov3_indicator = None;
    old.indicator_reasons.clear();
    db.execute("UPDATE stores SET view = ?1", [old.encode_to_vec()])
        .expect("rewrite");
    drop(db);

    let mut cfg = cfg;
    cfg.database = dir.join("map.db").display().to_string();
    let (interpreter, fingerprint) =
        landmeter_collector::server::build_interpreter(&cfg).expect("interpreter");
    let store =
        landmeter_collector::server::open_store(&cfg, &interpreter, &fingerprint).expect("store");
    let view = store
        .get_store(
            &landmeter_collector::store::Scope::AllTenants,
            &format!("aws:{ACCOUNT}:b-de"),
        )
        .expect("read")
        .expect("found")
        .store
        .expect("view");
    assert_eq!(
        (view.sov2_indicator, view.sov3_indicator),
        (Some(1), Some(1))
    );
    assert!(!view.indicator_reasons.is_empty());
}

/// A map written by the previous version (a denied tag read stored as "unclassified", no
/// unknowns) is re-interpreted to the current rules at the next start: the store becomes
/// unknown, with the failed call, in its view and in the column filters use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_map_is_reinterpreted_to_unknown_is_never_no() {
    use prost::Message;
    let dir = crate::harness::temp_dir("unknowns-upgrade");
    let cfg = CollectorConfig {
        insecure_plaintext: true,
        ..CollectorConfig::default()
    };
    let c = Collector::start_in(dir.clone(), cfg.clone()).await;
    let mut a = c.agent("agent-u").await;
    a.begin("u1").await;
    let mut facts: Vec<Fact> = bucket("b-us", "us-east-1", &[])
        .into_iter()
        .filter(|f| !matches!(f.body, Some(Body::Tags(_))))
        .collect();
    facts.push(Fact {
        account: ACCOUNT.into(),
        subject: "b-us".into(),
        observed_at_ms: 1_700_000_000_000,
        api_call: "s3:GetBucketTagging".into(),
        body: Some(Body::Gap(Gap {
            kind: GapKind::AccessDenied as i32,
            code: "AccessDenied".into(),
            message: "not allowed".into(),
            call: "s3:GetBucketTagging".into(),
            ..Default::default()
        })),
    });
    a.batch("u1", 1, facts).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end("u1", 1, true).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    drop(a);
    c.store
        .set_interpretation_fingerprint("the previous version")
        .expect("fingerprint");
    c.stop().await;

    // As the previous version stored it.
    let db = rusqlite::Connection::open(dir.join("map.db")).expect("open");
    let blob: Vec<u8> = db
        .query_row("SELECT view FROM stores", [], |r| r.get(0))
        .expect("view");
    let mut old = landmeter_proto::v1::StoreView::decode(blob.as_slice()).expect("decode");
    assert_eq!(old.classification, "unknown", "today's rules");
    old.classification = "unclassified".into();
    old.process = "unassigned".into();
    old.unknowns.clear();
    db.execute(
        "UPDATE stores SET view = ?1, classification = 'unclassified', unknown_dims = ''",
        [old.encode_to_vec()],
    )
    .expect("rewrite");
    drop(db);

    let mut cfg = cfg;
    cfg.database = dir.join("map.db").display().to_string();
    let (interpreter, fingerprint) =
        landmeter_collector::server::build_interpreter(&cfg).expect("interpreter");
    let store =
        landmeter_collector::server::open_store(&cfg, &interpreter, &fingerprint).expect("store");
    let all = landmeter_collector::store::Scope::AllTenants;
    let unknown = StoreFilter {
        unknown: vec!["classification".into()],
        ..StoreFilter::default()
    };
    let (found, _) = store.list_stores(&all, &unknown, 10, "").expect("list");
    assert_eq!(found.len(), 1, "the column filters use was rewritten too");
    let view = &found[0];
    assert_eq!(view.classification, "unknown");
    let why = view.unknown("classification").expect("why");
    assert_eq!(
        (why.call.as_str(), why.code.as_str()),
        ("s3:GetBucketTagging", "AccessDenied")
    );
}
