//! [`GcpProvider`]: planning (transport, credential chain, the projects to cover) and the
//! scan of one project: its buckets, the Cloud KMS keys they name and their sizes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, stream};
use landmeter_proto::v1::{
    AccountCoverage, CopyKind, Encryption, EncryptionState, Key, Replication, ReplicationRule,
    Retention, Size, Store, StoreKind, Tag, Tags, fact,
};

use super::auth::{self, TokenSource};
use super::calls;
use super::config::GcpConfig;
use super::kinds;
use super::rest::{self, GcpRest};
use crate::providers::{Call, CallFailure, PlanError, Provider, new_fact};
use crate::sink::{FactSink, SinkClosed};

/// `Store.service` of a Cloud Storage bucket.
pub const SERVICE_BUCKET: &str = "gcs-bucket";
/// `Store.region_source` of a bucket's location.
pub const REGION_FROM_LISTING: &str = "buckets.list.location";
/// `Key.key_service` of a Cloud KMS key.
pub const KEY_SERVICE: &str = "cloudkms.googleapis.com";
/// `Encryption.algorithm` values: Google default encryption, or a default Cloud KMS key.
pub const GOOGLE_DEFAULT_ENCRYPTION: &str = "GOOGLE_DEFAULT_ENCRYPTION";
pub const CLOUD_KMS: &str = "CLOUD_KMS";
/// The Cloud Monitoring metrics read, per bucket and storage class.
const TOTAL_BYTES: &str = "storage.googleapis.com/storage/total_bytes";
const OBJECT_COUNT: &str = "storage.googleapis.com/storage/object_count";

/// Failures that stop a Google Cloud scan before it starts.
#[derive(Debug, thiserror::Error)]
pub enum GcpError {
    #[error("gcp setup: {0}")]
    Setup(#[from] auth::SetupError),
    #[error(
        "gcp: no project to scan: set [gcp] projects (the credentials name no project of their own)"
    )]
    NoProject,
}

impl From<GcpError> for PlanError {
    fn from(err: GcpError) -> PlanError {
        PlanError::setup(err)
    }
}

/// The Google Cloud provider: Cloud Storage, Cloud KMS and Cloud Monitoring over REST.
#[derive(Debug)]
pub struct GcpProvider {
    config: GcpConfig,
    plan: Option<GcpPlan>,
}

#[derive(Debug)]
struct GcpPlan {
    projects: Vec<String>,
    rest: GcpRest,
}

impl GcpProvider {
    pub fn new(config: GcpConfig) -> GcpProvider {
        GcpProvider { config, plan: None }
    }
}

#[async_trait::async_trait(?Send)]
impl Provider for GcpProvider {
    fn id(&self) -> &str {
        &self.config.provider
    }

    fn calls(&self) -> &'static [&'static Call] {
        calls::GCP_CALLS
    }

    fn configured_accounts(&self) -> Vec<String> {
        if self.config.projects.is_empty() {
            vec![self.config.provider.clone()]
        } else {
            self.config.projects.clone()
        }
    }

    async fn enumerate(&mut self) -> Result<Vec<String>, PlanError> {
        let http = auth::transport(&self.config).map_err(GcpError::from)?;
        let tokens =
            Arc::new(TokenSource::from_config(&self.config, http.clone()).map_err(GcpError::from)?);
        tracing::info!("Google Cloud credential: {}", tokens.description);
        let mut projects = self.config.projects.clone();
        if projects.is_empty() {
            match tokens.project.clone() {
                Some(p) => projects.push(p),
                None => match tokens.metadata_project().await {
                    Some(p) => projects.push(p),
                    None => return Err(GcpError::NoProject.into()),
                },
            }
        }
        projects.sort();
        projects.dedup();
        self.plan = Some(GcpPlan {
            projects: projects.clone(),
            rest: GcpRest::new(http, tokens),
        });
        Ok(projects)
    }

    async fn scan(&self, account: &str, sink: &FactSink) -> Result<AccountCoverage, SinkClosed> {
        let Some(plan) = self
            .plan
            .as_ref()
            .filter(|p| p.projects.iter().any(|s| s == account))
        else {
            return Ok(AccountCoverage {
                account: account.to_owned(),
                complete: false,
                reason: "not among the projects this provider enumerated".to_owned(),
                ..AccountCoverage::default()
            });
        };
        Project {
            config: &self.config,
            rest: &plan.rest,
            id: account,
            sink,
            gaps: AtomicU64::new(0),
        }
        .scan()
        .await
    }
}

