//! A collector served in-process on 127.0.0.1:0, and an agent-side stream to drive it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use landmeter_collector::auth::BearerToken;
use landmeter_collector::config::CollectorConfig;
use landmeter_collector::server;
use landmeter_proto::v1::{
    AccountCoverage, AgentMessage, CollectorMessage, Encryption, EncryptionState, Fact, FactsBatch,
    Hello, ListStoresRequest, ScanBegin, ScanEnd, Store, StoreFilter, StoreView, Tag, Tags,
    agent_message, fact::Body, ingest_service_client::IngestServiceClient,
    map_service_client::MapServiceClient,
};

pub const ACCOUNT: &str = "123456789012";

pub type Map =
    MapServiceClient<tonic::service::interceptor::InterceptedService<Channel, BearerToken>>;

pub struct Collector {
    pub url: String,
    /// An admin token, created before the server started.
    pub admin_token: String,
    pub store: std::sync::Arc<dyn landmeter_collector::store::MapStore>,
    /// Under TLS: the CA folder (agents are enrolled from it) and the CA certificate.
    pub ca_dir: Option<PathBuf>,
    /// `http://127.0.0.1:PORT` of the HTTP side, when started with one.
    pub http_url: Option<String>,
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
    /// A plaintext collector (`insecure_plaintext` on loopback), tenant "default".
    pub async fn start(name: &str) -> Self {
        let cfg = CollectorConfig {
            insecure_plaintext: true,
            ..CollectorConfig::default()
        };
        Self::start_in(temp_dir(name), cfg).await
    }

    /// A collector with its own CA and mutual TLS; `tweak` adjusts the config.
    pub async fn start_tls(name: &str, tweak: impl FnOnce(&mut CollectorConfig)) -> Self {
        let dir = temp_dir(name);
        let ca_dir = dir.join("ca");
        landmeter_collector::pki::init_ca(&ca_dir, "test", 30).expect("ca");
        let ca = landmeter_collector::pki::Ca::load(&ca_dir).expect("load ca");
        let server = ca
            .issue_server(
                &["localhost".into(), "127.0.0.1".into()],
                time::Duration::days(1),
            )
            .expect("server cert");
        let (cert_file, key_file) =
            landmeter_collector::pki::write_issued(&dir, "server", &server).expect("write");
        let mut cfg = CollectorConfig {
            tls: Some(landmeter_collector::config::TlsConfig {
                cert_file,
                key_file,
                client_ca_file: ca_dir.join("ca.pem"),
                ca_key_file: Some(ca_dir.join("ca.key")),
                agent_certificate_days: None,
            }),
            ..CollectorConfig::default()
        };
        tweak(&mut cfg);
        cfg.validate().expect("valid config");
        let mut c = Self::start_in(dir, cfg).await;
        c.ca_dir = Some(ca_dir);
        c
    }

    /// A plaintext collector with its HTTP side; `tweak` adjusts the config (e.g. alerts).
    pub async fn start_http(name: &str, tweak: impl FnOnce(&mut CollectorConfig)) -> Self {
        let mut cfg = CollectorConfig {
            insecure_plaintext: true,
            ..CollectorConfig::default()
        };
        tweak(&mut cfg);
        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind http");
        Self::start_full(temp_dir(name), cfg, Some(http)).await
    }

    pub async fn start_in(dir: PathBuf, cfg: CollectorConfig) -> Self {
        Self::start_full(dir, cfg, None).await
    }

