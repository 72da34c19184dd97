//! The ARM test server's store kinds beside storage accounts: managed disks, snapshots and
//! disk encryption sets, SQL servers and databases, PostgreSQL and MySQL flexible servers,
//! Cosmos DB accounts, Recovery Services and Backup vaults, file shares, and the
//! subscription's locations (paired regions).
//!
//! Shapes follow the official REST examples in Azure/azure-rest-api-specs, named at each
//! answer. Where no example file was found, the answer follows the spec's property names as
//! STORE-KINDS.md lists them (bicep-types), and says so.
//!
//! Only [`SUB_MAIN`] holds these stores; [`SUB_US`] has none; [`SUB_DENIED`] answers 403.
//! When the server is started without kinds, every kind answers an empty listing (the
//! storage-account tests see no other store).

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::arm_server::{
    ArmResponse, HSM_URI, SUB_DENIED, SUB_MAIN, VAULT_URI, arm_error, json_response,
};

const RG: &str = "rg-landmeter";

/// The resource id of `path` (`Microsoft.Compute/disks/x`) in the main subscription.
pub fn rid(path: &str) -> String {
    format!("/subscriptions/{SUB_MAIN}/resourceGroups/{RG}/providers/{path}")
}

pub const DISK_PLATFORM: &str = "Microsoft.Compute/disks/lm-disk-weu";
pub const DISK_CMK: &str = "Microsoft.Compute/disks/lm-disk-cmk";
pub const DISK_HSM: &str = "Microsoft.Compute/disks/lm-disk-hsm";
/// Encrypted through a set in a subscription the agent cannot read (its GET answers 403).
pub const DISK_FOREIGN_DES: &str = "Microsoft.Compute/disks/lm-disk-foreign-des";
pub const SNAP_WEU: &str = "Microsoft.Compute/snapshots/lm-snap-weu";
/// A `CopyStart` copy of [`SNAP_WEU`] in eastus.
pub const SNAP_US: &str = "Microsoft.Compute/snapshots/lm-snap-us";
pub const SQL_PAYROLL: &str = "Microsoft.Sql/servers/lm-sql-weu/databases/payroll";
pub const SQL_LEGACY: &str = "Microsoft.Sql/servers/lm-sql-weu/databases/legacy";
/// In the failover group [`SQL_FAILOVER_GROUP`] (primary), whose partner server
/// [`SQL_FAILOVER_PARTNER`] is in uksouth (outside the EU); no replication link names it.
pub const SQL_CASES: &str = "Microsoft.Sql/servers/lm-sql-cmk/databases/cases";
pub const SQL_FAILOVER_GROUP: &str = "Microsoft.Sql/servers/lm-sql-cmk/failoverGroups/lm-fog-cases";
/// Not in the server listing (another team's server): only the group names it.
pub const SQL_FAILOVER_PARTNER: &str = "Microsoft.Sql/servers/lm-sql-uk";
/// Its TDE read answers 403: custody unknown, never `none`.
pub const SQL_TDE_DENIED: &str = "Microsoft.Sql/servers/lm-sql-cmk/databases/audit";
/// The geo-secondary of [`SQL_PAYROLL`] (a replication link on both servers).
pub const SQL_PAYROLL_REPLICA: &str = "Microsoft.Sql/servers/lm-sql-us/databases/payroll";
pub const PG_PRIMARY: &str = "Microsoft.DBforPostgreSQL/flexibleServers/lm-pg-weu";
pub const PG_REPLICA: &str = "Microsoft.DBforPostgreSQL/flexibleServers/lm-pg-us-replica";
pub const MYSQL_HSM: &str = "Microsoft.DBforMySQL/flexibleServers/lm-mysql-se";
pub const COSMOS: &str = "Microsoft.DocumentDB/databaseAccounts/lm-cosmos";
pub const RSV_LOCKED: &str = "Microsoft.RecoveryServices/vaults/lm-rsv-weu";
/// Geo-redundant in a region without a pair: the copy's region is unknown.
pub const BV_UNPAIRED: &str = "Microsoft.DataProtection/backupVaults/lm-bv-pl";
pub const BV_REPLICATED: &str = "Microsoft.DataProtection/backupVaults/lm-bv-de";
/// Linked to a dedicated cluster whose key is in the Managed HSM; replicated.
pub const LOGS_CLUSTER: &str = "Microsoft.OperationalInsights/workspaces/lm-logs-weu";
pub const LOGS_PLAIN: &str = "Microsoft.OperationalInsights/workspaces/lm-logs-plain";
/// (storage account, share, quota GiB, used bytes).
pub const SHARES: &[(&str, &str, i64, i64)] = &[
    ("lmweuplatform", "records", 1024, 652_945),
    ("lmdehsm", "archive", 100, 42_000),
];
/// Bytes of a GiB, as ARM's GB sizes are meant.
pub const GIB: i64 = 1 << 30;

/// A database with a key of its own (`encryptionProtector`): its server's protector is
/// never read.
pub const SQL_DB_KEY: &str = "Microsoft.Sql/servers/lm-sql-dbkey/databases/ledger";

