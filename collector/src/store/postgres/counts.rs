//! The summary counts (migrations 0014 and 0015): statement triggers on `stores` append deltas, and
//! the backend folds them into `store_counts` now and then, so that the deltas a summary
//! reads besides the counts stay few. A fold is one statement (one transaction): a summary
//! sees each delta either in the deltas or in the counts, never in both or neither.

use super::PostgresStore;
use crate::store::StoreError;

/// Scan ends after which a collector folds the deltas (per process; any collector's fold
/// takes every committed delta). An account's scan end leaves about one delta row per
/// combination of dimensions it changed, so a summary reads a few thousand rows at most.
pub(super) const FOLD_AFTER_SCAN_ENDS: u64 = 16;

/// Moves every committed delta into the counts, in the counts' key order (two collectors
/// folding at once lock the rows they share in the same order: no deadlock).
const FOLD: &str = "WITH moved AS (DELETE FROM store_count_deltas RETURNING *)
    INSERT INTO store_counts AS c
    SELECT tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
           custody_rank, classification, process, kind, replicated_outside_eu, unknown_dims,
           gone, SUM(n), SUM(bytes), SUM(without_size), provider_parent, sov2, sov3
    FROM moved
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20, 21
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20, 21
    ON CONFLICT (tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
                 custody_rank, classification, process, kind, replicated_outside_eu,
                 unknown_dims, gone, provider_parent, sov2, sov3)
    DO UPDATE SET n = c.n + excluded.n, bytes = c.bytes + excluded.bytes,
                  without_size = c.without_size + excluded.without_size";

/// Combinations no store has any more.
const TIDY: &str = "DELETE FROM store_counts WHERE n = 0 AND bytes = 0 AND without_size = 0";

/// Every fold leaves the deltas it moved as dead rows, which a summary's scan of the deltas
/// reads until a vacuum: measured after a 1M-store ingest, 155,000 dead rows (24 MB) beside
/// 487 live ones, autovacuum not having come by, and a summary at 10M took 98 ms instead of
/// a few. The tables are small: the vacuum takes milliseconds.
const VACUUM: &str = "VACUUM store_count_deltas, store_counts";

/// Folds on a connection of the pool; returns the combinations written.
pub(super) async fn fold(client: &tokio_postgres::Client) -> Result<u64, tokio_postgres::Error> {
    let written = client.execute(FOLD, &[]).await?;
    client.execute(TIDY, &[]).await?;
    // Outside a transaction (VACUUM cannot run in one): the simple query protocol.
    client.batch_execute(VACUUM).await?;
    Ok(written)
}

impl PostgresStore {
    /// Folds every committed delta into the counts now; returns the combinations written
    /// (0 when there was nothing to fold). The backend does this by itself every
    /// [`FOLD_AFTER_SCAN_ENDS`] scan ends; summaries are exact either way.
    pub fn fold_counts(&self) -> Result<u64, StoreError> {
        let client = self.client()?;
        Ok(self.block(fold(&client))?)
    }
}
