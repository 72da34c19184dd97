//! The AWS provider's registry of calls: every operation it can make, what a failure of it
//! leaves unknown, and the IAM action that authorises it. The shipped least-privilege policy
//! (`deploy/policies/aws-agent-policy.json`) is checked against it.

use landmeter_proto::v1::FactTopic;

use crate::providers::Call;

/// Every API operation this provider can call, as `service:Operation`.
pub const AWS_CALLS: &[&Call] = &[
    GET_CALLER_IDENTITY,
    ASSUME_ROLE,
    LIST_ACCOUNTS,
    LIST_BUCKETS,
    HEAD_BUCKET,
    GET_BUCKET_LOCATION,
    GET_BUCKET_ENCRYPTION,
    GET_BUCKET_TAGGING,
    GET_BUCKET_REPLICATION,
    GET_OBJECT_LOCK,
    LIST_METRICS,
    GET_METRIC_DATA,
    LIST_ALIASES,
    DESCRIBE_KEY,
    DESCRIBE_CUSTOM_KEY_STORES,
    DESCRIBE_REGIONS,
    DESCRIBE_DB_INSTANCES,
    DESCRIBE_DB_CLUSTERS,
    DESCRIBE_GLOBAL_CLUSTERS,
    DESCRIBE_DB_SNAPSHOTS,
    DESCRIBE_DB_SNAPSHOT_ATTRIBUTES,
    DESCRIBE_DB_INSTANCE_AUTOMATED_BACKUPS,
    LIST_TABLES,
    DESCRIBE_TABLE,
    LIST_TAGS_OF_RESOURCE,
    DESCRIBE_CONTINUOUS_BACKUPS,
    LIST_BACKUPS,
    DESCRIBE_VOLUMES,
    DESCRIBE_SNAPSHOTS,
    DESCRIBE_SNAPSHOT_ATTRIBUTE,
    GET_EBS_ENCRYPTION_BY_DEFAULT,
    GET_EBS_DEFAULT_KMS_KEY_ID,
    DESCRIBE_FILE_SYSTEMS,
    DESCRIBE_REPLICATION_CONFIGURATIONS,
    LIST_BACKUP_VAULTS,
    LIST_RECOVERY_POINTS_BY_BACKUP_VAULT,
    LIST_BACKUP_PLANS,
    GET_BACKUP_PLAN,
    DESCRIBE_LOG_GROUPS,
];