/// Each kind (as `[azure] kinds` names it; disks and snapshots share their key reads) with
/// its stores and the routes its scan sends.
pub fn kinds() -> Vec<(&'static str, Vec<String>, &'static [&'static str])> {
    let ids = |paths: &[&str]| paths.iter().map(|p| rid(p)).collect::<Vec<_>>();
    vec![
        (
            "disks+snapshots",
            ids(&[
                DISK_PLATFORM,
                DISK_CMK,
                DISK_HSM,
                DISK_FOREIGN_DES,
                SNAP_WEU,
                SNAP_US,
            ]),
            &[
                "Disks_List",
                "Snapshots_List",
                "DiskEncryptionSets_List",
                "DiskEncryptionSets_Get",
            ],
        ),
        (
            "sql",
            ids(&[
                SQL_PAYROLL,
                SQL_LEGACY,
                SQL_CASES,
                SQL_PAYROLL_REPLICA,
                SQL_TDE_DENIED,
                SQL_DB_KEY,
            ]),
            &[
                "Servers_List",
                "Databases_ListByServer",
                "ReplicationLinks_ListByServer",
                "FailoverGroups_ListByServer",
                "EncryptionProtectors_ListByServer",
                "TransparentDataEncryptions_Get",
            ],
        ),
        (
            "postgresql",
            ids(&[PG_PRIMARY, PG_REPLICA]),
            &["PostgreSqlFlexibleServers_List"],
        ),
        ("mysql", ids(&[MYSQL_HSM]), &["MySqlFlexibleServers_List"]),
        ("cosmosdb", ids(&[COSMOS]), &["DatabaseAccounts_List"]),
        (
            "recovery-services-vaults",
            ids(&[RSV_LOCKED]),
            &["Vaults_ListBySubscriptionId", "BackupStorageConfig_Get"],
        ),
        (
            "backup-vaults",
            ids(&[BV_UNPAIRED, BV_REPLICATED]),
            &["BackupVaults_GetInSubscription"],
        ),
        (
            "file-shares",
            SHARES.iter().map(|(a, s, _, _)| share_id(a, s)).collect(),
            &["FileShares_List", "FileShares_Get"],
        ),
        (
            "log-analytics",
            ids(&[LOGS_CLUSTER, LOGS_PLAIN]),
            &["Workspaces_List", "Clusters_List"],
        ),
    ]
}

/// Every kind's store ids (file shares included).
pub fn all_ids() -> Vec<String> {
    kinds().into_iter().flat_map(|(_, ids, _)| ids).collect()
}

pub fn share_id(account: &str, share: &str) -> String {
    rid(&format!(
        "Microsoft.Storage/storageAccounts/{account}/fileServices/default/shares/{share}"
    ))
}

fn list(value: Vec<Value>) -> ArmResponse {
    json_response(StatusCode::OK, &json!({ "value": value }))
}

fn denied(sub: &str, action: &str) -> ArmResponse {
    arm_error(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        &format!(
            "The client 'landmeter-e2e-client' with object id '0000' does not have authorization to perform action '{action}' over scope '/subscriptions/{sub}' or the scope is invalid."
        ),
    )
}

/// Builds the answer from the path's segments.
type Answer = fn(&[&str]) -> ArmResponse;

/// Routes a request for one of the kinds; `None` when the path is not a kinds route.
/// `kinds` false answers empty listings; `deny` names a route answered with 403.
pub fn route(
    kinds: bool,
    deny: Option<&str>,
    segments: &[&str],
) -> Option<(&'static str, ArmResponse)> {
    let (name, action, answer): (&'static str, &str, Answer) = match segments {
        ["subscriptions", _, "locations"] => (
            "Subscriptions_ListLocations",
            "Microsoft.Resources/subscriptions/locations/read",
            |_| locations(),
        ),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.Compute",
            "disks",
        ] => ("Disks_List", "Microsoft.Compute/disks/read", |_| disks()),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.Compute",
            "snapshots",
        ] => ("Snapshots_List", "Microsoft.Compute/snapshots/read", |_| {
            snapshots()
        }),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.Compute",
            "diskEncryptionSets",
        ] => (
            "DiskEncryptionSets_List",
            "Microsoft.Compute/diskEncryptionSets/read",
            |_| encryption_sets(),
        ),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Compute",
            "diskEncryptionSets",
            _,
        ] => (
            "DiskEncryptionSets_Get",
            "Microsoft.Compute/diskEncryptionSets/read",
            |_| {
                denied(
                    "44444444-4444-4444-8444-444444444444",
                    "Microsoft.Compute/diskEncryptionSets/read",
                )
            },
        ),
        ["subscriptions", _, "providers", "Microsoft.Sql", "servers"] => {
            ("Servers_List", "Microsoft.Sql/servers/read", |_| {
                sql_servers()
            })
        }
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Sql",
            "servers",
            _,
            "databases",
        ] => (
            "Databases_ListByServer",
            "Microsoft.Sql/servers/databases/read",
            |s| sql_databases(s[7]),
        ),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Sql",
            "servers",
            _,
            "encryptionProtector",
        ] => (
            "EncryptionProtectors_ListByServer",
            "Microsoft.Sql/servers/encryptionProtector/read",
            |s| sql_protector(s[7]),
        ),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Sql",
            "servers",
            _,
            "databases",
            _,
            "transparentDataEncryption",
            "current",
        ] => (
            "TransparentDataEncryptions_Get",
            "Microsoft.Sql/servers/databases/transparentDataEncryption/read",
            |s| sql_tde(s[7], s[9]),
        ),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.DBforPostgreSQL",
            "flexibleServers",
        ] => (
            "PostgreSqlFlexibleServers_List",
            "Microsoft.DBforPostgreSQL/flexibleServers/read",
            |_| postgresql(),
        ),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.DBforMySQL",
            "flexibleServers",
        ] => (
            "MySqlFlexibleServers_List",
            "Microsoft.DBforMySQL/flexibleServers/read",
            |_| mysql(),
        ),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.DocumentDB",
            "databaseAccounts",
        ] => (
            "DatabaseAccounts_List",
            "Microsoft.DocumentDB/databaseAccounts/read",
            |_| cosmos(),
        ),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.RecoveryServices",
            "vaults",
        ] => (
            "Vaults_ListBySubscriptionId",
            "Microsoft.RecoveryServices/vaults/read",
            |_| recovery_services_vaults(),
        ),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.RecoveryServices",
            "vaults",
            _,
            "backupstorageconfig",
            "vaultstorageconfig",
        ] => (
            "BackupStorageConfig_Get",
            "Microsoft.RecoveryServices/vaults/backupstorageconfig/read",
            |s| vault_storage_config(s[7]),
        ),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.DataProtection",
            "backupVaults",
        ] => (
            "BackupVaults_GetInSubscription",
            "Microsoft.DataProtection/backupVaults/read",
            |_| backup_vaults(),
        ),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Storage",
            "storageAccounts",
            _,
            "fileServices",
            "default",
            "shares",
        ] => (
            "FileShares_List",
            "Microsoft.Storage/storageAccounts/fileServices/shares/read",
            |s| file_shares(s[7]),
        ),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Storage",
            "storageAccounts",
            _,
            "fileServices",
            "default",
            "shares",
            _,
        ] => (
            "FileShares_Get",
            "Microsoft.Storage/storageAccounts/fileServices/shares/read",
            |s| file_share(s[7], s[11]),
        ),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.OperationalInsights",
            "workspaces",
        ] => (
            "Workspaces_List",
            "Microsoft.OperationalInsights/workspaces/read",
            |_| workspaces(),
        ),
        [
            "subscriptions",
            _,
            "providers",
            "Microsoft.OperationalInsights",
            "clusters",
        ] => (
            "Clusters_List",
            "Microsoft.OperationalInsights/clusters/read",
            |_| clusters(),
        ),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Sql",
            "servers",
            _,
            "replicationLinks",
        ] => (
            "ReplicationLinks_ListByServer",
            "Microsoft.Sql/servers/databases/replicationLinks/read",
            |s| sql_replication_links(s[7]),
        ),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Sql",
            "servers",
            _,
            "failoverGroups",
        ] => (
            "FailoverGroups_ListByServer",
            "Microsoft.Sql/servers/failoverGroups/read",
            |s| sql_failover_groups(s[7]),
        ),
        _ => return None,
    };
    let sub = segments.get(1).copied().unwrap_or_default();
    let response = if deny == Some(name) || (kinds && sub == SUB_DENIED) {
        denied(sub, action)
    } else if kinds && name == "DiskEncryptionSets_Get" {
        // The set lives in a subscription the identity cannot read.
        answer(segments)
    } else if !kinds || sub != SUB_MAIN {
        if name == "Subscriptions_ListLocations" {
            locations()
        } else {
            list(Vec::new())
        }
    } else {
        answer(segments)
    };
    Some((name, response))
}

