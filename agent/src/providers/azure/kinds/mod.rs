//! Store kinds beside storage accounts and containers: managed disks and snapshots, SQL
//! databases, PostgreSQL and MySQL flexible servers, Cosmos DB accounts, Recovery Services
//! and Backup vaults, Azure Files shares, Log Analytics workspaces (STORE-KINDS.md 8-14).
//!
//! Each kind is listed once per subscription (`nextLink` paged); its facts use the neutral
//! fields of facts.proto: `Store` (kind, region, `copy_of`), `Encryption` (provider key =
//! `CONFIGURED` without `key_ref`, a Key Vault / Managed HSM key URI otherwise, `DISABLED`
//! only when the service says so), `Replication` (copies, with `CopyKind`), `Size`,
//! `Retention`. A failed listing is a gap on `listing_part(kind, "")`; a failed child call is
//! a gap on the store with the call's topic. Geo-redundant copies that name no region take
//! the region's pair from the locations API ([`locations`]), never from a table.
//!
//! One file per service: [`disks`], [`sql`], [`flexible`], [`cosmos`], [`vaults`], [`files`],
//! [`logs`].

mod cosmos;
mod disks;
mod files;
mod flexible;
mod locations;
mod logs;
mod sql;
mod vaults;

use std::collections::BTreeMap;

use std::collections::HashMap;

