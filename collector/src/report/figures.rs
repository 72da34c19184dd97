//! The board report's figures: posture, trend, risks, costs, exit, provenance. Pure: views,
//! scans and the previous report's kept figures in, figures out. Unknown stays unknown.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use landmeter_proto::v1::StoreView;
use landmeter_proto::{Custody, dimension};
use serde::{Deserialize, Serialize};

use crate::map::UNCLASSIFIED;
use crate::map::exit::prices::ExchangeRate;
use crate::map::exit::{ExitScenario, Price, PriceTable, exit_scenario};
use crate::store::ScanCoverage;

/// Stores, known bytes and stores of unknown size behind one key of a dimension.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub key: String,
    pub stores: u64,
    /// Sum of known sizes only.
    pub bytes: i64,
    pub stores_size_unknown: u64,
}

/// The dimensions of the posture, keyed as `Summary` keys them where it has the field
/// (`eu`: "EU"/"non-EU"; `custody`: ladder labels; `cloud_act`: yes/no/unclear;
/// `classification`: the tag value or "unclassified").
pub const DIMENSIONS: [&str; 9] = [
    "eu",
    "cloud_act",
    "custody",
    "classified",
    "classification",
    "country",
    "provider",
    "sov2",
    "sov3",
];

/// The state of the estate at one report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Posture {
    pub stores: u64,
    pub bytes: i64,
    pub stores_size_unknown: u64,
    /// Dimension name -> rows, largest first (by stores, then key).
    pub dimensions: BTreeMap<String, Vec<Row>>,
}

impl Posture {
    pub fn row(&self, dimension: &str, key: &str) -> Option<&Row> {
        self.dimensions
            .get(dimension)?
            .iter()
            .find(|r| r.key == key)
    }
}

/// What a report keeps of each store, so the next report can say what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub eu: bool,
    pub country: String,
    pub custody: String,
    pub bytes: Option<i64>,
}

/// The figures a report keeps in the database (the next report's baseline).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    pub posture: Posture,
    pub stores: Vec<Snapshot>,
}

/// What changed since the previous report of the tenant, from its kept figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trend {
    pub previous_id: i64,
    pub previous_at_ms: i64,
    pub stores_before: u64,
    pub bytes_before: i64,
    pub eu_stores_before: u64,
    pub new_stores: Vec<String>,
    pub gone_stores: Vec<String>,
    pub left_eu: Vec<String>,
    pub entered_eu: Vec<String>,
    /// Custody moved up or down the ladder (both levels known).
    pub custody_up: Vec<String>,
    pub custody_down: Vec<String>,
    /// Custody was known and is unknown now.
    pub custody_now_unknown: Vec<String>,
}

/// One risk row, naming the store and the scan it was last seen by.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    pub kind: RiskKind,
    pub store_id: String,
    pub provider: String,
    pub country: String,
    pub custody: String,
    pub classification: String,
    pub bytes: Option<i64>,
    pub last_scan_id: String,
    pub last_seen_ms: i64,
    /// Why, where the risk is an unknown: the failed call and its error.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskKind {
    /// Classified data stored outside the EU/EEA.
    ClassifiedOutsideEu,
    /// Keys held by (or no encryption at) a provider whose parent is subject to the CLOUD Act.
    ProviderKeysUsParent,
    CustodyUnknown,
    /// Replication (or a replica's place) could not be read: copies outside the EU are
    /// possible.
    ReplicationUnknown,
    /// Tags could not be read: the store may be classified.
    ClassificationUnknown,
    SizeUnknown,
}

impl RiskKind {
    pub const ALL: [RiskKind; 6] = [
        RiskKind::ClassifiedOutsideEu,
        RiskKind::ProviderKeysUsParent,
        RiskKind::CustodyUnknown,
        RiskKind::ReplicationUnknown,
        RiskKind::ClassificationUnknown,
        RiskKind::SizeUnknown,
    ];