/// Shape of az-specs Microsoft.Resources/stable/2022-12-01/examples/GetLocations.json, inside
/// `{"value": …}` as the spec's `LocationListResult` (the example file shows a bare array).
/// Pairs are Microsoft's; polandcentral has none.
fn locations() -> ArmResponse {
    let value: Vec<Value> = [
        ("westeurope", "West Europe", Some("northeurope")),
        ("northeurope", "North Europe", Some("westeurope")),
        (
            "germanywestcentral",
            "Germany West Central",
            Some("germanynorth"),
        ),
        ("eastus", "East US", Some("westus")),
        ("westus", "West US", Some("eastus")),
        ("swedencentral", "Sweden Central", Some("swedensouth")),
        ("uksouth", "UK South", Some("ukwest")),
        ("polandcentral", "Poland Central", None),
    ]
    .iter()
    .map(|(name, display, pair)| {
        let paired: Vec<Value> = pair
            .iter()
            .map(|p| json!({"name": p, "id": format!("/subscriptions/{SUB_MAIN}/locations/{p}")}))
            .collect();
        json!({
            "id": format!("/subscriptions/{SUB_MAIN}/locations/{name}"),
            "name": name, "type": "Region", "displayName": display,
            "regionalDisplayName": format!("(Europe) {display}"),
            "metadata": {"regionType": "Physical", "regionCategory": "Recommended",
                         "geographyGroup": "Europe", "pairedRegion": paired}
        })
    })
    .collect();
    list(value)
}

