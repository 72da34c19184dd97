//! Azure: storage accounts (ARM), their containers (Blob data plane), encryption, the Key
//! Vault and Managed HSM keys behind them, and sizes from Azure Monitor.
//!
//! [`plan`] builds the transport (with the operator's CA bundle), the credential chain and
//! the ARM client, and lists the subscriptions to cover (`Subscriptions_List`, or the
//! configured ones). [`run`] then scans each subscription:
//!
//! 1. `StorageAccounts_List` (paged by `nextLink`). A failure here is the only thing that
//!    makes a subscription incomplete; a 403 `AuthorizationFailed` is reported, not fatal.
//! 2. Per storage account, `concurrency` at a time: a `Store` fact (location, SKU,
//!    secondary location), `Tags`, an `Encryption` fact (key source, key URI,
//!    infrastructure encryption, cross-tenant identity), `EncryptionScopes_List` (one
//!    `Encryption` fact per scope, subject `ACCOUNT/encryptionScopes/SCOPE`), `UsedCapacity`
//!    from Azure Monitor (`Size`), and the containers from the Blob data plane (a `Store`
//!    per container, subject `ACCOUNT/CONTAINER`, with its metadata as `Tags` and its default
//!    encryption scope as `Encryption`).
//! 3. Keys: the vaults and managed HSMs of every planned subscription are listed once
//!    (`Vaults_ListBySubscription`, `ManagedHsms_ListBySubscription`); each key URI is
//!    matched to its vault by host and read once (`Keys_Get`, `ManagedHsmKeys_Get`). A key
//!    whose vault is not visible (another subscription or tenant) is a `NotFound` gap.
//!
//! The agent reports; the collector decides custody, countries and replication. Every
//! failed call is a `Gap` fact; nothing but a closed sink stops a scan.

pub mod arm;
pub mod auth;
pub mod blob;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, stream};
use landmeter_proto::v1::{
    AccountCoverage, Encryption, EncryptionState, Fact, Key, Retention, Size, Store, Tag, Tags,
    fact,
};
use tokio::sync::{Mutex, OnceCell};

use crate::config::AzureConfig;
use crate::providers::{CallFailure, new_fact};
use crate::sink::{FactSink, SinkClosed};

use arm::ArmClient;

/// Every call this provider makes, as `plane:OperationId`. The custom role in
/// `deploy/policies/azure-agent-role.json` is derived from it (see [`AZURE_RBAC_ACTIONS`]).
pub const AZURE_CALLS: &[&str] = &[
    CALL_LIST_SUBSCRIPTIONS,
    CALL_LIST_STORAGE_ACCOUNTS,
    CALL_LIST_ENCRYPTION_SCOPES,
    CALL_LIST_VAULTS,
    CALL_LIST_MANAGED_HSMS,
    CALL_GET_KEY,
    CALL_GET_MANAGED_HSM_KEY,
    CALL_GET_METRICS,
    CALL_LIST_CONTAINERS,
];

/// The Azure RBAC actions (and data actions, `…/action`) that authorise each entry of
/// [`AZURE_CALLS`]. A Managed HSM key read through ARM may also be checked against the HSM's
/// local RBAC, hence its data action.
pub const AZURE_RBAC_ACTIONS: &[(&str, &[&str])] = &[
    (
        CALL_LIST_SUBSCRIPTIONS,
        &["Microsoft.Resources/subscriptions/read"],
    ),
    (
        CALL_LIST_STORAGE_ACCOUNTS,
        &["Microsoft.Storage/storageAccounts/read"],
    ),
    (
        CALL_LIST_ENCRYPTION_SCOPES,
        &["Microsoft.Storage/storageAccounts/encryptionScopes/read"],
    ),
    (CALL_LIST_VAULTS, &["Microsoft.KeyVault/vaults/read"]),
    (
        CALL_LIST_MANAGED_HSMS,
        &["Microsoft.KeyVault/managedHSMs/read"],
    ),
    (CALL_GET_KEY, &["Microsoft.KeyVault/vaults/keys/read"]),
    (
        CALL_GET_MANAGED_HSM_KEY,
        &[
            "Microsoft.KeyVault/managedHSMs/keys/read",
            "Microsoft.KeyVault/managedHsm/keys/read/action",
        ],
    ),
    (CALL_GET_METRICS, &["Microsoft.Insights/metrics/read"]),
    (
        CALL_LIST_CONTAINERS,
        &["Microsoft.Storage/storageAccounts/blobServices/containers/read"],
    ),
];

