//! Stores other than buckets, per account and region: RDS databases and snapshots, DynamoDB
//! tables, EBS volumes and snapshots (and the region's EBS encryption defaults), EFS file
//! systems, AWS Backup vaults and CloudWatch Logs log groups.
//!
//! [`AccountScan::scan_kinds`] decides the regions (`regions.rs`), then runs one task per
//! (region, service), `concurrency` at a time, each with its own SDK client for its region;
//! the per-store calls inside a task share the scan's permits. A failed listing of one kind
//! in one region is a gap on `listing_part(kind, region)`, so the collector marks none of
//! that kind there gone. A task asks its region's listings at once (RDS's four, EBS's
//! settings and two listings, DynamoDB's two): they are independent, and at a cloud's round
//! trip a chain of four listings per region was the scan's longest path. Encryption facts
//! wait until the keys they name are described (`account.rs`), as for buckets, and then
//! carry the resolved key ARN.

use std::collections::{BTreeSet, HashMap};

use aws_config::Region;
use futures::channel::mpsc::UnboundedSender;
use futures::{StreamExt, stream};
use landmeter_proto::listing_part;
use landmeter_proto::v1::{
    Encryption, EncryptionState, FactTopic, Replication, ReplicationRule, Size, Store, StoreKind,
    Tag, Tags, fact,
};

use super::account::AccountScan;
use super::sdk::NoRetryOnHtmlError;
use crate::arn::Arn;
use crate::providers::{Call, CallFailure};
use crate::sink::SinkClosed;

mod backup;
mod dynamodb;
mod ebs;
mod efs;
mod logs;
mod rds;
mod regions;

/// `listing` awaited when `wanted`: one of a region's listings asked at once with the others
/// (`tokio::join!`), each only for the kinds configured.
async fn when<T>(wanted: bool, listing: impl Future<Output = T>) -> Option<T> {
    if wanted { Some(listing.await) } else { None }
}

/// The store kind of a `[aws] kinds` value.
pub(super) fn kind_of(label: &str) -> Option<StoreKind> {
    Some(match label {
        "database" => StoreKind::Database,
        "table" => StoreKind::Table,
        "volume" => StoreKind::Volume,
        "snapshot" => StoreKind::Snapshot,
        "file-system" => StoreKind::FileSystem,
        "backup-vault" => StoreKind::BackupVault,
        "log-group" => StoreKind::LogGroup,
        _ => return None,
    })
}

/// One service's regional scan; each covers the kinds it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Rds,
    DynamoDb,
    Ebs,
    Efs,
    Backup,
    Logs,
}

impl Service {
    const ALL: [Service; 6] = [
        Service::Rds,
        Service::DynamoDb,
        Service::Ebs,
        Service::Efs,
        Service::Backup,
        Service::Logs,
    ];

    fn kinds(self) -> &'static [StoreKind] {
        match self {
            Service::Rds => &[StoreKind::Database, StoreKind::Snapshot],
            Service::DynamoDb => &[StoreKind::Table, StoreKind::Snapshot],
            Service::Ebs => &[StoreKind::Volume, StoreKind::Snapshot],
            Service::Efs => &[StoreKind::FileSystem],
            Service::Backup => &[StoreKind::BackupVault],
            Service::Logs => &[StoreKind::LogGroup],
        }
    }
}

/// What the kinds' scan leaves for after key resolution.
#[derive(Debug, Default)]
pub(super) struct KindsOutcome {
    pub(super) stores: u64,
    encryptions: Vec<PendingEncryption>,
}

#[derive(Debug)]
struct PendingEncryption {
    subject: String,
    /// The store's region: a bare key id or alias names a key there.
    region: String,
    call: &'static Call,
    encryption: Encryption,
}

impl KindsOutcome {
    /// (raw key reference, region it resolves in) of every encryption naming a key.
    pub(super) fn key_refs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.encryptions
            .iter()
            .filter(|e| !e.encryption.key_ref.is_empty())
            .map(|e| (e.encryption.key_ref.clone(), e.region.clone()))
    }

    fn merge(&mut self, other: KindsOutcome) {
        self.stores += other.stores;
        self.encryptions.extend(other.encryptions);
    }

    fn encryption(&mut self, subject: &str, region: &str, call: &'static Call, e: Encryption) {
        self.encryptions.push(PendingEncryption {
            subject: subject.to_owned(),
            region: region.to_owned(),
            call,
            encryption: e,
        });
    }
}

