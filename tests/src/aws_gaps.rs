//! Answers in the shapes of the AWS API reference for the calls moto 5.2 lacks or answers
//! wrongly, served as [`Rule`]s of the fault proxy in front of moto: a rule answers (or
//! completes moto's answer to) one operation, optionally in one region; every other request
//! reaches moto. This is the AWS counterpart of the ARM test server (`arm_server.rs`), which
//! answers Azure's calls in the shapes of Azure's official examples.
//!
//! | call | moto 5.2 | here |
//! |---|---|---|
//! | EFS `DescribeReplicationConfigurations` | 404 | [`efs_replication`]: answered whole |
//! | DynamoDB `DescribeTable` of a global table | no `Replicas` | [`dynamodb_replicas`]: added to moto's table |
//! | Backup `ListRecoveryPointsByBackupVault` | no route | [`backup_recovery_points`]: answered whole |
//! | EC2 `GetEbsDefaultKmsKeyId` | 500 | [`ebs_default_kms_key`]: answered whole |
//! | RDS `DescribeDBSnapshots` of a cross-region copy | no source fields | [`rds_snapshot_copy_source`]: added to moto's snapshot |
//! | RDS `DescribeDBInstanceAutomatedBackups` of a replicated backup | this region's own only, `DBInstanceIdentifier` and `Status` (no `StartDBInstanceAutomatedBackupsReplication`) | [`rds_backup_replication`]: the replicated backup added to moto's list |
//! | RDS `DescribeDBInstances`: `DBInstanceAutomatedBackupsReplications` | absent | [`rds_backup_replication`]: added to moto's instance |
//!
//! moto serves DynamoDB `DescribeContinuousBackups` and `ListBackups` as documented (one page,
//! `BackupSizeBytes` always 123), so they need no answer here.
//!
//! EC2 `DescribeSnapshots` documents no source field for a copied snapshot: "Snapshots
//! created by copying another snapshot have an arbitrary volume ID that should not be used
//! for any purpose" (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html>),
//! so there is nothing to answer for an EBS copy's source.
//!
//! Every member name below was checked against the operation's page in the AWS API reference
//! (cited per answer) and the Rust SDK's deserializer of the same model.

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::aws_kinds_estate::{EU, KindsEstate, US};
use crate::estate::MAIN_ACCOUNT;
use crate::fault_proxy::{Answer, Rule};

/// 2026-01-05T00:00:00Z: creation times in the answers (epoch seconds, the REST-JSON default).
const CREATED: i64 = 1_767_571_200;

/// An EFS replication configuration: one source, one destination (EFS supports one).
#[derive(Debug, Clone)]
pub struct EfsReplication {
    pub source_arn: String,
    pub source_region: String,
    pub destination_id: String,
    pub destination_region: String,
}

fn file_system_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// EFS `DescribeReplicationConfigurations` (GET /2015-02-01/file-systems/replication-configurations)
/// answering `replications`, in every region (each side of a configuration describes it).
/// Response syntax:
/// <https://docs.aws.amazon.com/efs/latest/ug/API_DescribeReplicationConfigurations.html>,
/// members of <https://docs.aws.amazon.com/efs/latest/ug/API_ReplicationConfigurationDescription.html>
/// and <https://docs.aws.amazon.com/efs/latest/ug/API_Destination.html>.
pub fn efs_replication(replications: &[EfsReplication]) -> Rule {
    let body = json!({
        "Replications": replications.iter().map(|r| json!({
            "SourceFileSystemId": file_system_id(&r.source_arn),
            "SourceFileSystemRegion": r.source_region,
            "SourceFileSystemArn": r.source_arn,
            "SourceFileSystemOwnerId": MAIN_ACCOUNT,
            "OriginalSourceFileSystemArn": r.source_arn,
            "CreationTime": CREATED,
            "Destinations": [{
                "Status": "ENABLED",
                "FileSystemId": r.destination_id,
                "Region": r.destination_region,
                "LastReplicatedTimestamp": CREATED + 3_600,
                "OwnerId": MAIN_ACCOUNT,
            }],
        })).collect::<Vec<_>>(),
    });
    Rule::any()
        .operation("elasticfilesystem:DescribeReplicationConfigurations")
        .respond(rest_json_ok(&body))
}