pub const CALL_LIST_SUBSCRIPTIONS: &str = "arm:Subscriptions_List";
pub const CALL_LIST_STORAGE_ACCOUNTS: &str = "arm:StorageAccounts_List";
pub const CALL_LIST_ENCRYPTION_SCOPES: &str = "arm:EncryptionScopes_List";
pub const CALL_LIST_VAULTS: &str = "arm:Vaults_ListBySubscription";
pub const CALL_LIST_MANAGED_HSMS: &str = "arm:ManagedHsms_ListBySubscription";
pub const CALL_GET_KEY: &str = "arm:Keys_Get";
pub const CALL_GET_MANAGED_HSM_KEY: &str = "arm:ManagedHsmKeys_Get";
pub const CALL_GET_METRICS: &str = "monitor:Metrics_List";
pub const CALL_LIST_CONTAINERS: &str = "blob:ListContainers";

/// `Store.service` values.
pub const SERVICE_ACCOUNT: &str = "azure-storage-account";
pub const SERVICE_CONTAINER: &str = "azure-blob-container";
/// `Store.region_source` values.
pub const REGION_FROM_ARM: &str = "StorageAccounts_List.location";
pub const REGION_FROM_ACCOUNT: &str = "storage account location";
/// `Size.bytes_by_storage_type` key.
pub const USED_CAPACITY: &str = "UsedCapacity";

/// Failures that stop an Azure scan before it starts.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("azure setup: {0}")]
    Setup(#[from] auth::SetupError),
    #[error("azure setup: {0}")]
    Invalid(String),
    #[error("cannot list the subscriptions the identity can read (Subscriptions_List): {0}")]
    Subscriptions(CallFailure),
}

/// The subscriptions a scan covers and the clients it uses; built by [`plan`].
#[derive(Debug)]
pub struct AzurePlan {
    provider: String,
    subscriptions: Vec<String>,
    ctx: Arc<Ctx>,
}

impl AzurePlan {
    pub fn accounts(&self) -> Vec<String> {
        self.subscriptions.clone()
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }
}

#[derive(Debug)]
struct Ctx {
    provider: String,
    arm: ArmClient,
    blob: blob::BlobAccess,
    concurrency: usize,
    metrics: bool,
    /// Vaults and managed HSMs by lowercase host, listed once per scan.
    vaults: OnceCell<HashMap<String, VaultRef>>,
    /// Keys already read, by (subscription, versionless key URI): the collector interprets
    /// per subscription, so a key used in two subscriptions is reported in each.
    keys_done: Mutex<HashMap<(String, String), ()>>,
}

#[derive(Debug, Clone)]
struct VaultRef {
    id: String,
    location: String,
    subscription: String,
    managed_hsm: bool,
}

/// Resolves the credential chain, the clients and the subscriptions to scan.
pub async fn plan(config: &AzureConfig) -> Result<AzurePlan, AzureError> {
    let transport = auth::transport(config)?;
    let credential = auth::credential_chain(config, &transport)?;
    let arm = ArmClient::new(
        &config.arm_endpoint,
        &config.arm_audience,
        credential.clone(),
        transport.clone(),
    )
    .map_err(AzureError::Invalid)?;
    let blob = blob::BlobAccess::new(config, credential, transport)?;
    let subscriptions = if config.subscriptions.is_empty() {
        let url = arm
            .url("/subscriptions", arm::SUBSCRIPTIONS_API)
            .map_err(AzureError::Subscriptions)?;
        let (subs, failure) = arm.list::<arm::Subscription>(url).await;
        if let Some(f) = failure {
            return Err(AzureError::Subscriptions(f));
        }
        let mut ids: Vec<String> = subs
            .into_iter()
            .filter(|s| s.state.is_empty() || s.state.eq_ignore_ascii_case("Enabled"))
            .map(|s| s.subscription_id)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    } else {
        config.subscriptions.clone()
    };
    let ctx = Ctx {
        provider: config.provider.clone(),
        arm,
        blob,
        concurrency: config.concurrency,
        metrics: config.metrics,
        vaults: OnceCell::new(),
        keys_done: Mutex::new(HashMap::new()),
    };
    Ok(AzurePlan {
        provider: config.provider.clone(),
        subscriptions,
        ctx: Arc::new(ctx),
    })
}