impl AccountScan<'_> {
    /// Scans the configured kinds in every region to cover; `bucket_regions` are the
    /// fallback when the enabled regions cannot be listed (awaited only then). The key
    /// references of each finished (region, service) go to `keys_ahead`, so their KMS
    /// questions overlap the other regions' listings instead of following the last one.
    pub(super) async fn scan_kinds(
        &self,
        bucket_regions: impl Future<Output = BTreeSet<String>>,
        keys_ahead: &UnboundedSender<(String, String)>,
    ) -> Result<KindsOutcome, SinkClosed> {
        if self.settings.kinds.is_empty() {
            return Ok(KindsOutcome::default());
        }
        let regions = self.kind_regions(bucket_regions).await?;
        let tasks: Vec<(String, Service)> = regions
            .iter()
            .flat_map(|region| {
                Service::ALL
                    .into_iter()
                    .filter(|s| s.kinds().iter().any(|k| self.wants(*k)))
                    .map(move |s| (region.clone(), s))
            })
            .collect();
        let mut outcome = KindsOutcome::default();
        let mut done = stream::iter(tasks)
            .map(|(region, service)| async move {
                match service {
                    Service::Rds => self.rds(&region).await,
                    Service::DynamoDb => self.dynamodb(&region).await,
                    Service::Ebs => self.ebs(&region).await,
                    Service::Efs => self.efs(&region).await,
                    Service::Backup => self.backup(&region).await,
                    Service::Logs => self.logs(&region).await,
                }
            })
            .buffer_unordered(self.settings.concurrency);
        while let Some(part) = done.next().await {
            let part = part?;
            for key_ref in part.key_refs() {
                // No receiver (the buckets' part stopped early) only loses the head start.
                let _ = keys_ahead.unbounded_send(key_ref);
            }
            outcome.merge(part);
        }
        Ok(outcome)
    }

    /// Emits the kinds' encryption facts with the key ARNs their references resolved to.
    pub(super) async fn emit_kind_encryptions(
        &self,
        kinds: KindsOutcome,
        resolved: &HashMap<(String, String), String>,
    ) -> Result<(), SinkClosed> {
        for mut pending in kinds.encryptions {
            let e = &mut pending.encryption;
            if !e.key_ref.is_empty()
                && let Some(arn) = resolved.get(&(
                    crate::arn::KeyRef::parse(&e.key_ref)
                        .region()
                        .unwrap_or(&pending.region)
                        .to_owned(),
                    e.key_ref.clone(),
                ))
            {
                e.resolved_key_arn.clone_from(arn);
            }
            self.emit(
                &pending.subject,
                pending.call,
                fact::Body::Encryption(pending.encryption),
            )
            .await?;
        }
        Ok(())
    }

    fn wants(&self, kind: StoreKind) -> bool {
        self.settings.kinds.contains(&kind)
    }

    /// A store of another kind than bucket, found by a regional listing.
    fn kind_store(
        &self,
        service: &str,
        kind: StoreKind,
        name: &str,
        region: &str,
        call: &Call,
    ) -> Store {
        Store {
            provider: self.settings.provider.clone(),
            service: service.to_owned(),
            name: name.to_owned(),
            region: region.to_owned(),
            region_source: call.name.to_owned(),
            endpoint: self.settings.endpoint.clone().unwrap_or_default(),
            kind: kind as i32,
            ..Store::default()
        }
    }

    /// Emits a store's `Store` fact and counts it as examined.
    async fn emit_store(&self, call: &Call, store: Store) -> Result<(), SinkClosed> {
        let name = store.name.clone();
        self.emit(&name, call, fact::Body::Store(store)).await?;
        self.sink.store_done();
        Ok(())
    }

    /// A failed call that leaves `topic` of `subject` unknown (its registry topic may be
    /// another: a listing that answered without an encryption field).
    async fn gap_on(
        &self,
        subject: &str,
        call: &Call,
        topic: FactTopic,
        failed: &CallFailure,
    ) -> Result<(), SinkClosed> {
        self.gaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut gap = failed.gap(call);
        gap.topic = topic as i32;
        self.emit(subject, call, fact::Body::Gap(gap)).await
    }

    /// A failed listing of `kind` in `region`.
    async fn listing_gap(
        &self,
        kind: StoreKind,
        region: &str,
        call: &Call,
        failed: &CallFailure,
    ) -> Result<(), SinkClosed> {
        tracing::warn!(account = %self.account, region, kind = kind.label(), call = call.name, error = %failed, "cannot list stores of this kind");
        self.gap(&listing_part(kind, region), call, failed).await
    }

    async fn emit_tags(
        &self,
        subject: &str,
        call: &Call,
        tags: impl Iterator<Item = (String, String)>,
    ) -> Result<(), SinkClosed> {
        let tags = tags.map(|(key, value)| Tag { key, value }).collect();
        self.emit(subject, call, fact::Body::Tags(Tags { tags }))
            .await
    }

    async fn emit_size(&self, subject: &str, call: &Call, size: Size) -> Result<(), SinkClosed> {
        self.emit(subject, call, fact::Body::Size(size)).await
    }

    async fn emit_replication(
        &self,
        subject: &str,
        call: &Call,
        rules: Vec<ReplicationRule>,
    ) -> Result<(), SinkClosed> {
        self.emit(
            subject,
            call,
            fact::Body::Replication(Replication { rules }),
        )
        .await
    }

    /// `arn:aws:<service>:<region>:<this account>:<resource>`, for APIs that give bare ids.
    fn arn(&self, service: &str, region: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{region}:{}:{resource}", self.account)
    }

    /// A copy rule to `destination` (an ARN): region and, when other, account from the ARN.
    fn copy_rule(
        &self,
        destination: &str,
        copy_kind: landmeter_proto::v1::CopyKind,
        status: &str,
    ) -> ReplicationRule {
        let parsed = Arn::parse(destination);
        ReplicationRule {
            destination_bucket: destination.to_owned(),
            destination_region: parsed.map(|a| a.region.to_owned()).unwrap_or_default(),
            destination_account: parsed
                .map(|a| a.account)
                .filter(|a| !a.is_empty() && *a != self.account)
                .unwrap_or_default()
                .to_owned(),
            status: status.to_owned(),
            copy_kind: copy_kind as i32,
            ..ReplicationRule::default()
        }
    }

    fn rds_client(&self, region: &str) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .retry_classifier(NoRetryOnHtmlError)
                .build(),
        )
    }

    fn dynamodb_client(&self, region: &str) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .retry_classifier(NoRetryOnHtmlError)
                .build(),
        )
    }

    fn ec2_client(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .retry_classifier(NoRetryOnHtmlError)
                .build(),
        )
    }

    fn efs_client(&self, region: &str) -> aws_sdk_efs::Client {
        aws_sdk_efs::Client::from_conf(
            aws_sdk_efs::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .retry_classifier(NoRetryOnHtmlError)
                .build(),
        )
    }

    fn backup_client(&self, region: &str) -> aws_sdk_backup::Client {
        aws_sdk_backup::Client::from_conf(
            aws_sdk_backup::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .retry_classifier(NoRetryOnHtmlError)
                .build(),
        )
    }

    fn logs_client(&self, region: &str) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .retry_classifier(NoRetryOnHtmlError)
                .build(),
        )
    }
}

