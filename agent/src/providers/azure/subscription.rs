//! One subscription: its storage accounts (ARM), their encryption, encryption scopes and
//! sizes, and their containers (Blob data plane).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, stream};
use landmeter_proto::v1::{
    AccountCoverage, AzureStorageEncryption, Encryption, EncryptionState, Retention, Size, Store,
    StoreKind, Tag, Tags, encryption, fact,
};

use super::arm;
use super::calls;
use super::keys::parse_key_uri;
use super::provider::Ctx;
use crate::providers::{Call, CallFailure, new_fact};
use crate::sink::{FactSink, SinkClosed};

/// `Store.service` values.
pub const SERVICE_ACCOUNT: &str = "azure-storage-account";
pub const SERVICE_CONTAINER: &str = "azure-blob-container";
/// `Store.region_source` values.
pub const REGION_FROM_ARM: &str = "StorageAccounts_List.location";
pub const REGION_FROM_ACCOUNT: &str = "storage account location";
/// `Size.bytes_by_storage_type` keys: the account's used capacity when its split by tier is
/// unknown; else `BlobCapacity:<tier>` per access tier and `NonBlobCapacity` for the rest.
pub const USED_CAPACITY: &str = "UsedCapacity";
pub const BLOB_CAPACITY: &str = "BlobCapacity";
pub const NON_BLOB_CAPACITY: &str = "NonBlobCapacity";

pub(super) struct Subscription<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) all_subscriptions: &'a [String],
    pub(super) id: &'a str,
    pub(super) sink: &'a FactSink,
    pub(super) gaps: AtomicU64,
    /// Storage accounts whose containers could not be listed, with why: the subscription's
    /// coverage says so (the collector marks nothing under them gone).
    pub(super) unlisted: std::sync::Mutex<Vec<String>>,
    /// The subscription's paired regions, read at most once (kinds/locations.rs).
    pub(super) locations: super::kinds::Locations,
}

