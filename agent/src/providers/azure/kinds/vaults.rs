//! Recovery Services vaults (api-version 2025-08-01, storage config 2025-02-01) and Backup
//! vaults (Microsoft.DataProtection, 2025-07-01); STORE-KINDS.md 12.
//!
//! Custody: the vault's customer key (`keyUri`), else the platform's; infrastructure
//! encryption is a second layer. Copies: geo-redundant backup storage is a copy in the
//! paired region (a Backup vault may name it in `replicatedRegions[]`). A Recovery Services
//! vault states its redundancy in the listing (`redundancySettings.standardTierStorageRedundancy`,
//! az-specs 2025-08-01 GETVault.json), so nothing is read per vault; only a vault whose
//! listing omits it (or says `Invalid`) has its backup storage config read. The two can
//! disagree while a change is under way (STORE-KINDS.md 12.3): the next scan follows.
//! Lock-in: immutability `Locked` is a retention lock; `Unlocked` can still be switched off
//! and soft delete is not a lock.

use landmeter_proto::v1::{ReplicationRule, Retention, StoreKind, fact};
use serde::Deserialize;

use super::{
    Properties, Resource, SERVICE_BACKUP_VAULT, SERVICE_RECOVERY_SERVICES, arm_id, encrypted,
};
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::providers::{Call, CallFailure};
use crate::sink::SinkClosed;

pub const RECOVERY_SERVICES_API: &str = "2025-08-01";
/// `BackupResourceStorageConfigsNonCRR_Get` lives in the recoveryservicesbackup spec.
pub const BACKUP_STORAGE_CONFIG_API: &str = "2025-02-01";
pub const DATA_PROTECTION_API: &str = "2025-07-01";