/// Scans every planned subscription into `sink`.
pub async fn run(plan: AzurePlan, sink: &FactSink) -> Result<Vec<AccountCoverage>, SinkClosed> {
    let mut coverage = Vec::with_capacity(plan.subscriptions.len());
    for sub in &plan.subscriptions {
        let scanner = Subscription {
            ctx: &plan.ctx,
            all_subscriptions: &plan.subscriptions,
            id: sub,
            sink,
            gaps: AtomicU64::new(0),
        };
        coverage.push(scanner.scan().await?);
    }
    Ok(coverage)
}

struct Subscription<'a> {
    ctx: &'a Ctx,
    all_subscriptions: &'a [String],
    id: &'a str,
    sink: &'a FactSink,
    gaps: AtomicU64,
}

impl Subscription<'_> {
    async fn push(&self, subject: &str, call: &str, body: fact::Body) -> Result<(), SinkClosed> {
        self.sink.push(new_fact(self.id, subject, call, body)).await
    }

    async fn gap(&self, subject: &str, call: &str, f: &CallFailure) -> Result<(), SinkClosed> {
        self.gaps.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(subscription = self.id, subject, call, "gap: {f}");
        self.push(subject, call, fact::Body::Gap(f.gap(call))).await
    }

    async fn scan(&self) -> Result<AccountCoverage, SinkClosed> {
        let url = match self.ctx.arm.url(
            &format!(
                "/subscriptions/{}/providers/Microsoft.Storage/storageAccounts",
                self.id
            ),
            arm::STORAGE_API,
        ) {
            Ok(u) => u,
            Err(f) => return self.incomplete(f).await,
        };
        let (accounts, failure) = self.ctx.arm.list::<arm::StorageAccount>(url).await;
        if let Some(f) = failure {
            return self.incomplete(f).await;
        }
        self.sink.stores_found(accounts.len() as u64);
        let results: Vec<Result<u64, SinkClosed>> = stream::iter(accounts.iter())
            .map(|a| self.scan_account(a))
            .buffer_unordered(self.ctx.concurrency)
            .collect()
            .await;
        let mut stores_seen = 0;
        for r in results {
            stores_seen += r?;
        }
        Ok(AccountCoverage {
            account: self.id.to_owned(),
            complete: true,
            stores_seen,
            gaps: self.gaps.load(Ordering::Relaxed),
            reason: String::new(),
        })
    }

    async fn incomplete(&self, f: CallFailure) -> Result<AccountCoverage, SinkClosed> {
        self.gap(self.id, CALL_LIST_STORAGE_ACCOUNTS, &f).await?;
        Ok(AccountCoverage {
            account: self.id.to_owned(),
            complete: false,
            stores_seen: 0,
            gaps: self.gaps.load(Ordering::Relaxed),
            reason: format!("{CALL_LIST_STORAGE_ACCOUNTS} failed: {f}"),
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
            sku: a.sku.name.clone(),
            secondary_region: a.properties.secondary_location.clone(),
            parent: String::new(),
            access_tier: a.properties.access_tier.clone(),
            kind: landmeter_proto::v1::StoreKind::StorageAccount as i32,
        };
        self.push(name, CALL_LIST_STORAGE_ACCOUNTS, fact::Body::Store(store))
            .await?;
        self.push(
            name,
            CALL_LIST_STORAGE_ACCOUNTS,
            fact::Body::Tags(Tags {
                tags: tags_of(a.tags.iter()),
            }),
        )
        .await?;
        let (encryption, key_uri) = account_encryption(a);
        self.push(
            name,
            CALL_LIST_STORAGE_ACCOUNTS,
            fact::Body::Encryption(encryption),
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
        self.sink.store_done();
        Ok(1 + containers)
    }

    async fn encryption_scopes(&self, a: &arm::StorageAccount) -> Result<(), SinkClosed> {
        let url = match self
            .ctx
            .arm
            .url(&format!("{}/encryptionScopes", a.id), arm::STORAGE_API)
        {
            Ok(u) => u,
            Err(f) => return self.gap(&a.name, CALL_LIST_ENCRYPTION_SCOPES, &f).await,
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
                CALL_LIST_ENCRYPTION_SCOPES,
                fact::Body::Encryption(enc),
            )
            .await?;
            if !key_uri.is_empty() {
                self.describe_key(&key_uri).await?;
            }
        }
        if let Some(f) = failure {
            self.gap(&a.name, CALL_LIST_ENCRYPTION_SCOPES, &f).await?;
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
                    },
                    None => Size::default(),
                };
                self.push(&a.name, CALL_GET_METRICS, fact::Body::Size(size))
                    .await
            }
            Err(f) => self.gap(&a.name, CALL_GET_METRICS, &f).await,
        }
    }

    async fn containers(&self, a: &arm::StorageAccount, endpoint: &str) -> Result<u64, SinkClosed> {
        let containers = match self.ctx.blob.list_containers(&a.name, endpoint).await {
            Ok(c) => c,
            Err(f) => {
                self.gap(&a.name, CALL_LIST_CONTAINERS, &f).await?;
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
                kind: landmeter_proto::v1::StoreKind::Container as i32,
            };
            self.push(&subject, CALL_LIST_CONTAINERS, fact::Body::Store(store))
                .await?;
            self.push(
                &subject,
                CALL_LIST_CONTAINERS,
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
            self.push(&subject, CALL_LIST_CONTAINERS, fact::Body::Encryption(enc))
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
                    CALL_LIST_CONTAINERS,
                    fact::Body::Retention(retention),
                )
                .await?;
            }
        }
        Ok(n)
    }

    /// Lists every planned subscription's vaults and managed HSMs once, by host.
    async fn vaults(&self) -> Result<&HashMap<String, VaultRef>, SinkClosed> {
        let mut pending: Vec<Fact> = Vec::new();
        let map = self
            .ctx
            .vaults
            .get_or_init(|| async {
                let mut map = HashMap::new();
                for sub in self.all_subscriptions {
                    for (kind, call, managed_hsm) in [
                        ("vaults", CALL_LIST_VAULTS, false),
                        ("managedHSMs", CALL_LIST_MANAGED_HSMS, true),
                    ] {
                        let url = self.ctx.arm.url(
                            &format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/{kind}"),
                            arm::KEYVAULT_API,
                        );
                        let (vaults, failure) = match url {
                            Ok(u) => self.ctx.arm.list::<arm::Vault>(u).await,
                            Err(f) => (Vec::new(), Some(f)),
                        };
                        for v in vaults {
                            let uri = if managed_hsm {
                                &v.properties.hsm_uri
                            } else {
                                &v.properties.vault_uri
                            };
                            if let Some(host) = host_of(uri) {
                                map.insert(
                                    host,
                                    VaultRef {
                                        id: v.id.clone(),
                                        location: v.location.clone(),
                                        subscription: sub.clone(),
                                        managed_hsm,
                                    },
                                );
                            }
                        }
                        if let Some(f) = failure {
                            // Reported once, on the subscription whose listing failed.
                            pending.push(new_fact(sub, sub, call, fact::Body::Gap(f.gap(call))));
                        }
                    }
                }
                map
            })
            .await;
        for f in pending {
            self.gaps.fetch_add(1, Ordering::Relaxed);
            self.sink.push(f).await?;
        }
        Ok(map)
    }

    /// Reads a key once per subscription and scan; the fact's subject and `arn` are the
    /// versionless key URI.
    async fn describe_key(&self, key_uri: &str) -> Result<(), SinkClosed> {
        let Some((host, name, versionless)) = parse_key_uri(key_uri) else {
            return Ok(());
        };
        {
            let mut done = self.ctx.keys_done.lock().await;
            if done
                .insert((self.id.to_owned(), versionless.clone()), ())
                .is_some()
            {
                return Ok(());
            }
        }
        let vaults = self.vaults().await?;
        let call_for = |managed_hsm| {
            if managed_hsm {
                CALL_GET_MANAGED_HSM_KEY
            } else {
                CALL_GET_KEY
            }
        };
        let Some(vault) = vaults.get(&host) else {
            let managed_hsm = host.contains(".managedhsm.");
            let f = CallFailure {
                code: Some("VaultNotFound".into()),
                message: format!(
                    "{host} is not among the key vaults and managed HSMs readable in the scanned subscriptions (another subscription or tenant)"
                ),
                status: Some(404),
                timeout: false,
            };
            return self.gap(&versionless, call_for(managed_hsm), &f).await;
        };
        let call = call_for(vault.managed_hsm);
        let url = match self
            .ctx
            .arm
            .url(&format!("{}/keys/{name}", vault.id), arm::KEYVAULT_API)
        {
            Ok(u) => u,
            Err(f) => return self.gap(&versionless, call, &f).await,
        };
        match self.ctx.arm.get::<arm::VaultKey>(url).await {
            Ok(k) => {
                let p = &k.properties;
                let key = Key {
                    arn: versionless.clone(),
                    key_account: vault.subscription.clone(),
                    region: vault.location.clone(),
                    key_manager: "CUSTOMER".to_owned(),
                    key_state: match p.attributes.enabled {
                        Some(false) => "Disabled".to_owned(),
                        _ => "Enabled".to_owned(),
                    },
                    key_spec: match (&p.key_size, &p.curve_name) {
                        (Some(size), _) => format!("{}-{size}", p.kty),
                        (None, Some(curve)) => format!("{}-{curve}", p.kty),
                        _ => p.kty.clone(),
                    },
                    requested_refs: vec![key_uri.to_owned()],
                    hsm_backed: vault.managed_hsm || p.kty.to_ascii_uppercase().ends_with("-HSM"),
                    key_type: p.kty.clone(),
                    key_service: if vault.managed_hsm {
                        "Microsoft.KeyVault/managedHSMs".to_owned()
                    } else {
                        "Microsoft.KeyVault/vaults".to_owned()
                    },
                    exportable: p.attributes.exportable.unwrap_or(false),
                    ..Key::default()
                };
                self.push(&versionless, call, fact::Body::Key(key)).await
            }
            Err(f) => self.gap(&versionless, call, &f).await,
        }
    }
}

