//! Issue 16's end-to-end: two collector processes on one PostgreSQL database, one agent
//! service with both URLs, the collector it streams to SIGKILLed mid-scan and not restarted.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use landmeter_e2e::estate::Aws;
use landmeter_e2e::{AgentProcess, Collector, Moto, PgDatabase, TempDir};

use crate::faults::{
    assert_exactly, metric, scrape, seed_bulk, spooled_scans, wait_for_spool_file,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_an_agent_streams_to_killed_mid_scan_the_other_completes_the_map()
-> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    let seeded = seed_bulk(&aws, "lm-multi", 400).await?;

    let db = PgDatabase::create()?;
    let url = db.url();
    let start = |name: &str| -> anyhow::Result<Collector> {
        Collector::start_with(TempDir::new(name)?, Path::new(&url), "127.0.0.1:0", &[])
    };
    let mut first = start("landmeter-collector-a")?;
    let second = start("landmeter-collector-b")?;
    let mut watcher = second.map().await?.watch(0).await?;

    // One agent service with both URLs (tried in order): it scans at start.
    let tmp = TempDir::new("landmeter-multi-agent")?;
    let spool = tmp.path().join("spool");
    let metrics_addr = format!("127.0.0.1:{}", landmeter_e2e::free_port()?);
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nack_timeout_secs = 10\nreconnect_max_secs = 1\n[schedule]\ninterval = \"1h\"\n[spool]\ndir = {:?}\n[metrics]\nlisten = {metrics_addr:?}\n",
            spool.display().to_string()
        ),
    )?;
    let both = format!("{},{}", first.url(), second.url());
    let mut agent = AgentProcess::spawn_service(&both, &moto.endpoint(), &config)?;
    // Killed once it has acknowledged a batch: mid-scan, and never restarted.
    wait_for_spool_file(&spool, "acked", Duration::from_secs(120)).await?;
    first.kill();
    let unfinished = spooled_scans(&spool)?;
    assert_eq!(
        unfinished.len(),
        1,
        "the scan was not yet closed when its collector died: {unfinished:?}"
    );
    // Delivered through the second: the scan finished and the spool empty.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = agent.child.try_wait()? {
            bail!("agent service exited {status}:\n{}", agent.log());
        }
        if let Ok(text) = scrape(&metrics_addr).await
            && metric(&text, "landmeter_agent_scans_finished_total") == Some(1.0)
            && metric(&text, "landmeter_agent_spool_scans") == Some(0.0)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "no delivered scan within 300 s:\n{}\nsecond collector:\n{}",
                agent.log(),
                second.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        agent.log().contains("trying the next"),
        "the agent never moved to the second collector:\n{}",
        agent.log()
    );
    assert!(
        first.check_running().is_err(),
        "the first collector stayed down"
    );

    // The map read from the survivor is the estate: every bucket once, none gone.
    let stores = second.map().await?.all_stores().await?;
    assert_exactly(&stores, &seeded);
    let left = spooled_scans(&spool)?;
    assert!(left.is_empty(), "spool not empty: {left:?}");

    // The survivor's watcher saw every change once, in id order: one `added` per bucket.
    let mut ids = Vec::new();
    let mut added = BTreeSet::new();
    while added.len() < seeded.len() {
        let event = tokio::time::timeout(Duration::from_secs(20), watcher.message())
            .await
            .map_err(|_| anyhow::anyhow!("{} of {} changes seen", added.len(), seeded.len()))??
            .ok_or_else(|| anyhow::anyhow!("watch ended"))?;
        let name = event
            .store_id
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(added.insert(name.clone()), "{name} seen twice");
        ids.push(event.id);
    }
    assert_eq!(added, seeded);
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "ids in order: {ids:?}");
    let extra = tokio::time::timeout(Duration::from_millis(500), watcher.message()).await;
    assert!(extra.is_err(), "a change beyond the estate's: {extra:?}");
    Ok(())
}