impl Subscription<'_> {
    pub(super) async fn push(
        &self,
        subject: &str,
        call: &Call,
        body: fact::Body,
    ) -> Result<(), SinkClosed> {
        self.sink
            .push(new_fact(self.id, subject, call.name, body))
            .await
    }

    /// Records a failed call as a gap fact; its topic comes from the registry entry.
    pub(super) async fn gap(
        &self,
        subject: &str,
        call: &Call,
        f: &CallFailure,
    ) -> Result<(), SinkClosed> {
        self.gaps.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            subscription = self.id,
            subject,
            call = call.name,
            "gap: {f}"
        );
        self.push(subject, call, fact::Body::Gap(f.gap(call))).await
    }

    pub(super) async fn scan(&self) -> Result<AccountCoverage, SinkClosed> {
        // The other store kinds do not depend on the storage accounts: listed first, so a
        // failed account listing leaves them in the map.
        let kinds_seen = self.scan_kinds().await?;
        let url = match self.ctx.arm.url(
            &format!(
                "/subscriptions/{}/providers/Microsoft.Storage/storageAccounts",
                self.id
            ),
            arm::STORAGE_API,
        ) {
            Ok(u) => u,
            Err(f) => return self.incomplete(f, kinds_seen).await,
        };
        let (accounts, failure) = self.ctx.arm.list::<arm::StorageAccount>(url).await;
        if let Some(f) = failure {
            return self.incomplete(f, kinds_seen).await;
        }
        self.sink.stores_found(accounts.len() as u64);
        let results: Vec<Result<u64, SinkClosed>> = stream::iter(accounts.iter())
            .map(|a| self.scan_account(a))
            .buffer_unordered(self.ctx.concurrency)
            .collect()
            .await;
        let mut stores_seen = kinds_seen;
        for r in results {
            stores_seen += r?;
        }
        let unlisted =
            std::mem::take(&mut *self.unlisted.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(AccountCoverage {
            account: self.id.to_owned(),
            // Every storage account was listed; a part that was not is named in the reason.
            complete: true,
            stores_seen,
            gaps: self.gaps.load(Ordering::Relaxed),
            reason: if unlisted.is_empty() {
                String::new()
            } else {
                format!("incomplete for containers: {}", unlisted.join("; "))
            },
        })
    }

    async fn incomplete(
        &self,
        f: CallFailure,
        stores_seen: u64,
    ) -> Result<AccountCoverage, SinkClosed> {
        self.gap(self.id, calls::LIST_STORAGE_ACCOUNTS, &f).await?;
        Ok(AccountCoverage {
            account: self.id.to_owned(),
            complete: false,
            stores_seen,
            gaps: self.gaps.load(Ordering::Relaxed),
            reason: format!("{} failed: {f}", calls::LIST_STORAGE_ACCOUNTS.name),
        })
    }

    /// One storage account and its containers; returns the stores seen.
    async fn scan_account(&self, a: &arm::StorageAccount) -> Result<u64, SinkClosed> {
        let name = a.name.as_str();
        let blob_endpoint = self
            .ctx
            .blob
            .endpoint_for(name, &a.properties.primary_endpoints.blob);
        let store = Store {
            provider: self.ctx.provider.clone(),
            service: SERVICE_ACCOUNT.to_owned(),
            name: name.to_owned(),
            region: a.location.clone(),
            region_source: REGION_FROM_ARM.to_owned(),
            created_at_ms: a
                .properties
                .creation_time
                .as_deref()
                .and_then(parse_time_ms)
                .unwrap_or_default(),
            endpoint: blob_endpoint.clone(),
            sku: a.sku_name(),
            secondary_region: a.properties.secondary_location.clone(),
            parent: String::new(),
            access_tier: a.properties.access_tier.clone(),
            kind: StoreKind::StorageAccount as i32,
            ..Store::default()
        };
        self.push(name, calls::LIST_STORAGE_ACCOUNTS, fact::Body::Store(store))
            .await?;
        self.push(
            name,
            calls::LIST_STORAGE_ACCOUNTS,
            fact::Body::Tags(Tags {
                tags: tags_of(a.tags.iter()),
            }),
        )
        .await?;
        let (encryption, key_uri) = account_encryption(a);
        self.push(
            name,
            calls::LIST_STORAGE_ACCOUNTS,
            encryption_fact(encryption),
        )
        .await?;
        if let Some(uri) = key_uri {
            self.describe_key(&uri).await?;
        }
        self.encryption_scopes(a).await?;
        if self.ctx.metrics {
            self.size(a).await?;
        }
        let containers = self.containers(a, &blob_endpoint).await?;
        let shares = if self.kind_enabled("file-shares") {
            self.file_shares(a).await?
        } else {
            0
        };
        self.sink.store_done();
        Ok(1 + containers + shares)
    }

    async fn encryption_scopes(&self, a: &arm::StorageAccount) -> Result<(), SinkClosed> {
        let url = match self
            .ctx
            .arm
            .url(&format!("{}/encryptionScopes", a.id), arm::STORAGE_API)
        {
            Ok(u) => u,
            Err(f) => return self.gap(&a.name, calls::LIST_ENCRYPTION_SCOPES, &f).await,
        };
        let (scopes, failure) = self.ctx.arm.list::<arm::EncryptionScope>(url).await;
        for s in scopes {
            let key_uri = s
                .properties
                .key_vault_properties
                .as_ref()
                .map(|k| k.key_uri.clone())
                .unwrap_or_default();
            let subject = format!("{}/encryptionScopes/{}", a.name, s.name);
            let enc = Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: s.properties.source.clone(),
                key_ref: key_uri.clone(),
                require_infrastructure_encryption: s.properties.require_infrastructure_encryption,
                encryption_scope: s.name.clone(),
                scope_state: s.properties.state.clone(),
                ..Encryption::default()
            };
            self.push(
                &subject,
                calls::LIST_ENCRYPTION_SCOPES,
                encryption_fact(enc),
            )
            .await?;
            if !key_uri.is_empty() {
                self.describe_key(&key_uri).await?;
            }
        }
        if let Some(f) = failure {
            self.gap(&a.name, calls::LIST_ENCRYPTION_SCOPES, &f).await?;
        }
        Ok(())
    }

    async fn size(&self, a: &arm::StorageAccount) -> Result<(), SinkClosed> {
        let Ok(mut url) = self.ctx.arm.url(
            &format!("{}/providers/Microsoft.Insights/metrics", a.id),
            arm::MONITOR_API,
        ) else {
            return Ok(());
        };
        let end = time::OffsetDateTime::now_utc();
        let start = end - time::Duration::days(2);
        let fmt = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        url.query_pairs_mut()
            .append_pair("metricnames", USED_CAPACITY)
            .append_pair("aggregation", "Average")
            .append_pair("interval", "PT1H")
            .append_pair("timespan", &format!("{}/{}", fmt(start), fmt(end)));
        match self.ctx.arm.get::<arm::Metrics>(url).await {
            Ok(m) => {
                let latest = m
                    .value
                    .iter()
                    .flat_map(|v| &v.timeseries)
                    .flat_map(|t| &t.data)
                    .filter(|d| d.average.is_some())
                    .max_by(|x, y| x.time_stamp.cmp(&y.time_stamp));
                let size = match latest {
                    Some(d) => Size {
                        bytes_by_storage_type: [(
                            USED_CAPACITY.to_owned(),
                            d.average.unwrap_or_default().round() as i64,
                        )]
                        .into_iter()
                        .collect(),
                        objects: 0,
                        datapoint_at_ms: parse_time_ms(&d.time_stamp).unwrap_or_default(),
                        known: true,
                        allocated_bytes: None,
                    },
                    None => Size::default(),
                };
                let size = if size.known {
                    self.split_by_tier(a, size, &fmt(start), &fmt(end)).await?
                } else {
                    size
                };
                self.push(&a.name, calls::GET_METRICS, fact::Body::Size(size))
                    .await
            }
            Err(f) => self.gap(&a.name, calls::GET_METRICS, &f).await,
        }
    }

    /// Splits the account's used capacity by blob access tier (`BlobCapacity` per `Tier`):
    /// `BlobCapacity:<tier>` per tier and `NonBlobCapacity` for the rest (files, tables,
    /// queues), summing to the used capacity. When the split cannot be read, the size stays
    /// `UsedCapacity` alone (its tiers unknown) and the failure is a gap.
    async fn split_by_tier(
        &self,
        a: &arm::StorageAccount,
        used: Size,
        start: &str,
        end: &str,
    ) -> Result<Size, SinkClosed> {
        let Ok(mut url) = self.ctx.arm.url(
            &format!(
                "{}/blobServices/default/providers/Microsoft.Insights/metrics",
                a.id
            ),
            arm::MONITOR_API,
        ) else {
            return Ok(used);
        };
        url.query_pairs_mut()
            .append_pair("metricnames", BLOB_CAPACITY)
            .append_pair("aggregation", "Average")
            .append_pair("interval", "PT1H")
            .append_pair("timespan", &format!("{start}/{end}"))
            .append_pair("$filter", "Tier eq '*'");
        let metrics = match self.ctx.arm.get::<arm::Metrics>(url).await {
            Ok(m) => m,
            Err(f) => {
                self.gap(&a.name, calls::GET_BLOB_TIER_METRICS, &f).await?;
                return Ok(used);
            }
        };
        let mut tiers: BTreeMap<String, i64> = BTreeMap::new();
        for series in metrics.value.iter().flat_map(|v| &v.timeseries) {
            let Some(tier) = series
                .metadatavalues
                .iter()
                .find(|m| m.name.value.eq_ignore_ascii_case("tier"))
                .map(|m| m.value.clone())
            else {
                continue;
            };
            if let Some(latest) = series
                .data
                .iter()
                .filter(|d| d.average.is_some())
                .max_by(|x, y| x.time_stamp.cmp(&y.time_stamp))
            {
                *tiers.entry(tier).or_default() +=
                    latest.average.unwrap_or_default().round() as i64;
            }
        }
        if tiers.is_empty() {
            return Ok(used);
        }
        let total: i64 = used.bytes_by_storage_type.values().sum();
        let blob: i64 = tiers.values().sum();
        let mut split: std::collections::HashMap<String, i64> = tiers
            .into_iter()
            .map(|(tier, bytes)| (format!("{BLOB_CAPACITY}:{tier}"), bytes))
            .collect();
        if total > blob {
            split.insert(NON_BLOB_CAPACITY.to_owned(), total - blob);
        }
        Ok(Size {
            bytes_by_storage_type: split,
            ..used
        })
    }

    async fn containers(&self, a: &arm::StorageAccount, endpoint: &str) -> Result<u64, SinkClosed> {
        let containers = match self.ctx.blob.list_containers(&a.name, endpoint).await {
            Ok(c) => c,
            Err(f) => {
                self.unlisted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!(
                        "{} ({} failed: {f})",
                        a.name,
                        calls::LIST_CONTAINERS.name
                    ));
                self.gap(&a.name, calls::LIST_CONTAINERS, &f).await?;
                return Ok(0);
            }
        };
        let n = containers.len() as u64;
        for c in containers {
            let subject = format!("{}/{}", a.name, c.name);
            let store = Store {
                provider: self.ctx.provider.clone(),
                service: SERVICE_CONTAINER.to_owned(),
                name: subject.clone(),
                region: a.location.clone(),
                region_source: REGION_FROM_ACCOUNT.to_owned(),
                created_at_ms: 0,
                endpoint: endpoint.to_owned(),
                sku: String::new(),
                secondary_region: String::new(),
                parent: a.name.clone(),
                access_tier: String::new(),
                kind: StoreKind::Container as i32,
                ..Store::default()
            };
            self.push(&subject, calls::LIST_CONTAINERS, fact::Body::Store(store))
                .await?;
            self.push(
                &subject,
                calls::LIST_CONTAINERS,
                fact::Body::Tags(Tags {
                    tags: tags_of(c.metadata.iter()),
                }),
            )
            .await?;
            let enc = Encryption {
                state: EncryptionState::Configured as i32,
                encryption_scope: c.default_encryption_scope.clone(),
                deny_encryption_scope_override: c.deny_encryption_scope_override,
                ..Encryption::default()
            };
            self.push(&subject, calls::LIST_CONTAINERS, encryption_fact(enc))
                .await?;
            // Immutability from the same listing; no fact when the service did not say
            // (the collector then shows it as unknown, not as absent).
            if c.has_immutability_policy.is_some() || c.has_legal_hold.is_some() {
                let retention = Retention {
                    enabled: c.has_immutability_policy.unwrap_or(false),
                    legal_hold: c.has_legal_hold.unwrap_or(false),
                    ..Retention::default()
                };
                self.push(
                    &subject,
                    calls::LIST_CONTAINERS,
                    fact::Body::Retention(retention),
                )
                .await?;
            }
        }
        Ok(n)
    }
}