/// Shape of az-specs DiskRP/stable/2025-01-02/examples/diskExamples/Disk_ListBySubscription.json
/// (and snapshotExamples/Snapshot_ListBySubscription.json: the same properties).
fn disk(
    path: &str,
    location: &str,
    size_gb: i64,
    encryption: Value,
    creation: Value,
    tags: Value,
) -> Value {
    let kind = if path.contains("/snapshots/") {
        "Microsoft.Compute/snapshots"
    } else {
        "Microsoft.Compute/disks"
    };
    json!({
        "properties": {
            "osType": "Windows",
            "creationData": creation,
            "diskSizeGB": size_gb,
            "encryption": encryption,
            "timeCreated": "2016-12-28T04:41:35.9278721+00:00",
            "provisioningState": "Succeeded"
        },
        "type": kind,
        "location": location,
        "sku": {"name": "Premium_LRS", "tier": "Premium"},
        "tags": tags,
        "id": rid(path),
        "name": path.rsplit('/').next().unwrap_or_default()
    })
}

fn platform() -> Value {
    json!({"type": "EncryptionAtRestWithPlatformKey"})
}

fn disks() -> ArmResponse {
    // Set ids in another casing than the sets' own: ARM answers vary.
    let set = |name: &str| {
        format!(
            "/subscriptions/{SUB_MAIN}/resourceGroups/RG-LANDMETER/providers/Microsoft.Compute/diskEncryptionSets/{name}"
        )
    };
    list(vec![
        disk(
            DISK_PLATFORM,
            "westeurope",
            128,
            platform(),
            json!({"createOption": "Empty"}),
            json!({"classification": "BBN2"}),
        ),
        disk(
            DISK_CMK,
            "westeurope",
            256,
            json!({"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": set("des-vault")}),
            json!({"createOption": "Empty"}),
            json!({}),
        ),
        disk(
            DISK_HSM,
            "germanywestcentral",
            64,
            json!({"type": "EncryptionAtRestWithPlatformAndCustomerKeys", "diskEncryptionSetId": set("des-hsm")}),
            json!({"createOption": "Empty"}),
            json!({}),
        ),
        disk(
            DISK_FOREIGN_DES,
            "westeurope",
            32,
            json!({"type": "EncryptionAtRestWithCustomerKey",
                    "diskEncryptionSetId": "/subscriptions/44444444-4444-4444-8444-444444444444/resourceGroups/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/des-foreign"}),
            json!({"createOption": "Empty"}),
            json!({}),
        ),
    ])
}

fn snapshots() -> ArmResponse {
    // As in the example, the source id comes without its leading slash.
    let source = rid(DISK_PLATFORM).trim_start_matches('/').to_owned();
    list(vec![
        disk(
            SNAP_WEU,
            "westeurope",
            128,
            platform(),
            json!({"createOption": "Copy", "sourceResourceId": source}),
            json!({}),
        ),
        disk(
            SNAP_US,
            "eastus",
            128,
            platform(),
            json!({"createOption": "CopyStart", "sourceResourceId": rid(SNAP_WEU)}),
            json!({}),
        ),
    ])
}

/// Shape of az-specs …/diskEncryptionSetExamples/DiskEncryptionSet_ListBySubscription.json.
fn encryption_sets() -> ArmResponse {
    let set = |name: &str, kind: &str, key: &str| {
        json!({
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "activeKey": {
                    "sourceVault": {"id": rid("Microsoft.KeyVault/vaults/lm-vault")},
                    "keyUrl": key
                },
                "encryptionType": kind,
                "previousKeys": [],
                "provisioningState": "Succeeded"
            },
            "type": "Microsoft.Compute/diskEncryptionSets",
            "location": "westeurope",
            "tags": {},
            "id": rid(&format!("Microsoft.Compute/diskEncryptionSets/{name}")),
            "name": name
        })
    };
    list(vec![
        set(
            "des-vault",
            "EncryptionAtRestWithCustomerKey",
            &format!("{VAULT_URI}/keys/disk-key/6e1c4f3a0b2d4e5f8a9b0c1d2e3f4a5b"),
        ),
        set(
            "des-hsm",
            "EncryptionAtRestWithPlatformAndCustomerKeys",
            &format!("{HSM_URI}/keys/disk-hsm-key/7f2d5a4b1c3e4f6a9b0c1d2e3f4a5b6c"),
        ),
    ])
}

/// No `Servers_List` example file was found in the index; the shape follows bicep-types
/// sql 2025-01-01 `ServerProperties` (STORE-KINDS.md 8.1).
fn sql_servers() -> ArmResponse {
    let server = |name: &str, location: &str| {
        json!({
            "id": rid(&format!("Microsoft.Sql/servers/{name}")),
            "name": name, "type": "Microsoft.Sql/servers", "location": location, "kind": "v12.0",
            "tags": {},
            "properties": {"administratorLogin": "dbadmin", "version": "12.0", "state": "Ready",
                           "fullyQualifiedDomainName": format!("{name}.database.windows.net"),
                           "publicNetworkAccess": "Disabled"}
        })
    };
    list(vec![
        server("lm-sql-weu", "westeurope"),
        server("lm-sql-cmk", "westeurope"),
        server("lm-sql-us", "eastus"),
        server("lm-sql-dbkey", "westeurope"),
    ])
}

