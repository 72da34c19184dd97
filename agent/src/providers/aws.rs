//! AWS (and S3-compatible endpoints): buckets, their encryption, tags, replication and size,
//! and the KMS keys and custom key stores behind them.
//!
//! A scan has two steps. [`plan`] resolves the credential chain's account
//! (`sts:GetCallerIdentity`) and the accounts to cover (the caller's, configured roles, the
//! Organization's accounts), so the collector can be told up front. [`run`] then scans each
//! account in turn:
//!
//! 1. `ListBuckets` (paginated, `max-buckets`), falling back to one unpaginated call when a
//!    page is full but carries no continuation token (moto does that). A failure here is the
//!    only thing that makes an account incomplete.
//! 2. Per bucket, `concurrency` at a time: the region (`BucketRegion` from the listing, else
//!    `HeadBucket`, else `GetBucketLocation`), a `Store` fact, then `GetBucketEncryption`,
//!    `GetBucketTagging`, `GetBucketReplication` and (unless `object_lock = false`)
//!    `GetObjectLockConfiguration` against a client in the bucket's region.
//! 3. CloudWatch `ListMetrics` per region (which storage-type series exist), then
//!    `GetMetricData`, 500 queries a call, for `Size` facts; and KMS
//!    resolution (`ListAliases` once per region, `DescribeKey` once per key,
//!    `DescribeCustomKeyStores` once per region that has keys in custom key stores).
//! 4. `Encryption` facts last, carrying the ARN each key reference resolved to.
//!
//! Every failed call becomes a `Gap` fact; nothing but a closed sink stops a scan.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use futures::{StreamExt, TryStreamExt, stream};
use landmeter_proto::v1::{
    AccountCoverage, Encryption, EncryptionState, Fact, Key, KeyStore, Replication,
    ReplicationRule, Retention, Size, Store, Tag, Tags, fact,
};
use tokio::sync::OnceCell;

use crate::arn::{Arn, KeyRef, s3_bucket_name};
use crate::config::AwsConfig;
use crate::providers::{CallFailure, new_fact};
use crate::sink::{FactSink, SinkClosed};

/// Every API operation this provider can call, as `service:Operation`. The least-privilege
/// policy is derived from this list (see [`AWS_IAM_ACTIONS`]).
pub const AWS_CALLS: &[&str] = &[
    "sts:GetCallerIdentity",
    "sts:AssumeRole",
    "organizations:ListAccounts",
    "s3:ListBuckets",
    "s3:HeadBucket",
    "s3:GetBucketLocation",
    "s3:GetBucketEncryption",
    "s3:GetBucketTagging",
    "s3:GetBucketReplication",
    "s3:GetObjectLockConfiguration",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
    "kms:ListAliases",
    "kms:DescribeKey",
    "kms:DescribeCustomKeyStores",
];

/// The IAM action that authorises each entry of [`AWS_CALLS`] (S3 names differ from its API).
/// `sts:GetCallerIdentity` needs no permission but is listed for completeness.
pub const AWS_IAM_ACTIONS: &[(&str, &str)] = &[
    ("sts:GetCallerIdentity", "sts:GetCallerIdentity"),
    ("sts:AssumeRole", "sts:AssumeRole"),
    ("organizations:ListAccounts", "organizations:ListAccounts"),
    ("s3:ListBuckets", "s3:ListAllMyBuckets"),
    ("s3:HeadBucket", "s3:ListBucket"),
    ("s3:GetBucketLocation", "s3:GetBucketLocation"),
    ("s3:GetBucketEncryption", "s3:GetEncryptionConfiguration"),
    ("s3:GetBucketTagging", "s3:GetBucketTagging"),
    ("s3:GetBucketReplication", "s3:GetReplicationConfiguration"),
    (
        "s3:GetObjectLockConfiguration",
        "s3:GetBucketObjectLockConfiguration",
    ),
    ("cloudwatch:ListMetrics", "cloudwatch:ListMetrics"),
    ("cloudwatch:GetMetricData", "cloudwatch:GetMetricData"),
    ("kms:ListAliases", "kms:ListAliases"),
    ("kms:DescribeKey", "kms:DescribeKey"),
    ("kms:DescribeCustomKeyStores", "kms:DescribeCustomKeyStores"),
];

const CALL_GET_CALLER_IDENTITY: &str = "sts:GetCallerIdentity";
const CALL_ASSUME_ROLE: &str = "sts:AssumeRole";
const CALL_LIST_ACCOUNTS: &str = "organizations:ListAccounts";
const CALL_LIST_BUCKETS: &str = "s3:ListBuckets";
const CALL_HEAD_BUCKET: &str = "s3:HeadBucket";
const CALL_GET_BUCKET_LOCATION: &str = "s3:GetBucketLocation";
const CALL_GET_BUCKET_ENCRYPTION: &str = "s3:GetBucketEncryption";
const CALL_GET_BUCKET_TAGGING: &str = "s3:GetBucketTagging";
const CALL_GET_BUCKET_REPLICATION: &str = "s3:GetBucketReplication";
const CALL_GET_OBJECT_LOCK: &str = "s3:GetObjectLockConfiguration";
const CALL_LIST_METRICS: &str = "cloudwatch:ListMetrics";
const CALL_GET_METRIC_DATA: &str = "cloudwatch:GetMetricData";
const CALL_LIST_ALIASES: &str = "kms:ListAliases";
const CALL_DESCRIBE_KEY: &str = "kms:DescribeKey";
const CALL_DESCRIBE_CUSTOM_KEY_STORES: &str = "kms:DescribeCustomKeyStores";

/// `Store.region_source` values.
pub const REGION_FROM_LIST_BUCKETS: &str = "ListBuckets.BucketRegion";
pub const REGION_FROM_HEAD_BUCKET: &str = "HeadBucket";
pub const REGION_FROM_GET_BUCKET_LOCATION: &str = "GetBucketLocation";
/// From a `ListBuckets` filtered by `bucket-region`, asked per region (see
/// [`AccountScan::regions_by_listing`]).
pub const REGION_FROM_REGION_LISTING: &str = "ListBuckets.bucket-region";

/// Regions asked by `ListBuckets?bucket-region=` when the listing names no regions: the AWS
/// commercial regions (2026-11). A bucket in a region not listed here (other partitions,
/// newer regions, S3-compatible providers) falls back to `HeadBucket`.
const LISTING_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
];

/// `ListBuckets` page size (`max-buckets`); sending it also makes S3 return `BucketRegion`.
/// S3's maximum and its own default page: one request for any account under the default
/// quota of 10,000 buckets.
const LIST_BUCKETS_PAGE: i32 = 10_000;
/// Most metric queries one `GetMetricData` call accepts.
const METRIC_QUERIES_PER_CALL: usize = 500;
/// `GetMetricData` calls in flight per account.
const METRIC_CALLS_IN_FLIGHT: usize = 4;
/// `BucketSizeBytes` storage types queried for every bucket when `ListMetrics` cannot say
/// which series exist.
pub const STORAGE_TYPES: &[&str] = &[
    "StandardStorage",
    "StandardIAStorage",
    "OneZoneIAStorage",
    "ReducedRedundancyStorage",
    "IntelligentTieringFAStorage",
    "IntelligentTieringIAStorage",
    "IntelligentTieringAIAStorage",
    "IntelligentTieringAAStorage",
    "IntelligentTieringDAAStorage",
    "GlacierInstantRetrievalStorage",
    "GlacierStorage",
    "DeepArchiveStorage",
];
/// Days of CloudWatch history searched for the latest daily datapoint.
const SIZE_LOOKBACK_DAYS: i64 = 3;
const SECONDS_PER_DAY: i64 = 86_400;
/// Attempts per call, including the first, with the SDK's standard (jittered, exponential,
/// capped at 20 s) backoff. Ten, not the SDK's three: under sustained throttling (S3 SlowDown,
/// KMS ThrottlingException) a scan must slow down, not turn every throttled call into a gap;
/// at 30% of calls throttled, ten attempts all fail for one call in ~170,000. The retry quota
/// (token bucket) only loses tokens for calls that fail every attempt.
const MAX_ATTEMPTS: u32 = 10;
const ROLE_SESSION_NAME: &str = "landmeter-agent";
/// S3 replies with this code when a bucket has no default encryption configuration.
const NO_ENCRYPTION_CODE: &str = "ServerSideEncryptionConfigurationNotFoundError";
const NO_TAGS_CODE: &str = "NoSuchTagSet";
const NO_REPLICATION_CODE: &str = "ReplicationConfigurationNotFoundError";
/// S3 replies with this code when Object Lock was never enabled on a bucket.
const NO_OBJECT_LOCK_CODE: &str = "ObjectLockConfigurationNotFoundError";

