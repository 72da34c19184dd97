//! Costs and the exit scenario: what leaving a provider would take. Pure: stores, the dated,
//! sourced reference tables and a date in, figures out. Unknown prices stay unknown, never
//! zero; every money figure is in one currency, the one its price is listed in.
//!
//! - [`prices`]: the tables (list prices and egress ladders, external key managers,
//!   exchange rates to EUR).
//! - [`egress`]: tiered egress after the free allowance, the free-exit programmes and the
//!   EU Data Act figure on a date.
//! - [`keys`]: distinct keys per custody level and what becomes of them at the target.

pub mod egress;
pub mod keys;
pub mod prices;
#[cfg(test)]
mod tests;

use landmeter_proto::v1::StoreView;
use time::Date;

pub use egress::{DataActFigure, DataActPhase, EgressFigures};
pub use keys::{KeyFate, KeyGroup, KeysAtExit};
pub use prices::{
    EXCHANGE_RATES_CSV, ExitTarget, KEY_MANAGERS_CSV, PRICES_CSV, Price, PriceTable,
    PriceTableError,
};

/// "Move everything of provider X (or of a filter) to alternative Y", on a date.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitScenario {
    pub from: String,
    pub to: String,
    /// The day the scenario is computed for (the Data Act's rule depends on it).
    pub on: Date,
    pub stores: usize,
    pub bytes: i64,
    /// Known objects; stores whose count is unknown are in `stores_objects_unknown`.
    pub objects: i64,
    pub stores_objects_unknown: usize,
    /// Stores whose size is unknown: their bytes are not in `bytes` nor in any egress figure.
    pub stores_without_size: usize,
    /// Egress of the known bytes: list price, free-exit programme, Data Act, in the
    /// source's currency.
    pub egress: EgressFigures,
    pub monthly_storage_cost_now: Option<f64>,
    pub monthly_storage_cost_after: Option<f64>,
    pub source_price: Option<Price>,
    pub target_price: Option<Price>,
    pub transfer_hours: f64,
    pub bandwidth_mbps: f64,
    /// The keys of the stores that move and what becomes of them at the target.
    pub keys: KeysAtExit,
    /// Replication edges to cut.
    pub replication_edges: usize,
    /// Lock-in features found among the stores that move.
    pub lock_in: LockIn,
    pub data_act_note: String,
    /// Every provider of the price table but the one left, as a target: its S3 API notes and
    /// whether it supports an external key manager (for HYOK data).
    pub targets: Vec<ExitTarget>,
}

/// "Lock-in features found": what makes leaving slower or dearer than copying bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LockIn {
    /// Known bytes in classes that must be restored before they can be copied (Glacier
    /// Flexible Retrieval, Deep Archive, Intelligent-Tiering archive tiers, Azure Archive).
    pub archive_bytes: i64,
    /// Known bytes in classes charged per GB read (infrequent access, Glacier of any kind).
    pub retrieval_fee_bytes: i64,
    /// Known bytes per class with a minimum storage duration: deleting at the source
    /// before it ends is charged as if stored that long. (class, minimum days, bytes).
    pub minimum_duration_bytes: Vec<(String, i32, i64)>,
    /// Stores holding archive bytes.
    pub archive_stores: Vec<LockedStore>,
    /// Stores with object lock / an immutability policy.
    pub object_lock_stores: Vec<LockedStore>,
    /// Of those, COMPLIANCE mode: retention cannot be shortened by anyone; the data must
    /// wait out its retention before it can be deleted at the source.
    pub compliance_stores: usize,
    /// Stores under a legal hold.
    pub legal_hold_stores: Vec<LockedStore>,
    /// Stores whose lock setting could not be read: unknown, not unlocked.
    pub lock_unknown_stores: usize,
}

/// One store named in the lock-in section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LockedStore {
    pub id: String,
    pub name: String,
    /// Object lock mode ("COMPLIANCE", "GOVERNANCE") or empty.
    pub mode: String,
    pub retention_days: Option<i64>,
    /// Known archive bytes of the store.
    pub archive_bytes: i64,
}

impl LockedStore {
    fn of(v: &StoreView) -> Self {
        LockedStore {
            id: v.id.clone(),
            name: v.name.clone(),
            mode: v.object_lock_mode.clone(),
            retention_days: v.object_lock_retention_days,
            archive_bytes: v.archive_bytes.unwrap_or(0),
        }
    }
}

