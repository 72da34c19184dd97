//! AWS (and S3-compatible endpoints): buckets, their encryption, tags, replication and size,
//! and the KMS keys and custom key stores behind them.
//!
//! The [`Provider`](crate::providers::Provider) has two steps. `enumerate` resolves the
//! credential chain's account (`sts:GetCallerIdentity`) and the accounts to cover (the
//! caller's, configured roles, the Organization's accounts), so the collector can be told up
//! front. `scan` then scans one account:
//!
//! 1. `ListBuckets` (paginated, `max-buckets`), falling back to one unpaginated call when a
//!    page is full but carries no continuation token (moto does that). A failure here is the
//!    only thing that makes an account incomplete. The caller's own listing is asked by
//!    `enumerate`, beside `GetCallerIdentity` (it needs only the credentials), and handed to
//!    its account's scan.
//! 2. Per bucket, `concurrency` at a time: the region (`BucketRegion` from the listing, else
//!    `HeadBucket`, else `GetBucketLocation`), a `Store` fact, then `GetBucketEncryption`,
//!    `GetBucketTagging`, `GetBucketReplication` and (unless `object_lock = false`)
//!    `GetObjectLockConfiguration` against a client in the bucket's region.
//! 3. CloudWatch `ListMetrics` per region (which storage-type series exist), then
//!    `GetMetricData`, 500 queries a call, for `Size` facts; and KMS
//!    resolution (`ListAliases` once per region, `DescribeKey` once per key, both asked as
//!    soon as a store names the key; `DescribeCustomKeyStores` once per region that has
//!    keys in custom key stores).
//! 4. `Encryption` facts last, carrying the ARN each key reference resolved to.
//!
//! Every failed call becomes a `Gap` fact; nothing but a closed sink stops a scan.
//!
//! # Layout
//! - [`config`]: the `[aws]` section; [`calls`]: the registry of calls (topic, IAM action).
//! - `provider.rs`: [`AwsProvider`], planning (STS, roles, the Organization).
//! - `sdk.rs`: SDK configuration (retries, timeouts, endpoint) and SDK error -> `CallFailure`.
//! - `account.rs`: one account's scan, in the order above.
//! - `compatible.rs`: [`S3CompatibleProvider`], one `[[s3_compatible]]` entry scanned with
//!   this code under its provider's persona (`providers/s3_compatible.rs`).
//! - `listing.rs`: `ListBuckets` and bucket regions; `buckets.rs`: the per-bucket calls
//!   (store, tags, replication, object lock); `encryption.rs`: `GetBucketEncryption` and the
//!   `Encryption` fact; `sizes.rs`: CloudWatch; `keys.rs`: KMS keys and custom key stores.

pub mod calls;
pub mod config;
#[cfg(test)]
mod onboarding_tests;

#[cfg(feature = "aws")]
mod account;
mod adaptive_limit;
#[cfg(feature = "aws")]
mod buckets;
mod budget;
#[cfg(feature = "aws")]
mod compatible;
#[cfg(feature = "aws")]
mod encryption;
#[cfg(feature = "aws")]
mod keys;
#[cfg(feature = "aws")]
mod kinds;
#[cfg(feature = "aws")]
mod listing;
#[cfg(feature = "aws")]
mod provider;
#[cfg(feature = "aws")]
mod sdk;
#[cfg(feature = "aws")]
mod sizes;

pub use calls::AWS_CALLS;
#[cfg(feature = "aws")]
pub use compatible::S3CompatibleProvider;
#[cfg(feature = "aws")]
pub use listing::{
    REGION_FROM_GET_BUCKET_LOCATION, REGION_FROM_HEAD_BUCKET, REGION_FROM_LIST_BUCKETS,
    REGION_FROM_REGION_LISTING,
};
#[cfg(feature = "aws")]
pub use provider::{AwsError, AwsProvider};
#[cfg(feature = "aws")]
pub use sizes::STORAGE_TYPES;