/// Failures that stop an AWS scan before it starts.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("cannot identify the credential chain's account (sts:GetCallerIdentity): {0}")]
    CallerIdentity(CallFailure),
    #[error("sts:GetCallerIdentity answered without an account id")]
    NoCallerAccount,
}

/// Who the scan runs as and which accounts it covers; built by [`plan`].
#[derive(Debug)]
pub struct AwsPlan {
    settings: Settings,
    base: SdkConfig,
    caller_account: String,
    targets: Vec<Target>,
    /// Facts observed while planning (a failed Organization listing), pushed first by [`run`].
    pending: Vec<Fact>,
}

#[derive(Debug, Clone)]
struct Settings {
    provider: String,
    endpoint: Option<String>,
    concurrency: usize,
    /// Ask `GetObjectLockConfiguration` per bucket (one request per bucket).
    object_lock: bool,
    /// Read bucket sizes from CloudWatch.
    sizes: bool,
    /// Region of global calls: the chain's region, else `home_region` from the configuration.
    home_region: String,
}

#[derive(Debug, Clone)]
struct Target {
    account: String,
    access: Access,
}

#[derive(Debug, Clone)]
enum Access {
    /// The credential chain itself.
    Caller,
    Role {
        role_arn: String,
        external_id: Option<String>,
    },
}

impl AwsPlan {
    /// Account ids the scan covers, in scan order.
    pub fn accounts(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.account.clone()).collect()
    }

    /// The provider the endpoint stands for.
    pub fn provider(&self) -> &str {
        &self.settings.provider
    }

    /// The credential chain's own account.
    pub fn caller_account(&self) -> &str {
        &self.caller_account
    }
}

/// Loads the SDK configuration and decides which accounts to scan.
pub async fn plan(config: &AwsConfig) -> Result<AwsPlan, AwsError> {
    let base = load_sdk_config(config).await;
    let home_region = base
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| config.home_region.clone());
    let settings = Settings {
        provider: config.provider.clone(),
        endpoint: config.endpoint_url.clone(),
        concurrency: config.concurrency.max(1),
        object_lock: config.object_lock,
        sizes: config.sizes,
        home_region,
    };

    let identity = aws_sdk_sts::Client::new(&base)
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| AwsError::CallerIdentity(failure(&err)))?;
    let caller_account = identity
        .account()
        .filter(|a| !a.is_empty())
        .ok_or(AwsError::NoCallerAccount)?
        .to_owned();
    let partition = identity
        .arn()
        .and_then(Arn::parse)
        .map(|arn| arn.partition.to_owned())
        .unwrap_or_else(|| "aws".to_owned());
    tracing::info!(account = %caller_account, arn = identity.arn().unwrap_or_default(), call = CALL_GET_CALLER_IDENTITY, "credential chain identified");

    let mut targets = Vec::new();
    let mut seen = HashSet::new();
    if config.include_caller_account {
        seen.insert(caller_account.clone());
        targets.push(Target {
            account: caller_account.clone(),
            access: Access::Caller,
        });
    }
    for account in &config.accounts {
        let Some(id) = Arn::parse(&account.role_arn).map(|arn| arn.account.to_owned()) else {
            // Validated by the configuration; skip rather than guess.
            tracing::warn!(role_arn = %account.role_arn, "skipping role that is not an arn");
            continue;
        };
        if !seen.insert(id.clone()) {
            tracing::warn!(account = %id, role_arn = %account.role_arn, "account listed twice, scanning it once");
            continue;
        }
        targets.push(Target {
            account: id,
            access: Access::Role {
                role_arn: account.role_arn.clone(),
                external_id: account.external_id.clone(),
            },
        });
    }

    let mut pending = Vec::new();
    if config.organization {
        match list_organization_accounts(&base).await {
            Ok(ids) => {
                for id in ids {
                    // The caller's own account is covered by include_caller_account.
                    if id == caller_account || !seen.insert(id.clone()) {
                        continue;
                    }
                    targets.push(Target {
                        account: id.clone(),
                        access: Access::Role {
                            role_arn: format!(
                                "arn:{partition}:iam::{id}:role/{}",
                                config.organization_role_name
                            ),
                            external_id: None,
                        },
                    });
                }
            }
            Err(failed) => {
                tracing::error!(error = %failed, "cannot list the organization's accounts");
                if config.include_caller_account {
                    pending.push(new_fact(
                        &caller_account,
                        &caller_account,
                        CALL_LIST_ACCOUNTS,
                        fact::Body::Gap(failed.gap(CALL_LIST_ACCOUNTS)),
                    ));
                }
            }
        }
    }

    Ok(AwsPlan {
        settings,
        base,
        caller_account,
        targets,
        pending,
    })
}

/// Scans every planned account into `sink`, one account after another, and returns their
/// coverage in plan order. Only a closed sink ends it early.
pub async fn run(plan: AwsPlan, sink: &FactSink) -> Result<Vec<AccountCoverage>, SinkClosed> {
    for fact in plan.pending {
        sink.push(fact).await?;
    }
    let mut coverage = Vec::with_capacity(plan.targets.len());
    for target in &plan.targets {
        let started = std::time::Instant::now();
        let sdk = match &target.access {
            Access::Caller => plan.base.clone(),
            Access::Role {
                role_arn,
                external_id,
            } => match assume_role(&plan.base, role_arn, external_id.as_deref()).await {
                Ok(sdk) => sdk,
                Err(failed) => {
                    tracing::error!(account = %target.account, role_arn = %role_arn, error = %failed, "cannot assume role");
                    sink.push(new_fact(
                        &target.account,
                        role_arn,
                        CALL_ASSUME_ROLE,
                        fact::Body::Gap(failed.gap(CALL_ASSUME_ROLE)),
                    ))
                    .await?;
                    coverage.push(AccountCoverage {
                        account: target.account.clone(),
                        complete: false,
                        stores_seen: 0,
                        gaps: 1,
                        reason: format!("sts:AssumeRole {role_arn} failed: {failed}"),
                    });
                    continue;
                }
            },
        };
        let scan = AccountScan::new(target.account.clone(), &plan.settings, sdk, sink);
        let account_coverage = scan.scan().await?;
        tracing::info!(
            account = %account_coverage.account,
            complete = account_coverage.complete,
            buckets = account_coverage.stores_seen,
            gaps = account_coverage.gaps,
            seconds = started.elapsed().as_secs_f64(),
            "account scanned"
        );
        coverage.push(account_coverage);
    }
    Ok(coverage)
}

async fn load_sdk_config(config: &AwsConfig) -> SdkConfig {
    let region =
        RegionProviderChain::default_provider().or_else(Region::new(config.home_region.clone()));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(300))
                .build(),
        );
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    loader.load().await
}

/// Checks the role can be assumed (for a precise error), then returns a configuration whose
/// credentials come from a refreshing assume-role provider.
async fn assume_role(
    base: &SdkConfig,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<SdkConfig, CallFailure> {
    aws_sdk_sts::Client::new(base)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(ROLE_SESSION_NAME)
        .set_external_id(external_id.map(str::to_owned))
        .send()
        .await
        .map_err(|err| failure(&err))?;
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name(ROLE_SESSION_NAME)
        .configure(base);
    if let Some(id) = external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

async fn list_organization_accounts(base: &SdkConfig) -> Result<Vec<String>, CallFailure> {
    let client = aws_sdk_organizations::Client::new(base);
    let mut pages = client.list_accounts().into_paginator().send();
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| failure(&err))?;
        for account in page.accounts() {
            let active = account
                .status()
                .is_none_or(|s| *s == aws_sdk_organizations::types::AccountStatus::Active);
            match account.id() {
                Some(id) if active => ids.push(id.to_owned()),
                Some(id) => {
                    tracing::info!(account = %id, "skipping organization account that is not active")
                }
                None => {}
            }
        }
    }
    Ok(ids)
}

