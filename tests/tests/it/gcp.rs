//! Google Cloud end to end: the agent's GCP provider against a local HTTPS server playing the
//! OAuth2 token endpoint, Cloud Storage, Cloud KMS and Cloud Monitoring (official reference
//! shapes), and against fake-gcs-server (the Cloud Storage emulator) for the bucket listing;
//! facts through the collector into the map. One test per protection level and per location
//! type, each on its own scan of [`GCP_ESTATE`]; one per store kind (Cloud SQL, Persistent
//! Disks, snapshots) against the server's Cloud SQL Admin and Compute listings.

use std::collections::BTreeSet;

use landmeter_e2e::gcp_server::{
    DENIED_KEY_BUCKET, DENIED_KINDS_PROJECT, FakeGcs, GCP_ESTATE, GcpBucket, GcpServer,
    KEY_PROJECT, LOCKED_BUCKET, NO_SIZE_BUCKET, PROJECT,
};
use landmeter_e2e::{Collector, run_agent_gcp};
use landmeter_proto::Custody;
use landmeter_proto::v1::{StoreFilter, StoreView};

fn find<'a>(stores: &'a [StoreView], name: &str) -> &'a StoreView {
    stores.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "{name} not in the map: {:?}",
            stores.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

fn row(name: &str) -> &'static GcpBucket {
    GCP_ESTATE
        .iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("{name} not in GCP_ESTATE"))
}

/// Scans the estate once: the server (kept alive), the collector and the map's stores.
async fn scan() -> anyhow::Result<(GcpServer, Collector, Vec<StoreView>)> {
    let server = GcpServer::start().await?;
    let collector = Collector::start()?;
    let config = server.agent_config(&collector.url())?;
    run_agent_gcp(&collector.url(), &config).await?.success()?;
    let stores = collector.map().await?.all_stores().await?;
    Ok((server, collector, stores))
}

