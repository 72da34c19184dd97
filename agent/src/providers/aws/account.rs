//! One account's scan: the listing, then every bucket (`concurrency` at a time) beside the
//! other store kinds, with the keys the buckets name asked ahead; then sizes and the key
//! facts, then the encryption facts carrying the key ARNs they resolved to.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_config::{Region, SdkConfig};
use futures::channel::mpsc::UnboundedSender;
use futures::{StreamExt, stream};
use landmeter_proto::v1::{AccountCoverage, Encryption, Unsupported, fact};
use tokio::sync::{OnceCell, Semaphore};

use super::calls;
use super::encryption::with_s3_detail;
use super::keys::KmsAnswers;
use super::listing::{LISTING_REGIONS, REGION_FROM_REGION_LISTING, RegionAnswer};
use super::provider::Settings;
use crate::providers::{Call, CallFailure, new_fact};
use crate::sink::{FactSink, SinkClosed};

/// What S3 answered about one bucket, kept until key references are resolved.
#[derive(Debug)]
pub(super) struct Bucket {
    pub(super) name: String,
    /// Empty when it could not be determined.
    pub(super) region: String,
    /// Boxed: one `Bucket` per bucket is held until the end of the account's scan, and most
    /// of an `Encryption` is empty strings (5,000 buckets: 0.4 MB boxed, 2 MB inline).
    pub(super) encryption: Option<Box<Encryption>>,
    /// Key references (raw) with the region they resolve in when they are not ARNs.
    pub(super) key_refs: Vec<(String, String)>,
}

/// A bucket from the listing.
#[derive(Debug, Clone)]
pub(super) struct Listed {
    pub(super) name: String,
    pub(super) region: Option<String>,
    /// Where `region` came from (a `REGION_FROM_*`).
    pub(super) region_source: &'static str,
    pub(super) created_at_ms: i64,
}

pub(super) struct AccountScan<'a> {
    pub(super) account: String,
    pub(super) settings: &'a Settings,
    pub(super) sdk: SdkConfig,
    pub(super) sink: &'a FactSink,
    pub(super) gaps: AtomicU64,
    pub(super) s3_clients: Mutex<HashMap<String, aws_sdk_s3::Client>>,
    /// Bucket name -> region, resolved at most once per name (own buckets and destinations).
    pub(super) regions: Mutex<HashMap<String, Arc<OnceCell<RegionAnswer>>>>,
    /// Bounds the per-store calls of the other kinds (the listings are bounded by their
    /// own stream): `concurrency` in flight.
    pub(super) permits: Semaphore,
    /// KMS's answers, asked ahead while the buckets are examined.
    pub(super) kms_answers: KmsAnswers,
}

impl<'a> AccountScan<'a> {
    pub(super) fn new(
        account: String,
        settings: &'a Settings,
        sdk: SdkConfig,
        sink: &'a FactSink,
    ) -> Self {
        AccountScan {
            account,
            settings,
            sdk,
            sink,
            gaps: AtomicU64::new(0),
            s3_clients: Mutex::new(HashMap::new()),
            regions: Mutex::new(HashMap::new()),
            permits: Semaphore::new(settings.concurrency),
            kms_answers: KmsAnswers::default(),
        }
    }

    pub(super) async fn emit(
        &self,
        subject: &str,
        call: &Call,
        body: fact::Body,
    ) -> Result<(), SinkClosed> {
        self.sink
            .push(new_fact(&self.account, subject, call.name, body))
            .await
    }

    /// Records a failed call: as not applicable when an S3-compatible provider answered that
    /// it does not implement it, else as a gap.
    pub(super) async fn failed(
        &self,
        subject: &str,
        call: &Call,
        failed: &CallFailure,
    ) -> Result<(), SinkClosed> {
        match &self.settings.compatible {
            Some(c)
                if c.persona
                    .unsupported_answer(failed.code.as_deref(), failed.status) =>
            {
                self.unsupported(subject, call, failed).await
            }
            _ => self.gap(subject, call, failed).await,
        }
    }

    /// Records that the provider does not implement `call`: an `Unsupported` fact, not a gap.
    pub(super) async fn unsupported(
        &self,
        subject: &str,
        call: &Call,
        answer: &CallFailure,
    ) -> Result<(), SinkClosed> {
        tracing::debug!(account = %self.account, subject, call = call.name, answer = %answer, "not implemented by the provider: not applicable");
        self.emit(
            subject,
            call,
            fact::Body::Unsupported(Unsupported {
                call: call.name.to_owned(),
                topic: call.topic as i32,
                code: answer.code.clone().unwrap_or_default(),
                message: answer.message.clone(),
                http_status: answer.status.map(u32::from).unwrap_or_default(),
            }),
        )
        .await
    }

