//! Azure store kinds beside storage accounts, end to end: the agent against the ARM test
//! server (official example shapes, `arm_kinds`), facts through the collector into the map.

use landmeter_e2e::arm_kinds::{self as k, GIB, rid, share_id};
use landmeter_e2e::arm_server::{AZURE_ESTATE, ArmServer, SUB_MAIN};
use landmeter_e2e::{Collector, MapClient, run_agent_azure};
use landmeter_proto::Custody;
use landmeter_proto::v1::{
    CopyKind, Encryption, EncryptionState, Fact, FactTopic, Gap, ReplicationRule, Retention, Size,
    Store, StoreKind, StoreView, fact::Body,
};

const VAULT: &str = "https://lm-vault.vault.azure.net";
const HSM: &str = "https://lm-hsm.managedhsm.azure.net";

fn id(subject: &str) -> String {
    format!("microsoft-azure:{SUB_MAIN}:{subject}")
}

/// The facts about `subject` (not its key's or parent's).
async fn facts(map: &mut MapClient, subject: &str) -> anyhow::Result<Vec<Fact>> {
    Ok(map
        .get_store(&id(subject))
        .await?
        .facts
        .into_iter()
        .filter_map(|p| p.fact)
        .filter(|f| f.subject == subject)
        .collect())
}

fn body<'f, T>(facts: &'f [Fact], pick: impl Fn(&'f Body) -> Option<&'f T>) -> Option<&'f T> {
    facts.iter().filter_map(|f| f.body.as_ref()).find_map(pick)
}

fn store_of(f: &[Fact]) -> &Store {
    body(f, |b| match b {
        Body::Store(s) => Some(s),
        _ => None,
    })
    .expect("store fact")
}

fn encryption_of(f: &[Fact]) -> Option<&Encryption> {
    body(f, |b| match b {
        Body::Encryption(e) => Some(e),
        _ => None,
    })
}

fn rules_of(f: &[Fact]) -> Option<&Vec<ReplicationRule>> {
    body(f, |b| match b {
        Body::Replication(r) => Some(&r.rules),
        _ => None,
    })
}

fn size_of(f: &[Fact]) -> Option<&Size> {
    body(f, |b| match b {
        Body::Size(s) => Some(s),
        _ => None,
    })
}

fn retention_of(f: &[Fact]) -> Option<&Retention> {
    body(f, |b| match b {
        Body::Retention(r) => Some(r),
        _ => None,
    })
}

fn gaps_of(f: &[Fact]) -> Vec<&Gap> {
    f.iter()
        .filter_map(|f| match &f.body {
            Some(Body::Gap(g)) => Some(g),
            _ => None,
        })
        .collect()
}

fn copies(f: &[Fact]) -> Vec<(CopyKind, String)> {
    rules_of(f)
        .expect("replication fact")
        .iter()
        .map(|r| (r.copy_kind(), r.destination_region.clone()))
        .collect()
}

fn view<'v>(stores: &'v [StoreView], subject: &str) -> &'v StoreView {
    stores
        .iter()
        .find(|s| s.name == subject)
        .unwrap_or_else(|| panic!("{subject} not in the map"))
}

/// A copy as the map shows it: (copy kind, region, country).
type Target<'a> = (&'a str, &'a str, &'a str);

fn targets(v: &StoreView) -> Vec<Target<'_>> {
    let mut t: Vec<Target<'_>> = v
        .replication
        .iter()
        .map(|t| (t.copy_kind.as_str(), t.region.as_str(), t.country.as_str()))
        .collect();
    t.sort_unstable();
    t
}

async fn scan(arm: &ArmServer) -> anyhow::Result<Collector> {
    scan_into(arm, Collector::start()?, &[]).await
}