/// DynamoDB `DescribeTable` of `table`: moto's answer with `Replicas` (the table in every
/// other region of `regions`) and `GlobalTableVersion` 2019.11.21, as a global table's
/// describe answers. Response syntax:
/// <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeTable.html>,
/// `Replicas` in <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TableDescription.html>,
/// members of <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ReplicaDescription.html>
/// (no `ReplicaArn`: a same-account replica is named by its region).
pub fn dynamodb_replicas(table: &str, regions: &[&str]) -> Rule {
    let regions: Vec<String> = regions.iter().map(|r| (*r).to_owned()).collect();
    Rule::any()
        .operation("dynamodb:DescribeTable")
        .body_contains(&format!("\"{table}\""))
        .rewrite(move |req, answer| {
            let here = req.region();
            rewrite_json(answer, |v| {
                let Some(t) = v.get_mut("Table").and_then(Value::as_object_mut) else {
                    return;
                };
                t.insert("GlobalTableVersion".into(), json!("2019.11.21"));
                t.insert(
                    "Replicas".into(),
                    regions
                        .iter()
                        .filter(|r| **r != here)
                        .map(|r| {
                            json!({
                                "RegionName": r,
                                "ReplicaStatus": "ACTIVE",
                                "ReplicaTableClassSummary": {"TableClass": "STANDARD"},
                            })
                        })
                        .collect(),
                );
            })
        })
}

/// A recovery point of a vault: what it backs up and its `BackupSizeInBytes`.
#[derive(Debug, Clone)]
pub struct RecoveryPoint {
    pub resource_arn: String,
    /// `EFS`, `RDS`, `DynamoDB`, `EBS`, ...
    pub resource_type: &'static str,
    pub bytes: i64,
}

/// AWS Backup `ListRecoveryPointsByBackupVault` (GET /backup-vaults/{name}/recovery-points)
/// of the vault `vault_arn` in its region. Response syntax:
/// <https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListRecoveryPointsByBackupVault.html>,
/// members of <https://docs.aws.amazon.com/aws-backup/latest/devguide/API_RecoveryPointByBackupVault.html>.
pub fn backup_recovery_points(vault_arn: &str, key_arn: &str, points: &[RecoveryPoint]) -> Rule {
    let (region, name) = vault_region_and_name(vault_arn);
    let body = json!({
        "RecoveryPoints": points.iter().enumerate().map(|(i, p)| json!({
            "RecoveryPointArn": format!("arn:aws:backup:{region}:{MAIN_ACCOUNT}:recovery-point:1eb3b5e7-9eb0-435a-a80b-108b488b0d{i:02}"),
            "BackupVaultName": name,
            "BackupVaultArn": vault_arn,
            "ResourceArn": p.resource_arn,
            "ResourceType": p.resource_type,
            "CreatedBy": {"BackupPlanId": "8f1e2a3b-nightly", "BackupRuleId": "daily"},
            "IamRoleArn": format!("arn:aws:iam::{MAIN_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"),
            "Status": "COMPLETED",
            "CreationDate": CREATED + i64::try_from(i).unwrap_or_default() * 86_400,
            "CompletionDate": CREATED + i64::try_from(i).unwrap_or_default() * 86_400 + 600,
            "BackupSizeInBytes": p.bytes,
            "Lifecycle": {"DeleteAfterDays": 35},
            "EncryptionKeyArn": key_arn,
            "IsEncrypted": true,
        })).collect::<Vec<_>>(),
    });
    Rule::any()
        .operation("backup:ListRecoveryPointsByBackupVault")
        .region(&region)
        .path(&format!("/backup-vaults/{name}/recovery-points"))
        .respond(rest_json_ok(&body))
}

