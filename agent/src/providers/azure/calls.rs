//! The Azure provider's registry of calls, as `plane:OperationId`: what a failure of each
//! leaves unknown, and the Azure RBAC actions (and data actions, `…/action`) that authorise
//! it. The custom role in `deploy/policies/azure-agent-role.json` is checked against it.

use landmeter_proto::v1::FactTopic;

use crate::providers::Call;

/// Every call this provider makes.
pub const AZURE_CALLS: &[&Call] = &[
    LIST_SUBSCRIPTIONS,
    LIST_STORAGE_ACCOUNTS,
    LIST_ENCRYPTION_SCOPES,
    LIST_VAULTS,
    LIST_MANAGED_HSMS,
    GET_KEY,
    GET_MANAGED_HSM_KEY,
    GET_METRICS,
    GET_BLOB_TIER_METRICS,
    LIST_CONTAINERS,
    LIST_LOCATIONS,
    LIST_DISKS,
    LIST_SNAPSHOTS,
    LIST_DISK_ENCRYPTION_SETS,
    GET_DISK_ENCRYPTION_SET,
    LIST_SQL_SERVERS,
    LIST_SQL_DATABASES,
    LIST_SQL_ENCRYPTION_PROTECTORS,
    GET_SQL_TDE,
    LIST_SQL_REPLICATION_LINKS,
    LIST_SQL_FAILOVER_GROUPS,
    LIST_POSTGRESQL_SERVERS,
    LIST_MYSQL_SERVERS,
    LIST_COSMOSDB_ACCOUNTS,
    LIST_RECOVERY_SERVICES_VAULTS,
    GET_VAULT_STORAGE_CONFIG,
    LIST_BACKUP_VAULTS,
    LIST_FILE_SHARES,
    GET_FILE_SHARE_STATS,
    LIST_LOG_ANALYTICS_WORKSPACES,
    LIST_LOG_ANALYTICS_CLUSTERS,
];

pub const LIST_SUBSCRIPTIONS: &Call = &Call {
    name: "arm:Subscriptions_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.Resources/subscriptions/read"],
};
/// The account listing also carries each account's location, tags and encryption, so only a
/// failed listing leaves anything unknown: the subscription's stores.
pub const LIST_STORAGE_ACCOUNTS: &Call = &Call {
    name: "arm:StorageAccounts_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.Storage/storageAccounts/read"],
};
pub const LIST_ENCRYPTION_SCOPES: &Call = &Call {
    name: "arm:EncryptionScopes_List",
    topic: FactTopic::Encryption,
    permissions: &["Microsoft.Storage/storageAccounts/encryptionScopes/read"],
};
/// Read only to find the vault a key URI names: a failure leaves those keys undescribed.
pub const LIST_VAULTS: &Call = &Call {
    name: "arm:Vaults_ListBySubscription",
    topic: FactTopic::Key,
    permissions: &["Microsoft.KeyVault/vaults/read"],
};
/// A Managed HSM is a single-tenant key store: a failure leaves it undescribed.
pub const LIST_MANAGED_HSMS: &Call = &Call {
    name: "arm:ManagedHsms_ListBySubscription",
    topic: FactTopic::KeyStore,
    permissions: &["Microsoft.KeyVault/managedHSMs/read"],
};
pub const GET_KEY: &Call = &Call {
    name: "arm:Keys_Get",
    topic: FactTopic::Key,
    permissions: &["Microsoft.KeyVault/vaults/keys/read"],
};
/// A Managed HSM key read through ARM may also be checked against the HSM's local RBAC,
/// hence its data action.
pub const GET_MANAGED_HSM_KEY: &Call = &Call {
    name: "arm:ManagedHsmKeys_Get",
    topic: FactTopic::Key,
    permissions: &[
        "Microsoft.KeyVault/managedHSMs/keys/read",
        "Microsoft.KeyVault/managedHsm/keys/read/action",
    ],
};
pub const GET_METRICS: &Call = &Call {
    name: "monitor:Metrics_List",
    topic: FactTopic::Size,
    permissions: &["Microsoft.Insights/metrics/read"],
};
/// Blob capacity split by access tier (Hot, Cool, Cold, Archive): the bytes that must be
/// rehydrated before they can leave. The account's default tier says nothing about blobs
/// moved to Archive one by one.
pub const GET_BLOB_TIER_METRICS: &Call = &Call {
    name: "monitor:Metrics_List(BlobCapacity by Tier)",
    topic: FactTopic::Size,
    permissions: &["Microsoft.Insights/metrics/read"],
};
/// The container listing is the stores under an account (their metadata and immutability
/// come with it).
pub const LIST_CONTAINERS: &Call = &Call {
    name: "blob:ListContainers",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.Storage/storageAccounts/blobServices/containers/read"],
};

