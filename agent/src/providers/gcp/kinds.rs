//! Google Cloud store kinds beside buckets (`[gcp] kinds`): Cloud SQL instances (`database`),
//! Persistent Disks (`volume`) and their snapshots (`snapshot`), one listing each per project
//! and no call per store:
//!
//! - Cloud SQL Admin `GET /v1/projects/P/instances`: `region`, `databaseVersion`,
//!   `diskEncryptionConfiguration.kmsKeyName` (CMEK; none: Google-managed),
//!   `settings.dataDiskSizeGb` (allocated), `masterInstanceName` (a read replica names its
//!   primary as `project:instance`), `settings.backupConfiguration.location` (backups kept in
//!   a chosen region or multi-region: a backup copy when it is not the instance's region).
//! - Compute `GET /compute/v1/projects/P/aggregated/disks`: every zonal and regional disk
//!   (`items` keyed by scope), `sizeGb`, `diskEncryptionKey.kmsKeyName`, labels.
//! - Compute `GET /compute/v1/projects/P/global/snapshots`: `storageLocations` (the
//!   snapshot's region or multi-region), `sourceDisk` (its copy source), `storageBytes`,
//!   `snapshotEncryptionKey.kmsKeyName`.
//!
//! Subjects are the resources' relative names (`projects/P/instances/I`,
//! `projects/P/zones/Z/disks/D`, `projects/P/regions/R/disks/D`, `projects/P/global/snapshots/S`),
//! so a copy's `copy_of` is its source's subject. A failed listing is a gap on
//! `listing_part(kind, "")`: those stores are unknown, never absent. A key named here is
//! described once per project with the buckets' keys (the existing Cloud KMS resolution).

use std::collections::{BTreeMap, HashMap};

use landmeter_proto::v1::{
    CopyKind, Encryption, EncryptionState, Replication, ReplicationRule, Size, Store, StoreKind,
    Tag, Tags, fact,
};
use serde::{Deserialize, Deserializer};

use super::calls;
use super::provider::{CLOUD_KMS, GOOGLE_DEFAULT_ENCRYPTION, key_name};
use super::rest::GcpRest;
use crate::providers::Call;

/// `Store.service` of each kind.
pub const SERVICE_SQL: &str = "cloud-sql";
pub const SERVICE_DISK: &str = "compute-disk";
pub const SERVICE_SNAPSHOT: &str = "compute-snapshot";
/// `Encryption.algorithm` of a disk encrypted with a customer-supplied key (CSEK): the key
/// is given with each request and Google keeps only its hash.
pub const CUSTOMER_SUPPLIED_KEY: &str = "CUSTOMER_SUPPLIED_ENCRYPTION_KEY";

/// An int64 as Google's JSON gives it (a string), or a number.
fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Text(String),
        Number(i64),
    }
    Ok(match Option::<Int>::deserialize(d)? {
        Some(Int::Number(n)) => Some(n),
        Some(Int::Text(t)) => t.trim().parse().ok(),
        None => None,
    })
}

/// `kmsKeyName` of a CMEK configuration, and the hash a customer-supplied key leaves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    #[serde(default)]
    pub kms_key_name: String,
    #[serde(default)]
    pub sha256: String,
}

/// A Cloud SQL `DatabaseInstance` (the fields read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlInstance {
    pub name: String,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub database_version: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub gce_zone: String,
    #[serde(default)]
    pub instance_type: String,
    #[serde(default)]
    pub master_instance_name: String,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub disk_encryption_configuration: Option<KeyRef>,
    #[serde(default)]
    pub settings: SqlSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlSettings {
    #[serde(default)]
    pub tier: String,
    #[serde(default, deserialize_with = "de_i64")]
    pub data_disk_size_gb: Option<i64>,
    #[serde(default)]
    pub user_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub backup_configuration: Option<BackupConfiguration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupConfiguration {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub location: String,
}

/// A Compute Engine `Disk` (the fields read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disk {
    pub name: String,
    #[serde(default)]
    pub self_link: String,
    #[serde(default)]
    pub zone: String,
    #[serde(default)]
    pub region: String,
    #[serde(default, rename = "type")]
    pub disk_type: String,
    #[serde(default, deserialize_with = "de_i64")]
    pub size_gb: Option<i64>,
    #[serde(default)]
    pub creation_timestamp: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub disk_encryption_key: Option<KeyRef>,
}

/// A Compute Engine `Snapshot` (the fields read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub name: String,
    #[serde(default)]
    pub self_link: String,
    #[serde(default)]
    pub source_disk: String,
    #[serde(default)]
    pub storage_locations: Vec<String>,
    #[serde(default, deserialize_with = "de_i64")]
    pub disk_size_gb: Option<i64>,
    #[serde(default, deserialize_with = "de_i64")]
    pub storage_bytes: Option<i64>,
    #[serde(default)]
    pub creation_timestamp: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub snapshot_encryption_key: Option<KeyRef>,
}

