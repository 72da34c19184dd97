//! The board report and the evidence bundle against a real collector (gRPC ingest, SQLite,
//! the HTTP side on a loopback socket), read back the way a reader or auditor would.

use std::collections::BTreeMap;

use landmeter_proto::v1::{
    BoardReportRequest, EvidenceRequest, Fact, ListStoresRequest, Size, StoreFilter,
    SummaryRequest, collector_message::Msg, fact::Body,
};
use serde_json::Value;

use crate::harness::{ACCOUNT, Collector, bucket, bucket_in};

/// A size fact: known bytes and objects.
fn size(name: &str, bytes: i64) -> Fact {
    Fact {
        account: ACCOUNT.into(),
        subject: name.into(),
        observed_at_ms: 1_700_000_000_000,
        api_call: "cloudwatch:GetMetricData".into(),
        body: Some(Body::Size(Size {
            bytes_by_storage_type: [("StandardStorage".to_owned(), bytes)].into(),
            objects: 3,
            datapoint_at_ms: 1_700_000_000_000,
            known: true,
            allocated_bytes: None,
        })),
    }
}

/// (name, region, classification, bytes) of the estate in its first state.
const ESTATE: [(&str, &str, &str, Option<i64>); 6] = [
    ("fin-de", "eu-central-1", "BBN2", Some(4_000_000_000)),
    ("hr-ie", "eu-west-1", "BBN1", Some(1_000_000_000)),
    ("web-us", "us-east-1", "BBN2", Some(2_500_000_000)),
    ("logs-au", "ap-southeast-2", "", None),
    ("tmp-se", "eu-north-1", "", Some(10)),
    ("old-de", "eu-central-1", "", Some(7)),
];

fn facts_of(estate: &[(&str, &str, &str, Option<i64>)]) -> Vec<Fact> {
    let mut facts = Vec::new();
    for (name, region, class, bytes) in estate {
        let tags: Vec<(&str, &str)> = if class.is_empty() {
            vec![]
        } else {
            vec![("classification", class)]
        };
        facts.extend(bucket(name, region, &tags));
        if let Some(b) = bytes {
            facts.push(size(name, *b));
        }
    }
    facts
}

async fn scan(c: &Collector, scan_id: &str, facts: Vec<Fact>) {
    let mut a = c.agent("agent-report").await;
    a.begin(scan_id).await;
    a.batch(scan_id, 1, facts).await;
    assert!(matches!(a.next().await, Msg::Ack(_)), "batch acked");
    a.end(scan_id, 1, true).await;
    assert!(matches!(a.next().await, Msg::Ack(_)), "scan end acked");
}

async fn seeded(name: &str) -> Collector {
    let c = Collector::start_http(name, |_| {}).await;
    scan(&c, "scan-1", facts_of(&ESTATE)).await;
    c
}

fn http(c: &Collector) -> String {
    c.http_url.clone().expect("http side")
}

async fn get(url: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("http request")
}

/// The attributes of every element carrying `marker` (e.g. `data-dim=`), as maps.
fn elements_with(html: &str, marker: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(marker) {
        let start = rest[..i].rfind('<').expect("inside a tag");
        let end = i + rest[i..].find('>').expect("tag ends");
        out.push(attributes(&rest[start..end]));
        rest = &rest[end..];
    }
    out
}

fn attributes(tag: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].rsplit([' ', '<']).next().unwrap_or_default();
        let value_end = rest[eq + 2..].find('"').expect("closing quote");
        let value = &rest[eq + 2..eq + 2 + value_end];
        map.insert(
            name.to_owned(),
            value
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        );
        rest = &rest[eq + 2 + value_end + 1..];
    }
    map
}

/// The value of the element with this id (its data-value attribute).
fn figure(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    elements_with(html, &marker)
        .first()
        .and_then(|a| a.get("data-value").cloned())
        .unwrap_or_else(|| panic!("no figure {id}"))
}

fn trend(html: &str, key: &str) -> u64 {
    elements_with(html, &format!("data-trend=\"{key}\""))
        .first()
        .and_then(|a| a.get("data-value").cloned())
        .unwrap_or_else(|| panic!("no trend row {key}"))
        .parse()
        .expect("number")
}