type RsVault = Resource<RsVaultProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RsVaultProperties {
    #[serde(default)]
    redundancy_settings: Option<RedundancySettings>,
    #[serde(default)]
    encryption: Option<RsEncryption>,
    #[serde(default)]
    security_settings: Option<SecuritySettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RedundancySettings {
    /// GeoRedundant, LocallyRedundant, ZoneRedundant, Invalid.
    #[serde(default)]
    standard_tier_storage_redundancy: String,
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

type StorageConfig = Properties<StorageConfigProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StorageConfigProperties {
    #[serde(default)]
    storage_type: String,
    #[serde(default)]
    storage_model_type: String,
}

type BackupVault = Resource<BackupVaultProperties>;

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

/// The redundancy a Recovery Services vault states in its listing, if it states one.
fn stated_redundancy(v: &RsVault) -> Option<&str> {
    v.properties
        .redundancy_settings
        .as_ref()
        .map(|r| r.standard_tier_storage_redundancy.as_str())
        .filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("Invalid"))
}

/// Encryption of a vault: its customer key, else the platform's (what `algorithm_cmk`
/// names); `infrastructure` `Enabled` is a second layer.
fn vault_encryption(
    key: &str,
    algorithm_cmk: &str,
    infrastructure: &str,
) -> landmeter_proto::v1::Encryption {
    encrypted(
        if key.is_empty() {
            "platform-managed key"
        } else {
            algorithm_cmk
        },
        key,
        infrastructure.eq_ignore_ascii_case("Enabled"),
    )
}

impl Subscription<'_> {
    pub(super) async fn recovery_services_vaults(&self) -> Result<u64, SinkClosed> {
        let call = calls::LIST_RECOVERY_SERVICES_VAULTS;
        let vaults: Vec<RsVault> = self
            .list_kind(
                StoreKind::BackupVault,
                call,
                &self.in_subscription("Microsoft.RecoveryServices/vaults"),
                RECOVERY_SERVICES_API,
            )
            .await?;
        self.sink.stores_found(vaults.len() as u64);
        for v in &vaults {
            let s = v.store(
                &self.ctx.provider,
                SERVICE_RECOVERY_SERVICES,
                StoreKind::BackupVault,
                "Vaults_ListBySubscriptionId.location",
            );
            let subject = s.name.clone();
            let region = s.region.clone();
            let enc = v.properties.encryption.clone().unwrap_or_default();
            let key = enc
                .key_vault_properties
                .map(|k| k.key_uri)
                .unwrap_or_default();
            let encryption =
                vault_encryption(&key, "CustomerManaged", &enc.infrastructure_encryption);
            self.push_store(call, s, &v.tags, Some(encryption)).await?;
            self.vault_lock(&subject, call, v.properties.security_settings.as_ref())
                .await?;
            let (storage_type, from) = match stated_redundancy(v) {
                Some(t) => (Ok(t.to_owned()), call),
                None => (
                    self.vault_storage_type(&v.id).await,
                    calls::GET_VAULT_STORAGE_CONFIG,
                ),
            };
            match storage_type {
                Ok(t) => {
                    let rules = self.geo_rules(&subject, &region, &t, &[]).await?;
                    self.push_copies(&subject, from, rules).await?;
                }
                Err(f) => self.gap(&subject, from, &f).await?,
            }
            self.sink.store_done();
        }
        Ok(vaults.len() as u64)
    }

    /// The backup storage config's type (`storageType`, else `storageModelType`).
    async fn vault_storage_type(&self, vault_id: &str) -> Result<String, CallFailure> {
        let c: StorageConfig = self
            .get_at(
                &format!(
                    "{}/backupstorageconfig/vaultstorageconfig",
                    arm_id(vault_id)
                ),
                BACKUP_STORAGE_CONFIG_API,
                &[],
            )
            .await?;
        Ok(if c.properties.storage_type.is_empty() {
            c.properties.storage_model_type
        } else {
            c.properties.storage_type
        })
    }

    /// Geo-redundant storage is a copy: in each replicated region named, else in the pair.
    async fn geo_rules(
        &self,
        subject: &str,
        region: &str,
        storage_type: &str,
        replicated: &[String],
    ) -> Result<Vec<ReplicationRule>, SinkClosed> {
        if !is_geo(storage_type) {
            return Ok(Vec::new());
        }
        if replicated.is_empty() {
            return Ok(vec![
                self.geo_copy(subject, region, "", storage_type).await?,
            ]);
        }
        let mut rules = Vec::new();
        for r in replicated {
            rules.push(self.geo_copy(subject, region, r, storage_type).await?);
        }
        Ok(rules)
    }

    pub(super) async fn backup_vaults(&self) -> Result<u64, SinkClosed> {
        let call = calls::LIST_BACKUP_VAULTS;
        let vaults: Vec<BackupVault> = self
            .list_kind(
                StoreKind::BackupVault,
                call,
                &self.in_subscription("Microsoft.DataProtection/backupVaults"),
                DATA_PROTECTION_API,
            )
            .await?;
        self.sink.stores_found(vaults.len() as u64);
        for v in &vaults {
            let s = v.store(
                &self.ctx.provider,
                SERVICE_BACKUP_VAULT,
                StoreKind::BackupVault,
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
            let encryption = vault_encryption(
                &key,
                "encryptionSettings.keyVaultProperties",
                &enc.infrastructure_encryption,
            );
            self.push_store(call, s, &v.tags, Some(encryption)).await?;
            self.vault_lock(&subject, call, p.security_settings.as_ref())
                .await?;
            // Operational-store data stays with the protected resource; the vault store
            // (and archive) is what the redundancy applies to.
            let geo = p
                .storage_settings
                .iter()
                .find(|s| s.datastore_type != "OperationalStore" && is_geo(&s.kind))
                .map_or("", |s| s.kind.as_str());
            let rules = self
                .geo_rules(&subject, &region, geo, &p.replicated_regions)
                .await?;
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

    #[test]
    fn a_vault_listing_states_its_redundancy_or_the_config_is_read() {
        // Trimmed from az-specs recoveryservices/…/stable/2025-08-01/examples/GETVault.json.
        let stated: RsVault = serde_json::from_str(
            r#"{"name": "swaggerExample", "type": "Microsoft.RecoveryServices/vaults",
                "id": "/subscriptions/77777777-b0c6-47a2-b37c-d8e65a629c18/resourceGroups/Default-RecoveryServices-ResourceGroup/providers/Microsoft.RecoveryServices/vaults/swaggerExample",
                "location": "westus", "sku": {"name": "Standard"},
                "properties": {"provisioningState": "Succeeded",
                  "redundancySettings": {"crossRegionRestore": "Enabled", "standardTierStorageRedundancy": "GeoRedundant"},
                  "securitySettings": {"immutabilitySettings": {"state": "Disabled"}}}}"#,
        )
        .expect("vault");
        assert_eq!(stated_redundancy(&stated), Some("GeoRedundant"));
        // …/2025-08-01/examples/ListResources.json lists vaults with provisioningState alone.
        let silent: RsVault = serde_json::from_str(
            r#"{"name": "patchtest", "id": "/subscriptions/x/resourceGroups/r/providers/Microsoft.RecoveryServices/vaults/patchtest",
                "location": "westus", "properties": {"provisioningState": "Succeeded"}}"#,
        )
        .expect("vault");
        assert_eq!(
            stated_redundancy(&silent),
            None,
            "unknown: the config is read"
        );
        let mut invalid = stated.clone();
        invalid.properties.redundancy_settings = Some(RedundancySettings {
            standard_tier_storage_redundancy: "Invalid".into(),
        });
        assert_eq!(stated_redundancy(&invalid), None);
    }
}
