//! Costs and the exit scenario: what leaving a provider would take. Pure: stores and a
//! dated, sourced price table in, figures out. Unknown prices stay unknown, never zero.

use std::collections::HashMap;

use landmeter_proto::Custody;
use landmeter_proto::v1::StoreView;
use serde::Deserialize;

/// The price table as shipped (copied from the research, status and sources kept).
pub const PRICES_CSV: &str = include_str!("../../data/egress.csv");

/// One provider's list prices, with where they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub storage_per_gb_month: Option<f64>,
    pub egress_per_gb: Option<f64>,
    pub currency: String,
    pub date: String,
    pub status: String,
    pub source: String,
}

impl Price {
    /// Storage of `bytes` for a month at this list price (decimal GB); unknown when the
    /// table has no storage price.
    pub fn monthly_storage(&self, bytes: i64) -> Option<f64> {
        self.storage_per_gb_month.map(|per| per * bytes as f64 / GB)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    by_provider: HashMap<String, Price>,
    /// The EU Data Act's switching-charge rule, as the table records it.
    pub data_act_note: String,
}

#[derive(Deserialize)]
struct PriceRow {
    provider: String,
    storage_price_per_gb_month: String,
    egress_internet_first_paid_tier_per_gb: String,
    currency: String,
    #[serde(default)]
    free_egress_allowance: String,
    price_date: String,
    status: String,
    source: String,
    #[serde(default)]
    notes: String,
}

/// The leading number of a price cell ("0.087 (Zone 1, ...)", "~0.0049 (derived ...)").
fn leading_number(cell: &str) -> Option<f64> {
    let t = cell.trim().trim_start_matches('~');
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    t[..end].parse().ok()
}

impl PriceTable {
    pub fn builtin() -> Result<Self, csv::Error> {
        Self::parse(PRICES_CSV)
    }

    /// Keeps the first row per provider (the table lists its reference region first).
    pub fn parse(text: &str) -> Result<Self, csv::Error> {
        let mut t = PriceTable::default();
        for row in csv::Reader::from_reader(text.as_bytes()).deserialize::<PriceRow>() {
            let row = row?;
            if row.provider == "eu-data-act" {
                t.data_act_note = format!(
                    "{} {} ({})",
                    row.free_egress_allowance, row.notes, row.price_date
                );
                continue;
            }
            t.by_provider.entry(row.provider.clone()).or_insert(Price {
                storage_per_gb_month: leading_number(&row.storage_price_per_gb_month),
                egress_per_gb: leading_number(&row.egress_internet_first_paid_tier_per_gb),
                currency: row.currency,
                date: row.price_date,
                status: row.status,
                source: row.source,
            });
        }
        Ok(t)
    }