/// Shape of az-specs Microsoft.Sql/stable/2025-01-01/examples/ListVCoreDatabasesByServer.json
/// (`master` listed as a system database, as there), with `encryptionProtector` as in
/// GetVCoreDatabaseWithExpandEqualsKeys.json for the database with its own key.
/// lm-sql-cmk's database spells its location as a display name ("West Europe").
fn sql_databases(server: &str) -> ArmResponse {
    let db = |name: &str, location: &str, redundancy: &str, secondary: &str, tags: Value| {
        let mut d = json!({
            "sku": {"name": "BC_Gen4", "tier": "BusinessCritical", "capacity": 2},
            "kind": "v12.0,user,vcore",
            "properties": {
                "collation": "SQL_Latin1_General_CP1_CI_AS",
                "maxSizeBytes": 268_435_456_000_i64,
                "status": "Online",
                "databaseId": "6c764297-577b-470f-9af4-96d3d41e2ba3",
                "creationDate": "2017-06-07T04:41:33.937Z",
                "currentServiceObjectiveName": "BC_Gen4_2",
                "requestedServiceObjectiveName": "BC_Gen4_2",
                "defaultSecondaryLocation": secondary,
                "catalogCollation": "SQL_Latin1_General_CP1_CI_AS",
                "licenseType": "LicenseIncluded",
                "maxLogSizeBytes": 104_857_600,
                "isInfraEncryptionEnabled": false,
                "zoneRedundant": false,
                "readScale": "Enabled",
                "earliestRestoreDate": "2017-06-07T04:51:33.937Z",
                "currentSku": {"name": "BC_Gen4", "tier": "BusinessCritical", "capacity": 2},
                "currentBackupStorageRedundancy": redundancy,
                "requestedBackupStorageRedundancy": redundancy,
                "isLedgerOn": false
            },
            "location": location,
            "tags": tags,
            "id": rid(&format!("Microsoft.Sql/servers/{server}/databases/{name}")),
            "name": name,
            "type": "Microsoft.Sql/servers/databases"
        });
        if secondary.is_empty() {
            // Not stated: the agent takes the region's pair.
            if let Some(p) = d["properties"].as_object_mut() {
                p.remove("defaultSecondaryLocation");
            }
        }
        d
    };
    let master = json!({
        "sku": {"name": "System0", "tier": "System", "capacity": 0},
        "kind": "v12.0,system",
        "properties": {"collation": "SQL_Latin1_General_CP1_CI_AS", "maxSizeBytes": 32_212_254_720_i64,
                       "status": "Online", "currentServiceObjectiveName": "System0",
                       "defaultSecondaryLocation": "North Europe", "isInfraEncryptionEnabled": false,
                       "currentBackupStorageRedundancy": "Local", "requestedBackupStorageRedundancy": "Local"},
        "location": "westeurope",
        "id": rid(&format!("Microsoft.Sql/servers/{server}/databases/master")),
        "name": "master",
        "type": "Microsoft.Sql/servers/databases"
    });
    match server {
        "lm-sql-weu" => list(vec![
            master,
            db(
                "payroll",
                "westeurope",
                "Geo",
                "North Europe",
                json!({"classification": "BBN3"}),
            ),
            db("legacy", "westeurope", "Local", "North Europe", json!({})),
        ]),
        "lm-sql-cmk" => {
            let mut cases = db("cases", "West Europe", "Geo", "", json!({}));
            // DatabaseProperties.failoverGroupId (read-only; bicep-types sql 2025-01-01).
            cases["properties"]["failoverGroupId"] = json!(rid(SQL_FAILOVER_GROUP));
            list(vec![
                master,
                cases,
                db("audit", "westeurope", "Zone", "", json!({})),
            ])
        }
        "lm-sql-us" => list(vec![
            master,
            db("payroll", "eastus", "Local", "West US", json!({})),
        ]),
        "lm-sql-dbkey" => {
            let mut ledger = db("ledger", "westeurope", "Zone", "North Europe", json!({}));
            let key = format!("{VAULT_URI}/keys/ledger-key/0a1b2c3d4e5f60718293a4b5c6d7e8f9");
            ledger["properties"]["keys"] = json!({ key.clone(): {} });
            ledger["properties"]["encryptionProtector"] = json!(key);
            list(vec![master, ledger])
        }
        _ => list(Vec::new()),
    }
}

/// No `ReplicationLinks_ListByServer` example file was found in the index; the shape follows
/// bicep-types sql 2025-01-01 `ReplicationLinkProperties` (STORE-KINDS.md 8.2). Locations as
/// display names, as the SQL examples spell them.
fn sql_replication_links(server: &str) -> ArmResponse {
    let link = |db: &str, role: &str, partner: &str, partner_role: &str, location: &str| {
        let (partner_server, partner_db) = partner
            .rsplit_once("/databases/")
            .map(|(s, d)| (s.rsplit('/').next().unwrap_or_default(), d))
            .unwrap_or_default();
        json!({
            "id": rid(&format!("Microsoft.Sql/servers/{server}/databases/{db}/replicationLinks/5b301b68-03f6-4b26-b0f4-73ebb8634238")),
            "name": "5b301b68-03f6-4b26-b0f4-73ebb8634238",
            "type": "Microsoft.Sql/servers/databases/replicationLinks",
            "properties": {
                "partnerServer": partner_server, "partnerDatabase": partner_db,
                "partnerDatabaseId": rid(partner), "partnerLocation": location,
                "role": role, "partnerRole": partner_role, "linkType": "GEO",
                "replicationMode": "Async", "replicationState": "CATCH_UP",
                "isTerminationAllowed": true, "percentComplete": 100
            }
        })
    };
    match server {
        "lm-sql-weu" => list(vec![link(
            "payroll",
            "Primary",
            SQL_PAYROLL_REPLICA,
            "Secondary",
            "East US",
        )]),
        "lm-sql-us" => list(vec![link(
            "payroll",
            "Secondary",
            SQL_PAYROLL,
            "Primary",
            "West Europe",
        )]),
        _ => list(Vec::new()),
    }
}