    pub fn id(self) -> &'static str {
        match self {
            RiskKind::ClassifiedOutsideEu => "classified-outside-eu",
            RiskKind::ProviderKeysUsParent => "provider-keys-us-parent",
            RiskKind::CustodyUnknown => "custody-unknown",
            RiskKind::ReplicationUnknown => "replication-unknown",
            RiskKind::ClassificationUnknown => "classification-unknown",
            RiskKind::SizeUnknown => "size-unknown",
        }
    }

    /// The risk in a table cell.
    pub fn short(self) -> &'static str {
        match self {
            RiskKind::ClassifiedOutsideEu => "classified, outside EU",
            RiskKind::ProviderKeysUsParent => "provider keys, US parent",
            RiskKind::CustodyUnknown => "custody unknown",
            RiskKind::ReplicationUnknown => "replication unknown",
            RiskKind::ClassificationUnknown => "classification unknown",
            RiskKind::SizeUnknown => "size unknown",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            RiskKind::ClassifiedOutsideEu => "Classified data outside the EU/EEA",
            RiskKind::ProviderKeysUsParent => {
                "Provider-held keys (or none) at a provider under the US CLOUD Act (or unclear: legal review)"
            }
            RiskKind::CustodyUnknown => "Key custody unknown",
            RiskKind::ReplicationUnknown => "Replication unknown (copies outside the EU possible)",
            RiskKind::ClassificationUnknown => "Classification unknown (tags unreadable)",
            RiskKind::SizeUnknown => "Size unknown",
        }
    }
}

/// Monthly storage cost of the tenant's stores at one provider, at list price.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    pub provider: String,
    /// The store kind (`bucket`, `database`, ...): each kind has its own price.
    pub kind: String,
    pub stores: u64,
    pub bytes: i64,
    pub stores_size_unknown: u64,
    /// None when the price table has no storage price for the provider and kind.
    pub monthly: Option<f64>,
    pub price: Option<Price>,
    /// `monthly` in EUR: the report shows one currency.
    pub monthly_eur: Eur,
}

/// A money figure of the report in EUR, converted from its price's currency at a named,
/// dated rate. Unknown when the amount is unknown or the table has no rate for the currency.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Eur {
    pub amount: Option<f64>,
    /// The amount as listed, and its currency.
    pub listed: Option<f64>,
    pub currency: String,
    /// The rate used; None when no conversion happened (EUR already, or none possible).
    pub rate: Option<ExchangeRate>,
}

impl Eur {
    pub fn of(prices: &PriceTable, listed: Option<f64>, currency: &str) -> Self {
        let converted = listed.and_then(|v| prices.to_eur(v, currency));
        Eur {
            amount: converted.as_ref().map(|c| c.amount),
            listed,
            currency: currency.to_owned(),
            rate: converted.and_then(|c| c.rate),
        }
    }
}

/// The exit scenario's money figures in EUR.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExitEur {
    pub egress_list: Eur,
    /// The sourced tiers' part when the list price is unknown (a lower bound).
    pub egress_known_part: Eur,
    pub egress_free_exit: Eur,
    pub egress_data_act: Eur,
    pub egress_data_act_upper_bound: Eur,
    pub storage_now: Eur,
    pub storage_after: Eur,
}

impl ExitEur {
    pub fn of(x: &ExitScenario, prices: &PriceTable) -> Self {
        let e = &x.egress;
        let egress = |v: Option<f64>| Eur::of(prices, v, &e.currency);
        let currency =
            |p: &Option<Price>| p.as_ref().map(|p| p.currency.clone()).unwrap_or_default();
        ExitEur {
            egress_list: egress(e.list_price),
            egress_known_part: egress(Some(e.list_price_known_part)),
            egress_free_exit: egress(e.free_exit_amount()),
            egress_data_act: egress(e.data_act.amount),
            egress_data_act_upper_bound: egress(e.data_act.upper_bound),
            storage_now: Eur::of(
                prices,
                x.monthly_storage_cost_now,
                &currency(&x.source_price),
            ),
            storage_after: Eur::of(
                prices,
                x.monthly_storage_cost_after,
                &currency(&x.target_price),
            ),
        }
    }
}

/// Everything a board report shows.
#[derive(Debug, Clone)]
pub struct Figures {
    pub tenant: String,
    pub report_id: i64,
    pub issued_at_ms: i64,
    pub posture: Posture,
    pub trend: Option<Trend>,
    /// Every risk, most serious kind first, larger stores first.
    pub risks: Vec<Risk>,
    pub exit: Option<ExitScenario>,
    /// The exit's money figures in EUR.
    pub exit_eur: Option<ExitEur>,
    pub costs: Vec<Cost>,
    /// The scans the figures rest on (the stores' last scans), newest first.
    pub scans: Vec<ScanCoverage>,
    /// Last scan ids named by stores but no longer in the scan list read.
    pub scans_not_listed: Vec<String>,
    pub interpretation_fingerprint: Option<String>,
}