    pub fn price(&self, provider: &str) -> Option<&Price> {
        self.by_provider.get(provider)
    }
}

/// "Move everything of provider X (or of a filter) to alternative Y".
#[derive(Debug, Clone, PartialEq)]
pub struct ExitScenario {
    pub from: String,
    pub to: String,
    pub stores: usize,
    pub bytes: i64,
    pub objects: i64,
    /// Stores whose size is unknown: their bytes are not in `bytes`.
    pub stores_without_size: usize,
    /// Egress at the source's list price; None when the price is unknown.
    pub egress_cost: Option<f64>,
    pub monthly_storage_cost_now: Option<f64>,
    pub monthly_storage_cost_after: Option<f64>,
    pub source_price: Option<Price>,
    pub target_price: Option<Price>,
    pub transfer_hours: f64,
    pub bandwidth_mbps: f64,
    /// Stores whose keys cannot leave with the data (custody below `byok`, or unknown).
    pub keys_to_recreate: usize,
    /// Replication edges to cut.
    pub replication_edges: usize,
    /// Lock-in features found among the stores that move.
    pub lock_in: LockIn,
    pub data_act_note: String,
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

const GB: f64 = 1e9;

pub fn exit_scenario(
    stores: &[StoreView],
    from: &str,
    to: &str,
    bandwidth_mbps: f64,
    prices: &PriceTable,
) -> ExitScenario {
    let moving: Vec<&StoreView> = stores.iter().filter(|s| s.provider == from).collect();
    let bytes: i64 = moving.iter().filter_map(|s| s.bytes).sum();
    let gb = bytes as f64 / GB;
    let source = prices.price(from).cloned();
    let target = prices.price(to).cloned();
    let per =
        |p: &Option<Price>, f: fn(&Price) -> Option<f64>| p.as_ref().and_then(f).map(|x| x * gb);
    ExitScenario {
        from: from.to_owned(),
        to: to.to_owned(),
        stores: moving.len(),
        bytes,
        objects: moving.iter().filter_map(|s| s.objects).sum(),
        stores_without_size: moving.iter().filter(|s| s.bytes.is_none()).count(),
        egress_cost: per(&source, |p| p.egress_per_gb),
        monthly_storage_cost_now: source.as_ref().and_then(|p| p.monthly_storage(bytes)),
        monthly_storage_cost_after: target.as_ref().and_then(|p| p.monthly_storage(bytes)),
        transfer_hours: if bandwidth_mbps > 0.0 {
            bytes as f64 * 8.0 / (bandwidth_mbps * 1e6) / 3600.0
        } else {
            f64::INFINITY
        },
        bandwidth_mbps,
        keys_to_recreate: moving
            .iter()
            .filter(|s| s.custody().rank() < Custody::Byok.rank())
            .count(),
        replication_edges: moving.iter().map(|s| s.replication.len()).sum(),
        lock_in: lock_in(&moving),
        data_act_note: prices.data_act_note.clone(),
        source_price: source,
        target_price: target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::v1::ReplicationTarget;

    #[test]
    fn shipped_prices_parse_with_unknowns_kept_unknown() {
        let t = PriceTable::builtin().expect("prices");
        let aws = t.price("aws").expect("aws");
        assert_eq!(
            (aws.storage_per_gb_month, aws.egress_per_gb),
            (Some(0.0245), Some(0.09))
        );
        assert_eq!(
            t.price("microsoft-azure").expect("azure").egress_per_gb,
            Some(0.087)
        );
        assert_eq!(t.price("ovhcloud").expect("ovh").storage_per_gb_month, None);
        assert_eq!(
            t.price("hetzner").expect("hetzner").storage_per_gb_month,
            Some(0.0049)
        );
        assert!(
            t.data_act_note.contains("no switching charges"),
            "{}",
            t.data_act_note
        );
    }

    #[test]
    fn exit_figures_match_a_hand_computed_case() {
        let store =
            |provider: &str, bytes: Option<i64>, custody: Custody, replicas: usize| StoreView {
                provider: provider.into(),
                bytes,
                objects: bytes.map(|_| 10),
                custody: custody as i32,
                replication: vec![ReplicationTarget::default(); replicas],
                ..StoreView::default()
            };
        let stores = [
            store("aws", Some(100_000_000_000), Custody::Provider, 1),
            store("aws", Some(50_000_000_000), Custody::Byok, 0),
            store("aws", None, Custody::CustomerManaged, 0),
            store("aws", Some(1), Custody::Hyok, 2),
            store("microsoft-azure", Some(999), Custody::Provider, 0),
        ];
        let x = exit_scenario(
            &stores,
            "aws",
            "ovhcloud",
            1000.0,
            &PriceTable::builtin().expect("prices"),
        );
        assert_eq!(
            (x.stores, x.bytes, x.objects, x.stores_without_size),
            (4, 150_000_000_001, 30, 1)
        );
        // 150 GB x 0.09 USD/GB egress; x 0.0245 USD/GB-month storage; OVHcloud's price unknown.
        let gb = 150_000_000_001.0 / 1e9;
        assert!((x.egress_cost.expect("known") - gb * 0.09).abs() < 1e-9);
        assert!((x.monthly_storage_cost_now.expect("known") - gb * 0.0245).abs() < 1e-9);
        assert_eq!(x.monthly_storage_cost_after, None, "unknown, not zero");
        // 150 GB x 8 bit / 1 Gbit/s = 1200 s.
        assert!((x.transfer_hours - 1200.000000008 / 3600.0).abs() < 1e-9);
        // Below byok: provider and customer-managed; byok and hyok keys can leave.
        assert_eq!(x.keys_to_recreate, 2);
        assert_eq!(x.replication_edges, 3);
        assert_eq!(x.lock_in, LockIn::default(), "no lock-in facts, none found");
    }

    #[test]
    fn lock_in_features_are_counted_and_listed() {
        use crate::map::lockin;
        use landmeter_proto::v1::{Retention, Size};
        let view = |name: &str, sizes: &[(&str, i64)], retention: Option<Retention>| {
            let mut v = StoreView {
                id: format!("aws:1:{name}"),
                name: name.into(),
                provider: "aws".into(),
                ..StoreView::default()
            };
            let size = Size {
                bytes_by_storage_type: sizes.iter().map(|(t, b)| ((*t).to_owned(), *b)).collect(),
                known: !sizes.is_empty(),
                ..Size::default()
            };
            lockin::apply(&mut v, Some(&size), "", retention.as_ref(), true);
            v
        };
        let stores = [
            view(
                "cold",
                &[
                    ("StandardStorage", 1_000),
                    ("GlacierStorage", 20_000),
                    ("DeepArchiveStorage", 300_000),
                ],
                Some(Retention::default()),
            ),
            view(
                "locked",
                &[("StandardIAStorage", 4_000)],
                Some(Retention {
                    enabled: true,
                    mode: "COMPLIANCE".into(),
                    days: 30,
                    ..Retention::default()
                }),
            ),
            view(
                "governed",
                &[],
                Some(Retention {
                    enabled: true,
                    mode: "GOVERNANCE".into(),
                    years: 1,
                    ..Retention::default()
                }),
            ),
            view("unread", &[("StandardStorage", 5)], None),
        ];
        let x = exit_scenario(
            &stores,
            "aws",
            "ovhcloud",
            1000.0,
            &PriceTable::builtin().expect("prices"),
        );
        let l = &x.lock_in;
        // Archive: Glacier 20,000 + Deep Archive 300,000.
        assert_eq!(l.archive_bytes, 320_000);
        assert_eq!(l.archive_stores.len(), 1);
        assert_eq!(l.archive_stores[0].name, "cold");
        // Retrieval fees: Glacier, Deep Archive and Standard-IA.
        assert_eq!(l.retrieval_fee_bytes, 324_000);
        assert_eq!(
            l.minimum_duration_bytes,
            vec![
                ("deep-archive".to_owned(), 180, 300_000),
                ("glacier-flexible".to_owned(), 90, 20_000),
                ("infrequent-access".to_owned(), 30, 4_000),
            ]
        );
        let locked: Vec<(&str, &str, Option<i64>)> = l
            .object_lock_stores
            .iter()
            .map(|s| (s.name.as_str(), s.mode.as_str(), s.retention_days))
            .collect();
        assert_eq!(
            locked,
            [
                ("locked", "COMPLIANCE", Some(30)),
                ("governed", "GOVERNANCE", Some(365))
            ]
        );
        assert_eq!(l.compliance_stores, 1);
        assert!(l.legal_hold_stores.is_empty());
        assert_eq!(l.lock_unknown_stores, 1, "the unread store is unknown");
    }
}
