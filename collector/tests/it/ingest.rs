//! The ingest protocol over a real socket: acks after commit, dedupe, rejects that change nothing.

use landmeter_proto::v1::{Ack, Fact, RejectCode, collector_message::Msg};

use crate::harness::{ACCOUNT, Collector, bucket};

fn expect_ack(msg: Msg, seq: u64, duplicate: bool) {
    match msg {
        Msg::Ack(Ack {
            seq: s,
            duplicate: d,
            ..
        }) => assert_eq!((s, d), (seq, duplicate), "ack"),
        other => panic!("expected ack {seq}, got {other:?}"),
    }
}

fn expect_reject(msg: Msg, code: RejectCode) -> String {
    match msg {
        Msg::Reject(r) => {
            assert_eq!(r.code(), code, "reject reason: {}", r.reason);
            r.reason
        }
        other => panic!("expected reject {code:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_batch_sent_twice_is_stored_once() {
    let c = Collector::start("dup").await;
    let mut a = c.agent("agent-1").await;
    a.begin("scan-1").await;
    let mut facts = bucket("b1", "eu-central-1", &[]);
    facts.extend(bucket("b2", "us-east-1", &[("classification", "BBN2")]));
    a.batch("scan-1", 1, facts.clone()).await;
    expect_ack(a.next().await, 1, false);
    a.batch("scan-1", 1, facts).await;
    expect_ack(a.next().await, 1, true);
    a.end("scan-1", 1, true).await;
    expect_ack(a.next().await, 0, false);

    let mut map = c.map().await;
    let summary = map
        .summary(landmeter_proto::v1::SummaryRequest {
            filter: None,
            group_by: vec![],
        })
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(summary.rows.len(), 1);
    assert_eq!(summary.rows[0].stores, 2, "two buckets, each counted once");
    let stores = c.all_stores().await;
    assert_eq!(
        stores.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [format!("aws:{ACCOUNT}:b1"), format!("aws:{ACCOUNT}:b2")]
    );
    assert_eq!((stores[0].country.as_str(), stores[0].eu), ("DE", true));
    assert_eq!(stores[1].classification, "BBN2");
    assert_eq!(stores[0].classification, "unclassified");

    // A resent ScanEnd (after a reconnect) is acknowledged as a duplicate, nothing changes.
    a.end("scan-1", 1, true).await;
    expect_ack(a.next().await, 0, true);
    assert_eq!(c.all_stores().await, stores);
    c.stop().await;
}

#[tokio::test]
async fn bad_batches_get_specific_rejects_and_leave_the_map_unchanged() {
    let c = Collector::start("rejects").await;
    let mut a = c.agent("agent-1").await;
    a.begin("scan-1").await;
    a.batch("scan-1", 1, bucket("keep", "eu-west-1", &[])).await;
    expect_ack(a.next().await, 1, false);
    a.end("scan-1", 1, true).await;
    expect_ack(a.next().await, 0, false);
    let before = c.all_stores().await;
    assert_eq!(before.len(), 1);

    a.begin("scan-2").await;
    // Skipped sequence number.
    a.batch("scan-2", 2, bucket("skipped", "eu-west-1", &[]))
        .await;
    let why = expect_reject(a.next().await, RejectCode::Sequence);
    assert_eq!(why, "batch 2 skips ahead: last committed is 0");
    // Sequence 0 does not exist.
    a.batch("scan-2", 0, bucket("zero", "eu-west-1", &[])).await;
    expect_reject(a.next().await, RejectCode::Sequence);
    // Oversized batch.
    let huge: Vec<Fact> = (0..landmeter_proto::MAX_FACTS_PER_BATCH + 1)
        .flat_map(|i| {
            bucket(&format!("h{i}"), "eu-west-1", &[])
                .into_iter()
                .take(1)
        })
        .collect();
    a.batch("scan-2", 1, huge).await;
    let why = expect_reject(a.next().await, RejectCode::BatchTooLarge);
    assert!(why.contains("exceeds the limit of 5000"), "{why}");
    // A fact without a body (an unknown kind from a newer agent) or without an account.
    let mut bad = bucket("bad", "eu-west-1", &[]);
    bad[1].body = None;
    a.batch("scan-2", 1, bad).await;
    assert_eq!(
        expect_reject(a.next().await, RejectCode::InvalidFact),
        "fact 1: no body (unknown fact kind)"
    );
    let mut bad = bucket("bad", "eu-west-1", &[]);
    bad[0].account.clear();
    a.batch("scan-2", 1, bad).await;
    assert_eq!(
        expect_reject(a.next().await, RejectCode::InvalidFact),
        "fact 0: no account"
    );
    // A batch for a scan never begun.
    a.batch("scan-nope", 1, bucket("x", "eu-west-1", &[])).await;
    expect_reject(a.next().await, RejectCode::UnknownScan);
    // Ending a scan whose batches did not all arrive.
    a.end("scan-2", 3, true).await;
    let why = expect_reject(a.next().await, RejectCode::IncompleteScan);
    assert_eq!(why, "scan scan-2 ends after 3 batches but 0 were committed");

    assert_eq!(
        c.all_stores().await,
        before,
        "rejected input changed the map"
    );
    c.stop().await;
}

#[tokio::test]
async fn a_complete_scan_marks_unseen_stores_gone_and_an_incomplete_one_does_not() {
    let c = Collector::start("gone").await;
    let mut a = c.agent("agent-1").await;
    a.begin("s1").await;
    let mut facts = bucket("stays", "eu-north-1", &[]);
    facts.extend(bucket("leaves", "eu-north-1", &[]));
    a.batch("s1", 1, facts).await;
    expect_ack(a.next().await, 1, false);
    a.end("s1", 1, true).await;
    expect_ack(a.next().await, 0, false);

    // An incomplete scan that saw only one bucket: nothing is gone.
    a.begin("s2").await;
    a.batch("s2", 1, bucket("stays", "eu-north-1", &[])).await;
    expect_ack(a.next().await, 1, false);
    a.end("s2", 1, false).await;
    expect_ack(a.next().await, 0, false);
    assert!(c.all_stores().await.iter().all(|s| s.gone_at_ms.is_none()));

    // A complete one: the unseen bucket is gone, kept with its history.
    a.begin("s3").await;
    a.batch(
        "s3",
        1,
        bucket("stays", "eu-north-1", &[("process", "wmo")]),
    )
    .await;
    expect_ack(a.next().await, 1, false);
    a.end("s3", 1, true).await;
    expect_ack(a.next().await, 0, false);
    let all = c.all_stores().await;
    let leaves = all.iter().find(|s| s.name == "leaves").expect("kept");
    let stays = all.iter().find(|s| s.name == "stays").expect("present");
    assert!(leaves.gone_at_ms.is_some());
    assert_eq!(leaves.last_scan_id, "s1");
    assert!(stays.gone_at_ms.is_none());
    assert_eq!(
        (stays.last_scan_id.as_str(), stays.process.as_str()),
        ("s3", "wmo")
    );
    assert!(stays.first_seen_ms <= stays.last_seen_ms);

    // Default listing hides gone stores.
    let present = c
        .map()
        .await
        .list_stores(landmeter_proto::v1::ListStoresRequest::default())
        .await
        .expect("list")
        .into_inner()
        .stores;
    assert_eq!(
        present.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["stays"]
    );
    c.stop().await;
}