/// The subscription's regions and their pairs: where a geo-redundant copy that names no
/// region lives. A failure leaves those copies' regions unknown.
pub const LIST_LOCATIONS: &Call = &Call {
    name: "arm:Subscriptions_ListLocations",
    topic: FactTopic::Replication,
    permissions: &["Microsoft.Resources/subscriptions/locations/read"],
};
/// Managed disks carry their location, size and encryption type: only the listing can fail.
pub const LIST_DISKS: &Call = &Call {
    name: "arm:Disks_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.Compute/disks/read"],
};
pub const LIST_SNAPSHOTS: &Call = &Call {
    name: "arm:Snapshots_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.Compute/snapshots/read"],
};
/// A disk encrypted with a customer key names a disk encryption set; the set names the key.
pub const LIST_DISK_ENCRYPTION_SETS: &Call = &Call {
    name: "arm:DiskEncryptionSets_List",
    topic: FactTopic::Encryption,
    permissions: &["Microsoft.Compute/diskEncryptionSets/read"],
};
/// A set not in the subscription's listing (another subscription, or a failed listing).
pub const GET_DISK_ENCRYPTION_SET: &Call = &Call {
    name: "arm:DiskEncryptionSets_Get",
    topic: FactTopic::Encryption,
    permissions: &["Microsoft.Compute/diskEncryptionSets/read"],
};
pub const LIST_SQL_SERVERS: &Call = &Call {
    name: "arm:Servers_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.Sql/servers/read"],
};
/// The databases of one logical server: a failure leaves that server's databases unlisted.
pub const LIST_SQL_DATABASES: &Call = &Call {
    name: "arm:Databases_ListByServer",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.Sql/servers/databases/read"],
};
/// The server's TDE protector: service-managed or a Key Vault key.
pub const LIST_SQL_ENCRYPTION_PROTECTORS: &Call = &Call {
    name: "arm:EncryptionProtectors_ListByServer",
    topic: FactTopic::Encryption,
    permissions: &["Microsoft.Sql/servers/encryptionProtector/read"],
};
/// Whether a database is encrypted at rest at all (TDE can be disabled).
pub const GET_SQL_TDE: &Call = &Call {
    name: "arm:TransparentDataEncryptions_Get",
    topic: FactTopic::Encryption,
    permissions: &["Microsoft.Sql/servers/databases/transparentDataEncryption/read"],
};
/// The server's geo-replication links: which databases have readable copies, and where.
pub const LIST_SQL_REPLICATION_LINKS: &Call = &Call {
    name: "arm:ReplicationLinks_ListByServer",
    topic: FactTopic::Replication,
    permissions: &["Microsoft.Sql/servers/databases/replicationLinks/read"],
};
/// A server's failover groups: their partner servers' locations hold copies of the group's
/// databases. Read only for a server with a database in a group.
pub const LIST_SQL_FAILOVER_GROUPS: &Call = &Call {
    name: "arm:FailoverGroups_ListByServer",
    topic: FactTopic::Replication,
    permissions: &["Microsoft.Sql/servers/failoverGroups/read"],
};
pub const LIST_POSTGRESQL_SERVERS: &Call = &Call {
    name: "arm:PostgreSqlFlexibleServers_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.DBforPostgreSQL/flexibleServers/read"],
};
pub const LIST_MYSQL_SERVERS: &Call = &Call {
    name: "arm:MySqlFlexibleServers_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.DBforMySQL/flexibleServers/read"],
};
/// Cosmos DB accounts carry their key, regions and backup redundancy (no `listKeys`).
pub const LIST_COSMOSDB_ACCOUNTS: &Call = &Call {
    name: "arm:DatabaseAccounts_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.DocumentDB/databaseAccounts/read"],
};
pub const LIST_RECOVERY_SERVICES_VAULTS: &Call = &Call {
    name: "arm:Vaults_ListBySubscriptionId",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.RecoveryServices/vaults/read"],
};
/// The vault's backup storage redundancy as stored (authoritative over the vault's
/// `redundancySettings`): whether a copy lives in the paired region.
pub const GET_VAULT_STORAGE_CONFIG: &Call = &Call {
    name: "arm:BackupResourceStorageConfigsNonCRR_Get",
    topic: FactTopic::Replication,
    permissions: &["Microsoft.RecoveryServices/vaults/backupstorageconfig/read"],
};
pub const LIST_BACKUP_VAULTS: &Call = &Call {
    name: "arm:BackupVaults_GetInSubscription",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.DataProtection/backupVaults/read"],
};
/// The file shares of one storage account: a failure leaves that account's shares unlisted.
pub const LIST_FILE_SHARES: &Call = &Call {
    name: "arm:FileShares_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.Storage/storageAccounts/fileServices/shares/read"],
};
/// One share with `$expand=stats`: its used bytes (the listing gives only the quota).
pub const GET_FILE_SHARE_STATS: &Call = &Call {
    name: "arm:FileShares_Get(stats)",
    topic: FactTopic::Size,
    permissions: &["Microsoft.Storage/storageAccounts/fileServices/shares/read"],
};