/// (region, name) of `arn:aws:backup:<region>:<account>:backup-vault:<name>`.
fn vault_region_and_name(arn: &str) -> (String, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    (
        parts.get(3).copied().unwrap_or_default().to_owned(),
        parts.last().copied().unwrap_or_default().to_owned(),
    )
}

/// EC2 `GetEbsDefaultKmsKeyId` in `region`: the default key for encryption by default.
/// Response elements `kmsKeyId` and `requestId`:
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html>.
pub fn ebs_default_kms_key(region: &str, key_arn: &str) -> Rule {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetEbsDefaultKmsKeyIdResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>5b9a7c1e-landmeter-gap</requestId><kmsKeyId>{key_arn}</kmsKeyId></GetEbsDefaultKmsKeyIdResponse>"
    );
    Rule::any()
        .operation("ec2:GetEbsDefaultKmsKeyId")
        .region(region)
        .respond(Answer::new(StatusCode::OK, "text/xml;charset=UTF-8", body))
}

/// RDS `DescribeDBSnapshots` in `region`: moto's answer with `SourceDBSnapshotIdentifier` (the
/// source's ARN) and `SourceRegion` on the snapshot `copy_id`, as AWS gives them for a
/// cross-region copy. Members of
/// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBSnapshot.html> ("It only
/// has a value in the case of a cross-account or cross-Region copy").
pub fn rds_snapshot_copy_source(
    region: &str,
    copy_id: &str,
    source_arn: &str,
    source_region: &str,
) -> Rule {
    let anchor = format!("<DBSnapshotIdentifier>{copy_id}</DBSnapshotIdentifier>");
    let fields = format!(
        "<SourceDBSnapshotIdentifier>{source_arn}</SourceDBSnapshotIdentifier><SourceRegion>{source_region}</SourceRegion>"
    );
    Rule::any()
        .operation("rds:DescribeDBSnapshots")
        .region(region)
        .rewrite(move |_, mut answer| {
            let text = answer.body_text().into_owned();
            if answer.status == StatusCode::OK && !text.contains("<SourceDBSnapshotIdentifier>") {
                answer.body = text
                    .replacen(&anchor, &format!("{anchor}{fields}"), 1)
                    .into();
            }
            answer
        })
}

/// An RDS instance's automated backups replicated to another region.
#[derive(Debug, Clone)]
pub struct RdsBackupReplication {
    /// The source instance (`arn:aws:rds:<source region>:…:db:<id>`).
    pub instance_arn: String,
    /// The replicated backups' ARN, in the destination region.
    pub backups_arn: String,
    /// Their key: a key of the destination region.
    pub key_arn: String,
    pub allocated_gib: i32,
}

impl RdsBackupReplication {
    fn source_region(&self) -> &str {
        self.instance_arn.split(':').nth(3).unwrap_or_default()
    }

    fn destination_region(&self) -> &str {
        self.backups_arn.split(':').nth(3).unwrap_or_default()
    }

    fn instance_id(&self) -> &str {
        self.instance_arn.rsplit(':').next().unwrap_or_default()
    }
}

