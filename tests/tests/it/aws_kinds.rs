//! AWS store kinds other than buckets (RDS, DynamoDB, EBS, EFS, AWS Backup, CloudWatch Logs)
//! through the whole chain: seeded moto -> agent -> collector -> MapService, with a fault
//! proxy in front of moto counting the requests.
//!
//! moto 5.2 answers every call of the agent except these (see `aws_kinds_estate`), which
//! `landmeter_e2e::aws_gaps` answers in the AWS API reference's shapes through the proxy,
//! tested in `aws_kinds_gap_calls_answer_in_documented_shapes` and
//! `aws_kinds_denied_gap_calls_are_unknown_never_none`: EFS
//! `DescribeReplicationConfigurations`, DynamoDB `DescribeTable` replicas of a global table,
//! AWS Backup `ListRecoveryPointsByBackupVault`, EC2 `GetEbsDefaultKmsKeyId`, and the source
//! fields of a copied RDS snapshot in `DescribeDBSnapshots`, and RDS automated backups
//! replicated to another region (`DescribeDBInstanceAutomatedBackups` in the destination,
//! `DBInstanceAutomatedBackupsReplications` on the instance). moto serves DynamoDB
//! `DescribeContinuousBackups` and `ListBackups` itself. Against moto alone
//! (`aws_kinds_facts_follow_the_api`) those calls fail and leave gaps. EC2 documents no
//! source for a copied EBS snapshot, so that copy shows without `copy_of`; stored bytes of
//! logs are not asserted (moto reports 0).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use landmeter_e2e::aws_gaps;
use landmeter_e2e::aws_kinds_estate::{self, EU, KindsEstate, US};
use landmeter_e2e::browser::{get_json, http_addr};
use landmeter_e2e::estate::{Aws, SECOND_ACCOUNT};
use landmeter_e2e::fault_proxy::{Answer, Fault, FaultProxy, Rule};
use landmeter_e2e::{Collector, Moto, TempDir, run_agent_with_env};
use landmeter_proto::Custody;
use landmeter_proto::v1::StoreView;
use serde_json::{Value, json};

/// Every kind (the harness scans buckets only unless told).
const KINDS: (&str, &str) = (
    "LANDMETER_AGENT_AWS_KINDS",
    "database,table,volume,snapshot,file-system,backup-vault,log-group",
);
/// The two regions of the estate: a scan of all of moto's 38 regions in two accounts costs
/// ~20 s more.
const REGIONS: (&str, &str) = ("LANDMETER_AGENT_AWS_REGIONS", "eu-west-1,us-east-1");

fn find<'a>(stores: &'a [StoreView], name: &str) -> &'a StoreView {
    stores.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "{name} not in the map: {:?}",
            stores.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

/// (kind, region, country, custody) of a store, for one comparison per store.
fn shape(v: &StoreView) -> (String, String, String, String) {
    (
        v.kind.clone(),
        v.region.clone(),
        v.country.clone(),
        format!("{} ({})", v.custody().label(), v.custody_reason),
    )
}

fn expect_shape(v: &StoreView, kind: &str, region: &str, custody: Custody) {
    let want = (
        kind.to_owned(),
        region.to_owned(),
        if region == EU { "IE" } else { "US" }.to_owned(),
        format!("{} ({})", custody.label(), v.custody_reason),
    );
    assert_eq!(shape(v), want, "{}", v.name);
}

/// (target, region, copy kind, EU) of a store's copies.
fn copies(v: &StoreView) -> Vec<(String, String, String, bool)> {
    let mut c: Vec<_> = v
        .replication
        .iter()
        .map(|r| {
            (
                r.bucket.clone(),
                r.region.clone(),
                r.copy_kind.clone(),
                r.eu,
            )
        })
        .collect();
    c.sort();
    c
}

