//! Recovery Services vaults (api-version 2025-08-01, storage config 2025-02-01) and Backup
//! vaults (Microsoft.DataProtection, 2025-07-01); STORE-KINDS.md 12.
//!
//! Custody: the vault's customer key (`keyUri`), else the platform's; infrastructure
//! encryption is a second layer. Copies: geo-redundant backup storage is a copy in the
//! paired region (a Backup vault may name it in `replicatedRegions[]`); for a Recovery
//! Services vault the backup storage config is authoritative (the vault's
//! `redundancySettings` can lag behind it). Lock-in: immutability `Locked` is a retention
//! lock; `Unlocked` can still be switched off and soft delete is not a lock.

use std::collections::BTreeMap;

use landmeter_proto::v1::{Retention, StoreKind, fact};
use serde::Deserialize;

use super::{SERVICE_BACKUP_VAULT, SERVICE_RECOVERY_SERVICES, arm_id, encrypted, store};
use crate::providers::Call;
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::sink::SinkClosed;

pub const RECOVERY_SERVICES_API: &str = "2025-08-01";
/// `BackupResourceStorageConfigsNonCRR_Get` lives in the recoveryservicesbackup spec.
pub const BACKUP_STORAGE_CONFIG_API: &str = "2025-02-01";
pub const DATA_PROTECTION_API: &str = "2025-07-01";

