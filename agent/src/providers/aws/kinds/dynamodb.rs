//! DynamoDB: `ListTables`, then per table `DescribeTable` (key, size, replicas),
//! `DescribeContinuousBackups` (point-in-time recovery: continuous backups in the table's
//! region, shown on the table as a backup copy there) and `ListTagsOfResource`. Tables are
//! always encrypted: no `SSEDescription` (or no KMS type) is the AWS owned key.
//!
//! On-demand backups (`ListBackups`, one listing per region) are snapshot-kind stores: a
//! backup copy of their table in its region, under the table's key ("encrypted with the
//! same key as the table"), `BackupSizeBytes` as their stored size. Backups made by AWS
//! Backup are its vaults' recovery points (`backup.rs`), not listed again here.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{BackupStatus, BackupSummary, BackupType, BackupTypeFilter};
use aws_sdk_dynamodb::types::{ContinuousBackupsDescription, PointInTimeRecoveryStatus};
use futures::{StreamExt, stream};
use landmeter_proto::v1::{
    CopyKind, Encryption, FactTopic, ReplicationRule, Sharing, StoreKind, fact,
};

use super::super::account::AccountScan;
use super::super::calls;
use super::super::sdk::failure;
use super::{KindsOutcome, configured, millis, stored, when};
use crate::providers::CallFailure;
use crate::sink::SinkClosed;

const SERVICE: &str = "dynamodb";