/// Shape of az-specs Microsoft.Sql/…/examples/FailoverGroupList.json (`FailoverGroups_ListByServer`,
/// `FailoverGroupListResult`; the example as the 2023-02-01-preview file has it, the
/// properties the same in 2025-01-01 per bicep-types `FailoverGroupProperties`), with the
/// estate's names: lm-sql-cmk is the primary of one group holding `cases`, its partner
/// lm-sql-uk in "UK South". Other servers have none.
fn sql_failover_groups(server: &str) -> ArmResponse {
    if server != "lm-sql-cmk" {
        return list(Vec::new());
    }
    let partner = rid(SQL_FAILOVER_PARTNER);
    list(vec![json!({
        "location": "West Europe",
        "properties": {
            "readWriteEndpoint": {"failoverPolicy": "Automatic", "failoverWithDataLossGracePeriodMinutes": 480},
            "readOnlyEndpoint": {"failoverPolicy": "Disabled", "targetServer": partner},
            "replicationRole": "Primary",
            "replicationState": "CATCH_UP",
            "partnerServers": [{"id": partner, "location": "UK South", "replicationRole": "Secondary"}],
            "databases": [rid(SQL_CASES)]
        },
        "id": rid(SQL_FAILOVER_GROUP),
        "name": "lm-fog-cases",
        "type": "Microsoft.Sql/servers/failoverGroups"
    })])
}

/// Shape of az-specs Microsoft.Sql/stable/2025-01-01/examples/EncryptionProtectorList.json.
fn sql_protector(server: &str) -> ArmResponse {
    let (kind, key_type, name, uri) = if server == "lm-sql-cmk" {
        (
            "azurekeyvault",
            "AzureKeyVault",
            "lm-vault_sql-tde_01234567890123456789012345678901",
            format!("{VAULT_URI}/keys/sql-tde/01234567890123456789012345678901"),
        )
    } else {
        (
            "servicemanaged",
            "ServiceManaged",
            "ServiceManaged",
            String::new(),
        )
    };
    let mut properties = json!({"serverKeyName": name, "serverKeyType": key_type});
    if !uri.is_empty() {
        properties["uri"] = json!(uri);
    }
    list(vec![json!({
        "id": rid(&format!("Microsoft.Sql/servers/{server}/encryptionProtector/current")),
        "name": "current", "type": "Microsoft.Sql/servers/encryptionProtector",
        "location": "West Europe", "kind": kind, "properties": properties
    })])
}

/// Shape of az-specs Microsoft.Sql/stable/2025-01-01/examples/TransparentDataEncryptionGet.json.
fn sql_tde(server: &str, database: &str) -> ArmResponse {
    if database == "audit" {
        return denied(
            SUB_MAIN,
            "Microsoft.Sql/servers/databases/transparentDataEncryption/read",
        );
    }
    let state = if database == "legacy" {
        "Disabled"
    } else {
        "Enabled"
    };
    json_response(
        StatusCode::OK,
        &json!({
            "id": rid(&format!("Microsoft.Sql/servers/{server}/databases/{database}")),
            "name": "current",
            "type": "Microsoft.Sql/servers/databases/transparentDataEncryption",
            "properties": {"state": state, "scanState": "Suspend"}
        }),
    )
}

/// Shape of az-specs Microsoft.DBforPostgreSQL/stable/2025-08-01/examples/ServersListBySubscription.json.
fn flexible(
    path: &str,
    location: &str,
    version: &str,
    encryption: Value,
    geo_backup: &str,
    role: &str,
    source: Option<String>,
) -> Value {
    let size_gb = if path.contains("DBforMySQL") {
        100
    } else {
        512
    };
    let mut properties = json!({
        "replica": {"role": role, "capacity": 5},
        "storage": {"type": "", "iops": 500, "tier": "P10", "storageSizeGB": size_gb, "autoGrow": "Disabled"},
        "network": {"publicNetworkAccess": "Disabled"},
        "dataEncryption": encryption,
        "version": version,
        "administratorLogin": "exampleadministratorlogin",
        "state": "Ready",
        "backup": {"backupRetentionDays": 7, "geoRedundantBackup": geo_backup,
                   "earliestRestoreDate": "2025-06-01T18:35:22.123456Z"},
        "highAvailability": {"mode": "Disabled", "state": "NotEnabled"},
        "replicationRole": role
    });
    if let Some(s) = source {
        properties["sourceServerResourceId"] = json!(s);
    }
    let kind = path
        .rsplit_once("/flexibleServers/")
        .map_or("", |(ns, _)| ns);
    json!({
        "sku": {"name": "Standard_D4ds_v5", "tier": "GeneralPurpose"},
        "systemData": {"createdAt": "2025-06-01T18:30:22.123456Z"},
        "properties": properties,
        "location": location,
        "tags": {},
        "id": rid(path),
        "name": path.rsplit('/').next().unwrap_or_default(),
        "type": format!("{kind}/flexibleServers")
    })
}

