//! Tenants and trust over real mutual TLS: the tenant comes from the certificate, bad
//! certificates are refused, operators see only what their role allows, and everything
//! they ask is audited.

use landmeter_collector::auth::{new_token, token_hash};
use landmeter_proto::v1::{
    GetStoreRequest, ListStoresRequest, RejectCode, StoreFilter, SummaryRequest,
    collector_message::Msg,
};
use time::Duration;

use crate::harness::{AgentStream, Collector, bucket_in};

const A_ACCOUNT: &str = "111111111111";
const B_ACCOUNT: &str = "222222222222";

async fn ack(a: &mut AgentStream) {
    match a.next().await {
        Msg::Ack(_) => {}
        other => panic!("expected an ack, got {other:?}"),
    }
}

/// Streams one complete scan of `facts` for `account`.
async fn scan(
    a: &mut AgentStream,
    scan_id: &str,
    account: &str,
    facts: Vec<landmeter_proto::v1::Fact>,
) {
    a.begin_for(scan_id, account).await;
    a.batch(scan_id, 1, facts).await;
    ack(a).await;
    a.end_for(scan_id, 1, true, account).await;
    ack(a).await;
}

fn token(c: &Collector, role: &str, tenant: Option<&str>) -> String {
    let t = new_token();
    c.store
        .create_token(&token_hash(&t), role, tenant, "test")
        .expect("token");
    t
}

async fn names(c: &Collector, token: &str) -> Result<Vec<String>, tonic::Status> {
    let stores = c
        .map_as(Some(token))
        .await
        .list_stores(ListStoresRequest {
            filter: Some(StoreFilter {
                include_gone: true,
                ..StoreFilter::default()
            }),
            page_size: 0,
            page_token: String::new(),
        })
        .await?
        .into_inner()
        .stores;
    Ok(stores
        .into_iter()
        .map(|s| format!("{}/{}", s.tenant, s.name))
        .collect())
}

