//! Azure Files shares inside the storage accounts already listed (Microsoft.Storage,
//! api-version 2025-06-01; STORE-KINDS.md 13). A share has no key of its own: Azure Files
//! always uses the account's key, so the share carries the account's encryption. A
//! geo-redundant account SKU keeps a copy of its shares in the secondary region. Used bytes
//! come from `FileShares_Get` with `$expand=stats` (the listing gives only the quota).

use landmeter_proto::v1::{CopyKind, ReplicationRule, Size, StoreKind, fact};
use serde::Deserialize;

use super::{GEO_COPY, SERVICE_FILE_SHARE, arm_id, encrypted, gib, normalize_region, store};
use crate::providers::azure::arm;
use crate::providers::azure::calls;
use crate::providers::azure::subscription::{Subscription, account_encryption};
use crate::sink::SinkClosed;

/// `Size.bytes_by_storage_type` key of a share's used bytes.
pub const SHARE_USAGE_BYTES: &str = "ShareUsageBytes";

#[derive(Debug, Clone, Default, Deserialize)]
struct Share {
    id: String,
    #[serde(default)]
    properties: ShareProperties,
}

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

impl Subscription<'_> {
    /// The shares of one storage account; returns the stores seen.
    pub(in crate::providers::azure) async fn file_shares(
        &self,
        a: &arm::StorageAccount,
    ) -> Result<u64, SinkClosed> {
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
            s.sku = a.sku.name.clone();
            let subject = s.name.clone();
            let region = s.region.clone();
            self.push_store(call, s, &Default::default(), encryption.clone())
                .await?;
            let rules = if geo_redundant(&a.sku.name) {
                let destination_region = if a.properties.secondary_location.is_empty() {
                    self.paired_region(&region).await?
                } else {
                    normalize_region(&a.properties.secondary_location)
                };
                vec![ReplicationRule {
                    id: format!("geo-redundant:{}", a.sku.name),
                    status: "Enabled".to_owned(),
                    destination_bucket: format!("{subject}{GEO_COPY}"),
                    destination_region,
                    copy_kind: CopyKind::GeoRedundant as i32,
                    ..ReplicationRule::default()
                }]
            } else {
                Vec::new()
            };
            self.push_copies(&subject, call, rules).await?;
            let allocated = share.properties.share_quota.map(gib);
            if !self.ctx.metrics {
                // Sizes switched off: the quota only, no request.
                if allocated.is_some() {
                    let size = Size {
                        allocated_bytes: allocated,
                        ..Size::default()
                    };
                    self.push(&subject, call, fact::Body::Size(size)).await?;
                }
                self.sink.store_done();
                continue;
            }
            let url = self.ctx.arm.url(&subject, arm::STORAGE_API).map(|mut u| {
                u.query_pairs_mut().append_pair("$expand", "stats");
                u
            });
            let stats = match url {
                Ok(u) => self.ctx.arm.get::<Share>(u).await,
                Err(f) => Err(f),
            };
            let size = match stats {
                Ok(got) => match got.properties.share_usage_bytes {
                    Some(used) => Size {
                        bytes_by_storage_type: [(SHARE_USAGE_BYTES.to_owned(), used)].into(),
                        known: true,
                        allocated_bytes: allocated,
                        ..Size::default()
                    },
                    None => Size {
                        allocated_bytes: allocated,
                        ..Size::default()
                    },
                },
                Err(f) => {
                    self.gap(&subject, calls::GET_FILE_SHARE_STATS, &f).await?;
                    Size {
                        allocated_bytes: allocated,
                        ..Size::default()
                    }
                }
            };
            if size.known || size.allocated_bytes.is_some() {
                self.push(
                    &subject,
                    calls::GET_FILE_SHARE_STATS,
                    fact::Body::Size(size),
                )
                .await?;
            }
            self.sink.store_done();
        }
        Ok(shares.len() as u64)
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
    }
}