fn postgresql() -> ArmResponse {
    list(vec![
        flexible(
            PG_PRIMARY,
            "westeurope",
            "17",
            json!({"type": "SystemManaged"}),
            "Enabled",
            "Primary",
            None,
        ),
        flexible(
            PG_REPLICA,
            "eastus",
            "17",
            json!({"primaryEncryptionKeyStatus": "Valid", "type": "AzureKeyVault",
                        "primaryKeyURI": format!("{VAULT_URI}/keys/pg-key/0a1b2c3d4e5f")}),
            "Disabled",
            "GeoAsyncReplica",
            Some(rid(PG_PRIMARY)),
        ),
    ])
}

/// No MySQL 2023-12-30 list example was found in the index; the shape follows the
/// PostgreSQL example with bicep-types mysql 2023-12-30 `ServerProperties` names.
fn mysql() -> ArmResponse {
    list(vec![flexible(
        MYSQL_HSM,
        "swedencentral",
        "8.0.21",
        json!({"type": "AzureKeyVault", "primaryKeyURI": format!("{HSM_URI}/keys/mysql-key/5e6f7a8b")}),
        "Disabled",
        "None",
        None,
    )])
}

/// Shape of az-specs Microsoft.DocumentDB/stable/2025-10-15/examples/CosmosDBDatabaseAccountList.json
/// (display-name locations, as there), with `keyVaultKeyUri` (bicep-types 2025-10-15).
fn cosmos() -> ArmResponse {
    let loc = |name: &str, region: &str, priority: i64| {
        json!({"id": format!("lm-cosmos-{region}"), "locationName": name,
               "documentEndpoint": format!("https://lm-cosmos-{region}.documents.azure.com:443/"),
               "provisioningState": "Succeeded", "failoverPriority": priority})
    };
    let locations = vec![
        loc("West Europe", "westeurope", 0),
        loc("East US", "eastus", 1),
    ];
    list(vec![json!({
        "id": rid(COSMOS), "name": "lm-cosmos", "location": "West Europe",
        "type": "Microsoft.DocumentDB/databaseAccounts", "kind": "GlobalDocumentDB", "tags": {},
        "properties": {
            "provisioningState": "Succeeded",
            "documentEndpoint": "https://lm-cosmos.documents.azure.com:443/",
            "databaseAccountOfferType": "Standard",
            "keyVaultKeyUri": format!("{VAULT_URI}/keys/cosmos-key"),
            "writeLocations": [locations[0].clone()],
            "readLocations": locations.clone(),
            "locations": locations,
            "failoverPolicies": [{"id": "lm-cosmos-westeurope", "locationName": "West Europe", "failoverPriority": 0},
                                 {"id": "lm-cosmos-eastus", "locationName": "East US", "failoverPriority": 1}],
            "enableMultipleWriteLocations": false,
            "defaultIdentity": "FirstPartyIdentity",
            "backupPolicy": {"type": "Periodic", "periodicModeProperties": {
                "backupIntervalInMinutes": 240, "backupRetentionIntervalInHours": 720,
                "backupStorageRedundancy": "Geo"}}
        },
        "identity": {"type": "SystemAssigned", "principalId": "52f4fef3-3c3f-4ff3-b52e-b5c9eeb68656",
                     "tenantId": "33e01921-4d64-4f8c-a055-5bdaffd5e33d"}
    })])
}

/// Shape of az-specs recoveryservices/…/stable/2025-08-01/examples/GETVault.json (the list
/// answers the same resource), with `encryption` (bicep-types 2025-08-01 `VaultProperties`).
/// It states `redundancySettings`, so the agent reads no backup storage config.
fn recovery_services_vaults() -> ArmResponse {
    list(vec![json!({
        "id": rid(RSV_LOCKED), "name": "lm-rsv-weu", "type": "Microsoft.RecoveryServices/vaults",
        "location": "westeurope", "tags": {}, "sku": {"name": "RS0", "tier": "Standard"},
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "provisioningState": "Succeeded",
            "redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant", "crossRegionRestore": "Enabled"},
            "encryption": {"keyVaultProperties": {"keyUri": format!("{VAULT_URI}/keys/rsv-key")},
                           "kekIdentity": {"useSystemAssignedIdentity": true},
                           "infrastructureEncryption": "Enabled"},
            "securitySettings": {"immutabilitySettings": {"state": "Locked"},
                                 "softDeleteSettings": {"softDeleteState": "Enabled", "softDeleteRetentionPeriodInDays": 14}}
        }
    })])
}

/// Shape of az-specs recoveryservicesbackup …/stable/2025-02-01/examples/Common/BackupStorageConfig_Get.json.
fn vault_storage_config(vault: &str) -> ArmResponse {
    json_response(
        StatusCode::OK,
        &json!({
            "id": rid(&format!("Microsoft.RecoveryServices/vaults/{vault}/backupstorageconfig/vaultstorageconfig")),
            "name": "vaultstorageconfig",
            "type": "Microsoft.RecoveryServices/vaults/backupstorageconfig",
            "properties": {"storageModelType": "GeoRedundant", "storageType": "GeoRedundant", "storageTypeState": "Locked"}
        }),
    )
}

