//! RDS: DB instances (members of a cluster are skipped: the cluster is the store), DB
//! clusters and DB snapshots, with read replicas, Aurora global database members and
//! snapshot copies as copies, and who else may restore a manual snapshot
//! (`DescribeDBSnapshotAttributes`). Automated backups replicated from an instance in another
//! region (`DescribeDBInstanceAutomatedBackups` here, `DBInstanceAutomatedBackupsReplications`
//! on the source instance) are snapshot-kind stores: a backup copy under a key of this region.

use std::collections::HashSet;

use aws_sdk_rds::types::{
    DbCluster, DbInstance, DbInstanceAutomatedBackup, DbSnapshot, StorageEncryptionType,
};
use futures::{StreamExt, stream};
use landmeter_proto::v1::{CopyKind, Encryption, FactTopic, Retention, Sharing, StoreKind, fact};

use super::super::account::AccountScan;
use super::super::calls;
use super::super::sdk::failure;
use super::{KindsOutcome, allocated_gib, arn_region, configured, disabled, millis, when};
use crate::providers::{Call, CallFailure};
use crate::sink::SinkClosed;

const SERVICE: &str = "rds";
/// The `restore` attribute's value for a public snapshot.
const PUBLIC: &str = "all";

impl AccountScan<'_> {
    pub(super) async fn rds(&self, region: &str) -> Result<KindsOutcome, SinkClosed> {
        let client = self.rds_client(region);
        let mut out = KindsOutcome::default();
        // Identifiers of this region's instances and clusters: a snapshot names its source
        // by identifier, which means a store here only when one of them has it.
        let mut sources: Option<HashSet<String>> = None;
        let databases = self.wants(StoreKind::Database);
        let snapshots = self.wants(StoreKind::Snapshot);
        let (instances, clusters, snapshot_list, automated) = tokio::join!(
            when(databases, list_instances(&client)),
            when(databases, list_clusters(&client)),
            when(snapshots, list_snapshots(&client)),
            when(snapshots, list_automated_backups(&client)),
        );
        if let Some(instances) = instances {
            match instances {
                Ok(instances) => {
                    let mut ids = HashSet::new();
                    let stores: Vec<&DbInstance> = instances
                        .iter()
                        .inspect(|db| {
                            ids.extend(db.db_instance_identifier().map(str::to_owned));
                        })
                        .filter(|db| db.db_cluster_identifier().is_none_or(str::is_empty))
                        .collect();
                    self.sink.stores_found(stores.len() as u64);
                    for db in stores {
                        out.merge(self.rds_instance(region, db).await?);
                    }
                    sources = Some(ids);
                }
                Err(failed) => {
                    self.listing_gap(
                        StoreKind::Database,
                        region,
                        calls::DESCRIBE_DB_INSTANCES,
                        &failed,
                    )
                    .await?
                }
            }
        }
        if let Some(clusters) = clusters {
            match clusters {
                Ok(clusters) => {
                    self.sink.stores_found(clusters.len() as u64);
                    // Asked only where a cluster belongs to a global database.
                    let global = if clusters
                        .iter()
                        .any(|c| c.global_cluster_identifier().is_some_and(|g| !g.is_empty()))
                    {
                        Some(list_global_members(&client).await)
                    } else {
                        None
                    };
                    for cluster in &clusters {
                        out.merge(self.rds_cluster(region, cluster, global.as_ref()).await?);
                    }
                }
                Err(failed) => {
                    self.listing_gap(
                        StoreKind::Database,
                        region,
                        calls::DESCRIBE_DB_CLUSTERS,
                        &failed,
                    )
                    .await?
                }
            }
        }
        if let Some(snapshot_list) = snapshot_list {
            match snapshot_list {
                Ok(snapshots) => {
                    self.sink.stores_found(snapshots.len() as u64);
                    let client = &client;
                    let sources = &sources;
                    let mut done = stream::iter(&snapshots)
                        .map(|s| self.rds_snapshot(client, region, s, sources.as_ref()))
                        .buffer_unordered(self.settings.concurrency);
                    while let Some(part) = done.next().await {
                        out.merge(part?);
                    }
                }
                Err(failed) => {
                    self.listing_gap(
                        StoreKind::Snapshot,
                        region,
                        calls::DESCRIBE_DB_SNAPSHOTS,
                        &failed,
                    )
                    .await?
                }
            }
        }
        if let Some(automated) = automated {
            match automated {
                Ok(backups) => {
                    // This region's own automated backups belong to their instance; those
                    // replicated here from another region are copies kept here.
                    let copies: Vec<(&DbInstanceAutomatedBackup, String)> = backups
                        .iter()
                        .filter_map(|b| Some((b, replicated_from(b, region)?)))
                        .collect();
                    self.sink.stores_found(copies.len() as u64);
                    for (b, source_region) in copies {
                        out.merge(self.rds_backup_copy(region, b, &source_region).await?);
                    }
                }
                Err(failed) => {
                    self.listing_gap(
                        StoreKind::Snapshot,
                        region,
                        calls::DESCRIBE_DB_INSTANCE_AUTOMATED_BACKUPS,
                        &failed,
                    )
                    .await?
                }
            }
        }
        Ok(out)
    }

    /// An instance's automated backups replicated into `region` from `source_region`.
    async fn rds_backup_copy(
        &self,
        region: &str,
        b: &DbInstanceAutomatedBackup,
        source_region: &str,
    ) -> Result<KindsOutcome, SinkClosed> {
        let call = calls::DESCRIBE_DB_INSTANCE_AUTOMATED_BACKUPS;
        let mut out = KindsOutcome::default();
        let id = b
            .dbi_resource_id()
            .or(b.db_instance_identifier())
            .unwrap_or_default();
        let arn = match b.db_instance_automated_backups_arn() {
            Some(arn) if !arn.is_empty() => arn.to_owned(),
            _ => self.rds_subject(region, "auto-backup", id),
        };
        let mut store = self.kind_store(SERVICE, StoreKind::Snapshot, &arn, region, call);
        store.engine = b.engine().unwrap_or_default().to_owned();
        store.created_at_ms = millis(b.instance_create_time());
        store.copy_of = match b.db_instance_arn() {
            Some(source) if !source.is_empty() => source.to_owned(),
            _ => self.rds_subject(
                source_region,
                "db",
                b.db_instance_identifier().unwrap_or_default(),
            ),
        };
        store.copy_kind = CopyKind::BackupCopy as i32;
        store.copy_of_region = source_region.to_owned();
        self.emit_store(call, store).await?;
        // A replicated backup is encrypted under a key of this (the destination) region.
        self.rds_facts(
            &arn,
            region,
            call,
            RdsFacts {
                tags: b.tag_list(),
                encrypted: b.encrypted(),
                encryption_type: b.storage_encryption_type(),
                key: b.kms_key_id(),
                allocated_gib: b.allocated_storage(),
            },
            &mut out,
        )
        .await?;
        // Automated backups cannot be shared (only snapshots have a restore attribute).
        self.emit(&arn, call, fact::Body::Sharing(Sharing::default()))
            .await?;
        if let Some(days) = b.backup_retention_period().filter(|d| *d > 0) {
            self.emit(
                &arn,
                call,
                fact::Body::Retention(Retention {
                    delete_after_days: days,
                    ..Retention::default()
                }),
            )
            .await?;
        }
        Ok(out)
    }

    /// An RDS resource's subject: the ARN as given, or built from a bare identifier of this
    /// account and `region` (`db:`, `cluster:`, `snapshot:`).
    fn rds_subject(&self, region: &str, resource: &str, id: &str) -> String {
        if id.starts_with("arn:") {
            id.to_owned()
        } else {
            self.arn(SERVICE, region, &format!("{resource}:{id}"))
        }
    }

    async fn rds_instance(
        &self,
        region: &str,
        db: &DbInstance,
    ) -> Result<KindsOutcome, SinkClosed> {
        let call = calls::DESCRIBE_DB_INSTANCES;
        let mut out = KindsOutcome::default();
        let arn = match db.db_instance_arn() {
            Some(arn) if !arn.is_empty() => arn.to_owned(),
            _ => self.rds_subject(
                region,
                "db",
                db.db_instance_identifier().unwrap_or_default(),
            ),
        };
        let mut store = self.kind_store(SERVICE, StoreKind::Database, &arn, region, call);
        store.engine = db.engine().unwrap_or_default().to_owned();
        store.created_at_ms = millis(db.instance_create_time());
        if let Some(source) = db
            .read_replica_source_db_instance_identifier()
            .filter(|s| !s.is_empty())
        {
            store.copy_of = self.rds_subject(region, "db", source);
            store.copy_kind = CopyKind::ReadReplica as i32;
            store.copy_of_region = arn_region(&store.copy_of);
        }
        self.emit_store(call, store).await?;
        self.rds_facts(
            &arn,
            region,
            call,
            RdsFacts {
                tags: db.tag_list(),
                encrypted: db.storage_encrypted(),
                encryption_type: db.storage_encryption_type(),
                key: db.kms_key_id(),
                allocated_gib: db.allocated_storage(),
            },
            &mut out,
        )
        .await?;
        let replicas = db
            .read_replica_db_instance_identifiers()
            .iter()
            .map(|id| self.rds_subject(region, "db", id))
            .chain(
                db.read_replica_db_cluster_identifiers()
                    .iter()
                    .map(|id| self.rds_subject(region, "cluster", id)),
            )
            .map(|replica| self.copy_rule(&replica, CopyKind::ReadReplica, ""))
            .chain(
                // Automated backups replicated to another region (their ARN names it).
                db.db_instance_automated_backups_replications()
                    .iter()
                    .filter_map(|r| r.db_instance_automated_backups_arn())
                    .filter(|a| !a.is_empty())
                    .map(|backups| self.copy_rule(backups, CopyKind::BackupCopy, "")),
            )
            .collect();
        self.emit_replication(&arn, call, replicas).await?;
        Ok(out)
    }

    async fn rds_cluster(
        &self,
        region: &str,
        c: &DbCluster,
        global: Option<&Result<Vec<GlobalMember>, CallFailure>>,
    ) -> Result<KindsOutcome, SinkClosed> {
        let call = calls::DESCRIBE_DB_CLUSTERS;
        let mut out = KindsOutcome::default();
        let arn = match c.db_cluster_arn() {
            Some(arn) if !arn.is_empty() => arn.to_owned(),
            _ => self.rds_subject(
                region,
                "cluster",
                c.db_cluster_identifier().unwrap_or_default(),
            ),
        };
        let mut store = self.kind_store(SERVICE, StoreKind::Database, &arn, region, call);
        store.engine = c.engine().unwrap_or_default().to_owned();
        store.created_at_ms = millis(c.cluster_create_time());
        if let Some(source) = c.replication_source_identifier().filter(|s| !s.is_empty()) {
            store.copy_of = self.rds_subject(region, "cluster", source);
            store.copy_kind = CopyKind::ReadReplica as i32;
            store.copy_of_region = arn_region(&store.copy_of);
        }
        // An Aurora global database: the writer's cluster holds the data, every other
        // member a copy of it in its region.
        let group = c
            .global_cluster_identifier()
            .filter(|g| !g.is_empty())
            .and_then(|g| Some((g, global?)));
        let mut global_copies = Vec::new();
        if let Some((id, Ok(members))) = group {
            let mine: Vec<&GlobalMember> = members.iter().filter(|m| m.global_id == id).collect();
            let writer = mine
                .iter()
                .find(|m| m.is_writer)
                .map(|m| m.cluster_arn.as_str());
            if writer == Some(arn.as_str()) {
                global_copies = mine
                    .iter()
                    .filter(|m| m.cluster_arn != arn)
                    .map(|m| self.copy_rule(&m.cluster_arn, CopyKind::MultiRegion, &m.status))
                    .collect();
            } else if let Some(writer) = writer
                && store.copy_of.is_empty()
            {
                store.copy_of = writer.to_owned();
                store.copy_kind = CopyKind::MultiRegion as i32;
                store.copy_of_region = arn_region(writer);
            }
        }
        self.emit_store(call, store).await?;
        if let Some((_, Err(failed))) = group {
            self.gap(&arn, calls::DESCRIBE_GLOBAL_CLUSTERS, failed)
                .await?;
        }
        self.rds_facts(
            &arn,
            region,
            call,
            RdsFacts {
                tags: c.tag_list(),
                encrypted: c.storage_encrypted(),
                encryption_type: c.storage_encryption_type(),
                key: c.kms_key_id(),
                allocated_gib: c.allocated_storage(),
            },
            &mut out,
        )
        .await?;
        let replicas = c
            .read_replica_identifiers()
            .iter()
            .map(|id| self.rds_subject(region, "cluster", id))
            .map(|replica| self.copy_rule(&replica, CopyKind::ReadReplica, ""))
            .chain(global_copies)
            .collect();
        self.emit_replication(&arn, call, replicas).await?;
        Ok(out)
    }

    async fn rds_snapshot(
        &self,
        client: &aws_sdk_rds::Client,
        region: &str,
        s: &DbSnapshot,
        sources: Option<&HashSet<String>>,
    ) -> Result<KindsOutcome, SinkClosed> {
        let call = calls::DESCRIBE_DB_SNAPSHOTS;
        let mut out = KindsOutcome::default();
        let id = s.db_snapshot_identifier().unwrap_or_default();
        let arn = match s.db_snapshot_arn() {
            Some(arn) if !arn.is_empty() => arn.to_owned(),
            _ => self.rds_subject(region, "snapshot", id),
        };
        let mut store = self.kind_store(SERVICE, StoreKind::Snapshot, &arn, region, call);
        store.engine = s.engine().unwrap_or_default().to_owned();
        store.created_at_ms = millis(s.snapshot_create_time());
        if let Some(source) = s.source_db_snapshot_identifier().filter(|v| !v.is_empty()) {
            // Copied from another region or account: the source snapshot, by ARN there.
            let source_region = s
                .source_region()
                .filter(|r| !r.is_empty())
                .unwrap_or(region);
            store.copy_of = self.rds_subject(source_region, "snapshot", source);
            store.copy_kind = CopyKind::SnapshotCopy as i32;
            store.copy_of_region = match arn_region(&store.copy_of) {
                r if r.is_empty() => source_region.to_owned(),
                r => r,
            };
        } else if let Some(db) = s
            .db_instance_identifier()
            .filter(|v| !v.is_empty())
            .filter(|v| sources.is_none_or(|ids| ids.contains(*v)))
        {
            // A bare identifier names an instance of this region only when one has it (a
            // copy without its source fields names an instance elsewhere: no guess).
            store.copy_of = self.rds_subject(region, "db", db);
            store.copy_kind = CopyKind::Snapshot as i32;
            store.copy_of_region = region.to_owned();
        }
        self.emit_store(call, store).await?;
        self.rds_facts(
            &arn,
            region,
            call,
            RdsFacts {
                tags: s.tag_list(),
                encrypted: s.encrypted(),
                encryption_type: s.storage_encryption_type(),
                key: s.kms_key_id(),
                allocated_gib: s.allocated_storage(),
            },
            &mut out,
        )
        .await?;
        if s.snapshot_type() == Some("manual") {
            let _permit = self.permits.acquire().await.ok();
            match client
                .describe_db_snapshot_attributes()
                .db_snapshot_identifier(id)
                .send()
                .await
            {
                Ok(answer) => {
                    let values = answer
                        .db_snapshot_attributes_result()
                        .map(|r| r.db_snapshot_attributes())
                        .unwrap_or_default()
                        .iter()
                        .filter(|a| a.attribute_name() == Some("restore"))
                        .flat_map(|a| a.attribute_values().iter());
                    self.emit(
                        &arn,
                        calls::DESCRIBE_DB_SNAPSHOT_ATTRIBUTES,
                        fact::Body::Sharing(sharing(values)),
                    )
                    .await?;
                }
                Err(err) => {
                    self.gap(&arn, calls::DESCRIBE_DB_SNAPSHOT_ATTRIBUTES, &failure(&err))
                        .await?
                }
            }
        } else if s.snapshot_type() == Some("automated") {
            // AWS cannot share automated snapshots (only copies of them).
            self.emit(&arn, call, fact::Body::Sharing(Sharing::default()))
                .await?;
        }
        Ok(out)
    }

    /// What every RDS store's answer carries alike: its tags, encryption and provisioned size.
    async fn rds_facts(
        &self,
        arn: &str,
        region: &str,
        call: &'static Call,
        f: RdsFacts<'_>,
        out: &mut KindsOutcome,
    ) -> Result<(), SinkClosed> {
        self.emit_tags(arn, call, rds_tags(f.tags)).await?;
        self.rds_encryption(
            arn,
            region,
            call,
            f.encrypted,
            f.encryption_type,
            f.key,
            out,
        )
        .await?;
        if let Some(gib) = f.allocated_gib {
            self.emit_size(arn, call, allocated_gib(gib.into())).await?;
        }
        Ok(())
    }

    /// The neutral encryption of an RDS instance, cluster or snapshot, kept for after key
    /// resolution; a gap when the answer says nothing about it.
    #[allow(clippy::too_many_arguments)]
    async fn rds_encryption(
        &self,
        subject: &str,
        region: &str,
        call: &'static Call,
        encrypted: Option<bool>,
        kind: Option<&StorageEncryptionType>,
        key: Option<&str>,
        out: &mut KindsOutcome,
    ) -> Result<(), SinkClosed> {
        match rds_encryption(encrypted, kind.map(|k| k.as_str()), key) {
            Some(e) => out.encryption(subject, region, call, e),
            None => {
                self.gap_on(
                    subject,
                    call,
                    FactTopic::Encryption,
                    &CallFailure {
                        message:
                            "the answer has neither StorageEncrypted nor StorageEncryptionType"
                                .to_owned(),
                        ..CallFailure::default()
                    },
                )
                .await?
            }
        }
        Ok(())
    }
}