impl AccountScan<'_> {
    pub(super) async fn dynamodb(&self, region: &str) -> Result<KindsOutcome, SinkClosed> {
        let client = self.dynamodb_client(region);
        let mut out = KindsOutcome::default();
        let (tables, backups) = tokio::join!(
            when(self.wants(StoreKind::Table), list_tables(&client)),
            when(self.wants(StoreKind::Snapshot), list_backups(&client)),
        );
        if let Some(tables) = tables {
            match tables {
                Ok(names) => {
                    self.sink.stores_found(names.len() as u64);
                    let client = &client;
                    let mut done = stream::iter(&names)
                        .map(|name| self.dynamodb_table(client, region, name))
                        .buffer_unordered(self.settings.concurrency);
                    while let Some(part) = done.next().await {
                        out.merge(part?);
                    }
                }
                Err(failed) => {
                    self.listing_gap(StoreKind::Table, region, calls::LIST_TABLES, &failed)
                        .await?
                }
            }
        }
        if let Some(backups) = backups {
            match backups {
                Ok(backups) => {
                    // A backup has its table's key: the encryption its table's describe gave.
                    let keys: HashMap<&str, &Encryption> = out
                        .encryptions
                        .iter()
                        .filter(|p| p.call.name == calls::DESCRIBE_TABLE.name)
                        .map(|p| (p.subject.as_str(), &p.encryption))
                        .collect();
                    let backups: Vec<(&BackupSummary, Option<Encryption>)> = backups
                        .iter()
                        .map(|b| {
                            let table = b.table_arn().unwrap_or_default();
                            (b, keys.get(table).map(|e| (*e).clone()))
                        })
                        .collect();
                    self.sink.stores_found(backups.len() as u64);
                    let mut found = KindsOutcome::default();
                    for (b, key) in backups {
                        found.merge(self.dynamodb_backup(region, b, key).await?);
                    }
                    out.merge(found);
                }
                Err(failed) => {
                    self.listing_gap(StoreKind::Snapshot, region, calls::LIST_BACKUPS, &failed)
                        .await?
                }
            }
        }
        Ok(out)
    }

    /// An on-demand (or system) backup of a table: a copy of it in this region.
    async fn dynamodb_backup(
        &self,
        region: &str,
        b: &BackupSummary,
        table_encryption: Option<Encryption>,
    ) -> Result<KindsOutcome, SinkClosed> {
        let call = calls::LIST_BACKUPS;
        let mut out = KindsOutcome::default();
        let arn = b.backup_arn().unwrap_or_default().to_owned();
        let table = b
            .table_arn()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                self.arn(
                    SERVICE,
                    region,
                    &format!("table/{}", b.table_name().unwrap_or_default()),
                )
            });
        let mut store = self.kind_store(SERVICE, StoreKind::Snapshot, &arn, region, call);
        store.created_at_ms = millis(b.backup_creation_date_time());
        store.copy_of = table.clone();
        store.copy_kind = CopyKind::BackupCopy as i32;
        store.copy_of_region = region.to_owned();
        self.emit_store(call, store).await?;
        match table_encryption {
            Some(e) => out.encryption(&arn, region, calls::DESCRIBE_TABLE, e),
            // The table is gone (backups outlive it) or its describe failed: the key is
            // unknown, never none.
            None => {
                let failed = CallFailure {
                    message: format!(
                        "the backup's table {table} was not described in this scan: its key is unknown"
                    ),
                    ..CallFailure::default()
                };
                self.gap_on(&arn, calls::DESCRIBE_TABLE, FactTopic::Encryption, &failed)
                    .await?
            }
        }
        if let Some(bytes) = b.backup_size_bytes() {
            self.emit_size(&arn, call, stored("Stored", bytes, 0))
                .await?;
        }
        // DynamoDB backups have no sharing of their own (a resource policy is the table's).
        self.emit(&arn, call, fact::Body::Sharing(Sharing::default()))
            .await?;
        Ok(out)
    }

    async fn dynamodb_table(
        &self,
        client: &aws_sdk_dynamodb::Client,
        region: &str,
        name: &str,
    ) -> Result<KindsOutcome, SinkClosed> {
        let mut out = KindsOutcome::default();
        let built = self.arn(SERVICE, region, &format!("table/{name}"));
        let described = {
            let _permit = self.permits.acquire().await.ok();
            client.describe_table().table_name(name).send().await
        };
        let call = calls::DESCRIBE_TABLE;
        let table = match described {
            Ok(answer) => answer.table().cloned(),
            Err(err) => {
                // Listed, so it exists here; what it holds and under which key is unknown.
                let store = self.kind_store(
                    SERVICE,
                    StoreKind::Table,
                    &built,
                    region,
                    calls::LIST_TABLES,
                );
                self.emit_store(calls::LIST_TABLES, store).await?;
                self.gap(&built, call, &failure(&err)).await?;
                return Ok(out);
            }
        };
        let Some(table) = table else {
            let store = self.kind_store(
                SERVICE,
                StoreKind::Table,
                &built,
                region,
                calls::LIST_TABLES,
            );
            self.emit_store(calls::LIST_TABLES, store).await?;
            let failed = CallFailure {
                message: "DescribeTable answered without a Table".to_owned(),
                ..CallFailure::default()
            };
            return self.gap(&built, call, &failed).await.map(|()| out);
        };
        let arn = table
            .table_arn()
            .filter(|a| !a.is_empty())
            .map_or(built, str::to_owned);
        let mut store = self.kind_store(SERVICE, StoreKind::Table, &arn, region, call);
        store.created_at_ms = millis(table.creation_date_time());
        self.emit_store(call, store).await?;

        let sse = table.sse_description();
        let encryption = match sse.and_then(|s| s.sse_type()).map(|t| t.as_str()) {
            Some("KMS") => configured("KMS", sse.and_then(|s| s.kms_master_key_arn())),
            // No SSEDescription, or not KMS: the AWS owned key ("DEFAULT" in the console).
            other => configured(other.unwrap_or("DEFAULT"), None),
        };
        out.encryption(&arn, region, call, encryption);
        if let Some(bytes) = table.table_size_bytes() {
            self.emit_size(
                &arn,
                call,
                stored("Stored", bytes, table.item_count().unwrap_or_default()),
            )
            .await?;
        }
        // Global table replicas: the same table in each other region.
        let mut rules: Vec<ReplicationRule> = table
            .replicas()
            .iter()
            .filter_map(|r| {
                let replica_region = r.region_name().filter(|n| *n != region)?;
                let replica = r.replica_arn().filter(|a| !a.is_empty()).map_or_else(
                    || self.arn(SERVICE, replica_region, &format!("table/{name}")),
                    str::to_owned,
                );
                let mut rule = self.copy_rule(
                    &replica,
                    CopyKind::MultiRegion,
                    r.replica_status().map(|s| s.as_str()).unwrap_or_default(),
                );
                rule.destination_region = replica_region.to_owned();
                Some(rule)
            })
            .collect();
        let pitr = {
            let _permit = self.permits.acquire().await.ok();
            client
                .describe_continuous_backups()
                .table_name(name)
                .send()
                .await
        };
        match pitr {
            Ok(answer) => {
                rules.extend(pitr_rule(
                    &arn,
                    region,
                    answer.continuous_backups_description(),
                ));
                self.emit_replication(&arn, call, rules).await?;
            }
            Err(err) => {
                // The replicas are known; whether continuous backups exist is not.
                self.emit_replication(&arn, call, rules).await?;
                self.gap(&arn, calls::DESCRIBE_CONTINUOUS_BACKUPS, &failure(&err))
                    .await?;
            }
        }

        let tags = {
            let _permit = self.permits.acquire().await.ok();
            list_tags(client, &arn).await
        };
        match tags {
            Ok(tags) => {
                self.emit_tags(&arn, calls::LIST_TAGS_OF_RESOURCE, tags.into_iter())
                    .await?
            }
            Err(failed) => {
                self.gap(&arn, calls::LIST_TAGS_OF_RESOURCE, &failed)
                    .await?
            }
        }
        Ok(out)
    }
}

