//! Google Cloud: Cloud Storage buckets (location, location type and data locations, default
//! Cloud KMS key, labels, storage class, retention policy), the Cloud KMS keys behind them and
//! their sizes from Cloud Monitoring, over the REST APIs (docs/adr/0004).
//!
//! [`GcpProvider`]'s `enumerate` builds the transport (with the operator's CA bundle) and the
//! credential chain, and names the projects to cover (`[gcp] projects`, else the credentials'
//! own project). `scan` then scans one project:
//!
//! 1. `buckets.list` (paged by `nextPageToken`). A failure here is the only thing that makes
//!    a project incomplete.
//! 2. Cloud Monitoring `timeSeries.list` for `storage/total_bytes` and `storage/object_count`
//!    of every bucket of the project (two listings, not one per bucket). A failure is a size
//!    gap on every bucket; a bucket without a datapoint has an unknown size, never 0.
//! 3. Per bucket, `concurrency` at a time: a `Store` fact (location as reported, location
//!    type as `sku`, storage class as `access_tier`), `Tags` (labels), `Encryption` (Google
//!    default encryption, or the default KMS key), `Replication` (the data locations of a
//!    dual-region or custom placement, each a copy), `Retention` (retention policy, locked or
//!    not) and `Size`.
//! 4. The other store kinds (`[gcp] kinds`, `kinds.rs`): Cloud SQL instances, Persistent
//!    Disks and snapshots, one listing each; a failed listing is a gap on that kind.
//! 5. Each KMS key a bucket, instance, disk or snapshot names, once per project:
//!    `cryptoKeys.get`, whose primary version gives the protection level, import job and
//!    external key URI. A denied read is a `Key` gap.
//!
//! The agent reports; the collector decides custody (`collector/src/map/gcp.rs`), countries
//! and copies.
//!
//! # Layout
//! - [`config`]: the `[gcp]` section; [`calls`]: the registry of calls (topic, IAM permissions).
//! - [`auth`]: transport and the credential chain (service-account JWT, authorized user,
//!   metadata server); [`rest`]: the REST client (retries, errors, paging) and the API shapes.
//! - `provider.rs`: [`GcpProvider`], its planning and one project's scan; [`kinds`]: the Cloud
//!   SQL, Persistent Disk and snapshot shapes and their facts.

pub mod calls;
pub mod config;

/// The `[gcp] kinds` values (store kinds beside buckets), in the order a scan walks them.
pub const GCP_KINDS: &[&str] = &["database", "volume", "snapshot"];

#[cfg(feature = "gcp")]
pub mod auth;
#[cfg(feature = "gcp")]
pub mod kinds;
#[cfg(feature = "gcp")]
mod provider;
#[cfg(feature = "gcp")]
pub mod rest;

pub use calls::GCP_CALLS;
#[cfg(feature = "gcp")]
pub use provider::{
    CLOUD_KMS, GOOGLE_DEFAULT_ENCRYPTION, GcpError, GcpProvider, KEY_SERVICE, REGION_FROM_LISTING,
    SERVICE_BUCKET, key_name,
};
