//! Several collector servers on one PostgreSQL database, driven over gRPC and HTTP as agents
//! and operators reach them: watchers on any collector see every change, a batch resent to
//! another collector is a duplicate, a scan request reaches an agent on another collector.

use std::time::Duration;

use tokio_stream::StreamExt;

use landmeter_collector::config::CollectorConfig;
use landmeter_proto::v1::{
    Ack, ChangeEvent, RequestScanRequest, WatchRequest, collector_message::Msg,
};

use super::database::TestDatabase;
use crate::harness::{ACCOUNT, AgentStream, Collector, bucket, bucket_in, temp_dir};

/// A plaintext collector (HTTP side too) on the shared database.
async fn collector_on(db: &TestDatabase, name: &str) -> Collector {
    let cfg = CollectorConfig {
        insecure_plaintext: true,
        database: db.url().to_owned(),
        ..CollectorConfig::default()
    };
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind http");
    Collector::start_full(temp_dir(name), cfg, Some(http)).await
}

fn expect_ack(msg: Msg, seq: u64, duplicate: bool) {
    match msg {
        Msg::Ack(Ack {
            seq: s,
            duplicate: d,
            ..
        }) => assert_eq!((s, d), (seq, duplicate), "ack"),
        other => panic!("expected an ack of {seq}, got {other:?}"),
    }
}

/// One complete scan of `ACCOUNT` with `facts` in one batch.
async fn scan(agent: &mut AgentStream, scan_id: &str, facts: Vec<landmeter_proto::v1::Fact>) {
    agent.begin(scan_id).await;
    agent.batch(scan_id, 1, facts).await;
    expect_ack(agent.next().await, 1, false);
    agent.end(scan_id, 1, true).await;
    assert!(matches!(agent.next().await, Msg::Ack(_)));
}

/// The next `n` events of a watch stream, each within a few seconds.
async fn next_events(stream: &mut tonic::Streaming<ChangeEvent>, n: usize) -> Vec<ChangeEvent> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        let e = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("event {} of {n} in time; got {got:?}", got.len() + 1))
            .expect("stream open")
            .expect("event");
        got.push(e);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_on_one_collector_sees_every_change_committed_through_any_in_id_order() {
    let db = TestDatabase::create();
    let a = collector_on(&db, "multi-watch-a").await;
    let b = collector_on(&db, "multi-watch-b").await;
    let mut on_b = b
        .map()
        .await
        .watch(WatchRequest::default())
        .await
        .expect("watch on b")
        .into_inner();
    let mut on_a = a
        .map()
        .await
        .watch(WatchRequest::default())
        .await
        .expect("watch on a")
        .into_inner();
    let mut events_on_b = open_events(&b).await;

    // Changes committed through A, then through B, then through A again: 3 + 3 + 1 events.
    let mut through_a = a.agent("agent-a").await;
    let mut first = bucket("b1", "eu-west-1", &[]);
    first.extend(bucket("b2", "eu-central-1", &[]));
    first.extend(bucket("b3", "us-east-1", &[]));
    scan(&mut through_a, "s1", first).await;
    let mut through_b = b.agent("agent-b").await;
    through_b.begin_for("t1", "210987654321").await;
    let mut other = bucket_in("210987654321", "c1", "eu-west-1", &[]);
    other.extend(bucket_in("210987654321", "c2", "eu-west-3", &[]));
    other.extend(bucket_in("210987654321", "c3", "eu-north-1", &[]));
    through_b.batch("t1", 1, other).await;
    expect_ack(through_b.next().await, 1, false);
    through_b.end_for("t1", 1, true, "210987654321").await;
    assert!(matches!(through_b.next().await, Msg::Ack(_)));
    // b3 gone from the account's next complete scan.
    let mut second = bucket("b1", "eu-west-1", &[]);
    second.extend(bucket("b2", "eu-central-1", &[]));
    scan(&mut through_a, "s2", second).await;

    let recorded = a
        .store
        .list_changes(
            &landmeter_collector::store::Scope::AllTenants,
            0,
            0,
            100,
            &Default::default(),
        )
        .expect("changes");
    let recorded_ids: Vec<i64> = recorded.iter().map(|e| e.id).collect();
    assert_eq!(recorded_ids, (1..=7).collect::<Vec<i64>>());

    for (who, stream) in [("b", &mut on_b), ("a", &mut on_a)] {
        let seen = next_events(stream, 7).await;
        let ids: Vec<i64> = seen.iter().map(|e| e.id).collect();
        assert_eq!(
            ids, recorded_ids,
            "watcher on {who}: every change once, in id order"
        );
        let stores: Vec<&str> = seen.iter().map(|e| e.store_id.as_str()).collect();
        let expected: Vec<&str> = recorded.iter().map(|e| e.store_id.as_str()).collect();
        assert_eq!(stores, expected, "watcher on {who}");
        // Nothing more arrives: no change is sent twice.
        let extra = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
        assert!(extra.is_err(), "watcher on {who} got more: {extra:?}");
    }

    // A watcher resuming on B after id 5 gets 6 and 7 from the database.
    let mut resumed = b
        .map()
        .await
        .watch(WatchRequest {
            filter: None,
            after_id: 5,
        })
        .await
        .expect("watch")
        .into_inner();
    let ids: Vec<i64> = next_events(&mut resumed, 2)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [6, 7]);

    // /v1/events on B, opened before the scans, streamed the same ids (an event's id line).
    assert_eq!(sse_ids(&mut events_on_b, 7).await, recorded_ids);

    // The listening connections dropped (a database restart, a proxy's idle timeout): what
    // is committed meanwhile still reaches the watcher, read by id after listening again.
    db.admin_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{}' AND application_name = '{}'",
        db.name(),
        landmeter_collector::store::postgres::LISTENER_APPLICATION_NAME
    ));
    scan(&mut through_a, "s3", bucket("b1", "eu-west-1", &[])).await;
    let after_reconnect: Vec<i64> = next_events(&mut on_b, 1)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        after_reconnect,
        [8],
        "b2 gone, seen on b after its listener came back"
    );

    drop((through_a, through_b, on_a, on_b, resumed, events_on_b));
    assert!(a.stop().await);
    assert!(b.stop().await);
}