/// The part of a Compute URL from `projects/` on (a relative resource name).
pub fn relative_name(url: &str) -> String {
    match url.find("projects/") {
        Some(i) => url[i..].to_owned(),
        None => url.to_owned(),
    }
}

/// The last segment of a Compute URL (`.../zones/europe-west4-a` -> `europe-west4-a`).
fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The region of a zone (`europe-west4-a` -> `europe-west4`).
pub fn zone_region(zone: &str) -> &str {
    zone.rsplit_once('-').map_or(zone, |(r, _)| r)
}

impl Disk {
    pub fn subject(&self, project: &str) -> String {
        if !self.self_link.is_empty() {
            return relative_name(&self.self_link);
        }
        if self.zone.is_empty() {
            format!(
                "projects/{project}/regions/{}/disks/{}",
                last_segment(&self.region),
                self.name
            )
        } else {
            format!(
                "projects/{project}/zones/{}/disks/{}",
                last_segment(&self.zone),
                self.name
            )
        }
    }

    /// (region, where it came from): a zonal disk's zone's region, a regional disk's region.
    pub fn region(&self) -> (String, &'static str) {
        if self.zone.is_empty() {
            (
                last_segment(&self.region).to_owned(),
                "disks.aggregatedList.region",
            )
        } else {
            (
                zone_region(last_segment(&self.zone)).to_owned(),
                "disks.aggregatedList.zone",
            )
        }
    }
}

impl Snapshot {
    pub fn subject(&self, project: &str) -> String {
        if self.self_link.is_empty() {
            format!("projects/{project}/global/snapshots/{}", self.name)
        } else {
            relative_name(&self.self_link)
        }
    }
}

impl SqlInstance {
    pub fn subject(&self, project: &str) -> String {
        let project = if self.project.is_empty() {
            project
        } else {
            &self.project
        };
        format!("projects/{project}/instances/{}", self.name)
    }

    /// The primary's subject for a read replica (`masterInstanceName` is `project:instance`,
    /// or the bare instance in the replica's project).
    pub fn primary_subject(&self, project: &str) -> Option<String> {
        let m = self.master_instance_name.as_str();
        if m.is_empty() {
            return None;
        }
        Some(match m.rsplit_once(':') {
            Some((p, i)) => format!("projects/{p}/instances/{i}"),
            None => format!("projects/{project}/instances/{m}"),
        })
    }
}

/// The neutral `Encryption` fact of a CMEK reference: a Cloud KMS key (its name without a
/// version as `resolved_key_arn`, which the key's description is found by), Google-managed
/// without one. A customer-supplied key (only its hash reported) is neither the provider's
/// key nor a key Cloud KMS can describe: its state is left unspecified, which the collector
/// reads as unknown, never as Google-managed.
pub fn encryption(key: Option<&KeyRef>) -> Encryption {
    let k = key.cloned().unwrap_or_default();
    if !k.kms_key_name.is_empty() {
        return Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: CLOUD_KMS.to_owned(),
            resolved_key_arn: key_name(&k.kms_key_name),
            key_ref: k.kms_key_name,
            ..Encryption::default()
        };
    }
    if !k.sha256.is_empty() {
        return Encryption {
            state: EncryptionState::Unspecified as i32,
            algorithm: CUSTOMER_SUPPLIED_KEY.to_owned(),
            ..Encryption::default()
        };
    }
    Encryption {
        state: EncryptionState::Configured as i32,
        algorithm: GOOGLE_DEFAULT_ENCRYPTION.to_owned(),
        ..Encryption::default()
    }
}