/// The service says the data is not encrypted at rest; `evidence` is the raw field.
fn disabled(evidence: &str) -> Encryption {
    Encryption {
        state: EncryptionState::Disabled as i32,
        algorithm: evidence.to_owned(),
        ..Encryption::default()
    }
}

/// Encrypted; with the key the service names, or (None / empty) with the provider's own.
fn configured(algorithm: &str, key_ref: Option<&str>) -> Encryption {
    Encryption {
        state: EncryptionState::Configured as i32,
        algorithm: algorithm.to_owned(),
        key_ref: key_ref.unwrap_or_default().to_owned(),
        ..Encryption::default()
    }
}

/// Provisioned capacity in GiB; stored bytes not read.
fn allocated_gib(gib: i64) -> Size {
    Size {
        allocated_bytes: Some(gib.saturating_mul(1 << 30)),
        known: false,
        ..Size::default()
    }
}

/// Stored bytes (and items or recovery points) as the service reports them.
fn stored(storage_type: &str, bytes: i64, objects: i64) -> Size {
    Size {
        bytes_by_storage_type: [(storage_type.to_owned(), bytes)].into(),
        objects,
        known: true,
        ..Size::default()
    }
}

fn millis(t: Option<&aws_smithy_types::DateTime>) -> i64 {
    t.and_then(|t| t.to_millis().ok()).unwrap_or_default()
}

/// The region of an ARN, empty when the value is not one.
fn arn_region(value: &str) -> String {
    Arn::parse(value)
        .map(|a| a.region.to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_kind_has_a_store_kind_and_a_service() {
        for label in super::super::config::AWS_KINDS {
            let kind = kind_of(label).unwrap_or_else(|| panic!("{label}"));
            assert_eq!(kind.label(), *label);
            assert!(Service::ALL.iter().any(|s| s.kinds().contains(&kind)));
        }
        assert_eq!(kind_of("bucket"), None, "buckets are always scanned");
    }

    #[test]
    fn sizes_keep_allocated_and_stored_apart() {
        let a = allocated_gib(20);
        assert_eq!(a.allocated_bytes, Some(20 << 30));
        assert!(!a.known && a.bytes_by_storage_type.is_empty());
        let s = stored("Stored", 5, 2);
        assert!(s.known && s.allocated_bytes.is_none());
        assert_eq!(arn_region("arn:aws:rds:us-east-1:1:db:x"), "us-east-1");
        assert_eq!(arn_region("payroll"), "");
    }
}