/// Two tenants' agents, each with its own certificate, one also claiming A's account.
async fn two_tenants(
    name: &str,
    tweak: impl FnOnce(&mut landmeter_collector::config::CollectorConfig),
) -> Collector {
    let c = Collector::start_tls(name, tweak).await;
    let a_cert = c.enroll("gemeente-a", "agent-a", Duration::days(1));
    let b_cert = c.enroll("provincie-b", "agent-b", Duration::days(1));
    let mut a = c
        .try_agent("agent-a", Some(&a_cert))
        .await
        .expect("a connects");
    scan(
        &mut a,
        "a-1",
        A_ACCOUNT,
        bucket_in(A_ACCOUNT, "a-data", "eu-central-1", &[]),
    )
    .await;
    let mut b = c
        .try_agent("agent-b", Some(&b_cert))
        .await
        .expect("b connects");
    scan(
        &mut b,
        "b-1",
        B_ACCOUNT,
        bucket_in(B_ACCOUNT, "b-data", "us-east-1", &[]),
    )
    .await;
    // B also reports A's account: kept in B's map, flagged, never merged into A's.
    scan(
        &mut b,
        "b-2",
        A_ACCOUNT,
        bucket_in(A_ACCOUNT, "b-claims-a", "eu-west-1", &[]),
    )
    .await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_comes_from_the_certificate_and_tenants_are_isolated() {
    let c = two_tenants("isolation", |_| {}).await;
    assert_eq!(
        names(&c, &c.admin_token).await.expect("admin"),
        [
            "gemeente-a/a-data",
            "provincie-b/b-claims-a",
            "provincie-b/b-data"
        ]
    );
    let all = c
        .map()
        .await
        .list_stores(ListStoresRequest::default())
        .await
        .expect("list")
        .into_inner()
        .stores;
    let claimed = all
        .iter()
        .find(|s| s.name == "b-claims-a")
        .expect("b's claim");
    assert!(
        claimed.account_claimed_by_other_tenant,
        "a second tenant's claim is flagged"
    );
    assert!(
        !all.iter()
            .find(|s| s.name == "b-data")
            .expect("b")
            .account_claimed_by_other_tenant
    );

    // A tenant-viewer of A sees A's store only, through every call.
    let viewer = token(&c, "tenant-viewer", Some("gemeente-a"));
    assert_eq!(
        names(&c, &viewer).await.expect("viewer"),
        ["gemeente-a/a-data"]
    );
    let mut map = c.map_as(Some(&viewer)).await;
    let b_store = format!("aws:{B_ACCOUNT}:b-data");
    let err = map
        .get_store(GetStoreRequest {
            id: b_store.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::NotFound,
        "B's store does not exist for A"
    );
    let rows = map
        .summary(SummaryRequest {
            filter: None,
            group_by: vec!["tenant".into(), "country".into()],
        })
        .await
        .expect("summary")
        .into_inner()
        .rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].keys.clone(), rows[0].stores),
        (vec!["gemeente-a".to_owned(), "DE".to_owned()], 1)
    );

    // The CLI with the same token shows the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
        .args([
            "stores",
            "--format",
            "json",
            "--include-gone",
            "--server",
            &c.url,
            "--token",
            &viewer,
        ])
        .args([
            "--ca-file",
            c.ca_dir
                .as_ref()
                .expect("ca")
                .join("ca.pem")
                .to_str()
                .expect("path"),
        ])
        .output()
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let cli_names: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(cli_names, ["a-data"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
        .args(["store", &b_store, "--server", &c.url, "--token", &viewer])
        .args([
            "--ca-file",
            c.ca_dir
                .as_ref()
                .expect("ca")
                .join("ca.pem")
                .to_str()
                .expect("path"),
        ])
        .output()
        .expect("cli");
    assert!(
        !out.status.success(),
        "B's store through the CLI must fail for A's viewer"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificates_are_refused_and_change_nothing() {
    let c = Collector::start_tls("refused", |_| {}).await;

    // Expired.
    let expired = c.enroll("gemeente-a", "agent-old", Duration::minutes(-1));
    assert!(
        c.try_agent("agent-old", Some(&expired)).await.is_err(),
        "expired certificate accepted"
    );

    // Issued by another CA (and so also any self-signed certificate).
    let other_dir = crate::harness::temp_dir("other-ca");
    landmeter_collector::pki::init_ca(&other_dir, "intruder", 30).expect("other ca");
    let intruder = landmeter_collector::pki::Ca::load(&other_dir)
        .expect("load")
        .issue_agent("gemeente-a", "agent-x", Duration::days(1))
        .expect("issue");
    assert!(
        c.try_agent("agent-x", Some(&intruder)).await.is_err(),
        "other CA accepted"
    );
    let self_signed = {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![rcgen::SanType::URI(
            "spiffe://landmeter/tenant/gemeente-a/agent/agent-s"
                .try_into()
                .expect("uri"),
        )];
        landmeter_collector::pki::Issued {
            cert_pem: params.self_signed(&key).expect("self-signed").pem(),
            key_pem: key.serialize_pem(),
            serial: String::new(),
        }
    };
    assert!(
        c.try_agent("agent-s", Some(&self_signed)).await.is_err(),
        "self-signed accepted"
    );

    // No certificate at all over TLS.
    let err = c.try_agent("anonymous", None).await.err().expect("refused");
    assert!(
        err.contains("Unauthenticated") && err.contains("client certificate"),
        "{err}"
    );

    // Revoked before connecting, and while a stream is open.
    let good = c.enroll("gemeente-a", "agent-a", Duration::days(1));
    let mut a = c
        .try_agent("agent-a", Some(&good))
        .await
        .expect("valid certificate");
    a.begin_for("s1", A_ACCOUNT).await;
    a.batch("s1", 1, bucket_in(A_ACCOUNT, "x", "eu-west-1", &[]))
        .await;
    ack(&mut a).await;
    c.store
        .revoke_certificate(&good.serial, "gemeente-a", "agent-a")
        .expect("revoke");
    a.batch("s1", 2, bucket_in(A_ACCOUNT, "y", "eu-west-1", &[]))
        .await;
    match a.next().await {
        Msg::Reject(r) => assert_eq!(
            (r.code(), r.reason.as_str()),
            (RejectCode::Unauthenticated, "certificate revoked")
        ),
        other => panic!("expected a reject, got {other:?}"),
    }
    let err = c
        .try_agent("agent-a", Some(&good))
        .await
        .err()
        .expect("revoked refused");
    assert!(err.contains("certificate revoked"), "{err}");

    // A certificate for one agent cannot speak as another.
    let other = c.enroll("gemeente-a", "agent-b", Duration::days(1));
    let mut liar = c
        .try_agent("agent-c", Some(&other))
        .await
        .expect("connects");
    liar.begin_for("s2", A_ACCOUNT).await;
    match liar.next().await {
        Msg::Reject(r) => assert_eq!(r.code(), RejectCode::Unauthenticated, "{}", r.reason),
        other => panic!("expected a reject, got {other:?}"),
    }

    assert_eq!(
        names(&c, &c.admin_token).await.expect("admin"),
        Vec::<String>::new(),
        "nothing reached the map"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_without_the_flag() {
    let c = Collector::start_tls("plaintext", |_| {}).await;
    // A plaintext client against the TLS listener gets nowhere.
    let plain = c.url.replace("https://", "http://");
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut client =
            landmeter_proto::v1::ingest_service_client::IngestServiceClient::connect(plain).await?;
        let (_tx, rx) = tokio::sync::mpsc::channel::<landmeter_proto::v1::AgentMessage>(1);
        client
            .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await;
    assert!(
        !matches!(result, Ok(Ok(()))),
        "plaintext stream opened on a TLS listener"
    );

    // And the binary refuses to serve plaintext unless told, and then only on loopback.
    let dir = crate::harness::temp_dir("plain-bin");
    let db = dir.join("map.db");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
            .args(["serve", "--db", db.to_str().expect("path")])
            .args(extra)
            .output()
            .expect("run landmeter")
    };
    let out = run(&["--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no tls configured"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--listen", "0.0.0.0:0", "--insecure-plaintext"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("only loopback addresses may serve plaintext")
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_authenticate_pool_sees_aggregates_of_k_tenants_and_queries_are_audited() {
    let c = two_tenants("pool", |cfg| cfg.pool_min_tenants = 2).await;
    // No token, a wrong token.
    let err = c
        .map_as(None)
        .await
        .list_stores(ListStoresRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = c
        .map_as(Some("lm_nope"))
        .await
        .summary(SummaryRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    let pool = token(&c, "pool-viewer", None);
    let mut map = c.map_as(Some(&pool)).await;
    // Only aggregates, and only rows to which at least k = 2 tenants contribute.
    assert_eq!(
        map.list_stores(ListStoresRequest::default())
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        map.get_store(GetStoreRequest {
            id: format!("aws:{A_ACCOUNT}:a-data"),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .code(),
        tonic::Code::PermissionDenied
    );
    for forbidden in ["tenant", "account"] {
        let err = map
            .summary(SummaryRequest {
                filter: None,
                group_by: vec![forbidden.into()],
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{forbidden}");
    }
    let total = map
        .summary(SummaryRequest::default())
        .await
        .expect("total")
        .into_inner()
        .rows;
    assert_eq!(
        total.iter().map(|r| r.stores).collect::<Vec<_>>(),
        [3],
        "three stores over two tenants"
    );
    let by_eu = map
        .summary(SummaryRequest {
            filter: None,
            group_by: vec!["eu".into()],
        })
        .await
        .expect("by eu")
        .into_inner()
        .rows;
    // EU: a-data (A) and b-claims-a (B); non-EU: b-data (B only), withheld. EU beside the
    // total would give non-EU back (3 - 2 = B's one store): EU is withheld with it, and the
    // table answers one merged row over both tenants.
    assert_eq!(
        by_eu
            .iter()
            .map(|r| (r.keys.clone(), r.stores, r.withheld_cells))
            .collect::<Vec<_>>(),
        [(Vec::<String>::new(), 3, 2)]
    );
    // Nor can a filter subtract it: the pool reads one release, unfiltered.
    let err = map
        .summary(SummaryRequest {
            filter: Some(StoreFilter {
                eu: Some(false),
                ..StoreFilter::default()
            }),
            group_by: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");

    let log = c.store.audit_log(20).expect("audit");
    let pool_entries: Vec<_> = log.iter().filter(|e| e.role == "pool-viewer").collect();
    assert_eq!(pool_entries.len(), 7, "every pool query audited: {log:?}");
    let ok_summary = pool_entries
        .iter()
        .find(|e| e.method == "Summary" && e.request.contains("\"eu\""))
        .expect("summary audited");
    assert_eq!((ok_summary.rows, ok_summary.outcome.as_str()), (1, "ok"));
    assert!(
        pool_entries
            .iter()
            .any(|e| e.method == "ListStores" && e.outcome == "PermissionDenied")
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_agent_is_rate_limited() {
    let c = Collector::start_tls("rate", |cfg| cfg.max_batches_per_second = 1).await;
    let cert = c.enroll("gemeente-a", "agent-a", Duration::days(1));
    let mut a = c.try_agent("agent-a", Some(&cert)).await.expect("connects");
    a.begin_for("r1", A_ACCOUNT).await;
    // The bucket holds two batches; the third within the same second is refused.
    for seq in 1..=2 {
        a.batch(
            "r1",
            seq,
            bucket_in(A_ACCOUNT, &format!("b{seq}"), "eu-west-1", &[]),
        )
        .await;
        ack(&mut a).await;
    }
    a.batch("r1", 3, bucket_in(A_ACCOUNT, "b3", "eu-west-1", &[]))
        .await;
    match a.next().await {
        Msg::Reject(r) => assert_eq!(r.code(), RejectCode::RateLimited, "{}", r.reason),
        other => panic!("expected a rate-limit reject, got {other:?}"),
    }
    c.stop().await;
}

/// Issue 12 §5 / issue 14 #1: revocation bites on every message of a stream that is already
/// open, not only on fact batches: a revoked agent can neither begin a scan nor end one (an
/// empty complete scan would otherwise mark every store of its account gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_agent_can_neither_begin_nor_end_a_scan_on_an_open_stream() {
    let c = Collector::start_tls("revoked-every-message", |_| {}).await;
    let cert = c.enroll("gemeente-a", "agent-a", Duration::days(1));
    let mut a = c.try_agent("agent-a", Some(&cert)).await.expect("valid");
    // A first complete scan puts one store in the map.
    a.begin_for("s1", A_ACCOUNT).await;
    a.batch("s1", 1, bucket_in(A_ACCOUNT, "kept", "eu-west-1", &[]))
        .await;
    ack(&mut a).await;
    a.end_for("s1", 1, true, A_ACCOUNT).await;
    ack(&mut a).await;
    // A second scan begun before the revocation, on the same stream.
    a.begin_for("s2", A_ACCOUNT).await;
    c.store
        .revoke_certificate(&cert.serial, "gemeente-a", "agent-a")
        .expect("revoke");
    let refused = |msg: Msg| match msg {
        Msg::Reject(r) => assert_eq!(
            (r.code(), r.reason.as_str()),
            (RejectCode::Unauthenticated, "certificate revoked")
        ),
        other => panic!("expected a reject, got {other:?}"),
    };
    // Ending s2 with no batch and complete coverage would mark "kept" gone: refused.
    a.end_for("s2", 0, true, A_ACCOUNT).await;
    refused(a.next().await);
    a.begin_for("s3", A_ACCOUNT).await;
    refused(a.next().await);
    let present: Vec<String> = c
        .all_stores()
        .await
        .into_iter()
        .filter(|v| v.gone_at_ms.is_none())
        .map(|v| v.name)
        .collect();
    assert_eq!(present, vec!["kept".to_owned()]);
}

/// Issue 14 #7: a scan is ended only by the agent that began it, also within one tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_is_ended_only_by_the_agent_that_began_it() {
    let c = Collector::start_tls("scan-owner", |_| {}).await;
    let owner = c.enroll("gemeente-a", "agent-a", Duration::days(1));
    let other = c.enroll("gemeente-a", "agent-b", Duration::days(1));
    let mut a = c.try_agent("agent-a", Some(&owner)).await.expect("a");
    let mut b = c.try_agent("agent-b", Some(&other)).await.expect("b");
    a.begin_for("s1", A_ACCOUNT).await;
    a.batch("s1", 1, bucket_in(A_ACCOUNT, "x", "eu-west-1", &[]))
        .await;
    ack(&mut a).await;
    b.end_for("s1", 1, true, A_ACCOUNT).await;
    match b.next().await {
        Msg::Reject(r) => assert!(
            r.reason.contains("belongs to another agent"),
            "{}",
            r.reason
        ),
        other => panic!("expected a reject, got {other:?}"),
    }
    assert!(c.all_stores().await.is_empty(), "the scan was not ended");
    a.end_for("s1", 1, true, A_ACCOUNT).await;
    ack(&mut a).await;
    assert_eq!(c.all_stores().await.len(), 1);
}

/// Issue 14 #8: the rate limit is the agent's, not a stream's: three parallel streams of one
/// agent share one budget (two batches of burst at one per second), while another agent of
/// the same tenant keeps its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_per_agent_across_its_streams() {
    let c = Collector::start_tls("rate-per-agent", |cfg| cfg.max_batches_per_second = 1).await;
    let cert = c.enroll("gemeente-a", "agent-a", Duration::days(1));
    let mut streams = Vec::new();
    for n in 0..3 {
        let s = c.try_agent("agent-a", Some(&cert)).await.expect("connects");
        s.begin_for(&format!("p{n}"), A_ACCOUNT).await;
        streams.push(s);
    }
    let mut refused = 0;
    for (n, s) in streams.iter_mut().enumerate() {
        let scan = format!("p{n}");
        s.batch(&scan, 1, bucket_in(A_ACCOUNT, &scan, "eu-west-1", &[]))
            .await;
        match s.next().await {
            Msg::Ack(_) => {}
            Msg::Reject(r) if r.code() == RejectCode::RateLimited => refused += 1,
            other => panic!("expected an ack or a rate-limit reject, got {other:?}"),
        }
    }
    assert_eq!(
        refused, 1,
        "three batches at once from one agent: the third is over"
    );
    let other = c.enroll("gemeente-a", "agent-b", Duration::days(1));
    let mut b = c.try_agent("agent-b", Some(&other)).await.expect("b");
    b.begin_for("q1", A_ACCOUNT).await;
    b.batch("q1", 1, bucket_in(A_ACCOUNT, "q", "eu-west-1", &[]))
        .await;
    ack(&mut b).await;
    drop((streams, b));
    c.stop().await;
}

/// Issue 14 #2: a certificate that expires while its stream is open stops writing at once
/// (the TLS handshake checked it only when the stream opened).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_expires_on_an_open_stream_is_refused_from_then_on() {
    let c = Collector::start_tls("expiring", |_| {}).await;
    let cert = c.enroll("gemeente-a", "agent-a", Duration::seconds(2));
    let not_after = landmeter_collector::pki::identity_from_pem(&cert.cert_pem)
        .expect("identity")
        .not_after_ms;
    let mut a = c
        .try_agent("agent-a", Some(&cert))
        .await
        .expect("valid now");
    a.begin_for("e1", A_ACCOUNT).await;
    a.batch("e1", 1, bucket_in(A_ACCOUNT, "x", "eu-west-1", &[]))
        .await;
    ack(&mut a).await;
    // Wait past notAfter (X.509 times have whole seconds).
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64
    };
    while now_ms() <= not_after + 50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    a.batch("e1", 2, bucket_in(A_ACCOUNT, "y", "eu-west-1", &[]))
        .await;
    match a.next().await {
        Msg::Reject(r) => assert_eq!(
            (r.code(), r.reason.as_str()),
            (RejectCode::Unauthenticated, "certificate expired")
        ),
        other => panic!("expected a reject, got {other:?}"),
    }
    a.end_for("e1", 1, true, A_ACCOUNT).await;
    match a.next().await {
        Msg::Reject(r) => assert_eq!(r.reason, "certificate expired"),
        other => panic!("expected a reject, got {other:?}"),
    }
    assert!(c.all_stores().await.is_empty(), "the scan never ended");
    drop(a);
    c.stop().await;
}

/// Issue 14 #5: every authentication attempt and every read is in the audit log: refused
/// tokens (gRPC, the event stream, the UI sign-in), an opened event stream, a UI session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_streams_and_sign_ins_are_audited() {
    let c = Collector::start_http("audit-all", |_| {}).await;
    let http = c.http_url.clone().expect("http");
    let client = reqwest::Client::new();
    let audit = |c: &Collector| c.store.audit_log(100).expect("audit");

    // gRPC without a token, and with an unknown one.
    let mut anonymous = c.map_as(None).await;
    assert!(
        anonymous
            .list_stores(ListStoresRequest::default())
            .await
            .is_err()
    );
    let mut stranger = c.map_as(Some("lm_not-a-real-token")).await;
    assert!(stranger.summary(SummaryRequest::default()).await.is_err());
    // The event stream with a bad token, then opened with a good one.
    let refused = client
        .get(format!("{http}/v1/events"))
        .bearer_auth("lm_wrong")
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 401);
    let stream = client
        .get(format!("{http}/v1/events?after_id=7"))
        .bearer_auth(&c.admin_token)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    // The UI sign-in, refused and granted.
    for (token, status) in [("lm_wrong", 401), (c.admin_token.as_str(), 204)] {
        let r = client
            .post(format!("{http}/ui/session"))
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .expect("sign-in");
        assert_eq!(r.status(), status);
    }
    drop(stream);

    let log = audit(&c);
    let line = |e: &landmeter_collector::store::AuditEntry| {
        (e.method.clone(), e.token_id.is_some(), e.outcome.clone())
    };
    let got: Vec<(String, bool, String)> = log.iter().rev().map(line).collect();
    let want = [
        ("ListStores", false, "Unauthenticated"),
        ("Summary", false, "Unauthenticated"),
        ("Events", false, "Unauthenticated"),
        ("Events", true, "ok"),
        ("UiSession", false, "Unauthenticated"),
        ("UiSession", true, "ok"),
    ];
    let want: Vec<(String, bool, String)> = want
        .iter()
        .map(|(m, t, o)| ((*m).to_owned(), *t, (*o).to_owned()))
        .collect();
    assert_eq!(got, want);
    assert!(log.iter().any(|e| e.request == "after_id=7"));
    // The refused tokens themselves are never written.
    assert!(
        log.iter()
            .all(|e| !e.request.contains("lm_wrong") && !e.request.contains("not-a-real")),
        "{log:?}"
    );
    c.stop().await;
}

/// Issue 14 #4: one tenant cannot shadow another's store in an admin's single-store view:
/// an id that exists in two tenants is refused with both named until the admin names one,
/// over gRPC (`tenant`) and HTTP (`?tenant=`) alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_names_the_tenant_of_a_store_id_that_exists_twice() {
    let c = Collector::start_tls("shadow", |_| {}).await;
    for (tenant, region) in [("gemeente-a", "eu-west-1"), ("gemeente-b", "us-east-1")] {
        let cert = c.enroll(tenant, "agent", Duration::days(1));
        let mut a = c.try_agent("agent", Some(&cert)).await.expect("agent");
        scan(
            &mut a,
            "s1",
            A_ACCOUNT,
            bucket_in(A_ACCOUNT, "twin", region, &[]),
        )
        .await;
    }
    let id = format!("aws:{A_ACCOUNT}:twin");
    let mut map = c.map().await;
    let err = map
        .get_store(GetStoreRequest {
            id: id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("ambiguous");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("gemeente-a, gemeente-b")
            && err.message().contains("name the tenant"),
        "{}",
        err.message()
    );
    for (tenant, country) in [("gemeente-a", "IE"), ("gemeente-b", "US")] {
        let found = map
            .get_store(GetStoreRequest {
                id: id.clone(),
                tenant: tenant.into(),
            })
            .await
            .expect("named")
            .into_inner()
            .store
            .expect("view");
        assert_eq!(
            (found.tenant.as_str(), found.country.as_str()),
            (tenant, country)
        );
    }
    // A tenant role naming another tenant is refused, not answered.
    let viewer = new_token();
    c.store
        .create_token(
            &token_hash(&viewer),
            "tenant-viewer",
            Some("gemeente-a"),
            "v",
        )
        .expect("token");
    let err = c
        .map_as(Some(&viewer))
        .await
        .get_store(GetStoreRequest {
            id: id.clone(),
            tenant: "gemeente-b".into(),
        })
        .await
        .expect_err("other tenant");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    c.stop().await;
}

/// The same over HTTP: `GET /v1/stores/{id}` answers 400 naming both tenants, and
/// `?tenant=` picks one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_store_page_names_both_tenants_of_a_shared_id() {
    let c = Collector::start_http("shadow-http", |_| {}).await;
    let mut a = c.agent("agent").await;
    scan(
        &mut a,
        "s1",
        A_ACCOUNT,
        bucket_in(A_ACCOUNT, "twin", "eu-west-1", &[]),
    )
    .await;
    drop(a);
    // A second tenant with the same account and bucket, through the ingest use case.
    let (interpreter, _) = landmeter_collector::server::build_interpreter(
        &landmeter_collector::config::CollectorConfig::default(),
    )
    .expect("interpreter");
    let s = c.store.as_ref();
    s.begin_scan(
        "other",
        "agent-o",
        &landmeter_proto::v1::ScanBegin {
            scan_id: "o1".into(),
            accounts: vec![A_ACCOUNT.into()],
            ..Default::default()
        },
    )
    .expect("begin");
    s.commit_batch(
        "other",
        "agent-o",
        &landmeter_proto::v1::FactsBatch {
            scan_id: "o1".into(),
            seq: 1,
            facts: bucket_in(A_ACCOUNT, "twin", "us-east-1", &[]),
        },
    )
    .expect("batch");
    let end = landmeter_proto::v1::ScanEnd {
        scan_id: "o1".into(),
        batches: 1,
        ..Default::default()
    };
    landmeter_collector::scan_end::finish_scan(s, &interpreter, "other", "agent-o", &end, 5)
        .expect("end");

    let base = format!(
        "{}/v1/stores/aws:{A_ACCOUNT}:twin",
        c.http_url.as_deref().expect("http")
    );
    let client = reqwest::Client::new();
    let get = |url: String| client.get(url).bearer_auth(&c.admin_token).send();
    let ambiguous = get(base.clone()).await.expect("answer");
    assert_eq!(ambiguous.status(), 400);
    let text = ambiguous.text().await.expect("body");
    assert!(text.contains("default, other"), "{text}");
    let named: serde_json::Value = get(format!("{base}?tenant=other"))
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(named["store"]["tenant"], "other", "{named}");
    assert_eq!(named["store"]["country"], "US", "{named}");
    c.stop().await;
}

/// Issue 14 #9: operator tokens expire and can be revoked; either ends their access at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_tokens_are_refused() {
    let c = Collector::start("token-life").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let make = |expires: Option<i64>| {
        let t = new_token();
        let id = c
            .store
            .create_token_until(&token_hash(&t), "admin", None, "t", expires)
            .expect("token");
        (t, id)
    };
    let (live, live_id) = make(Some(now + 3_600_000));
    let (expired, _) = make(Some(now - 1));
    let list = |token: &str| {
        let token = token.to_owned();
        let c = &c;
        async move {
            c.map_as(Some(&token))
                .await
                .list_stores(ListStoresRequest::default())
                .await
        }
    };
    assert!(list(&live).await.is_ok());
    let err = list(&expired).await.expect_err("expired");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(c.store.revoke_token(live_id).expect("revoke"));
    let err = list(&live).await.expect_err("revoked");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    c.stop().await;
}

/// Issue 14 #9: the web session cookie is a short-lived server-side session, not the bearer
/// token: it carries its own id with a Max-Age, ends at logout, and ends when its token is
/// revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_sessions_are_their_own_ids_and_end_at_logout_and_revocation() {
    let c = Collector::start_http("sessions", |_| {}).await;
    let http = c.http_url.clone().expect("http");
    let client = reqwest::Client::new();
    let token = new_token();
    let token_id = c
        .store
        .create_token(&token_hash(&token), "admin", None, "ui")
        .expect("token");
    let sign_in = || async {
        let r = client
            .post(format!("{http}/ui/session"))
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .expect("sign-in");
        assert_eq!(r.status(), 204);
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let value = cookie
            .split(';')
            .next()
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v.to_owned())
            .expect("cookie value");
        (cookie, value)
    };
    let summary = |session: String| {
        let client = client.clone();
        let url = format!("{http}/v1/summary");
        async move {
            client
                .get(url)
                .header("cookie", format!("landmeter_session={session}"))
                .send()
                .await
                .expect("answer")
                .status()
        }
    };
    let (cookie, session) = sign_in().await;
    assert!(session.starts_with("ls_") && session != token, "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(cookie.contains("Max-Age=28800"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plaintext loopback: no Secure flag"
    );
    assert_eq!(summary(session.clone()).await, 200);
    // The token itself is not a session.
    assert_eq!(summary(token.clone()).await, 401);
    // Logout ends it server-side: the same cookie replayed is refused.
    let out = client
        .post(format!("{http}/ui/logout"))
        .header("cookie", format!("landmeter_session={session}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 204);
    assert_eq!(summary(session).await, 401);
    // Revoking the token ends its sessions too.
    let (_, second) = sign_in().await;
    assert_eq!(summary(second.clone()).await, 200);
    assert!(c.store.revoke_token(token_id).expect("revoke"));
    assert_eq!(summary(second).await, 401);
    c.stop().await;
}

/// Issue 14: the HTTP side served over TLS on its own (no proxy): the UI and API answer over
/// https with the collector's certificate, plaintext to that port gets nothing, and the
/// session cookie carries `Secure`. Plaintext HTTP stays loopback-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_side_is_served_over_tls_with_secure_cookies() {
    let dir = crate::harness::temp_dir("https-certs");
    landmeter_collector::pki::init_ca(&dir.join("ca"), "test", 30).expect("ca");
    let ca = landmeter_collector::pki::Ca::load(&dir.join("ca")).expect("load ca");
    let issued = ca
        .issue_server(&["localhost".into(), "127.0.0.1".into()], Duration::days(1))
        .expect("server cert");
    let (cert_file, key_file) =
        landmeter_collector::pki::write_issued(&dir, "http", &issued).expect("write");
    let tls = landmeter_collector::https::HttpTlsConfig {
        cert_file,
        key_file,
    };
    // Outside loopback only with TLS (checked without binding).
    let mut cfg = landmeter_collector::config::CollectorConfig {
        insecure_plaintext: true,
        http_listen: Some("0.0.0.0:7401".parse().expect("addr")),
        ..Default::default()
    };
    assert!(cfg.validate().is_err(), "plaintext HTTP outside loopback");
    cfg.http_tls = Some(tls.clone());
    cfg.validate().expect("TLS HTTP on any address");

    let c = Collector::start_http("https", |cfg| cfg.http_tls = Some(tls)).await;
    let addr = c
        .http_url
        .as_deref()
        .expect("http")
        .trim_start_matches("http://")
        .to_owned();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem.as_bytes()).expect("ca"))
        .build()
        .expect("client");
    let live = client
        .get(format!("https://{addr}/live"))
        .send()
        .await
        .expect("https");
    assert_eq!(live.status(), 200);
    let signed_in = client
        .post(format!("https://{addr}/ui/session"))
        .json(&serde_json::json!({ "token": c.admin_token }))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(signed_in.status(), 204);
    let cookie = signed_in.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Plaintext to the TLS port, and a client that does not trust the certificate: nothing.
    assert!(
        reqwest::get(format!("http://{addr}/live")).await.is_err()
            || reqwest::get(format!("http://{addr}/live"))
                .await
                .is_ok_and(|r| !r.status().is_success())
    );
    assert!(reqwest::get(format!("https://{addr}/live")).await.is_err());
    assert!(
        c.stop().await,
        "the TLS side drains and ends with the server"
    );
}

/// A refused handshake on the gRPC listener is logged with the peer and the reason (tonic's
/// own TLS dropped it silently): here a client certificate from a CA the collector does not
/// trust. The binary runs as a process, so its log is what an operator would read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_grpc_handshake_is_logged_with_peer_and_reason() {
    use std::io::BufRead;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

    let dir = crate::harness::temp_dir("refused-handshake");
    let (ca_dir, foreign_dir) = (dir.join("ca"), dir.join("foreign"));
    landmeter_collector::pki::init_ca(&ca_dir, "test", 30).expect("ca");
    landmeter_collector::pki::init_ca(&foreign_dir, "foreign", 30).expect("foreign ca");
    let ca = landmeter_collector::pki::Ca::load(&ca_dir).expect("load ca");
    let server = ca
        .issue_server(&["localhost".into()], Duration::days(1))
        .expect("server cert");
    let (cert, key) =
        landmeter_collector::pki::write_issued(&dir, "server", &server).expect("write");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_landmeter"))
        .args(["serve", "--db"])
        .arg(dir.join("map.db"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--client-ca")
        .arg(ca_dir.join("ca.pem"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start landmeter serve");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let addr = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("read") > 0,
            "serve exited"
        );
        if let Some(a) = line.trim().strip_prefix("listening on ") {
            break a.to_owned();
        }
    };

    let foreign = landmeter_collector::pki::Ca::load(&foreign_dir)
        .expect("load foreign")
        .issue_agent("gemeente-a", "agent-x", Duration::days(1))
        .expect("foreign agent");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            std::fs::read(ca_dir.join("ca.pem")).expect("ca pem"),
        ))
        .domain_name("localhost")
        .identity(Identity::from_pem(&foreign.cert_pem, &foreign.key_pem));
    let attempt = async {
        let channel = Endpoint::from_shared(format!("https://{addr}"))?
            .tls_config(tls)?
            .connect()
            .await?;
        let (_tx, rx) = tokio::sync::mpsc::channel::<landmeter_proto::v1::AgentMessage>(1);
        landmeter_proto::v1::ingest_service_client::IngestServiceClient::new(channel)
            .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), attempt).await;
    assert!(
        !matches!(result, Ok(Ok(()))),
        "a foreign certificate opened a stream"
    );

    // The log line is written when the handshake fails; give the process a moment, then stop.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    child.kill().expect("kill");
    let out = child.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("refused TLS handshake"))
        .unwrap_or_else(|| panic!("no refused handshake logged: {log}"));
    assert!(line.contains("gRPC"), "{line}");
    assert!(line.contains("127.0.0.1:"), "the peer: {line}");
    assert!(line.contains("UnknownIssuer"), "the reason: {line}");
    // Off a terminal the log is JSON, one object a line, and never carries colour codes.
    let json: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(json["fields"]["side"], "gRPC", "{json}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file: {log}");
}
