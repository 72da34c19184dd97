//! MapService queries and the CLI over a small map.

use landmeter_proto::Custody;
use landmeter_proto::v1::{
    GetStoreRequest, ListStoresRequest, StoreFilter, SummaryRequest, collector_message::Msg,
};

use crate::harness::{ACCOUNT, Collector, bucket};

async fn seeded(name: &str) -> Collector {
    let c = Collector::start(name).await;
    let mut a = c.agent("agent-q").await;
    a.begin("q1").await;
    let mut facts = Vec::new();
    for (i, (region, class)) in [
        ("eu-central-1", "BBN2"),
        ("eu-west-1", "BBN1"),
        ("us-east-1", "BBN2"),
        ("ap-southeast-2", ""),
        ("eu-north-1", ""),
    ]
    .into_iter()
    .enumerate()
    {
        let tags: Vec<(&str, &str)> = if class.is_empty() {
            vec![]
        } else {
            vec![("classification", class)]
        };
        facts.extend(bucket(&format!("b{i}"), region, &tags));
    }
    a.batch("q1", 1, facts).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end("q1", 1, true).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    c
}

#[tokio::test]
async fn filters_pagination_and_grouping() {
    let c = seeded("filters").await;
    let mut map = c.map().await;
    let list = |filter: StoreFilter| {
        let mut map = map.clone();
        async move {
            map.list_stores(ListStoresRequest {
                filter: Some(filter),
                page_size: 0,
                page_token: String::new(),
            })
            .await
            .expect("list")
            .into_inner()
            .stores
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(StoreFilter {
            eu: Some(false),
            ..Default::default()
        })
        .await,
        ["b2", "b3"]
    );
    assert_eq!(
        list(StoreFilter {
            countries: vec!["DE".into(), "SE".into()],
            ..Default::default()
        })
        .await,
        ["b0", "b4"]
    );
    assert_eq!(
        list(StoreFilter {
            classifications: vec!["unclassified".into()],
            ..Default::default()
        })
        .await,
        ["b3", "b4"]
    );
    assert_eq!(
        list(StoreFilter {
            custody_at_least: Custody::CustomerManaged as i32,
            ..Default::default()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(StoreFilter {
            custody_at_most: Custody::Provider as i32,
            ..Default::default()
        })
        .await
        .len(),
        5
    );

    // Pages of two walk all five stores exactly once.
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = map
            .list_stores(ListStoresRequest {
                filter: None,
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.stores.len() <= 2);
        seen.extend(page.stores.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["b0", "b1", "b2", "b3", "b4"]);

    let s = map
        .summary(SummaryRequest {
            filter: None,
            group_by: vec!["eu".into(), "classification".into()],
        })
        .await
        .expect("summary")
        .into_inner();
    let rows: Vec<(Vec<String>, u64)> = s.rows.into_iter().map(|r| (r.keys, r.stores)).collect();
    let k = |a: &str, b: &str| vec![a.to_owned(), b.to_owned()];
    assert_eq!(
        rows,
        [
            (k("EU", "BBN1"), 1),
            (k("EU", "BBN2"), 1),
            (k("EU", "unclassified"), 1),
            (k("non-EU", "BBN2"), 1),
            (k("non-EU", "unclassified"), 1),
        ]
    );
    let err = map
        .summary(SummaryRequest {
            filter: None,
            group_by: vec!["colour".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(err.message(), "unknown group-by field \"colour\"");

    let store = map
        .get_store(GetStoreRequest {
            id: format!("aws:{ACCOUNT}:b0"),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner();
    let calls: Vec<String> = store
        .facts
        .iter()
        .map(|p| p.fact.as_ref().expect("fact").api_call.clone())
        .collect();
    assert_eq!(
        calls,
        [
            "s3:GetBucketEncryption",
            "s3:ListBuckets",
            "s3:GetBucketTagging"
        ]
    );
    assert!(
        store
            .facts
            .iter()
            .all(|p| p.scan_id == "q1" && p.agent == "agent-q")
    );
    let missing = map
        .get_store(GetStoreRequest {
            id: "aws:0:nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    c.stop().await;
}

// Multi-threaded: the CLI runs as a blocking child process while this runtime serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_stores_and_summaries() {
    let c = seeded("cli").await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
            .args(args)
            .args(["--server", &c.url, "--token", &c.admin_token])
            .output()
            .expect("run landmeter");
        assert!(
            out.status.success(),
            "landmeter {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    // The table fits the terminal: no line over COLUMNS, sizes for people, every store.
    let fitted = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
        .args(["stores", "--server", &c.url, "--token", &c.admin_token])
        .env("COLUMNS", "120")
        .output()
        .expect("run landmeter");
    assert!(fitted.status.success());
    let table = String::from_utf8(fitted.stdout).expect("utf8");
    assert!(table.lines().all(|l| l.chars().count() <= 120), "{table}");
    assert!(
        table.contains("5 stores") && table.contains("unknown"),
        "{table}"
    );
    let wide = run(&["stores", "--wide", "--bytes"]);
    assert!(
        wide.contains("custody_reason") && wide.contains("key_owner_account"),
        "{wide}"
    );
    // Shell completions and manual pages come from the same definitions.
    let local = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
            .args(args)
            .output()
            .expect("run landmeter");
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).expect("utf8")
    };
    assert!(local(&["completions", "bash"]).contains("landmeter"));
    // The version names its commit and build date.
    let version = local(&["--version"]);
    assert!(
        version.contains("(commit ") && version.contains(", built 20"),
        "{version}"
    );
    let man = std::env::temp_dir().join(format!("landmeter-man-{}", std::process::id()));
    local(&["man", "--out-dir", man.to_str().expect("path")]);
    assert!(man.join("landmeter.1").is_file() && man.join("landmeter-stores.1").is_file());
    let json: serde_json::Value =
        serde_json::from_str(&run(&["stores", "--eu", "false", "--format", "json"])).expect("json");
    let names: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["b2", "b3"]);
    assert_eq!(json[0]["country"], "US");
    assert_eq!(json[0]["custody"], "provider");
    let csv = run(&["summary", "--by", "country", "--format", "csv"]);
    assert_eq!(
        csv,
        "country,stores,bytes,stores_without_size\nAU,1,0,1\nDE,1,0,1\nIE,1,0,1\nSE,1,0,1\nUS,1,0,1\n\n"
    );
    let detail = run(&["store", &format!("aws:{ACCOUNT}:b1"), "--format", "json"]);
    let detail: serde_json::Value = serde_json::from_str(&detail).expect("json");
    assert_eq!(detail["store"]["classification"], "BBN1");
    assert_eq!(detail["facts"].as_array().expect("facts").len(), 3);
    // `AWS` is aws: a provider's name in any case, or an alias, is the same provider.
    let exit: serde_json::Value = serde_json::from_str(&run(&[
        "exit", "--from", "AWS", "--to", "OVH", "--format", "json",
    ]))
    .expect("json");
    assert_eq!(exit["stores"], 5);
    assert_eq!(exit["stores_size_unknown"], 5);
    // Five SSE-S3 buckets: no key id to count, five stores re-created under the target's keys.
    assert_eq!(exit["keys"]["keys_to_recreate"], 0);
    assert_eq!(exit["keys"]["stores_recreated_without_key_id"], 5);
    assert_eq!(
        exit["storage_per_month"]["after"]["amount"],
        serde_json::Value::Null
    );
    // The Data Act figure on either side of 12 January 2027, in each format.
    let csv = run(&[
        "exit",
        "--from",
        "aws",
        "--to",
        "ovhcloud",
        "--on",
        "2027-01-12",
        "--format",
        "csv",
    ]);
    assert!(csv.starts_with("figure,value\n"), "{csv}");
    // A name that is no provider is an error listing the known ones, not "0 stores".
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
        .args(["exit", "--from", "amazon-web", "--to", "ovhcloud"])
        .args(["--server", &c.url, "--token", &c.admin_token])
        .output()
        .expect("run landmeter");
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("unknown provider \"amazon-web\"; known: ") && stderr.contains("aws"),
        "{stderr}"
    );
    assert!(
        csv.contains("\negress.data_act.phase,no-switching-charges\n"),
        "{csv}"
    );
    assert!(csv.contains("\negress.data_act.amount,0.0\n"), "{csv}");
    assert!(
        csv.contains("\nstorage_per_month.after.amount,\n"),
        "unknown is empty: {csv}"
    );
    let table = run(&[
        "exit",
        "--from",
        "aws",
        "--to",
        "ovhcloud",
        "--on",
        "2027-01-11",
    ]);
    assert!(
        table.contains("egress under the EU Data Act (Art. 29): at most cost (not published: list price is an upper bound)"),
        "{table}"
    );
    assert!(table.contains("on: 2027-01-11"), "{table}");
    assert!(
        table.contains("the known bytes only: 5 stores of unknown size are not in it"),
        "{table}"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
        .args(["exit", "--from", "aws", "--to", "ovhcloud", "--on", "soon"])
        .args(["--server", &c.url, "--token", &c.admin_token])
        .output()
        .expect("run landmeter");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--on"));
    let dot = run(&["graph", "--eu", "false"]);
    assert!(dot.starts_with("digraph landmeter {"), "{dot}");
    assert_eq!(
        dot.matches("shape=cylinder").count(),
        2,
        "two non-EU stores: {dot}"
    );
    assert!(dot.contains("fillcolor=tomato"), "non-EU stores are red");
    let table = run(&["stores", "--country", "se"]);
    assert!(
        table.contains("aws:123456789012:b4") && table.ends_with("1 stores\n"),
        "{table}"
    );
    c.stop().await;
}

#[tokio::test]
async fn health_reports_both_services_serving() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let c = Collector::start("health").await;
    let channel = tonic::transport::Endpoint::from_shared(c.url.clone())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel);
    for service in ["landmeter.v1.IngestService", "landmeter.v1.MapService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("check")
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_answers_like_map_service() {
    let c = Collector::start_http("json-api", |_| {}).await;
    let mut a = c.agent("agent-q").await;
    a.begin("q1").await;
    let mut facts = bucket("b-de", "eu-central-1", &[("classification", "BBN2")]);
    facts.extend(bucket("b-us", "us-east-1", &[]));
    a.batch("q1", 1, facts).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end("q1", 1, true).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));

    let http = c.http_url.clone().expect("http");
    let client = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut req = client.get(format!("{http}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let admin = Some(c.admin_token.as_str());
    let r = get("/v1/stores?eu=false", admin).await.expect("stores");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    let names: Vec<&str> = body["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["b-us"]);
    assert_eq!(body["stores"][0]["custody"], "provider");

    assert_eq!(
        get("/v1/stores", None).await.expect("no token").status(),
        401
    );
    let bad = get("/v1/stores?custody_at_most=kms", admin)
        .await
        .expect("bad");
    assert_eq!(bad.status(), 400);
    let msg: serde_json::Value = bad.json().await.expect("json");
    assert!(
        msg["error"]
            .as_str()
            .unwrap_or("")
            .contains("unknown custody level"),
        "{msg}"
    );

    let summary: serde_json::Value = get("/v1/summary?by=country", admin)
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(
        summary,
        serde_json::json!([
            {"country": "DE", "stores": 1, "bytes": 0, "stores_without_size": 1},
            {"country": "US", "stores": 1, "bytes": 0, "stores_without_size": 1},
        ])
    );
    let detail: serde_json::Value = get(&format!("/v1/stores/aws:{ACCOUNT}:b-de"), admin)
        .await
        .expect("store")
        .json()
        .await
        .expect("json");
    assert_eq!(detail["store"]["classification"], "BBN2");
    assert_eq!(detail["facts"].as_array().expect("facts").len(), 3);
    assert_eq!(
        get("/v1/stores/aws:0:nope", admin)
            .await
            .expect("404")
            .status(),
        404
    );

    let spec: serde_json::Value = get("/openapi.json", None)
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    assert_eq!(spec["openapi"], "3.1.0");
    for path in [
        "/v1/stores",
        "/v1/stores/{id}",
        "/v1/summary",
        "/v1/changes",
        "/v1/events",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} not documented");
    }
    // The JSON API is audited like gRPC.
    let log = c.store.audit_log(10).expect("audit");
    assert!(log.iter().any(|e| e.method == "ListStores" && e.rows == 1));
    drop(a);
    c.stop().await;
}

/// Issue 14 #11: gRPC reflection describes the API to anyone who connects: served on a
/// loopback listener by default, and off when `reflection = false` (the default outside
/// loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_is_served_only_where_configured() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    async fn services(url: &str) -> Result<Vec<String>, tonic::Status> {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut client = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await?
            .into_inner();
        let answer = answers.message().await?.expect("an answer");
        match answer.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                Ok(list.service.into_iter().map(|s| s.name).collect())
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }

    let on = Collector::start("reflection-on").await;
    let listed = services(&on.url).await.expect("served on loopback");
    assert!(
        listed.contains(&"landmeter.v1.MapService".to_owned()),
        "{listed:?}"
    );
    on.stop().await;

    let mut cfg = landmeter_collector::config::CollectorConfig {
        insecure_plaintext: true,
        ..Default::default()
    };
    cfg.reflection = Some(false);
    let off = Collector::start_in(crate::harness::temp_dir("reflection-off"), cfg).await;
    let refused = services(&off.url).await.expect_err("not served");
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");
    off.stop().await;
}

/// A wrong name never answers zero: a misspelt provider, classification or country is an
/// error that lists the known names; case and common aliases are accepted.
#[tokio::test]
async fn a_wrong_name_is_an_error_listing_the_known_ones() {
    let c = seeded("wrong-names").await;
    let mut map = c.map().await;
    let list = |filter: StoreFilter| ListStoresRequest {
        filter: Some(filter),
        ..Default::default()
    };
    let err = map
        .list_stores(list(StoreFilter {
            providers: vec!["azrue".into()],
            ..StoreFilter::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("unknown provider \"azrue\"; known: ")
            && err.message().contains("aws")
            && err.message().contains("microsoft-azure"),
        "{}",
        err.message()
    );
    // Case and aliases: AWS is aws.
    let found = map
        .list_stores(list(StoreFilter {
            providers: vec!["AWS".into()],
            ..StoreFilter::default()
        }))
        .await
        .expect("AWS is aws")
        .into_inner()
        .stores;
    assert_eq!(found.len(), 5);
    let err = map
        .summary(SummaryRequest {
            filter: Some(StoreFilter {
                classifications: vec!["BBN9".into()],
                ..StoreFilter::default()
            }),
            group_by: vec!["country".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("known: BBN1, BBN2"),
        "{}",
        err.message()
    );
    // A country the regions table knows but no store is in: a true zero.
    let none = map
        .list_stores(list(StoreFilter {
            countries: vec!["fr".into()],
            ..StoreFilter::default()
        }))
        .await
        .expect("FR is a country")
        .into_inner()
        .stores;
    assert!(none.is_empty());
    // A report of a tenant with no scan is refused, naming the tenants that have some.
    let err = map
        .board_report(landmeter_proto::v1::BoardReportRequest {
            tenant: "gemeente-a".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains(
            "tenant \"gemeente-a\" has no scan to report on; tenants with scans: default"
        ),
        "{}",
        err.message()
    );
}

/// `landmeter db backup` copies a SQLite map while the collector runs: the copy opens and
/// serves the same stores, is private to its owner, and an existing file is never overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_map_is_backed_up_consistently() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = crate::harness::temp_dir("db-backup");
    let c = Collector::start_in(
        dir.clone(),
        landmeter_collector::config::CollectorConfig {
            insecure_plaintext: true,
            ..Default::default()
        },
    )
    .await;
    let mut a = c.agent("agent-b").await;
    a.begin("b1").await;
    a.batch("b1", 1, bucket("kept", "eu-west-1", &[])).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end("b1", 1, true).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));

    let out = dir.join("backup.db");
    let backup = |out: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
            .args(["db", "backup", "--db"])
            .arg(dir.join("map.db"))
            .arg("--out")
            .arg(out)
            .output()
            .expect("run landmeter")
    };
    let done = backup(&out);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        std::fs::metadata(&out)
            .expect("backup")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let copy = landmeter_collector::store::open(
        &out.display().to_string(),
        landmeter_collector::store::Durability::Full,
    )
    .expect("the backup opens");
    let (stores, _) = copy
        .list_stores(
            &landmeter_collector::store::Scope::AllTenants,
            &StoreFilter::default(),
            10,
            "",
        )
        .expect("list");
    assert_eq!(
        stores.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );
    // Never over an existing file.
    let again = backup(&out);
    assert!(!again.status.success());
    drop(a);
    c.stop().await;
}
