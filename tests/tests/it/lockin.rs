//! Lock-in features end to end: Object Lock and archive storage classes seeded into moto,
//! read by the agent, interpreted by the collector, listed by `landmeter exit`. A small
//! estate of its own, so the shared estate's exact counts stay as they are.

use landmeter_e2e::estate::Account::Main as M;
use landmeter_e2e::estate::Encryption::Aes256;
use landmeter_e2e::estate::{self, Aws, Bucket, MAIN_ACCOUNT, bucket};
use landmeter_e2e::fault_proxy::{Fault, FaultProxy, Rule};
use landmeter_e2e::{Collector, Moto, TempDir, run_agent};
use landmeter_proto::Custody::Provider;
use landmeter_proto::v1::StoreView;

const COMPLIANCE_BUCKET: &str = "lm-lock-compliance";
const ARCHIVE_BUCKET: &str = "lm-archive";
const PLAIN_BUCKET: &str = "lm-plain";
/// Its GetObjectLockConfiguration is denied by the proxy.
const DENIED_LOCK_BUCKET: &str = "lm-lock-denied";

const GLACIER_BYTES: i64 = 3_000_000_000;
const DEEP_ARCHIVE_BYTES: i64 = 40_000_000_000;
const ARCHIVE_STANDARD_BYTES: i64 = 2_000;

#[rustfmt::skip]
const LOCKIN_ESTATE: &[Bucket] = &[
    bucket(COMPLIANCE_BUCKET, M, "eu-central-1", Aes256).object_lock(Some(("COMPLIANCE", 30))).size(1_000, 10).expect("DE", true, Provider, "", false, "unclassified"),
    bucket(ARCHIVE_BUCKET, M, "eu-west-1", Aes256).size(ARCHIVE_STANDARD_BYTES, 20).storage(&[("GlacierStorage", GLACIER_BYTES), ("DeepArchiveStorage", DEEP_ARCHIVE_BYTES)]).expect("IE", true, Provider, "", false, "unclassified"),
    bucket(PLAIN_BUCKET, M, "eu-west-1", Aes256).expect("IE", true, Provider, "", false, "unclassified"),
    bucket(DENIED_LOCK_BUCKET, M, "eu-west-1", Aes256).object_lock(Some(("GOVERNANCE", 5))).expect("IE", true, Provider, "", false, "unclassified"),
];

struct Scene {
    _moto: Moto,
    proxy: FaultProxy,
    collector: Collector,
}

impl Scene {
    /// Seeds [`LOCKIN_ESTATE`]; the proxy denies the lock of [`DENIED_LOCK_BUCKET`] and
    /// applies `extra` rules.
    async fn start(extra: Vec<Rule>) -> anyhow::Result<Scene> {
        let moto = Moto::start()?;
        let aws = Aws::connect(&moto.endpoint()).await?;
        estate::seed(&aws, LOCKIN_ESTATE).await?;
        let mut rules = vec![
            Rule::s3("GetObjectLockConfiguration")
                .bucket(DENIED_LOCK_BUCKET)
                .respond(Fault::s3_access_denied()),
        ];
        rules.extend(extra);
        let proxy = FaultProxy::start(moto.addr(), rules).await?;
        let collector = Collector::start()?;
        Ok(Scene {
            _moto: moto,
            proxy,
            collector,
        })
    }

    async fn scan(&self, extra: &[&str]) -> anyhow::Result<()> {
        run_agent(&self.collector.url(), &self.proxy.endpoint(), extra)
            .await?
            .success()
            .map_err(|e| e.context(format!("collector log:\n{}", self.collector.log())))?;
        Ok(())
    }