    /// For an S3-compatible provider whose persona documents `call` as absent: records it
    /// as not applicable and returns true (the call is not made).
    pub(super) async fn documented_absent(
        &self,
        subject: &str,
        call: &Call,
    ) -> Result<bool, SinkClosed> {
        let Some(c) = self
            .settings
            .compatible
            .as_ref()
            .filter(|c| c.persona.lacks(call))
        else {
            return Ok(false);
        };
        let answer = CallFailure {
            message: format!(
                "{} documents no {} ({}): not asked",
                c.persona.provider,
                crate::providers::s3_compatible::feature(call),
                c.persona.source
            ),
            ..CallFailure::default()
        };
        self.unsupported(subject, call, &answer).await?;
        Ok(true)
    }

    /// Records a failed call as a gap fact; its topic comes from the registry entry.
    pub(super) async fn gap(
        &self,
        subject: &str,
        call: &Call,
        failed: &CallFailure,
    ) -> Result<(), SinkClosed> {
        tracing::debug!(account = %self.account, subject, call = call.name, error = %failed, "call failed, recording a gap");
        self.gaps.fetch_add(1, Ordering::Relaxed);
        self.emit(subject, call, fact::Body::Gap(failed.gap(call)))
            .await
    }

    pub(super) fn region_or_home<'r>(&'r self, region: &'r str) -> &'r str {
        if region.is_empty() {
            &self.settings.home_region
        } else {
            region
        }
    }

