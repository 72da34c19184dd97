//! Change history and live watching: what a watcher subscribed before a scan receives.

use landmeter_proto::Custody;
use landmeter_proto::v1::fact::Body;
use landmeter_proto::v1::{
    ChangeEvent, ChangeKind, Encryption, EncryptionState, Fact, GetStoreRequest, Key,
    ListChangesRequest, Replication, ReplicationRule, StoreFilter, StoreView, WatchRequest,
    collector_message::Msg,
};
use tokio_stream::StreamExt;

use crate::harness::{ACCOUNT, AgentStream, Collector, bucket};

async fn scan(a: &mut AgentStream, scan_id: &str, facts: Vec<Fact>) {
    a.begin(scan_id).await;
    a.batch(scan_id, 1, facts).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
    a.end(scan_id, 1, true).await;
    assert!(matches!(a.next().await, Msg::Ack(_)));
}

fn fact(subject: &str, call: &str, body: Body) -> Fact {
    Fact {
        account: ACCOUNT.into(),
        subject: subject.into(),
        observed_at_ms: 1,
        api_call: call.into(),
        body: Some(body),
    }
}

/// `b1` now replicates to a US bucket and uses a customer key in a CloudHSM store.
fn b1_moved() -> Vec<Fact> {
    let arn = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/k1");
    let mut facts = bucket("b1", "eu-west-1", &[]);
    facts[1].body = Some(Body::Encryption(Encryption {
        state: EncryptionState::Configured as i32,
        algorithm: "aws:kms".into(),
        key_ref: arn.clone(),
        resolved_key_arn: arn.clone(),
        ..Encryption::default()
    }));
    facts.push(fact(
        &arn,
        "kms:DescribeKey",
        Body::Key(Key {
            arn: arn.clone(),
            key_account: ACCOUNT.into(),
            region: "eu-west-1".into(),
            key_manager: "CUSTOMER".into(),
            origin: "AWS_CLOUDHSM".into(),
            ..Key::default()
        }),
    ));
    facts.push(fact(
        "b1",
        "s3:GetBucketReplication",
        Body::Replication(Replication {
            rules: vec![ReplicationRule {
                status: "Enabled".into(),
                destination_bucket: "dr".into(),
                destination_region: "us-east-1".into(),
                ..ReplicationRule::default()
            }],
        }),
    ));
    facts
}

