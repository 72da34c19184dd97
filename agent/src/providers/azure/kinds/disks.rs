//! Managed disks, snapshots and the disk encryption sets behind customer keys
//! (Microsoft.Compute, api-version 2025-01-02; STORE-KINDS.md 11).
//!
//! Two listings per subscription (three when a customer key is in use) and no call per disk: `encryption.type` says platform or
//! customer key; a customer key is named by the disk encryption set (`activeKey.keyUrl`),
//! listed once, or read by id when not in the listing (another subscription). A snapshot's
//! `creationData.sourceResourceId` names its source: a disk (a snapshot) or a snapshot (a
//! snapshot copy, e.g. `CopyStart` to another region).

use std::collections::HashMap;

use landmeter_proto::v1::{CopyKind, Encryption, StoreKind};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{Resource, SERVICE_DISK, SERVICE_SNAPSHOT, arm_id, encrypted, regions_by_id};
use crate::providers::CallFailure;
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::sink::SinkClosed;

pub const COMPUTE_DISK_API: &str = "2025-01-02";
const PLATFORM_KEY: &str = "EncryptionAtRestWithPlatformKey";
const PLATFORM_AND_CUSTOMER_KEYS: &str = "EncryptionAtRestWithPlatformAndCustomerKeys";

/// A disk or snapshot as listed (the fields read).
pub(super) type DiskResource = Resource<DiskProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DiskProperties {
    #[serde(default, rename = "diskSizeGB")]
    pub disk_size_gb: Option<i64>,
    #[serde(default)]
    pub disk_size_bytes: Option<i64>,
    #[serde(default)]
    pub encryption: Option<DiskEncryption>,
    #[serde(default)]
    pub security_profile: Option<SecurityProfile>,
    #[serde(default)]
    pub creation_data: CreationData,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DiskEncryption {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub disk_encryption_set_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SecurityProfile {
    #[serde(default, rename = "secureVMDiskEncryptionSetId")]
    pub secure_vm_disk_encryption_set_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreationData {
    #[serde(default)]
    pub create_option: String,
    #[serde(default)]
    pub source_resource_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct EncryptionSet {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub properties: EncryptionSetProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EncryptionSetProperties {
    #[serde(default)]
    pub active_key: Option<ActiveKey>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActiveKey {
    #[serde(default)]
    pub key_url: String,
}

/// Disk encryption sets by lowercase id (ids differ in casing between answers), and the
/// sets read one by one: a failed read is remembered so each store says why.
struct EncryptionSets {
    listed: HashMap<String, EncryptionSet>,
    read: Mutex<HashMap<String, Result<EncryptionSet, CallFailure>>>,
}

impl Subscription<'_> {
    pub(super) async fn disks_and_snapshots(&self) -> Result<u64, SinkClosed> {
        let base = self.in_subscription("Microsoft.Compute");
        let disks: Vec<DiskResource> = if self.kind_enabled("disks") {
            self.list_kind(
                StoreKind::Volume,
                calls::LIST_DISKS,
                &format!("{base}/disks"),
                COMPUTE_DISK_API,
            )
            .await?
        } else {
            Vec::new()
        };
        let snapshots: Vec<DiskResource> = if self.kind_enabled("snapshots") {
            self.list_kind(
                StoreKind::Snapshot,
                calls::LIST_SNAPSHOTS,
                &format!("{base}/snapshots"),
                COMPUTE_DISK_API,
            )
            .await?
        } else {
            Vec::new()
        };
        // The sets are listed only when a disk or snapshot names one.
        let needs_sets = disks.iter().chain(&snapshots).any(|d| {
            let p = &d.properties;
            p.encryption
                .as_ref()
                .is_some_and(|e| !e.disk_encryption_set_id.is_empty())
                || p.security_profile
                    .as_ref()
                    .is_some_and(|s| !s.secure_vm_disk_encryption_set_id.is_empty())
        });
        // Its failure is not a listing gap of a store kind: the sets are then read one by one,
        // and a failed read is a gap on each disk.
        let sets: Vec<EncryptionSet> = if needs_sets {
            self.list_all(&format!("{base}/diskEncryptionSets"), COMPUTE_DISK_API)
                .await
                .unwrap_or_else(|f| {
                    tracing::debug!(
                        subscription = self.id,
                        "{} failed: {f}; sets are read one by one",
                        calls::LIST_DISK_ENCRYPTION_SETS.name
                    );
                    Vec::new()
                })
        } else {
            Vec::new()
        };
        let sets = EncryptionSets {
            listed: sets
                .into_iter()
                .map(|s| (arm_id(&s.id).to_ascii_lowercase(), s))
                .collect(),
            read: Mutex::new(HashMap::new()),
        };
        self.sink
            .stores_found((disks.len() + snapshots.len()) as u64);
        // Where each listed disk and snapshot is, for a snapshot's source region.
        let regions = regions_by_id(disks.iter().chain(&snapshots));
        for d in &disks {
            self.disk_like(d, StoreKind::Volume, &sets, &regions)
                .await?;
        }
        for s in &snapshots {
            self.disk_like(s, StoreKind::Snapshot, &sets, &regions)
                .await?;
        }
        Ok((disks.len() + snapshots.len()) as u64)
    }

    async fn disk_like(
        &self,
        d: &DiskResource,
        kind: StoreKind,
        sets: &EncryptionSets,
        regions: &HashMap<String, String>,
    ) -> Result<(), SinkClosed> {
        let (service, call) = match kind {
            StoreKind::Snapshot => (SERVICE_SNAPSHOT, calls::LIST_SNAPSHOTS),
            _ => (SERVICE_DISK, calls::LIST_DISKS),
        };
        let mut s = d.store(
            &self.ctx.provider,
            service,
            kind,
            if kind == StoreKind::Snapshot {
                "Snapshots_List.location"
            } else {
                "Disks_List.location"
            },
        );
        let p = &d.properties;
        if kind == StoreKind::Snapshot && !p.creation_data.source_resource_id.is_empty() {
            let source = arm_id(&p.creation_data.source_resource_id);
            // A snapshot of a snapshot (`CopyStart` copies one to another region).
            let from_snapshot = p.creation_data.create_option == "CopyStart"
                || source
                    .to_ascii_lowercase()
                    .contains("/providers/microsoft.compute/snapshots/");
            s.copy_kind = if from_snapshot {
                CopyKind::SnapshotCopy
            } else {
                CopyKind::Snapshot
            } as i32;
            s.copy_of_region = regions
                .get(&source.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default();
            s.copy_of = source;
        }
        let subject = s.name.clone();
        let encryption = match self.disk_encryption(d, sets).await {
            Ok(e) => Some(e),
            Err(f) => {
                self.gap(&subject, calls::GET_DISK_ENCRYPTION_SET, &f)
                    .await?;
                None
            }
        };
        self.push_store(call, s, &d.tags, encryption).await?;
        // Provisioned size only: ARM exposes no used bytes for disks or snapshots.
        let allocated = p.disk_size_bytes.or(p.disk_size_gb.map(super::gib));
        self.push_allocated(&subject, call, allocated).await?;
        self.sink.store_done();
        Ok(())
    }

    /// Platform key, or the customer key of the disk's encryption set (a confidential VM
    /// disk names its set in `securityProfile`).
    async fn disk_encryption(
        &self,
        d: &DiskResource,
        sets: &EncryptionSets,
    ) -> Result<Encryption, CallFailure> {
        let e = d.properties.encryption.clone().unwrap_or_default();
        let secure_set = d
            .properties
            .security_profile
            .as_ref()
            .map(|p| p.secure_vm_disk_encryption_set_id.clone())
            .unwrap_or_default();
        let set_id = if e.disk_encryption_set_id.is_empty() {
            secure_set
        } else {
            e.disk_encryption_set_id.clone()
        };
        let algorithm = if e.kind.is_empty() {
            // "All managed disks, snapshots, images … are automatically encrypted-at-rest
            // with platform-managed keys" (STORE-KINDS.md 11): no type = the default.
            PLATFORM_KEY.to_owned()
        } else {
            e.kind.clone()
        };
        if set_id.is_empty() {
            return Ok(encrypted(&algorithm, "", false));
        }
        let set = self.encryption_set(&set_id, sets).await?;
        let key = set
            .properties
            .active_key
            .map(|k| k.key_url)
            .unwrap_or_default();
        if key.is_empty() {
            return Err(CallFailure {
                code: Some("NoActiveKey".into()),
                message: format!("disk encryption set {set_id} names no active key"),
                status: None,
                timeout: false,
            });
        }
        Ok(encrypted(
            &algorithm,
            &key,
            algorithm == PLATFORM_AND_CUSTOMER_KEYS,
        ))
    }

    async fn encryption_set(
        &self,
        id: &str,
        sets: &EncryptionSets,
    ) -> Result<EncryptionSet, CallFailure> {
        let lower = arm_id(id).to_ascii_lowercase();
        if let Some(s) = sets.listed.get(&lower) {
            return Ok(s.clone());
        }
        let mut read = sets.read.lock().await;
        if let Some(r) = read.get(&lower) {
            return r.clone();
        }
        let result = self.get_at(&arm_id(id), COMPUTE_DISK_API, &[]).await;
        read.insert(lower, result.clone());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_disk_listing() {
        // Trimmed from az-specs DiskRP/stable/2025-01-02/examples/diskExamples/Disk_ListBySubscription.json.
        let json = r#"{"properties": {"osType": "Windows",
            "creationData": {"createOption": "Copy", "sourceResourceId": "subscriptions/{subscriptionId}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/disks/myManagedDisk1"},
            "diskSizeGB": 200, "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "timeCreated": "2016-12-28T04:41:35.9278721+00:00", "provisioningState": "Succeeded"},
            "type": "Microsoft.Compute/disks", "location": "westus",
            "tags": {"department": "Development"},
            "id": "/subscriptions/{subscriptionId}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/disks/myManagedDisk1",
            "name": "myManagedDisk1"}"#;
        let d: DiskResource = serde_json::from_str(json).expect("parses");
        assert_eq!(d.properties.disk_size_gb, Some(200));
        assert_eq!(
            d.properties.encryption.expect("encryption").kind,
            PLATFORM_KEY
        );
        assert_eq!(d.properties.creation_data.create_option, "Copy");
    }
}
