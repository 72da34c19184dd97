//! Faults that must not lose anything: the collector killed and restarted while an agent
//! streams, the agent killed mid-scan and restarted on its spool, cloud throttling.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use landmeter_e2e::estate::{Account, Aws};
use landmeter_e2e::fault_proxy::{Fault, Rule};
use landmeter_e2e::{AgentProcess, Collector, Moto, TempDir, run_agent};
use landmeter_proto::v1::StoreView;

use crate::map::{Scene, assert_map};

/// Creates `n` plain buckets `<prefix>-NNNN` in the main account (us-east-1), 32 at a time.
pub(crate) async fn seed_bulk(
    aws: &Aws,
    prefix: &str,
    n: usize,
) -> anyhow::Result<BTreeSet<String>> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:04}")).collect();
    let s3 = aws.s3(Account::Main, "us-east-1");
    for chunk in names.chunks(32) {
        let mut set = tokio::task::JoinSet::new();
        for name in chunk {
            let s3 = s3.clone();
            let name = name.clone();
            set.spawn(async move {
                s3.create_bucket()
                    .bucket(&name)
                    .send()
                    .await
                    .with_context(|| format!("create bucket {name}"))
            });
        }
        while let Some(done) = set.join_next().await {
            done??;
        }
    }
    Ok(names.into_iter().collect())
}

/// An agent configuration with a durable spool and quick reconnection.
fn spool_config(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let spool = dir.join("spool");
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nack_timeout_secs = 10\nreconnect_max_secs = 1\n[spool]\ndir = {:?}\n",
            spool.display().to_string()
        ),
    )?;
    Ok((config, spool))
}

/// The scan directories in a spool (its lock file aside).
pub(crate) fn spooled_scans(spool: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(spool)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect())
}

/// The map without what differs between two scans of the same estate (times, scan ids).
pub(crate) fn normalise(mut stores: Vec<StoreView>) -> Vec<StoreView> {
    for s in &mut stores {
        s.first_seen_ms = 0;
        s.last_seen_ms = 0;
        s.last_scan_id.clear();
    }
    stores.sort_by(|a, b| (&a.account, &a.name).cmp(&(&b.account, &b.name)));
    stores
}

/// Fails on a store listed twice, and on a store that is missing or was never seeded.
pub(crate) fn assert_exactly(stores: &[StoreView], seeded: &BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    for s in stores {
        assert!(
            seen.insert((s.account.clone(), s.name.clone())),
            "{} ({}) is listed twice",
            s.name,
            s.account
        );
        assert!(s.gone_at_ms.is_none(), "{} is marked gone", s.name);
    }
    let names: BTreeSet<String> = stores.iter().map(|s| s.name.clone()).collect();
    let missing: Vec<&String> = seeded.difference(&names).collect();
    let extra: Vec<&String> = names.difference(seeded).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} missing (first: {:?}), {} never seeded (first: {:?})",
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first()
    );
}