/// The fields of an RDS instance, cluster, snapshot or automated backup that
/// [`AccountScan::rds_facts`] reports.
struct RdsFacts<'a> {
    tags: &'a [aws_sdk_rds::types::Tag],
    encrypted: Option<bool>,
    encryption_type: Option<&'a StorageEncryptionType>,
    key: Option<&'a str>,
    allocated_gib: Option<i32>,
}

/// `StorageEncryptionType` (2026: none, sse-rds, sse-kms) when present, else
/// `StorageEncrypted`; `None` when the answer has neither.
fn rds_encryption(
    encrypted: Option<bool>,
    kind: Option<&str>,
    key: Option<&str>,
) -> Option<Encryption> {
    Some(match (encrypted, kind) {
        (_, Some("none")) => disabled("StorageEncryptionType=none"),
        (Some(false), None) => disabled("StorageEncrypted=false"),
        // An AWS owned key: no key ARN to describe.
        (_, Some("sse-rds")) => configured("sse-rds", None),
        (_, Some(kind)) => configured(kind, key),
        (Some(true), None) => configured("StorageEncrypted", key),
        (None, None) => return None,
    })
}

fn rds_tags(tags: &[aws_sdk_rds::types::Tag]) -> impl Iterator<Item = (String, String)> + '_ {
    tags.iter().map(|t| {
        (
            t.key().unwrap_or_default().to_owned(),
            t.value().unwrap_or_default().to_owned(),
        )
    })
}

