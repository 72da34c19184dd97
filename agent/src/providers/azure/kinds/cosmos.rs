//! Azure Cosmos DB accounts (Microsoft.DocumentDB, api-version 2025-10-15; STORE-KINDS.md 10).
//! One listing; nothing per account. Every region in `locations[]` holds a full replica
//! (multi-region copies); the store's region is the write region (`failoverPriority` 0; the
//! top-level `location` is the resource group's). Periodic backups kept `Geo` are a copy in
//! the write region's pair. The key is `keyVaultKeyUri`, else service-managed.

use landmeter_proto::v1::{CopyKind, ReplicationRule, StoreKind};
use serde::Deserialize;

use super::{Resource, SERVICE_COSMOSDB, encrypted, normalize_region, store};
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::sink::SinkClosed;

pub const COSMOSDB_API: &str = "2025-10-15";

type Account = Resource<AccountProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountProperties {
    #[serde(default)]
    key_vault_key_uri: String,
    #[serde(default)]
    locations: Vec<Location>,
    #[serde(default)]
    backup_policy: Option<BackupPolicy>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(default)]
    location_name: String,
    #[serde(default)]
    failover_priority: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackupPolicy {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    periodic_mode_properties: Option<PeriodicMode>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeriodicMode {
    #[serde(default)]
    backup_storage_redundancy: String,
}

impl Subscription<'_> {
    pub(super) async fn cosmos_accounts(&self) -> Result<u64, SinkClosed> {
        let call = calls::LIST_COSMOSDB_ACCOUNTS;
        let accounts: Vec<Account> = self
            .list_kind(
                StoreKind::Database,
                call,
                &self.in_subscription("Microsoft.DocumentDB/databaseAccounts"),
                COSMOSDB_API,
            )
            .await?;
        self.sink.stores_found(accounts.len() as u64);
        for a in &accounts {
            let p = &a.properties;
            let write = p
                .locations
                .iter()
                .find(|l| l.failover_priority == Some(0))
                .map(|l| l.location_name.as_str());
            let mut s = store(
                &self.ctx.provider,
                SERVICE_COSMOSDB,
                StoreKind::Database,
                &a.id,
                write.unwrap_or(&a.location),
                if write.is_some() {
                    "DatabaseAccounts_List.locations[failoverPriority=0]"
                } else {
                    "DatabaseAccounts_List.location"
                },
            );
            s.engine = a.kind.clone();
            let subject = s.name.clone();
            let region = s.region.clone();
            let key = p.key_vault_key_uri.as_str();
            self.push_store(
                call,
                s,
                &a.tags,
                Some(encrypted(
                    if key.is_empty() {
                        "service-managed key"
                    } else {
                        "keyVaultKeyUri"
                    },
                    key,
                    false,
                )),
            )
            .await?;
            // The other regions: the same account, so the copy is named by the source.
            let mut rules: Vec<ReplicationRule> = p
                .locations
                .iter()
                .map(|l| normalize_region(&l.location_name))
                .filter(|r| !r.is_empty() && *r != region)
                .map(|r| ReplicationRule {
                    id: format!("region:{r}"),
                    status: "Enabled".to_owned(),
                    destination_bucket: subject.clone(),
                    destination_region: r,
                    copy_kind: CopyKind::MultiRegion as i32,
                    ..ReplicationRule::default()
                })
                .collect();
            let redundancy = p
                .backup_policy
                .as_ref()
                .filter(|b| b.kind.eq_ignore_ascii_case("Periodic"))
                .and_then(|b| b.periodic_mode_properties.as_ref())
                .map(|m| m.backup_storage_redundancy.as_str())
                .unwrap_or_default();
            if redundancy.eq_ignore_ascii_case("Geo") {
                rules.push(self.geo_copy(&subject, &region, "", "Geo").await?);
            }
            self.push_copies(&subject, call, rules).await?;
            self.sink.store_done();
        }
        Ok(accounts.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_account() {
        // Trimmed from az-specs Microsoft.DocumentDB/stable/2025-10-15/examples/CosmosDBDatabaseAccountList.json.
        let json = r#"{"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1",
            "name": "ddb1", "location": "West US", "type": "Microsoft.DocumentDB/databaseAccounts", "kind": "GlobalDocumentDB", "tags": {},
            "properties": {"locations": [{"id": "ddb1-eastus", "locationName": "East US", "documentEndpoint": "https://ddb1-eastus.documents.azure.com:443/",
              "provisioningState": "Succeeded", "failoverPriority": 0}],
              "backupPolicy": {"type": "Periodic", "periodicModeProperties": {"backupIntervalInMinutes": 240,
                "backupRetentionIntervalInHours": 720, "backupStorageRedundancy": "Geo"}}}}"#;
        let a: Account = serde_json::from_str(json).expect("parses");
        assert_eq!(
            normalize_region(&a.properties.locations[0].location_name),
            "eastus"
        );
        assert_eq!(
            a.properties
                .backup_policy
                .and_then(|b| b.periodic_mode_properties)
                .map(|m| m.backup_storage_redundancy),
            Some("Geo".to_owned())
        );
    }
}