fn summarize(e: &ChangeEvent) -> (String, ChangeKind, Vec<String>) {
    let name = e.store_id.rsplit(':').next().unwrap_or_default().to_owned();
    let fields = e
        .changes
        .iter()
        .map(|c| format!("{}: {} -> {}", c.field, c.before, c.after))
        .collect();
    (name, e.kind(), fields)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_hears_exactly_the_changes_of_each_scan() {
    let c = Collector::start("watch").await;
    let mut all = c
        .map()
        .await
        .watch(WatchRequest::default())
        .await
        .expect("watch")
        .into_inner();
    let mut leaving_eu = c
        .map()
        .await
        .watch(WatchRequest {
            filter: Some(StoreFilter {
                replicated_outside_eu: Some(true),
                ..StoreFilter::default()
            }),
            after_id: 0,
        })
        .await
        .expect("watch")
        .into_inner();

    let mut a = c.agent("agent-1").await;
    let mut first = bucket("b1", "eu-west-1", &[]);
    first.extend(bucket("b2", "eu-central-1", &[]));
    scan(&mut a, "s1", first).await;
    scan(&mut a, "s2", b1_moved()).await;

    let mut got = Vec::new();
    let mut live = Vec::new();
    for _ in 0..4 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), all.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("event");
        got.push(summarize(&e));
        live.push(e);
    }
    let s = |x: &str| x.to_owned();
    assert_eq!(
        got,
        [
            (s("b1"), ChangeKind::Added, vec![]),
            (s("b2"), ChangeKind::Added, vec![]),
            (
                s("b1"),
                ChangeKind::Changed,
                // Key changes, the jurisdiction and the indicators are recorded too.
                vec![
                    s("custody: provider -> dedicated-hsm"),
                    s("key:  -> arn:aws:kms:eu-west-1:123456789012:key/k1"),
                    s("key_region:  -> eu-west-1"),
                    s("replication:  -> dr@us-east-1"),
                    s("replicated_outside_eu: false -> true"),
                    s("jurisdiction: EU+US-CLOUD-ACT -> non-EU+US-CLOUD-ACT"),
                    s("indicators: SOV-2 1 / SOV-3 1 -> SOV-2 0 / SOV-3 0"),
                ]
            ),
            (s("b2"), ChangeKind::Gone, vec![]),
        ]
    );
    // The filtered watcher hears only the store that now replicates outside the EU.
    let e = tokio::time::timeout(std::time::Duration::from_secs(10), leaving_eu.next())
        .await
        .expect("event in time")
        .expect("open")
        .expect("event");
    assert_eq!(summarize(&e).0, "b1");
    assert_eq!(e.kind(), ChangeKind::Changed);

    // The same history, recorded: listing and replay from an id.
    let listed = c
        .map()
        .await
        .list_changes(ListChangesRequest {
            since_ms: 0,
            after_id: 0,
            limit: 0,
            filter: None,
        })
        .await
        .expect("list")
        .into_inner()
        .changes;
    assert_eq!(listed.iter().map(summarize).collect::<Vec<_>>(), got);
    // History keeps one snapshot per change, the same live and recorded: the identity and the
    // fields changes and filters use, as they were; not the explanations GetStore gives now.
    let snapshots = |events: &[ChangeEvent]| -> Vec<StoreView> {
        events
            .iter()
            .map(|e| e.store.clone().expect("store"))
            .collect()
    };
    assert_eq!(snapshots(&live), snapshots(&listed));
    let added = listed[0].store.as_ref().expect("store");
    let changed = listed[2].store.as_ref().expect("store");
    assert_eq!((added.name.as_str(), added.country.as_str()), ("b1", "IE"));
    assert_eq!(added.custody(), Custody::Provider);
    assert!(added.replication.is_empty() && !added.replicated_outside_eu);
    assert_eq!(changed.custody(), Custody::DedicatedHsm);
    assert_eq!(changed.replication[0].bucket, "dr");
    assert!(changed.replicated_outside_eu);
    assert!(changed.custody_reason.is_empty() && changed.indicator_reasons.is_empty());
    let now = c
        .map()
        .await
        .get_store(GetStoreRequest {
            id: listed[2].store_id.clone(),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner()
        .store
        .expect("store");
    assert!(!now.custody_reason.is_empty() && !now.indicator_reasons.is_empty());
    assert_eq!(
        (now.custody(), now.replicated_outside_eu, &now.country),
        (
            changed.custody(),
            changed.replicated_outside_eu,
            &changed.country
        )
    );
    let mut replay = c
        .map()
        .await
        .watch(WatchRequest {
            filter: None,
            after_id: listed[1].id,
        })
        .await
        .expect("watch")
        .into_inner();
    let e = tokio::time::timeout(std::time::Duration::from_secs(10), replay.next())
        .await
        .expect("replayed in time")
        .expect("open")
        .expect("replayed");
    assert_eq!(e.id, listed[2].id, "replay resumes after the given id");

    // The CLI lists them too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
        .args([
            "changes",
            "--since",
            "1h",
            "--format",
            "json",
            "--server",
            &c.url,
            "--token",
            &c.admin_token,
        ])
        .output()
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let kinds: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["added", "added", "changed", "gone"]);
    drop(a);
    c.stop().await;
}