/// `Sharing` from the values of a `restore` (RDS) or `createVolumePermission` (EBS)
/// attribute: `all` is public, the rest are account ids.
pub(super) fn sharing<'a>(values: impl Iterator<Item = &'a String>) -> Sharing {
    let mut s = Sharing::default();
    for v in values {
        if v == PUBLIC {
            s.public = true;
        } else if !v.is_empty() {
            s.accounts.push(v.clone());
        }
    }
    s.accounts.sort();
    s.accounts.dedup();
    s
}

async fn list_instances(client: &aws_sdk_rds::Client) -> Result<Vec<DbInstance>, CallFailure> {
    let mut pages = client.describe_db_instances().into_paginator().send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.db_instances());
    }
    Ok(all)
}

async fn list_clusters(client: &aws_sdk_rds::Client) -> Result<Vec<DbCluster>, CallFailure> {
    let mut pages = client.describe_db_clusters().into_paginator().send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.db_clusters());
    }
    Ok(all)
}

/// A member cluster of an Aurora global database.
#[derive(Debug)]
struct GlobalMember {
    global_id: String,
    cluster_arn: String,
    is_writer: bool,
    /// Raw `SynchronizationStatus`.
    status: String,
}

async fn list_global_members(
    client: &aws_sdk_rds::Client,
) -> Result<Vec<GlobalMember>, CallFailure> {
    let mut pages = client.describe_global_clusters().into_paginator().send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        for g in page.map_err(|e| failure(&e))?.global_clusters() {
            let id = g.global_cluster_identifier().unwrap_or_default();
            for m in g.global_cluster_members() {
                all.push(GlobalMember {
                    global_id: id.to_owned(),
                    cluster_arn: m.db_cluster_arn().unwrap_or_default().to_owned(),
                    is_writer: m.is_writer().unwrap_or(false),
                    status: m
                        .synchronization_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                });
            }
        }
    }
    Ok(all)
}

