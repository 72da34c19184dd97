//! The uplink against a test `IngestService` over a real socket: batching, delivery, resends.

use super::*;
use landmeter_proto::v1::ingest_service_server::{IngestService, IngestServiceServer};
use landmeter_proto::v1::{Ack, Reject};
use std::pin::Pin;
use tokio_stream::{Stream, StreamExt};

/// How the fake collector answers batches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Acks every batch (the first twice, once as a duplicate) and the scan end.
    Ack,
    /// Rejects the first batch.
    Reject,
    /// Never answers.
    Silent,
    /// Acks like `Ack`, but the first stream ends (as a killed collector's would) on
    /// receiving batch 2, before acknowledging it.
    DropOnce,
}

/// A collector speaking the real gRPC API, recording what it saw.
#[derive(Clone)]
struct FakeCollector {
    seen: mpsc::UnboundedSender<AgentMessage>,
    mode: Mode,
    dropped: Arc<std::sync::atomic::AtomicBool>,
    /// Notified when a `DropOnce` collector drops its stream: the server then stops
    /// listening, as a killed process would.
    killed: Arc<tokio::sync::Notify>,
}

type Out = Pin<Box<dyn Stream<Item = Result<CollectorMessage, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl IngestService for FakeCollector {
    type StreamStream = Out;

    async fn stream(
        &self,
        request: tonic::Request<tonic::Streaming<AgentMessage>>,
    ) -> Result<tonic::Response<Out>, tonic::Status> {
        let mut inbound = request.into_inner();
        let seen = self.seen.clone();
        let mode = self.mode;
        let dropped = Arc::clone(&self.dropped);
        let killed = Arc::clone(&self.killed);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(Ok(message)) = inbound.next().await {
                if mode == Mode::DropOnce
                    && matches!(&message.msg, Some(agent_message::Msg::FactsBatch(b)) if b.seq == 2)
                    && !dropped.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    let _ = seen.send(message);
                    let _ = tx
                        .send(Err(tonic::Status::unavailable("collector killed")))
                        .await;
                    killed.notify_one();
                    return;
                }
                let reply = match &message.msg {
                    _ if mode == Mode::Silent => {
                        let _ = seen.send(message);
                        continue;
                    }
                    Some(agent_message::Msg::FactsBatch(b)) if mode == Mode::Reject => {
                        collector_message::Msg::Reject(Reject {
                            code: RejectCode::InvalidFact as i32,
                            reason: "bad fact".to_owned(),
                            scan_id: b.scan_id.clone(),
                            seq: b.seq,
                        })
                    }
                    Some(agent_message::Msg::FactsBatch(b)) => collector_message::Msg::Ack(Ack {
                        scan_id: b.scan_id.clone(),
                        seq: b.seq,
                        duplicate: false,
                    }),
                    Some(agent_message::Msg::ScanEnd(e)) => collector_message::Msg::Ack(Ack {
                        scan_id: e.scan_id.clone(),
                        seq: 0,
                        duplicate: false,
                    }),
                    _ => {
                        let _ = seen.send(message);
                        continue;
                    }
                };
                let _ = seen.send(message);
                if let collector_message::Msg::Ack(ack) = &reply
                    && ack.seq == 1
                {
                    let duplicate = collector_message::Msg::Ack(Ack {
                        duplicate: true,
                        ..ack.clone()
                    });
                    let _ = tx
                        .send(Ok(CollectorMessage {
                            msg: Some(duplicate),
                        }))
                        .await;
                }
                if tx
                    .send(Ok(CollectorMessage { msg: Some(reply) }))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

async fn serve(mode: Mode) -> (String, mpsc::UnboundedReceiver<AgentMessage>) {
    let (url, seen, _killed) = serve_killable(mode, false).await;
    (url, seen)
}

/// [`serve`]; with `die`, the server stops listening once a `DropOnce` stream dropped (the
/// returned task ends then).
async fn serve_killable(
    mode: Mode,
    die: bool,
) -> (
    String,
    mpsc::UnboundedReceiver<AgentMessage>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let killed = Arc::new(tokio::sync::Notify::new());
    let service = IngestServiceServer::new(FakeCollector {
        seen: seen_tx,
        mode,
        dropped: Arc::default(),
        killed: Arc::clone(&killed),
    });
    let server = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async move {
                if die {
                    killed.notified().await;
                } else {
                    std::future::pending::<()>().await;
                }
            },
        );
    let task = tokio::spawn(async move {
        let _ = server.await;
    });
    (format!("http://{addr}"), seen_rx, task)
}

fn config(url: String) -> UplinkConfig {
    UplinkConfig {
        url,
        other_urls: Vec::new(),
        agent_name: "test-agent".to_owned(),
        connect_timeout: Duration::from_secs(5),
        ack_timeout: Duration::from_secs(10),
        tls: None,
        reconnect: None,
        capabilities: vec!["provider.test".to_owned()],
    }
}

fn start() -> ScanStart {
    ScanStart {
        scan_id: "scan-1".to_owned(),
        started_at_ms: 1,
        accounts: vec!["111111111111".to_owned()],
        providers: vec!["cloud-a".to_owned(), "cloud-b".to_owned()],
    }
}

#[tokio::test]
async fn streams_batches_and_closes_the_scan() {
    let (url, mut seen) = serve(Mode::Ack).await;
    let (tx, rx) = mpsc::channel(16);
    let (cov_tx, cov_rx) = oneshot::channel();
    let producer = async move {
        for i in 0..1_201 {
            let fact = Fact {
                subject: format!("bucket-{i}"),
                ..Fact::default()
            };
            tx.send(fact).await.expect("uplink alive");
        }
        drop(tx);
        cov_tx
            .send(vec![AccountCoverage {
                account: "111111111111".to_owned(),
                complete: true,
                stores_seen: 1_201,
                gaps: 0,
                reason: String::new(),
            }])
            .expect("uplink waits");
    };
    let cfg = config(url);
    let (report, ()) = tokio::join!(stream_scan(&cfg, start(), rx, cov_rx), producer);
    let report = report.expect("scan delivered");
    assert_eq!(
        report,
        UplinkReport {
            batches: 3,
            facts: 1_201,
            duplicates: 1
        }
    );

    let mut kinds = Vec::new();
    while let Ok(message) = seen.try_recv() {
        kinds.push(match message.msg {
            Some(agent_message::Msg::Hello(h)) => {
                format!("hello {} {}", h.agent_name, h.capabilities.join(","))
            }
            // Every provider, and the first alone for collectors before multi-cloud scans.
            Some(agent_message::Msg::ScanBegin(b)) => {
                format!(
                    "begin {} {} {}",
                    b.scan_id,
                    b.provider,
                    b.providers.join(",")
                )
            }
            Some(agent_message::Msg::FactsBatch(b)) => {
                format!("batch {} {}", b.seq, b.facts.len())
            }
            Some(agent_message::Msg::ScanEnd(e)) => {
                format!("end {} {}", e.batches, e.coverage.len())
            }
            None => "none".to_owned(),
        });
    }
    assert_eq!(
        kinds,
        vec![
            "hello test-agent facts.v1,spool.v1,provider.test",
            "begin scan-1 cloud-a cloud-a,cloud-b",
            "batch 1 500",
            "batch 2 500",
            "batch 3 201",
            "end 3 1"
        ]
    );
}

#[tokio::test]
async fn a_broken_stream_reconnects_and_resends_what_was_not_acked() {
    let (url, mut seen) = serve(Mode::DropOnce).await;
    let spool = Spool::memory(crate::spool::DEFAULT_MAX_BYTES);
    spool.begin(&start().begin()).expect("begin");
    for seq in 1..=3 {
        spool
            .push_batch(&FactsBatch {
                scan_id: "scan-1".to_owned(),
                seq,
                facts: vec![Fact::default(); 10],
            })
            .await
            .expect("spooled");
    }
    spool
        .end(&ScanEnd {
            scan_id: "scan-1".to_owned(),
            batches: 3,
            ..ScanEnd::default()
        })
        .expect("ended");
    let cfg = UplinkConfig {
        reconnect: Some(Reconnect {
            max_delay: Duration::from_millis(500),
        }),
        ..config(url)
    };
    let delivered = deliver(&cfg, &spool, Until::Delivered("scan-1".to_owned()), None)
        .await
        .expect("delivered after a reconnect");
    assert_eq!(delivered.scans, 1);
    assert!(!spool.contains("scan-1"));
    let mut kinds = Vec::new();
    while let Ok(message) = seen.try_recv() {
        kinds.push(match message.msg {
            Some(agent_message::Msg::Hello(_)) => "hello".to_owned(),
            Some(agent_message::Msg::ScanBegin(_)) => "begin".to_owned(),
            Some(agent_message::Msg::FactsBatch(b)) => format!("batch {}", b.seq),
            Some(agent_message::Msg::ScanEnd(_)) => "end".to_owned(),
            None => "none".to_owned(),
        });
    }
    // Batch 1 was acked before the stream broke; 2 and 3 are resent after a new Hello.
    let second_hello = kinds.iter().rposition(|k| k == "hello").expect("hellos");
    assert!(second_hello > 0, "{kinds:?}");
    assert_eq!(
        &kinds[second_hello..],
        ["hello", "begin", "batch 2", "batch 3", "end"],
        "{kinds:?}"
    );
    assert!(
        kinds[..second_hello].contains(&"batch 2".to_owned()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_reject_ends_the_scan_with_its_code() {
    let (url, _seen) = serve(Mode::Reject).await;
    let (tx, rx) = mpsc::channel(16);
    let (_cov_tx, cov_rx) = oneshot::channel();
    tx.send(Fact::default()).await.expect("buffered");
    drop(tx);
    let err = stream_scan(&config(url), start(), rx, cov_rx)
        .await
        .expect_err("rejected");
    let text = err.to_string();
    assert!(
        text.contains("REJECT_CODE_INVALID_FACT") && text.contains("bad fact"),
        "{text}"
    );
}

#[tokio::test]
async fn a_silent_collector_times_out_clearly() {
    let (url, _seen) = serve(Mode::Silent).await;
    let (tx, rx) = mpsc::channel(16);
    let (_cov_tx, cov_rx) = oneshot::channel();
    tx.send(Fact::default()).await.expect("buffered");
    drop(tx);
    let cfg = UplinkConfig {
        ack_timeout: Duration::from_millis(300),
        ..config(url)
    };
    let err = stream_scan(&cfg, start(), rx, cov_rx)
        .await
        .expect_err("no answer");
    assert!(
        matches!(
            err,
            UplinkError::Timeout {
                waiting: "waiting for batch acks",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_collector_is_a_connect_error() {
    // Bind and drop to get a port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let (_tx, rx) = mpsc::channel(1);
    let (_cov_tx, cov_rx) = oneshot::channel();
    let err = stream_scan(
        &config(format!("http://127.0.0.1:{port}")),
        start(),
        rx,
        cov_rx,
    )
    .await
    .expect_err("nothing listens");
    assert!(matches!(err, UplinkError::Connect { .. }), "{err}");
}

/// What a fake collector saw, as short labels.
fn kinds(seen: &mut mpsc::UnboundedReceiver<AgentMessage>) -> Vec<String> {
    let mut kinds = Vec::new();
    while let Ok(message) = seen.try_recv() {
        kinds.push(match message.msg {
            Some(agent_message::Msg::Hello(_)) => "hello".to_owned(),
            Some(agent_message::Msg::ScanBegin(_)) => "begin".to_owned(),
            Some(agent_message::Msg::FactsBatch(b)) => format!("batch {}", b.seq),
            Some(agent_message::Msg::ScanEnd(_)) => "end".to_owned(),
            None => "none".to_owned(),
        });
    }
    kinds
}

fn dead_url() -> String {
    // Bind and drop to get a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", listener.local_addr().expect("addr"))
}

#[tokio::test]
async fn an_unreachable_first_collector_is_passed_over_for_the_next() {
    let (url, mut seen) = serve(Mode::Ack).await;
    let (tx, rx) = mpsc::channel(16);
    let (cov_tx, cov_rx) = oneshot::channel();
    tx.send(Fact::default()).await.expect("buffered");
    drop(tx);
    cov_tx.send(Vec::new()).expect("coverage");
    // Without reconnection (`scan`): each URL once, in order.
    let cfg = UplinkConfig {
        other_urls: vec![url],
        ..config(dead_url())
    };
    let report = stream_scan(&cfg, start(), rx, cov_rx)
        .await
        .expect("delivered to the second collector");
    assert_eq!(report.batches, 1);
    assert_eq!(kinds(&mut seen), ["hello", "begin", "batch 1", "end"]);

    // Every URL unreachable: the last connection error.
    let (_tx, rx) = mpsc::channel(1);
    let (_cov_tx, cov_rx) = oneshot::channel();
    let cfg = UplinkConfig {
        other_urls: vec![dead_url()],
        ..config(dead_url())
    };
    let err = stream_scan(&cfg, start(), rx, cov_rx)
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, UplinkError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn a_collector_killed_mid_scan_fails_over_to_the_next_without_loss() {
    let (first, mut seen_first, first_server) = serve_killable(Mode::DropOnce, true).await;
    let (second, mut seen_second) = serve(Mode::Ack).await;
    let spool = Spool::memory(crate::spool::DEFAULT_MAX_BYTES);
    spool.begin(&start().begin()).expect("begin");
    for seq in 1..=3 {
        spool
            .push_batch(&FactsBatch {
                scan_id: "scan-1".to_owned(),
                seq,
                facts: vec![Fact::default(); 10],
            })
            .await
            .expect("spooled");
    }
    spool
        .end(&ScanEnd {
            scan_id: "scan-1".to_owned(),
            batches: 3,
            ..ScanEnd::default()
        })
        .expect("ended");
    let cfg = UplinkConfig {
        other_urls: vec![second],
        reconnect: Some(Reconnect {
            max_delay: Duration::from_millis(500),
        }),
        ..config(first)
    };
    let delivered = deliver(&cfg, &spool, Until::Delivered("scan-1".to_owned()), None)
        .await
        .expect("delivered through the second collector");
    assert_eq!(delivered.scans, 1);
    assert!(!spool.contains("scan-1"), "nothing left in the spool");
    first_server.await.expect("the first collector stopped");
    let on_first = kinds(&mut seen_first);
    assert_eq!(on_first, ["hello", "begin", "batch 1", "batch 2"]);
    // Batch 1 was acknowledged by the first; the rest goes to the second, from Hello on.
    assert_eq!(
        kinds(&mut seen_second),
        ["hello", "begin", "batch 2", "batch 3", "end"]
    );
}