/// The map says what the row expects: place, custody and its modifiers, copies, labels.
fn check(stores: &[StoreView], name: &str) -> StoreView {
    let b = row(name);
    let e = &b.expect;
    let v = find(stores, name);
    assert_eq!(v.provider, "google-cloud", "{name}");
    assert_eq!(v.account, PROJECT, "{name}");
    assert_eq!(v.id, format!("google-cloud:{PROJECT}:{name}"));
    assert_eq!(v.region, b.location, "{name}");
    assert_eq!((v.country.as_str(), v.eu), (e.country, e.eu), "{name}");
    assert_eq!(v.custody(), e.custody, "{name}: {}", v.custody_reason);
    assert_eq!(
        v.custody_modifiers.len(),
        e.modifiers.len(),
        "{name}: {:?}",
        v.custody_modifiers
    );
    for (got, want) in v.custody_modifiers.iter().zip(e.modifiers) {
        assert!(got.starts_with(want), "{name}: {got:?} !~ {want:?}");
    }
    let mut copies: Vec<&str> = v.replication.iter().map(|t| t.region.as_str()).collect();
    copies.sort_unstable();
    assert_eq!(copies, e.copies, "{name}: {:?}", v.replication);
    assert!(
        v.replication.iter().all(|t| t.copy_kind == "multi-region"),
        "{name}: {:?}",
        v.replication
    );
    assert_eq!(
        v.replicated_outside_eu, e.replicated_outside_eu,
        "{name}: {:?}",
        v.replication
    );
    assert_eq!(v.classification, e.classification, "{name}");
    assert_eq!(
        v.provider_parent, "Alphabet Inc. (Google LLC)",
        "{name}: providers.csv"
    );
    assert!(
        v.jurisdictions.iter().any(|j| j == "US-CLOUD-ACT"),
        "{name}: {:?}",
        v.jurisdictions
    );
    v.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_no_default_key_is_google_managed() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    let v = check(&stores, "lm-gcs-default");
    assert!(
        v.custody_reason.contains("Google default encryption"),
        "{}",
        v.custody_reason
    );
    assert!(v.key_arn.is_empty());
    assert_eq!(
        v.process, "burgerzaken",
        "labels carry the process as AWS tags do"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_software_key_is_customer_managed() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    let v = check(&stores, "lm-gcs-software");
    assert_eq!(
        v.key_arn,
        "projects/lm-eu-project/locations/europe-west4/keyRings/lm-ring/cryptoKeys/software"
    );
    assert_eq!(
        (v.key_owner_account.as_str(), v.key_region.as_str()),
        (PROJECT, "europe-west4")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_hsm_key_is_customer_managed_and_hsm_backed() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    check(&stores, "lm-gcs-hsm");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_single_tenant_hsm_key_is_dedicated_hsm() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    check(&stores, "lm-gcs-single-tenant");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_imported_key_is_byok() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    let v = check(&stores, "lm-gcs-byok");
    assert_eq!(v.key_owner_account, KEY_PROJECT, "a cross-project key");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_external_keys_are_hyok_with_their_key_manager() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    let internet = check(&stores, "lm-gcs-ekm");
    // The key ring's location is a jurisdiction of the store.
    assert_eq!(internet.key_region, "europe");
    assert!(
        internet.jurisdictions.iter().any(|j| j == "EU"),
        "{:?}",
        internet.jurisdictions
    );
    let vpc = check(&stores, "lm-gcs-ekm-vpc");
    assert!(
        vpc.custody_modifiers[0].ends_with("ekmConnections/lm-ekm"),
        "{:?}",
        vpc.custody_modifiers
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_denied_key_read_is_unknown_with_the_reason() -> anyhow::Result<()> {
    let (server, _c, stores) = scan().await?;
    let v = check(&stores, DENIED_KEY_BUCKET);
    assert!(
        v.custody_reason.contains("cloudkms:cryptoKeys.get failed")
            && v.custody_reason.contains("PERMISSION_DENIED"),
        "{}",
        v.custody_reason
    );
    let unknown = v
        .unknowns
        .iter()
        .find(|u| u.dimension == "custody")
        .unwrap_or_else(|| panic!("custody not among the unknowns: {:?}", v.unknowns));
    assert!(unknown.reason.contains("PERMISSION_DENIED"), "{unknown:?}");
    // Still the key's place from its name, even unread.
    assert_eq!(v.key_region, "europe-west4");
    assert!(server.count("cryptoKeys.get") >= 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_region_bucket_is_in_its_country() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    for name in ["lm-gcs-default", "lm-gcs-ekm-vpc"] {
        let v = check(&stores, name);
        assert!(v.replication.is_empty(), "{name}");
        assert_eq!(v.jurisdiction, "EU+US-CLOUD-ACT", "{name}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_dual_region_with_a_member_outside_the_eu_is_outside_the_eu_for_its_copy()
-> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    let ch = check(&stores, "lm-gcs-dual-ch");
    let zurich = ch
        .replication
        .iter()
        .find(|t| t.region == "EUROPE-WEST6")
        .expect("the Zurich member");
    assert_eq!((zurich.country.as_str(), zurich.eu), ("CH", false));
    assert!(
        ch.jurisdictions.iter().any(|j| j == "CH"),
        "{:?}",
        ch.jurisdictions
    );
    assert_ne!(ch.jurisdiction, "EU+US-CLOUD-ACT");
    // Both members in the EU: not outside.
    let eu = check(&stores, "lm-gcs-dual-eu");
    assert!(eu.replication.iter().all(|t| t.eu), "{:?}", eu.replication);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_predefined_dual_regions_keep_copies_in_their_members() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    let eur4 = check(&stores, "lm-gcs-eur4");
    let mut countries: Vec<&str> = eur4
        .replication
        .iter()
        .map(|t| t.country.as_str())
        .collect();
    countries.sort_unstable();
    assert_eq!(countries, ["FI", "NL"]);
    check(&stores, "lm-gcs-eur5");
    check(&stores, "lm-gcs-nam4");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_multi_region_is_in_its_continent() -> anyhow::Result<()> {
    let (_server, _c, stores) = scan().await?;
    check(&stores, "lm-gcs-us");
    check(&stores, "lm-gcs-ekm");
    Ok(())
}

/// The whole estate: every row, sizes, the bucket lock, paging, one token, one read per key,
/// two Monitoring listings per project; filters find the GCP buckets copied outside the EU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_estate_reaches_the_map() -> anyhow::Result<()> {
    let (server, collector, stores) = scan().await?;
    assert_eq!(stores.len(), GCP_ESTATE.len());
    for b in GCP_ESTATE {
        let v = check(&stores, b.name);
        match b.size {
            Some((bytes, objects)) => {
                assert_eq!(v.bytes, Some(bytes), "{}: latest total_bytes", b.name);
                assert_eq!(v.objects, Some(objects), "{}: latest object_count", b.name);
            }
            None => {
                assert_eq!(v.bytes, None, "{}: no datapoint is unknown, not 0", b.name);
                assert!(
                    v.unknowns.iter().any(|u| u.dimension == "size"),
                    "{}",
                    b.name
                );
            }
        }
    }
    assert_eq!(find(&stores, NO_SIZE_BUCKET).bytes, None);
    let locked = find(&stores, LOCKED_BUCKET);
    assert!(locked.object_lock, "a retention policy");
    assert_eq!(locked.object_lock_mode, "LOCKED");
    assert_eq!(locked.object_lock_retention_days, Some(365));
    let classes: Vec<(&str, &str, i32)> = locked
        .storage_classes
        .iter()
        .map(|c| (c.storage_type.as_str(), c.class.as_str(), c.minimum_days))
        .collect();
    assert_eq!(classes, [("gcs:ARCHIVE", "archive-online", 365)]);
    let unlocked = find(&stores, "lm-gcs-default");
    assert!(!unlocked.object_lock && !unlocked.object_lock_unknown);

    let mut map = collector.map().await?;
    let outside = map
        .list_stores(StoreFilter {
            providers: vec!["google-cloud".into()],
            replicated_outside_eu: Some(true),
            ..StoreFilter::default()
        })
        .await?;
    let mut outside: Vec<&str> = outside.iter().map(|s| s.name.as_str()).collect();
    outside.sort_unstable();
    assert_eq!(outside, ["lm-gcs-dual-ch", "lm-gcs-eur5", "lm-gcs-nam4"]);

    let pages = GCP_ESTATE.len().div_ceil(4) as u64;
    assert_eq!(server.count("buckets.list"), pages, "{:?}", server.counts());
    assert_eq!(
        server.count("token"),
        1,
        "one token, cached: {:?}",
        server.counts()
    );
    assert_eq!(server.count("unauthorized"), 0, "{:?}", server.counts());
    let keys = GCP_ESTATE.iter().filter(|b| b.key.is_some()).count() as u64;
    assert_eq!(server.count("cryptoKeys.get"), keys, "one read per key");
    assert_eq!(
        server.count("timeSeries.list"),
        2,
        "two listings per project, not per bucket"
    );
    Ok(())
}

/// fake-gcs-server serves the bucket listing for real. What it drops (EMULATORS.md) is
/// checked here, so a release that starts keeping it shows up: it keeps none of the
/// location, location type, labels or default key asked for, and gives every bucket its one
/// `-location`. The agent still reads every bucket it lists, and a bucket the emulator
/// reports without a key is Google-managed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_gcs_server_buckets_reach_the_map() -> anyhow::Result<()> {
    let gcs = FakeGcs::start("EUROPE-WEST4")?;
    let kept = gcs
        .create_bucket(
            PROJECT,
            &serde_json::json!({
                "name": "lm-fake-dual",
                "location": "EU",
                "locationType": "dual-region",
                "customPlacementConfig": {"dataLocations": ["EUROPE-WEST1", "EUROPE-WEST6"]},
                "labels": {"classification": "bbn2"},
                "encryption": {"defaultKmsKeyName": "projects/lm-eu-project/locations/europe/keyRings/r/cryptoKeys/k"},
                "storageClass": "NEARLINE",
            }),
        )
        .await?;
    assert_eq!(
        kept["location"], "EUROPE-WEST4",
        "fake-gcs ignores the location: {kept}"
    );
    assert_eq!(kept["locationType"], "region", "{kept}");
    for dropped in ["customPlacementConfig", "labels", "encryption"] {
        assert!(
            kept.get(dropped).is_none(),
            "fake-gcs now keeps {dropped}: {kept}"
        );
    }
    gcs.create_bucket(PROJECT, &serde_json::json!({"name": "lm-fake-plain"}))
        .await?;

    let server = GcpServer::start().await?;
    let collector = Collector::start()?;
    let config = server.agent_config(&collector.url())?;
    let text = std::fs::read_to_string(&config)?.replace(
        &format!("storage_endpoint = \"{}\"", server.endpoint()),
        &format!("storage_endpoint = \"{}\"", gcs.endpoint()),
    );
    std::fs::write(&config, text)?;
    run_agent_gcp(&collector.url(), &config).await?.success()?;
    let stores = collector.map().await?.all_stores().await?;
    let mut names: Vec<&str> = stores.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["lm-fake-dual", "lm-fake-plain"]);
    for v in &stores {
        assert_eq!(v.region, "EUROPE-WEST4");
        assert_eq!((v.country.as_str(), v.eu), ("NL", true));
        assert_eq!(v.custody(), Custody::Provider, "{}", v.custody_reason);
        assert_eq!(
            v.bytes, None,
            "no Monitoring datapoint for the emulator's buckets"
        );
    }
    assert_eq!(
        server.count("buckets.list"),
        0,
        "the listing went to the emulator"
    );
    Ok(())
}

// The other store kinds: Cloud SQL instances, Persistent Disks and snapshots, from the GCP
// test server's Cloud SQL Admin and Compute listings (no emulator exists), one scan with
// `[gcp] kinds` at its default (all).

/// Scans the estate with every kind; `projects` replaces the configured project list.
async fn scan_kinds(projects: &[&str]) -> anyhow::Result<(GcpServer, Collector, Vec<StoreView>)> {
    let server = GcpServer::start().await?;
    let dir = landmeter_e2e::TempDir::new("landmeter-collector-gcp-kinds")?;
    let db = dir.path().join("map.db");
    let collector =
        Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])?;
    let section = server.gcp_section_with_kinds().replace(
        &format!("projects = [\"{PROJECT}\"]"),
        &format!("projects = {projects:?}"),
    );
    let config = server.agent_config(&collector.url())?;
    let text = std::fs::read_to_string(&config)?;
    let head = text.split("[gcp]").next().unwrap_or_default().to_owned();
    std::fs::write(&config, format!("{head}{section}"))?;
    run_agent_gcp(&collector.url(), &config).await?.success()?;
    let stores = collector.map().await?.all_stores().await?;
    Ok((server, collector, stores))
}

fn kind_store<'a>(stores: &'a [StoreView], subject: &str) -> &'a StoreView {
    let name = format!("projects/{PROJECT}/{subject}");
    find(stores, &name)
}

/// (place, custody) of a kind's store, with its kind label.
fn place(v: &StoreView, kind: &str, region: &str, country: &str, eu: bool, custody: Custody) {
    assert_eq!(v.kind, kind, "{}", v.name);
    assert_eq!(v.provider, "google-cloud", "{}", v.name);
    assert_eq!(v.region, region, "{}", v.name);
    assert_eq!((v.country.as_str(), v.eu), (country, eu), "{}", v.name);
    assert_eq!(v.custody(), custody, "{}: {}", v.name, v.custody_reason);
}

type CopyRow = (String, String, bool, String);

/// A copy as (region, country, EU, copy kind).
fn copy(region: &str, country: &str, eu: bool, kind: &str) -> CopyRow {
    (region.into(), country.into(), eu, kind.into())
}

fn copies(v: &StoreView) -> Vec<CopyRow> {
    let mut c: Vec<_> = v
        .replication
        .iter()
        .map(|t| {
            (
                t.region.clone(),
                t.country.clone(),
                t.eu,
                t.copy_kind.clone(),
            )
        })
        .collect();
    c.sort();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_cloud_sql_instances_with_cmek_replicas_and_backups_elsewhere() -> anyhow::Result<()> {
    let (server, _c, stores) = scan_kinds(&[PROJECT]).await?;
    // CMEK (software key): customer-managed, its read replica in Iowa a copy outside the EU;
    // backups kept in its own region are not another place.
    let payroll = kind_store(&stores, "instances/lm-sql-payroll");
    place(
        payroll,
        "database",
        "europe-west4",
        "NL",
        true,
        Custody::CustomerManaged,
    );
    assert_eq!(
        payroll.key_arn,
        "projects/lm-eu-project/locations/europe-west4/keyRings/lm-ring/cryptoKeys/software"
    );
    assert_eq!(
        copies(payroll),
        [copy("us-central1", "US", false, "read-replica")]
    );
    assert!(payroll.replicated_outside_eu);
    assert_eq!(payroll.classification, "bbn3");
    assert_eq!(payroll.allocated_bytes, Some(100 << 30));
    // The replica: HSM key in its own region, pointing back at its primary.
    let replica = kind_store(&stores, "instances/lm-sql-payroll-us");
    place(
        replica,
        "database",
        "us-central1",
        "US",
        false,
        Custody::CustomerManaged,
    );
    assert!(
        replica
            .custody_modifiers
            .iter()
            .any(|m| m.starts_with("HSM-backed key")),
        "{:?}",
        replica.custody_modifiers
    );
    assert_eq!(replica.copy_of, payroll.name);
    // Google-managed, backups in the US multi-region: a backup copy outside the EU.
    let cases = kind_store(&stores, "instances/lm-sql-cases");
    place(
        cases,
        "database",
        "europe-west3",
        "DE",
        true,
        Custody::Provider,
    );
    assert_eq!(cases.engine, "MYSQL_8_0");
    assert_eq!(copies(cases), [copy("us", "US", false, "backup-copy")]);
    assert!(cases.replicated_outside_eu);
    // A key the agent may not read: unknown with the reason, never Google-managed.
    let secret = kind_store(&stores, "instances/lm-sql-secret");
    place(
        secret,
        "database",
        "europe-west4",
        "NL",
        true,
        Custody::Unknown,
    );
    assert!(
        secret.custody_reason.contains("PERMISSION_DENIED"),
        "{}",
        secret.custody_reason
    );
    assert_eq!(server.count("instances.list"), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_persistent_disks_and_snapshots_with_their_keys_and_copies() -> anyhow::Result<()> {
    let (server, _c, stores) = scan_kinds(&[PROJECT]).await?;
    let boot = kind_store(&stores, "zones/europe-west4-a/disks/lm-pd-boot");
    place(
        boot,
        "volume",
        "europe-west4",
        "NL",
        true,
        Custody::Provider,
    );
    assert_eq!(boot.allocated_bytes, Some(50 << 30));
    assert_eq!(boot.classification, "bbn2");
    // Its snapshot in the same region is a store of its own, not another place of the disk.
    assert!(boot.replication.is_empty(), "{:?}", boot.replication);
    let boot_snap = kind_store(&stores, "global/snapshots/lm-snap-boot");
    place(
        boot_snap,
        "snapshot",
        "europe-west4",
        "NL",
        true,
        Custody::Provider,
    );
    assert_eq!(boot_snap.copy_of, boot.name);
    assert_eq!(boot_snap.bytes, Some(2_147_483_648));

    // A single-tenant Cloud HSM key named with its version: dedicated-hsm; its snapshot in the
    // US multi-region under a US key is a copy outside the EU.
    let records = kind_store(&stores, "zones/europe-west3-b/disks/lm-pd-records");
    place(
        records,
        "volume",
        "europe-west3",
        "DE",
        true,
        Custody::DedicatedHsm,
    );
    assert_eq!(
        records.key_arn,
        "projects/lm-eu-project/locations/europe-west3/keyRings/lm-ring/cryptoKeys/sthsm"
    );
    assert_eq!(copies(records), [copy("us", "US", false, "snapshot")]);
    assert!(records.replicated_outside_eu);
    let us = kind_store(&stores, "global/snapshots/lm-snap-records-us");
    place(us, "snapshot", "us", "US", false, Custody::CustomerManaged);

    // A regional disk in Belgium; its snapshot in the EU multi-region stays in the EU.
    let regional = kind_store(&stores, "regions/europe-west1/disks/lm-pd-regional");
    place(
        regional,
        "volume",
        "europe-west1",
        "BE",
        true,
        Custody::Provider,
    );
    assert_eq!(copies(regional), [copy("eu", "EU", true, "snapshot")]);
    assert!(!regional.replicated_outside_eu);
    let eu = kind_store(&stores, "global/snapshots/lm-snap-regional-eu");
    place(eu, "snapshot", "eu", "EU", true, Custody::Provider);

    // One listing each; each key read once for all the stores naming it.
    assert_eq!(server.count("disks.aggregatedList"), 1);
    assert_eq!(server.count("snapshots.list"), 1);
    let bucket_keys: BTreeSet<&str> = GCP_ESTATE
        .iter()
        .filter_map(|b| b.key.map(|k| k.name))
        .collect();
    // The bucket keys plus the replica's and the US snapshot's.
    assert_eq!(
        server.count("cryptoKeys.get"),
        bucket_keys.len() as u64 + 2,
        "{:?}",
        server.counts()
    );
    Ok(())
}

/// A denied Cloud SQL or Compute listing is a coverage gap on that kind, never "no
/// databases": the project stays complete (its buckets were listed), each kind's listing
/// gap names the call and the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_denied_kind_listings_are_coverage_gaps() -> anyhow::Result<()> {
    let (_server, collector, stores) = scan_kinds(&[PROJECT, DENIED_KINDS_PROJECT]).await?;
    assert!(stores.iter().all(|s| s.account == PROJECT));
    let base = format!(
        "http://{}",
        landmeter_e2e::browser::http_addr(&collector, std::time::Duration::from_secs(10))?
    );
    let coverage =
        landmeter_e2e::browser::get_json(&base, "/v1/coverage", collector.token()).await?;
    let scan = &coverage["scans"][0];
    let gaps: Vec<(String, String, String)> = scan["gaps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["account"] == DENIED_KINDS_PROJECT)
        .map(|g| {
            (
                g["subject"].as_str().unwrap_or_default().to_owned(),
                g["call"].as_str().unwrap_or_default().to_owned(),
                g.to_string(),
            )
        })
        .collect();
    for (subject, call) in [
        ("database", "sqladmin:instances.list"),
        ("volume", "compute:disks.aggregatedList"),
        ("snapshot", "compute:snapshots.list"),
    ] {
        let gap = gaps
            .iter()
            .find(|(s, c, _)| s == subject && c == call)
            .unwrap_or_else(|| panic!("no {call} gap on {subject}: {gaps:?}"));
        assert!(gap.2.contains("PERMISSION_DENIED"), "{}", gap.2);
    }
    Ok(())
}
