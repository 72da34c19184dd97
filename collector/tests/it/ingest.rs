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

/// Sends raw bytes as gRPC messages on the ingest stream, as a broken or hostile agent would.
mod raw {
    use bytes::{Buf, BufMut, Bytes};
    use prost::Message;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    use landmeter_proto::v1::CollectorMessage;

    #[derive(Default)]
    pub struct RawCodec;
    pub struct RawEncoder;
    pub struct ReplyDecoder;

    impl Encoder for RawEncoder {
        type Item = Bytes;
        type Error = tonic::Status;
        fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put(item);
            Ok(())
        }
    }

    impl Decoder for ReplyDecoder {
        type Item = CollectorMessage;
        type Error = tonic::Status;
        fn decode(
            &mut self,
            src: &mut DecodeBuf<'_>,
        ) -> Result<Option<CollectorMessage>, tonic::Status> {
            let bytes = src.copy_to_bytes(src.remaining());
            CollectorMessage::decode(bytes)
                .map(Some)
                .map_err(|e| tonic::Status::internal(e.to_string()))
        }
    }

    impl Codec for RawCodec {
        type Encode = Bytes;
        type Decode = CollectorMessage;
        type Encoder = RawEncoder;
        type Decoder = ReplyDecoder;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> ReplyDecoder {
            ReplyDecoder
        }
    }

    /// Opens a stream, sends `frames`, returns the collector's first answer.
    pub async fn send(url: &str, frames: Vec<Bytes>) -> CollectorMessage {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
        grpc.ready().await.expect("ready");
        let path = http::uri::PathAndQuery::from_static("/landmeter.v1.IngestService/Stream");
        let request = tonic::Request::new(tokio_stream::iter(frames));
        let mut replies = grpc
            .streaming(request, path, RawCodec)
            .await
            .expect("stream opens")
            .into_inner();
        tokio::time::timeout(std::time::Duration::from_secs(20), replies.message())
            .await
            .expect("answer in time")
            .expect("a reply, not a status")
            .expect("one message")
    }
}

#[tokio::test]
async fn garbage_and_oversized_messages_get_specific_rejects_and_change_nothing() {
    use prost::Message;
    let c = Collector::start("garbage").await;
    let mut a = c.agent("agent-1").await;
    a.begin("scan-1").await;
    a.batch("scan-1", 1, bucket("keep", "eu-west-1", &[])).await;
    expect_ack(a.next().await, 1, false);
    a.end("scan-1", 1, true).await;
    expect_ack(a.next().await, 0, false);
    let before = c.all_stores().await;

    // Bytes that are no protobuf message (a truncated varint field).
    let garbage = bytes::Bytes::from_static(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02]);
    match raw::send(&c.url, vec![garbage]).await.msg {
        Some(Msg::Reject(r)) => {
            assert_eq!(r.code(), RejectCode::Protocol);
            assert!(r.reason.starts_with("undecodable message"), "{}", r.reason);
        }
        other => panic!("expected a protocol reject, got {other:?}"),
    }
    // A message over the 4 MiB limit.
    let huge = landmeter_proto::v1::AgentMessage {
        msg: Some(landmeter_proto::v1::agent_message::Msg::Hello(
            landmeter_proto::v1::Hello {
                agent_version: "x".repeat(landmeter_proto::MAX_MESSAGE_BYTES + 1),
                agent_name: "agent-1".into(),
                capabilities: vec![],
            },
        )),
    };
    match raw::send(&c.url, vec![huge.encode_to_vec().into()])
        .await
        .msg
    {
        Some(Msg::Reject(r)) => assert_eq!(r.code(), RejectCode::BatchTooLarge, "{}", r.reason),
        other => panic!("expected a size reject, got {other:?}"),
    }
    assert_eq!(
        c.all_stores().await,
        before,
        "hostile input changed the map"
    );
    c.stop().await;
}

#[tokio::test]
async fn unknown_enum_values_are_kept_as_unknown_not_a_panic() {
    use landmeter_proto::v1::fact::Body;
    let c = Collector::start("enums").await;
    let mut a = c.agent("agent-1").await;
    a.begin("scan-1").await;
    let mut facts = bucket("future", "eu-west-1", &[]);
    // A newer agent's encryption state and gap kind that this collector does not know.
    if let Some(Body::Encryption(e)) = &mut facts[1].body {
        e.state = 42;
    }
    facts.push(landmeter_proto::v1::Fact {
        account: ACCOUNT.into(),
        subject: "future".into(),
        observed_at_ms: 1,
        api_call: "s3:GetBucketTagging".into(),
        body: Some(Body::Gap(landmeter_proto::v1::Gap {
            kind: 99,
            code: "NewThing".into(),
            message: String::new(),
            call: "s3:GetBucketTagging".into(),
            ..Default::default()
        })),
    });
    a.batch("scan-1", 1, facts).await;
    expect_ack(a.next().await, 1, false);
    a.end("scan-1", 1, true).await;
    expect_ack(a.next().await, 0, false);
    let store = c.all_stores().await.pop().expect("stored");
    assert_eq!(store.custody(), landmeter_proto::Custody::Unknown);
    assert_eq!(store.custody_reason, "encryption answer without a state");
    let detail = c
        .map()
        .await
        .get_store(landmeter_proto::v1::GetStoreRequest {
            id: store.id.clone(),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner();
    let gap = detail
        .facts
        .iter()
        .find_map(|p| match p.fact.as_ref().and_then(|f| f.body.as_ref()) {
            Some(Body::Gap(g)) => Some(g.kind),
            _ => None,
        })
        .expect("gap kept");
    assert_eq!(gap, 99, "the raw value survives storage");
    c.stop().await;
}