/// One agent scan of `subscriptions` (all when empty) into `collector`.
async fn scan_into(
    arm: &ArmServer,
    collector: Collector,
    subscriptions: &[&str],
) -> anyhow::Result<Collector> {
    let config = arm.agent_config_for(&collector.url(), subscriptions)?;
    run_agent_azure(&collector.url(), &config)
        .await?
        .success()?;
    Ok(collector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_kinds_facts_follow_the_api() -> anyhow::Result<()> {
    let arm = ArmServer::start_with_kinds(None).await?;
    let collector = scan(&arm).await?;
    let mut map = collector.map().await?;

    // Disks: platform key, a customer key through a set (ids compared whatever their case),
    // double encryption, provisioned size only.
    let f = facts(&mut map, &rid(k::DISK_PLATFORM)).await?;
    let s = store_of(&f);
    assert_eq!(
        (
            s.kind(),
            s.service.as_str(),
            s.region.as_str(),
            s.sku.as_str()
        ),
        (StoreKind::Volume, "azure-disk", "westeurope", "Premium_LRS")
    );
    let e = encryption_of(&f).expect("encryption");
    assert_eq!(e.state(), EncryptionState::Configured);
    assert_eq!(
        (e.algorithm.as_str(), e.key_ref.as_str()),
        ("EncryptionAtRestWithPlatformKey", "")
    );
    let size = size_of(&f).expect("size");
    assert_eq!((size.allocated_bytes, size.known), (Some(128 * GIB), false));
    let e = encryption_of(&facts(&mut map, &rid(k::DISK_CMK)).await?)
        .expect("encryption")
        .clone();
    assert!(
        e.key_ref.starts_with(&format!("{VAULT}/keys/disk-key/")),
        "{e:?}"
    );
    assert_eq!(e.resolved_key_arn, format!("{VAULT}/keys/disk-key"));
    let e = encryption_of(&facts(&mut map, &rid(k::DISK_HSM)).await?)
        .expect("encryption")
        .clone();
    assert!(e.key_ref.starts_with(HSM) && e.double_encryption, "{e:?}");
    // A set the agent cannot read: a gap on the disk, never a platform key.
    let f = facts(&mut map, &rid(k::DISK_FOREIGN_DES)).await?;
    assert!(encryption_of(&f).is_none(), "{f:?}");
    let gaps = gaps_of(&f);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(
        (
            gaps[0].call.as_str(),
            gaps[0].topic(),
            gaps[0].code.as_str()
        ),
        (
            "arm:DiskEncryptionSets_Get",
            FactTopic::Encryption,
            "AuthorizationFailed"
        )
    );

    // Snapshots name their source: a disk (snapshot), a snapshot elsewhere (snapshot copy).
    let s = store_of(&facts(&mut map, &rid(k::SNAP_WEU)).await?).clone();
    assert_eq!(s.kind(), StoreKind::Snapshot);
    assert_eq!(s.copy_of, rid(k::DISK_PLATFORM), "leading slash restored");
    assert_eq!(
        (s.copy_kind(), s.copy_of_region.as_str()),
        (CopyKind::Snapshot, "westeurope")
    );
    let s = store_of(&facts(&mut map, &rid(k::SNAP_US)).await?).clone();
    assert_eq!(
        (s.copy_of.as_str(), s.copy_kind(), s.region.as_str()),
        (rid(k::SNAP_WEU).as_str(), CopyKind::SnapshotCopy, "eastus")
    );

    // SQL: the database is the store; TDE and the protector give its key; geo backups are a
    // copy in defaultSecondaryLocation, else the region's pair.
    let f = facts(&mut map, &rid(k::SQL_PAYROLL)).await?;
    let s = store_of(&f);
    assert_eq!(
        (s.kind(), s.engine.as_str(), s.service.as_str()),
        (StoreKind::Database, "SQLServer", "azure-sql")
    );
    let e = encryption_of(&f).expect("encryption");
    assert_eq!(
        (e.state(), e.key_ref.as_str(), e.algorithm.as_str()),
        (EncryptionState::Configured, "", "ServiceManaged")
    );
    assert_eq!(
        copies(&f),
        [
            (CopyKind::ReadReplica, "eastus".to_owned()),
            (CopyKind::GeoRedundant, "northeurope".to_owned())
        ],
        "the geo-secondary (partnerLocation \"East US\") and the geo backups"
    );
    assert_eq!(
        size_of(&f).and_then(|s| s.allocated_bytes),
        Some(268_435_456_000)
    );
    let s = store_of(&facts(&mut map, &rid(k::SQL_PAYROLL_REPLICA)).await?).clone();
    assert_eq!(
        (s.copy_of.as_str(), s.copy_kind(), s.copy_of_region.as_str()),
        (
            rid(k::SQL_PAYROLL).as_str(),
            CopyKind::ReadReplica,
            "westeurope"
        )
    );
    let f = facts(&mut map, &rid(k::SQL_LEGACY)).await?;
    let e = encryption_of(&f).expect("encryption");
    assert_eq!(
        e.state(),
        EncryptionState::Disabled,
        "TDE off is said, not guessed"
    );
    assert!(
        rules_of(&f).expect("replication").is_empty(),
        "Local backups"
    );
    let f = facts(&mut map, &rid(k::SQL_TDE_DENIED)).await?;
    assert!(
        encryption_of(&f).is_none(),
        "a denied TDE read is not a DISABLED"
    );
    let gaps = gaps_of(&f);
    assert_eq!(
        gaps.iter()
            .map(|g| (g.call.as_str(), g.topic()))
            .collect::<Vec<_>>(),
        [("arm:TransparentDataEncryptions_Get", FactTopic::Encryption)]
    );
    let f = facts(&mut map, &rid(k::SQL_CASES)).await?;
    assert_eq!(
        store_of(&f).region,
        "westeurope",
        "\"West Europe\" normalised"
    );
    assert!(
        encryption_of(&f)
            .expect("encryption")
            .key_ref
            .starts_with(&format!("{VAULT}/keys/sql-tde/"))
    );
    assert_eq!(
        copies(&f),
        [
            (CopyKind::ReadReplica, "uksouth".to_owned()),
            (CopyKind::GeoRedundant, "northeurope".to_owned())
        ],
        "the failover group's partner (\"UK South\"), and the pair from the locations API"
    );
    let rule = &rules_of(&f).expect("replication")[0];
    assert_eq!(
        (
            rule.id.as_str(),
            rule.destination_bucket.as_str(),
            rule.status.as_str()
        ),
        (
            rid(k::SQL_FAILOVER_GROUP).as_str(),
            format!("{}/databases/cases", rid(k::SQL_FAILOVER_PARTNER)).as_str(),
            "CATCH_UP"
        )
    );

    let e = encryption_of(&facts(&mut map, &rid(k::SQL_DB_KEY)).await?)
        .expect("encryption")
        .clone();
    assert_eq!(
        (e.algorithm.as_str(), e.resolved_key_arn.as_str()),
        (
            "AzureKeyVault (database)",
            format!("{VAULT}/keys/ledger-key").as_str()
        ),
        "the database's own key wins over its server's"
    );

    // Flexible servers: a read replica names its source; geo backup goes to the pair.
    let f = facts(&mut map, &rid(k::PG_PRIMARY)).await?;
    assert_eq!(store_of(&f).engine, "PostgreSQL 17");
    assert_eq!(
        copies(&f),
        [(CopyKind::GeoRedundant, "northeurope".to_owned())]
    );
    assert_eq!(size_of(&f).and_then(|s| s.allocated_bytes), Some(512 * GIB));
    let f = facts(&mut map, &rid(k::PG_REPLICA)).await?;
    let s = store_of(&f);
    assert_eq!(
        (s.copy_of.as_str(), s.copy_kind(), s.copy_of_region.as_str()),
        (
            rid(k::PG_PRIMARY).as_str(),
            CopyKind::ReadReplica,
            "westeurope"
        )
    );
    assert!(
        encryption_of(&f)
            .expect("encryption")
            .key_ref
            .starts_with(&format!("{VAULT}/keys/pg-key"))
    );
    let f = facts(&mut map, &rid(k::MYSQL_HSM)).await?;
    assert_eq!(store_of(&f).engine, "MySQL 8.0.21");
    assert!(
        encryption_of(&f)
            .expect("encryption")
            .key_ref
            .starts_with(HSM)
    );

    // Cosmos DB: the write region is the store's; every other region a full replica.
    let f = facts(&mut map, &rid(k::COSMOS)).await?;
    let s = store_of(&f);
    assert_eq!(
        (s.region.as_str(), s.engine.as_str()),
        ("westeurope", "GlobalDocumentDB")
    );
    assert_eq!(
        copies(&f),
        [
            (CopyKind::MultiRegion, "eastus".to_owned()),
            (CopyKind::GeoRedundant, "northeurope".to_owned())
        ]
    );
    assert_eq!(
        encryption_of(&f).expect("encryption").key_ref,
        format!("{VAULT}/keys/cosmos-key")
    );

    // Vaults: Locked immutability is a lock, Unlocked is not; geo-redundant storage is a
    // copy in the pair, in the replicated region when named, unknown without a pair.
    let f = facts(&mut map, &rid(k::RSV_LOCKED)).await?;
    let r = retention_of(&f).expect("retention");
    assert!(r.enabled && r.mode == "Locked", "{r:?}");
    assert!(encryption_of(&f).expect("encryption").double_encryption);
    assert_eq!(
        copies(&f),
        [(CopyKind::GeoRedundant, "northeurope".to_owned())]
    );
    let f = facts(&mut map, &rid(k::BV_UNPAIRED)).await?;
    assert!(!retention_of(&f).expect("retention").enabled);
    assert_eq!(copies(&f), [(CopyKind::GeoRedundant, String::new())]);
    let f = facts(&mut map, &rid(k::BV_REPLICATED)).await?;
    assert_eq!(
        copies(&f),
        [(CopyKind::GeoRedundant, "germanynorth".to_owned())]
    );

    // Log Analytics: retention deletes (not a lock), the cluster's key, replication.
    let f = facts(&mut map, &rid(k::LOGS_CLUSTER)).await?;
    assert_eq!(store_of(&f).kind(), StoreKind::LogGroup);
    let r = retention_of(&f).expect("retention");
    assert_eq!((r.enabled, r.delete_after_days), (false, 90));
    let e = encryption_of(&f).expect("encryption");
    assert!(e.key_ref.starts_with(&format!("{HSM}/keys/logs-key/")) && e.double_encryption);
    assert_eq!(
        copies(&f),
        [(CopyKind::MultiRegion, "northeurope".to_owned())]
    );

    // File shares: inside their account, its key and its geo-redundant SKU; used bytes.
    let share = share_id("lmweuplatform", "records");
    let f = facts(&mut map, &share).await?;
    let s = store_of(&f);
    assert_eq!(
        (s.kind(), s.parent.as_str(), s.region.as_str()),
        (StoreKind::FileSystem, "lmweuplatform", "westeurope")
    );
    assert_eq!(
        copies(&f),
        [(CopyKind::GeoRedundant, "northeurope".to_owned())]
    );
    let size = size_of(&f).expect("size");
    assert!(size.known);
    assert_eq!(size.bytes_by_storage_type["ShareUsageBytes"], 652_945);
    assert_eq!(size.allocated_bytes, Some(1024 * GIB));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_kinds_reach_the_map() -> anyhow::Result<()> {
    let arm = ArmServer::start_with_kinds(None).await?;
    let collector = scan(&arm).await?;
    let mut map = collector.map().await?;
    let stores = map.all_stores().await?;
    for subject in k::all_ids() {
        view(&stores, &subject);
    }
    assert_eq!(
        stores.len(),
        AZURE_ESTATE.len() + k::all_ids().len(),
        "master is not a store"
    );

    // Kind, region, country and custody per store.
    #[rustfmt::skip]
    let expect: &[(String, &str, &str, &str, Custody)] = &[
        (rid(k::DISK_PLATFORM), "volume", "westeurope", "NL", Custody::Provider),
        (rid(k::DISK_CMK), "volume", "westeurope", "NL", Custody::CustomerManaged),
        (rid(k::DISK_HSM), "volume", "germanywestcentral", "DE", Custody::DedicatedHsm),
        (rid(k::DISK_FOREIGN_DES), "volume", "westeurope", "NL", Custody::Unknown),
        (rid(k::SNAP_WEU), "snapshot", "westeurope", "NL", Custody::Provider),
        (rid(k::SNAP_US), "snapshot", "eastus", "US", Custody::Provider),
        (rid(k::SQL_PAYROLL), "database", "westeurope", "NL", Custody::Provider),
        (rid(k::SQL_LEGACY), "database", "westeurope", "NL", Custody::None),
        (rid(k::SQL_CASES), "database", "westeurope", "NL", Custody::CustomerManaged),
        (rid(k::SQL_PAYROLL_REPLICA), "database", "eastus", "US", Custody::Provider),
        (rid(k::SQL_TDE_DENIED), "database", "westeurope", "NL", Custody::Unknown),
        (rid(k::SQL_DB_KEY), "database", "westeurope", "NL", Custody::CustomerManaged),
        (rid(k::PG_PRIMARY), "database", "westeurope", "NL", Custody::Provider),
        (rid(k::PG_REPLICA), "database", "eastus", "US", Custody::CustomerManaged),
        (rid(k::MYSQL_HSM), "database", "swedencentral", "SE", Custody::DedicatedHsm),
        (rid(k::COSMOS), "database", "westeurope", "NL", Custody::CustomerManaged),
        (rid(k::RSV_LOCKED), "backup-vault", "westeurope", "NL", Custody::CustomerManaged),
        (rid(k::BV_UNPAIRED), "backup-vault", "polandcentral", "PL", Custody::Provider),
        (rid(k::BV_REPLICATED), "backup-vault", "germanywestcentral", "DE", Custody::Provider),
        (share_id("lmweuplatform", "records"), "file-system", "westeurope", "NL", Custody::Provider),
        (share_id("lmdehsm", "archive"), "file-system", "germanywestcentral", "DE", Custody::DedicatedHsm),
        (rid(k::LOGS_CLUSTER), "log-group", "westeurope", "NL", Custody::DedicatedHsm),
        (rid(k::LOGS_PLAIN), "log-group", "westeurope", "NL", Custody::Provider),
    ];
    for (subject, kind, region, country, custody) in expect {
        let v = view(&stores, subject);
        assert_eq!(
            (v.kind.as_str(), v.region.as_str(), v.country.as_str()),
            (*kind, *region, *country),
            "{subject}"
        );
        assert_eq!(v.custody(), *custody, "{subject}: {}", v.custody_reason);
        assert_eq!(v.account, SUB_MAIN);
    }
    let cmk = view(&stores, &rid(k::DISK_CMK));
    assert_eq!(cmk.key_region, "westeurope", "the vault's region");
    let hsm = view(&stores, &rid(k::DISK_HSM));
    assert!(
        hsm.custody_modifiers.iter().any(|m| m.contains("double")),
        "{:?}",
        hsm.custody_modifiers
    );
    let foreign = view(&stores, &rid(k::DISK_FOREIGN_DES));
    assert!(
        foreign
            .unknowns
            .iter()
            .any(|u| u.dimension == "custody" && u.code == "AuthorizationFailed"),
        "{:?}",
        foreign.unknowns
    );

    // Copies with their kind and region (the pair's when the resource names none).
    #[rustfmt::skip]
    let copy_expect: &[(String, &[Target], bool)] = &[
        (rid(k::SNAP_WEU), &[("snapshot-copy", "eastus", "US")], true),
        (rid(k::DISK_PLATFORM), &[], false),
        (rid(k::SQL_PAYROLL), &[("geo-redundant", "northeurope", "IE"), ("read-replica", "eastus", "US")], true),
        (rid(k::SQL_CASES), &[("geo-redundant", "northeurope", "IE"), ("read-replica", "uksouth", "GB")], true),
        (rid(k::SQL_LEGACY), &[], false),
        (rid(k::PG_PRIMARY), &[("geo-redundant", "northeurope", "IE"), ("read-replica", "eastus", "US")], true),
        (rid(k::COSMOS), &[("geo-redundant", "northeurope", "IE"), ("multi-region", "eastus", "US")], true),
        (rid(k::RSV_LOCKED), &[("geo-redundant", "northeurope", "IE")], false),
        (rid(k::BV_REPLICATED), &[("geo-redundant", "germanynorth", "DE")], false),
        (share_id("lmweuplatform", "records"), &[("geo-redundant", "northeurope", "IE")], false),
        (share_id("lmdehsm", "archive"), &[], false),
        (rid(k::LOGS_CLUSTER), &[("multi-region", "northeurope", "IE")], false),
        (rid(k::LOGS_PLAIN), &[], false),
    ];
    for (subject, want, outside) in copy_expect {
        let v = view(&stores, subject);
        assert_eq!(targets(v), *want, "{subject}");
        assert_eq!(v.replicated_outside_eu, *outside, "{subject}");
    }
    // The copy side: kind, source, and the source's classification.
    let snap = view(&stores, &rid(k::SNAP_WEU));
    assert_eq!(
        (snap.copy_of.as_str(), snap.copy_kind.as_str()),
        (rid(k::DISK_PLATFORM).as_str(), "snapshot")
    );
    assert_eq!(snap.classification, "BBN2", "classified as its source disk");
    let replica = view(&stores, &rid(k::PG_REPLICA));
    assert_eq!(replica.copy_kind, "read-replica");
    // No pair: the copy's region is unknown, not guessed.
    let unpaired = view(&stores, &rid(k::BV_UNPAIRED));
    assert_eq!(targets(unpaired), [("geo-redundant", "", "")]);
    assert!(
        unpaired
            .unknowns
            .iter()
            .any(|u| u.dimension == "replication"),
        "{:?}",
        unpaired.unknowns
    );

    // Lock-in: the locked vault; soft delete and Unlocked are not locks.
    let rsv = view(&stores, &rid(k::RSV_LOCKED));
    assert!(
        rsv.object_lock && rsv.object_lock_mode.eq_ignore_ascii_case("Locked"),
        "{rsv:?}"
    );
    assert!(!unpaired.object_lock);

    // Sizes: provisioned for disks and databases, stored for shares.
    let disk = view(&stores, &rid(k::DISK_PLATFORM));
    assert_eq!(
        (disk.bytes, disk.size_basis.as_str()),
        (Some(128 * GIB), "allocated")
    );
    let share = view(&stores, &share_id("lmweuplatform", "records"));
    assert_eq!(
        (share.bytes, share.size_basis.as_str()),
        (Some(652_945), "stored")
    );
    assert_eq!(share.classification, "BBN2", "the account's tag");
    let logs = view(&stores, &rid(k::LOGS_PLAIN));
    assert_eq!(logs.delete_after_days, Some(30));

    // Requests: one listing per kind and subscription (three subscriptions), a few child
    // calls, the locations once.
    let counts = arm.counts();
    let n = |route: &str| counts.get(route).copied().unwrap_or(0);
    eprintln!("ARM requests per route: {counts:?}");
    for route in [
        "Disks_List",
        "Snapshots_List",
        "Servers_List",
        "PostgreSqlFlexibleServers_List",
        "MySqlFlexibleServers_List",
        "DatabaseAccounts_List",
        "Vaults_ListBySubscriptionId",
        "BackupVaults_GetInSubscription",
        "Workspaces_List",
    ] {
        assert_eq!(n(route), 3, "{route}: {counts:?}");
    }
    assert_eq!(
        n("DiskEncryptionSets_List"),
        1,
        "only where a disk names a set"
    );
    assert_eq!(n("DiskEncryptionSets_Get"), 1, "the unlisted set, once");
    assert_eq!(n("Databases_ListByServer"), 4);
    assert_eq!(
        n("EncryptionProtectors_ListByServer"),
        3,
        "not for the server whose database holds its own key"
    );
    assert_eq!(n("ReplicationLinks_ListByServer"), 4);
    assert_eq!(
        n("FailoverGroups_ListByServer"),
        1,
        "only the server whose database names a failover group"
    );
    assert_eq!(n("TransparentDataEncryptions_Get"), 6, "master skipped");
    assert_eq!(
        n("BackupStorageConfig_Get"),
        0,
        "the vault listing states its redundancy"
    );
    assert_eq!(n("Clusters_List"), 1, "only where a workspace is linked");
    assert_eq!(n("FileShares_List"), AZURE_ESTATE.len() as u64);
    assert_eq!(n("FileShares_Get"), k::SHARES.len() as u64);
    assert_eq!(
        n("Subscriptions_ListLocations"),
        1,
        "paired regions read once"
    );
    Ok(())
}

/// A kind the identity may not list (403): a gap on that kind's listing, the other kinds in
/// the map, and the subscription's coverage still complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_kinds_denied_listing_is_a_coverage_gap() -> anyhow::Result<()> {
    let arm = ArmServer::start_with_kinds(Some("Snapshots_List")).await?;
    let http = format!("127.0.0.1:{}", landmeter_e2e::free_port()?);
    let dir = landmeter_e2e::TempDir::new("landmeter-kinds-denied")?;
    let db = dir.path().join("map.db");
    let collector = Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", &http])?;
    let collector = scan_into(&arm, collector, &[]).await?;
    let mut map = collector.map().await?;
    let stores = map.all_stores().await?;
    assert!(
        !stores.iter().any(|s| s.kind == "snapshot"),
        "no snapshot was listed"
    );
    for subject in [rid(k::DISK_PLATFORM), rid(k::SQL_PAYROLL), rid(k::COSMOS)] {
        view(&stores, &subject);
    }
    let coverage = collector.http_json(&http, "/v1/coverage").await?;
    let latest = &coverage["scans"][0];
    assert!(
        latest["gaps"].as_array().expect("gaps").iter().any(|g| {
            g["call"] == "arm:Snapshots_List"
                && g["subject"] == "snapshot"
                && g["account"] == SUB_MAIN
        }),
        "{latest}"
    );
    let main = latest["coverage"]
        .as_array()
        .expect("coverage")
        .iter()
        .find(|c| c["account"] == SUB_MAIN)
        .expect("main subscription");
    assert_eq!(main["complete"], true, "{main}");
    Ok(())
}

/// Requests per store for each kind, in the subscription that holds every store (counts are
/// deterministic): the scan must not send more than these. Printed as a table; reproduce with
/// `cargo test -p landmeter-e2e --test it azure_kinds_requests_per_store -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_kinds_requests_per_store() -> anyhow::Result<()> {
    // (kind, the most requests its scan of this estate may send).
    const BUDGET: &[(&str, u64)] = &[
        ("disks+snapshots", 4),
        ("sql", 19),
        ("postgresql", 1),
        ("mysql", 1),
        ("cosmosdb", 1),
        ("recovery-services-vaults", 1),
        ("backup-vaults", 1),
        ("file-shares", 7),
        ("log-analytics", 2),
    ];
    let arm = ArmServer::start_with_kinds(None).await?;
    let collector = scan_into(&arm, Collector::start()?, &[SUB_MAIN]).await?;
    let mut map = collector.map().await?;
    let stores = map.all_stores().await?;
    let counts = arm.counts();
    let mut table = format!(
        "{:<26} {:>8} {:>6} {:>9}\n",
        "kind", "requests", "stores", "per store"
    );
    let mut over = Vec::new();
    for (kind, ids, routes) in k::kinds() {
        for id in &ids {
            view(&stores, id);
        }
        let requests: u64 = routes
            .iter()
            .map(|r| counts.get(*r).copied().unwrap_or(0))
            .sum();
        let budget = BUDGET
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, b)| *b)
            .unwrap_or_else(|| panic!("{kind}: no budget"));
        table.push_str(&format!(
            "{kind:<26} {requests:>8} {:>6} {:>9.2}\n",
            ids.len(),
            requests as f64 / ids.len() as f64
        ));
        if requests > budget {
            over.push(format!("{kind}: {requests} > {budget}"));
        }
    }
    let shared = counts
        .get("Subscriptions_ListLocations")
        .copied()
        .unwrap_or(0);
    table.push_str(&format!(
        "{:<26} {shared:>8}  (paired regions, shared by every geo copy)\n",
        "locations"
    ));
    eprintln!("ARM requests per kind, subscription {SUB_MAIN}:\n{table}");
    assert!(over.is_empty(), "over budget: {over:?}\n{table}");
    assert_eq!(shared, 1, "paired regions read once");
    Ok(())
}