/// Shape of az-specs Microsoft.DataProtection/stable/2025-07-01/examples/VaultCRUD/GetBackupVaultsInSubscription.json,
/// with `replicatedRegions` and `immutabilitySettings` (bicep-types 2025-07-01).
fn backup_vaults() -> ArmResponse {
    let vault = |path: &str, location: &str, replicated: Value, immutability: &str| {
        json!({
            "identity": {"type": "None"},
            "id": rid(path),
            "name": path.rsplit('/').next().unwrap_or_default(),
            "type": "Microsoft.DataProtection/BackupVaults",
            "location": location,
            "tags": {},
            "properties": {
                "provisioningState": "Succeeded",
                "storageSettings": [{"datastoreType": "VaultStore", "type": "GeoRedundant"}],
                "replicatedRegions": replicated,
                "featureSettings": {"crossRegionRestoreSettings": {"state": "Enabled"}},
                "securitySettings": {
                    "softDeleteSettings": {"state": "Enabled", "retentionDurationInDays": 14},
                    "immutabilitySettings": {"state": immutability}
                },
                "secureScore": "Adequate",
                "bcdrSecurityLevel": "Good"
            }
        })
    };
    list(vec![
        vault(BV_UNPAIRED, "polandcentral", json!([]), "Unlocked"),
        vault(
            BV_REPLICATED,
            "germanywestcentral",
            json!(["germanynorth"]),
            "Disabled",
        ),
    ])
}

/// Shape of az-specs Microsoft.Storage/stable/2025-06-01/examples/FileSharesList.json.
fn file_shares(account: &str) -> ArmResponse {
    list(
        SHARES
            .iter()
            .filter(|(a, ..)| *a == account)
            .map(|(a, share, quota, _)| {
                json!({
                    "id": share_id(a, share), "name": share,
                    "type": "Microsoft.Storage/storageAccounts/fileServices/shares",
                    "etag": "\"0x8D589847D51C7DE\"",
                    "properties": {"lastModifiedTime": "2019-05-14T08:20:47Z", "shareQuota": quota}
                })
            })
            .collect(),
    )
}

/// Shape of az-specs Microsoft.Storage/stable/2025-06-01/examples/FileSharesGet_Stats.json.
fn file_share(account: &str, share: &str) -> ArmResponse {
    let Some((a, s, quota, used)) = SHARES
        .iter()
        .find(|(a, s, ..)| *a == account && *s == share)
    else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ShareNotFound",
            "The specified share does not exist.",
        );
    };
    json_response(
        StatusCode::OK,
        &json!({
            "id": share_id(a, s), "name": s,
            "type": "Microsoft.Storage/storageAccounts/fileServices/shares",
            "etag": "\"0x8D592D74CC20EBA\"",
            "properties": {"lastModifiedTime": "2019-05-26T05:06:14Z", "shareQuota": quota, "shareUsageBytes": used}
        }),
    )
}

/// Shape of az-specs Microsoft.OperationalInsights/…/stable/2025-02-01/examples/WorkspacesGet.json,
/// with `features.clusterResourceId` (bicep-types 2025-02-01).
fn workspaces() -> ArmResponse {
    let workspace = |path: &str, retention: i64, cluster: bool, replication: Value| {
        let mut properties = json!({
            "customerId": "5b02755b-5bf4-430c-9487-45502a2a7e62",
            "provisioningState": "Succeeded",
            "sku": {"name": "PerGB2018"},
            "retentionInDays": retention,
            "publicNetworkAccessForQuery": "Enabled",
            "publicNetworkAccessForIngestion": "Enabled",
            "replication": replication
        });
        if cluster {
            properties["features"] = json!({
                "clusterResourceId": rid("Microsoft.OperationalInsights/clusters/lm-cluster")
            });
        }
        json!({
            "properties": properties,
            "id": rid(path),
            "name": path.rsplit('/').next().unwrap_or_default(),
            "type": "Microsoft.OperationalInsights/workspaces",
            "location": "westeurope",
            "tags": {}
        })
    };
    list(vec![
        workspace(
            LOGS_CLUSTER,
            90,
            true,
            json!({"location": "northeurope", "enabled": true,
            "provisioningState": "Succeeded", "createdDate": "2020-07-04T07:35:51Z"}),
        ),
        workspace(LOGS_PLAIN, 30, false, json!({"enabled": false})),
    ])
}

/// Shape of az-specs …/stable/2025-02-01/examples/ClustersSubscriptionList.json (ids in
/// lowercase, as there).
fn clusters() -> ArmResponse {
    list(vec![json!({
        "properties": {
            "keyVaultProperties": {"keyVaultUri": HSM_URI, "keyName": "logs-key", "keyVersion": "654ft6c4e63845cbb50fd6fg51540429"},
            "provisioningState": "Succeeded",
            "clusterId": "5b02755b-5bf4-430c-9487-45502a2a7e62",
            "isDoubleEncryptionEnabled": true
        },
        "sku": {"name": "CapacityReservation", "capacity": 1000},
        "id": rid("Microsoft.OperationalInsights/clusters/lm-cluster").to_ascii_lowercase(),
        "identity": {"principalId": "356d057d-cba5-44dd-8a30-b2e547bc416b", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "type": "SystemAssigned"},
        "name": "lm-cluster",
        "type": "Microsoft.OperationalInsights/clusters",
        "location": "westeurope"
    })])
}