async fn seeded() -> anyhow::Result<(Moto, KindsEstate)> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    let estate = aws_kinds_estate::seed(&aws).await?;
    Ok((moto, estate))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_kinds_facts_follow_the_api() -> anyhow::Result<()> {
    let (moto, e) = seeded().await?;
    // The kinds' keys are asked ahead, as each region's listing ends, and looked up again
    // when the facts are written: each question still reaches KMS once per account.
    let kms_asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let rules = vec![
        crate::map::record(&kms_asked, Rule::kms("DescribeKey")),
        crate::map::record(&kms_asked, Rule::kms("ListAliases")),
    ];
    let proxy = FaultProxy::start(moto.addr(), rules).await?;
    let collector = Collector::start()?;
    run_agent_with_env(&collector.url(), &proxy.endpoint(), &[], &[KINDS, REGIONS])
        .await?
        .success()
        .map_err(|err| err.context(format!("collector log:\n{}", collector.log())))?;
    let stores = collector.map().await?.all_stores().await?;
    crate::map::assert_kms_asked_once(&kms_asked);

    // Custody per store from the neutral encryption fields and the key's description.
    for (name, kind, region, custody) in [
        (&e.db_encrypted, "database", EU, Custody::CustomerManaged),
        (&e.db_plain, "database", EU, Custody::None),
        (&e.db_replica, "database", US, Custody::None),
        (&e.table_cmk, "table", EU, Custody::CustomerManaged),
        (&e.table_owned, "table", US, Custody::Provider),
        // An on-demand backup has its table's key.
        (&e.table_backup, "snapshot", EU, Custody::CustomerManaged),
        (&e.volume_plain, "volume", EU, Custody::None),
        (&e.volume_cmk, "volume", EU, Custody::CustomerManaged),
        (&e.volume_snapshot, "snapshot", EU, Custody::None),
        (&e.volume_snapshot_copy, "snapshot", US, Custody::None),
        (&e.file_system, "file-system", EU, Custody::CustomerManaged),
        (&e.vault, "backup-vault", EU, Custody::CustomerManaged),
        // moto names no key for a vault created without one (AWS: the aws/backup key).
        (&e.vault_dr, "backup-vault", US, Custody::Provider),
        (&e.log_group, "log-group", EU, Custody::CustomerManaged),
    ] {
        let v = find(&stores, name);
        expect_shape(v, kind, region, custody);
        if custody == Custody::CustomerManaged {
            assert_eq!(v.key_arn, e.key_arn, "{name}: the resolved key");
            assert_eq!(v.key_region, EU, "{name}");
        }
        assert!(v.gone_at_ms.is_none(), "{name}");
    }
    let db = find(&stores, &e.db_encrypted);
    assert_eq!(db.engine, "postgres");
    assert_eq!(
        (db.size_basis.as_str(), db.bytes),
        ("allocated", Some(20 << 30))
    );

    // Read replica in the US: on the source as a copy outside the EU, on the replica as
    // its source.
    let plain = find(&stores, &e.db_plain);
    assert_eq!(
        copies(plain),
        [(
            e.db_replica.clone(),
            US.to_owned(),
            "read-replica".to_owned(),
            false
        )]
    );
    assert!(plain.replicated_outside_eu, "{plain:?}");
    let replica = find(&stores, &e.db_replica);
    assert_eq!(
        (replica.copy_of.as_str(), replica.copy_kind.as_str()),
        (e.db_plain.as_str(), "read-replica")
    );
    assert!(
        !db.replicated_outside_eu,
        "no copy of the encrypted one leaves the EU"
    );
    // Aurora global database: the secondary cluster in the US is a copy of the writer.
    let writer = find(&stores, &e.cluster_writer);
    assert_eq!(
        (writer.kind.as_str(), writer.engine.as_str()),
        ("database", "aurora-postgresql")
    );
    assert_eq!(
        copies(writer),
        [(
            e.cluster_secondary.clone(),
            US.to_owned(),
            "multi-region".to_owned(),
            false
        )]
    );
    assert!(writer.replicated_outside_eu);
    let secondary = find(&stores, &e.cluster_secondary);
    assert_eq!(secondary.region, US);
    assert_eq!(
        (secondary.copy_of.as_str(), secondary.copy_kind.as_str()),
        (e.cluster_writer.as_str(), "multi-region")
    );

    // Snapshots: their source, and who else may restore them.
    let snap = find(&stores, &e.db_snapshot);
    assert_eq!(snap.kind, "snapshot");
    assert_eq!(
        (snap.copy_of.as_str(), snap.copy_kind.as_str()),
        (e.db_encrypted.as_str(), "snapshot")
    );
    assert_eq!(snap.shared_with, [SECOND_ACCOUNT]);
    assert!(!snap.shared_publicly);
    assert!(
        snap.custody_modifiers
            .iter()
            .any(|m| m.contains(SECOND_ACCOUNT)),
        "{:?}",
        snap.custody_modifiers
    );
    let vsnap = find(&stores, &e.volume_snapshot);
    assert_eq!(
        (vsnap.copy_of.as_str(), vsnap.copy_kind.as_str()),
        (e.volume_plain.as_str(), "snapshot")
    );
    assert!(vsnap.shared_with.is_empty() && !vsnap.shared_publicly);
    assert!(
        vsnap.unknown(landmeter_proto::dimension::SHARING).is_none(),
        "sharing was answered: {vsnap:?}"
    );

    // DynamoDB: point-in-time recovery is a backup in the table's region, shown on the table;
    // an on-demand backup is a store of its own, a backup copy of its table, with its size
    // (moto reports 123 bytes for every backup).
    let table = find(&stores, &e.table_cmk);
    assert_eq!(
        copies(table),
        [(
            format!("{}/point-in-time-recovery", e.table_cmk),
            EU.to_owned(),
            "backup-copy".to_owned(),
            true
        )]
    );
    assert_eq!(table.replicated_outside_eu_known(), Some(false));
    assert!(copies(find(&stores, &e.table_owned)).is_empty(), "PITR off");
    let backup = find(&stores, &e.table_backup);
    assert_eq!(
        (backup.copy_of.as_str(), backup.copy_kind.as_str()),
        (e.table_cmk.as_str(), "backup-copy")
    );
    assert_eq!(
        (backup.bytes, backup.size_basis.as_str()),
        (Some(123), "stored")
    );
    assert!(backup.shared_with.is_empty() && !backup.shared_publicly);
    // Automated backups replicated to another region: none in moto (no such operation).
    assert!(
        !stores.iter().any(|s| s.name == e.db_backup_copy),
        "no replicated backup without the gap answers"
    );

    // Sizes: provisioned for volumes, stored for tables, file systems and log groups.
    let vol = find(&stores, &e.volume_plain);
    assert_eq!(
        (vol.size_basis.as_str(), vol.bytes),
        ("allocated", Some(8 << 30))
    );
    for name in [&e.table_cmk, &e.file_system, &e.log_group] {
        let v = find(&stores, name);
        assert_eq!(v.size_basis, "stored", "{name}");
        assert!(v.bytes.is_some(), "{name}");
    }

    // Backup: the vault lock, the plan's lifecycle and its copy to the US.
    let vault = find(&stores, &e.vault);
    assert!(vault.object_lock, "{vault:?}");
    assert_eq!(vault.object_lock_mode, "GOVERNANCE", "no lock date yet");
    assert_eq!(vault.object_lock_retention_days, Some(7));
    assert_eq!(vault.delete_after_days, Some(35));
    assert_eq!(
        copies(vault),
        [(
            e.vault_dr.clone(),
            US.to_owned(),
            "backup-copy".to_owned(),
            false
        )]
    );
    assert!(vault.replicated_outside_eu);
    // Logs: retention is a deletion, not a lock.
    let logs = find(&stores, &e.log_group);
    assert_eq!(logs.delete_after_days, Some(30));
    assert!(!logs.object_lock);

    // Requests per store per kind (printed for the report; bounded so a regression shows).
    let counts = proxy.counts();
    let n = |op: &str| counts.get(op).copied().unwrap_or(0);
    let seeded_stores = e.stores().len() as u64;
    let kind_stores = stores.iter().filter(|s| s.kind != "bucket").count() as u64;
    assert!(
        kind_stores >= seeded_stores,
        "{kind_stores} < {seeded_stores}"
    );
    let mut per_service: BTreeMap<String, u64> = BTreeMap::new();
    for (op, c) in &counts {
        let service = op.split(':').next().unwrap_or_default().to_owned();
        *per_service.entry(service).or_default() += c;
    }
    eprintln!(
        "requests by operation: {counts:#?}\nby service: {per_service:?}\nstores of other kinds: {kind_stores}"
    );
    // One listing per kind and region; per store only the sharing of snapshots and a
    // table's describe and tags.
    assert_eq!(n("rds:DescribeDBInstances"), 4, "two regions, two accounts");
    assert_eq!(
        n("rds:DescribeGlobalClusters"),
        2,
        "where a member cluster is"
    );
    assert_eq!(n("ec2:GetEbsEncryptionByDefault"), 4);
    assert_eq!(n("ec2:GetEbsDefaultKmsKeyId"), 1, "asked only where on");
    assert_eq!(n("dynamodb:DescribeTable"), 3);
    assert_eq!(n("dynamodb:DescribeContinuousBackups"), 3, "one per table");
    assert_eq!(n("dynamodb:ListBackups"), 4, "two regions, two accounts");
    assert_eq!(n("rds:DescribeDBInstanceAutomatedBackups"), 4);
    Ok(())
}