pub fn tags(labels: &BTreeMap<String, String>) -> Tags {
    Tags {
        tags: labels
            .iter()
            .map(|(k, v)| Tag {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
    }
}

fn allocated_gib(gib: Option<i64>) -> Size {
    Size {
        allocated_bytes: gib.map(|g| g.saturating_mul(1 << 30)),
        known: false,
        ..Size::default()
    }
}

/// One store's facts, ready to push: (subject, call, body).
pub type StoreFacts = Vec<(String, &'static Call, fact::Body)>;

/// A Cloud SQL instance's facts: the store (a replica names its primary), labels, CMEK or
/// Google-managed, allocated size, and its backups kept elsewhere as a backup copy.
pub fn sql_facts(provider: &str, project: &str, i: &SqlInstance, created_ms: i64) -> StoreFacts {
    let call = calls::LIST_SQL_INSTANCES;
    let subject = i.subject(project);
    let primary = i.primary_subject(project);
    let store = Store {
        provider: provider.to_owned(),
        service: SERVICE_SQL.to_owned(),
        name: subject.clone(),
        region: i.region.clone(),
        region_source: "instances.list.region".to_owned(),
        created_at_ms: created_ms,
        sku: i.settings.tier.clone(),
        kind: StoreKind::Database as i32,
        engine: i.database_version.clone(),
        copy_kind: if primary.is_some() {
            CopyKind::ReadReplica as i32
        } else {
            CopyKind::Unspecified as i32
        },
        copy_of: primary.unwrap_or_default(),
        ..Store::default()
    };
    let backups = i
        .settings
        .backup_configuration
        .as_ref()
        .filter(|b| {
            b.enabled && !b.location.is_empty() && !b.location.eq_ignore_ascii_case(&i.region)
        })
        .map(|b| ReplicationRule {
            id: format!("backupConfiguration.location:{}", b.location),
            status: "Enabled".to_owned(),
            destination_bucket: format!("{subject}#backups"),
            destination_region: b.location.clone(),
            copy_kind: CopyKind::BackupCopy as i32,
            ..ReplicationRule::default()
        });
    vec![
        (subject.clone(), call, fact::Body::Store(store)),
        (
            subject.clone(),
            call,
            fact::Body::Tags(tags(&i.settings.user_labels)),
        ),
        (
            subject.clone(),
            call,
            fact::Body::Encryption(encryption(i.disk_encryption_configuration.as_ref())),
        ),
        (
            subject.clone(),
            call,
            fact::Body::Replication(Replication {
                rules: backups.into_iter().collect(),
            }),
        ),
        (
            subject,
            call,
            fact::Body::Size(allocated_gib(i.settings.data_disk_size_gb)),
        ),
    ]
}

/// A Persistent Disk's facts: the store in its zone's (or its regional disk's) region,
/// labels, CMEK or Google-managed, allocated size.
pub fn disk_facts(provider: &str, project: &str, d: &Disk, created_ms: i64) -> StoreFacts {
    let call = calls::LIST_DISKS;
    let subject = d.subject(project);
    let (region, source) = d.region();
    let store = Store {
        provider: provider.to_owned(),
        service: SERVICE_DISK.to_owned(),
        name: subject.clone(),
        region,
        region_source: source.to_owned(),
        created_at_ms: created_ms,
        sku: last_segment(&d.disk_type).to_owned(),
        kind: StoreKind::Volume as i32,
        ..Store::default()
    };
    vec![
        (subject.clone(), call, fact::Body::Store(store)),
        (subject.clone(), call, fact::Body::Tags(tags(&d.labels))),
        (
            subject.clone(),
            call,
            fact::Body::Encryption(encryption(d.disk_encryption_key.as_ref())),
        ),
        (subject, call, fact::Body::Size(allocated_gib(d.size_gb))),
    ]
}

/// A snapshot's facts: the store in its storage location, a snapshot of its source disk
/// (with the disk's region when the disk was listed), labels, key, stored bytes.
pub fn snapshot_facts(
    provider: &str,
    project: &str,
    s: &Snapshot,
    created_ms: i64,
    disk_regions: &HashMap<String, String>,
) -> StoreFacts {
    let call = calls::LIST_SNAPSHOTS;
    let subject = s.subject(project);
    let source = if s.source_disk.is_empty() {
        String::new()
    } else {
        relative_name(&s.source_disk)
    };
    let store = Store {
        provider: provider.to_owned(),
        service: SERVICE_SNAPSHOT.to_owned(),
        name: subject.clone(),
        // One location in practice (a region or a multi-region); none reported: unknown.
        region: s.storage_locations.first().cloned().unwrap_or_default(),
        region_source: "snapshots.list.storageLocations".to_owned(),
        created_at_ms: created_ms,
        kind: StoreKind::Snapshot as i32,
        copy_of_region: disk_regions.get(&source).cloned().unwrap_or_default(),
        copy_kind: if source.is_empty() {
            CopyKind::Unspecified as i32
        } else {
            CopyKind::Snapshot as i32
        },
        copy_of: source,
        ..Store::default()
    };
    let size = match s.storage_bytes {
        Some(bytes) => Size {
            bytes_by_storage_type: [("storageBytes".to_owned(), bytes)].into(),
            known: true,
            allocated_bytes: s.disk_size_gb.map(|g| g.saturating_mul(1 << 30)),
            ..Size::default()
        },
        None => allocated_gib(s.disk_size_gb),
    };
    vec![
        (subject.clone(), call, fact::Body::Store(store)),
        (subject.clone(), call, fact::Body::Tags(tags(&s.labels))),
        (
            subject.clone(),
            call,
            fact::Body::Encryption(encryption(s.snapshot_encryption_key.as_ref())),
        ),
        (subject, call, fact::Body::Size(size)),
    ]
}

/// The disks of an aggregated listing page: `items` maps each zone or region to
/// `{"disks": [...]}` or to a `warning` (no disks there).
pub fn aggregated_disks(
    page: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<Disk>, String> {
    let mut out = Vec::new();
    let Some(items) = page.get("items").and_then(|i| i.as_object()) else {
        return Ok(out);
    };
    for (scope, scoped) in items {
        if let Some(disks) = scoped.get("disks") {
            let mut disks: Vec<Disk> = serde_json::from_value(disks.clone())
                .map_err(|e| format!("cannot parse items.{scope}.disks: {e}"))?;
            out.append(&mut disks);
        }
    }
    Ok(out)
}

/// The listing URLs of each kind for one project.
pub fn sql_url(endpoint: &str, project: &str) -> Result<url::Url, crate::providers::CallFailure> {
    GcpRest::url(endpoint, &format!("/v1/projects/{project}/instances"), &[])
}

pub fn disks_url(endpoint: &str, project: &str) -> Result<url::Url, crate::providers::CallFailure> {
    GcpRest::url(
        endpoint,
        &format!("/compute/v1/projects/{project}/aggregated/disks"),
        &[("maxResults", "500"), ("returnPartialSuccess", "true")],
    )
}

pub fn snapshots_url(
    endpoint: &str,
    project: &str,
) -> Result<url::Url, crate::providers::CallFailure> {
    GcpRest::url(
        endpoint,
        &format!("/compute/v1/projects/{project}/global/snapshots"),
        &[("maxResults", "500")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_name_their_primary_and_backups_elsewhere_are_copies() {
        let i: SqlInstance = serde_json::from_value(serde_json::json!({
            "name": "r1", "project": "p", "region": "us-central1",
            "databaseVersion": "POSTGRES_15", "instanceType": "READ_REPLICA_INSTANCE",
            "masterInstanceName": "p:main",
            "settings": {"tier": "db-custom-2-7680", "dataDiskSizeGb": "100",
                         "backupConfiguration": {"enabled": true, "location": "eu"}}
        }))
        .expect("parses");
        let facts = sql_facts("google-cloud", "p", &i, 0);
        let Some(fact::Body::Store(s)) = facts.first().map(|f| &f.2) else {
            panic!("store first")
        };
        assert_eq!(s.name, "projects/p/instances/r1");
        assert_eq!(s.copy_of, "projects/p/instances/main");
        assert_eq!(s.copy_kind(), CopyKind::ReadReplica);
        let rules = facts
            .iter()
            .find_map(|f| match &f.2 {
                fact::Body::Replication(r) => Some(r.rules.clone()),
                _ => None,
            })
            .expect("replication");
        assert_eq!(rules.len(), 1);
        assert_eq!(
            (rules[0].destination_region.as_str(), rules[0].copy_kind()),
            ("eu", CopyKind::BackupCopy)
        );
        let size = facts
            .iter()
            .find_map(|f| match &f.2 {
                fact::Body::Size(s) => Some(s.clone()),
                _ => None,
            })
            .expect("size");
        assert_eq!(size.allocated_bytes, Some(100 << 30));
    }

    #[test]
    fn disks_take_their_zones_region_and_keys_lose_their_version() {
        let page: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "items": {
                    "zones/europe-west4-a": {"disks": [{"name": "d1", "zone": "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west4-a", "sizeGb": "10",
                        "diskEncryptionKey": {"kmsKeyName": "projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"}}]},
                    "zones/us-east1-b": {"warning": {"code": "NO_RESULTS_ON_PAGE"}},
                    "regions/europe-west1": {"disks": [{"name": "d2", "region": "https://www.googleapis.com/compute/v1/projects/p/regions/europe-west1",
                        "diskEncryptionKey": {"sha256": "abc="}}]}
                }
            }))
            .expect("json");
        let disks = aggregated_disks(&page).expect("parses");
        assert_eq!(disks.len(), 2);
        let d1 = disks.iter().find(|d| d.name == "d1").expect("d1");
        assert_eq!(d1.subject("p"), "projects/p/zones/europe-west4-a/disks/d1");
        assert_eq!(d1.region().0, "europe-west4");
        let e = encryption(d1.disk_encryption_key.as_ref());
        assert_eq!(
            e.resolved_key_arn,
            "projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k"
        );
        let d2 = disks.iter().find(|d| d.name == "d2").expect("d2");
        assert_eq!(d2.subject("p"), "projects/p/regions/europe-west1/disks/d2");
        assert_eq!(d2.region().0, "europe-west1");
        // A customer-supplied key is not Google-managed: the state says "not known".
        let csek = encryption(d2.disk_encryption_key.as_ref());
        assert_eq!(csek.state(), EncryptionState::Unspecified);
        assert_eq!(
            encryption(None).algorithm,
            GOOGLE_DEFAULT_ENCRYPTION,
            "no key: Google-managed"
        );
    }
}
