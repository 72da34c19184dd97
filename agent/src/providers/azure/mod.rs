//! Azure: storage accounts (ARM), their containers (Blob data plane), encryption, the Key
//! Vault and Managed HSM keys behind them, and sizes from Azure Monitor.
//!
//! [`AzureProvider`]'s `enumerate` builds the transport (with the operator's CA bundle), the
//! credential chain and the ARM client, and lists the subscriptions to cover
//! (`Subscriptions_List`, or the configured ones). `scan` then scans one subscription:
//!
//! 0. The other store kinds named in `[azure] kinds` ([`kinds`]): one listing per kind and
//!    subscription (a failure is a gap on that kind's listing part, never an incomplete
//!    subscription), a few child calls (SQL TDE and protector, a vault's storage config).
//! 1. `StorageAccounts_List` (paged by `nextLink`). A failure here is the only thing that
//!    makes a subscription incomplete; a 403 `AuthorizationFailed` is reported, not fatal.
//! 2. Per storage account, `concurrency` at a time: a `Store` fact (location, SKU,
//!    secondary location), `Tags`, an `Encryption` fact (key source, key URI,
//!    infrastructure encryption, cross-tenant identity), `EncryptionScopes_List` (one
//!    `Encryption` fact per scope, subject `ACCOUNT/encryptionScopes/SCOPE`), `UsedCapacity`
//!    from Azure Monitor (`Size`), and the containers from the Blob data plane (a `Store`
//!    per container, subject `ACCOUNT/CONTAINER`, with its metadata as `Tags` and its default
//!    encryption scope as `Encryption`), and its file shares (`FileShares_List`).
//! 3. Keys: the vaults and managed HSMs of every planned subscription are listed once
//!    (`Vaults_ListBySubscription`, `ManagedHsms_ListBySubscription`); each key URI is
//!    matched to its vault by host and read once (`Keys_Get`, `ManagedHsmKeys_Get`). A key
//!    whose vault is not visible (another subscription or tenant) is a `NotFound` gap.
//!
//! The agent reports; the collector decides custody, countries and replication. Every
//! failed call is a `Gap` fact; nothing but a closed sink stops a scan.
//!
//! # Layout
//! - [`config`]: the `[azure]` section; [`calls`]: the registry of calls (topic, RBAC actions).
//! - `provider.rs`: [`AzureProvider`] and its planning; `subscription.rs`: one subscription's
//!   storage accounts and containers; `keys.rs`: vaults, managed HSMs and their keys.
//! - [`kinds`]: the other store kinds (disks, snapshots, SQL, PostgreSQL, MySQL, Cosmos DB,
//!   Recovery Services and Backup vaults, file shares), one file per service.
//! - [`arm`]: ARM over azure_core (paging, `Retry-After`); [`auth`]: the credential chain and
//!   Shared Key / SAS policies; [`blob`]: the Blob data plane (containers).

pub mod calls;
pub mod config;
#[cfg(test)]
mod onboarding_tests;

#[cfg(feature = "azure")]
pub mod arm;
#[cfg(feature = "azure")]
pub mod auth;
#[cfg(feature = "azure")]
pub mod blob;
#[cfg(feature = "azure")]
mod keys;
#[cfg(feature = "azure")]
pub mod kinds;
#[cfg(feature = "azure")]
mod provider;
#[cfg(feature = "azure")]
mod subscription;

pub use calls::AZURE_CALLS;
#[cfg(feature = "azure")]
pub use keys::parse_key_uri;
#[cfg(feature = "azure")]
pub use provider::{AzureError, AzureProvider};
#[cfg(feature = "azure")]
pub use subscription::{
    REGION_FROM_ACCOUNT, REGION_FROM_ARM, SERVICE_ACCOUNT, SERVICE_CONTAINER, USED_CAPACITY,
};