/// The wire form of an Azure `Encryption` fact: the Azure-only values in
/// `detail.azure_storage`, and the neutral `double_encryption` (infrastructure encryption).
/// The deprecated flat fields (8-13) keep the same values: a collector from before `detail`
/// reads only those, and must read a new agent's facts as it read an old one's.
fn encryption_fact(mut e: Encryption) -> fact::Body {
    e.double_encryption = e.require_infrastructure_encryption;
    e.detail = Some(encryption::Detail::AzureStorage(AzureStorageEncryption {
        federated_identity_client_id: e.federated_identity_client_id.clone(),
        user_assigned_identity: e.user_assigned_identity.clone(),
        encryption_scope: e.encryption_scope.clone(),
        deny_encryption_scope_override: e.deny_encryption_scope_override,
        scope_state: e.scope_state.clone(),
    }));
    fact::Body::Encryption(e)
}

/// The account's `Encryption` fact, and the key URI it names (if any).
pub(super) fn account_encryption(a: &arm::StorageAccount) -> (Encryption, Option<String>) {
    let Some(e) = &a.properties.encryption else {
        return (
            Encryption {
                state: EncryptionState::NotConfigured as i32,
                not_configured_code: "NoEncryptionProperty".to_owned(),
                ..Encryption::default()
            },
            None,
        );
    };
    let key_uri = e.keyvaultproperties.as_ref().and_then(|kv| {
        if kv.keyvaulturi.is_empty() || kv.keyname.is_empty() {
            return None;
        }
        let mut uri = format!(
            "{}/keys/{}",
            kv.keyvaulturi.trim_end_matches('/'),
            kv.keyname
        );
        if !kv.keyversion.is_empty() {
            uri = format!("{uri}/{}", kv.keyversion);
        }
        Some(uri)
    });
    let identity = e.identity.clone().unwrap_or_default();
    (
        Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: e.key_source.clone(),
            key_ref: key_uri.clone().unwrap_or_default(),
            resolved_key_arn: key_uri
                .as_deref()
                .and_then(parse_key_uri)
                .map(|(_, _, v)| v)
                .unwrap_or_default(),
            require_infrastructure_encryption: e.require_infrastructure_encryption,
            federated_identity_client_id: identity.federated_identity_client_id,
            user_assigned_identity: identity.user_assigned_identity,
            ..Encryption::default()
        },
        key_uri,
    )
}