/// Turns an SDK error into a provider-neutral [`CallFailure`].
fn failure<E>(err: &SdkError<E, HttpResponse>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let timeout = match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(dispatch) => dispatch.is_timeout(),
        _ => false,
    };
    let service = err.as_service_error();
    let code = service.and_then(|e| e.code()).map(str::to_owned);
    let message = match service.and_then(|e| e.message()) {
        Some(message) => message.to_owned(),
        // An answer the SDK could not read (an HTML 404 from a service that does not speak
        // the protocol, an empty HEAD body): say what came back, not the whole body.
        None if service.is_some() => {
            let content_type = err
                .raw_response()
                .and_then(|raw| raw.headers().get("content-type"))
                .unwrap_or("none");
            format!(
                "error response without a readable error (http {}, content-type {content_type})",
                status.map_or_else(|| "?".to_owned(), |s| s.to_string())
            )
        }
        None => truncate(DisplayErrorContext(err).to_string(), MAX_MESSAGE_CHARS),
    };
    CallFailure {
        code,
        message,
        status,
        timeout,
    }
}

/// Longest error message kept in a gap.
const MAX_MESSAGE_CHARS: usize = 400;

fn truncate(mut text: String, max_chars: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max_chars) {
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Today 00:00 UTC in seconds: the end of the CloudWatch window (moto invents a datapoint
/// for the current day; AWS publishes the daily storage metrics for past days).
fn metric_window(now_ms: i64) -> (i64, i64) {
    let now = now_ms.div_euclid(1000);
    let end = now - now.rem_euclid(SECONDS_PER_DAY);
    (end - SIZE_LOOKBACK_DAYS * SECONDS_PER_DAY, end)
}

/// What S3 answered about one bucket, kept until key references are resolved.
#[derive(Debug)]
struct Bucket {
    name: String,
    /// Empty when it could not be determined.
    region: String,
    /// Boxed: one `Bucket` per bucket is held until the end of the account's scan, and most
    /// of an `Encryption` is empty strings (5,000 buckets: 0.4 MB boxed, 2 MB inline).
    encryption: Option<Box<Encryption>>,
    /// Key references (raw) with the region they resolve in when they are not ARNs.
    key_refs: Vec<(String, String)>,
}

/// A bucket from the listing.
#[derive(Debug, Clone)]
struct Listed {
    name: String,
    region: Option<String>,
    /// Where `region` came from (a `REGION_FROM_*`).
    region_source: &'static str,
    created_at_ms: i64,
}

type RegionAnswer = Result<(String, &'static str), CallFailure>;
/// Bucket -> storage types with a `BucketSizeBytes` series (from `ListMetrics`).
type SeriesByBucket = HashMap<String, Vec<String>>;
/// The buckets of one `GetMetricData` call, each with the storage types to query.
type SizeChunk<'b> = Vec<(&'b str, Vec<String>)>;

struct AccountScan<'a> {
    account: String,
    settings: &'a Settings,
    sdk: SdkConfig,
    sink: &'a FactSink,
    gaps: AtomicU64,
    s3_clients: Mutex<HashMap<String, aws_sdk_s3::Client>>,
    /// Bucket name -> region, resolved at most once per name (own buckets and destinations).
    regions: Mutex<HashMap<String, Arc<OnceCell<RegionAnswer>>>>,
}

impl<'a> AccountScan<'a> {
    fn new(account: String, settings: &'a Settings, sdk: SdkConfig, sink: &'a FactSink) -> Self {
        AccountScan {
            account,
            settings,
            sdk,
            sink,
            gaps: AtomicU64::new(0),
            s3_clients: Mutex::new(HashMap::new()),
            regions: Mutex::new(HashMap::new()),
        }
    }

    async fn emit(
        &self,
        subject: &str,
        api_call: &str,
        body: fact::Body,
    ) -> Result<(), SinkClosed> {
        self.sink
            .push(new_fact(&self.account, subject, api_call, body))
            .await
    }

    async fn gap(&self, subject: &str, call: &str, failed: &CallFailure) -> Result<(), SinkClosed> {
        tracing::debug!(account = %self.account, subject, call, error = %failed, "call failed, recording a gap");
        self.gaps.fetch_add(1, Ordering::Relaxed);
        self.emit(subject, call, fact::Body::Gap(failed.gap(call)))
            .await
    }

    fn region_or_home<'r>(&'r self, region: &'r str) -> &'r str {
        if region.is_empty() {
            &self.settings.home_region
        } else {
            region
        }
    }

    /// An S3 client for `region`, one per region.
    fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let mut clients = self
            .s3_clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
                    .region(Region::new(region.to_owned()))
                    .force_path_style(self.settings.endpoint.is_some())
                    .build();
                aws_sdk_s3::Client::from_conf(conf)
            })
            .clone()
    }

    fn kms(&self, region: &str) -> aws_sdk_kms::Client {
        let conf = aws_sdk_kms::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    fn cloudwatch(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    }

    async fn scan(&self) -> Result<AccountCoverage, SinkClosed> {
        let listed = match self.list_buckets().await {
            Ok(listed) => listed,
            Err(failed) => {
                tracing::error!(account = %self.account, error = %failed, "cannot list buckets");
                self.gap(&self.account, CALL_LIST_BUCKETS, &failed).await?;
                return Ok(AccountCoverage {
                    account: self.account.clone(),
                    complete: false,
                    stores_seen: 0,
                    gaps: self.gaps.load(Ordering::Relaxed),
                    reason: format!("s3:ListBuckets failed: {failed}"),
                });
            }
        };
        self.sink.stores_found(listed.len() as u64);
        let mut listed = listed;
        let unresolved = listed.iter().filter(|b| b.region.is_none()).count();
        if unresolved > LISTING_REGIONS.len() {
            // Cheaper than a HeadBucket per bucket (moto and some S3-compatible services
            // send no BucketRegion; AWS does on paginated listings).
            if let Some(found) = self.regions_by_listing().await {
                for bucket in listed.iter_mut().filter(|b| b.region.is_none()) {
                    if let Some(region) = found.get(&bucket.name) {
                        bucket.region = Some(region.clone());
                        bucket.region_source = REGION_FROM_REGION_LISTING;
                    }
                }
            }
        }
        {
            let mut regions = self
                .regions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for bucket in &listed {
                if let Some(region) = &bucket.region {
                    let known: RegionAnswer = Ok((region.clone(), bucket.region_source));
                    regions.insert(
                        bucket.name.clone(),
                        Arc::new(OnceCell::new_with(Some(known))),
                    );
                }
            }
        }
        let stores_seen = listed.len() as u64;

        // Sizes need only names and regions. When the listing gave every region they are read
        // while the buckets are examined (CloudWatch does not share S3's request rate), not
        // after them.
        let listed_regions: Option<Vec<(String, String)>> = listed
            .iter()
            .map(|b| Some((b.name.clone(), b.region.clone()?)))
            .collect();
        let examine_all = async {
            // Sized once: collecting into a growing Vec would double it (and copy) up to
            // 2x the estate.
            let mut buckets = Vec::with_capacity(stores_seen as usize);
            let mut examined = stream::iter(listed)
                .map(|bucket| self.examine(bucket))
                .buffer_unordered(self.settings.concurrency);
            while let Some(bucket) = examined.next().await {
                buckets.push(bucket?);
            }
            Ok::<_, SinkClosed>(buckets)
        };
        let early_sizes = async {
            match &listed_regions {
                Some(pairs) if self.settings.sizes => {
                    let pairs: Vec<(&str, &str)> = pairs
                        .iter()
                        .map(|(name, region)| (name.as_str(), region.as_str()))
                        .collect();
                    self.sizes(&pairs).await
                }
                _ => Ok(()),
            }
        };
        let (buckets, early_sizes) = tokio::join!(examine_all, early_sizes);
        let buckets = buckets?;
        early_sizes?;

        let late_sizes = async {
            if listed_regions.is_some() || !self.settings.sizes {
                return Ok(());
            }
            let pairs: Vec<(&str, &str)> = buckets
                .iter()
                .map(|b| (b.name.as_str(), b.region.as_str()))
                .collect();
            self.sizes(&pairs).await
        };
        let (sizes, resolved) = tokio::join!(late_sizes, self.resolve_keys(&buckets));
        sizes?;
        let resolved = resolved?;

        for bucket in buckets {
            let Some(mut encryption) = bucket.encryption.map(|boxed| *boxed) else {
                continue;
            };
            if !encryption.key_ref.is_empty() {
                let region = self.region_or_home(&bucket.region).to_owned();
                if let Some(arn) = resolved.get(&(region, encryption.key_ref.clone())) {
                    encryption.resolved_key_arn.clone_from(arn);
                }
            }
            self.emit(
                &bucket.name,
                CALL_GET_BUCKET_ENCRYPTION,
                fact::Body::Encryption(encryption),
            )
            .await?;
        }

        Ok(AccountCoverage {
            account: self.account.clone(),
            complete: true,
            stores_seen,
            gaps: self.gaps.load(Ordering::Relaxed),
            reason: String::new(),
        })
    }

    /// Every bucket of the account, sorted by name.
    async fn list_buckets(&self) -> Result<Vec<Listed>, CallFailure> {
        let client = self.s3(&self.settings.home_region);
        let mut buckets: BTreeMap<String, Listed> = BTreeMap::new();
        let mut token: Option<String> = None;
        let mut tokens_seen = HashSet::new();
        loop {
            let page = client
                .list_buckets()
                .max_buckets(LIST_BUCKETS_PAGE)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|err| failure(&err))?;
            let page_len = page.buckets().len();
            for bucket in page.buckets().iter().filter_map(listed_bucket) {
                buckets.insert(bucket.name.clone(), bucket);
            }
            match page.continuation_token().filter(|t| !t.is_empty()) {
                Some(next) if tokens_seen.insert(next.to_owned()) => token = Some(next.to_owned()),
                Some(_) => {
                    tracing::warn!(account = %self.account, "listbuckets repeated a continuation token, listing unpaginated");
                    self.list_buckets_unpaginated(&client, &mut buckets).await?;
                    break;
                }
                None if page_len >= LIST_BUCKETS_PAGE as usize => {
                    // A full page without a token: the service truncated without a way to
                    // continue (moto). One unpaginated call returns everything.
                    tracing::info!(account = %self.account, page_len, "listbuckets truncated without a continuation token, listing unpaginated");
                    self.list_buckets_unpaginated(&client, &mut buckets).await?;
                    break;
                }
                None => break,
            }
        }
        Ok(buckets.into_values().collect())
    }

    async fn list_buckets_unpaginated(
        &self,
        client: &aws_sdk_s3::Client,
        buckets: &mut BTreeMap<String, Listed>,
    ) -> Result<(), CallFailure> {
        let all = client
            .list_buckets()
            .send()
            .await
            .map_err(|err| failure(&err))?;
        for bucket in all.buckets().iter().filter_map(listed_bucket) {
            // Keep the paginated entry: it may carry BucketRegion.
            buckets.entry(bucket.name.clone()).or_insert(bucket);
        }
        Ok(())
    }

    /// Bucket -> region from one `ListBuckets?bucket-region=R` per region in
    /// [`LISTING_REGIONS`], each sent to its region. `None` when the answers cannot be
    /// trusted (see [`regions_from_listings`]); regions that fail are skipped (their buckets
    /// fall back to `HeadBucket`).
    async fn regions_by_listing(&self) -> Option<HashMap<String, String>> {
        let answers: Vec<(&str, Option<Vec<String>>)> = stream::iter(LISTING_REGIONS.iter().copied())
            .map(|region| async move {
                let answer = self
                    .s3(region)
                    .list_buckets()
                    .bucket_region(region)
                    .send()
                    .await;
                match answer {
                    Ok(out) => (
                        region,
                        Some(
                            out.buckets()
                                .iter()
                                .filter_map(|b| b.name().map(str::to_owned))
                                .collect(),
                        ),
                    ),
                    Err(err) => {
                        tracing::debug!(account = %self.account, region, error = %failure(&err), "listing by region failed, its buckets fall back to HeadBucket");
                        (region, None)
                    }
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        let found = regions_from_listings(answers);
        if found.is_none() {
            tracing::info!(account = %self.account, "listbuckets ignores bucket-region, asking HeadBucket per bucket");
        }
        found
    }

    /// Region of a bucket by name, asked at most once per name.
    async fn bucket_region(&self, bucket: &str) -> RegionAnswer {
        let cell = {
            let mut regions = self
                .regions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(regions.entry(bucket.to_owned()).or_default())
        };
        cell.get_or_init(|| self.lookup_region(bucket))
            .await
            .clone()
    }

    /// `HeadBucket` (its `x-amz-bucket-region` header, also on 301 and 403 answers), then
    /// `GetBucketLocation` for services that send no header. The error is HeadBucket's.
    async fn lookup_region(&self, bucket: &str) -> RegionAnswer {
        let client = self.s3(&self.settings.home_region);
        let head_failure = match client.head_bucket().bucket(bucket).send().await {
            Ok(out) => match out.bucket_region().filter(|r| !r.is_empty()) {
                Some(region) => return Ok((region.to_owned(), REGION_FROM_HEAD_BUCKET)),
                None => CallFailure {
                    message: "HeadBucket answered without x-amz-bucket-region".to_owned(),
                    ..CallFailure::default()
                },
            },
            Err(err) => {
                let header = err
                    .raw_response()
                    .and_then(|raw| raw.headers().get("x-amz-bucket-region"))
                    .filter(|r| !r.is_empty());
                if let Some(region) = header {
                    return Ok((region.to_owned(), REGION_FROM_HEAD_BUCKET));
                }
                failure(&err)
            }
        };
        match client.get_bucket_location().bucket(bucket).send().await {
            Ok(out) => {
                let constraint = out
                    .location_constraint()
                    .map(|c| c.as_str())
                    .unwrap_or_default();
                Ok((
                    location_to_region(constraint).to_owned(),
                    REGION_FROM_GET_BUCKET_LOCATION,
                ))
            }
            Err(err) => {
                tracing::debug!(bucket, head_error = %head_failure, call = CALL_GET_BUCKET_LOCATION, location_error = %failure(&err), "cannot resolve bucket region");
                Err(head_failure)
            }
        }
    }

    /// Region, store fact, encryption, tags and replication of one bucket.
    async fn examine(&self, listed: Listed) -> Result<Bucket, SinkClosed> {
        let name = listed.name;
        let (region, region_source) = match listed.region {
            Some(region) => (region, listed.region_source),
            None => match self.bucket_region(&name).await {
                Ok((region, source)) => (region, source),
                Err(failed) => {
                    self.gap(&name, CALL_HEAD_BUCKET, &failed).await?;
                    (String::new(), "")
                }
            },
        };
        let store = Store {
            provider: self.settings.provider.clone(),
            service: "s3".to_owned(),
            name: name.clone(),
            region: region.clone(),
            region_source: region_source.to_owned(),
            created_at_ms: listed.created_at_ms,
            endpoint: self.settings.endpoint.clone().unwrap_or_default(),
            ..Store::default()
        };
        self.emit(&name, CALL_LIST_BUCKETS, fact::Body::Store(store))
            .await?;

        let client = self.s3(self.region_or_home(&region));
        let (encryption, tags, replica_refs, lock) = tokio::join!(
            self.encryption(&client, &name),
            self.tags(&client, &name),
            self.replication(&client, &name, &region),
            self.object_lock(&client, &name),
        );
        let encryption = encryption?.map(Box::new);
        tags?;
        lock?;
        let mut key_refs = replica_refs?;
        if let Some(key_ref) = encryption
            .as_ref()
            .map(|e| &e.key_ref)
            .filter(|k| !k.is_empty())
        {
            key_refs.push((key_ref.clone(), self.region_or_home(&region).to_owned()));
        }
        self.sink.store_done();
        Ok(Bucket {
            name,
            region,
            encryption,
            key_refs,
        })
    }

    /// The encryption fact (emitted later, after key resolution); `None` after a gap.
    async fn encryption(
        &self,
        client: &aws_sdk_s3::Client,
        bucket: &str,
    ) -> Result<Option<Encryption>, SinkClosed> {
        match client.get_bucket_encryption().bucket(bucket).send().await {
            Ok(out) => {
                let rules = out
                    .server_side_encryption_configuration()
                    .map(|c| c.rules())
                    .unwrap_or_default();
                Ok(Some(encryption_from_rules(rules)))
            }
            Err(err) if err.code() == Some(NO_ENCRYPTION_CODE) => Ok(Some(Encryption {
                state: EncryptionState::NotConfigured as i32,
                not_configured_code: NO_ENCRYPTION_CODE.to_owned(),
                ..Encryption::default()
            })),
            Err(err) => {
                self.gap(bucket, CALL_GET_BUCKET_ENCRYPTION, &failure(&err))
                    .await?;
                Ok(None)
            }
        }
    }

    async fn tags(&self, client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), SinkClosed> {
        let tags = match client.get_bucket_tagging().bucket(bucket).send().await {
            Ok(out) => out
                .tag_set()
                .iter()
                .map(|t| Tag {
                    key: t.key().to_owned(),
                    value: t.value().to_owned(),
                })
                .collect(),
            Err(err) if err.code() == Some(NO_TAGS_CODE) => Vec::new(),
            Err(err) => {
                return self
                    .gap(bucket, CALL_GET_BUCKET_TAGGING, &failure(&err))
                    .await;
            }
        };
        self.emit(
            bucket,
            CALL_GET_BUCKET_TAGGING,
            fact::Body::Tags(Tags { tags }),
        )
        .await
    }

    /// Emits the `Retention` fact from Object Lock; nothing when switched off (the collector
    /// then shows the lock as unknown, not absent).
    async fn object_lock(
        &self,
        client: &aws_sdk_s3::Client,
        bucket: &str,
    ) -> Result<(), SinkClosed> {
        if !self.settings.object_lock {
            return Ok(());
        }
        let retention = match client
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => retention_from(out.object_lock_configuration()),
            Err(err) if err.code() == Some(NO_OBJECT_LOCK_CODE) => Retention::default(),
            Err(err) => {
                return self.gap(bucket, CALL_GET_OBJECT_LOCK, &failure(&err)).await;
            }
        };
        self.emit(
            bucket,
            CALL_GET_OBJECT_LOCK,
            fact::Body::Retention(retention),
        )
        .await
    }

    /// Emits the replication fact; returns the replica key references with the region they
    /// resolve in.
    async fn replication(
        &self,
        client: &aws_sdk_s3::Client,
        bucket: &str,
        bucket_region: &str,
    ) -> Result<Vec<(String, String)>, SinkClosed> {
        let config = match client.get_bucket_replication().bucket(bucket).send().await {
            Ok(out) => out.replication_configuration().cloned(),
            Err(err) if err.code() == Some(NO_REPLICATION_CODE) => None,
            Err(err) => {
                self.gap(bucket, CALL_GET_BUCKET_REPLICATION, &failure(&err))
                    .await?;
                return Ok(Vec::new());
            }
        };
        let mut rules = Vec::new();
        let mut key_refs = Vec::new();
        for rule in config.as_ref().map(|c| c.rules()).unwrap_or_default() {
            let destination = rule.destination();
            let destination_bucket = destination
                .map(|d| s3_bucket_name(d.bucket()).to_owned())
                .unwrap_or_default();
            let destination_region = if destination_bucket.is_empty() {
                String::new()
            } else {
                match self.bucket_region(&destination_bucket).await {
                    Ok((region, _)) => region,
                    Err(failed) => {
                        tracing::debug!(bucket, destination = %destination_bucket, error = %failed, "cannot resolve replication destination region");
                        String::new()
                    }
                }
            };
            let replica_key_ref = destination
                .and_then(|d| d.encryption_configuration())
                .and_then(|e| e.replica_kms_key_id())
                .unwrap_or_default()
                .to_owned();
            if !replica_key_ref.is_empty() {
                let context = if destination_region.is_empty() {
                    self.region_or_home(bucket_region)
                } else {
                    &destination_region
                };
                key_refs.push((replica_key_ref.clone(), context.to_owned()));
            }
            rules.push(ReplicationRule {
                id: rule.id().unwrap_or_default().to_owned(),
                status: rule.status().as_str().to_owned(),
                destination_bucket,
                destination_account: destination
                    .and_then(|d| d.account())
                    .unwrap_or_default()
                    .to_owned(),
                destination_region,
                replica_key_ref,
                destination_storage_class: destination
                    .and_then(|d| d.storage_class())
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
            });
        }
        self.emit(
            bucket,
            CALL_GET_BUCKET_REPLICATION,
            fact::Body::Replication(Replication { rules }),
        )
        .await?;
        Ok(key_refs)
    }

    /// `Size` facts from CloudWatch, per region, in calls of at most 500 metric queries.
    /// `ListMetrics` first says which (bucket, storage type) series exist, so each bucket
    /// costs its own series (usually one or two) instead of every storage type.
    async fn sizes(&self, buckets: &[(&str, &str)]) -> Result<(), SinkClosed> {
        let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, region) in buckets {
            by_region
                .entry(self.region_or_home(region))
                .or_default()
                .push(name);
        }
        let series: Vec<(&str, Option<SeriesByBucket>)> = stream::iter(by_region.keys().copied())
            .map(|region| async move { (region, self.storage_series(region).await) })
            .buffered(METRIC_CALLS_IN_FLIGHT)
            .collect()
            .await;
        let mut calls: Vec<(&str, SizeChunk<'_>)> = Vec::new();
        for (region, listed) in series {
            let mut chunk: SizeChunk<'_> = Vec::new();
            let mut queries = 0;
            for name in by_region.get(region).into_iter().flatten() {
                let types = match &listed {
                    Some(listed) => listed.get(*name).cloned().unwrap_or_default(),
                    None => STORAGE_TYPES.iter().map(|t| (*t).to_owned()).collect(),
                };
                let n = types.len() + 1;
                if queries + n > METRIC_QUERIES_PER_CALL && !chunk.is_empty() {
                    calls.push((region, std::mem::take(&mut chunk)));
                    queries = 0;
                }
                queries += n;
                chunk.push((*name, types));
            }
            if !chunk.is_empty() {
                calls.push((region, chunk));
            }
        }
        let window = metric_window(crate::now_ms());
        stream::iter(calls)
            .map(|(region, chunk)| async move { self.size_chunk(region, &chunk, window).await })
            .buffer_unordered(METRIC_CALLS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Bucket -> storage types with a `BucketSizeBytes` series in `region`. `None` when the
    /// listing failed: the caller then asks for every known storage type (no gap, since
    /// the sizes are still read; types outside [`STORAGE_TYPES`] are then missed).
    async fn storage_series(&self, region: &str) -> Option<SeriesByBucket> {
        let client = self.cloudwatch(region);
        let mut series: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = match client
                .list_metrics()
                .namespace("AWS/S3")
                .metric_name("BucketSizeBytes")
                .set_next_token(next_token.take())
                .send()
                .await
            {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(account = %self.account, region, call = CALL_LIST_METRICS, error = %failure(&err), "cannot list size metrics, querying every storage type");
                    return None;
                }
            };
            for metric in page.metrics() {
                let dimension = |name: &str| {
                    metric
                        .dimensions()
                        .iter()
                        .find(|d| d.name() == Some(name))
                        .and_then(|d| d.value())
                        .filter(|v| !v.is_empty())
                };
                if let (Some(bucket), Some(storage_type)) =
                    (dimension("BucketName"), dimension("StorageType"))
                {
                    series
                        .entry(bucket.to_owned())
                        .or_default()
                        .insert(storage_type.to_owned());
                }
            }
            match page.next_token().filter(|t| !t.is_empty()) {
                Some(token) => next_token = Some(token.to_owned()),
                None => break,
            }
        }
        Some(
            series
                .into_iter()
                .map(|(bucket, types)| (bucket, types.into_iter().collect()))
                .collect(),
        )
    }

    async fn size_chunk(
        &self,
        region: &str,
        buckets: &[(&str, Vec<String>)],
        (start, end): (i64, i64),
    ) -> Result<(), SinkClosed> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        let query = |id: String, bucket: &str, metric: &str, storage_type: &str| {
            MetricDataQuery::builder()
                .id(id)
                .return_data(true)
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/S3")
                                .metric_name(metric)
                                .dimensions(
                                    Dimension::builder()
                                        .name("BucketName")
                                        .value(bucket)
                                        .build(),
                                )
                                .dimensions(
                                    Dimension::builder()
                                        .name("StorageType")
                                        .value(storage_type)
                                        .build(),
                                )
                                .build(),
                        )
                        .period(SECONDS_PER_DAY as i32)
                        .stat("Average")
                        .build(),
                )
                .build()
        };
        let mut queries = Vec::new();
        for (b, (bucket, types)) in buckets.iter().enumerate() {
            for (m, storage_type) in types.iter().enumerate() {
                queries.push(query(
                    format!("b{b}_{m}"),
                    bucket,
                    "BucketSizeBytes",
                    storage_type,
                ));
            }
            // The object count's index follows the bucket's storage types.
            queries.push(query(
                format!("b{b}_{}", types.len()),
                bucket,
                "NumberOfObjects",
                "AllStorageTypes",
            ));
        }

        let client = self.cloudwatch(region);
        // (bucket index, metric index) -> (timestamp ms, value) of the latest datapoint.
        let mut latest: HashMap<(usize, usize), (i64, f64)> = HashMap::new();
        let mut next_token: Option<String> = None;
        loop {
            let answer = client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(aws_smithy_types::DateTime::from_secs(start))
                .end_time(aws_smithy_types::DateTime::from_secs(end))
                .set_next_token(next_token.take())
                .send()
                .await;
            let page = match answer {
                Ok(page) => page,
                Err(err) => {
                    let failed = failure(&err);
                    tracing::warn!(account = %self.account, region, buckets = buckets.len(), error = %failed, "cannot read bucket sizes");
                    for (bucket, _) in buckets {
                        self.gap(bucket, CALL_GET_METRIC_DATA, &failed).await?;
                    }
                    return Ok(());
                }
            };
            for result in page.metric_data_results() {
                let Some(index) = result.id().and_then(parse_query_id) else {
                    continue;
                };
                for (ts, value) in result.timestamps().iter().zip(result.values()) {
                    let Ok(ms) = ts.to_millis() else { continue };
                    let entry = latest.entry(index).or_insert((ms, *value));
                    if ms > entry.0 {
                        *entry = (ms, *value);
                    }
                }
            }
            match page.next_token().filter(|t| !t.is_empty()) {
                Some(token) => next_token = Some(token.to_owned()),
                None => break,
            }
        }

        for (b, (bucket, types)) in buckets.iter().enumerate() {
            let mut size = Size::default();
            for (m, storage_type) in types.iter().enumerate() {
                if let Some((ms, value)) = latest.get(&(b, m)) {
                    size.bytes_by_storage_type
                        .insert(storage_type.clone(), *value as i64);
                    size.datapoint_at_ms = size.datapoint_at_ms.max(*ms);
                    size.known = true;
                }
            }
            if let Some((ms, value)) = latest.get(&(b, types.len())) {
                size.objects = *value as i64;
                size.datapoint_at_ms = size.datapoint_at_ms.max(*ms);
                size.known = true;
            }
            self.emit(bucket, CALL_GET_METRIC_DATA, fact::Body::Size(size))
                .await?;
        }
        Ok(())
    }

    /// Describes every distinct key the buckets refer to; emits `Key` and `KeyStore` facts.
    /// Returns (region the ref resolved in, raw ref) -> key ARN.
    async fn resolve_keys(
        &self,
        buckets: &[Bucket],
    ) -> Result<HashMap<(String, String), String>, SinkClosed> {
        // (region, raw ref): the same alias name or key id means different keys per region.
        let refs: BTreeSet<(String, String)> = buckets
            .iter()
            .flat_map(|b| b.key_refs.iter())
            .map(|(raw, context)| {
                let region = KeyRef::parse(raw).region().unwrap_or(context).to_owned();
                (region, raw.clone())
            })
            .collect();
        if refs.is_empty() {
            return Ok(HashMap::new());
        }

        let regions: BTreeSet<&str> = refs.iter().map(|(region, _)| region.as_str()).collect();
        let mut aliases: HashMap<String, AliasTable> = HashMap::new();
        for region in regions {
            match self.list_aliases(region).await {
                Ok(table) => {
                    aliases.insert(region.to_owned(), table);
                }
                Err(failed) => self.gap(region, CALL_LIST_ALIASES, &failed).await?,
            }
        }

        // Group refs by the key they name, as far as can be told before DescribeKey.
        let mut groups: BTreeMap<(String, String, String), KeyGroup> = BTreeMap::new();
        for (region, raw) in &refs {
            let table = aliases.get(region);
            let (account, ident, describe_id) = match KeyRef::parse(raw) {
                KeyRef::KeyArn {
                    account, key_id, ..
                } => (account.to_owned(), key_id.to_owned(), raw.clone()),
                KeyRef::KeyId(id) => (self.account.clone(), id.to_owned(), id.to_owned()),
                KeyRef::AliasName(alias) => match table.and_then(|t| t.target.get(alias)) {
                    Some(target) => (self.account.clone(), target.clone(), target.clone()),
                    None => (self.account.clone(), raw.clone(), raw.clone()),
                },
                KeyRef::AliasArn { account, alias, .. } => {
                    match table
                        .and_then(|t| t.target.get(alias))
                        .filter(|_| account == self.account)
                    {
                        Some(target) => (self.account.clone(), target.clone(), target.clone()),
                        None => (account.to_owned(), raw.clone(), raw.clone()),
                    }
                }
            };
            let group = groups
                .entry((region.clone(), account, ident))
                .or_insert_with(|| KeyGroup {
                    region: region.clone(),
                    describe_id: describe_id.clone(),
                    refs: BTreeSet::new(),
                });
            // Prefer describing by ARN: it also works across accounts.
            if raw.starts_with("arn:") && !group.describe_id.starts_with("arn:") {
                group.describe_id.clone_from(raw);
            }
            group.refs.insert(raw.clone());
        }

        let described: Vec<(
            KeyGroup,
            Result<aws_sdk_kms::types::KeyMetadata, CallFailure>,
        )> = stream::iter(groups.into_values())
            .map(|group| async move {
                let answer = self
                    .kms(&group.region)
                    .describe_key()
                    .key_id(&group.describe_id)
                    .send()
                    .await;
                let result = match answer {
                    Ok(out) => out.key_metadata().cloned().ok_or_else(|| CallFailure {
                        message: "DescribeKey answered without KeyMetadata".to_owned(),
                        ..CallFailure::default()
                    }),
                    Err(err) => Err(failure(&err)),
                };
                (group, result)
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;

        // Merge by ARN: two references may turn out to name the same key.
        let mut keys: BTreeMap<String, (aws_sdk_kms::types::KeyMetadata, BTreeSet<String>)> =
            BTreeMap::new();
        let mut resolved = HashMap::new();
        for (group, result) in described {
            match result {
                Ok(meta) => {
                    let arn = meta.arn().unwrap_or_default().to_owned();
                    for raw in &group.refs {
                        resolved.insert((group.region.clone(), raw.clone()), arn.clone());
                    }
                    keys.entry(arn)
                        .or_insert_with(|| (meta, BTreeSet::new()))
                        .1
                        .extend(group.refs);
                }
                Err(failed) => {
                    for raw in &group.refs {
                        self.gap(raw, CALL_DESCRIBE_KEY, &failed).await?;
                    }
                }
            }
        }

        let mut store_regions = BTreeSet::new();
        for (arn, (meta, refs)) in keys {
            let key = key_fact(&arn, &meta, refs, &aliases);
            // AWS gives every CloudHSM or external key store key a store id. Emulators that
            // create such keys without one have no store to describe (moto answers 500).
            if !key.custom_key_store_id.is_empty() && key.key_account == self.account {
                store_regions.insert(key.region.clone());
            }
            self.emit(&arn, CALL_DESCRIBE_KEY, fact::Body::Key(key))
                .await?;
        }
        for region in store_regions {
            self.key_stores(&region).await?;
        }
        Ok(resolved)
    }

    async fn list_aliases(&self, region: &str) -> Result<AliasTable, CallFailure> {
        let client = self.kms(region);
        let mut pages = client.list_aliases().into_paginator().send();
        let mut table = AliasTable::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| failure(&err))?;
            for alias in page.aliases() {
                if let (Some(name), Some(target)) = (alias.alias_name(), alias.target_key_id()) {
                    table.target.insert(name.to_owned(), target.to_owned());
                    table
                        .by_key
                        .entry(target.to_owned())
                        .or_default()
                        .insert(name.to_owned());
                }
            }
        }
        Ok(table)
    }

    async fn key_stores(&self, region: &str) -> Result<(), SinkClosed> {
        let client = self.kms(region);
        let mut pages = client.describe_custom_key_stores().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(err) => {
                    return self
                        .gap(region, CALL_DESCRIBE_CUSTOM_KEY_STORES, &failure(&err))
                        .await;
                }
            };
            for store in page.custom_key_stores() {
                let id = store.custom_key_store_id().unwrap_or_default().to_owned();
                let xks = store.xks_proxy_configuration();
                let key_store = KeyStore {
                    id: id.clone(),
                    name: store.custom_key_store_name().unwrap_or_default().to_owned(),
                    store_type: store
                        .custom_key_store_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    connection_state: store
                        .connection_state()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    cloud_hsm_cluster_id: store
                        .cloud_hsm_cluster_id()
                        .unwrap_or_default()
                        .to_owned(),
                    xks_uri_endpoint: xks
                        .and_then(|x| x.uri_endpoint())
                        .unwrap_or_default()
                        .to_owned(),
                    xks_uri_path: xks
                        .and_then(|x| x.uri_path())
                        .unwrap_or_default()
                        .to_owned(),
                    xks_connectivity: xks
                        .and_then(|x| x.connectivity())
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default(),
                    xks_vpc_endpoint_service_owner: xks
                        .and_then(|x| x.vpc_endpoint_service_owner())
                        .unwrap_or_default()
                        .to_owned(),
                    region: region.to_owned(),
                };
                self.emit(
                    &id,
                    CALL_DESCRIBE_CUSTOM_KEY_STORES,
                    fact::Body::KeyStore(key_store),
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// Aliases of one region: alias name -> target key id, and key id -> alias names.
#[derive(Debug, Default)]
struct AliasTable {
    target: HashMap<String, String>,
    by_key: HashMap<String, BTreeSet<String>>,
}

#[derive(Debug)]
struct KeyGroup {
    region: String,
    describe_id: String,
    refs: BTreeSet<String>,
}

fn listed_bucket(bucket: &aws_sdk_s3::types::Bucket) -> Option<Listed> {
    let name = bucket.name().filter(|n| !n.is_empty())?.to_owned();
    Some(Listed {
        name,
        region: bucket
            .bucket_region()
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        region_source: REGION_FROM_LIST_BUCKETS,
        created_at_ms: bucket
            .creation_date()
            .and_then(|d| d.to_millis().ok())
            .unwrap_or_default(),
    })
}

/// Merges per-region listings (`None`: that request failed) into bucket -> region. `None`
/// when a bucket appears under two regions (the service ignored the filter), or when fewer
/// than two regions answered (a service that ignores the filter could not be told apart).
fn regions_from_listings(
    answers: Vec<(&str, Option<Vec<String>>)>,
) -> Option<HashMap<String, String>> {
    if answers.iter().filter(|(_, names)| names.is_some()).count() < 2 {
        return None;
    }
    let mut found = HashMap::new();
    for (region, names) in answers {
        let Some(names) = names else { continue };
        for name in names {
            if found.insert(name, region.to_owned()).is_some() {
                return None;
            }
        }
    }
    Some(found)
}

/// `GetBucketLocation`'s legacy spellings: empty means us-east-1, `EU` means eu-west-1.
fn location_to_region(constraint: &str) -> &str {
    match constraint {
        "" => "us-east-1",
        "EU" => "eu-west-1",
        other => other,
    }
}

/// The `Retention` body for a `GetObjectLockConfiguration` answer.
fn retention_from(config: Option<&aws_sdk_s3::types::ObjectLockConfiguration>) -> Retention {
    let Some(config) = config else {
        return Retention::default();
    };
    let default = config.rule().and_then(|r| r.default_retention());
    Retention {
        enabled: config
            .object_lock_enabled()
            .is_some_and(|e| e.as_str() == "Enabled"),
        mode: default
            .and_then(|d| d.mode())
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default(),
        days: default.and_then(|d| d.days()).unwrap_or_default(),
        years: default.and_then(|d| d.years()).unwrap_or_default(),
        legal_hold: false,
    }
}

/// Query ids are `b{bucket}_{metric}`.
fn parse_query_id(id: &str) -> Option<(usize, usize)> {
    let (bucket, metric) = id.strip_prefix('b')?.split_once('_')?;
    Some((bucket.parse().ok()?, metric.parse().ok()?))
}

/// The `Encryption` body for a `GetBucketEncryption` answer. The first rule with a default
/// gives algorithm and key; bucket key and blocked types are gathered from every rule.
fn encryption_from_rules(rules: &[aws_sdk_s3::types::ServerSideEncryptionRule]) -> Encryption {
    let mut encryption = Encryption::default();
    if rules.is_empty() {
        // An empty configuration (some S3-compatible services) configures nothing.
        encryption.state = EncryptionState::NotConfigured as i32;
        return encryption;
    }
    encryption.state = EncryptionState::Configured as i32;
    if let Some(default) = rules
        .iter()
        .find_map(|r| r.apply_server_side_encryption_by_default())
    {
        encryption.algorithm = default.sse_algorithm().as_str().to_owned();
        encryption.key_ref = default.kms_master_key_id().unwrap_or_default().to_owned();
    }
    encryption.bucket_key_enabled = rules.iter().any(|r| r.bucket_key_enabled() == Some(true));
    let mut blocked = BTreeSet::new();
    for rule in rules {
        if let Some(types) = rule.blocked_encryption_types() {
            blocked.extend(
                types
                    .encryption_type()
                    .iter()
                    .map(|t| t.as_str().to_owned()),
            );
        }
    }
    encryption.blocked_encryption_types = blocked.into_iter().collect();
    encryption
}

fn key_fact(
    arn: &str,
    meta: &aws_sdk_kms::types::KeyMetadata,
    requested_refs: BTreeSet<String>,
    aliases: &HashMap<String, AliasTable>,
) -> Key {
    let parsed = Arn::parse(arn);
    let region = parsed.map(|a| a.region.to_owned()).unwrap_or_default();
    let key_account = meta
        .aws_account_id()
        .map(str::to_owned)
        .or_else(|| parsed.map(|a| a.account.to_owned()))
        .unwrap_or_default();
    let mut alias_names: BTreeSet<String> = aliases
        .get(&region)
        .and_then(|t| t.by_key.get(meta.key_id()))
        .cloned()
        .unwrap_or_default();
    for raw in &requested_refs {
        match KeyRef::parse(raw) {
            KeyRef::AliasName(alias) | KeyRef::AliasArn { alias, .. } => {
                alias_names.insert(alias.to_owned());
            }
            KeyRef::KeyArn { .. } | KeyRef::KeyId(_) => {}
        }
    }
    let multi = meta.multi_region_configuration();
    Key {
        arn: arn.to_owned(),
        key_account,
        region,
        key_manager: meta
            .key_manager()
            .map(|k| k.as_str().to_owned())
            .unwrap_or_default(),
        origin: meta
            .origin()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        custom_key_store_id: meta.custom_key_store_id().unwrap_or_default().to_owned(),
        key_state: meta
            .key_state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        multi_region: meta.multi_region().unwrap_or(false),
        multi_region_key_type: multi
            .and_then(|m| m.multi_region_key_type())
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        primary_region: multi
            .and_then(|m| m.primary_key())
            .and_then(|k| k.region())
            .unwrap_or_default()
            .to_owned(),
        replica_regions: multi
            .map(|m| {
                m.replica_keys()
                    .iter()
                    .filter_map(|k| k.region())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        aliases: alias_names.into_iter().collect(),
        cloud_hsm_cluster_id: meta.cloud_hsm_cluster_id().unwrap_or_default().to_owned(),
        xks_key_id: meta
            .xks_key_configuration()
            .and_then(|x| x.id())
            .unwrap_or_default()
            .to_owned(),
        key_spec: meta
            .key_spec()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        requested_refs: requested_refs.into_iter().collect(),
        ..Key::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        BlockedEncryptionTypes, EncryptionType, ServerSideEncryption,
        ServerSideEncryptionByDefault, ServerSideEncryptionRule,
    };

    #[test]
    fn every_call_has_an_iam_action() {
        let mapped: Vec<&str> = AWS_IAM_ACTIONS.iter().map(|(call, _)| *call).collect();
        assert_eq!(mapped, AWS_CALLS);
        for call in [
            CALL_GET_CALLER_IDENTITY,
            CALL_ASSUME_ROLE,
            CALL_LIST_ACCOUNTS,
            CALL_LIST_BUCKETS,
            CALL_HEAD_BUCKET,
            CALL_GET_BUCKET_LOCATION,
            CALL_GET_BUCKET_ENCRYPTION,
            CALL_GET_BUCKET_TAGGING,
            CALL_GET_BUCKET_REPLICATION,
            CALL_GET_OBJECT_LOCK,
            CALL_LIST_METRICS,
            CALL_GET_METRIC_DATA,
            CALL_LIST_ALIASES,
            CALL_DESCRIBE_KEY,
            CALL_DESCRIBE_CUSTOM_KEY_STORES,
        ] {
            assert!(AWS_CALLS.contains(&call), "{call} missing from AWS_CALLS");
        }
    }

    #[test]
    fn metric_window_ends_at_midnight_utc() {
        // 2026-11-29T10:33:20Z
        let now_ms = 1_795_862_000_000;
        let (start, end) = metric_window(now_ms);
        assert_eq!(end % SECONDS_PER_DAY, 0);
        assert!(end <= now_ms / 1000 && now_ms / 1000 - end < SECONDS_PER_DAY);
        assert_eq!(end - start, 3 * SECONDS_PER_DAY);
    }

    #[test]
    fn query_ids_round_trip() {
        assert_eq!(parse_query_id("b12_9"), Some((12, 9)));
        assert_eq!(parse_query_id("x1_2"), None);
        assert_eq!(parse_query_id("b1"), None);
        // Every id is valid for CloudWatch: starts with a lowercase letter.
        assert!(METRIC_QUERIES_PER_CALL / (STORAGE_TYPES.len() + 1) >= 1);
    }

    #[test]
    fn object_lock_answers_map_to_a_retention_fact() {
        use aws_sdk_s3::types::{
            DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
            ObjectLockRule,
        };
        let config = ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .rule(
                ObjectLockRule::builder()
                    .default_retention(
                        DefaultRetention::builder()
                            .mode(ObjectLockRetentionMode::Compliance)
                            .years(7)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let r = retention_from(Some(&config));
        assert!(r.enabled);
        assert_eq!((r.mode.as_str(), r.days, r.years), ("COMPLIANCE", 0, 7));

        // Enabled without a default rule; and an answer without a configuration.
        let bare = ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .build();
        let r = retention_from(Some(&bare));
        assert!(r.enabled && r.mode.is_empty());
        assert!(!retention_from(None).enabled);
    }

    #[test]
    fn long_messages_are_cut() {
        assert_eq!(truncate("abcdef".to_owned(), 3), "abc...");
        assert_eq!(truncate("abc".to_owned(), 3), "abc");
        assert_eq!(truncate("ééé".to_owned(), 2), "éé...");
    }

    #[test]
    fn per_region_listings_merge_unless_the_filter_was_ignored() {
        let names = |n: &[&str]| Some(n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        let found = regions_from_listings(vec![
            ("eu-west-1", names(&["a", "b"])),
            ("us-east-1", names(&["c"])),
            ("eu-north-1", names(&[])),
            ("ap-east-2", None),
        ])
        .expect("a filtered listing");
        assert_eq!(found.len(), 3);
        assert_eq!(found["b"], "eu-west-1");
        assert_eq!(found["c"], "us-east-1");
        // A service that ignores bucket-region answers every bucket for every region.
        assert_eq!(
            regions_from_listings(vec![
                ("eu-west-1", names(&["a", "b"])),
                ("us-east-1", names(&["a", "b"])),
            ]),
            None
        );
        // One answer alone cannot show that the filter was applied.
        assert_eq!(
            regions_from_listings(vec![("eu-west-1", names(&["a"])), ("us-east-1", None)]),
            None
        );
        let unique: HashSet<&str> = LISTING_REGIONS.iter().copied().collect();
        assert_eq!(unique.len(), LISTING_REGIONS.len(), "a region listed twice");
    }

    #[test]
    fn legacy_locations_map_to_regions() {
        assert_eq!(location_to_region(""), "us-east-1");
        assert_eq!(location_to_region("EU"), "eu-west-1");
        assert_eq!(location_to_region("eu-central-1"), "eu-central-1");
    }

    #[test]
    fn encryption_rules_map_to_a_fact() {
        let kms_rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::AwsKms)
                    .kms_master_key_id("alias/data")
                    .build()
                    .expect("algorithm set"),
            )
            .bucket_key_enabled(true)
            .blocked_encryption_types(
                BlockedEncryptionTypes::builder()
                    .encryption_type(EncryptionType::from("SSE-C"))
                    .build(),
            )
            .build();
        let enc = encryption_from_rules(&[kms_rule]);
        assert_eq!(enc.state(), EncryptionState::Configured);
        assert_eq!(enc.algorithm, "aws:kms");
        assert_eq!(enc.key_ref, "alias/data");
        assert!(enc.bucket_key_enabled);
        assert_eq!(enc.blocked_encryption_types, vec!["SSE-C".to_owned()]);
        assert!(enc.resolved_key_arn.is_empty());

        let empty = encryption_from_rules(&[]);
        assert_eq!(empty.state(), EncryptionState::NotConfigured);
        assert!(empty.not_configured_code.is_empty());
    }

    #[test]
    fn key_fact_collects_aliases_and_refs() {
        use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeyState, OriginType};
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k-1";
        let meta = KeyMetadata::builder()
            .key_id("k-1")
            .arn(arn)
            .aws_account_id("111122223333")
            .key_manager(KeyManagerType::Customer)
            .origin(OriginType::External)
            .key_state(KeyState::Enabled)
            .build()
            .expect("key id set");
        let mut aliases = HashMap::new();
        let mut table = AliasTable::default();
        table
            .target
            .insert("alias/data".to_owned(), "k-1".to_owned());
        table
            .by_key
            .entry("k-1".to_owned())
            .or_default()
            .insert("alias/data".to_owned());
        aliases.insert("eu-west-1".to_owned(), table);
        let refs = BTreeSet::from(["alias/data".to_owned(), "k-1".to_owned(), arn.to_owned()]);
        let key = key_fact(arn, &meta, refs, &aliases);
        assert_eq!(key.region, "eu-west-1");
        assert_eq!(key.key_account, "111122223333");
        assert_eq!(key.key_manager, "CUSTOMER");
        assert_eq!(key.origin, "EXTERNAL");
        assert_eq!(key.key_state, "Enabled");
        assert_eq!(key.aliases, vec!["alias/data".to_owned()]);
        assert_eq!(key.requested_refs.len(), 3);
    }
}

#[cfg(test)]
mod policy_tests {
    //! The shipped IAM policy grants exactly what the agent's call registry needs, and
    //! nothing that reads data or uses a key.
    use super::AWS_IAM_ACTIONS;
    use std::collections::BTreeSet;

    /// Actions that read object contents, use keys or read logs: never in the agent's policy.
    const DATA_ACTIONS: &[&str] = &[
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAttributes",
        "s3:ListBucketVersions",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
        "cloudtrail:LookupEvents",
    ];

    #[test]
    fn shipped_policy_matches_the_call_registry() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/policies/aws-agent-policy.json"
        );
        let text = std::fs::read_to_string(path).expect("policy file");
        let policy: serde_json::Value = serde_json::from_str(&text).expect("policy is JSON");
        let mut granted = BTreeSet::new();
        for st in policy["Statement"].as_array().expect("statements") {
            assert_eq!(st["Effect"], "Allow");
            match &st["Action"] {
                serde_json::Value::String(a) => {
                    granted.insert(a.clone());
                }
                serde_json::Value::Array(a) => {
                    granted.extend(a.iter().map(|v| v.as_str().expect("action").to_owned()))
                }
                other => panic!("unexpected Action {other}"),
            }
        }
        // GetCallerIdentity needs no permission.
        let needed: BTreeSet<String> = AWS_IAM_ACTIONS
            .iter()
            .map(|(_, action)| (*action).to_owned())
            .filter(|a| a != "sts:GetCallerIdentity")
            .collect();
        assert_eq!(granted, needed, "policy and call registry differ");
        for a in &granted {
            assert!(!a.contains('*'), "wildcard action {a}");
            assert!(
                !DATA_ACTIONS.contains(&a.as_str()),
                "policy grants data access: {a}"
            );
        }
    }
}
