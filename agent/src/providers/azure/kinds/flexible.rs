//! Azure Database for PostgreSQL and MySQL flexible servers (api-versions 2025-08-01 and
//! 2023-12-30; STORE-KINDS.md 9). One listing per engine holds everything: data encryption
//! (`SystemManaged` or a Key Vault key), geo-redundant backup (a copy in the region's pair,
//! under `geoBackupKeyURI` when set), and read replicas (`sourceServerResourceId`: the copy
//! names its source; the collector draws the edge from both sides).

use landmeter_proto::v1::{CopyKind, StoreKind};
use serde::Deserialize;

use super::{Resource, SERVICE_MYSQL, SERVICE_POSTGRESQL, arm_id, encrypted, gib, regions_by_id};
use crate::providers::Call;
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::sink::SinkClosed;

pub const POSTGRESQL_API: &str = "2025-08-01";
pub const MYSQL_API: &str = "2023-12-30";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    PostgreSql,
    MySql,
}

impl Engine {
    /// The name in `[azure] kinds`.
    pub(super) fn kind_name(self) -> &'static str {
        match self {
            Engine::PostgreSql => "postgresql",
            Engine::MySql => "mysql",
        }
    }

    fn call(self) -> &'static Call {
        match self {
            Engine::PostgreSql => calls::LIST_POSTGRESQL_SERVERS,
            Engine::MySql => calls::LIST_MYSQL_SERVERS,
        }
    }

    fn path(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Engine::PostgreSql => ("Microsoft.DBforPostgreSQL", POSTGRESQL_API, "PostgreSQL"),
            Engine::MySql => ("Microsoft.DBforMySQL", MYSQL_API, "MySQL"),
        }
    }
}

type FlexibleServer = Resource<FlexibleProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlexibleProperties {
    #[serde(default)]
    version: String,
    #[serde(default)]
    replication_role: String,
    #[serde(default)]
    source_server_resource_id: String,
    #[serde(default)]
    data_encryption: Option<DataEncryption>,
    #[serde(default)]
    backup: Option<Backup>,
    #[serde(default)]
    storage: Option<Storage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct DataEncryption {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default, rename = "primaryKeyURI")]
    primary_key_uri: String,
    #[serde(default, rename = "geoBackupKeyURI")]
    geo_backup_key_uri: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Backup {
    #[serde(default)]
    geo_redundant_backup: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Storage {
    #[serde(default, rename = "storageSizeGB")]
    storage_size_gb: Option<i64>,
}

impl Subscription<'_> {
    pub(super) async fn flexible_servers(&self, engine: Engine) -> Result<u64, SinkClosed> {
        let (namespace, api, engine_name) = engine.path();
        let call = engine.call();
        let servers: Vec<FlexibleServer> = self
            .list_kind(
                StoreKind::Database,
                call,
                &self.in_subscription(&format!("{namespace}/flexibleServers")),
                api,
            )
            .await?;
        self.sink.stores_found(servers.len() as u64);
        let regions = regions_by_id(&servers);
        let service = match engine {
            Engine::PostgreSql => SERVICE_POSTGRESQL,
            Engine::MySql => SERVICE_MYSQL,
        };
        for server in &servers {
            let p = &server.properties;
            let mut s = server.store(
                &self.ctx.provider,
                service,
                StoreKind::Database,
                "flexibleServers list location",
            );
            s.engine = if p.version.is_empty() {
                engine_name.to_owned()
            } else {
                format!("{engine_name} {}", p.version)
            };
            // Only a read replica names its source ("returned only when the target server
            // is a read replica").
            if !p.source_server_resource_id.is_empty() {
                let source = arm_id(&p.source_server_resource_id);
                s.copy_of_region = regions
                    .get(&source.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_default();
                s.copy_of = source;
                s.copy_kind = CopyKind::ReadReplica as i32;
            }
            let subject = s.name.clone();
            let region = s.region.clone();
            let de = p.data_encryption.clone().unwrap_or_default();
            let key = if de.kind.eq_ignore_ascii_case("AzureKeyVault") {
                de.primary_key_uri.as_str()
            } else {
                ""
            };
            let algorithm = if de.kind.is_empty() {
                "SystemManaged"
            } else {
                de.kind.as_str()
            };
            self.push_store(
                call,
                s,
                &server.tags,
                Some(encrypted(algorithm, key, false)),
            )
            .await?;
            if let Some(backup) = &p.backup {
                let rules = if backup.geo_redundant_backup.eq_ignore_ascii_case("Enabled") {
                    let mut rule = self.geo_copy(&subject, &region, "", "Enabled").await?;
                    rule.replica_key_ref = de.geo_backup_key_uri.clone();
                    vec![rule]
                } else {
                    Vec::new()
                };
                self.push_copies(&subject, call, rules).await?;
            }
            let allocated = p.storage.as_ref().and_then(|s| s.storage_size_gb).map(gib);
            self.push_allocated(&subject, call, allocated).await?;
            tracing::trace!(
                server = subject,
                role = p.replication_role,
                "flexible server"
            );
            self.sink.store_done();
        }
        Ok(servers.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_cmk_server() {
        // Trimmed from az-specs Microsoft.DBforPostgreSQL/stable/2025-08-01/examples/ServersListBySubscription.json.
        let json = r#"{"sku": {"name": "Standard_D4ds_v5", "tier": "GeneralPurpose"},
            "properties": {"storage": {"type": "", "iops": 500, "tier": "P10", "storageSizeGB": 128, "autoGrow": "Disabled"},
              "dataEncryption": {"primaryEncryptionKeyStatus": "Valid", "type": "AzureKeyVault",
                "primaryKeyURI": "https://examplekeyvault3.vault.azure.net/keys/examplekey/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
              "version": "17", "backup": {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"},
              "replicationRole": "Primary", "replicaCapacity": 5},
            "location": "eastus", "tags": {},
            "id": "/subscriptions/ffffffff-ffff-ffff-ffff-ffffffffffff/resourceGroups/exampleresourcegroup3/providers/Microsoft.DBforPostgreSQL/flexibleServers/exampleserver3",
            "name": "exampleserver3", "type": "Microsoft.DBforPostgreSQL/flexibleServers"}"#;
        let s: FlexibleServer = serde_json::from_str(json).expect("parses");
        let de = s.properties.data_encryption.expect("dataEncryption");
        assert_eq!(de.kind, "AzureKeyVault");
        assert!(de.primary_key_uri.starts_with("https://examplekeyvault3"));
        assert_eq!(
            s.properties.storage.and_then(|s| s.storage_size_gb),
            Some(128)
        );
    }
}