/// Automated backups of an RDS instance replicated to another region
/// (`StartDBInstanceAutomatedBackupsReplication`, which moto lacks), as both sides show them:
/// - `DescribeDBInstances` in the source region: moto's answer with
///   `DBInstanceAutomatedBackupsReplications[].DBInstanceAutomatedBackupsArn` on the instance
///   (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstance.html>,
///   <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstanceAutomatedBackupsReplication.html>);
/// - `DescribeDBInstanceAutomatedBackups` in the destination region: moto's answer (this
///   region's own backups) plus the replicated one, with the members of
///   <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstanceAutomatedBackup.html>.
///   `Region` is the source instance's region and `DBInstanceArn` the source instance, as
///   the CLI reference's `stop-db-instance-automated-backups-replication` example shows for a
///   backup replicated from us-east-1 to us-west-2
///   (<https://docs.aws.amazon.com/cli/latest/reference/rds/stop-db-instance-automated-backups-replication.html>);
///   `KmsKeyId` a key of the destination region
///   (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StartDBInstanceAutomatedBackupsReplication.html>).
pub fn rds_backup_replication(r: &RdsBackupReplication) -> Vec<Rule> {
    let anchor = format!(
        "<DBInstanceIdentifier>{}</DBInstanceIdentifier>",
        r.instance_id()
    );
    let replications = format!(
        "<DBInstanceAutomatedBackupsReplications><DBInstanceAutomatedBackupsReplication><DBInstanceAutomatedBackupsArn>{}</DBInstanceAutomatedBackupsArn></DBInstanceAutomatedBackupsReplication></DBInstanceAutomatedBackupsReplications>",
        r.backups_arn
    );
    let on_instance = Rule::any()
        .operation("rds:DescribeDBInstances")
        .region(r.source_region())
        .rewrite(move |_, mut answer| {
            let text = answer.body_text().into_owned();
            if answer.status == StatusCode::OK
                && !text.contains("<DBInstanceAutomatedBackupsReplications>")
            {
                answer.body = text
                    .replacen(&anchor, &format!("{anchor}{replications}"), 1)
                    .into();
            }
            answer
        });
    let dbi_resource_id = format!("db-{}", r.instance_id().to_ascii_uppercase());
    let backup = format!(
        "<DBInstanceAutomatedBackup><DBInstanceArn>{instance}</DBInstanceArn><DbiResourceId>{dbi_resource_id}</DbiResourceId><Region>{source}</Region><DBInstanceIdentifier>{id}</DBInstanceIdentifier><RestoreWindow><EarliestTime>2026-01-05T00:10:00Z</EarliestTime><LatestTime>2026-01-12T00:05:00Z</LatestTime></RestoreWindow><AllocatedStorage>{gib}</AllocatedStorage><Status>replicating</Status><Port>5432</Port><InstanceCreateTime>2026-01-05T00:00:00Z</InstanceCreateTime><MasterUsername>admin</MasterUsername><Engine>postgres</Engine><EngineVersion>16.3</EngineVersion><LicenseModel>postgresql-license</LicenseModel><Encrypted>true</Encrypted><StorageType>gp2</StorageType><KmsKeyId>{key}</KmsKeyId><IAMDatabaseAuthenticationEnabled>false</IAMDatabaseAuthenticationEnabled><BackupRetentionPeriod>7</BackupRetentionPeriod><DBInstanceAutomatedBackupsArn>{arn}</DBInstanceAutomatedBackupsArn><TagList><Tag><Key>classification</Key><Value>BBN2</Value></Tag></TagList></DBInstanceAutomatedBackup>",
        instance = r.instance_arn,
        source = r.source_region(),
        id = r.instance_id(),
        gib = r.allocated_gib,
        key = r.key_arn,
        arn = r.backups_arn,
    );
    let in_destination = Rule::any()
        .operation("rds:DescribeDBInstanceAutomatedBackups")
        .region(r.destination_region())
        .rewrite(move |_, mut answer| {
            let text = answer.body_text().into_owned();
            if answer.status == StatusCode::OK && !text.contains(&backup) {
                let list = "<DBInstanceAutomatedBackups>";
                answer.body = if text.contains(list) {
                    text.replacen(list, &format!("{list}{backup}"), 1)
                } else {
                    // moto's empty list.
                    text.replacen(
                        "<DBInstanceAutomatedBackups/>",
                        &format!("{list}{backup}</DBInstanceAutomatedBackups>"),
                        1,
                    )
                }
                .into();
            }
            answer
        });
    vec![on_instance, in_destination]
}

/// An AWS Query-protocol (RDS, EC2-style XML) `AccessDenied`, as IAM denies a call: HTTP 403,
/// the `ErrorResponse` document of the Query API
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html>).
pub fn query_denied(action: &str) -> Answer {
    let body = format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::{MAIN_ACCOUNT}:assumed-role/landmeter-read/e2e is not authorized to perform: {action}</Message></Error><RequestId>landmeter-gap-denied</RequestId></ErrorResponse>"
    );
    Answer::new(StatusCode::FORBIDDEN, "text/xml", body)
}