/// The region an automated backup was replicated from, when not `here`: its `Region` (the
/// source instance's region on a replicated backup, as the CLI reference's
/// `stop-db-instance-automated-backups-replication` example shows), else its
/// `DBInstanceArn`'s. `None` for this region's own backups, and when neither is reported.
fn replicated_from(b: &DbInstanceAutomatedBackup, here: &str) -> Option<String> {
    let region = b
        .region()
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .or_else(|| b.db_instance_arn().map(arn_region))
        .filter(|r| !r.is_empty())?;
    (region != here).then_some(region)
}

async fn list_automated_backups(
    client: &aws_sdk_rds::Client,
) -> Result<Vec<DbInstanceAutomatedBackup>, CallFailure> {
    let mut pages = client
        .describe_db_instance_automated_backups()
        .into_paginator()
        .send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(
            page.map_err(|e| failure(&e))?
                .db_instance_automated_backups(),
        );
    }
    Ok(all)
}

async fn list_snapshots(client: &aws_sdk_rds::Client) -> Result<Vec<DbSnapshot>, CallFailure> {
    let mut pages = client.describe_db_snapshots().into_paginator().send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.db_snapshots());
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::v1::EncryptionState;

    #[test]
    fn storage_encryption_maps_to_the_neutral_fields() {
        let e = rds_encryption(Some(false), None, Some("default_kms_key_id")).expect("known");
        assert_eq!(e.state(), EncryptionState::Disabled);
        assert!(e.key_ref.is_empty(), "no key for unencrypted storage");
        let e =
            rds_encryption(Some(true), None, Some("arn:aws:kms:eu-west-1:1:key/k")).expect("known");
        assert_eq!(
            (e.state(), e.key_ref.as_str()),
            (EncryptionState::Configured, "arn:aws:kms:eu-west-1:1:key/k")
        );
        let e = rds_encryption(Some(true), Some("sse-rds"), None).expect("known");
        assert!(e.key_ref.is_empty() && e.algorithm == "sse-rds");
        let e = rds_encryption(None, Some("none"), None).expect("known");
        assert_eq!(e.state(), EncryptionState::Disabled);
        assert!(
            rds_encryption(None, None, None).is_none(),
            "unknown, never none"
        );
    }

    #[test]
    fn a_backup_from_another_region_is_a_copy() {
        let replicated = DbInstanceAutomatedBackup::builder()
            .db_instance_arn("arn:aws:rds:eu-west-1:1:db:payroll")
            .region("eu-west-1")
            .build();
        assert_eq!(
            replicated_from(&replicated, "us-east-1").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(replicated_from(&replicated, "eu-west-1"), None, "its own");
        let by_arn = DbInstanceAutomatedBackup::builder()
            .db_instance_arn("arn:aws:rds:eu-west-1:1:db:payroll")
            .build();
        assert_eq!(
            replicated_from(&by_arn, "us-east-1").as_deref(),
            Some("eu-west-1")
        );
        // moto's answer: identifier and status only, this region's own.
        let local = DbInstanceAutomatedBackup::builder()
            .db_instance_identifier("payroll")
            .status("active")
            .build();
        assert_eq!(replicated_from(&local, "us-east-1"), None);
    }

    #[test]
    fn restore_attribute_values_are_sharing() {
        let values = [
            "444455556666".to_owned(),
            "all".to_owned(),
            "444455556666".to_owned(),
        ];
        let s = sharing(values.iter());
        assert!(s.public);
        assert_eq!(s.accounts, ["444455556666"]);
        assert_eq!(sharing([].iter()), Sharing::default());
    }
}