/// EU member states and the EEA (ISO 3166 alpha-2), for a provider parent's headquarters.
const EU_EEA: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

fn bump(rows: &mut BTreeMap<String, Row>, key: &str, bytes: Option<i64>) {
    let row = rows.entry(key.to_owned()).or_insert_with(|| Row {
        key: key.to_owned(),
        ..Row::default()
    });
    row.stores += 1;
    match bytes {
        Some(b) => row.bytes += b,
        None => row.stores_size_unknown += 1,
    }
}

/// The bytes a store adds to a figure: None when its size is unknown; 0 when they are
/// counted elsewhere (an Azure container's, in its storage account's capacity).
fn counted_bytes(s: &StoreView) -> Option<i64> {
    if s.size_unknown() {
        None
    } else {
        Some(s.bytes.unwrap_or(0))
    }
}

fn indicator(v: Option<i32>) -> String {
    v.map_or_else(|| "none".to_owned(), |l| l.to_string())
}

/// Known to be classified (a store whose tags could not be read is not known to be).
pub fn classified(v: &StoreView) -> bool {
    !v.classification.is_empty()
        && v.classification != UNCLASSIFIED
        && !v.is_unknown(dimension::CLASSIFICATION)
}

/// The posture of a set of (present) stores.
pub fn posture(stores: &[StoreView]) -> Posture {
    let mut dims: BTreeMap<&str, BTreeMap<String, Row>> = BTreeMap::new();
    let mut p = Posture::default();
    for s in stores {
        p.stores += 1;
        let bytes = counted_bytes(s);
        match bytes {
            Some(b) => p.bytes += b,
            None => p.stores_size_unknown += 1,
        }
        let keys: [(&str, String); 9] = [
            (
                "eu",
                match s.eu_known() {
                    Some(true) => "EU",
                    Some(false) => "non-EU",
                    None => "unknown",
                }
                .to_owned(),
            ),
            ("cloud_act", s.cloud_act.clone()),
            ("custody", s.custody().label().to_owned()),
            (
                "classified",
                if classified(s) {
                    "classified"
                } else if s.is_unknown(dimension::CLASSIFICATION) {
                    "unknown"
                } else {
                    "unclassified"
                }
                .to_owned(),
            ),
            ("classification", s.classification.clone()),
            ("country", s.country.clone()),
            ("provider", s.provider.clone()),
            ("sov2", indicator(s.sov2_indicator)),
            ("sov3", indicator(s.sov3_indicator)),
        ];
        for (dim, key) in keys {
            bump(dims.entry(dim).or_default(), &key, bytes);
        }
    }
    for dim in DIMENSIONS {
        let mut rows: Vec<Row> = dims.remove(dim).unwrap_or_default().into_values().collect();
        rows.sort_by(|a, b| b.stores.cmp(&a.stores).then_with(|| a.key.cmp(&b.key)));
        p.dimensions.insert(dim.to_owned(), rows);
    }
    p
}

pub fn snapshot(stores: &[StoreView]) -> Vec<Snapshot> {
    stores
        .iter()
        .map(|s| Snapshot {
            id: s.id.clone(),
            eu: s.eu,
            country: s.country.clone(),
            custody: s.custody().label().to_owned(),
            bytes: s.bytes,
        })
        .collect()
}

