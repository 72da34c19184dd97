//! Issue 16's end-to-end: two collector processes on one PostgreSQL database, one agent with
//! both URLs, the collector it streams to SIGKILLed mid-scan and not restarted.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use landmeter_e2e::estate::Aws;
use landmeter_e2e::{AgentProcess, Collector, Moto, PgDatabase, TempDir};

use crate::faults::{assert_exactly, seed_bulk, spool_config, spooled_scans, wait_for_spool_file};

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

    let tmp = TempDir::new("landmeter-multi-agent")?;
    let (config, spool) = spool_config(tmp.path())?;
    let config_arg = config.display().to_string();
    let both = format!("{},{}", first.url(), second.url());
    let mut agent = AgentProcess::spawn(&both, &moto.endpoint(), &["--config", &config_arg])?;
    // Killed once it has acknowledged a batch: mid-scan, and never restarted.
    wait_for_spool_file(&spool, "acked", Duration::from_secs(120)).await?;
    first.kill();
    let unfinished = spooled_scans(&spool)?;
    assert_eq!(
        unfinished.len(),
        1,
        "the scan was not yet closed when its collector died: {unfinished:?}"
    );
    agent
        .wait_success(Duration::from_secs(300))
        .await
        .map_err(|e| e.context(format!("second collector's log:\n{}", second.log())))?;
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