#[derive(Debug, Clone, Default, Deserialize)]
struct RsVault {
    id: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    sku: Option<super::disks::NamedSku>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    properties: RsVaultProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RsVaultProperties {
    #[serde(default)]
    encryption: Option<RsEncryption>,
    #[serde(default)]
    security_settings: Option<SecuritySettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RsEncryption {
    #[serde(default)]
    key_vault_properties: Option<KeyUri>,
    #[serde(default)]
    infrastructure_encryption: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyUri {
    #[serde(default)]
    key_uri: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecuritySettings {
    #[serde(default)]
    immutability_settings: Option<State>,
    /// Backup vaults only.
    #[serde(default)]
    encryption_settings: Option<BvEncryption>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct State {
    #[serde(default)]
    state: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BvEncryption {
    #[serde(default)]
    state: String,
    #[serde(default)]
    key_vault_properties: Option<KeyUri>,
    #[serde(default)]
    infrastructure_encryption: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct StorageConfig {
    #[serde(default)]
    properties: StorageConfigProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StorageConfigProperties {
    #[serde(default)]
    storage_type: String,
    #[serde(default)]
    storage_model_type: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct BackupVault {
    id: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    properties: BackupVaultProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackupVaultProperties {
    #[serde(default)]
    storage_settings: Vec<StorageSetting>,
    #[serde(default)]
    replicated_regions: Vec<String>,
    #[serde(default)]
    security_settings: Option<SecuritySettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StorageSetting {
    #[serde(default)]
    datastore_type: String,
    #[serde(default, rename = "type")]
    kind: String,
}

fn is_geo(storage_type: &str) -> bool {
    matches!(storage_type, "GeoRedundant" | "ReadAccessGeoZoneRedundant")
}

impl Subscription<'_> {
    pub(super) async fn recovery_services_vaults(&self) -> Result<u64, SinkClosed> {
        let call = calls::LIST_RECOVERY_SERVICES_VAULTS;
        let vaults: Vec<RsVault> = self
            .list_kind(
                StoreKind::BackupVault,
                call,
                &format!(
                    "/subscriptions/{}/providers/Microsoft.RecoveryServices/vaults",
                    self.id
                ),
                RECOVERY_SERVICES_API,
            )
            .await?;
        self.sink.stores_found(vaults.len() as u64);
        for v in &vaults {
            let mut s = store(
                &self.ctx.provider,
                SERVICE_RECOVERY_SERVICES,
                StoreKind::BackupVault,
                &v.id,
                &v.location,
                "Vaults_ListBySubscriptionId.location",
            );
            s.sku = v.sku.as_ref().map(|k| k.name.clone()).unwrap_or_default();
            let subject = s.name.clone();
            let region = s.region.clone();
            let enc = v.properties.encryption.clone().unwrap_or_default();
            let key = enc
                .key_vault_properties
                .map(|k| k.key_uri)
                .unwrap_or_default();
            let encryption = encrypted(
                if key.is_empty() {
                    "platform-managed key"
                } else {
                    "CustomerManaged"
                },
                &key,
                enc.infrastructure_encryption
                    .eq_ignore_ascii_case("Enabled"),
            );
            self.push_store(call, s, &v.tags, Some(encryption)).await?;
            self.vault_lock(&subject, call, v.properties.security_settings.as_ref())
                .await?;
            let url = self.ctx.arm.url(
                &format!("{}/backupstorageconfig/vaultstorageconfig", arm_id(&v.id)),
                BACKUP_STORAGE_CONFIG_API,
            );
            let config = match url {
                Ok(u) => self.ctx.arm.get::<StorageConfig>(u).await,
                Err(f) => Err(f),
            };
            match config {
                Ok(c) => {
                    let t = if c.properties.storage_type.is_empty() {
                        c.properties.storage_model_type
                    } else {
                        c.properties.storage_type
                    };
                    let rules = if is_geo(&t) {
                        vec![self.geo_copy(&subject, &region, "", &t).await?]
                    } else {
                        Vec::new()
                    };
                    self.push_copies(&subject, calls::GET_VAULT_STORAGE_CONFIG, rules)
                        .await?;
                }
                Err(f) => {
                    self.gap(&subject, calls::GET_VAULT_STORAGE_CONFIG, &f)
                        .await?
                }
            }
            self.sink.store_done();
        }
        Ok(vaults.len() as u64)
    }

    pub(super) async fn backup_vaults(&self) -> Result<u64, SinkClosed> {
        let call = calls::LIST_BACKUP_VAULTS;
        let vaults: Vec<BackupVault> = self
            .list_kind(
                StoreKind::BackupVault,
                call,
                &format!(
                    "/subscriptions/{}/providers/Microsoft.DataProtection/backupVaults",
                    self.id
                ),
                DATA_PROTECTION_API,
            )
            .await?;
        self.sink.stores_found(vaults.len() as u64);
        for v in &vaults {
            let s = store(
                &self.ctx.provider,
                SERVICE_BACKUP_VAULT,
                StoreKind::BackupVault,
                &v.id,
                &v.location,
                "BackupVaults_GetInSubscription.location",
            );
            let subject = s.name.clone();
            let region = s.region.clone();
            let p = &v.properties;
            let enc = p
                .security_settings
                .as_ref()
                .and_then(|s| s.encryption_settings.clone())
                .unwrap_or_default();
            let key = if enc.state.eq_ignore_ascii_case("Enabled") {
                enc.key_vault_properties
                    .map(|k| k.key_uri)
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let encryption = encrypted(
                if key.is_empty() {
                    "platform-managed key"
                } else {
                    "encryptionSettings.keyVaultProperties"
                },
                &key,
                enc.infrastructure_encryption
                    .eq_ignore_ascii_case("Enabled"),
            );
            self.push_store(call, s, &v.tags, Some(encryption)).await?;
            self.vault_lock(&subject, call, p.security_settings.as_ref())
                .await?;
            // Operational-store data stays with the protected resource; the vault store
            // (and archive) is what the redundancy applies to.
            let geo = p
                .storage_settings
                .iter()
                .find(|s| s.datastore_type != "OperationalStore" && is_geo(&s.kind));
            let mut rules = Vec::new();
            if let Some(setting) = geo {
                if p.replicated_regions.is_empty() {
                    rules.push(self.geo_copy(&subject, &region, "", &setting.kind).await?);
                } else {
                    for r in &p.replicated_regions {
                        rules.push(self.geo_copy(&subject, &region, r, &setting.kind).await?);
                    }
                }
            }
            self.push_copies(&subject, call, rules).await?;
            self.sink.store_done();
        }
        Ok(vaults.len() as u64)
    }

    /// Immutability: `Locked` is a lock nobody can lift; anything else is reported as no lock
    /// (only when the service answered the setting).
    async fn vault_lock(
        &self,
        subject: &str,
        call: &Call,
        settings: Option<&SecuritySettings>,
    ) -> Result<(), SinkClosed> {
        let Some(state) = settings
            .and_then(|s| s.immutability_settings.as_ref())
            .map(|i| i.state.as_str())
        else {
            return Ok(());
        };
        let locked = state.eq_ignore_ascii_case("Locked");
        self.push(
            subject,
            call,
            fact::Body::Retention(Retention {
                enabled: locked,
                mode: if locked {
                    state.to_owned()
                } else {
                    String::new()
                },
                ..Retention::default()
            }),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_vault_shapes() {
        // Trimmed from az-specs Microsoft.DataProtection/stable/2025-07-01/examples/VaultCRUD/GetBackupVaultsInSubscription.json.
        let json = r#"{"identity": {"type": "None"},
            "id": "/subscriptions/0b352192-dcac-4cc7-992e-a96190ccc68c/resourceGroups/SampleResourceGroup2/providers/Microsoft.DataProtection/BackupVaults/ExampleVault1",
            "name": "ExampleVault1", "type": "Microsoft.DataProtection/BackupVaults", "location": "WestUS", "tags": {"key1": "val1"},
            "properties": {"provisioningState": "Succeeded", "storageSettings": [{"datastoreType": "VaultStore", "type": "LocallyRedundant"}],
              "featureSettings": {"crossRegionRestoreSettings": {"state": "Enabled"}},
              "securitySettings": {"softDeleteSettings": {"state": "Enabled", "retentionDurationInDays": 14}}}}"#;
        let v: BackupVault = serde_json::from_str(json).expect("parses");
        assert!(!is_geo(&v.properties.storage_settings[0].kind));
        assert!(
            v.properties
                .security_settings
                .expect("settings")
                .immutability_settings
                .is_none(),
            "soft delete alone says nothing about a lock"
        );
        // az-specs recoveryservicesbackup/…/stable/2025-02-01/examples/Common/BackupStorageConfig_Get.json.
        let c: StorageConfig = serde_json::from_str(
            r#"{"name": "vaultstorageconfig", "properties": {"storageModelType": "GeoRedundant", "storageType": "GeoRedundant", "storageTypeState": "Locked"}}"#,
        )
        .expect("config");
        assert!(is_geo(&c.properties.storage_type));
    }
}