/// What changed between the previous report's kept figures and now.
pub fn trend(previous_id: i64, previous_at_ms: i64, before: &Kept, now: &[StoreView]) -> Trend {
    let old: HashMap<&str, &Snapshot> = before.stores.iter().map(|s| (s.id.as_str(), s)).collect();
    let ids_now: BTreeSet<&str> = now.iter().map(|s| s.id.as_str()).collect();
    let mut t = Trend {
        previous_id,
        previous_at_ms,
        stores_before: before.posture.stores,
        bytes_before: before.posture.bytes,
        eu_stores_before: before.posture.row("eu", "EU").map_or(0, |r| r.stores),
        ..Trend::default()
    };
    for s in now {
        let Some(b) = old.get(s.id.as_str()) else {
            t.new_stores.push(s.id.clone());
            continue;
        };
        match (b.eu, s.eu) {
            (true, false) => t.left_eu.push(s.id.clone()),
            (false, true) => t.entered_eu.push(s.id.clone()),
            _ => {}
        }
        let rank = |label: &str| {
            Custody::from_label(label)
                .filter(|c| !matches!(c, Custody::Unknown | Custody::Unspecified))
                .map(|c| c.rank())
        };
        match (rank(&b.custody), rank(s.custody().label())) {
            (Some(x), Some(y)) if y > x => t.custody_up.push(s.id.clone()),
            (Some(x), Some(y)) if y < x => t.custody_down.push(s.id.clone()),
            (Some(_), None) => t.custody_now_unknown.push(s.id.clone()),
            _ => {}
        }
    }
    t.gone_stores = before
        .stores
        .iter()
        .filter(|s| !ids_now.contains(s.id.as_str()))
        .map(|s| s.id.clone())
        .collect();
    t
}

pub fn risks(stores: &[StoreView]) -> Vec<Risk> {
    let mut out = Vec::new();
    for s in stores {
        let custody = s.custody();
        let mut kinds = Vec::new();
        let why = |dim: &str| s.unknown(dim).map(|u| u.reason.clone()).unwrap_or_default();
        if classified(s) && (s.eu_known() == Some(false) || s.replicated_outside_eu) {
            kinds.push((RiskKind::ClassifiedOutsideEu, String::new()));
        }
        // "unclear" is exposed until a lawyer says otherwise.
        if s.cloud_act_exposed() == Some(true)
            && matches!(custody, Custody::Provider | Custody::None)
        {
            let note = if s.cloud_act == "unclear" {
                "CLOUD Act exposure unclear: legal review".to_owned()
            } else {
                String::new()
            };
            kinds.push((RiskKind::ProviderKeysUsParent, note));
        }
        if matches!(custody, Custody::Unknown | Custody::Unspecified) {
            kinds.push((RiskKind::CustodyUnknown, s.custody_reason.clone()));
        }
        if s.replicated_outside_eu_known().is_none() {
            kinds.push((RiskKind::ReplicationUnknown, why(dimension::REPLICATION)));
        }
        if s.is_unknown(dimension::CLASSIFICATION) {
            kinds.push((
                RiskKind::ClassificationUnknown,
                why(dimension::CLASSIFICATION),
            ));
        }
        if s.size_unknown() {
            kinds.push((RiskKind::SizeUnknown, why(dimension::SIZE)));
        }
        for (kind, detail) in kinds {
            out.push(Risk {
                kind,
                store_id: s.id.clone(),
                provider: s.provider.clone(),
                country: s.country.clone(),
                custody: custody.label().to_owned(),
                classification: s.classification.clone(),
                bytes: s.bytes,
                last_scan_id: s.last_scan_id.clone(),
                last_seen_ms: s.last_seen_ms,
                detail,
            });
        }
    }
    // Most serious kind first; within a kind classified data first, then the larger stores.
    out.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| {
                (b.classification != UNCLASSIFIED).cmp(&(a.classification != UNCLASSIFIED))
            })
            .then_with(|| b.bytes.unwrap_or(-1).cmp(&a.bytes.unwrap_or(-1)))
            .then_with(|| a.store_id.cmp(&b.store_id))
    });
    out
}

pub fn costs(stores: &[StoreView], prices: &PriceTable) -> Vec<Cost> {
    let mut by: BTreeMap<(&str, &str), Cost> = BTreeMap::new();
    for s in stores {
        let c = by
            .entry((s.provider.as_str(), s.kind.as_str()))
            .or_insert_with(|| Cost {
                provider: s.provider.clone(),
                kind: s.kind.clone(),
                stores: 0,
                bytes: 0,
                stores_size_unknown: 0,
                monthly: None,
                price: prices.storage_price(&s.provider, &s.kind).cloned(),
                monthly_eur: Eur::default(),
            });
        c.stores += 1;
        match counted_bytes(s) {
            Some(b) => c.bytes += b,
            None => c.stores_size_unknown += 1,
        }
    }
    by.into_values()
        .map(|mut c| {
            c.monthly = c.price.as_ref().and_then(|p| p.monthly_storage(c.bytes));
            let currency = c.price.as_ref().map(|p| p.currency.as_str()).unwrap_or("");
            c.monthly_eur = Eur::of(prices, c.monthly, currency);
            c
        })
        .collect()
}