/// The lock-in features of `stores`.
pub fn lock_in(stores: &[&StoreView]) -> LockIn {
    let mut l = LockIn::default();
    let mut minimum: std::collections::BTreeMap<(String, i32), i64> = Default::default();
    for v in stores {
        for c in &v.storage_classes {
            if c.retrieval_fee {
                l.retrieval_fee_bytes += c.bytes;
            }
            if c.minimum_days > 0 {
                *minimum
                    .entry((c.class.clone(), c.minimum_days))
                    .or_default() += c.bytes;
            }
        }
        if let Some(bytes) = v.archive_bytes.filter(|b| *b > 0) {
            l.archive_bytes += bytes;
            l.archive_stores.push(LockedStore::of(v));
        }
        if v.object_lock {
            if v.object_lock_mode == "COMPLIANCE" {
                l.compliance_stores += 1;
            }
            l.object_lock_stores.push(LockedStore::of(v));
        }
        if v.legal_hold {
            l.legal_hold_stores.push(LockedStore::of(v));
        }
        if v.object_lock_unknown {
            l.lock_unknown_stores += 1;
        }
    }
    l.minimum_duration_bytes = minimum
        .into_iter()
        .map(|((class, days), bytes)| (class, days, bytes))
        .collect();
    l
}

pub fn exit_scenario(
    stores: &[StoreView],
    from: &str,
    to: &str,
    bandwidth_mbps: f64,
    prices: &PriceTable,
    on: Date,
) -> ExitScenario {
    let moving: Vec<&StoreView> = stores.iter().filter(|s| s.provider == from).collect();
    let bytes: i64 = moving.iter().filter_map(|s| s.bytes).sum();
    let source = prices.price(from).cloned();
    let target = prices.price(to).cloned();
    ExitScenario {
        from: from.to_owned(),
        to: to.to_owned(),
        on,
        stores: moving.len(),
        bytes,
        objects: moving.iter().filter_map(|s| s.objects).sum(),
        stores_objects_unknown: moving.iter().filter(|s| s.objects.is_none()).count(),
        stores_without_size: moving.iter().filter(|s| s.bytes.is_none()).count(),
        egress: EgressFigures::of(bytes, source.as_ref(), on),
        monthly_storage_cost_now: monthly_storage(&moving, from, source.as_ref(), prices),
        monthly_storage_cost_after: monthly_storage(&moving, to, target.as_ref(), prices),
        transfer_hours: if bandwidth_mbps > 0.0 {
            bytes as f64 * 8.0 / (bandwidth_mbps * 1e6) / 3600.0
        } else {
            f64::INFINITY
        },
        bandwidth_mbps,
        keys: KeysAtExit::of(&moving, prices.key_manager(to)),
        replication_edges: moving.iter().map(|s| s.replication.len()).sum(),
        lock_in: lock_in(&moving),
        data_act_note: prices.data_act_note.clone(),
        targets: prices
            .targets()
            .into_iter()
            .filter(|t| t.provider != from)
            .collect(),
        source_price: source,
        target_price: target,
    }
}

/// What the stores' known bytes cost a month at `provider`, each at its kind's price (an
/// RDS volume is not priced as S3). Unknown when any store of known size has no price for
/// its kind there, or its price is in another currency than `reference` (the provider's
/// object-storage price, whose currency the scenario shows): a partial sum would read as a
/// total.
fn monthly_storage(
    stores: &[&StoreView],
    provider: &str,
    reference: Option<&Price>,
    prices: &PriceTable,
) -> Option<f64> {
    let reference = reference?;
    // No object-storage price at all: unknown, even when no store has a known size.
    let mut total = reference.monthly_storage(0)?;
    for s in stores {
        let Some(bytes) = s.bytes else { continue };
        let price = prices.storage_price(provider, &s.kind)?;
        if price.currency != reference.currency {
            return None;
        }
        total += price.monthly_storage(bytes)?;
    }
    Some(total)
}

/// The UTC calendar day of a Unix time in ms.
pub fn day_of_ms(ms: i64) -> Date {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map_or(time::OffsetDateTime::UNIX_EPOCH.date(), |t| t.date())
}

/// `YYYY-MM-DD`, the form `--on` and `on=` take.
pub fn parse_day(text: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.trim(), format).map_err(|e| format!("{text:?} is not a YYYY-MM-DD date: {e}"))
}
