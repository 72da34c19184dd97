//! Bucket sizes from CloudWatch: `ListMetrics` per region (which storage-type series
//! exist), then `GetMetricData` in calls of at most 500 queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt, stream};
use landmeter_proto::v1::{Size, fact};

use super::account::AccountScan;
use super::calls;
use super::sdk::failure;
use crate::sink::SinkClosed;

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

/// Bucket -> storage types with a `BucketSizeBytes` series (from `ListMetrics`).
type SeriesByBucket = HashMap<String, Vec<String>>;
/// The buckets of one `GetMetricData` call, each with the storage types to query.
type SizeChunk<'b> = Vec<(&'b str, Vec<String>)>;

/// Today 00:00 UTC in seconds: the end of the CloudWatch window (moto invents a datapoint
/// for the current day; AWS publishes the daily storage metrics for past days).
fn metric_window(now_ms: i64) -> (i64, i64) {
    let now = now_ms.div_euclid(1000);
    let end = now - now.rem_euclid(SECONDS_PER_DAY);
    (end - SIZE_LOOKBACK_DAYS * SECONDS_PER_DAY, end)
}

impl AccountScan<'_> {
    /// `Size` facts from CloudWatch, per region, in calls of at most 500 metric queries.
    /// `ListMetrics` first says which (bucket, storage type) series exist, so each bucket
    /// costs its own series (usually one or two) instead of every storage type.
    pub(super) async fn sizes(&self, buckets: &[(&str, &str)]) -> Result<(), SinkClosed> {
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
                    tracing::warn!(account = %self.account, region, call = calls::LIST_METRICS.name, error = %failure(&err), "cannot list size metrics, querying every storage type");
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
                        self.gap(bucket, calls::GET_METRIC_DATA, &failed).await?;
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
            self.emit(bucket, calls::GET_METRIC_DATA, fact::Body::Size(size))
                .await?;
        }
        Ok(())
    }
}

/// Query ids are `b{bucket}_{metric}`.
fn parse_query_id(id: &str) -> Option<(usize, usize)> {
    let (bucket, metric) = id.strip_prefix('b')?.split_once('_')?;
    Some((bucket.parse().ok()?, metric.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