/// The provider holding most of the tenant's known bytes (most stores on a tie).
pub fn largest_provider(stores: &[StoreView]) -> Option<String> {
    let mut by: BTreeMap<&str, (i64, u64)> = BTreeMap::new();
    for s in stores {
        let e = by.entry(s.provider.as_str()).or_default();
        e.0 += s.bytes.unwrap_or(0);
        e.1 += 1;
    }
    by.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(p, _)| p.to_owned())
}

/// The default sovereign alternative: the first provider of the price table whose parent
/// is headquartered in the EU and is not subject to the CLOUD Act (OVHcloud in the shipped
/// tables).
pub fn default_exit_target(tables: &crate::map::reference::ReferenceTables) -> Option<String> {
    let mut seen = BTreeSet::new();
    let mut reader = csv::Reader::from_reader(crate::map::exit::PRICES_CSV.as_bytes());
    for rec in reader.records().flatten() {
        let Some(provider) = rec.get(0) else { continue };
        if !seen.insert(provider.to_owned()) {
            continue;
        }
        if let Some(info) = tables.provider(provider)
            && info.cloud_act == "no"
            && EU_EEA.contains(&info.parent_hq_country.trim())
        {
            return Some(provider.to_owned());
        }
    }
    None
}

pub struct Inputs<'a> {
    pub tenant: &'a str,
    pub stores: &'a [StoreView],
    pub scans: Vec<ScanCoverage>,
    pub previous: Option<(i64, i64, Kept)>,
    pub prices: &'a PriceTable,
    pub exit_to: &'a str,
    pub bandwidth_mbps: f64,
    pub interpretation_fingerprint: Option<String>,
}

