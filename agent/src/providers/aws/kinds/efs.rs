//! EFS: file systems, and (only in regions that have one) the replication configurations
//! that copy them to another region or account.

use aws_sdk_efs::types::{FileSystemDescription, ReplicationConfigurationDescription};
use landmeter_proto::v1::{CopyKind, FactTopic, StoreKind};

use super::super::account::AccountScan;
use super::super::calls;
use super::super::sdk::failure;
use super::{KindsOutcome, configured, disabled, stored};
use crate::providers::CallFailure;
use crate::sink::SinkClosed;

const SERVICE: &str = "efs";

impl AccountScan<'_> {
    pub(super) async fn efs(&self, region: &str) -> Result<KindsOutcome, SinkClosed> {
        let client = self.efs_client(region);
        let mut out = KindsOutcome::default();
        let file_systems = match list_file_systems(&client).await {
            Ok(list) => list,
            Err(failed) => {
                self.listing_gap(
                    StoreKind::FileSystem,
                    region,
                    calls::DESCRIBE_FILE_SYSTEMS,
                    &failed,
                )
                .await?;
                return Ok(out);
            }
        };
        if file_systems.is_empty() {
            return Ok(out);
        }
        self.sink.stores_found(file_systems.len() as u64);
        // One call for the region's configurations (both sides of each), not one per file
        // system.
        let replications = list_replications(&client).await;
        let call = calls::DESCRIBE_FILE_SYSTEMS;
        for fs in &file_systems {
            let arn = fs.file_system_arn().filter(|a| !a.is_empty()).map_or_else(
                || {
                    self.arn(
                        "elasticfilesystem",
                        region,
                        &format!("file-system/{}", fs.file_system_id()),
                    )
                },
                str::to_owned,
            );
            let mut store = self.kind_store(SERVICE, StoreKind::FileSystem, &arn, region, call);
            store.created_at_ms = fs.creation_time().to_millis().unwrap_or_default();
            if let Ok(configs) = &replications
                && let Some(source) = configs.iter().find(|c| {
                    c.destinations()
                        .iter()
                        .any(|d| d.file_system_id() == fs.file_system_id() && d.region() == region)
                })
            {
                store.copy_of = source.source_file_system_arn().to_owned();
                store.copy_kind = CopyKind::FileSystemReplication as i32;
                store.copy_of_region = source.source_file_system_region().to_owned();
            }
            self.emit_store(call, store).await?;
            self.emit_tags(
                &arn,
                call,
                fs.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            )
            .await?;
            match fs.encrypted() {
                Some(false) => out.encryption(&arn, region, call, disabled("Encrypted=false")),
                Some(true) => {
                    out.encryption(&arn, region, call, configured("Encrypted", fs.kms_key_id()))
                }
                None => {
                    let failed = CallFailure {
                        message: "the answer has no Encrypted field".to_owned(),
                        ..CallFailure::default()
                    };
                    self.gap_on(&arn, call, FactTopic::Encryption, &failed)
                        .await?
                }
            }
            if let Some(size) = fs.size_in_bytes() {
                self.emit_size(&arn, call, stored("Stored", size.value(), 0))
                    .await?;
            }
            match &replications {
                Ok(configs) => {
                    let rules = configs
                        .iter()
                        .filter(|c| c.source_file_system_id() == fs.file_system_id())
                        .flat_map(|c| c.destinations())
                        .map(|d| {
                            let owner = d
                                .owner_id()
                                .filter(|o| !o.is_empty())
                                .unwrap_or(&self.account);
                            let destination = format!(
                                "arn:aws:elasticfilesystem:{}:{owner}:file-system/{}",
                                d.region(),
                                d.file_system_id()
                            );
                            self.copy_rule(
                                &destination,
                                CopyKind::FileSystemReplication,
                                d.status().as_str(),
                            )
                        })
                        .collect();
                    self.emit_replication(&arn, calls::DESCRIBE_REPLICATION_CONFIGURATIONS, rules)
                        .await?;
                }
                Err(failed) => {
                    self.gap(&arn, calls::DESCRIBE_REPLICATION_CONFIGURATIONS, failed)
                        .await?
                }
            }
        }
        Ok(out)
    }
}

async fn list_file_systems(
    client: &aws_sdk_efs::Client,
) -> Result<Vec<FileSystemDescription>, CallFailure> {
    // 100 a page, as AWS pages by default; said outright because moto pages by 10.
    let mut pages = client
        .describe_file_systems()
        .max_items(100)
        .into_paginator()
        .send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.file_systems());
    }
    Ok(all)
}

async fn list_replications(
    client: &aws_sdk_efs::Client,
) -> Result<Vec<ReplicationConfigurationDescription>, CallFailure> {
    let mut pages = client
        .describe_replication_configurations()
        .into_paginator()
        .send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.replications());
    }
    Ok(all)
}