/// A local receiver of webhook POSTs: every JSON body it gets goes into the channel.
async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_post_the_matching_changes() {
    use landmeter_collector::alerts::{AlertRule, Condition};
    let (url, mut posts) = webhook_receiver().await;
    let c = Collector::start_http("alerts", |cfg| {
        cfg.alerts = vec![
            AlertRule {
                name: "leaving-eu".into(),
                url: url.clone(),
                on: vec![Condition::ReplicatedOutsideEu, Condition::LeftEu],
                ..AlertRule::default()
            },
            AlertRule {
                name: "weaker-keys".into(),
                url: url.clone(),
                on: vec![Condition::CustodyDown],
                ..AlertRule::default()
            },
            AlertRule {
                name: "untagged".into(),
                url: url.clone(),
                on: vec![Condition::NewUnclassified],
                ..AlertRule::default()
            },
        ];
    })
    .await;
    let mut a = c.agent("agent-1").await;
    scan(&mut a, "s1", bucket("b1", "eu-west-1", &[])).await; // new, unclassified
    scan(&mut a, "s2", b1_moved()).await; // replicates to the US; custody goes up
    scan(
        &mut a,
        "s3",
        bucket("b1", "eu-west-1", &[("classification", "BBN1")]),
    )
    .await; // custody back down

    let mut got = Vec::new();
    for _ in 0..3 {
        let body = tokio::time::timeout(std::time::Duration::from_secs(10), posts.recv())
            .await
            .expect("post in time")
            .expect("receiver open");
        got.push((
            body["alert"].as_str().unwrap_or_default().to_owned(),
            body["condition"].as_str().unwrap_or_default().to_owned(),
            body["event"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            body["event"]["store"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ));
    }
    let row =
        |a: &str, c: &str, k: &str| (a.to_owned(), c.to_owned(), k.to_owned(), "b1".to_owned());
    assert_eq!(
        got,
        [
            row("untagged", "new-unclassified", "added"),
            row("leaving-eu", "replicated-outside-eu", "changed"),
            row("weaker-keys", "custody-down", "changed"),
        ]
    );
    // Nothing else was posted.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), posts.recv())
            .await
            .is_err()
    );
    drop(a);
    c.stop().await;
}

/// One webhook POST as received: headers and the raw body.
struct Received {
    content_type: String,
    signature: Option<String>,
    body: Vec<u8>,
}

/// A receiver that answers `status` to every POST and keeps what it got.
async fn raw_receiver(status: u16) -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let _ = tx.send(Received {
                        content_type: header("content-type").unwrap_or_default(),
                        signature: header("landmeter-signature"),
                        body: body.to_vec(),
                    });
                    axum::http::StatusCode::from_u16(status).expect("status")
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// A rule with a secret and `format = "cloudevents"`: the receiver gets a CloudEvents 1.0
/// structured event whose signature it can verify with the shared secret alone (HMAC-SHA256
/// over "<t>.<body>"), and a tampered body or another secret does not verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_cloudevents_webhooks_verify_with_the_shared_secret() {
    use landmeter_collector::alerts::{AlertFormat, AlertRule, Condition};
    let dir = std::env::temp_dir().join(format!("lm-hook-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, "s3cr3t-shared-with-the-receiver\n").expect("secret");
    let (url, mut posts) = raw_receiver(200).await;
    let c = Collector::start_http("signed-hooks", |cfg| {
        cfg.alerts = vec![AlertRule {
            name: "untagged".into(),
            url,
            on: vec![Condition::NewUnclassified],
            format: AlertFormat::Cloudevents,
            secret_file: Some(secret_file.clone()),
        }];
    })
    .await;
    let mut a = c.agent("agent-1").await;
    scan(&mut a, "s1", bucket("b1", "eu-west-1", &[])).await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), posts.recv())
        .await
        .expect("post in time")
        .expect("receiver open");

    assert_eq!(got.content_type, "application/cloudevents+json");
    let event: serde_json::Value = serde_json::from_slice(&got.body).expect("json");
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "nl.landmeter.alert.new-unclassified");
    assert_eq!(event["source"], "urn:landmeter:tenant:default");
    assert_eq!(event["datacontenttype"], "application/json");
    assert!(
        event["subject"].as_str().is_some_and(|s| s.ends_with("b1")),
        "{event}"
    );
    assert!(
        event["id"]
            .as_str()
            .is_some_and(|id| id.ends_with("-untagged")),
        "{event}"
    );
    assert!(
        event["time"].as_str().is_some_and(|t| t.starts_with("20")),
        "{event}"
    );
    assert_eq!(event["data"]["alert"], "untagged");
    assert_eq!(event["data"]["event"]["kind"], "added");

    // Verify as a receiver would: parse t and v1, recompute over "<t>.<body>".
    let header = got.signature.expect("a Landmeter-Signature header");
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature header shape: {header}"));
    let t: u64 = t.parse().expect("unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(now.abs_diff(t) < 60, "timestamp {t} is not now ({now})");
    let mac: Vec<u8> = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v1[i..i + 2], 16).expect("hex"))
        .collect();
    let verify = |secret: &[u8], body: &[u8]| {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        let mut message = format!("{t}.").into_bytes();
        message.extend_from_slice(body);
        aws_lc_rs::hmac::verify(&key, &message, &mac).is_ok()
    };
    assert!(verify(b"s3cr3t-shared-with-the-receiver", &got.body));
    assert!(!verify(b"another-secret", &got.body));
    let mut tampered = got.body.clone();
    tampered.push(b' ');
    assert!(!verify(b"s3cr3t-shared-with-the-receiver", &tampered));
    drop(a);
    c.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A receiver that always fails: four attempts with backoff, then one dead letter counted in