/// A REST-JSON `AccessDeniedException` (EFS, AWS Backup), as IAM denies a call: the common
/// error of every AWS API, HTTP 400
/// (<https://docs.aws.amazon.com/aws-backup/latest/devguide/CommonErrors.html>), its type in
/// `x-amzn-ErrorType` and the message in the body.
pub fn rest_json_denied(action: &str) -> Answer {
    let message = format!(
        "User: arn:aws:sts::{MAIN_ACCOUNT}:assumed-role/landmeter-read/e2e is not authorized to perform: {action}"
    );
    Answer::new(
        StatusCode::BAD_REQUEST,
        "application/json",
        json!({ "message": message }).to_string(),
    )
    .with_header("x-amzn-errortype", "AccessDeniedException")
    .with_header("x-amzn-requestid", "landmeter-gap-denied")
}

/// The bytes of the estate's recovery points in its vault `main`.
pub const RECOVERY_POINT_BYTES: [i64; 2] = [1_500_000_000, 2_250_000_000];

/// The answers for the seeded estate: the file system replicated to [`US`], the table
/// `cases` a global table in [`EU`] and [`US`], two recovery points in the vault `main` (none
/// in `dr`), the
/// estate's key as the EBS default key in [`EU`] (where encryption by default is on), and the
/// source of the RDS snapshot copy in [`US`], and the encrypted RDS instance's automated
/// backups replicated to [`US`] under the estate's US key.
pub fn for_estate(e: &KindsEstate) -> Vec<Rule> {
    let mut rules = rds_backup_replication(&RdsBackupReplication {
        instance_arn: e.db_encrypted.clone(),
        backups_arn: e.db_backup_copy.clone(),
        key_arn: e.key_us_arn.clone(),
        allocated_gib: 20,
    });
    rules.extend([
        efs_replication(&[EfsReplication {
            source_arn: e.file_system.clone(),
            source_region: EU.to_owned(),
            destination_id: file_system_id(&e.file_system_replica).to_owned(),
            destination_region: US.to_owned(),
        }]),
        dynamodb_replicas("cases", &[EU, US]),
        backup_recovery_points(
            &e.vault,
            &e.key_arn,
            &[
                RecoveryPoint {
                    resource_arn: e.file_system.clone(),
                    resource_type: "EFS",
                    bytes: RECOVERY_POINT_BYTES[0],
                },
                RecoveryPoint {
                    resource_arn: e.db_encrypted.clone(),
                    resource_type: "RDS",
                    bytes: RECOVERY_POINT_BYTES[1],
                },
            ],
        ),
        // The US vault is empty: an empty listing, not a failed one.
        backup_recovery_points(&e.vault_dr, "", &[]),
        ebs_default_kms_key(EU, &e.key_arn),
        rds_snapshot_copy_source(
            US,
            e.db_snapshot_copy.rsplit(':').next().unwrap_or_default(),
            &e.db_snapshot,
            EU,
        ),
    ]);
    rules
}

/// A 200 REST-JSON answer.
fn rest_json_ok(body: &Value) -> Answer {
    Answer::new(StatusCode::OK, "application/json", body.to_string())
        .with_header("x-amzn-requestid", "landmeter-gap-answer")
}

/// Applies `f` to a JSON answer's body; other answers (errors, non-JSON) pass unchanged.
fn rewrite_json(mut answer: Answer, f: impl FnOnce(&mut Value)) -> Answer {
    if answer.status != StatusCode::OK {
        return answer;
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(&answer.body) {
        f(&mut v);
        answer.body = v.to_string().into();
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_arns_split_into_region_and_name() {
        assert_eq!(
            vault_region_and_name("arn:aws:backup:eu-west-1:123456789012:backup-vault:main"),
            ("eu-west-1".to_owned(), "main".to_owned())
        );
        assert_eq!(
            file_system_id("arn:aws:elasticfilesystem:eu-west-1:1:file-system/fs-0123abcd"),
            "fs-0123abcd"
        );
    }
}
