//! `ListBuckets` (paginated, with the unpaginated fallback) and where each bucket is: from
//! the listing, per-region listings, `HeadBucket` or `GetBucketLocation`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, stream};

use super::account::{AccountScan, Listed};
use super::calls;
use super::sdk::failure;
use crate::providers::CallFailure;

/// `Store.region_source` values.
pub const REGION_FROM_LIST_BUCKETS: &str = "ListBuckets.BucketRegion";
pub const REGION_FROM_HEAD_BUCKET: &str = "HeadBucket";
pub const REGION_FROM_GET_BUCKET_LOCATION: &str = "GetBucketLocation";
/// From a `ListBuckets` filtered by `bucket-region`, asked per region (when the listing
/// names no regions and there are more buckets than regions).
pub const REGION_FROM_REGION_LISTING: &str = "ListBuckets.bucket-region";

/// Regions asked by `ListBuckets?bucket-region=` when the listing names no regions: the AWS
/// commercial regions (2026-11). A bucket in a region not listed here (other partitions,
/// newer regions, S3-compatible providers) falls back to `HeadBucket`.
pub(super) const LISTING_REGIONS: &[&str] = &[
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

pub(super) type RegionAnswer = Result<(String, &'static str), CallFailure>;

/// Every bucket `client`'s credentials own, sorted by name. `account` names them in logs
/// (the caller's listing starts before STS has said whose it is).
pub(super) async fn list_all_buckets(
    client: &aws_sdk_s3::Client,
    account: &str,
) -> Result<Vec<Listed>, CallFailure> {
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
                tracing::warn!(
                    account,
                    "listbuckets repeated a continuation token, listing unpaginated"
                );
                list_buckets_unpaginated(client, &mut buckets).await?;
                break;
            }
            None if page_len >= LIST_BUCKETS_PAGE as usize => {
                // A full page without a token: the service truncated without a way to
                // continue (moto). One unpaginated call returns everything.
                tracing::info!(
                    account,
                    page_len,
                    "listbuckets truncated without a continuation token, listing unpaginated"
                );
                list_buckets_unpaginated(client, &mut buckets).await?;
                break;
            }
            None => break,
        }
    }
    Ok(buckets.into_values().collect())
}

async fn list_buckets_unpaginated(
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

impl AccountScan<'_> {
    /// Every bucket of the account, sorted by name.
    pub(super) async fn list_buckets(&self) -> Result<Vec<Listed>, CallFailure> {
        list_all_buckets(&self.s3(&self.settings.home_region), &self.account).await
    }

    /// Bucket -> region from one `ListBuckets?bucket-region=R` per region in
    /// [`LISTING_REGIONS`], each sent to its region. `None` when the answers cannot be
    /// trusted (see [`regions_from_listings`]); regions that fail are skipped (their buckets
    /// fall back to `HeadBucket`).
    pub(super) async fn regions_by_listing(&self) -> Option<HashMap<String, String>> {
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
            // Every region at once: each is one round trip, and the request budget
            // (`budget.rs`) bounds what is in flight.
            .buffer_unordered(LISTING_REGIONS.len())
            .collect()
            .await;
        let found = regions_from_listings(answers);
        if found.is_none() {
            tracing::info!(account = %self.account, "listbuckets ignores bucket-region, asking HeadBucket per bucket");
        }
        found
    }

    /// Region of a bucket by name, asked at most once per name.
    pub(super) async fn bucket_region(&self, bucket: &str) -> RegionAnswer {
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
    /// At an S3-compatible endpoint: `GetBucketLocation`, else the endpoint's region.
    async fn lookup_region(&self, bucket: &str) -> RegionAnswer {
        let client = self.s3(&self.settings.home_region);
        if let Some(c) = &self.settings.compatible {
            let constraint = match client.get_bucket_location().bucket(bucket).send().await {
                Ok(out) => out
                    .location_constraint()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                Err(err) => {
                    // The endpoint that listed it is where it is (NotImplemented at many).
                    tracing::debug!(bucket, call = calls::GET_BUCKET_LOCATION.name, error = %failure(&err), "no location answer, using the endpoint's region");
                    String::new()
                }
            };
            return Ok(if constraint.is_empty() {
                (
                    c.endpoint_region.clone(),
                    crate::providers::s3_compatible::REGION_FROM_ENDPOINT,
                )
            } else {
                (constraint, REGION_FROM_GET_BUCKET_LOCATION)
            });
        }
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
                match location_to_region(&self.settings.provider, constraint) {
                    Some(region) => Ok((region.to_owned(), REGION_FROM_GET_BUCKET_LOCATION)),
                    // No guess: only AWS itself means us-east-1 by an empty constraint.
                    None => Err(CallFailure {
                        code: Some("EmptyLocationConstraint".to_owned()),
                        message: format!(
                            "GetBucketLocation answered an empty location constraint; for provider {:?} that names no region",
                            self.settings.provider
                        ),
                        ..CallFailure::default()
                    }),
                }
            }
            Err(err) => {
                tracing::debug!(bucket, head_error = %head_failure, call = calls::GET_BUCKET_LOCATION.name, location_error = %failure(&err), "cannot resolve bucket region");
                Err(head_failure)
            }
        }
    }
}

pub(super) fn listed_bucket(bucket: &aws_sdk_s3::types::Bucket) -> Option<Listed> {
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

/// `GetBucketLocation`'s legacy spellings at AWS: empty means us-east-1, `EU` means
/// eu-west-1. Another S3-compatible provider's empty answer names no region: None.
fn location_to_region<'a>(provider: &str, constraint: &'a str) -> Option<&'a str> {
    match (provider, constraint) {
        ("aws", "") => Some("us-east-1"),
        ("aws", "EU") => Some("eu-west-1"),
        (_, "") => None,
        (_, other) => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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
        assert_eq!(location_to_region("aws", ""), Some("us-east-1"));
        assert_eq!(location_to_region("aws", "EU"), Some("eu-west-1"));
        assert_eq!(
            location_to_region("aws", "eu-central-1"),
            Some("eu-central-1")
        );
        // No guesses for other providers: empty is unknown, not us-east-1.
        assert_eq!(location_to_region("ovhcloud", ""), None);
        assert_eq!(location_to_region("ovhcloud", "gra"), Some("gra"));
    }
}
