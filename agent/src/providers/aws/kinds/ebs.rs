//! EBS: volumes and this account's snapshots (`OwnerIds=self`), who may create volumes from
//! a snapshot (`createVolumePermission`), and the region's encryption-by-default setting and
//! default key.

use std::collections::HashSet;

use aws_sdk_ec2::types::{Filter, Snapshot, SnapshotAttributeName, Volume};
use futures::{StreamExt, stream};
use landmeter_proto::v1::{CopyKind, FactTopic, Setting, StoreKind, fact};

use super::super::account::AccountScan;
use super::super::calls;
use super::super::sdk::failure;
use super::{KindsOutcome, allocated_gib, configured, disabled, millis, when};
use crate::providers::{Call, CallFailure};
use crate::sink::SinkClosed;

const SERVICE: &str = "ebs";
/// Setting names (`Setting.name`).
pub(super) const ENCRYPTION_BY_DEFAULT: &str = "ebs-encryption-by-default";
pub(super) const DEFAULT_KMS_KEY: &str = "ebs-default-kms-key";

impl AccountScan<'_> {
    pub(super) async fn ebs(&self, region: &str) -> Result<KindsOutcome, SinkClosed> {
        let client = self.ec2_client(region);
        let mut out = KindsOutcome::default();
        // Volume ids of this region: a snapshot's VolumeId names a store only when listed
        // (a copy's VolumeId is arbitrary).
        let mut volumes_here: Option<HashSet<String>> = None;
        let volumes = self.wants(StoreKind::Volume);
        let (settings, volume_list, snapshot_list) = tokio::join!(
            when(volumes, self.ebs_settings(&client, region)),
            when(volumes, list_volumes(&client)),
            when(
                self.wants(StoreKind::Snapshot),
                list_snapshots(&client, &self.account)
            ),
        );
        settings.transpose()?;
        if let Some(volume_list) = volume_list {
            match volume_list {
                Ok(volumes) => {
                    self.sink.stores_found(volumes.len() as u64);
                    volumes_here = Some(
                        volumes
                            .iter()
                            .filter_map(|v| v.volume_id().map(str::to_owned))
                            .collect(),
                    );
                    for v in &volumes {
                        out.merge(self.ebs_volume(region, v).await?);
                    }
                }
                Err(failed) => {
                    self.listing_gap(StoreKind::Volume, region, calls::DESCRIBE_VOLUMES, &failed)
                        .await?
                }
            }
        }
        if let Some(snapshot_list) = snapshot_list {
            match snapshot_list {
                Ok(snapshots) => {
                    // Asked for this account's only; kept only if they say so.
                    let own: Vec<&Snapshot> = snapshots
                        .iter()
                        .filter(|s| s.owner_id().is_none_or(|o| o == self.account))
                        .collect();
                    self.sink.stores_found(own.len() as u64);
                    let client = &client;
                    let volumes_here = &volumes_here;
                    let mut done = stream::iter(own)
                        .map(|s| self.ebs_snapshot(client, region, s, volumes_here.as_ref()))
                        .buffer_unordered(self.settings.concurrency);
                    while let Some(part) = done.next().await {
                        out.merge(part?);
                    }
                }
                Err(failed) => {
                    self.listing_gap(
                        StoreKind::Snapshot,
                        region,
                        calls::DESCRIBE_SNAPSHOTS,
                        &failed,
                    )
                    .await?
                }
            }
        }
        Ok(out)
    }

    /// Encryption by default, and (only when it is on: then it is what new volumes get)
    /// the default key.
    async fn ebs_settings(
        &self,
        client: &aws_sdk_ec2::Client,
        region: &str,
    ) -> Result<(), SinkClosed> {
        let by_default = match client.get_ebs_encryption_by_default().send().await {
            Ok(out) => out.ebs_encryption_by_default(),
            Err(err) => {
                let subject = format!("{ENCRYPTION_BY_DEFAULT}@{region}");
                return self
                    .gap(
                        &subject,
                        calls::GET_EBS_ENCRYPTION_BY_DEFAULT,
                        &failure(&err),
                    )
                    .await;
            }
        };
        let Some(on) = by_default else {
            return Ok(());
        };
        self.setting(
            region,
            ENCRYPTION_BY_DEFAULT,
            &on.to_string(),
            calls::GET_EBS_ENCRYPTION_BY_DEFAULT,
        )
        .await?;
        if !on {
            return Ok(());
        }
        match client.get_ebs_default_kms_key_id().send().await {
            Ok(out) => {
                if let Some(key) = out.kms_key_id().filter(|k| !k.is_empty()) {
                    self.setting(
                        region,
                        DEFAULT_KMS_KEY,
                        key,
                        calls::GET_EBS_DEFAULT_KMS_KEY_ID,
                    )
                    .await?;
                }
                Ok(())
            }
            Err(err) => {
                let subject = format!("{DEFAULT_KMS_KEY}@{region}");
                self.gap(&subject, calls::GET_EBS_DEFAULT_KMS_KEY_ID, &failure(&err))
                    .await
            }
        }
    }

    async fn setting(
        &self,
        region: &str,
        name: &str,
        value: &str,
        call: &Call,
    ) -> Result<(), SinkClosed> {
        self.emit(
            &format!("{name}@{region}"),
            call,
            fact::Body::Setting(Setting {
                name: name.to_owned(),
                region: region.to_owned(),
                value: value.to_owned(),
            }),
        )
        .await
    }

    async fn ebs_volume(&self, region: &str, v: &Volume) -> Result<KindsOutcome, SinkClosed> {
        let call = calls::DESCRIBE_VOLUMES;
        let mut out = KindsOutcome::default();
        let id = v.volume_id().unwrap_or_default();
        let arn = self.arn("ec2", region, &format!("volume/{id}"));
        let mut store = self.kind_store(SERVICE, StoreKind::Volume, &arn, region, call);
        store.created_at_ms = millis(v.create_time());
        store.sku = v
            .volume_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default();
        self.emit_store(call, store).await?;
        self.emit_tags(&arn, call, ec2_tags(v.tags())).await?;
        self.ebs_encryption(&arn, region, call, v.encrypted(), v.kms_key_id(), &mut out)
            .await?;
        if let Some(gib) = v.size() {
            self.emit_size(&arn, call, allocated_gib(gib.into()))
                .await?;
        }
        Ok(out)
    }

    async fn ebs_snapshot(
        &self,
        client: &aws_sdk_ec2::Client,
        region: &str,
        s: &Snapshot,
        volumes_here: Option<&HashSet<String>>,
    ) -> Result<KindsOutcome, SinkClosed> {
        let call = calls::DESCRIBE_SNAPSHOTS;
        let mut out = KindsOutcome::default();
        let id = s.snapshot_id().unwrap_or_default();
        let arn = self.arn("ec2", region, &format!("snapshot/{id}"));
        let mut store = self.kind_store(SERVICE, StoreKind::Snapshot, &arn, region, call);
        store.created_at_ms = millis(s.start_time());
        if let Some(volume) = s
            .volume_id()
            .filter(|v| !v.is_empty())
            .filter(|v| volumes_here.is_some_and(|here| here.contains(*v)))
        {
            store.copy_of = self.arn("ec2", region, &format!("volume/{volume}"));
            store.copy_kind = CopyKind::Snapshot as i32;
            store.copy_of_region = region.to_owned();
        }
        self.emit_store(call, store).await?;
        self.emit_tags(&arn, call, ec2_tags(s.tags())).await?;
        self.ebs_encryption(&arn, region, call, s.encrypted(), s.kms_key_id(), &mut out)
            .await?;
        if let Some(gib) = s.volume_size() {
            let mut size = allocated_gib(gib.into());
            if let Some(full) = s.full_snapshot_size_in_bytes() {
                // The blocks written to the volume when the snapshot was taken (not the
                // billed, incremental size).
                size.bytes_by_storage_type
                    .insert("FullSnapshotSize".to_owned(), full);
                size.known = true;
            }
            self.emit_size(&arn, call, size).await?;
        }
        let answer = {
            let _permit = self.permits.acquire().await.ok();
            client
                .describe_snapshot_attribute()
                .snapshot_id(id)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .send()
                .await
        };
        match answer {
            Ok(answer) => {
                let values: Vec<String> = answer
                    .create_volume_permissions()
                    .iter()
                    .filter_map(|p| {
                        p.group()
                            .map(|g| g.as_str().to_owned())
                            .or_else(|| p.user_id().map(str::to_owned))
                    })
                    .collect();
                self.emit(
                    &arn,
                    calls::DESCRIBE_SNAPSHOT_ATTRIBUTE,
                    fact::Body::Sharing(super::rds::sharing(values.iter())),
                )
                .await?;
            }
            Err(err) => {
                self.gap(&arn, calls::DESCRIBE_SNAPSHOT_ATTRIBUTE, &failure(&err))
                    .await?
            }
        }
        Ok(out)
    }

    async fn ebs_encryption(
        &self,
        subject: &str,
        region: &str,
        call: &'static Call,
        encrypted: Option<bool>,
        key: Option<&str>,
        out: &mut KindsOutcome,
    ) -> Result<(), SinkClosed> {
        match encrypted {
            Some(false) => out.encryption(subject, region, call, disabled("Encrypted=false")),
            // EBS has no AWS owned key: an encrypted volume names its key (moto may not).
            Some(true) => out.encryption(subject, region, call, configured("Encrypted", key)),
            None => {
                let failed = CallFailure {
                    message: "the answer has no Encrypted field".to_owned(),
                    ..CallFailure::default()
                };
                self.gap_on(subject, call, FactTopic::Encryption, &failed)
                    .await?
            }
        }
        Ok(())
    }
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> impl Iterator<Item = (String, String)> + '_ {
    tags.iter().map(|t| {
        (
            t.key().unwrap_or_default().to_owned(),
            t.value().unwrap_or_default().to_owned(),
        )
    })
}

async fn list_volumes(client: &aws_sdk_ec2::Client) -> Result<Vec<Volume>, CallFailure> {
    let mut pages = client.describe_volumes().into_paginator().send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.volumes());
    }
    Ok(all)
}

/// The account's own snapshots. The `owner-id` filter says the same as `OwnerIds=self` on
/// AWS; moto ignores `OwnerIds` and answers ~1,350 public snapshots per region without it.
async fn list_snapshots(
    client: &aws_sdk_ec2::Client,
    account: &str,
) -> Result<Vec<Snapshot>, CallFailure> {
    let mut pages = client
        .describe_snapshots()
        .owner_ids("self")
        .filters(Filter::builder().name("owner-id").values(account).build())
        .into_paginator()
        .send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.snapshots());
    }
    Ok(all)
}
