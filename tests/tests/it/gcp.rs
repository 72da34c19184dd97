//! Google Cloud end to end: the agent's GCP provider against a local HTTPS server playing the
//! OAuth2 token endpoint, Cloud Storage, Cloud KMS and Cloud Monitoring (official reference
//! shapes), and against fake-gcs-server (the Cloud Storage emulator) for the bucket listing;
//! facts through the collector into the map. One test per protection level and per location
//! type, each on its own scan of [`GCP_ESTATE`].

use landmeter_e2e::gcp_server::{
    DENIED_KEY_BUCKET, FakeGcs, GCP_ESTATE, GcpBucket, GcpServer, KEY_PROJECT, LOCKED_BUCKET,
    NO_SIZE_BUCKET, PROJECT,
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
