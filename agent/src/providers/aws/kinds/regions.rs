//! Which regions the kinds are scanned in: the configured list, else the account's enabled
//! regions (`ec2:DescribeRegions`), else (that call failed) the buckets' regions and the
//! home region, with a gap saying the other regions' listings are unknown.

use std::collections::BTreeSet;

use landmeter_proto::listing_part;

use super::super::account::AccountScan;
use super::super::calls;
use super::super::sdk::failure;
use crate::sink::SinkClosed;

/// `OptInStatus` of a region the account has not opted into: no data can be there.
const NOT_OPTED_IN: &str = "not-opted-in";

impl AccountScan<'_> {
    /// The regions to scan the kinds in. `bucket_regions` (the buckets' regions, known once
    /// they are examined) is awaited only when the enabled regions cannot be listed, so the
    /// kinds need not wait for the buckets otherwise.
    pub(super) async fn kind_regions(
        &self,
        bucket_regions: impl Future<Output = BTreeSet<String>>,
    ) -> Result<Vec<String>, SinkClosed> {
        if !self.settings.regions.is_empty() {
            return Ok(self.settings.regions.clone());
        }
        let answer = self
            .ec2_client(&self.settings.home_region)
            .describe_regions()
            .send()
            .await;
        match answer {
            Ok(out) => {
                let regions: BTreeSet<String> = out
                    .regions()
                    .iter()
                    .filter(|r| r.opt_in_status() != Some(NOT_OPTED_IN))
                    .filter_map(|r| r.region_name())
                    .map(str::to_owned)
                    .collect();
                Ok(regions.into_iter().collect())
            }
            Err(err) => {
                let failed = failure(&err);
                tracing::warn!(account = %self.account, error = %failed, "cannot list the enabled regions; scanning the buckets' regions and the home region");
                // Every region may hold stores of every kind: none of them may be marked
                // gone on the strength of this scan.
                for kind in &self.settings.kinds {
                    self.gap(&listing_part(*kind, ""), calls::DESCRIBE_REGIONS, &failed)
                        .await?;
                }
                let mut regions = bucket_regions.await;
                regions.insert(self.settings.home_region.clone());
                Ok(regions.into_iter().collect())
            }
        }
    }
}