/// One kind's listing denied in one region: a coverage gap on that kind and region; the
/// other kinds are there; nothing is marked gone on the rescan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_kinds_denied_listing_is_a_gap_and_nothing_goes() -> anyhow::Result<()> {
    let (moto, e) = seeded().await?;
    let dir = TempDir::new("landmeter-aws-kinds")?;
    let db = dir.path().join("map.db");
    let collector =
        Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])?;
    // First scan: the enabled regions from ec2:DescribeRegions.
    run_agent_with_env(&collector.url(), &moto.endpoint(), &[], &[KINDS])
        .await?
        .success()?;
    let mut map = collector.map().await?;
    let before = map.all_stores().await?;
    for name in e.stores() {
        assert!(find(&before, name).gone_at_ms.is_none(), "{name}");
    }

    let proxy = FaultProxy::start(
        moto.addr(),
        vec![
            Rule::any()
                .service("logs")
                .operation("logs:DescribeLogGroups")
                .region(EU)
                .respond(Fault::json_error(
                    "AccessDeniedException",
                    "User is not authorized to perform: logs:DescribeLogGroups",
                )),
            // And one store's describe: its custody is unknown, never none.
            Rule::any()
                .service("dynamodb")
                .operation("dynamodb:DescribeTable")
                .body_contains("\"cases\"")
                .respond(Fault::json_error(
                    "AccessDeniedException",
                    "User is not authorized to perform: dynamodb:DescribeTable",
                )),
        ],
    )
    .await?;
    run_agent_with_env(&collector.url(), &proxy.endpoint(), &[], &[KINDS, REGIONS])
        .await?
        .success()?;
    assert!(proxy.count("logs:DescribeLogGroups") >= 1);
    let after = map.all_stores().await?;
    let logs = find(&after, &e.log_group);
    assert!(
        logs.gone_at_ms.is_none(),
        "not listed is not gone: {logs:?}"
    );
    for name in e.stores() {
        let v = find(&after, name);
        assert!(v.gone_at_ms.is_none(), "{name} marked gone");
    }
    let table = find(&after, &e.table_cmk);
    assert_eq!(table.custody(), Custody::Unknown, "{table:?}");
    assert!(
        table.custody_reason.contains("AccessDenied"),
        "{}",
        table.custody_reason
    );
    // Its backup has its key: unknown too, with why, never none.
    let backup = find(&after, &e.table_backup);
    assert_eq!(backup.custody(), Custody::Unknown, "{backup:?}");
    assert!(
        backup.custody_reason.contains("was not described"),
        "{}",
        backup.custody_reason
    );
    // The other kinds of the same region were listed in this scan.
    let scan_id = &find(&after, &e.table_cmk).last_scan_id;
    assert_ne!(
        scan_id, &logs.last_scan_id,
        "the log group was not seen again"
    );
    assert_eq!(&find(&after, &e.vault).last_scan_id, scan_id);

    // The coverage names the gap: that kind, that region, the call and the error.
    let base = format!("http://{}", http_addr(&collector, Duration::from_secs(10))?);
    let coverage = get_json(&base, "/v1/coverage", collector.token()).await?;
    let latest = &coverage["scans"][0];
    let gaps = latest["gaps"].as_array().context("gaps")?;
    assert!(
        gaps.iter().any(|g| g["call"] == "logs:DescribeLogGroups"
            && g["subject"] == format!("log-group@{EU}")
            && g["code"] == "AccessDeniedException"),
        "{latest}"
    );
    assert!(
        latest["coverage"]
            .as_array()
            .context("coverage")?
            .iter()
            .all(|c| c["complete"] == true),
        "a kind's listing gap leaves the account complete: {latest}"
    );

    // Third scan: the regions cannot be listed. Only the buckets' regions and the home
    // region (us-east-1) are scanned; no EU store of any kind is gone.
    let no_regions = FaultProxy::start(
        moto.addr(),
        vec![
            Rule::any()
                .service("ec2")
                .operation("ec2:DescribeRegions")
                // The EC2 Query protocol's error shape.
                .respond(Answer::new(
                    hyper::StatusCode::FORBIDDEN,
                    "text/xml;charset=UTF-8",
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>e2e</RequestID></Response>",
                )),
        ],
    )
    .await?;
    run_agent_with_env(&collector.url(), &no_regions.endpoint(), &[], &[KINDS])
        .await?
        .success()?;
    assert!(no_regions.count("ec2:DescribeRegions") >= 1);
    assert_eq!(
        no_regions.count("logs:DescribeLogGroups"),
        2,
        "the home region only, in two accounts"
    );
    let after = map.all_stores().await?;
    for name in e.stores() {
        assert!(
            find(&after, name).gone_at_ms.is_none(),
            "{name} marked gone"
        );
    }
    let coverage = get_json(&base, "/v1/coverage", collector.token()).await?;
    let latest = &coverage["scans"][0];
    let gaps = latest["gaps"].as_array().context("gaps")?;
    for kind in ["database", "log-group", "backup-vault"] {
        assert!(
            gaps.iter().any(|g| g["call"] == "ec2:DescribeRegions"
                && g["subject"] == kind
                && g["code"] == "UnauthorizedOperation"),
            "no all-regions gap for {kind}: {latest}"
        );
    }
    Ok(())
}