#[tokio::test]
async fn report_numbers_equal_the_api() {
    let c = seeded("report-numbers").await;
    let resp = get(
        &format!("{}/v1/report?tenant=default&format=html", http(&c)),
        &c.admin_token,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    // Issue 14 #11: a page that runs nothing and loads nothing.
    assert_eq!(
        resp.headers()["content-security-policy"],
        landmeter_collector::api::documents::REPORT_CSP
    );
    assert!(landmeter_collector::api::documents::REPORT_CSP.starts_with("default-src 'none'"));
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let html = resp.text().await.expect("body");
    assert!(!html.contains("<script"), "the report runs no script");

    // Totals against ListStores.
    let stores = c
        .map()
        .await
        .list_stores(ListStoresRequest {
            filter: Some(StoreFilter::default()),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .expect("list")
        .into_inner()
        .stores;
    assert_eq!(stores.len(), 6);
    assert_eq!(figure(&html, "total-stores"), "6");
    let known: i64 = stores.iter().filter_map(|s| s.bytes).sum();
    assert_eq!(known, 7_500_000_017);
    assert_eq!(figure(&html, "total-bytes"), known.to_string());
    assert_eq!(figure(&html, "total-size-unknown"), "1");

    // Every dimension the report shares with Summary: the same rows, row for row.
    let rows = elements_with(&html, "data-dim=");
    for dim in ["eu", "custody", "cloud_act", "classification", "country"] {
        let summary = c
            .map()
            .await
            .summary(SummaryRequest {
                filter: Some(StoreFilter::default()),
                group_by: vec![dim.into()],
            })
            .await
            .expect("summary")
            .into_inner();
        let from_api: BTreeMap<String, (u64, i64, u64)> = summary
            .rows
            .iter()
            .map(|r| {
                (
                    r.keys[0].clone(),
                    (r.stores, r.bytes, r.stores_without_size),
                )
            })
            .collect();
        let from_report: BTreeMap<String, (u64, i64, u64)> = rows
            .iter()
            .filter(|a| a["data-dim"] == dim)
            .map(|a| {
                (
                    a["data-key"].clone(),
                    (
                        a["data-stores"].parse().expect("n"),
                        a["data-bytes"].parse().expect("n"),
                        a["data-size-unknown"].parse().expect("n"),
                    ),
                )
            })
            .collect();
        assert_eq!(from_report, from_api, "dimension {dim}");
    }
    assert_eq!(figure(&html, "eu-stores"), "4");
    assert_eq!(figure(&html, "classified-stores"), "3");

    // Risks name their store and its last scan; classified data outside the EU comes first.
    let risks = elements_with(&html, "data-risk=");
    assert_eq!(risks[0]["data-risk"], "classified-outside-eu");
    assert_eq!(risks[0]["data-store"], format!("aws:{ACCOUNT}:web-us"));
    assert!(risks.iter().all(|r| r["data-scan"] == "scan-1"));
    assert!(
        risks
            .iter()
            .any(|r| r["data-risk"] == "size-unknown" && r["data-store"].ends_with(":logs-au"))
    );
    // Provenance lists the scan; the exit scenario moves the largest provider's known bytes.
    assert_eq!(
        elements_with(&html, "data-scan-id=")[0]["data-scan-id"],
        "scan-1"
    );
    let exit: BTreeMap<String, String> = elements_with(&html, "data-exit=")
        .into_iter()
        .map(|a| (a["data-exit"].clone(), a["data-value"].clone()))
        .collect();
    assert_eq!(exit["bytes"], known.to_string());
    assert_eq!(exit["stores"], "6");
    assert!(html.contains("to <b>ovhcloud</b>"), "default exit target");
    // The report's money is EUR: the API's USD figures at the table's named, dated rate.
    assert!(html.contains("at <b>aws</b>"));
    let api: Value = get(
        &format!("{}/v1/exit?from=aws&to=ovhcloud", http(&c)),
        &c.admin_token,
    )
    .await
    .json()
    .await
    .expect("exit");
    assert_eq!(api["egress"]["currency"], "USD");
    let in_eur = |usd: &Value| usd.as_f64().map(|v| v / 1.1172);
    let eur = |key: &str| exit[key].parse::<f64>().ok();
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (a, b) => a == b,
    };
    assert!(close(
        eur("egress"),
        in_eur(&api["egress"]["list_price"]["amount"])
    ));
    assert!(close(
        eur("egress-data-act"),
        in_eur(&api["egress"]["data_act"]["amount"])
    ));
    assert!(close(
        eur("storage-now"),
        in_eur(&api["storage_per_month"]["now"]["amount"])
    ));
    assert_eq!(exit["storage-after"], "", "unknown, not 0");
    assert_eq!(exit["egress-free-exit"], "0");
    assert!(
        html.contains("1 EUR = 1.1172 USD on 2026-10-30"),
        "the rate is named"
    );
    assert_eq!(exit["keys"], api["keys"]["keys_to_recreate"].to_string());
    assert!(html.contains("not an official SEAL"));
    let spec: Value = get(&format!("{}/openapi.json", http(&c)), &c.admin_token)
        .await
        .json()
        .await
        .expect("spec");
    for path in ["/v1/report", "/v1/evidence"] {
        assert!(spec["paths"].get(path).is_some(), "{path} not documented");
    }
    assert!(
        html.contains("data-trend=\"none\""),
        "first report: no trend"
    );
    // Kept as a test artifact for a look at the layout.
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/report-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    std::fs::write(artifacts.join("board-report.html"), &html).expect("artifact");
    c.stop().await;
}

#[tokio::test]
async fn second_report_shows_the_trend_since_the_first() {
    let c = seeded("report-trend").await;
    let mut map = c.map().await;
    let first = map
        .board_report(BoardReportRequest {
            tenant: "default".into(),
            issue: true,
            ..Default::default()
        })
        .await
        .expect("first report")
        .into_inner();
    assert!(first.report_id > 0, "issued");
    // hr-ie moves to the US, old-de is gone, new-nl appears.
    let mut next: Vec<_> = ESTATE
        .iter()
        .filter(|(n, ..)| *n != "old-de")
        .map(|&(n, r, cl, b)| {
            if n == "hr-ie" {
                (n, "us-west-2", cl, b)
            } else {
                (n, r, cl, b)
            }
        })
        .collect();
    next.push(("new-nl", "eu-west-3", "", Some(5)));
    scan(&c, "scan-2", facts_of(&next)).await;
    // Reading (previewing) the report any number of times keeps nothing: the trend still
    // compares with the first issued report (issue 14 #10).
    for _ in 0..2 {
        let preview = map
            .board_report(BoardReportRequest {
                tenant: "default".into(),
                ..Default::default()
            })
            .await
            .expect("preview")
            .into_inner();
        assert_eq!(preview.report_id, 0);
        assert!(
            preview
                .html
                .contains(&format!("figures kept from report #{}", first.report_id))
        );
    }
    let second = map
        .board_report(BoardReportRequest {
            tenant: "default".into(),
            exit_to: "hetzner".into(),
            bandwidth_mbps: 100.0,
            issue: true,
            ..Default::default()
        })
        .await
        .expect("second report")
        .into_inner();
    assert!(second.report_id > first.report_id);
    let html = second.html;
    assert!(
        html.contains(&format!("figures kept from report #{}", first.report_id)),
        "names the baseline"
    );
    assert_eq!(trend(&html, "new"), 1);
    assert_eq!(trend(&html, "gone"), 1);
    assert_eq!(trend(&html, "left-eu"), 1);
    assert_eq!(trend(&html, "entered-eu"), 0);
    assert!(html.contains(":new-nl</span>") && html.contains(":old-de</span>"));
    assert!(html.contains("to <b>hetzner</b>"));
    // Classified hr-ie is now outside the EU: a risk with the scan that saw it there.
    assert!(
        elements_with(&html, "data-risk=\"classified-outside-eu\"")
            .iter()
            .any(|r| r["data-store"].ends_with(":hr-ie") && r["data-scan"] == "scan-2")
    );
    c.stop().await;
}

#[tokio::test]
async fn a_tenant_viewer_gets_only_its_own_tenants_report() {
    let c = seeded("report-scope").await;
    let viewer = landmeter_collector::auth::new_token();
    c.store
        .create_token(
            &landmeter_collector::auth::token_hash(&viewer),
            "tenant-viewer",
            Some("other"),
            "viewer of other",
        )
        .expect("token");
    let base = http(&c);
    for path in ["/v1/report?tenant=default", "/v1/evidence?tenant=default"] {
        let r = get(&format!("{base}{path}"), &viewer).await;
        assert_eq!(r.status(), 403, "{path}");
        let body: Value = r.json().await.expect("json error");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("default")),
            "{body}"
        );
    }
    let denied = c
        .map_as(Some(&viewer))
        .await
        .board_report(BoardReportRequest {
            tenant: "default".into(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    // Its own tenant (left out: the token's) has no scan: no report over nothing, and
    // nothing of default's.
    let own = get(&format!("{base}/v1/report"), &viewer).await;
    assert_eq!(own.status(), 400);
    let body = own.text().await.expect("body");
    assert!(body.contains("has no scan to report on"), "{body}");
    assert!(!body.contains("fin-de"));
    // No token, no report.
    let anonymous = reqwest::get(format!("{base}/v1/report?tenant=default"))
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    c.stop().await;
}

/// Issue 14 #10: reading the board report keeps nothing (a viewer cannot move the trend's
/// baseline); issuing is an explicit POST by an administrator of the tenant, audited.
#[tokio::test]
async fn reading_a_report_issues_nothing_and_only_administrators_issue() {
    let c = seeded("report-issue").await;
    let base = http(&c);
    let token = |role: &str| {
        let t = landmeter_collector::auth::new_token();
        c.store
            .create_token(
                &landmeter_collector::auth::token_hash(&t),
                role,
                Some("default"),
                role,
            )
            .expect("token");
        t
    };
    let (viewer, tenant_admin) = (token("tenant-viewer"), token("tenant-admin"));
    let kept = |c: &Collector| {
        c.store
            .last_report(&landmeter_collector::store::Scope::AllTenants, "default")
            .expect("reports")
    };
    for who in [&viewer, &tenant_admin, &c.admin_token] {
        let r = get(&format!("{base}/v1/report?tenant=default"), who).await;
        assert_eq!(r.status(), 200);
    }
    assert!(kept(&c).is_none(), "GET is a preview");
    let post = |who: &str| {
        reqwest::Client::new()
            .post(format!("{base}/v1/report?tenant=default"))
            .bearer_auth(who)
            .send()
    };
    assert_eq!(post(&viewer).await.expect("answer").status(), 403);
    assert!(kept(&c).is_none(), "a viewer issues nothing");
    assert_eq!(post(&tenant_admin).await.expect("answer").status(), 200);
    let issued = kept(&c).expect("issued by the tenant-admin");
    let audit = c.store.audit_log(50).expect("audit");
    let issues: Vec<&str> = audit
        .iter()
        .filter(|e| e.method == "BoardReportIssue")
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(issues, ["ok", "PermissionDenied"], "newest first");
    assert!(issued.id > 0);
    c.stop().await;
}

/// Canonical JSON written independently of the collector's: keys sorted, compact.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            let parts: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn sha256(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Recomputes every digest; returns the manifest's section digests.
fn verified(bundle: &Value) -> BTreeMap<String, String> {
    let sections = bundle["manifest"]["sections"]
        .as_object()
        .expect("manifest sections");
    assert_eq!(sections.len(), 6);
    let mut out = BTreeMap::new();
    for (name, digest) in sections {
        assert_eq!(
            sha256(&canonical(&bundle[name])),
            digest.as_str().expect("hex"),
            "section {name}"
        );
        out.insert(name.clone(), digest.as_str().expect("hex").to_owned());
    }
    assert_eq!(
        sha256(&canonical(&bundle["manifest"]["sections"])),
        bundle["manifest"]["digest"].as_str().expect("digest")
    );
    out
}

#[tokio::test]
async fn evidence_manifest_verifies_and_follows_a_changed_fact() {
    let c = seeded("evidence").await;
    let resp = get(
        &format!("{}/v1/evidence?tenant=default", http(&c)),
        &c.admin_token,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let first: Value = resp.json().await.expect("json");
    let before = verified(&first);
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/report-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    std::fs::write(
        artifacts.join("evidence.json"),
        serde_json::to_string_pretty(&first).expect("json"),
    )
    .expect("artifact");
    assert_eq!(first["stores"].as_array().map(Vec::len), Some(6));
    // 6 buckets x (store, encryption, tags) + 5 sizes, each with its provenance.
    let facts = first["facts"].as_array().expect("facts");
    assert_eq!(facts.len(), 23);
    assert!(facts.iter().all(|f| f["scan_id"] == "scan-1"
        && f["agent"] == "agent-report"
        && f["api_call"].as_str().is_some_and(|c| !c.is_empty())
        && f["observed_at_ms"] == 1_700_000_000_000_i64));
    assert_eq!(first["scans"][0]["scan_id"], "scan-1");
    assert_eq!(first["scans"][0]["complete"], true);
    assert_eq!(first["collector"]["version"], env!("CARGO_PKG_VERSION"));
    let tables = &first["reference_tables"];
    assert_eq!(tables["tables_known"], true);
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "regions.csv",
            "providers.csv",
            "egress.csv (prices, built in)",
            "key-managers.csv (external key managers, built in)",
            "exchange-rates.csv (rates to EUR, built in)"
        ]
    );
    assert_eq!(
        tables["tables"][4]["sha256"],
        sha256(landmeter_collector::map::exit::EXCHANGE_RATES_CSV)
    );
    assert_eq!(
        tables["tables"][0]["sha256"],
        sha256(landmeter_collector::map::reference::REGIONS_CSV)
    );
    assert!(
        tables["interpretation_fingerprint"]
            .as_str()
            .is_some_and(|f| f.len() == 16)
    );
    // The collector's own verification agrees, and catches an edited fact.
    assert_eq!(landmeter_collector::evidence::verify(&first), Ok(()));
    let mut forged = first.clone();
    forged["facts"][0]["api_call"] = "s3:Forged".into();
    assert!(landmeter_collector::evidence::verify(&forged).is_err());

    // One fact changes (a tag), through a new scan: its sections' digests change.
    let mut facts = facts_of(&ESTATE);
    for f in &mut facts {
        if f.subject == "tmp-se"
            && let Some(Body::Tags(t)) = &mut f.body
        {
            t.tags.push(landmeter_proto::v1::Tag {
                key: "classification".into(),
                value: "BBN1".into(),
            });
        }
    }
    scan(&c, "scan-2", facts).await;
    let second: Value = serde_json::from_str(
        &c.map()
            .await
            .evidence(EvidenceRequest {
                tenant: "default".into(),
            })
            .await
            .expect("evidence over gRPC")
            .into_inner()
            .json,
    )
    .expect("json");
    let after = verified(&second);
    for changed in ["facts", "stores", "scans", "header"] {
        assert_ne!(before[changed], after[changed], "{changed}");
    }
    for same in ["collector", "reference_tables"] {
        assert_eq!(before[same], after[same], "{same}");
    }
    assert_ne!(first["manifest"]["digest"], second["manifest"]["digest"]);
    c.stop().await;
}

/// `/Type /Page` objects (not `/Type /Pages`).
fn pdf_pages(pdf: &[u8]) -> usize {
    let needle = b"/Type /Page";
    pdf.windows(needle.len() + 1)
        .filter(|w| &w[..needle.len()] == needle && w[needle.len()] != b's')
        .count()
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// A larger estate than the other tests': 3 accounts x 25 buckets over 13 regions and 6
/// classifications, scanned twice (the second report has a trend), so the layout's caps
/// (risk rows, countries, scans) are what keeps the report within two pages.
async fn large_estate(c: &Collector, round: usize) {
    const REGIONS: [&str; 13] = [
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-north-1",
        "eu-south-1",
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "ap-southeast-2",
        "ap-northeast-1",
        "ca-central-1",
        "sa-east-1",
    ];
    const CLASSES: [&str; 6] = ["BBN1", "BBN2", "BBN3", "", "internal", "secret"];
    for (a, account) in ["111111111111", "222222222222", "333333333333"]
        .iter()
        .enumerate()
    {
        let mut facts = Vec::new();
        for i in 0..25 {
            let name = format!("b{a}-{i}-with-a-long-descriptive-bucket-name");
            let region = REGIONS[(i + a + round) % REGIONS.len()];
            let class = CLASSES[(i + a) % CLASSES.len()];
            let tags: Vec<(&str, &str)> = if class.is_empty() {
                vec![]
            } else {
                vec![("classification", class)]
            };
            facts.extend(bucket_in(account, &name, region, &tags));
            if i % 4 != 0 {
                let mut f = size(&name, 1_000_000_000 * (i as i64 + 1));
                f.account = (*account).into();
                facts.push(f);
            }
        }
        let scan_id = format!("scan-{round}-{account}");
        let mut agent = c.agent("agent-large").await;
        agent.begin_for(&scan_id, account).await;
        agent.batch(&scan_id, 1, facts).await;
        assert!(matches!(agent.next().await, Msg::Ack(_)));
        agent.end_for(&scan_id, 1, true, account).await;
        assert!(matches!(agent.next().await, Msg::Ack(_)));
    }
}

#[tokio::test]
async fn pdf_report_is_one_or_two_pages() {
    assert!(
        std::path::Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run scripts/setup.sh (Debian's chromium) to render PDF reports"
    );
    let c = seeded("report-pdf").await;
    large_estate(&c, 0).await;
    c.map()
        .await
        .board_report(BoardReportRequest {
            tenant: "default".into(),
            ..Default::default()
        })
        .await
        .expect("baseline report");
    large_estate(&c, 1).await;
    let resp = get(
        &format!("{}/v1/report?tenant=default&format=pdf", http(&c)),
        &c.admin_token,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let pdf = resp.bytes().await.expect("body");
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/report-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    std::fs::write(artifacts.join("board-report-large.pdf"), &pdf).expect("artifact");
    let html = c
        .map()
        .await
        .board_report(BoardReportRequest {
            tenant: "default".into(),
            ..Default::default()
        })
        .await
        .expect("html report")
        .into_inner()
        .html;
    std::fs::write(artifacts.join("board-report-large.html"), &html).expect("artifact");
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let pages = pdf_pages(&pdf);
    assert!((1..=2).contains(&pages), "{pages} pages");

    // Dutch runs longer than English: the same estate still fits on two pages.
    let resp = get(
        &format!("{}/v1/report?tenant=default&format=pdf&lang=nl", http(&c)),
        &c.admin_token,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let nl = resp.bytes().await.expect("body");
    std::fs::write(artifacts.join("board-report-large-nl.pdf"), &nl).expect("artifact");
    assert!(nl.starts_with(b"%PDF-"), "a PDF");
    let pages = pdf_pages(&nl);
    assert!((1..=2).contains(&pages), "Dutch: {pages} pages");

    // The CLI writes the same through MapService.
    let out = crate::harness::temp_dir("report-pdf-cli").join("board.pdf");
    let cli = <landmeter_collector::cli::Cli as clap::Parser>::try_parse_from([
        "landmeter",
        "report",
        "--server",
        &c.url,
        "--token",
        &c.admin_token,
        "--tenant",
        "default",
        "--format",
        "pdf",
        "--chromium",
        CHROMIUM,
        "--out",
        out.to_str().expect("utf-8 path"),
    ])
    .expect("flags parse");
    landmeter_collector::cli::run(cli).await.expect("report");
    let written = std::fs::read(&out).expect("pdf written");
    assert!(written.starts_with(b"%PDF-"));
    assert!((1..=2).contains(&pdf_pages(&written)));
    c.stop().await;
}

#[tokio::test]
async fn a_missing_converter_is_a_clear_error() {
    let c = seeded("report-no-converter").await;
    let cli = <landmeter_collector::cli::Cli as clap::Parser>::try_parse_from([
        "landmeter",
        "report",
        "--server",
        &c.url,
        "--token",
        &c.admin_token,
        "--tenant",
        "default",
        "--format",
        "pdf",
        "--chromium",
        "/nonexistent/chromium",
    ])
    .expect("flags parse");
    let err = landmeter_collector::cli::run(cli)
        .await
        .expect_err("no converter")
        .to_string();
    assert!(
        err.contains("no PDF converter") && err.contains("/nonexistent/chromium"),
        "{err}"
    );
    c.stop().await;

    // The HTTP side of a real `landmeter serve` process with no converter: 501, named.
    let dir = crate::harness::temp_dir("report-501");
    let db = dir.join("map.db");
    let bin = env!("CARGO_BIN_EXE_landmeter");
    let token = std::process::Command::new(bin)
        .args(["token", "create", "--role", "admin", "--db"])
        .arg(&db)
        .output()
        .expect("token create");
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).expect("utf-8");
    let mut serve = tokio::process::Command::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--insecure-plaintext",
            "--db",
        ])
        .arg(&db)
        .env("LANDMETER_CHROMIUM", "/nonexistent/chromium")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("serve");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        serve.stdout.take().expect("stdout"),
    ));
    let http_addr = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("serve starts in time")
            .expect("read")
            .expect("a line");
        if let Some(a) = line.strip_prefix("http on ") {
            break a.to_owned();
        }
    };
    let resp = get(
        &format!("http://{http_addr}/v1/report?tenant=default&format=pdf"),
        token.trim(),
    )
    .await;
    assert_eq!(resp.status(), 501);
    let body: Value = resp.json().await.expect("json error");
    let msg = body["error"].as_str().expect("error");
    assert!(
        msg.contains("no PDF converter") && msg.contains("/nonexistent/chromium"),
        "{msg}"
    );
    // HTML needs no converter: what stops it here is only that no scan was reported yet.
    let html = get(
        &format!("http://{http_addr}/v1/report?tenant=default"),
        token.trim(),
    )
    .await;
    assert_eq!(html.status(), 400);
    let body = html.text().await.expect("body");
    assert!(
        body.contains("has no scan") && !body.contains("converter"),
        "{body}"
    );
    serve.kill().await.expect("stop serve");
}