/// Point-in-time recovery on: continuous backups of the table, kept in its region for
/// `RecoveryPeriodInDays`; shown on the table as a backup copy there. Off (or no
/// description): none.
fn pitr_rule(
    table_arn: &str,
    region: &str,
    d: Option<&ContinuousBackupsDescription>,
) -> Option<ReplicationRule> {
    let pitr = d?.point_in_time_recovery_description()?;
    if pitr.point_in_time_recovery_status() != Some(&PointInTimeRecoveryStatus::Enabled) {
        return None;
    }
    Some(ReplicationRule {
        id: match pitr.recovery_period_in_days() {
            Some(days) => format!("point-in-time-recovery ({days} days)"),
            None => "point-in-time-recovery".to_owned(),
        },
        status: "ENABLED".to_owned(),
        destination_bucket: format!("{table_arn}/{PITR}"),
        destination_region: region.to_owned(),
        copy_kind: CopyKind::BackupCopy as i32,
        ..ReplicationRule::default()
    })
}

/// The name of a table's continuous backups on its replication (they have no ARN).
const PITR: &str = "point-in-time-recovery";

/// Every backup of the region's tables but AWS Backup's (its vaults' recovery points) and
/// deleted ones. `BackupType=ALL` takes user and system backups (made when a table with
/// point-in-time recovery is deleted) in one listing; paged by `LastEvaluatedBackupArn`.
async fn list_backups(
    client: &aws_sdk_dynamodb::Client,
) -> Result<Vec<BackupSummary>, CallFailure> {
    let mut all = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = client
            .list_backups()
            .backup_type(BackupTypeFilter::All)
            .set_exclusive_start_backup_arn(start.clone())
            .send()
            .await
            .map_err(|e| failure(&e))?;
        all.extend(
            page.backup_summaries()
                .iter()
                .filter(|b| b.backup_type() != Some(&BackupType::AwsBackup))
                .filter(|b| b.backup_status() != Some(&BackupStatus::Deleted))
                .filter(|b| b.backup_arn().is_some_and(|a| !a.is_empty()))
                .cloned(),
        );
        match page.last_evaluated_backup_arn().filter(|a| !a.is_empty()) {
            Some(next) if start.as_deref() != Some(next) => start = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(all)
}

async fn list_tables(client: &aws_sdk_dynamodb::Client) -> Result<Vec<String>, CallFailure> {
    let mut pages = client.list_tables().into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        names.extend_from_slice(page.map_err(|e| failure(&e))?.table_names());
    }
    Ok(names)
}

async fn list_tags(
    client: &aws_sdk_dynamodb::Client,
    arn: &str,
) -> Result<Vec<(String, String)>, CallFailure> {
    let mut tags = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| failure(&e))?;
        tags.extend(
            page.tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned())),
        );
        match page.next_token().filter(|t| !t.is_empty()) {
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::PointInTimeRecoveryDescription;

    fn described(status: PointInTimeRecoveryStatus) -> ContinuousBackupsDescription {
        ContinuousBackupsDescription::builder()
            .continuous_backups_status(aws_sdk_dynamodb::types::ContinuousBackupsStatus::Enabled)
            .point_in_time_recovery_description(
                PointInTimeRecoveryDescription::builder()
                    .point_in_time_recovery_status(status)
                    .recovery_period_in_days(35)
                    .build(),
            )
            .build()
            .expect("status set")
    }

    #[test]
    fn point_in_time_recovery_is_a_backup_in_the_tables_region() {
        let arn = "arn:aws:dynamodb:eu-west-1:1:table/cases";
        let on = described(PointInTimeRecoveryStatus::Enabled);
        let rule = pitr_rule(arn, "eu-west-1", Some(&on)).expect("on");
        assert_eq!(
            (
                rule.destination_bucket.as_str(),
                rule.destination_region.as_str(),
                rule.copy_kind(),
                rule.id.as_str()
            ),
            (
                "arn:aws:dynamodb:eu-west-1:1:table/cases/point-in-time-recovery",
                "eu-west-1",
                CopyKind::BackupCopy,
                "point-in-time-recovery (35 days)"
            )
        );
        let off = described(PointInTimeRecoveryStatus::Disabled);
        assert!(pitr_rule(arn, "eu-west-1", Some(&off)).is_none());
        assert!(pitr_rule(arn, "eu-west-1", None).is_none());
    }
}