/// `landmeter_webhook_dead_letters_total`; ingest is not held up meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_keeps_failing_becomes_a_dead_letter() {
    use landmeter_collector::alerts::{AlertRule, Condition};
    let (url, mut posts) = raw_receiver(503).await;
    let c = Collector::start_http("dead-letter", |cfg| {
        cfg.alerts = vec![AlertRule {
            name: "untagged".into(),
            url,
            on: vec![Condition::NewUnclassified],
            ..AlertRule::default()
        }];
    })
    .await;
    let mut a = c.agent("agent-1").await;
    scan(&mut a, "s1", bucket("b1", "eu-west-1", &[])).await;
    for attempt in 1..=4 {
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), posts.recv())
            .await
            .unwrap_or_else(|_| panic!("attempt {attempt} in time"))
            .expect("receiver open");
        assert_eq!(got.content_type, "application/json");
        assert!(
            got.signature.is_none(),
            "a rule without a secret is not signed"
        );
    }
    let http = c.http_url.clone().expect("http side");
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = reqwest::get(format!("{http}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        if metrics.contains("landmeter_webhook_dead_letters_total 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("landmeter_webhook_dead_letters_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("landmeter_webhook_deliveries_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    // No fifth attempt.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), posts.recv())
            .await
            .is_err()
    );
    drop(a);
    c.stop().await;
}

/// Staleness per tenant and agent for Prometheus: with a token the scrape shows each agent's
/// last complete scan's age and its latest scan's gaps; without one, no tenant or agent name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_each_agents_staleness_to_a_token_holder() {
    let c = Collector::start_http("staleness", |_| {}).await;
    let http = c.http_url.clone().expect("http side");
    let mut a = c.agent("agent-1").await;
    scan(&mut a, "s1", bucket("b1", "eu-west-1", &[])).await;
    let client = reqwest::Client::new();
    let scrape = |token: Option<String>| {
        let mut req = client.get(format!("{http}/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            req.send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("body")
        }
    };
    let anonymous = scrape(None).await;
    assert!(
        anonymous.contains("landmeter_ingest_facts_total"),
        "{anonymous}"
    );
    assert!(
        !anonymous.contains("agent-1"),
        "names without a token:\n{anonymous}"
    );

    let admin = scrape(Some(c.admin_token.clone())).await;
    assert!(admin.ends_with("# EOF\n"), "{admin}");
    let line = admin
        .lines()
        .find(|l| {
            l.starts_with("landmeter_agent_last_complete_scan_age_seconds{tenant=\"default\",agent=\"agent-1\"}")
        })
        .unwrap_or_else(|| panic!("no staleness line:\n{admin}"));
    // A finite age: a complete scan was seen (none would be +Inf). The harness's agent
    // stamps its ScanEnd without a clock, so the value itself is not checked here.
    let age: f64 = line.rsplit(' ').next().unwrap().parse().expect("seconds");
    assert!(age.is_finite() && age >= 0.0, "{line}");
    assert!(
        admin
            .contains("landmeter_agent_last_scan_complete{tenant=\"default\",agent=\"agent-1\"} 1"),
        "{admin}"
    );
    assert!(
        admin.contains(
            "landmeter_agent_last_scan_coverage_gaps{tenant=\"default\",agent=\"agent-1\"} 0"
        ),
        "{admin}"
    );
    let refused = client
        .get(format!("{http}/metrics"))
        .bearer_auth("lm_not-a-token")
        .send()
        .await
        .expect("metrics");
    assert_eq!(refused.status(), 401);
    drop(a);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_health_and_metrics_over_http() {
    let c = Collector::start_http("sse", |_| {}).await;
    let http = c.http_url.clone().expect("http side");
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{http}/live"))
            .send()
            .await
            .expect("live")
            .text()
            .await
            .expect("body"),
        "ok"
    );
    assert_eq!(
        client
            .get(format!("{http}/ready"))
            .send()
            .await
            .expect("ready")
            .status(),
        200
    );
    let unauthenticated = client
        .get(format!("{http}/v1/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(unauthenticated.status(), 401);
    // A misspelt name in the stream's filter is a 400 naming the known ones, not silence.
    let misspelt = client
        .get(format!("{http}/v1/events?provider=awz"))
        .bearer_auth(&c.admin_token)
        .send()
        .await
        .expect("events");
    assert_eq!(misspelt.status(), 400);
    let body = misspelt.text().await.expect("body");
    assert!(body.contains("awz"), "{body}");

    let mut events = client
        .get(format!("{http}/v1/events"))
        .bearer_auth(&c.admin_token)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    let mut a = c.agent("agent-1").await;
    scan(&mut a, "s1", bucket("b1", "eu-west-1", &[])).await;
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), events.chunk())
            .await
            .expect("event in time")
            .expect("stream")
            .expect("chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: added"), "{text}");
    assert!(
        text.contains("\"store_id\":\"aws:123456789012:b1\""),
        "{text}"
    );

    let metrics = client
        .get(format!("{http}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    for line in [
        "landmeter_ingest_facts_total 3",
        "landmeter_scans_finished_total 1",
        "landmeter_ingest_batches_total{outcome=\"committed\"} 1",
        "landmeter_map_changes_total{kind=\"added\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("landmeter_build_info{version=\"")
                && l.contains("commit ")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    drop(a);
    c.stop().await;
}

/// Issue 12 §5: the HTTP side and alert deliveries are tasks the server owns and drains:
/// when `run` returns, open event streams have ended and every alert for a change committed
/// before the stop has been delivered (here to a webhook that takes its time to answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_event_streams_and_alert_deliveries() {
    use landmeter_collector::alerts::{AlertRule, Condition};
    let (tx, mut posts) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let app = axum::Router::new().route(
        "/slow-hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                let _ = tx.send(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/slow-hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = Collector::start_http("drain", |cfg| {
        cfg.alerts = vec![AlertRule {
            name: "untagged".into(),
            url,
            on: vec![Condition::NewUnclassified],
            ..AlertRule::default()
        }];
    })
    .await;
    let events = reqwest::Client::new()
        .get(format!(
            "{}/v1/events",
            c.http_url.as_deref().expect("http")
        ))
        .bearer_auth(&c.admin_token)
        .send()
        .await
        .expect("event stream");
    assert!(events.status().is_success());
    let mut a = c.agent("agent-1").await;
    scan(&mut a, "s1", bucket("b1", "eu-west-1", &[])).await;
    drop(a);
    assert!(c.stop().await, "the server drained and ended by itself");
    // Delivered before the server returned, not somewhere after it.
    let delivered = posts
        .try_recv()
        .expect("the alert was delivered during shutdown");
    assert_eq!(delivered["alert"], "untagged");
    // The event stream saw the change and then ended.
    let body = tokio::time::timeout(std::time::Duration::from_secs(5), events.text())
        .await
        .expect("the event stream ended")
        .expect("body");
    assert!(body.contains("event: added"), "{body}");
}