/// Issue 18 #5/#6: the report in Dutch when asked (`lang=nl`, `--lang nl`) or when the
/// collector is configured `language = "nl"`; English stays English; the figures (`data-*`)
/// are the same in both.
#[tokio::test]
async fn report_in_dutch_or_english() {
    let c = seeded("report-lang").await;
    let url = |lang: &str| format!("{}/v1/report?tenant=default&lang={lang}", http(&c));
    let nl = get(&url("nl"), &c.admin_token)
        .await
        .text()
        .await
        .expect("body");
    let en = get(&url("en"), &c.admin_token)
        .await
        .text()
        .await
        .expect("body");
    assert!(nl.contains("<html lang=\"nl\">"), "{}", &nl[..200]);
    assert!(nl.contains("Waar onze data staat, en wie erbij kan"));
    assert!(
        nl.contains("<h2>Belangrijkste risico's</h2>")
            || nl.contains("<h2>Belangrijkste risico&#39;s</h2>")
    );
    assert!(
        !nl.contains("Top risks"),
        "no English heading left in Dutch"
    );
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Where our data is, and who can reach it"));
    assert!(en.contains("<h2>Top risks</h2>"));
    // The same figures, whatever the language.
    for id in [
        "total-stores",
        "total-bytes",
        "eu-stores",
        "cloud-act-stores",
    ] {
        assert_eq!(figure(&nl, id), figure(&en, id), "{id}");
    }
    // Dates and times in Europe/Amsterdam unless configured: CET or CEST, never UTC.
    assert!(
        nl.contains(" CET") || nl.contains(" CEST"),
        "Amsterdam time"
    );
    // An unknown language is a 400 naming the valid ones, not an English report.
    let resp = get(&url("fr"), &c.admin_token).await;
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.expect("body");
    assert!(body.contains("nl or en"), "{body}");

    // The CLI's --lang goes through MapService the same way.
    let out = crate::harness::temp_dir("report-lang-cli").join("board.html");
    let cli = <landmeter_collector::cli::Cli as clap::Parser>::try_parse_from([
        "landmeter",
        "report",
        "--server",
        &c.url,
        "--token",
        &c.admin_token,
        "--tenant",
        "default",
        "--lang",
        "nl",
        "--out",
        out.to_str().expect("utf-8 path"),
    ])
    .expect("flags parse");
    landmeter_collector::cli::run(cli).await.expect("report");
    let written = std::fs::read_to_string(&out).expect("written");
    assert!(written.contains("<html lang=\"nl\">"));
    c.stop().await;

    // A collector configured `language = "nl"`: Dutch without asking, English on request.
    let c = Collector::start_http("report-lang-default", |cfg| {
        cfg.language = landmeter_collector::i18n::Lang::Nl;
        cfg.time_zone = "UTC".into();
    })
    .await;
    scan(&c, "scan-1", facts_of(&ESTATE)).await;
    let nl = c
        .map()
        .await
        .board_report(BoardReportRequest {
            tenant: "default".into(),
            ..Default::default()
        })
        .await
        .expect("report")
        .into_inner()
        .html;
    assert!(nl.contains("<html lang=\"nl\">"));
    assert!(nl.contains(" UTC"), "the configured zone");
    let en = c
        .map()
        .await
        .board_report(BoardReportRequest {
            tenant: "default".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .await
        .expect("report")
        .into_inner()
        .html;
    assert!(en.contains("<html lang=\"en\">"));
    c.stop().await;

    // An English collector with one tenant configured Dutch: that tenant's report is Dutch
    // without asking, English when asked; the collector's language stays the others' default.
    let c = Collector::start_http("report-lang-tenant", |cfg| {
        cfg.tenants.insert(
            "default".into(),
            landmeter_collector::config::TenantSettings {
                language: Some(landmeter_collector::i18n::Lang::Nl),
            },
        );
    })
    .await;
    scan(&c, "scan-1", facts_of(&ESTATE)).await;
    let report = |lang: &str| {
        let c = &c;
        let lang = lang.to_owned();
        async move {
            c.map()
                .await
                .board_report(BoardReportRequest {
                    tenant: "default".into(),
                    lang,
                    ..Default::default()
                })
                .await
                .expect("report")
                .into_inner()
                .html
        }
    };
    assert!(
        report("").await.contains("<html lang=\"nl\">"),
        "the tenant's language"
    );
    assert!(
        report("en").await.contains("<html lang=\"en\">"),
        "asked wins"
    );
    c.stop().await;
}

/// Issue 18 #5: the CLI's messages for people in Dutch with `--lang nl`: a wrong name lists
/// the valid ones in Dutch (the collector sends the names as metadata); English unchanged.
#[tokio::test]
async fn cli_messages_in_dutch() {
    let c = seeded("cli-lang").await;
    let run = |args: &[&str]| {
        let mut all = vec!["landmeter"];
        all.extend_from_slice(args);
        <landmeter_collector::cli::Cli as clap::Parser>::try_parse_from(all).expect("flags parse")
    };
    let conn = [
        "--server",
        c.url.as_str(),
        "--token",
        c.admin_token.as_str(),
    ];
    let stores = |lang: &str| {
        let mut a = vec!["stores"];
        a.extend_from_slice(&conn);
        a.extend_from_slice(&["--provider", "AWSX", "--lang", lang]);
        run(&a)
    };
    let nl = landmeter_collector::cli::run(stores("nl"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        nl.starts_with("aanbieder \"AWSX\" bestaat niet; bekend: ") && nl.contains("aws"),
        "{nl}"
    );
    let en = format!(
        "{:#}",
        landmeter_collector::cli::run(stores("en"))
            .await
            .unwrap_err()
    );
    assert!(
        en.contains("unknown provider") && en.contains("AWSX"),
        "{en}"
    );

    let mut a = vec!["report"];
    a.extend_from_slice(&conn);
    a.extend_from_slice(&["--tenant", "gemeente-a", "--lang", "nl-NL"]);
    let nl = landmeter_collector::cli::run(run(&a))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        nl.contains("organisatie \"gemeente-a\" heeft geen scan") && nl.contains("default"),
        "{nl}"
    );
    c.stop().await;
}