    /// An S3 client for `region`, one per region. An S3-compatible endpoint serves one
    /// region: its clients all sign for it.
    pub(super) fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let region = match &self.settings.compatible {
            Some(c) => c.endpoint_region.as_str(),
            None => region,
        };
        let mut clients = self
            .s3_clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| s3_client(&self.sdk, region, self.settings.endpoint.is_some()))
            .clone()
    }

    pub(super) fn kms(&self, region: &str) -> aws_sdk_kms::Client {
        let conf = aws_sdk_kms::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    pub(super) fn cloudwatch(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    }

    /// Buckets, then the other kinds per region, then the keys of both, then the encryption
    /// facts carrying the key ARNs.
    pub(super) async fn scan(&self) -> Result<AccountCoverage, SinkClosed> {
        let listed = self.list_buckets().await;
        self.scan_after_listing(listed).await
    }

    /// [`AccountScan::scan`] of buckets already listed (an S3-compatible provider's, listed
    /// per region endpoint).
    pub(super) async fn scan_listed(
        &self,
        listed: Vec<Listed>,
    ) -> Result<AccountCoverage, SinkClosed> {
        self.scan_after_listing(Ok(listed)).await
    }

    /// [`AccountScan::scan`] after a listing already asked (or failed), the caller's own
    /// asked beside `GetCallerIdentity`.
    pub(super) async fn scan_after_listing(
        &self,
        listed: Result<Vec<Listed>, CallFailure>,
    ) -> Result<AccountCoverage, SinkClosed> {
        // The other kinds run beside the buckets (their listings are round trips of their
        // own, all under the one request budget); the buckets' regions reach them only if
        // the enabled regions cannot be listed.
        let (regions_tx, regions_rx) = tokio::sync::watch::channel(None::<BTreeSet<String>>);
        // Key references as the buckets name them, for the KMS questions asked ahead.
        let (keys_tx, keys_rx) = futures::channel::mpsc::unbounded::<(String, String)>();
        // The kinds hand theirs over as each region's listing ends.
        let kinds_keys_tx = keys_tx.clone();
        let buckets_part = async {
            // Owned here: dropped if this part stops early, which ends the kinds' wait and
            // the keys' prefetch.
            let regions_tx = regions_tx;
            let keys_tx = keys_tx;
            let outcome = match listed {
                Ok(listed) => {
                    let (buckets, late) = self.scan_buckets(listed, &keys_tx).await?;
                    let n = buckets.len() as u64;
                    (buckets, n, late, None)
                }
                Err(failed) => {
                    tracing::error!(account = %self.account, error = %failed, "cannot list buckets");
                    self.gap(&self.account, calls::LIST_BUCKETS, &failed)
                        .await?;
                    (Vec::new(), 0, false, Some(failed))
                }
            };
            let bucket_regions: BTreeSet<String> = outcome
                .0
                .iter()
                .filter(|b| !b.region.is_empty())
                .map(|b| b.region.clone())
                .collect();
            // No receiver left (the kinds did not need them) is fine.
            let _ = regions_tx.send(Some(bucket_regions));
            Ok::<_, SinkClosed>(outcome)
        };
        let kinds_part = async {
            let keys_tx = kinds_keys_tx;
            let mut rx = regions_rx;
            let bucket_regions = async move {
                match rx.wait_for(Option::is_some).await {
                    Ok(regions) => regions.clone().unwrap_or_default(),
                    // The buckets' part stopped (sink closed): no regions.
                    Err(_) => BTreeSet::new(),
                }
            };
            self.scan_kinds(bucket_regions, &keys_tx).await
        };
        // Bounded like the rest (`concurrency` references at a time); ends when the buckets'
        // and the kinds' parts have dropped their senders.
        let keys_ahead = keys_rx
            .map(|(raw, context)| async move { self.prefetch_key(&raw, &context).await })
            .buffer_unordered(self.settings.concurrency)
            .for_each(|()| async {});
        let (buckets_part, kinds, ()) = tokio::join!(buckets_part, kinds_part, keys_ahead);
        let (buckets, bucket_stores, late_sizes, listing_failure) = buckets_part?;
        let kinds = kinds?;

        let late_sizes = async {
            if !late_sizes {
                return Ok(());
            }
            let pairs: Vec<(&str, &str)> = buckets
                .iter()
                .map(|b| (b.name.as_str(), b.region.as_str()))
                .collect();
            self.sizes(&pairs).await
        };
        let keys = async {
            let mut key_refs: Vec<(String, String)> = buckets
                .iter()
                .flat_map(|b| b.key_refs.iter().cloned())
                .collect();
            key_refs.extend(kinds.key_refs());
            self.resolve_keys(&key_refs).await
        };
        let (sizes, resolved) = tokio::join!(late_sizes, keys);
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
                calls::GET_BUCKET_ENCRYPTION,
                fact::Body::Encryption(with_s3_detail(encryption)),
            )
            .await?;
        }
        let kind_stores = kinds.stores;
        self.emit_kind_encryptions(kinds, &resolved).await?;

        Ok(AccountCoverage {
            account: self.account.clone(),
            complete: listing_failure.is_none(),
            stores_seen: bucket_stores + kind_stores,
            gaps: self.gaps.load(Ordering::Relaxed),
            reason: listing_failure
                .map(|failed| format!("s3:ListBuckets failed: {failed}"))
                .unwrap_or_default(),
        })
    }

    /// Examines every listed bucket; returns them, and whether their sizes are still to be
    /// read (the listing did not give every region, so sizes wait for the examination).
    /// Each new key reference a bucket names goes to `keys_ahead` as soon as it is examined.
    async fn scan_buckets(
        &self,
        listed: Vec<Listed>,
        keys_ahead: &UnboundedSender<(String, String)>,
    ) -> Result<(Vec<Bucket>, bool), SinkClosed> {
        self.sink.stores_found(listed.len() as u64);
        let mut listed = listed;
        let unresolved = listed.iter().filter(|b| b.region.is_none()).count();
        // Not at an S3-compatible endpoint: the AWS regions mean nothing there.
        if unresolved > LISTING_REGIONS.len() && self.settings.compatible.is_none() {
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
            // An estate names few keys: each is sent ahead once.
            let mut sent: HashSet<(String, String)> = HashSet::new();
            while let Some(bucket) = examined.next().await {
                let bucket = bucket?;
                for key_ref in &bucket.key_refs {
                    if !sent.contains(key_ref) {
                        sent.insert(key_ref.clone());
                        // No receiver: the prefetch is over, `resolve_keys` asks itself.
                        let _ = keys_ahead.unbounded_send(key_ref.clone());
                    }
                }
                buckets.push(bucket);
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
        Ok((buckets, listed_regions.is_none() && self.settings.sizes))
    }
}

/// An S3 client of `sdk` for `region`; path-style addressing at a configured endpoint
/// (emulators and S3-compatible clouds do not all resolve bucket subdomains).
pub(super) fn s3_client(sdk: &SdkConfig, region: &str, path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .region(Region::new(region.to_owned()))
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