    async fn store(&self, name: &str) -> anyhow::Result<StoreView> {
        let stores = self.collector.map().await?.all_stores().await?;
        stores
            .into_iter()
            .find(|s| s.account == MAIN_ACCOUNT && s.name == name)
            .ok_or_else(|| anyhow::anyhow!("{name} not in the map"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_and_archive_classes_reach_the_map_and_the_exit_scenario() -> anyhow::Result<()>
{
    let scene = Scene::start(Vec::new()).await?;
    scene.scan(&[]).await?;

    let locked = scene.store(COMPLIANCE_BUCKET).await?;
    assert!(locked.object_lock && !locked.object_lock_unknown);
    assert_eq!(locked.object_lock_mode, "COMPLIANCE");
    assert_eq!(locked.object_lock_retention_days, Some(30));

    let archive = scene.store(ARCHIVE_BUCKET).await?;
    assert_eq!(
        archive.archive_bytes,
        Some(GLACIER_BYTES + DEEP_ARCHIVE_BYTES)
    );
    assert_eq!(
        archive.bytes,
        Some(ARCHIVE_STANDARD_BYTES + GLACIER_BYTES + DEEP_ARCHIVE_BYTES)
    );
    let mut classes: Vec<(&str, &str, i64, bool, i32)> = archive
        .storage_classes
        .iter()
        .map(|c| {
            (
                c.storage_type.as_str(),
                c.class.as_str(),
                c.bytes,
                c.archive,
                c.minimum_days,
            )
        })
        .collect();
    classes.sort();
    assert_eq!(
        classes,
        [
            (
                "DeepArchiveStorage",
                "deep-archive",
                DEEP_ARCHIVE_BYTES,
                true,
                180
            ),
            (
                "GlacierStorage",
                "glacier-flexible",
                GLACIER_BYTES,
                true,
                90
            ),
            (
                "StandardStorage",
                "standard",
                ARCHIVE_STANDARD_BYTES,
                false,
                0
            ),
        ]
    );
    assert!(!archive.object_lock && !archive.object_lock_unknown);

    let plain = scene.store(PLAIN_BUCKET).await?;
    assert!(!plain.object_lock && !plain.object_lock_unknown);
    assert_eq!(plain.archive_bytes, None, "no size datapoint: unknown");

    // AccessDenied on the lock: a gap on that store, unknown (not "no lock"); the rest of
    // the store is read as usual and the scan completes.
    let denied = scene.store(DENIED_LOCK_BUCKET).await?;
    assert!(denied.object_lock_unknown && !denied.object_lock);
    assert_eq!(denied.custody(), Provider);
    let detail = scene.collector.map().await?.get_store(&denied.id).await?;
    let gap = detail
        .facts
        .iter()
        .filter_map(|p| p.fact.as_ref())
        .find_map(|f| match &f.body {
            Some(landmeter_proto::v1::fact::Body::Gap(g))
                if g.call == "s3:GetObjectLockConfiguration" =>
            {
                Some(g.clone())
            }
            _ => None,
        })
        .expect("a gap for the denied lock");
    assert_eq!(gap.code, "AccessDenied");

    // One lock request per bucket; sizes from one ListMetrics and one GetMetricData per
    // region (eu-central-1, eu-west-1), not one per bucket.
    assert_eq!(
        scene.proxy.count("s3:GetObjectLockConfiguration"),
        LOCKIN_ESTATE.len() as u64
    );
    // (CloudWatch signs as "monitoring".)
    let counts = scene.proxy.counts();
    assert_eq!(counts.get("monitoring:ListMetrics"), Some(&2), "{counts:?}");
    assert_eq!(
        counts.get("monitoring:GetMetricData"),
        Some(&2),
        "{counts:?}"
    );

    let json: serde_json::Value = serde_json::from_str(&scene.collector.cli(&[
        "exit", "--from", "aws", "--to", "ovhcloud", "--format", "json",
    ])?)?;
    let l = &json["lock_in"];
    assert_eq!(l["archive_bytes"], GLACIER_BYTES + DEEP_ARCHIVE_BYTES);
    assert_eq!(l["archive_stores"].as_array().map(Vec::len), Some(1));
    assert_eq!(l["archive_stores"][0]["name"], ARCHIVE_BUCKET);
    assert_eq!(l["object_lock_stores"].as_array().map(Vec::len), Some(1));
    assert_eq!(l["object_lock_stores"][0]["name"], COMPLIANCE_BUCKET);
    assert_eq!(l["object_lock_stores"][0]["retention_days"], 30);
    assert_eq!(l["compliance_stores"], 1);
    assert_eq!(l["lock_unknown_stores"], 1);
    assert_eq!(l["retrieval_fee_bytes"], GLACIER_BYTES + DEEP_ARCHIVE_BYTES);

    let table = scene
        .collector
        .cli(&["exit", "--from", "aws", "--to", "ovhcloud"])?;
    assert!(
        table.contains(&format!(
            "object lock: aws:{MAIN_ACCOUNT}:{COMPLIANCE_BUCKET} (COMPLIANCE, 30 days default retention; cannot be shortened"
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "{} bytes in archive classes in 1 stores",
            GLACIER_BYTES + DEEP_ARCHIVE_BYTES
        )),
        "{table}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_switched_off_costs_no_request_and_shows_unknown() -> anyhow::Result<()> {
    // ListMetrics denied too: sizes fall back to querying every known storage type.
    let scene = Scene::start(vec![
        Rule::any()
            .operation("monitoring:ListMetrics")
            .respond(Fault::s3_access_denied()),
    ])
    .await?;
    let dir = TempDir::new("landmeter-lockin")?;
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "[aws]\nobject_lock = false\n")?;
    let config = config.to_string_lossy().into_owned();
    scene.scan(&["--config", &config]).await?;

    assert_eq!(scene.proxy.count("s3:GetObjectLockConfiguration"), 0);
    for b in LOCKIN_ESTATE {
        let v = scene.store(b.name).await?;
        assert!(
            v.object_lock_unknown && !v.object_lock,
            "{}: not asked, so unknown",
            b.name
        );
    }
    // Storage classes depend on neither the switch nor ListMetrics.
    let archive = scene.store(ARCHIVE_BUCKET).await?;
    assert_eq!(
        archive.archive_bytes,
        Some(GLACIER_BYTES + DEEP_ARCHIVE_BYTES)
    );
    assert_eq!(
        archive.bytes,
        Some(ARCHIVE_STANDARD_BYTES + GLACIER_BYTES + DEEP_ARCHIVE_BYTES)
    );
    let counts = scene.proxy.counts();
    assert!(
        counts
            .get("monitoring:ListMetrics")
            .is_some_and(|n| *n >= 2),
        "{counts:?}"
    );
    // 4 buckets x 13 queries fit one GetMetricData call per region.
    assert_eq!(
        counts.get("monitoring:GetMetricData"),
        Some(&2),
        "{counts:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_access_tier_and_container_immutability_reach_the_map() -> anyhow::Result<()> {
    use landmeter_e2e::arm_server::{AZURITE_ACCOUNT, ArmServer};
    use landmeter_e2e::azurite::Azurite;
    let azurite = Azurite::start()?;
    azurite.create_containers(&[("records", &[])]).await?;
    let arm = ArmServer::start(Some(azurite.blob_endpoint())).await?;
    let collector = Collector::start()?;
    let config = arm.agent_config(&collector.url())?;
    landmeter_e2e::run_agent_azure(&collector.url(), &config)
        .await?
        .success()?;

    let stores = collector.map().await?.all_stores().await?;
    let find = |name: &str| {
        stores
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} not in the map"))
    };
    // ARM accessTier on the account, inherited by its containers; the account's capacity
    // is in the Hot tier: no archive bytes, no retrieval fee.
    let account = find(AZURITE_ACCOUNT);
    assert_eq!(account.access_tier, "Hot");
    assert_eq!(account.archive_bytes, Some(0));
    assert_eq!(account.storage_classes.len(), 1);
    assert_eq!(account.storage_classes[0].class, "standard");
    assert!(!account.storage_classes[0].retrieval_fee);
    // Immutability is per container: the account itself is not "unknown".
    assert!(!account.object_lock_unknown);
    let container = find(&format!("{AZURITE_ACCOUNT}/records"));
    assert_eq!(container.access_tier, "Hot");
    // Azurite lists HasImmutabilityPolicy/HasLegalHold as false: read, not unknown.
    assert!(
        !container.object_lock && !container.legal_hold && !container.object_lock_unknown,
        "{container:?}"
    );
    Ok(())
}