const fn call(name: &'static str, topic: FactTopic, permissions: &'static [&'static str]) -> Call {
    Call {
        name,
        topic,
        permissions,
    }
}

// Who the agent is and which accounts it reaches: a failure leaves the account's listing
// unknown.
/// Needs no permission.
pub const GET_CALLER_IDENTITY: &Call = &call("sts:GetCallerIdentity", FactTopic::Listing, &[]);
pub const ASSUME_ROLE: &Call = &call("sts:AssumeRole", FactTopic::Listing, &["sts:AssumeRole"]);
pub const LIST_ACCOUNTS: &Call = &call(
    "organizations:ListAccounts",
    FactTopic::Listing,
    &["organizations:ListAccounts"],
);
// S3 (IAM action names differ from the API's).
pub const LIST_BUCKETS: &Call = &call(
    "s3:ListBuckets",
    FactTopic::Listing,
    &["s3:ListAllMyBuckets"],
);
pub const HEAD_BUCKET: &Call = &call("s3:HeadBucket", FactTopic::Location, &["s3:ListBucket"]);
pub const GET_BUCKET_LOCATION: &Call = &call(
    "s3:GetBucketLocation",
    FactTopic::Location,
    &["s3:GetBucketLocation"],
);
pub const GET_BUCKET_ENCRYPTION: &Call = &call(
    "s3:GetBucketEncryption",
    FactTopic::Encryption,
    &["s3:GetEncryptionConfiguration"],
);
pub const GET_BUCKET_TAGGING: &Call = &call(
    "s3:GetBucketTagging",
    FactTopic::Tags,
    &["s3:GetBucketTagging"],
);
pub const GET_BUCKET_REPLICATION: &Call = &call(
    "s3:GetBucketReplication",
    FactTopic::Replication,
    &["s3:GetReplicationConfiguration"],
);
pub const GET_OBJECT_LOCK: &Call = &call(
    "s3:GetObjectLockConfiguration",
    FactTopic::Retention,
    &["s3:GetBucketObjectLockConfiguration"],
);
// CloudWatch sizes.
pub const LIST_METRICS: &Call = &call(
    "cloudwatch:ListMetrics",
    FactTopic::Size,
    &["cloudwatch:ListMetrics"],
);
pub const GET_METRIC_DATA: &Call = &call(
    "cloudwatch:GetMetricData",
    FactTopic::Size,
    &["cloudwatch:GetMetricData"],
);
// KMS.
pub const LIST_ALIASES: &Call = &call("kms:ListAliases", FactTopic::Key, &["kms:ListAliases"]);
pub const DESCRIBE_KEY: &Call = &call("kms:DescribeKey", FactTopic::Key, &["kms:DescribeKey"]);
pub const DESCRIBE_CUSTOM_KEY_STORES: &Call = &call(
    "kms:DescribeCustomKeyStores",
    FactTopic::KeyStore,
    &["kms:DescribeCustomKeyStores"],
);

// Stores other than buckets (kinds/), per region. A failed listing leaves that kind's
// listing in that region unknown; the per-store calls leave one dimension unknown.
pub const DESCRIBE_REGIONS: &Call = &call(
    "ec2:DescribeRegions",
    FactTopic::Listing,
    &["ec2:DescribeRegions"],
);
pub const DESCRIBE_DB_INSTANCES: &Call = &call(
    "rds:DescribeDBInstances",
    FactTopic::Listing,
    &["rds:DescribeDBInstances"],
);
pub const DESCRIBE_DB_CLUSTERS: &Call = &call(
    "rds:DescribeDBClusters",
    FactTopic::Listing,
    &["rds:DescribeDBClusters"],
);
/// Aurora global databases: which clusters in other regions hold the same data.
pub const DESCRIBE_GLOBAL_CLUSTERS: &Call = &call(
    "rds:DescribeGlobalClusters",
    FactTopic::Replication,
    &["rds:DescribeGlobalClusters"],
);
pub const DESCRIBE_DB_SNAPSHOTS: &Call = &call(
    "rds:DescribeDBSnapshots",
    FactTopic::Listing,
    &["rds:DescribeDBSnapshots"],
);
pub const DESCRIBE_DB_SNAPSHOT_ATTRIBUTES: &Call = &call(
    "rds:DescribeDBSnapshotAttributes",
    FactTopic::Sharing,
    &["rds:DescribeDBSnapshotAttributes"],
);
/// Automated backups in this region, among them those replicated here from an instance in
/// another region (a backup copy with its own key).
pub const DESCRIBE_DB_INSTANCE_AUTOMATED_BACKUPS: &Call = &call(
    "rds:DescribeDBInstanceAutomatedBackups",
    FactTopic::Listing,
    &["rds:DescribeDBInstanceAutomatedBackups"],
);
pub const LIST_TABLES: &Call = &call(
    "dynamodb:ListTables",
    FactTopic::Listing,
    &["dynamodb:ListTables"],
);
/// The table's key and replicas come only from here.
pub const DESCRIBE_TABLE: &Call = &call(
    "dynamodb:DescribeTable",
    FactTopic::Encryption,
    &["dynamodb:DescribeTable"],
);
pub const LIST_TAGS_OF_RESOURCE: &Call = &call(
    "dynamodb:ListTagsOfResource",
    FactTopic::Tags,
    &["dynamodb:ListTagsOfResource"],
);
/// Point-in-time recovery of a table: continuous backups in the table's region.
pub const DESCRIBE_CONTINUOUS_BACKUPS: &Call = &call(
    "dynamodb:DescribeContinuousBackups",
    FactTopic::Replication,
    &["dynamodb:DescribeContinuousBackups"],
);
/// On-demand backups of the region's tables (each a store).
pub const LIST_BACKUPS: &Call = &call(
    "dynamodb:ListBackups",
    FactTopic::Listing,
    &["dynamodb:ListBackups"],
);
pub const DESCRIBE_VOLUMES: &Call = &call(
    "ec2:DescribeVolumes",
    FactTopic::Listing,
    &["ec2:DescribeVolumes"],
);
pub const DESCRIBE_SNAPSHOTS: &Call = &call(
    "ec2:DescribeSnapshots",
    FactTopic::Listing,
    &["ec2:DescribeSnapshots"],
);
pub const DESCRIBE_SNAPSHOT_ATTRIBUTE: &Call = &call(
    "ec2:DescribeSnapshotAttribute",
    FactTopic::Sharing,
    &["ec2:DescribeSnapshotAttribute"],
);
pub const GET_EBS_ENCRYPTION_BY_DEFAULT: &Call = &call(
    "ec2:GetEbsEncryptionByDefault",
    FactTopic::Setting,
    &["ec2:GetEbsEncryptionByDefault"],
);
pub const GET_EBS_DEFAULT_KMS_KEY_ID: &Call = &call(
    "ec2:GetEbsDefaultKmsKeyId",
    FactTopic::Setting,
    &["ec2:GetEbsDefaultKmsKeyId"],
);
pub const DESCRIBE_FILE_SYSTEMS: &Call = &call(
    "elasticfilesystem:DescribeFileSystems",
    FactTopic::Listing,
    &["elasticfilesystem:DescribeFileSystems"],
);
pub const DESCRIBE_REPLICATION_CONFIGURATIONS: &Call = &call(
    "elasticfilesystem:DescribeReplicationConfigurations",
    FactTopic::Replication,
    &["elasticfilesystem:DescribeReplicationConfigurations"],
);
pub const LIST_BACKUP_VAULTS: &Call = &call(
    "backup:ListBackupVaults",
    FactTopic::Listing,
    &["backup:ListBackupVaults"],
);
/// A vault's recovery points: their count and `BackupSizeInBytes` are the vault's size.
pub const LIST_RECOVERY_POINTS_BY_BACKUP_VAULT: &Call = &call(
    "backup:ListRecoveryPointsByBackupVault",
    FactTopic::Size,
    &["backup:ListRecoveryPointsByBackupVault"],
);
/// Plans name the copies (copy actions) and the deletion (lifecycle) of a vault's backups.
pub const LIST_BACKUP_PLANS: &Call = &call(
    "backup:ListBackupPlans",
    FactTopic::Replication,
    &["backup:ListBackupPlans"],
);
pub const GET_BACKUP_PLAN: &Call = &call(
    "backup:GetBackupPlan",
    FactTopic::Replication,
    &["backup:GetBackupPlan"],
);
pub const DESCRIBE_LOG_GROUPS: &Call = &call(
    "logs:DescribeLogGroups",
    FactTopic::Listing,
    &["logs:DescribeLogGroups"],
);

#[cfg(test)]
pub(crate) mod tests {
    //! The registry is complete and each call has one topic; the shipped IAM policy grants
    //! exactly what the registry needs, and nothing that reads data or uses a key.
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn every_call_has_a_topic_and_is_named_once() {
        crate::providers::check_registry(AWS_CALLS);
        let topic = |name: &str| {
            AWS_CALLS
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.topic)
                .unwrap_or_else(|| panic!("{name} not in the registry"))
        };
        // The topics the collector's map relies on (wire contract: Gap.topic).
        for (name, expected) in [
            ("s3:ListBuckets", FactTopic::Listing),
            ("s3:HeadBucket", FactTopic::Location),
            ("s3:GetBucketLocation", FactTopic::Location),
            ("s3:GetBucketEncryption", FactTopic::Encryption),
            ("s3:GetBucketTagging", FactTopic::Tags),
            ("s3:GetBucketReplication", FactTopic::Replication),
            ("s3:GetObjectLockConfiguration", FactTopic::Retention),
            ("cloudwatch:GetMetricData", FactTopic::Size),
            ("kms:DescribeKey", FactTopic::Key),
            ("kms:DescribeCustomKeyStores", FactTopic::KeyStore),
        ] {
            assert_eq!(topic(name), expected, "{name}");
        }
    }

    /// Actions that read object contents, use keys or read logs: never in the agent's policy.
    const DATA_ACTIONS: &[&str] = &[
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAttributes",
        "s3:ListBucketVersions",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
        "cloudtrail:LookupEvents",
    ];

    /// The shipped policy's statements: Sid -> actions. Every statement allows (no `Deny`,
    /// no `NotAction`).
    pub(crate) fn shipped_policy_statements() -> BTreeMap<String, BTreeSet<String>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/policies/aws-agent-policy.json"
        );
        let text = std::fs::read_to_string(path).expect("policy file");
        let policy: serde_json::Value = serde_json::from_str(&text).expect("policy is JSON");
        let mut statements = BTreeMap::new();
        for st in policy["Statement"].as_array().expect("statements") {
            assert_eq!(st["Effect"], "Allow");
            assert!(st.get("NotAction").is_none() && st.get("NotResource").is_none());
            let actions = match &st["Action"] {
                serde_json::Value::String(a) => BTreeSet::from([a.clone()]),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().expect("action").to_owned())
                    .collect(),
                other => panic!("unexpected Action {other}"),
            };
            let sid = st["Sid"].as_str().expect("every statement has a Sid");
            assert!(
                statements.insert(sid.to_owned(), actions).is_none(),
                "Sid {sid} twice"
            );
        }
        statements
    }

    /// Asserts that `granted` (by `what`) is exactly the registry's IAM actions: no wildcard,
    /// no action that reads data or uses a key.
    pub(crate) fn assert_grants_exactly_the_registry(
        what: &str,
        statements: &BTreeMap<String, BTreeSet<String>>,
    ) {
        let granted: BTreeSet<String> = statements.values().flatten().cloned().collect();
        let needed: BTreeSet<String> = AWS_CALLS
            .iter()
            .flat_map(|c| c.permissions.iter().map(|a| (*a).to_owned()))
            .collect();
        assert_eq!(granted, needed, "{what} and call registry differ");
        for a in &granted {
            assert!(!a.contains('*'), "{what}: wildcard action {a}");
            assert!(
                !DATA_ACTIONS.contains(&a.as_str()),
                "{what} grants data access: {a}"
            );
        }
    }

    #[test]
    fn shipped_policy_matches_the_call_registry() {
        assert_grants_exactly_the_registry("aws-agent-policy.json", &shipped_policy_statements());
    }
}