use azure_core::http::Url;
use landmeter_proto::v1::{
    CopyKind, Encryption, EncryptionState, Replication, ReplicationRule, Size, Store, StoreKind,
    Tags, fact,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub(super) use super::arm::Resource;
use super::keys::parse_key_uri;
use super::subscription::{Subscription, tags_of};
use crate::providers::{Call, CallFailure};
use crate::sink::SinkClosed;

pub(super) use locations::Locations;

/// `Store.service` values.
pub const SERVICE_DISK: &str = "azure-disk";
pub const SERVICE_SNAPSHOT: &str = "azure-snapshot";
pub const SERVICE_SQL: &str = "azure-sql";
pub const SERVICE_POSTGRESQL: &str = "azure-postgresql";
pub const SERVICE_MYSQL: &str = "azure-mysql";
pub const SERVICE_COSMOSDB: &str = "azure-cosmosdb";
pub const SERVICE_RECOVERY_SERVICES: &str = "azure-recovery-services";
pub const SERVICE_BACKUP_VAULT: &str = "azure-backup-vault";
pub const SERVICE_FILE_SHARE: &str = "azure-files";
pub const SERVICE_LOG_ANALYTICS: &str = "azure-log-analytics";

/// Suffix of the `destination_bucket` of a provider-made geo copy that has no name of its own.
pub const GEO_COPY: &str = " (geo copy)";

/// A child document read for its properties alone (`transparentDataEncryption/current`, ...).
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct Properties<P> {
    #[serde(default)]
    pub properties: P,
}

impl<P> Resource<P> {
    /// The store this resource is, in its own location, with its SKU.
    pub(super) fn store(
        &self,
        provider: &str,
        service: &str,
        kind: StoreKind,
        region_source: &str,
    ) -> Store {
        Store {
            sku: self.sku_name(),
            ..store(
                provider,
                service,
                kind,
                &self.id,
                &self.location,
                region_source,
            )
        }
    }
}

/// Region of each listed resource by lowercase id (answers differ in casing), so a copy
/// names its source's region without another request.
pub(super) fn regions_by_id<'a, P: 'a>(
    resources: impl IntoIterator<Item = &'a Resource<P>>,
) -> HashMap<String, String> {
    resources
        .into_iter()
        .map(|r| {
            (
                arm_id(&r.id).to_ascii_lowercase(),
                normalize_region(&r.location),
            )
        })
        .collect()
}

impl Subscription<'_> {
    pub(super) fn kind_enabled(&self, kind: &str) -> bool {
        self.ctx.kinds.iter().any(|k| k == kind)
    }

    /// Lists every enabled kind, the kinds side by side; returns the stores seen. File
    /// shares are listed per storage account, by the account's scan.
    pub(super) async fn scan_kinds(&self) -> Result<u64, SinkClosed> {
        let on = |kind: &str| self.kind_enabled(kind);
        let (compute, sql, postgresql, mysql, cosmos, rsv, backup, logs) = futures::join!(
            async {
                if on("disks") || on("snapshots") {
                    self.disks_and_snapshots().await
                } else {
                    Ok(0)
                }
            },
            async { if on("sql") { self.sql().await } else { Ok(0) } },
            self.flexible_if(flexible::Engine::PostgreSql),
            self.flexible_if(flexible::Engine::MySql),
            async {
                if on("cosmosdb") {
                    self.cosmos_accounts().await
                } else {
                    Ok(0)
                }
            },
            async {
                if on("recovery-services-vaults") {
                    self.recovery_services_vaults().await
                } else {
                    Ok(0)
                }
            },
            async {
                if on("backup-vaults") {
                    self.backup_vaults().await
                } else {
                    Ok(0)
                }
            },
            async {
                if on("log-analytics") {
                    self.log_analytics_workspaces().await
                } else {
                    Ok(0)
                }
            },
        );
        Ok(compute? + sql? + postgresql? + mysql? + cosmos? + rsv? + backup? + logs?)
    }

    async fn flexible_if(&self, engine: flexible::Engine) -> Result<u64, SinkClosed> {
        if self.kind_enabled(engine.kind_name()) {
            self.flexible_servers(engine).await
        } else {
            Ok(0)
        }
    }

    /// Every item of a subscription-scope listing. A failure is a gap on the kind's listing
    /// part (the collector then marks none of that kind gone); the items read before it are
    /// still returned.
    pub(super) async fn list_kind<T: DeserializeOwned>(
        &self,
        kind: StoreKind,
        call: &Call,
        path: &str,
        api_version: &str,
    ) -> Result<Vec<T>, SinkClosed> {
        let (items, failure) = match self.ctx.arm.url(path, api_version) {
            Ok(url) => self.ctx.arm.list::<T>(url).await,
            Err(f) => (Vec::new(), Some(f)),
        };
        if let Some(f) = failure {
            self.listing_gap(kind, call, &f).await?;
        }
        Ok(items)
    }

    /// `/subscriptions/{id}/providers/{resource_type}`: a subscription-scope listing.
    pub(super) fn in_subscription(&self, resource_type: &str) -> String {
        format!("/subscriptions/{}/providers/{resource_type}", self.id)
    }

    /// Every item of a child listing, or why not: a listing that failed on a later page is
    /// a failure (a partial answer would read as the whole).
    pub(super) async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Vec<T>, CallFailure> {
        let url = self.ctx.arm.url(path, api_version)?;
        match self.ctx.arm.list::<T>(url).await {
            (items, None) => Ok(items),
            (_, Some(f)) => Err(f),
        }
    }

    /// One document at `path`, with extra query pairs (`$expand`, ...).
    pub(super) async fn get_at<T: DeserializeOwned>(
        &self,
        path: &str,
        api_version: &str,
        query: &[(&str, &str)],
    ) -> Result<T, CallFailure> {
        let mut url: Url = self.ctx.arm.url(path, api_version)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.ctx.arm.get::<T>(url).await
    }

    /// A provisioned size (the only size ARM gives for most kinds); nothing when unknown.
    pub(super) async fn push_allocated(
        &self,
        subject: &str,
        call: &Call,
        bytes: Option<i64>,
    ) -> Result<(), SinkClosed> {
        let Some(bytes) = bytes.filter(|b| *b > 0) else {
            return Ok(());
        };
        self.push(
            subject,
            call,
            fact::Body::Size(Size {
                allocated_bytes: Some(bytes),
                ..Size::default()
            }),
        )
        .await
    }

    pub(super) async fn listing_gap(
        &self,
        kind: StoreKind,
        call: &Call,
        f: &CallFailure,
    ) -> Result<(), SinkClosed> {
        self.gap(&landmeter_proto::listing_part(kind, ""), call, f)
            .await
    }

    /// The store, its tags and its encryption; describes a Key Vault key once.
    pub(super) async fn push_store(
        &self,
        call: &Call,
        store: Store,
        tags: &BTreeMap<String, String>,
        encryption: Option<Encryption>,
    ) -> Result<(), SinkClosed> {
        let subject = store.name.clone();
        self.push(&subject, call, fact::Body::Store(store)).await?;
        self.push(
            &subject,
            call,
            fact::Body::Tags(Tags {
                tags: tags_of(tags.iter()),
            }),
        )
        .await?;
        if let Some(e) = encryption {
            let key = e.key_ref.clone();
            self.push(&subject, call, fact::Body::Encryption(e)).await?;
            if !key.is_empty() {
                self.describe_key(&key).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn push_copies(
        &self,
        subject: &str,
        call: &Call,
        rules: Vec<ReplicationRule>,
    ) -> Result<(), SinkClosed> {
        self.push(
            subject,
            call,
            fact::Body::Replication(Replication { rules }),
        )
        .await
    }

    /// A provider-made copy in the paired region: the region the resource names, else the
    /// pair from the locations API, else empty (unknown in the map).
    pub(super) async fn geo_copy(
        &self,
        subject: &str,
        region: &str,
        stated: &str,
        status: &str,
    ) -> Result<ReplicationRule, SinkClosed> {
        let destination_region = if stated.is_empty() {
            self.paired_region(region).await?
        } else {
            normalize_region(stated)
        };
        Ok(ReplicationRule {
            id: format!("geo-redundant:{status}"),
            status: "Enabled".to_owned(),
            destination_bucket: format!("{subject}{GEO_COPY}"),
            destination_region,
            copy_kind: CopyKind::GeoRedundant as i32,
            ..ReplicationRule::default()
        })
    }
}

/// A store of `kind` as ARM lists it: subject and name = the resource id.
pub(super) fn store(
    provider: &str,
    service: &str,
    kind: StoreKind,
    id: &str,
    location: &str,
    region_source: &str,
) -> Store {
    Store {
        provider: provider.to_owned(),
        service: service.to_owned(),
        name: arm_id(id),
        region: normalize_region(location),
        region_source: region_source.to_owned(),
        kind: kind as i32,
        ..Store::default()
    }
}

/// Azure locations as the region table spells them: some RPs answer display names
/// ("West Europe", "Japan East"), most the short name ("westeurope").
pub fn normalize_region(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A resource id with its leading slash (some answers omit it: `subscriptions/…`).
pub fn arm_id(id: &str) -> String {
    if id.starts_with('/') || id.is_empty() {
        id.to_owned()
    } else {
        format!("/{id}")
    }
}

/// Encrypted at rest: with the provider's key (`key_uri` empty) or a Key Vault / Managed HSM
/// key. `algorithm` is the raw value the decision rests on.
pub(super) fn encrypted(algorithm: &str, key_uri: &str, double: bool) -> Encryption {
    Encryption {
        state: EncryptionState::Configured as i32,
        algorithm: algorithm.to_owned(),
        key_ref: key_uri.to_owned(),
        resolved_key_arn: parse_key_uri(key_uri)
            .map(|(_, _, versionless)| versionless)
            .unwrap_or_default(),
        double_encryption: double,
        ..Encryption::default()
    }
}

/// GiB as ARM reports provisioned sizes, in bytes.
pub(super) fn gib(n: i64) -> i64 {
    n.saturating_mul(1 << 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_ids_are_normalised() {
        assert_eq!(normalize_region("West Europe"), "westeurope");
        assert_eq!(normalize_region("japaneast"), "japaneast");
        assert_eq!(
            arm_id("subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/disks/d"),
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/disks/d"
        );
        let e = encrypted(
            "AzureKeyVault",
            "https://v.vault.azure.net/keys/k/123",
            true,
        );
        assert_eq!(e.resolved_key_arn, "https://v.vault.azure.net/keys/k");
        assert!(e.double_encryption);
        assert!(encrypted("SystemManaged", "", false).key_ref.is_empty());
    }
}