pub(super) fn tags_of<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<Tag> {
    let sorted: BTreeMap<&String, &String> = pairs.collect();
    sorted
        .into_iter()
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

fn parse_time_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmk_account_encryption_names_its_key() {
        let a: arm::StorageAccount = serde_json::from_value(serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a",
            "name": "a",
            "properties": {"encryption": {
                "keySource": "Microsoft.Keyvault",
                "requireInfrastructureEncryption": true,
                "keyvaultproperties": {"keyvaulturi": "https://v.vault.azure.net/", "keyname": "k", "keyversion": ""},
                "identity": {"userAssignedIdentity": "/subscriptions/s/x", "federatedIdentityClientId": "f00"}
            }}
        }))
        .expect("parses");
        let (e, uri) = account_encryption(&a);
        assert_eq!(uri.as_deref(), Some("https://v.vault.azure.net/keys/k"));
        assert_eq!(e.algorithm, "Microsoft.Keyvault");
        assert!(e.require_infrastructure_encryption);
        assert_eq!(e.federated_identity_client_id, "f00");
        let fact::Body::Encryption(wire) = encryption_fact(e) else {
            panic!("not an encryption fact");
        };
        assert!(wire.double_encryption && wire.require_infrastructure_encryption);
        let Some(encryption::Detail::AzureStorage(detail)) = &wire.detail else {
            panic!("no azure detail: {wire:?}");
        };
        assert_eq!(detail.federated_identity_client_id, "f00");
        assert_eq!(wire.federated_identity_client_id, "f00", "flat field kept");
    }
}
