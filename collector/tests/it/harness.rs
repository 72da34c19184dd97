//! A collector served in-process on 127.0.0.1:0, and an agent-side stream to drive it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use landmeter_collector::config::CollectorConfig;
use landmeter_collector::server;
use landmeter_proto::v1::{
    AccountCoverage, AgentMessage, CollectorMessage, Encryption, EncryptionState, Fact, FactsBatch,
    Hello, ListStoresRequest, ScanBegin, ScanEnd, Store, StoreFilter, StoreView, Tag, Tags,
    agent_message, fact::Body, ingest_service_client::IngestServiceClient,
    map_service_client::MapServiceClient,
};

pub const ACCOUNT: &str = "123456789012";

pub struct Collector {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "landmeter-it-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

impl Collector {
    pub async fn start(name: &str) -> Self {
        Self::start_in(temp_dir(name), CollectorConfig::default()).await
    }

    pub async fn start_in(dir: PathBuf, mut cfg: CollectorConfig) -> Self {
        cfg.database = dir.join("map.db");
        let (interpreter, fingerprint) = server::build_interpreter(&cfg).expect("interpreter");
        let store = server::open_store(&cfg, &interpreter, &fingerprint).expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::run(listener, store, Arc::new(interpreter), &cfg, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Collector {
            url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // Graceful shutdown waits for open agent streams; a test that keeps one open
        // should not hang, so the server gets a moment and is then aborted.
        if let Some(mut t) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut t)
                .await
                .is_err()
        {
            t.abort();
        }
    }

    pub async fn map(&self) -> MapServiceClient<Channel> {
        MapServiceClient::connect(self.url.clone())
            .await
            .expect("connect map")
    }

    pub async fn agent(&self, name: &str) -> AgentStream {
        let (tx, rx) = mpsc::channel(64);
        let mut client = IngestServiceClient::connect(self.url.clone())
            .await
            .expect("connect ingest");
        let responses = client
            .stream(ReceiverStream::new(rx))
            .await
            .expect("open stream")
            .into_inner();
        let s = AgentStream { tx, responses };
        s.send(agent_message::Msg::Hello(Hello {
            agent_version: "test".into(),
            agent_name: name.into(),
            capabilities: vec![],
        }))
        .await;
        s
    }

    /// Every store, present and gone, in id order.
    pub async fn all_stores(&self) -> Vec<StoreView> {
        self.map()
            .await
            .list_stores(ListStoresRequest {
                filter: Some(StoreFilter {
                    include_gone: true,
                    ..StoreFilter::default()
                }),
                page_size: 0,
                page_token: String::new(),
            })
            .await
            .expect("list")
            .into_inner()
            .stores
    }
}

pub struct AgentStream {
    tx: mpsc::Sender<AgentMessage>,
    pub responses: tonic::Streaming<CollectorMessage>,
}

impl AgentStream {
    pub async fn send(&self, msg: agent_message::Msg) {
        self.tx
            .send(AgentMessage { msg: Some(msg) })
            .await
            .expect("send");
    }

    pub async fn next(&mut self) -> landmeter_proto::v1::collector_message::Msg {
        tokio::time::timeout(Duration::from_secs(20), self.responses.next())
            .await
            .expect("collector answers in time")
            .expect("stream open")
            .expect("no stream error")
            .msg
            .expect("message body")
    }

    pub async fn begin(&self, scan_id: &str) {
        self.send(agent_message::Msg::ScanBegin(ScanBegin {
            scan_id: scan_id.into(),
            started_at_ms: 1,
            accounts: vec![ACCOUNT.into()],
            provider: "aws".into(),
        }))
        .await;
    }

    pub async fn batch(&self, scan_id: &str, seq: u64, facts: Vec<Fact>) {
        self.send(agent_message::Msg::FactsBatch(FactsBatch {
            scan_id: scan_id.into(),
            seq,
            facts,
        }))
        .await;
    }

    pub async fn end(&self, scan_id: &str, batches: u64, complete: bool) {
        self.send(agent_message::Msg::ScanEnd(ScanEnd {
            scan_id: scan_id.into(),
            ended_at_ms: 2,
            batches,
            coverage: vec![AccountCoverage {
                account: ACCOUNT.into(),
                complete,
                stores_seen: 0,
                gaps: 0,
                reason: String::new(),
            }],
        }))
        .await;
    }
}

fn fact(subject: &str, call: &str, body: Body) -> Fact {
    Fact {
        account: ACCOUNT.into(),
        subject: subject.into(),
        observed_at_ms: 1_700_000_000_000,
        api_call: call.into(),
        body: Some(body),
    }
}

/// The facts of one bucket: its listing, default encryption (AES256) and tags.
pub fn bucket(name: &str, region: &str, tags: &[(&str, &str)]) -> Vec<Fact> {
    vec![
        fact(
            name,
            "s3:ListBuckets",
            Body::Store(Store {
                provider: "aws".into(),
                service: "s3".into(),
                name: name.into(),
                region: region.into(),
                region_source: "ListBuckets.BucketRegion".into(),
                ..Store::default()
            }),
        ),
        fact(
            name,
            "s3:GetBucketEncryption",
            Body::Encryption(Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: "AES256".into(),
                ..Encryption::default()
            }),
        ),
        fact(
            name,
            "s3:GetBucketTagging",
            Body::Tags(Tags {
                tags: tags
                    .iter()
                    .map(|(k, v)| Tag {
                        key: (*k).into(),
                        value: (*v).into(),
                    })
                    .collect(),
            }),
        ),
    ]
}