/// `/v1/events` on `c`, opened (the response head read) and left to stream.
async fn open_events(c: &Collector) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let http = c.http_url.as_ref().expect("http side");
    let addr = http.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        c.admin_token
    );
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut head = [0u8; 15];
    conn.read_exact(&mut head).await.expect("response head");
    assert_eq!(&head, b"HTTP/1.1 200 OK");
    conn
}

/// The ids of the next `n` server-sent events on an open `/v1/events` stream.
async fn sse_ids(conn: &mut tokio::net::TcpStream, n: usize) -> Vec<i64> {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ids: Vec<i64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        if ids.len() >= n {
            return ids;
        }
        let read = tokio::time::timeout_at(deadline, conn.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{n} events in time; got {text}"))
            .expect("read");
        assert!(read > 0, "stream ended: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..read]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_resent_to_another_collector_after_a_failover_is_a_duplicate() {
    let db = TestDatabase::create();
    let a = collector_on(&db, "multi-dup-a").await;
    let b = collector_on(&db, "multi-dup-b").await;

    // Batch 1 committed and acknowledged by A, then A is gone.
    let mut to_a = a.agent("agent-1").await;
    to_a.begin("s1").await;
    to_a.batch("s1", 1, bucket("b1", "eu-west-1", &[])).await;
    expect_ack(to_a.next().await, 1, false);
    drop(to_a);
    assert!(a.stop().await);

    // The agent fails over to B and resends what it did not see acknowledged (1 again, as an
    // agent does when the ack was lost), then goes on.
    let mut to_b = b.agent("agent-1").await;
    to_b.begin("s1").await;
    to_b.batch("s1", 1, bucket("b1", "eu-west-1", &[])).await;
    expect_ack(to_b.next().await, 1, true);
    to_b.batch("s1", 2, bucket("b2", "eu-west-1", &[])).await;
    expect_ack(to_b.next().await, 2, false);
    to_b.end("s1", 2, true).await;
    assert!(matches!(to_b.next().await, Msg::Ack(_)));

    let stores: Vec<String> = b.all_stores().await.into_iter().map(|s| s.name).collect();
    assert_eq!(stores, ["b1", "b2"], "one copy of each store");
    let changes = b
        .store
        .list_changes(
            &landmeter_collector::store::Scope::AllTenants,
            0,
            0,
            100,
            &Default::default(),
        )
        .expect("changes");
    let added: Vec<&str> = changes.iter().map(|e| e.store_id.as_str()).collect();
    assert_eq!(
        added,
        [format!("aws:{ACCOUNT}:b1"), format!("aws:{ACCOUNT}:b2")],
        "each store added once"
    );
    drop(to_b);
    assert!(b.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_request_reaches_an_agent_connected_to_another_collector() {
    let db = TestDatabase::create();
    let a = collector_on(&db, "multi-request-a").await;
    let b = collector_on(&db, "multi-request-b").await;
    let mut on_b = b.agent("agent-b").await;
    let mut on_a = a.agent("agent-a").await;
    // Connected: a first exchange on each stream (the registration happens at Hello).
    for (agent, scan_id) in [(&mut on_b, "sb"), (&mut on_a, "sa")] {
        agent.begin(scan_id).await;
        agent.batch(scan_id, 1, bucket("x", "eu-west-1", &[])).await;
        expect_ack(agent.next().await, 1, false);
    }

    // Asked through A, for the one agent connected to B.
    let reached = a
        .map()
        .await
        .request_scan(RequestScanRequest {
            tenant: "default".into(),
            agent: "agent-b".into(),
            reason: "audit tomorrow".into(),
        })
        .await
        .expect("request")
        .into_inner()
        .agents;
    assert_eq!(reached, ["agent-b"]);
    match on_b.next().await {
        Msg::ScanRequest(r) => assert_eq!(r.reason, "audit tomorrow"),
        other => panic!("expected a scan request on b's agent, got {other:?}"),
    }

    // Asked through B for the whole tenant: both agents, each once.
    let reached = b
        .map()
        .await
        .request_scan(RequestScanRequest {
            tenant: "default".into(),
            agent: String::new(),
            reason: "everyone".into(),
        })
        .await
        .expect("request")
        .into_inner()
        .agents;
    assert_eq!(reached, ["agent-a", "agent-b"]);
    for agent in [&mut on_a, &mut on_b] {
        match agent.next().await {
            Msg::ScanRequest(r) => assert_eq!(r.reason, "everyone"),
            other => panic!("expected a scan request, got {other:?}"),
        }
        let again = tokio::time::timeout(Duration::from_millis(300), agent.responses.next()).await;
        assert!(again.is_err(), "one request, one ScanRequest: {again:?}");
    }

    // Nobody by that name anywhere: an empty answer, not an error.
    let reached = a
        .map()
        .await
        .request_scan(RequestScanRequest {
            tenant: "default".into(),
            agent: "agent-z".into(),
            reason: String::new(),
        })
        .await
        .expect("request")
        .into_inner()
        .agents;
    assert!(reached.is_empty(), "{reached:?}");
    drop((on_a, on_b));
    assert!(a.stop().await);
    assert!(b.stop().await);
}