/// The account's `Encryption` fact, and the key URI it names (if any).
fn account_encryption(a: &arm::StorageAccount) -> (Encryption, Option<String>) {
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

/// `https://HOST/keys/NAME[/VERSION]` -> (lowercase host, name, versionless URI).
pub fn parse_key_uri(uri: &str) -> Option<(String, String, String)> {
    let rest = uri.strip_prefix("https://")?;
    let mut parts = rest.split('/');
    let host = parts.next()?.to_ascii_lowercase();
    if parts.next()? != "keys" {
        return None;
    }
    let name = parts.next().filter(|n| !n.is_empty())?.to_owned();
    let host = host.split(':').next().unwrap_or(&host).to_owned();
    let versionless = format!("https://{host}/keys/{name}");
    Some((host, name, versionless))
}

fn host_of(uri: &str) -> Option<String> {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let host = rest.split(['/', ':']).next()?.to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn tags_of<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<Tag> {
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
    fn key_uris_parse_with_and_without_version() {
        assert_eq!(
            parse_key_uri("https://myvault8569.vault.azure.net/keys/wrappingKey/0682afdd"),
            Some((
                "myvault8569.vault.azure.net".into(),
                "wrappingKey".into(),
                "https://myvault8569.vault.azure.net/keys/wrappingKey".into()
            ))
        );
        assert_eq!(
            parse_key_uri("https://Contoso.managedhsm.azure.net/keys/k1").map(|k| k.2),
            Some("https://contoso.managedhsm.azure.net/keys/k1".into())
        );
        assert_eq!(parse_key_uri("https://x.vault.azure.net/secrets/s"), None);
        assert_eq!(parse_key_uri("http://x.vault.azure.net/keys/k"), None);
    }

    #[test]
    fn every_call_has_an_rbac_action() {
        let mapped: Vec<&str> = AZURE_RBAC_ACTIONS.iter().map(|(c, _)| *c).collect();
        assert_eq!(mapped, AZURE_CALLS);
    }

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
    }
}

#[cfg(test)]
mod policy_tests {
    //! The shipped custom role grants exactly what the call registry needs, read-only.
    use super::AZURE_RBAC_ACTIONS;
    use std::collections::BTreeSet;

    #[test]
    fn shipped_role_matches_the_call_registry() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/policies/azure-agent-role.json"
        );
        let text = std::fs::read_to_string(path).expect("role file");
        let role: serde_json::Value = serde_json::from_str(&text).expect("role is JSON");
        let props = &role["properties"];
        assert_eq!(props["type"], "CustomRole");
        let mut granted = BTreeSet::new();
        for p in props["permissions"].as_array().expect("permissions") {
            for field in ["actions", "dataActions"] {
                for a in p[field].as_array().expect(field) {
                    granted.insert(a.as_str().expect("action").to_owned());
                }
            }
            for field in ["notActions", "notDataActions"] {
                assert!(p[field].as_array().is_none_or(|a| a.is_empty()), "{field}");
            }
        }
        let needed: BTreeSet<String> = AZURE_RBAC_ACTIONS
            .iter()
            .flat_map(|(_, a)| a.iter().map(|a| (*a).to_owned()))
            .collect();
        assert_eq!(granted, needed, "role and call registry differ");
        for a in &granted {
            assert!(!a.contains('*'), "wildcard action {a}");
            assert!(
                a.ends_with("/read") || a.ends_with("/read/action"),
                "not a read action: {a}"
            );
            assert!(
                !a.contains("/blobs/") && !a.contains("listKeys") && !a.contains("/secrets/"),
                "role grants data or key material access: {a}"
            );
        }
    }
}