    pub async fn start_full(
        dir: PathBuf,
        mut cfg: CollectorConfig,
        http: Option<tokio::net::TcpListener>,
    ) -> Self {
        let http_url = http
            .as_ref()
            .map(|h| format!("http://{}", h.local_addr().expect("addr")));
        // A test that names its database (PostgreSQL) keeps it; others get a file in `dir`.
        if cfg.database == CollectorConfig::default().database {
            cfg.database = dir.join("map.db").display().to_string();
        }
        let (interpreter, fingerprint) = server::build_interpreter(&cfg).expect("interpreter");
        let store = server::open_store(&cfg, &interpreter, &fingerprint).expect("store");
        let admin_token = landmeter_collector::auth::new_token();
        store
            .create_token(
                &landmeter_collector::auth::token_hash(&admin_token),
                "admin",
                None,
                "test admin",
            )
            .expect("token");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let scheme = if cfg.tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().expect("addr"));
        let served_store = Arc::clone(&store);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::run_with_http(
                listener,
                http,
                served_store,
                Arc::new(interpreter),
                &cfg,
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .expect("server runs");
        });
        Collector {
            url,
            admin_token,
            store,
            ca_dir: None,
            http_url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server; true when it drained and ended by itself.
    pub async fn stop(mut self) -> bool {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // Graceful shutdown waits for open agent streams; a test that keeps one open
        // should not hang, so the server gets a moment and is then aborted.
        let Some(mut t) = self.task.take() else {
            return false;
        };
        match tokio::time::timeout(Duration::from_secs(2), &mut t).await {
            Ok(ended) => ended.is_ok(),
            Err(_) => {
                t.abort();
                false
            }
        }
    }

    /// A MapService client with the admin token.
    pub async fn map(&self) -> Map {
        self.map_as(Some(&self.admin_token)).await
    }

    /// A MapService client with the given token (or none).
    pub async fn map_as(&self, token: Option<&str>) -> Map {
        let channel = self.endpoint(None).connect().await.expect("connect map");
        MapServiceClient::with_interceptor(channel, BearerToken::new(token))
    }

    /// An endpoint to the collector; under TLS it trusts the CA and presents `identity`.
    pub fn endpoint(&self, identity: Option<&landmeter_collector::pki::Issued>) -> Endpoint {
        let endpoint = Endpoint::from_shared(self.url.clone()).expect("url");
        let Some(ca_dir) = &self.ca_dir else {
            return endpoint;
        };
        let ca = std::fs::read(ca_dir.join("ca.pem")).expect("ca");
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some(id) = identity {
            tls = tls.identity(Identity::from_pem(&id.cert_pem, &id.key_pem));
        }
        endpoint.tls_config(tls).expect("tls config")
    }

    /// Issues an agent certificate from this collector's CA.
    pub fn enroll(
        &self,
        tenant: &str,
        agent: &str,
        valid: time::Duration,
    ) -> landmeter_collector::pki::Issued {
        let ca = landmeter_collector::pki::Ca::load(self.ca_dir.as_ref().expect("a TLS collector"))
            .expect("ca");
        ca.issue_agent(tenant, agent, valid).expect("issue")
    }

    /// Opens an ingest stream, presenting `identity` under TLS; the error when refused.
    pub async fn try_agent(
        &self,
        name: &str,
        identity: Option<&landmeter_collector::pki::Issued>,
    ) -> Result<AgentStream, String> {
        let (tx, rx) = mpsc::channel(64);
        let channel = self
            .endpoint(identity)
            .connect()
            .await
            .map_err(|e| format!("connect: {e:?}"))?;
        let mut client = IngestServiceClient::new(channel);
        let responses = client
            .stream(ReceiverStream::new(rx))
            .await
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
            .into_inner();
        let s = AgentStream { tx, responses };
        s.send(agent_message::Msg::Hello(Hello {
            agent_version: "test".into(),
            agent_name: name.into(),
            capabilities: vec![],
        }))
        .await;
        Ok(s)
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
        self.begin_for(scan_id, ACCOUNT).await;
    }

    pub async fn begin_for(&self, scan_id: &str, account: &str) {
        self.send(agent_message::Msg::ScanBegin(ScanBegin {
            scan_id: scan_id.into(),
            started_at_ms: 1,
            accounts: vec![account.into()],
            provider: "aws".into(),
            ..Default::default()
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
        self.end_for(scan_id, batches, complete, ACCOUNT).await;
    }

    pub async fn end_for(&self, scan_id: &str, batches: u64, complete: bool, account: &str) {
        self.send(agent_message::Msg::ScanEnd(ScanEnd {
            scan_id: scan_id.into(),
            ended_at_ms: 2,
            batches,
            coverage: vec![AccountCoverage {
                account: account.into(),
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

/// The facts of one bucket as the current agent reports them: its listing, default encryption
/// (AES256) and tags.
pub fn bucket(name: &str, region: &str, tags: &[(&str, &str)]) -> Vec<Fact> {
    bucket_in(ACCOUNT, name, region, tags)
}

/// [`bucket`] in another account.
pub fn bucket_in(account: &str, name: &str, region: &str, tags: &[(&str, &str)]) -> Vec<Fact> {
    let mut facts = bucket_facts(name, region, tags);
    for f in &mut facts {
        f.account = account.into();
    }
    facts
}

fn bucket_facts(name: &str, region: &str, tags: &[(&str, &str)]) -> Vec<Fact> {
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
                kind: landmeter_proto::StoreKind::Bucket as i32,
                ..Store::default()
            }),
        ),
        fact(
            name,
            "s3:GetBucketEncryption",
            Body::Encryption(Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: "AES256".into(),
                detail: Some(landmeter_proto::v1::encryption::Detail::S3(
                    Default::default(),
                )),
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