/// (source, copy kind, region) a copy names.
fn source_of(v: &StoreView) -> (&str, &str, &str) {
    (v.copy_of.as_str(), v.copy_kind.as_str(), v.region.as_str())
}

/// One entry of [`copies`]: a copy in `region` (the estate's EU region or the US).
fn copy_in(target: &str, region: &str, kind: &str) -> (String, String, String, bool) {
    (
        target.to_owned(),
        region.to_owned(),
        kind.to_owned(),
        region == EU,
    )
}

/// A collector with the HTTP side on, for the evidence bundle and the coverage.
fn collector_with_http(name: &str) -> anyhow::Result<Collector> {
    let dir = TempDir::new(name)?;
    let db = dir.path().join("map.db");
    Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])
}

/// The calls moto lacks or answers wrongly, answered in the AWS API reference's shapes
/// (`aws_gaps`): each reaches the map as the copy, size or setting it documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_kinds_gap_calls_answer_in_documented_shapes() -> anyhow::Result<()> {
    let (moto, e) = seeded().await?;
    let proxy = FaultProxy::start(moto.addr(), aws_gaps::for_estate(&e)).await?;
    let collector = collector_with_http("landmeter-aws-gaps")?;
    run_agent_with_env(&collector.url(), &proxy.endpoint(), &[], &[KINDS, REGIONS])
        .await?
        .success()
        .map_err(|err| err.context(format!("collector log:\n{}", collector.log())))?;
    let stores = collector.map().await?.all_stores().await?;
    for op in [
        "elasticfilesystem:DescribeReplicationConfigurations",
        "backup:ListRecoveryPointsByBackupVault",
        "ec2:GetEbsDefaultKmsKeyId",
        "rds:DescribeDBInstanceAutomatedBackups",
    ] {
        assert!(
            proxy.count(op) >= 1,
            "{op} not called: {:#?}",
            proxy.counts()
        );
    }

    // EFS replication to the US: an edge from the source, the source named on the copy.
    let fs = find(&stores, &e.file_system);
    assert_eq!(
        copies(fs),
        [copy_in(
            &e.file_system_replica,
            US,
            "file-system-replication"
        )]
    );
    assert_eq!(fs.replicated_outside_eu_known(), Some(true), "{fs:?}");
    let replica = find(&stores, &e.file_system_replica);
    assert_eq!(
        source_of(replica),
        (e.file_system.as_str(), "file-system-replication", US)
    );

    // DynamoDB global table: the EU table's replica in the US is a copy outside the EU, and
    // the US replica names the EU one the same way.
    let table = find(&stores, &e.table_cmk);
    assert_eq!(
        copies(table),
        [
            copy_in(
                &format!("{}/point-in-time-recovery", e.table_cmk),
                EU,
                "backup-copy"
            ),
            copy_in(&e.table_replica, US, "multi-region")
        ]
    );
    assert!(table.replicated_outside_eu, "{table:?}");
    assert_eq!(
        copies(find(&stores, &e.table_replica)),
        [copy_in(&e.table_cmk, EU, "multi-region")]
    );
    assert!(
        !find(&stores, &e.table_owned).replicated_outside_eu,
        "a table without replicas has no copy"
    );

    // Backup: the vault's size is the sum of its recovery points, and their count.
    let vault = find(&stores, &e.vault);
    let total: i64 = aws_gaps::RECOVERY_POINT_BYTES.iter().sum();
    assert_eq!(
        (vault.bytes, vault.objects, vault.size_basis.as_str()),
        (Some(total), Some(2), "stored"),
        "{vault:?}"
    );
    assert!(!vault.is_unknown(landmeter_proto::dimension::SIZE));
    let dr = find(&stores, &e.vault_dr);
    assert_eq!(
        (dr.bytes, dr.objects, dr.size_basis.as_str()),
        (Some(0), Some(0), "stored"),
        "an empty vault holds nothing: {dr:?}"
    );

    // Snapshot copies: the RDS copy in the US names its EU source; the source shows the
    // copy outside the EU. The EBS copy's VolumeId is arbitrary (documented): no source.
    let copy = find(&stores, &e.db_snapshot_copy);
    assert_eq!(
        source_of(copy),
        (e.db_snapshot.as_str(), "snapshot-copy", US)
    );
    let source = find(&stores, &e.db_snapshot);
    assert!(
        copies(source).contains(&copy_in(&e.db_snapshot_copy, US, "snapshot-copy")),
        "{:?}",
        copies(source)
    );
    assert!(source.replicated_outside_eu, "{source:?}");
    let vcopy = find(&stores, &e.volume_snapshot_copy);
    assert_eq!(vcopy.copy_of, "", "no source from an arbitrary VolumeId");

    // RDS automated backups replicated to the US: a store there under a US key, a backup
    // copy of the EU instance, which shows it as a copy outside the EU.
    let copy = find(&stores, &e.db_backup_copy);
    expect_shape(copy, "snapshot", US, Custody::CustomerManaged);
    assert_eq!(
        (copy.key_arn.as_str(), copy.key_region.as_str()),
        (e.key_us_arn.as_str(), US),
        "a key of the destination region"
    );
    assert_eq!(
        source_of(copy),
        (e.db_encrypted.as_str(), "backup-copy", US)
    );
    assert_eq!(
        (copy.size_basis.as_str(), copy.bytes),
        ("allocated", Some(20 << 30))
    );
    assert_eq!(copy.delete_after_days, Some(7), "BackupRetentionPeriod");
    assert_eq!(copy.classification, "BBN2", "its TagList");
    assert!(!copy.eu);
    let db = find(&stores, &e.db_encrypted);
    assert_eq!(
        copies(db),
        [copy_in(&e.db_backup_copy, US, "backup-copy")],
        "one edge, drawn from both sides"
    );
    assert!(db.replicated_outside_eu, "{db:?}");

    // EBS encryption by default per region, and the default key where it is on: setting
    // facts the collector keeps (shown in the evidence bundle; they describe no store).
    let base = format!("http://{}", http_addr(&collector, Duration::from_secs(10))?);
    let evidence = get_json(&base, "/v1/evidence?tenant=default", collector.token()).await?;
    let settings: BTreeMap<String, String> = evidence["facts"]
        .as_array()
        .context("facts")?
        .iter()
        .filter(|f| f["fact"]["kind"] == "setting")
        .filter(|f| f["account"] == landmeter_e2e::estate::MAIN_ACCOUNT)
        .map(|f| {
            (
                f["subject"].as_str().unwrap_or_default().to_owned(),
                f["fact"]["body"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        settings,
        BTreeMap::from([
            (format!("ebs-default-kms-key@{EU}"), e.key_arn.clone()),
            (format!("ebs-encryption-by-default@{EU}"), "true".to_owned()),
            (
                format!("ebs-encryption-by-default@{US}"),
                "false".to_owned()
            ),
        ])
    );
    // The settings page says what they mean: off by default in the US is a concern, the
    // EU's default key is the customer's; the CLI lists them and exits 0 (all known).
    let shown = get_json(&base, "/v1/settings?tenant=default", collector.token()).await?;
    let rows = shown["settings"].as_array().context("settings")?;
    let row = |name: &str, region: &str| {
        rows.iter()
            .find(|r| {
                r["account"] == landmeter_e2e::estate::MAIN_ACCOUNT
                    && r["name"] == name
                    && r["region"] == region
            })
            .unwrap_or_else(|| panic!("no {name}@{region}: {shown}"))
    };
    assert_eq!(row("ebs-encryption-by-default", US)["concern"], true);
    assert_eq!(row("ebs-encryption-by-default", EU)["concern"], false);
    let key = row("ebs-default-kms-key", EU);
    assert!(
        key["meaning"]
            .as_str()
            .unwrap_or_default()
            .contains("customer managed"),
        "{key}"
    );
    assert_eq!(shown["unknown"], 0);
    let (code, table) = collector.cli_status(&["settings", "--tenant", "default"])?;
    assert_eq!(code, 0, "{table}");
    assert!(
        table.contains("CONCERN: new EBS volumes in this region are unencrypted"),
        "{table}"
    );
    let coverage = get_json(&base, "/v1/coverage", collector.token()).await?;
    let gaps = coverage["scans"][0]["gaps"].as_array().context("gaps")?;
    let gap_calls: Vec<&str> = gaps.iter().filter_map(|g| g["call"].as_str()).collect();
    for call in [
        "ec2:GetEbsDefaultKmsKeyId",
        "elasticfilesystem:DescribeReplicationConfigurations",
        "backup:ListRecoveryPointsByBackupVault",
    ] {
        assert!(!gap_calls.contains(&call), "{call} left a gap: {gaps:?}");
    }
    Ok(())
}

/// A denied answer to the calls moto lacks: replication and size are unknown with the
/// failed call and its error, never "not replicated" or 0 bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_kinds_denied_gap_calls_are_unknown_never_none() -> anyhow::Result<()> {
    let (moto, e) = seeded().await?;
    let mut rules = vec![
        Rule::any()
            .operation("elasticfilesystem:DescribeReplicationConfigurations")
            .respond(aws_gaps::rest_json_denied(
                "elasticfilesystem:DescribeReplicationConfigurations",
            )),
        Rule::any()
            .operation("backup:ListRecoveryPointsByBackupVault")
            .region(EU)
            .respond(aws_gaps::rest_json_denied(
                "backup:ListRecoveryPointsByBackupVault",
            )),
        Rule::any()
            .operation("rds:DescribeDBInstanceAutomatedBackups")
            .region(US)
            .respond(aws_gaps::query_denied(
                "rds:DescribeDBInstanceAutomatedBackups",
            )),
        Rule::any()
            .operation("dynamodb:DescribeContinuousBackups")
            .region(EU)
            .body_contains("\"cases\"")
            .respond(Fault::json_error(
                "AccessDeniedException",
                "User is not authorized to perform: dynamodb:DescribeContinuousBackups",
            )),
        Rule::any()
            .operation("ec2:GetEbsEncryptionByDefault")
            .region(US)
            // The EC2 Query protocol's error shape.
            .respond(Answer::new(
                hyper::StatusCode::FORBIDDEN,
                "text/xml;charset=UTF-8",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>e2e</RequestID></Response>",
            )),
    ];
    // The rest as documented (the denials come first and win).
    rules.extend(aws_gaps::for_estate(&e));
    let proxy = FaultProxy::start(moto.addr(), rules).await?;
    let collector = collector_with_http("landmeter-aws-gaps-denied")?;
    run_agent_with_env(&collector.url(), &proxy.endpoint(), &[], &[KINDS, REGIONS])
        .await?
        .success()?;
    let stores = collector.map().await?.all_stores().await?;

    for name in [&e.file_system, &e.file_system_replica] {
        let v = find(&stores, name);
        assert_eq!(v.replicated_outside_eu_known(), None, "{v:?}");
        let why = v
            .unknown(landmeter_proto::dimension::REPLICATION)
            .unwrap_or_else(|| panic!("{name}: replication not unknown: {v:?}"));
        assert_eq!(
            (why.call.as_str(), why.code.as_str()),
            (
                "elasticfilesystem:DescribeReplicationConfigurations",
                "AccessDeniedException"
            ),
            "{why:?}"
        );
        assert!(why.reason.contains("not authorized"), "{}", why.reason);
    }
    assert_eq!(
        find(&stores, &e.file_system_replica).copy_of,
        "",
        "no source without the configuration"
    );

    let vault = find(&stores, &e.vault);
    assert_eq!((vault.bytes, vault.objects), (None, None), "{vault:?}");
    let why = vault
        .unknown(landmeter_proto::dimension::SIZE)
        .context("vault size not unknown")?;
    assert_eq!(
        (why.call.as_str(), why.code.as_str()),
        (
            "backup:ListRecoveryPointsByBackupVault",
            "AccessDeniedException"
        )
    );
    // PITR unreadable: the table's replicas (outside the EU) are known, its replication as a
    // whole unknown, with the failed call.
    let table = find(&stores, &e.table_cmk);
    assert_eq!(table.replicated_outside_eu_known(), Some(true));
    assert!(
        !copies(table).iter().any(|c| c.2 == "backup-copy"),
        "{:?}",
        copies(table)
    );
    let why = table
        .unknown(landmeter_proto::dimension::REPLICATION)
        .context("table replication not unknown")?;
    assert_eq!(
        (why.call.as_str(), why.code.as_str()),
        (
            "dynamodb:DescribeContinuousBackups",
            "AccessDeniedException"
        )
    );

    // The US automated backups cannot be listed: no store there, a coverage gap on that
    // kind and region; the EU instance still names its replicated backups (an edge to the
    // US, from its own describe).
    assert!(!stores.iter().any(|s| s.name == e.db_backup_copy));
    let db = find(&stores, &e.db_encrypted);
    assert_eq!(copies(db), [copy_in(&e.db_backup_copy, US, "backup-copy")]);
    assert!(db.replicated_outside_eu);
    let base = format!("http://{}", http_addr(&collector, Duration::from_secs(10))?);
    let coverage = get_json(&base, "/v1/coverage", collector.token()).await?;
    let latest = &coverage["scans"][0];
    assert!(
        latest["gaps"]
            .as_array()
            .context("gaps")?
            .iter()
            .any(|g| g["call"] == "rds:DescribeDBInstanceAutomatedBackups"
                && g["subject"] == format!("snapshot@{US}")
                && g["code"] == "AccessDenied"),
        "{latest}"
    );

    // The US region's encryption-by-default could not be read: unknown with the call and
    // error, never "off" (no concern); the CLI says the answer is incomplete (exit 3).
    let shown = get_json(&base, "/v1/settings?tenant=default", collector.token()).await?;
    let us = shown["settings"]
        .as_array()
        .context("settings")?
        .iter()
        .find(|r| {
            r["account"] == landmeter_e2e::estate::MAIN_ACCOUNT
                && r["name"] == "ebs-encryption-by-default"
                && r["region"] == US
        })
        .with_context(|| format!("no US setting: {shown}"))?;
    assert_eq!(
        (&us["known"], &us["value"], &us["concern"]),
        (&json!(false), &Value::Null, &json!(false)),
        "{us}"
    );
    assert!(
        us["unknown_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("ec2:GetEbsEncryptionByDefault failed: UnauthorizedOperation"),
        "{us}"
    );
    let (code, table) = collector.cli_status(&["settings"])?;
    assert_eq!(
        code, 3,
        "an unread setting makes the answer incomplete: {table}"
    );
    assert!(
        table.contains("unknown (ec2:GetEbsEncryptionByDefault failed"),
        "{table}"
    );

    // The other answers still reach the map.
    assert!(find(&stores, &e.table_cmk).replicated_outside_eu);
    assert_eq!(
        find(&stores, &e.db_snapshot_copy).copy_of,
        e.db_snapshot,
        "the RDS copy's source"
    );
    Ok(())
}
