//! The real collector served in-process on 127.0.0.1:0, agents streaming to it over loopback
//! gRPC, and an operator's MapService client.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use landmeter_collector::auth::BearerToken;
use landmeter_collector::config::CollectorConfig;
use landmeter_collector::server;
use landmeter_collector::store::Durability;
use landmeter_proto::v1::{
    AccountCoverage, AgentMessage, CollectorMessage, Fact, FactsBatch, Hello, ScanBegin, ScanEnd,
    agent_message, collector_message, ingest_service_client::IngestServiceClient,
    map_service_client::MapServiceClient,
};

use crate::estate;

pub type Map =
    MapServiceClient<tonic::service::interceptor::InterceptedService<Channel, BearerToken>>;

/// Batches an agent keeps in flight, as the uplink does.
const IN_FLIGHT: usize = 16;

pub struct Collector {
    pub url: String,
    pub admin_token: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The collector configuration every scenario uses.
pub fn config(database: &Path, durability: Durability) -> CollectorConfig {
    CollectorConfig {
        insecure_plaintext: true,
        // The rate limit protects against a misbehaving agent; here it must not be the limit.
        max_batches_per_second: 1_000_000,
        database: database.display().to_string(),
        durability,
        ..CollectorConfig::default()
    }
}

impl Collector {
    pub async fn start(cfg: CollectorConfig) -> anyhow::Result<Self> {
        let (interpreter, fingerprint) = server::build_interpreter(&cfg)?;
        let store = server::open_store(&cfg, &interpreter, &fingerprint)?;
        let admin_token = landmeter_collector::auth::new_token();
        store.create_token(
            &landmeter_collector::auth::token_hash(&admin_token),
            "admin",
            None,
            "bench admin",
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::run(listener, store, Arc::new(interpreter), &cfg, async {
                let _ = stopped.await;
            })
            .await
            .context("collector stopped with an error")
        });
        Ok(Self {
            url,
            admin_token,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .context("collector did not stop within 10 s")???;
        }
        Ok(())
    }

    pub async fn map(&self) -> anyhow::Result<Map> {
        let channel = tonic::transport::Endpoint::from_shared(self.url.clone())?
            .connect()
            .await?;
        Ok(
            MapServiceClient::with_interceptor(channel, BearerToken::new(Some(&self.admin_token)))
                .max_decoding_message_size(landmeter_proto::MAX_MESSAGE_BYTES * 4),
        )
    }

    pub async fn agent(&self, name: &str) -> anyhow::Result<Agent> {
        let (tx, rx) = mpsc::channel(IN_FLIGHT * 2);
        let mut client = IngestServiceClient::connect(self.url.clone()).await?;
        let responses = client.stream(ReceiverStream::new(rx)).await?.into_inner();
        let agent = Agent {
            name: name.to_owned(),
            tx,
            responses,
        };
        agent
            .send(agent_message::Msg::Hello(Hello {
                agent_version: "bench".into(),
                agent_name: name.into(),
                capabilities: vec![],
            }))
            .await?;
        Ok(agent)
    }
}

pub struct Agent {
    name: String,
    tx: mpsc::Sender<AgentMessage>,
    responses: tonic::Streaming<CollectorMessage>,
}

impl Agent {
    async fn send(&self, msg: agent_message::Msg) -> anyhow::Result<()> {
        self.tx
            .send(AgentMessage { msg: Some(msg) })
            .await
            .context("agent stream closed")
    }

    /// The next answer, which must be an Ack.
    pub async fn ack(&mut self) -> anyhow::Result<()> {
        let msg = tokio::time::timeout(Duration::from_secs(120), self.responses.message())
            .await
            .context("no answer within 120 s")??
            .and_then(|m| m.msg)
            .context("stream ended")?;
        match msg {
            collector_message::Msg::Ack(_) => Ok(()),
            other => bail!("collector answered {other:?}"),
        }
    }

    pub async fn begin(&self, scan_id: &str, account: &str) -> anyhow::Result<()> {
        self.send(agent_message::Msg::ScanBegin(ScanBegin {
            scan_id: scan_id.into(),
            started_at_ms: 1,
            accounts: vec![account.into()],
            provider: "aws".into(),
            ..ScanBegin::default()
        }))
        .await
    }

    pub async fn batch(&self, scan_id: &str, seq: u64, facts: Vec<Fact>) -> anyhow::Result<()> {
        self.send(agent_message::Msg::FactsBatch(FactsBatch {
            scan_id: scan_id.into(),
            seq,
            facts,
        }))
        .await
    }

    pub async fn end(&self, scan_id: &str, batches: u64, account: &str) -> anyhow::Result<()> {
        self.send(agent_message::Msg::ScanEnd(ScanEnd {
            scan_id: scan_id.into(),
            ended_at_ms: 2,
            batches,
            coverage: vec![AccountCoverage {
                account: account.into(),
                complete: true,
                stores_seen: estate::STORES_PER_ACCOUNT,
                gaps: 0,
                reason: String::new(),
            }],
        }))
        .await
    }

    /// One complete scan per account: ScanBegin, batches of 500 with up to 16 unacknowledged,
    /// ScanEnd after every batch was acknowledged. Returns the facts sent.
    pub async fn scan_accounts(&mut self, accounts: &[u64]) -> anyhow::Result<u64> {
        let mut facts = 0;
        for &a in accounts {
            let account = estate::account_id(a);
            let scan_id = format!("{}-{account}", self.name);
            self.begin(&scan_id, &account).await?;
            let mut seq = 0;
            let mut in_flight = 0;
            for batch in estate::account_batches(a) {
                if in_flight == IN_FLIGHT {
                    self.ack().await?;
                    in_flight -= 1;
                }
                seq += 1;
                facts += batch.len() as u64;
                self.batch(&scan_id, seq, batch).await?;
                in_flight += 1;
            }
            for _ in 0..in_flight {
                self.ack().await?;
            }
            self.end(&scan_id, seq, &account).await?;
            self.ack().await?;
        }
        Ok(facts)
    }
}

/// Streams the estate of `accounts` accounts from `agents` concurrent agents (accounts dealt
/// round-robin). Returns the facts sent.
/// Ingest of the accounts `a` with `a % of == part` through `collector`, by `agents` agents
/// named apart from those of the other parts (several collectors sharing one estate).
pub async fn ingest_named(
    collector: &Collector,
    agents: usize,
    accounts: u64,
    part: u64,
    of: u64,
) -> anyhow::Result<u64> {
    let mut tasks = Vec::new();
    for n in 0..agents {
        let mut agent = collector.agent(&format!("bench-agent-{part}-{n}")).await?;
        let mine: Vec<u64> = (0..accounts)
            .filter(|a| a % of == part && ((a / of) as usize) % agents == n)
            .collect();
        tasks.push(tokio::spawn(
            async move { agent.scan_accounts(&mine).await },
        ));
    }
    let mut facts = 0;
    for t in tasks {
        facts += t.await??;
    }
    Ok(facts)
}

pub async fn ingest(collector: &Collector, agents: usize, accounts: u64) -> anyhow::Result<u64> {
    let mut tasks = Vec::new();
    for n in 0..agents {
        let mut agent = collector.agent(&format!("bench-agent-{n}")).await?;
        let mine: Vec<u64> = (0..accounts)
            .filter(|a| (*a as usize) % agents == n)
            .collect();
        tasks.push(tokio::spawn(
            async move { agent.scan_accounts(&mine).await },
        ));
    }
    let mut facts = 0;
    for t in tasks {
        facts += t.await??;
    }
    Ok(facts)
}