struct Project<'a> {
    config: &'a GcpConfig,
    rest: &'a GcpRest,
    id: &'a str,
    sink: &'a FactSink,
    gaps: AtomicU64,
}

/// A bucket's size from Cloud Monitoring: bytes per storage class, objects, when.
#[derive(Debug, Default, Clone)]
struct BucketSize {
    bytes: HashMap<String, i64>,
    objects: i64,
    at_ms: i64,
}

impl Project<'_> {
    async fn push(&self, subject: &str, call: &Call, body: fact::Body) -> Result<(), SinkClosed> {
        self.sink
            .push(new_fact(self.id, subject, call.name, body))
            .await
    }

    async fn gap(&self, subject: &str, call: &Call, f: &CallFailure) -> Result<(), SinkClosed> {
        self.gaps.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(project = self.id, subject, call = call.name, "gap: {f}");
        self.push(subject, call, fact::Body::Gap(f.gap(call))).await
    }

    async fn scan(&self) -> Result<AccountCoverage, SinkClosed> {
        let url = match GcpRest::url(
            &self.config.storage_endpoint,
            "/storage/v1/b",
            &[
                ("project", self.id),
                ("maxResults", "1000"),
                ("projection", "noAcl"),
            ],
        ) {
            Ok(u) => u,
            Err(f) => return self.incomplete(f).await,
        };
        let (buckets, failure) = self.rest.list::<rest::Bucket>(url, "items").await;
        if let Some(f) = failure {
            return self.incomplete(f).await;
        }
        self.sink.stores_found(buckets.len() as u64);
        let sizes = if self.config.metrics && !buckets.is_empty() {
            Some(self.sizes().await)
        } else {
            None
        };
        let results: Vec<Result<(), SinkClosed>> = stream::iter(buckets.iter())
            .map(|b| self.bucket(b, sizes.as_ref()))
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        for r in results {
            r?;
        }
        // Key name -> the references naming it (a disk's names a version).
        let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for k in buckets
            .iter()
            .filter_map(|b| b.encryption.as_ref())
            .map(|e| e.default_kms_key_name.as_str())
            .filter(|k| !k.is_empty())
        {
            keys.entry(key_name(k)).or_default().insert(k.to_owned());
        }
        let others = self.other_kinds(&mut keys).await?;
        // Each key once per project, after the stores naming it.
        for (name, refs) in keys {
            self.describe_key(&name, refs.into_iter().collect()).await?;
        }
        Ok(AccountCoverage {
            account: self.id.to_owned(),
            complete: true,
            stores_seen: buckets.len() as u64 + others,
            gaps: self.gaps.load(Ordering::Relaxed),
            reason: String::new(),
        })
    }

    async fn incomplete(&self, f: CallFailure) -> Result<AccountCoverage, SinkClosed> {
        self.gap(self.id, calls::LIST_BUCKETS, &f).await?;
        Ok(AccountCoverage {
            account: self.id.to_owned(),
            complete: false,
            stores_seen: 0,
            gaps: self.gaps.load(Ordering::Relaxed),
            reason: format!("{} failed: {f}", calls::LIST_BUCKETS.name),
        })
    }

    async fn bucket(
        &self,
        b: &rest::Bucket,
        sizes: Option<&Result<HashMap<String, BucketSize>, CallFailure>>,
    ) -> Result<(), SinkClosed> {
        let name = b.name.as_str();
        let call = calls::LIST_BUCKETS;
        let store = Store {
            provider: self.config.provider.clone(),
            service: SERVICE_BUCKET.to_owned(),
            name: name.to_owned(),
            region: b.location.clone(),
            region_source: REGION_FROM_LISTING.to_owned(),
            created_at_ms: b
                .time_created
                .as_deref()
                .and_then(parse_time_ms)
                .unwrap_or_default(),
            // The location type ("region", "dual-region", "multi-region") is the bucket's
            // redundancy, as an Azure SKU is an account's.
            sku: b.location_type.clone(),
            access_tier: b.storage_class.clone(),
            kind: StoreKind::Bucket as i32,
            ..Store::default()
        };
        self.push(name, call, fact::Body::Store(store)).await?;
        self.push(
            name,
            call,
            fact::Body::Tags(Tags {
                tags: b
                    .labels
                    .iter()
                    .map(|(k, v)| Tag {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
            }),
        )
        .await?;
        self.push(name, call, fact::Body::Encryption(bucket_encryption(b)))
            .await?;
        self.push(name, call, fact::Body::Replication(data_locations(b)))
            .await?;
        self.push(name, call, fact::Body::Retention(retention(b)))
            .await?;
        match sizes {
            Some(Ok(sizes)) => {
                let size = match sizes.get(name) {
                    Some(s) => Size {
                        bytes_by_storage_type: s.bytes.clone(),
                        objects: s.objects,
                        datapoint_at_ms: s.at_ms,
                        known: true,
                        allocated_bytes: None,
                    },
                    // No datapoint (a new or empty bucket): unknown, not zero.
                    None => Size::default(),
                };
                self.push(name, calls::LIST_TIME_SERIES, fact::Body::Size(size))
                    .await?;
            }
            Some(Err(f)) => self.gap(name, calls::LIST_TIME_SERIES, f).await?,
            None => {}
        }
        self.sink.store_done();
        Ok(())
    }

    /// Every bucket's latest `total_bytes` (per storage class) and `object_count` in the
    /// project: two listings per project, not per bucket.
    async fn sizes(&self) -> Result<HashMap<String, BucketSize>, CallFailure> {
        let end = time::OffsetDateTime::now_utc();
        let start = end - time::Duration::days(2);
        let fmt = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let (start, end) = (fmt(start), fmt(end));
        let mut out: HashMap<String, BucketSize> = HashMap::new();
        for metric in [TOTAL_BYTES, OBJECT_COUNT] {
            let filter = format!("metric.type = \"{metric}\" AND resource.type = \"gcs_bucket\"");
            let url = GcpRest::url(
                &self.config.monitoring_endpoint,
                &format!("/v3/projects/{}/timeSeries", self.id),
                &[
                    ("filter", &filter),
                    ("interval.startTime", &start),
                    ("interval.endTime", &end),
                    ("view", "FULL"),
                ],
            )?;
            let (series, failure) = self.rest.list::<rest::TimeSeries>(url, "timeSeries").await;
            if let Some(f) = failure {
                return Err(f);
            }
            // Per bucket and storage class, the latest point.
            let mut latest: BTreeMap<(String, String), (String, f64)> = BTreeMap::new();
            for s in series {
                let Some(bucket) = s.resource.labels.get("bucket_name").cloned() else {
                    continue;
                };
                let class = s
                    .metric
                    .labels
                    .get("storage_class")
                    .cloned()
                    .unwrap_or_default();
                for p in &s.points {
                    let Some(v) = p.value.as_f64() else { continue };
                    let slot = latest
                        .entry((bucket.clone(), class.clone()))
                        .or_insert_with(|| (String::new(), 0.0));
                    if p.interval.end_time > slot.0 {
                        *slot = (p.interval.end_time.clone(), v);
                    }
                }
            }
            for ((bucket, class), (at, v)) in latest {
                let entry = out.entry(bucket).or_default();
                entry.at_ms = entry.at_ms.max(parse_time_ms(&at).unwrap_or_default());
                if metric == TOTAL_BYTES {
                    let key = if class.is_empty() {
                        "gcs".to_owned()
                    } else {
                        format!("gcs:{class}")
                    };
                    *entry.bytes.entry(key).or_default() += v.round() as i64;
                } else {
                    entry.objects += v.round() as i64;
                }
            }
        }
        // A bucket with an object count but no byte series has no known size.
        out.retain(|_, s| !s.bytes.is_empty());
        Ok(out)
    }

    /// Cloud SQL instances, Persistent Disks and snapshots as `[gcp] kinds` asks: one
    /// listing each; a failed listing is a gap on that kind (its stores unknown, never
    /// gone), the items it gave before failing are still reported. Adds the keys they name
    /// to `keys`; returns the stores seen.
    async fn other_kinds(
        &self,
        keys: &mut BTreeMap<String, BTreeSet<String>>,
    ) -> Result<u64, SinkClosed> {
        let enabled = |k: &str| self.config.kinds.iter().any(|c| c == k);
        let provider = self.config.provider.as_str();
        let created = |t: &Option<String>| t.as_deref().and_then(parse_time_ms).unwrap_or_default();
        let mut stores: Vec<kinds::StoreFacts> = Vec::new();
        if enabled("database") {
            let call = calls::LIST_SQL_INSTANCES;
            let (items, failure) = match kinds::sql_url(&self.config.sqladmin_endpoint, self.id) {
                Ok(url) => self.rest.list::<kinds::SqlInstance>(url, "items").await,
                Err(f) => (Vec::new(), Some(f)),
            };
            if let Some(f) = failure {
                self.listing_gap(StoreKind::Database, call, &f).await?;
            }
            stores.extend(
                items
                    .iter()
                    .map(|i| kinds::sql_facts(provider, self.id, i, created(&i.create_time))),
            );
        }
        let mut disk_regions: HashMap<String, String> = HashMap::new();
        if enabled("volume") {
            let (disks, failure) = match kinds::disks_url(&self.config.compute_endpoint, self.id) {
                Ok(url) => self.rest.list_with(url, kinds::aggregated_disks).await,
                Err(f) => (Vec::new(), Some(f)),
            };
            if let Some(f) = failure {
                self.listing_gap(StoreKind::Volume, calls::LIST_DISKS, &f)
                    .await?;
            }
            for d in &disks {
                disk_regions.insert(d.subject(self.id), d.region().0);
                stores.push(kinds::disk_facts(
                    provider,
                    self.id,
                    d,
                    created(&d.creation_timestamp),
                ));
            }
        }
        if enabled("snapshot") {
            let (snapshots, failure) =
                match kinds::snapshots_url(&self.config.compute_endpoint, self.id) {
                    Ok(url) => self.rest.list::<kinds::Snapshot>(url, "items").await,
                    Err(f) => (Vec::new(), Some(f)),
                };
            if let Some(f) = failure {
                self.listing_gap(StoreKind::Snapshot, calls::LIST_SNAPSHOTS, &f)
                    .await?;
            }
            stores.extend(snapshots.iter().map(|s| {
                kinds::snapshot_facts(
                    provider,
                    self.id,
                    s,
                    created(&s.creation_timestamp),
                    &disk_regions,
                )
            }));
        }
        self.sink.stores_found(stores.len() as u64);
        for facts in &stores {
            for (subject, call, body) in facts {
                if let fact::Body::Encryption(e) = body
                    && !e.key_ref.is_empty()
                {
                    keys.entry(e.resolved_key_arn.clone())
                        .or_default()
                        .insert(e.key_ref.clone());
                }
                self.push(subject, call, body.clone()).await?;
            }
            self.sink.store_done();
        }
        Ok(stores.len() as u64)
    }

    /// A failed listing of one kind: a gap on `listing_part(kind, "")`, so the collector
    /// marks none of that kind gone and says why they are unknown.
    async fn listing_gap(
        &self,
        kind: StoreKind,
        call: &Call,
        f: &CallFailure,
    ) -> Result<(), SinkClosed> {
        self.gap(&landmeter_proto::listing_part(kind, ""), call, f)
            .await
    }

    /// Reads one Cloud KMS key (`cryptoKeys.get`); the fact's subject and `arn` are the
    /// key's resource name, `requested_refs` the references the stores gave.
    async fn describe_key(&self, name: &str, refs: Vec<String>) -> Result<(), SinkClosed> {
        let name = name.to_owned();
        let call = calls::GET_CRYPTO_KEY;
        let url = match GcpRest::url(&self.config.kms_endpoint, &format!("/v1/{name}"), &[]) {
            Ok(u) => u,
            Err(f) => return self.gap(&name, call, &f).await,
        };
        match self.rest.get::<rest::CryptoKey>(url).await {
            Ok(k) => {
                let mut key = key_fact(&k);
                key.requested_refs = refs;
                self.push(&name, call, fact::Body::Key(key)).await
            }
            Err(f) => self.gap(&name, call, &f).await,
        }
    }
}

/// The bucket's `Encryption` fact: Google default encryption, or its default Cloud KMS key.
fn bucket_encryption(b: &rest::Bucket) -> Encryption {
    let key = b
        .encryption
        .as_ref()
        .map(|e| e.default_kms_key_name.as_str())
        .unwrap_or_default();
    Encryption {
        state: EncryptionState::Configured as i32,
        algorithm: if key.is_empty() {
            GOOGLE_DEFAULT_ENCRYPTION
        } else {
            CLOUD_KMS
        }
        .to_owned(),
        key_ref: key.to_owned(),
        resolved_key_arn: if key.is_empty() {
            String::new()
        } else {
            key_name(key)
        },
        ..Encryption::default()
    }
}

/// The regions a dual-region or custom placement keeps the data in
/// (`customPlacementConfig.dataLocations`), as copies of the bucket; none for a region or a
/// predefined multi- or dual-region (the collector knows their members).
fn data_locations(b: &rest::Bucket) -> Replication {
    let rules = b
        .custom_placement_config
        .iter()
        .flat_map(|c| &c.data_locations)
        .map(|region| ReplicationRule {
            id: format!("dataLocations:{region}"),
            status: "Enabled".to_owned(),
            destination_bucket: b.name.clone(),
            destination_region: region.clone(),
            copy_kind: CopyKind::MultiRegion as i32,
            ..ReplicationRule::default()
        })
        .collect();
    Replication { rules }
}

/// The retention policy: a locked policy cannot be shortened or removed (bucket lock).
fn retention(b: &rest::Bucket) -> Retention {
    match &b.retention_policy {
        Some(p) => Retention {
            enabled: true,
            mode: if p.is_locked { "LOCKED" } else { "UNLOCKED" }.to_owned(),
            days: p
                .seconds()
                .map(|s| i32::try_from(s / 86_400).unwrap_or(i32::MAX))
                .unwrap_or_default(),
            ..Retention::default()
        },
        None => Retention::default(),
    }
}

/// `projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/N]` without a version.
pub fn key_name(key_ref: &str) -> String {
    match key_ref.find("/cryptoKeyVersions/") {
        Some(i) => key_ref[..i].to_owned(),
        None => key_ref.to_owned(),
    }
}

/// (project, location) of a Cloud KMS resource name.
pub fn key_project_and_location(name: &str) -> (String, String) {
    let parts: Vec<&str> = name.split('/').collect();
    let after = |label: &str| {
        parts
            .iter()
            .position(|p| *p == label)
            .and_then(|i| parts.get(i + 1))
            .map(|s| (*s).to_owned())
            .unwrap_or_default()
    };
    (after("projects"), after("locations"))
}

/// A Cloud KMS key as a `Key` fact: the primary version's protection level as `origin`,
/// its import job, external key URI (or EKM connection key path) and the key's backend.
fn key_fact(k: &rest::CryptoKey) -> Key {
    let (project, location) = key_project_and_location(&k.name);
    let primary = k.primary.clone().unwrap_or_default();
    let level = if primary.protection_level.is_empty() {
        k.version_template
            .as_ref()
            .map(|t| t.protection_level.clone())
            .unwrap_or_default()
    } else {
        primary.protection_level.clone()
    };
    let external = primary
        .external_protection_level_options
        .unwrap_or_default();
    Key {
        arn: k.name.clone(),
        key_account: project,
        region: location,
        key_manager: "CUSTOMER".to_owned(),
        hsm_backed: matches!(level.as_str(), "HSM" | "HSM_SINGLE_TENANT"),
        origin: level,
        key_state: primary.state.clone(),
        key_spec: if primary.algorithm.is_empty() {
            k.version_template
                .as_ref()
                .map(|t| t.algorithm.clone())
                .unwrap_or_default()
        } else {
            primary.algorithm.clone()
        },
        key_type: k.purpose.clone(),
        key_service: KEY_SERVICE.to_owned(),
        import_job: primary.import_job,
        external_key_uri: if external.external_key_uri.is_empty() {
            external.ekm_connection_key_path
        } else {
            external.external_key_uri
        },
        key_backend: k.crypto_key_backend.clone(),
        ..Key::default()
    }
}

fn parse_time_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_split_into_project_and_location() {
        let name = "projects/p-1/locations/europe-west4/keyRings/r/cryptoKeys/k";
        assert_eq!(key_name(&format!("{name}/cryptoKeyVersions/3")), name);
        assert_eq!(
            key_project_and_location(name),
            ("p-1".to_owned(), "europe-west4".to_owned())
        );
    }

    #[test]
    fn imported_and_external_keys_keep_their_evidence() {
        let k: rest::CryptoKey = serde_json::from_value(serde_json::json!({
            "name": "projects/p/locations/europe/keyRings/r/cryptoKeys/k",
            "purpose": "ENCRYPT_DECRYPT",
            "cryptoKeyBackend": "projects/p/locations/europe/ekmConnections/c",
            "primary": {"state": "ENABLED", "protectionLevel": "EXTERNAL_VPC",
                        "externalProtectionLevelOptions": {"ekmConnectionKeyPath": "v0/keys/k1"}}
        }))
        .expect("parses");
        let key = key_fact(&k);
        assert_eq!(key.origin, "EXTERNAL_VPC");
        assert_eq!(key.external_key_uri, "v0/keys/k1");
        assert_eq!(
            key.key_backend,
            "projects/p/locations/europe/ekmConnections/c"
        );
        assert_eq!(
            (key.key_account.as_str(), key.region.as_str()),
            ("p", "europe")
        );
        let k: rest::CryptoKey = serde_json::from_value(serde_json::json!({
            "name": "projects/p/locations/europe-west3/keyRings/r/cryptoKeys/k",
            "primary": {"state": "ENABLED", "protectionLevel": "HSM",
                        "importJob": "projects/p/locations/europe-west3/keyRings/r/importJobs/j"}
        }))
        .expect("parses");
        let key = key_fact(&k);
        assert!(key.hsm_backed);
        assert!(key.import_job.ends_with("importJobs/j"));
    }

    #[test]
    fn dual_region_members_are_copies_and_locks_are_kept() {
        let b: rest::Bucket = serde_json::from_value(serde_json::json!({
            "name": "b", "location": "EU", "locationType": "dual-region",
            "customPlacementConfig": {"dataLocations": ["EUROPE-WEST1", "EUROPE-WEST6"]},
            "retentionPolicy": {"retentionPeriod": "864000", "isLocked": true}
        }))
        .expect("parses");
        let r = data_locations(&b);
        let regions: Vec<&str> = r
            .rules
            .iter()
            .map(|r| r.destination_region.as_str())
            .collect();
        assert_eq!(regions, ["EUROPE-WEST1", "EUROPE-WEST6"]);
        let lock = retention(&b);
        assert!(lock.enabled);
        assert_eq!((lock.mode.as_str(), lock.days), ("LOCKED", 10));
        let e = bucket_encryption(&b);
        assert_eq!(e.algorithm, GOOGLE_DEFAULT_ENCRYPTION);
        assert!(e.key_ref.is_empty());
    }
}
