//! A small estate of the AWS store kinds other than buckets, seeded into moto through the
//! Rust AWS SDK: RDS, DynamoDB, EBS, EFS, AWS Backup and CloudWatch Logs in one EU region
//! and one outside the EU, in moto's default account. [`seed`] returns the subjects (ARNs)
//! the map must show.
//!
//! moto 5.2 serves the listings and describes the agent calls, except these, which it lacks
//! or answers without the fields AWS documents (shared/reference/EMULATORS.md). They are
//! answered in the AWS API reference's shapes by [`crate::aws_gaps`], through the fault
//! proxy in front of moto, never faked in moto itself:
//! - EFS `DescribeReplicationConfigurations` (404; `CreateReplicationConfiguration` too):
//!   the estate seeds the destination file system, [`crate::aws_gaps`] the configuration;
//! - DynamoDB `DescribeTable` of a global table (moto ignores replica updates: no
//!   `Replicas`): the estate seeds the replica table in [`US`], the gap answers add it;
//! - AWS Backup `ListRecoveryPointsByBackupVault` (no route): answered whole;
//! - EC2 `GetEbsDefaultKmsKeyId` (500): answered whole where encryption by default is on;
//! - RDS `DescribeDBSnapshots` of a cross-region copy (moto omits
//!   `SourceDBSnapshotIdentifier`/`SourceRegion`): added to moto's answer;
//! - RDS automated backups replicated to another region (moto has no
//!   `StartDBInstanceAutomatedBackupsReplication`; its `DescribeDBInstanceAutomatedBackups`
//!   lists a region's own backups with identifier and status only): the replicated backup
//!   and the instance's `DBInstanceAutomatedBackupsReplications` are added to moto's answers.
//!
//! DynamoDB point-in-time recovery (`UpdateContinuousBackups`/`DescribeContinuousBackups`)
//! and on-demand backups (`CreateBackup`/`ListBackups`) are moto's own.
//!
//! EC2 `DescribeSnapshots` documents no source field for a copied EBS snapshot (its
//! `VolumeId` is documented as arbitrary), so the copy has no source to answer.

use anyhow::Context as _;
use aws_sdk_backup::types::{BackupPlanInput, BackupRuleInput, CopyAction, Lifecycle};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, SseSpecification, SseType,
};

use crate::estate::{Account, Aws, MAIN_ACCOUNT, SECOND_ACCOUNT};

/// The EU region of the estate (Ireland).
pub const EU: &str = "eu-west-1";
/// The region outside the EU (United States).
pub const US: &str = "us-east-1";

/// The subjects the map must show, and the key they use.
#[derive(Debug, Clone)]
pub struct KindsEstate {
    /// The customer managed key (eu-west-1) of every encrypted store.
    pub key_arn: String,
    /// A customer managed key in [`US`]: the replicated RDS backups' (a key of their region).
    pub key_us_arn: String,
    /// RDS instance encrypted with the key.
    pub db_encrypted: String,
    /// RDS instance without storage encryption, with a read replica in [`US`].
    pub db_plain: String,
    pub db_replica: String,
    /// Aurora global database: the writer cluster in [`EU`], a secondary in [`US`].
    pub cluster_writer: String,
    pub cluster_secondary: String,
    /// Manual snapshot of `db_encrypted`, shared with [`SECOND_ACCOUNT`].
    pub db_snapshot: String,
    /// Its copy in [`US`] (`CopyDBSnapshot` across regions).
    pub db_snapshot_copy: String,
    /// `db_encrypted`'s automated backups replicated to [`US`] (answered by `aws_gaps`: not
    /// in moto, so not in [`KindsEstate::stores`]).
    pub db_backup_copy: String,
    /// DynamoDB table with the key, and one with the AWS owned key in [`US`].
    pub table_cmk: String,
    pub table_owned: String,
    /// `table_cmk`'s global table replica in [`US`] (a table of the same name).
    pub table_replica: String,
    /// `table_cmk` has point-in-time recovery on, and this on-demand backup.
    pub table_backup: String,
    pub volume_plain: String,
    pub volume_cmk: String,
    /// Snapshot of `volume_plain`, and its copy in [`US`].
    pub volume_snapshot: String,
    pub volume_snapshot_copy: String,
    pub file_system: String,
    /// The destination of `file_system`'s replication, in [`US`].
    pub file_system_replica: String,
    /// Locked vault with the key (min retention 7 days), filled by a plan that keeps
    /// backups 35 days and copies them to `vault_dr` in [`US`].
    pub vault: String,
    pub vault_dr: String,
    /// Log group with the key and 30 days' retention.
    pub log_group: String,
}