pub fn figures(input: Inputs<'_>, report_id: i64, issued_at_ms: i64) -> Figures {
    let stores = input.stores;
    let used: BTreeSet<&str> = stores.iter().map(|s| s.last_scan_id.as_str()).collect();
    let listed: BTreeSet<&str> = input.scans.iter().map(|s| s.scan_id.as_str()).collect();
    let exit = largest_provider(stores).map(|from| {
        exit_scenario(
            stores,
            &from,
            input.exit_to,
            input.bandwidth_mbps,
            input.prices,
            crate::map::exit::day_of_ms(issued_at_ms),
        )
    });
    Figures {
        tenant: input.tenant.to_owned(),
        report_id,
        issued_at_ms,
        posture: posture(stores),
        trend: input
            .previous
            .as_ref()
            .map(|(id, at, kept)| trend(*id, *at, kept, stores)),
        risks: risks(stores),
        exit_eur: exit.as_ref().map(|x| ExitEur::of(x, input.prices)),
        exit,
        costs: costs(stores, input.prices),
        scans_not_listed: used
            .iter()
            .filter(|id| !id.is_empty() && !listed.contains(*id))
            .map(|s| (*s).to_owned())
            .collect(),
        scans: input
            .scans
            .into_iter()
            .filter(|s| used.contains(s.scan_id.as_str()))
            .collect(),
        interpretation_fingerprint: input.interpretation_fingerprint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, eu: bool, custody: Custody, class: &str, bytes: Option<i64>) -> StoreView {
        StoreView {
            id: id.into(),
            provider: "aws".into(),
            cloud_act: "yes".into(),
            eu,
            country: if eu { "DE" } else { "US" }.into(),
            custody: custody as i32,
            classification: class.into(),
            bytes,
            last_scan_id: "s1".into(),
            // As the interpretation says it: no size is an unknown size, with why.
            unknowns: bytes
                .is_none()
                .then(|| landmeter_proto::v1::Unknown {
                    dimension: dimension::SIZE.into(),
                    reason: "no size datapoint".into(),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..StoreView::default()
        }
    }

    #[test]
    fn posture_counts_unknown_sizes_apart() {
        let p = posture(&[
            view("a", true, Custody::Provider, "BBN2", Some(10)),
            view("b", false, Custody::Byok, UNCLASSIFIED, None),
            view("c", true, Custody::Unknown, UNCLASSIFIED, Some(5)),
        ]);
        assert_eq!((p.stores, p.bytes, p.stores_size_unknown), (3, 15, 1));
        assert_eq!(
            p.row("eu", "EU"),
            Some(&Row {
                key: "EU".into(),
                stores: 2,
                bytes: 15,
                stores_size_unknown: 0
            })
        );
        assert_eq!(
            p.row("eu", "non-EU").map(|r| r.stores_size_unknown),
            Some(1)
        );
        assert_eq!(p.row("classified", "classified").map(|r| r.stores), Some(1));
        assert_eq!(p.row("sov2", "none").map(|r| r.stores), Some(3));
    }

    #[test]
    fn risks_name_kinds_in_order_of_seriousness() {
        let r = risks(&[
            view("ok", true, Custody::Byok, "BBN2", Some(1)),
            view("us", false, Custody::Provider, "BBN2", Some(7)),
            view("unk", true, Custody::Unknown, UNCLASSIFIED, None),
        ]);
        let kinds: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.kind.id(), r.store_id.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("classified-outside-eu", "us"),
                ("provider-keys-us-parent", "us"),
                ("custody-unknown", "unk"),
                ("size-unknown", "unk")
            ]
        );
    }

    #[test]
    fn trend_sees_new_gone_moved_and_custody() {
        let before = [
            view("a", true, Custody::Provider, UNCLASSIFIED, Some(1)),
            view("b", true, Custody::Byok, UNCLASSIFIED, Some(1)),
            view("gone", true, Custody::Byok, UNCLASSIFIED, Some(1)),
        ];
        let kept = Kept {
            posture: posture(&before),
            stores: snapshot(&before),
        };
        let now = [
            view("a", false, Custody::Byok, UNCLASSIFIED, Some(1)),
            view("b", true, Custody::Provider, UNCLASSIFIED, Some(1)),
            view("new", true, Custody::Byok, UNCLASSIFIED, Some(1)),
        ];
        let t = trend(1, 5, &kept, &now);
        assert_eq!(t.new_stores, ["new"]);
        assert_eq!(t.gone_stores, ["gone"]);
        assert_eq!(t.left_eu, ["a"]);
        assert_eq!(
            (t.custody_up.as_slice(), t.custody_down.as_slice()),
            (&["a".to_owned()][..], &["b".to_owned()][..])
        );
        assert_eq!((t.stores_before, t.eu_stores_before), (3, 3));
    }

    #[test]
    fn costs_keep_unknown_prices_unknown() {
        let prices = PriceTable::builtin().expect("prices");
        let mut s = view("a", true, Custody::Byok, UNCLASSIFIED, Some(2_000_000_000));
        let mut o = s.clone();
        o.provider = "ovhcloud".into();
        s.id = "b".into();
        let c = costs(&[s, o], &prices);
        let aws = c.iter().find(|c| c.provider == "aws").expect("aws");
        assert!((aws.monthly.expect("known") - 2.0 * 0.0245).abs() < 1e-12);
        assert_eq!(
            c.iter()
                .find(|c| c.provider == "ovhcloud")
                .expect("ovh")
                .monthly,
            None
        );
    }

    /// One cost row per provider and kind, each at its kind's price: 100 GB of RDS storage
    /// at 0.115 USD, 200 GB of EBS gp3 at 0.08 and 10 GB of S3 at 0.0245 a month.
    #[test]
    fn costs_price_each_kind_at_its_own_rate() {
        let prices = PriceTable::builtin().expect("prices");
        let of = |name: &str, kind: &str, bytes: i64| {
            let mut v = view(name, true, Custody::Provider, UNCLASSIFIED, Some(bytes));
            v.kind = kind.into();
            v
        };
        let mut c = costs(
            &[
                of("db", "database", 100_000_000_000),
                of("vol", "volume", 200_000_000_000),
                of("b", "bucket", 10_000_000_000),
            ],
            &prices,
        );
        c.sort_by(|a, b| a.kind.cmp(&b.kind));
        let kinds: Vec<(&str, Option<f64>)> = c
            .iter()
            .map(|c| {
                (
                    c.kind.as_str(),
                    c.monthly.map(|m| (m * 1000.0).round() / 1000.0),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("bucket", Some(0.245)),
                ("database", Some(11.5)),
                ("volume", Some(16.0))
            ]
        );
    }

    #[test]
    fn default_exit_target_is_an_eu_provider_outside_the_cloud_act() {
        let tables = crate::map::reference::ReferenceTables::builtin().expect("tables");
        assert_eq!(default_exit_target(&tables).as_deref(), Some("ovhcloud"));
    }
}