/// Workspaces carry their retention, replication and linked cluster.
pub const LIST_LOG_ANALYTICS_WORKSPACES: &Call = &Call {
    name: "arm:Workspaces_List",
    topic: FactTopic::Listing,
    permissions: &["Microsoft.OperationalInsights/workspaces/read"],
};
/// Read only when a workspace is linked to a dedicated cluster: the cluster holds the key.
pub const LIST_LOG_ANALYTICS_CLUSTERS: &Call = &Call {
    name: "arm:Clusters_List",
    topic: FactTopic::Encryption,
    permissions: &["Microsoft.OperationalInsights/clusters/read"],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_has_a_topic_and_is_named_once() {
        crate::providers::check_registry(AZURE_CALLS);
        for (call, expected) in [
            (LIST_CONTAINERS, FactTopic::Listing),
            (LIST_ENCRYPTION_SCOPES, FactTopic::Encryption),
            (GET_METRICS, FactTopic::Size),
            (GET_KEY, FactTopic::Key),
            (LIST_MANAGED_HSMS, FactTopic::KeyStore),
            (LIST_DISKS, FactTopic::Listing),
            (GET_SQL_TDE, FactTopic::Encryption),
            (GET_DISK_ENCRYPTION_SET, FactTopic::Encryption),
            (GET_VAULT_STORAGE_CONFIG, FactTopic::Replication),
            (LIST_SQL_FAILOVER_GROUPS, FactTopic::Replication),
        ] {
            assert_eq!(call.topic, expected, "{call}");
        }
        for call in AZURE_CALLS {
            assert!(!call.permissions.is_empty(), "{call} has no RBAC action");
        }
    }
}

#[cfg(test)]
pub(crate) mod policy_tests {
    //! The shipped custom role grants exactly what the call registry needs, read-only.
    use super::AZURE_CALLS;
    use std::collections::BTreeSet;

    /// The shipped role's `actions` and `dataActions` (it has no `notActions` or
    /// `notDataActions`).
    pub(crate) fn shipped_role_permissions() -> (BTreeSet<String>, BTreeSet<String>) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/policies/azure-agent-role.json"
        );
        let text = std::fs::read_to_string(path).expect("role file");
        let role: serde_json::Value = serde_json::from_str(&text).expect("role is JSON");
        let props = &role["properties"];
        assert_eq!(props["type"], "CustomRole");
        let (mut actions, mut data_actions) = (BTreeSet::new(), BTreeSet::new());
        for p in props["permissions"].as_array().expect("permissions") {
            for (field, set) in [
                ("actions", &mut actions),
                ("dataActions", &mut data_actions),
            ] {
                for a in p[field].as_array().expect(field) {
                    set.insert(a.as_str().expect("action").to_owned());
                }
            }
            for field in ["notActions", "notDataActions"] {
                assert!(p[field].as_array().is_none_or(|a| a.is_empty()), "{field}");
            }
        }
        (actions, data_actions)
    }

    /// Every RBAC action (and data action) the registry needs.
    pub(crate) fn registry_permissions() -> BTreeSet<String> {
        AZURE_CALLS
            .iter()
            .flat_map(|c| c.permissions.iter().map(|a| (*a).to_owned()))
            .collect()
    }

    /// Asserts that every action `what` grants reads metadata: no wildcard, no data or key
    /// material.
    pub(crate) fn assert_read_only<'a>(what: &str, granted: impl IntoIterator<Item = &'a String>) {
        for a in granted {
            assert!(!a.contains('*'), "{what}: wildcard action {a}");
            assert!(
                a.ends_with("/read") || a.ends_with("/read/action"),
                "{what}: not a read action: {a}"
            );
            assert!(
                !a.contains("/blobs/") && !a.contains("listKeys") && !a.contains("/secrets/"),
                "{what} grants data or key material access: {a}"
            );
        }
    }

    #[test]
    fn shipped_role_matches_the_call_registry() {
        let (actions, data_actions) = shipped_role_permissions();
        let granted: BTreeSet<String> = actions.union(&data_actions).cloned().collect();
        assert_eq!(
            granted,
            registry_permissions(),
            "role and call registry differ"
        );
        assert_read_only("azure-agent-role.json", &granted);
    }
}