impl KindsEstate {
    /// Every store the estate seeds on purpose (moto adds automated RDS snapshots).
    pub fn stores(&self) -> Vec<&str> {
        vec![
            &self.db_encrypted,
            &self.db_plain,
            &self.db_replica,
            &self.cluster_writer,
            &self.cluster_secondary,
            &self.db_snapshot,
            &self.db_snapshot_copy,
            &self.table_cmk,
            &self.table_owned,
            &self.table_replica,
            &self.table_backup,
            &self.volume_plain,
            &self.volume_cmk,
            &self.volume_snapshot,
            &self.volume_snapshot_copy,
            &self.file_system,
            &self.file_system_replica,
            &self.vault,
            &self.vault_dr,
            &self.log_group,
        ]
    }
}

macro_rules! client {
    ($name:ident, $krate:ident) => {
        pub fn $name(&self, region: &str) -> $krate::Client {
            let conf = $krate::Config::builder()
                .behavior_version($krate::config::BehaviorVersion::latest())
                .region($krate::config::Region::new(region.to_owned()))
                .credentials_provider(self.creds(Account::Main))
                .endpoint_url(self.endpoint())
                .build();
            $krate::Client::from_conf(conf)
        }
    };
}

impl Aws {
    client!(rds, aws_sdk_rds);
    client!(dynamodb, aws_sdk_dynamodb);
    client!(ec2, aws_sdk_ec2);
    client!(efs, aws_sdk_efs);
    client!(backup, aws_sdk_backup);
    client!(logs, aws_sdk_cloudwatchlogs);
}

fn arn(service: &str, region: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{region}:{MAIN_ACCOUNT}:{resource}")
}

/// A customer managed key in `region` of moto's default account: its ARN.
async fn create_key(aws: &Aws, region: &str) -> anyhow::Result<String> {
    aws.kms(Account::Main, region)
        .create_key()
        .description(format!("landmeter kinds ({region})"))
        .send()
        .await
        .with_context(|| format!("kms:CreateKey {region}"))?
        .key_metadata()
        .map(|m| m.arn().unwrap_or_default().to_owned())
        .context("no key metadata")
}

