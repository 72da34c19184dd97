//! The dashboard's view dimensions as columns of `stores` (migration 0015): the provider's
//! legal parent and the SOV-2 and SOV-3 indicators, as the interpretation put them in the
//! view. Written with every store ([`ViewDims::of`]); filled in from the encoded views for
//! the stores already there when the migration runs ([`backfill`]), and for the stores a
//! map copied in from SQLite brings (`db copy`, import.rs).

use prost::Message;
use tokio_postgres::Transaction;

use landmeter_proto::v1::StoreView;

use crate::store::StoreError;

/// The migration (its number) that adds the columns; [`backfill`] runs inside it.
pub(super) const MIGRATION: usize = 15;

/// Stores read, decoded and updated per statement while filling in.
const BACKFILL_BATCH: i64 = 10_000;

/// A view's values for the three columns.
pub(super) struct ViewDims<'a> {
    pub provider_parent: &'a str,
    /// NULL (None) when the view has no indicator: unknown is never a level.
    pub sov2: Option<i16>,
    pub sov3: Option<i16>,
}

impl<'a> ViewDims<'a> {
    pub fn of(view: &'a StoreView) -> Self {
        // Levels are 0..=4; anything that does not fit a SMALLINT is no level at all.
        let level = |l: Option<i32>| l.and_then(|l| i16::try_from(l).ok());
        ViewDims {
            provider_parent: &view.provider_parent,
            sov2: level(view.sov2_indicator),
            sov3: level(view.sov3_indicator),
        }
    }
}

/// Fills in the columns of every store from its encoded view, in keyset batches inside the
/// caller's transaction (the migration's: the schema change and the values commit
/// together). Only rows whose values differ are written, so the update triggers move just
/// those stores' counts. Returns the stores written.
pub(super) async fn backfill(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let mut after: Option<(String, String)> = None;
    let mut written = 0;
    loop {
        let rows = match &after {
            None => {
                tx.query(
                    "SELECT tenant, id, view FROM stores ORDER BY tenant, id LIMIT $1",
                    &[&BACKFILL_BATCH],
                )
                .await?
            }
            Some((tenant, id)) => {
                tx.query(
                    "SELECT tenant, id, view FROM stores WHERE (tenant, id) > ($1, $2)
                     ORDER BY tenant, id LIMIT $3",
                    &[tenant, id, &BACKFILL_BATCH],
                )
                .await?
            }
        };
        let (mut tenants, mut ids, mut parents, mut sov2, mut sov3) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let view = StoreView::decode(row.try_get::<_, &[u8]>(2)?)?;
            let dims = ViewDims::of(&view);
            tenants.push(row.try_get::<_, String>(0)?);
            ids.push(row.try_get::<_, String>(1)?);
            parents.push(dims.provider_parent.to_owned());
            sov2.push(dims.sov2);
            sov3.push(dims.sov3);
        }
        if !ids.is_empty() {
            written += tx
                .execute(
                    "UPDATE stores s SET provider_parent = u.provider_parent, sov2 = u.sov2,
                            sov3 = u.sov3
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::int2[], $5::int2[])
                          AS u(tenant, id, provider_parent, sov2, sov3)
                     WHERE s.tenant = u.tenant AND s.id = u.id
                       AND (s.provider_parent, s.sov2, s.sov3)
                           IS DISTINCT FROM (u.provider_parent, u.sov2, u.sov3)",
                    &[&tenants, &ids, &parents, &sov2, &sov3],
                )
                .await?;
        }
        if (rows.len() as i64) < BACKFILL_BATCH {
            return Ok(written);
        }
        after = tenants.pop().zip(ids.pop());
    }
}