/// Waits until `path` has a file named `name` somewhere one level down (a scan directory).
pub(crate) async fn wait_for_spool_file(
    spool: &Path,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(entries) = std::fs::read_dir(spool) {
            for e in entries.flatten() {
                if e.path().join(name).exists() {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            bail!("no {name} in {} within {timeout:?}", spool.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Buckets in the collector-kill test: 500 by default (two kills mid-scan), 1,000 in the
/// soak variant `LANDMETER_SOAK=1` that CI runs (wave 1's three kills at that size).
fn kill_test_buckets() -> usize {
    if std::env::var("LANDMETER_SOAK").is_ok_and(|v| v == "1") {
        1000
    } else {
        500
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_killed_repeatedly_mid_scan_loses_nothing() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    let seeded = seed_bulk(&aws, "lm-bulk", kill_test_buckets()).await?;

    // The map of an undisturbed scan.
    let reference = Collector::start()?;
    run_agent(&reference.url(), &moto.endpoint(), &[])
        .await?
        .success()?;
    let want = normalise(reference.map().await?.all_stores().await?);
    assert_exactly(&want, &seeded);

    // The same scan while the collector is killed (SIGKILL) and restarted on its database.
    let tmp = TempDir::new("landmeter-faults-collector")?;
    let (config, spool) = spool_config(tmp.path())?;
    let mut collector = Collector::start()?;
    let config_arg = config.display().to_string();
    let mut agent = AgentProcess::spawn(
        &collector.url(),
        &moto.endpoint(),
        &["--config", &config_arg],
    )?;
    wait_for_spool_file(&spool, "acked", Duration::from_secs(120)).await?;
    let mut kills_mid_scan = 0;
    for _ in 0..4 {
        if agent.child.try_wait()?.is_some() {
            break;
        }
        collector.kill();
        kills_mid_scan += 1;
        tokio::time::sleep(Duration::from_millis(700)).await;
        collector.restart()?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    agent
        .wait_success(Duration::from_secs(300))
        .await
        .map_err(|e| e.context(format!("collector log:\n{}", collector.log())))?;
    assert!(
        kills_mid_scan >= 2,
        "the scan ended before the collector was killed twice ({kills_mid_scan})"
    );
    assert!(
        agent.log().contains("collector unavailable"),
        "the agent never saw the collector go away:\n{}",
        agent.log()
    );
    let got = normalise(collector.map().await?.all_stores().await?);
    assert_exactly(&got, &seeded);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{} differs from the undisturbed scan", w.name);
    }
    // Delivered: nothing left in the spool.
    let left = spooled_scans(&spool)?;
    assert!(left.is_empty(), "spool not empty: {left:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_scan_completes_the_map_from_its_spool() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    let seeded = seed_bulk(&aws, "lm-kill", 400).await?;
    let collector = Collector::start()?;
    let tmp = TempDir::new("landmeter-faults-agent")?;
    let (config, spool) = spool_config(tmp.path())?;
    let config_arg = config.display().to_string();

    let mut agent = AgentProcess::spawn(
        &collector.url(),
        &moto.endpoint(),
        &["--config", &config_arg],
    )?;
    // Killed once the collector has acknowledged a batch: mid-scan, the rest unsent.
    wait_for_spool_file(&spool, "acked", Duration::from_secs(120)).await?;
    agent.kill().await?;
    let abandoned = spooled_scans(&spool)?;
    assert_eq!(
        abandoned.len(),
        1,
        "one unfinished scan in the spool: {abandoned:?}"
    );
    assert!(
        !abandoned[0].join("end.pb").exists(),
        "the scan had already ended: kill it earlier"
    );

    // Restarted on the same spool: closes the old scan as incomplete, then scans afresh.
    let run = run_agent(
        &collector.url(),
        &moto.endpoint(),
        &["--config", &config_arg],
    )
    .await?
    .success()?;
    assert!(
        run.stderr
            .contains("closing a scan the agent did not finish"),
        "{}",
        run.stderr
    );
    let stores = collector.map().await?.all_stores().await?;
    assert_exactly(&stores, &seeded);
    for s in &stores {
        assert_eq!(
            (s.region.as_str(), s.country.as_str(), s.custody().label()),
            ("us-east-1", "US", "provider"),
            "{}",
            s.name
        );
    }
    let left = spooled_scans(&spool)?;
    assert!(left.is_empty(), "spool not empty: {left:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_throttling_slows_the_scan_but_the_map_is_right() -> anyhow::Result<()> {
    let slow_down = Rule::s3_any()
        .probability(0.3, 0x5eed_0001)
        .respond(Fault::s3_slow_down(1));
    let throttling = Rule::kms_any()
        .probability(0.3, 0x5eed_0002)
        .respond(Fault::kms_throttling());
    let rules = vec![slow_down.clone(), throttling.clone()];
    let scene = Scene::start(move |_| Some(rules)).await?;
    let run = scene.scan_run().await?;
    // Nothing lost: every store with every dimension, as without throttling.
    assert_map(&scene, &HashMap::new(), "30% of S3 and KMS calls throttled").await?;
    // The agent backed off: its request budget cut the requests in flight to both services
    // (the summary line per throttled service and region, `budget.rs`).
    for service in ["s3", "kms"] {
        let cut = run.stderr.lines().any(|line| {
            line.contains("throttled: requests in flight")
                && line.contains(&format!("service={service} "))
                && !line.contains("cuts=0")
        });
        assert!(cut, "no back-off logged for {service}:\n{}", run.stderr);
    }
    let proxy = scene.proxy.as_ref().expect("proxy");
    let (s3_calls, kms_calls): (u64, u64) = proxy.counts().iter().fold((0, 0), |acc, (op, n)| {
        if op.starts_with("s3:") {
            (acc.0 + n, acc.1)
        } else if op.starts_with("kms:") {
            (acc.0, acc.1 + n)
        } else {
            acc
        }
    });
    // Roughly 30% of each service's calls were refused (binomial, generous bounds).
    for (what, applied, calls) in [
        ("s3 SlowDown", slow_down.applied(), s3_calls),
        ("kms ThrottlingException", throttling.applied(), kms_calls),
    ] {
        assert!(calls > 0, "no {what} calls at all");
        let share = applied as f64 / calls as f64;
        assert!(
            (0.1..0.5).contains(&share),
            "{what}: {applied} of {calls} calls refused ({share:.2})"
        );
    }
    Ok(())
}

/// `GET http://addr/metrics`, the body.
pub(crate) async fn scrape(addr: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or(text))
}

pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_scans_at_start_delivers_and_reports_metrics() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    let seeded = seed_bulk(&aws, "lm-svc", 50).await?;
    let collector = Collector::start()?;
    let tmp = TempDir::new("landmeter-faults-service")?;
    let spool = tmp.path().join("spool");
    let metrics_addr = format!("127.0.0.1:{}", landmeter_e2e::free_port()?);
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nreconnect_max_secs = 1\n[schedule]\ninterval = \"1h\"\n[spool]\ndir = {:?}\n[metrics]\nlisten = {metrics_addr:?}\n",
            spool.display().to_string()
        ),
    )?;
    let mut agent = AgentProcess::spawn_service(&collector.url(), &moto.endpoint(), &config)?;
    // The first scan runs at start; wait until the collector has acknowledged all of it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        if let Some(status) = agent.child.try_wait()? {
            bail!("agent service exited {status}:\n{}", agent.log());
        }
        if let Ok(text) = scrape(&metrics_addr).await
            && metric(&text, "landmeter_agent_scans_finished_total") == Some(1.0)
            && metric(&text, "landmeter_agent_spool_scans") == Some(0.0)
        {
            break text;
        }
        if Instant::now() > deadline {
            bail!("no delivered scan within 120 s:\n{}", agent.log());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        metric(&text, "landmeter_agent_scans_started_total"),
        Some(1.0)
    );
    assert_eq!(metric(&text, "landmeter_agent_spool_batches"), Some(0.0));
    let sent = metric(&text, "landmeter_agent_facts_sent_total").unwrap_or_default();
    assert!(sent >= seeded.len() as f64, "{text}");
    assert_eq!(
        metric(&text, "landmeter_agent_facts_acked_total"),
        Some(sent),
        "{text}"
    );
    assert!(metric(&text, "landmeter_agent_last_scan_duration_seconds").is_some_and(|s| s > 0.0));
    let stores = collector.map().await?.all_stores().await?;
    assert_exactly(&stores, &seeded);
    // Still running: the next scan is an hour away.
    agent
        .child
        .try_wait()?
        .map_or(Ok(()), |s| Err(anyhow::anyhow!("exited {s}")))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_scan_request_reaches_the_running_agent() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    seed_bulk(&aws, "lm-req", 5).await?;
    let collector = Collector::start()?;
    let tmp = TempDir::new("landmeter-scan-request")?;
    let metrics_addr = format!("127.0.0.1:{}", landmeter_e2e::free_port()?);
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nreconnect_max_secs = 1\n[schedule]\ninterval = \"24h\"\n[spool]\ndir = {:?}\n[metrics]\nlisten = {metrics_addr:?}\n",
            tmp.path().join("spool").display().to_string()
        ),
    )?;
    let mut agent = AgentProcess::spawn_service(&collector.url(), &moto.endpoint(), &config)?;
    let wait_for = |scans: f64| {
        let metrics_addr = metrics_addr.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(text) = scrape(&metrics_addr).await
                    && metric(&text, "landmeter_agent_scans_finished_total") == Some(scans)
                {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    bail!("the agent did not finish scan {scans} within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_for(1.0).await.map_err(|e| e.context(agent.log()))?;
    // The next scheduled scan is a day away: only the operator's request can start one.
    let out = collector.cli(&["scan-request", "--tenant", "default", "--agent", "e2e"])?;
    assert_eq!(out.trim(), "scan requested from e2e");
    wait_for(2.0).await.map_err(|e| e.context(agent.log()))?;
    let err = collector
        .cli(&["scan-request", "--tenant", "default", "--agent", "nobody"])
        .unwrap_err();
    assert!(
        err.to_string().contains("no matching agent is connected"),
        "{err}"
    );
    agent
        .child
        .try_wait()?
        .map_or(Ok(()), |s| Err(anyhow::anyhow!("agent exited {s}")))?;
    Ok(())
}