/// The failover groups cannot be read (403): the database in a group keeps the copies that
/// were read (its geo backups) and its replication is unknown with the failed call and its
/// error, never "no other copy"; databases in no group are not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_kinds_denied_failover_groups_are_unknown_never_none() -> anyhow::Result<()> {
    let arm = ArmServer::start_with_kinds(Some("FailoverGroups_ListByServer")).await?;
    let collector = scan(&arm).await?;
    let mut map = collector.map().await?;
    assert_eq!(arm.counts().get("FailoverGroups_ListByServer"), Some(&1));
    let f = facts(&mut map, &rid(k::SQL_CASES)).await?;
    assert_eq!(
        copies(&f),
        [(CopyKind::GeoRedundant, "northeurope".to_owned())],
        "the copies that were read"
    );
    let gaps = gaps_of(&f);
    assert_eq!(
        gaps.iter()
            .map(|g| (g.call.as_str(), g.topic(), g.code.as_str()))
            .collect::<Vec<_>>(),
        [(
            "arm:FailoverGroups_ListByServer",
            FactTopic::Replication,
            "AuthorizationFailed"
        )]
    );
    let stores = map.all_stores().await?;
    let cases = view(&stores, &rid(k::SQL_CASES));
    assert_eq!(cases.replicated_outside_eu_known(), None, "{cases:?}");
    let why = cases
        .unknown(landmeter_proto::dimension::REPLICATION)
        .expect("replication unknown");
    assert_eq!(
        (why.call.as_str(), why.code.as_str()),
        ("arm:FailoverGroups_ListByServer", "AuthorizationFailed")
    );
    assert!(
        why.reason.contains("failoverGroups/read"),
        "the reason names what was denied: {}",
        why.reason
    );
    assert_eq!(
        cases.custody(),
        Custody::CustomerManaged,
        "custody unaffected"
    );
    // Same server, no failover group: its copies are known.
    let audit = view(&stores, &rid(k::SQL_TDE_DENIED));
    assert!(
        audit
            .unknown(landmeter_proto::dimension::REPLICATION)
            .is_none(),
        "{:?}",
        audit.unknowns
    );
    Ok(())
}
