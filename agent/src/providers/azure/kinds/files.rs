//! Azure Files shares inside the storage accounts already listed (Microsoft.Storage,
//! api-version 2025-06-01; STORE-KINDS.md 13). A share has no key of its own: Azure Files
//! always uses the account's key, so the share carries the account's encryption. A
//! geo-redundant account SKU keeps a copy of its shares in the secondary region.
//!
//! Requests: one `FileShares_List` per account that can hold shares (not `BlobStorage` or
//! `BlockBlobStorage` accounts), which gives every share with its quota; used bytes need
//! one `FileShares_Get` with `$expand=stats` per share: the listing's `$expand` takes only
//! `deleted`, `snapshots` and `metadata`, and Azure Monitor's `FileShare` dimension exists
//! only for premium shares (standard shares report the account total).

use landmeter_proto::v1::{Size, StoreKind, fact};
use serde::Deserialize;

use super::{Resource, SERVICE_FILE_SHARE, arm_id, encrypted, gib, store};
use crate::providers::azure::arm;
use crate::providers::azure::calls;
use crate::providers::azure::subscription::{Subscription, account_encryption};
use crate::sink::SinkClosed;

/// `Size.bytes_by_storage_type` key of a share's used bytes.
pub const SHARE_USAGE_BYTES: &str = "ShareUsageBytes";

type Share = Resource<ShareProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShareProperties {
    /// GiB, provisioned.
    #[serde(default)]
    share_quota: Option<i64>,
    /// Only with `$expand=stats`.
    #[serde(default)]
    share_usage_bytes: Option<i64>,
}

/// Replicated like the account's blobs: the SKU's last part (`Standard_RAGZRS` -> `RAGZRS`).
fn geo_redundant(sku: &str) -> bool {
    let redundancy = sku.rsplit_once('_').map_or(sku, |(_, r)| r);
    matches!(
        redundancy.to_ascii_uppercase().as_str(),
        "GRS" | "RAGRS" | "GZRS" | "RAGZRS"
    )
}

/// Blob-only account kinds hold no file shares (`StorageV2`, `Storage` and `FileStorage`
/// do); an unknown kind is listed.
fn may_hold_shares(account_kind: &str) -> bool {
    !matches!(account_kind, "BlobStorage" | "BlockBlobStorage")
}

impl Subscription<'_> {
    /// The shares of one storage account; returns the stores seen.
    pub(in crate::providers::azure) async fn file_shares(
        &self,
        a: &arm::StorageAccount,
    ) -> Result<u64, SinkClosed> {
        if !may_hold_shares(&a.kind) {
            return Ok(0);
        }
        let call = calls::LIST_FILE_SHARES;
        let shares: Vec<Share> = self
            .list_kind(
                StoreKind::FileSystem,
                call,
                &format!("{}/fileServices/default/shares", arm_id(&a.id)),
                arm::STORAGE_API,
            )
            .await?;
        self.sink.stores_found(shares.len() as u64);
        let (account_enc, key_uri) = account_encryption(a);
        let encryption = a.properties.encryption.as_ref().map(|_| {
            encrypted(
                &account_enc.algorithm,
                key_uri.as_deref().unwrap_or_default(),
                account_enc.require_infrastructure_encryption,
            )
        });
        let sku = a.sku_name();
        for share in &shares {
            let mut s = store(
                &self.ctx.provider,
                SERVICE_FILE_SHARE,
                StoreKind::FileSystem,
                &share.id,
                &a.location,
                "storage account location",
            );
            // The account's subject: shares inherit its tags (shares have metadata, not tags).
            s.parent = a.name.clone();
            s.sku = sku.clone();
            let subject = s.name.clone();
            let region = s.region.clone();
            self.push_store(call, s, &Default::default(), encryption.clone())
                .await?;
            let rules = if geo_redundant(&sku) {
                vec![
                    self.geo_copy(&subject, &region, &a.properties.secondary_location, &sku)
                        .await?,
                ]
            } else {
                Vec::new()
            };
            self.push_copies(&subject, call, rules).await?;
            let allocated = share.properties.share_quota.map(gib);
            if self.ctx.metrics {
                self.share_usage(&subject, allocated).await?;
            } else {
                // Sizes switched off: the quota only, no request.
                self.push_allocated(&subject, call, allocated).await?;
            }
            self.sink.store_done();
        }
        Ok(shares.len() as u64)
    }

    /// Used bytes (`$expand=stats`) beside the quota; a failed read leaves them unknown.
    async fn share_usage(&self, subject: &str, allocated: Option<i64>) -> Result<(), SinkClosed> {
        let call = calls::GET_FILE_SHARE_STATS;
        let stats = self
            .get_at::<Share>(subject, arm::STORAGE_API, &[("$expand", "stats")])
            .await;
        let used = match stats {
            Ok(got) => got.properties.share_usage_bytes,
            Err(f) => {
                self.gap(subject, call, &f).await?;
                None
            }
        };
        let Some(used) = used else {
            return self.push_allocated(subject, call, allocated).await;
        };
        let size = Size {
            bytes_by_storage_type: [(SHARE_USAGE_BYTES.to_owned(), used)].into(),
            known: true,
            allocated_bytes: allocated,
            ..Size::default()
        };
        self.push(subject, call, fact::Body::Size(size)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_share_shapes() {
        // az-specs Microsoft.Storage/stable/2025-06-01/examples/FileSharesGet_Stats.json.
        let json = r#"{"id": "/subscriptions/{subscription-id}/resourceGroups/res9871/providers/Microsoft.Storage/storageAccounts/sto6217/fileServices/default/shares/share1634",
            "name": "share1634", "type": "Microsoft.Storage/storageAccounts/fileServices/shares", "etag": "\"0x8D592D74CC20EBA\"",
            "properties": {"lastModifiedTime": "2019-05-26T05:06:14Z", "shareQuota": 1024, "shareUsageBytes": 652945}}"#;
        let s: Share = serde_json::from_str(json).expect("parses");
        assert_eq!(s.properties.share_quota, Some(1024));
        assert_eq!(s.properties.share_usage_bytes, Some(652_945));
        assert!(geo_redundant("Standard_RAGZRS") && !geo_redundant("Premium_ZRS"));
        assert!(may_hold_shares("StorageV2") && may_hold_shares("FileStorage"));
        assert!(may_hold_shares(""), "an unknown kind is listed");
        assert!(!may_hold_shares("BlockBlobStorage") && !may_hold_shares("BlobStorage"));
    }
}