/// Seeds the estate into moto's default account.
pub async fn seed(aws: &Aws) -> anyhow::Result<KindsEstate> {
    let key_arn = create_key(aws, EU).await?;
    let key_us_arn = create_key(aws, US).await?;

    // RDS.
    let rds = aws.rds(EU);
    for (id, encrypted) in [("payroll", true), ("archive", false)] {
        let mut req = rds
            .create_db_instance()
            .db_instance_identifier(id)
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .allocated_storage(20)
            .master_username("admin")
            .master_user_password("password-1")
            .storage_encrypted(encrypted);
        if encrypted {
            req = req.kms_key_id(&key_arn);
        }
        req.send()
            .await
            .with_context(|| format!("rds:CreateDBInstance {id}"))?;
    }
    let db_plain = arn("rds", EU, "db:archive");
    aws.rds(US)
        .create_db_instance_read_replica()
        .db_instance_identifier("archive-replica")
        .source_db_instance_identifier(&db_plain)
        .db_instance_class("db.t3.micro")
        .availability_zone("us-east-1a")
        .send()
        .await
        .context("rds:CreateDBInstanceReadReplica")?;
    // Aurora global database (moto serves it when the clusters name their engine).
    rds.create_global_cluster()
        .global_cluster_identifier("ledger")
        .engine("aurora-postgresql")
        .send()
        .await
        .context("rds:CreateGlobalCluster")?;
    for (region, id) in [(EU, "ledger-eu"), (US, "ledger-us")] {
        let mut req = aws
            .rds(region)
            .create_db_cluster()
            .db_cluster_identifier(id)
            .engine("aurora-postgresql")
            .global_cluster_identifier("ledger");
        if region == EU {
            req = req
                .master_username("admin")
                .master_user_password("password-1");
        }
        req.send()
            .await
            .with_context(|| format!("rds:CreateDBCluster {id}"))?;
    }
    rds.create_db_snapshot()
        .db_snapshot_identifier("payroll-manual")
        .db_instance_identifier("payroll")
        .send()
        .await
        .context("rds:CreateDBSnapshot")?;
    rds.modify_db_snapshot_attribute()
        .db_snapshot_identifier("payroll-manual")
        .attribute_name("restore")
        .values_to_add(SECOND_ACCOUNT)
        .send()
        .await
        .context("rds:ModifyDBSnapshotAttribute")?;

    aws.rds(US)
        .copy_db_snapshot()
        .source_db_snapshot_identifier(arn("rds", EU, "snapshot:payroll-manual"))
        .target_db_snapshot_identifier("payroll-manual-us")
        .send()
        .await
        .context("rds:CopyDBSnapshot")?;

    // DynamoDB ("cases" in the US is the EU table's global table replica).
    for (region, name, key) in [
        (EU, "cases", Some(&key_arn)),
        (US, "lookups", None),
        (US, "cases", None),
    ] {
        let mut req = aws
            .dynamodb(region)
            .create_table()
            .table_name(name)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .billing_mode(BillingMode::PayPerRequest);
        if let Some(key) = key {
            req = req.sse_specification(
                SseSpecification::builder()
                    .enabled(true)
                    .sse_type(SseType::Kms)
                    .kms_master_key_id(key)
                    .build(),
            );
        }
        req.send()
            .await
            .with_context(|| format!("dynamodb:CreateTable {name}"))?;
    }
    let dynamodb = aws.dynamodb(EU);
    dynamodb
        .update_continuous_backups()
        .table_name("cases")
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()?,
        )
        .send()
        .await
        .context("dynamodb:UpdateContinuousBackups")?;
    let table_backup = dynamodb
        .create_backup()
        .table_name("cases")
        .backup_name("cases-before-migration")
        .send()
        .await
        .context("dynamodb:CreateBackup")?
        .backup_details()
        .map(|d| d.backup_arn().to_owned())
        .context("no backup details")?;

    // EBS.
    let ec2 = aws.ec2(EU);
    let plain = ec2
        .create_volume()
        .availability_zone("eu-west-1a")
        .size(8)
        .send()
        .await
        .context("ec2:CreateVolume")?;
    let plain_id = plain.volume_id().context("volume id")?.to_owned();
    let cmk = ec2
        .create_volume()
        .availability_zone("eu-west-1a")
        .size(16)
        .encrypted(true)
        .kms_key_id(&key_arn)
        .send()
        .await
        .context("ec2:CreateVolume (encrypted)")?;
    let cmk_id = cmk.volume_id().context("volume id")?.to_owned();
    let snap = ec2
        .create_snapshot()
        .volume_id(&plain_id)
        .description("nightly")
        .send()
        .await
        .context("ec2:CreateSnapshot")?;
    let snap_id = snap.snapshot_id().context("snapshot id")?.to_owned();
    let copy = aws
        .ec2(US)
        .copy_snapshot()
        .source_snapshot_id(&snap_id)
        .source_region(EU)
        .send()
        .await
        .context("ec2:CopySnapshot")?;
    let copy_id = copy.snapshot_id().context("copy id")?.to_owned();
    ec2.enable_ebs_encryption_by_default()
        .send()
        .await
        .context("ec2:EnableEbsEncryptionByDefault")?;

    // EFS (replication: moto answers 404 to CreateReplicationConfiguration, so only the
    // destination file system is seeded; aws_gaps answers the configuration).
    let replica = aws
        .efs(US)
        .create_file_system()
        .creation_token("payroll-files-replica")
        .send()
        .await
        .context("elasticfilesystem:CreateFileSystem (replica)")?;
    let file_system_replica = replica
        .file_system_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            arn(
                "elasticfilesystem",
                US,
                &format!("file-system/{}", replica.file_system_id()),
            )
        });
    let fs = aws
        .efs(EU)
        .create_file_system()
        .creation_token("payroll-files")
        .encrypted(true)
        .kms_key_id(&key_arn)
        .send()
        .await
        .context("elasticfilesystem:CreateFileSystem")?;
    let file_system = fs.file_system_arn().map(str::to_owned).unwrap_or_else(|| {
        arn(
            "elasticfilesystem",
            EU,
            &format!("file-system/{}", fs.file_system_id()),
        )
    });

    // AWS Backup.
    let backup = aws.backup(EU);
    backup
        .create_backup_vault()
        .backup_vault_name("main")
        .encryption_key_arn(&key_arn)
        .send()
        .await
        .context("backup:CreateBackupVault main")?;
    backup
        .put_backup_vault_lock_configuration()
        .backup_vault_name("main")
        .min_retention_days(7)
        .send()
        .await
        .context("backup:PutBackupVaultLockConfiguration")?;
    aws.backup(US)
        .create_backup_vault()
        .backup_vault_name("dr")
        .send()
        .await
        .context("backup:CreateBackupVault dr")?;
    let vault_dr = arn("backup", US, "backup-vault:dr");
    backup
        .create_backup_plan()
        .backup_plan(
            BackupPlanInput::builder()
                .backup_plan_name("nightly")
                .rules(
                    BackupRuleInput::builder()
                        .rule_name("daily")
                        .target_backup_vault_name("main")
                        .lifecycle(Lifecycle::builder().delete_after_days(35).build())
                        .copy_actions(
                            CopyAction::builder()
                                .destination_backup_vault_arn(&vault_dr)
                                .build()?,
                        )
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await
        .context("backup:CreateBackupPlan")?;

    // CloudWatch Logs.
    let logs = aws.logs(EU);
    logs.create_log_group()
        .log_group_name("/app/payroll")
        .kms_key_id(&key_arn)
        .send()
        .await
        .context("logs:CreateLogGroup")?;
    logs.put_retention_policy()
        .log_group_name("/app/payroll")
        .retention_in_days(30)
        .send()
        .await
        .context("logs:PutRetentionPolicy")?;

    Ok(KindsEstate {
        key_arn,
        key_us_arn,
        db_encrypted: arn("rds", EU, "db:payroll"),
        db_plain,
        db_replica: arn("rds", US, "db:archive-replica"),
        cluster_writer: arn("rds", EU, "cluster:ledger-eu"),
        cluster_secondary: arn("rds", US, "cluster:ledger-us"),
        db_snapshot: arn("rds", EU, "snapshot:payroll-manual"),
        db_snapshot_copy: arn("rds", US, "snapshot:payroll-manual-us"),
        db_backup_copy: arn("rds", US, "auto-backup:ab-payroll0replica0us0east0example"),
        table_cmk: arn("dynamodb", EU, "table/cases"),
        table_owned: arn("dynamodb", US, "table/lookups"),
        table_replica: arn("dynamodb", US, "table/cases"),
        table_backup,
        volume_plain: arn("ec2", EU, &format!("volume/{plain_id}")),
        volume_cmk: arn("ec2", EU, &format!("volume/{cmk_id}")),
        volume_snapshot: arn("ec2", EU, &format!("snapshot/{snap_id}")),
        volume_snapshot_copy: arn("ec2", US, &format!("snapshot/{copy_id}")),
        file_system,
        file_system_replica,
        vault: arn("backup", EU, "backup-vault:main"),
        vault_dr,
        log_group: arn("logs", EU, "log-group:/app/payroll"),
    })
}
