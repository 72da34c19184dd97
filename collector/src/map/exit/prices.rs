//! The exit scenario's reference tables, shipped as data with their dates, sources and
//! status: list prices and egress ladders (`egress.csv`), which providers can keep keys in
//! an external key manager (`key-managers.csv`), and exchange rates to EUR
//! (`exchange-rates.csv`). A cell the research left empty stays unknown, never zero.

use std::collections::HashMap;

use serde::Deserialize;

/// The price table as shipped (copied from the research, status and sources kept).
pub const PRICES_CSV: &str = include_str!("../../../data/egress.csv");
/// Which providers can keep a store's key in an external key manager (HYOK), with sources.
pub const KEY_MANAGERS_CSV: &str = include_str!("../../../data/key-managers.csv");
/// Reference rates to EUR, dated and sourced.
pub const EXCHANGE_RATES_CSV: &str = include_str!("../../../data/exchange-rates.csv");
/// Storage list prices of the store kinds other than object storage (databases, volumes,
/// snapshots, ...), per provider and kind, with what they are billed on.
pub const KIND_PRICES_CSV: &str = include_str!("../../../data/kind-prices.csv");

#[derive(Debug, thiserror::Error)]
pub enum PriceTableError {
    #[error("price table unreadable: {0}")]
    Csv(#[from] csv::Error),
    #[error("egress tiers of {provider}: {detail}")]
    Tiers { provider: String, detail: String },
    #[error("{table}: {detail}")]
    Value { table: &'static str, detail: String },
}

/// The unit a provider bills egress in, as its source writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EgressUnit {
    /// 10^9 bytes.
    #[default]
    Gb,
    /// 2^30 bytes.
    Gib,
}

impl EgressUnit {
    pub fn bytes(self) -> f64 {
        match self {
            EgressUnit::Gb => 1e9,
            EgressUnit::Gib => 1_073_741_824.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EgressUnit::Gb => "GB",
            EgressUnit::Gib => "GiB",
        }
    }
}

/// One step of a monthly egress ladder: volume `from`..`to` (in the ladder's unit; `to`
/// None is open-ended) at `price` per unit; None when the research found no source.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub from: f64,
    pub to: Option<f64>,
    pub price: Option<f64>,
}

/// Internet egress list prices of one provider: the tiers, the free monthly allowance, and
/// where they come from. No tiers: nothing sourced (every volume is unknown).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EgressLadder {
    pub unit: EgressUnit,
    pub tiers: Vec<Tier>,
    /// Free volume per month in `unit`; None when the table does not say.
    pub free_per_month: Option<f64>,
    pub date: String,
    pub status: String,
    pub source: String,
}

/// A provider's published free-exit programme: egress waived when the conditions are met.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeExitProgramme {
    pub conditions: String,
    pub date: String,
    pub status: String,
    pub source: String,
}

/// One provider's list prices, with where they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub storage_per_gb_month: Option<f64>,
    pub currency: String,
    pub date: String,
    pub status: String,
    pub source: String,
    pub egress: EgressLadder,
    pub free_exit: Option<FreeExitProgramme>,
}

impl Price {
    /// Storage of `bytes` for a month at this list price (decimal GB); unknown when the
    /// table has no storage price.
    pub fn monthly_storage(&self, bytes: i64) -> Option<f64> {
        self.storage_per_gb_month
            .map(|per| per * bytes as f64 / 1e9)
    }
}

/// Whether a provider can keep a store's key in a key manager outside it (HYOK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExternalKeyManager {
    Yes,
    No,
    /// Offered as a preview only: not counted on.
    Preview,
    #[default]
    Unknown,
}

impl ExternalKeyManager {
    pub fn label(self) -> &'static str {
        match self {
            ExternalKeyManager::Yes => "yes",
            ExternalKeyManager::No => "no",
            ExternalKeyManager::Preview => "preview",
            ExternalKeyManager::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyManagerSupport {
    pub external_key_manager: ExternalKeyManager,
    pub how: String,
    pub status: String,
    pub source: String,
    /// How the provider's storage API compares with S3 (key-managers.csv `s3_api`): what an
    /// exit to it keeps of S3 tooling and bucket configuration. Empty when not researched.
    pub s3_api: String,
}

/// A provider the exit scenario can target: every provider of the price table.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitTarget {
    pub provider: String,
    /// The table has an object-storage list price for it.
    pub storage_price_known: bool,
    pub currency: String,
    pub external_key_manager: ExternalKeyManager,
    pub s3_api: String,
}

/// 1 EUR = `per_eur` units of `currency`, on `date`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeRate {
    pub currency: String,
    pub per_eur: f64,
    pub date: String,
    pub status: String,
    pub source: String,
}

/// An amount converted to EUR, naming the rate it used (None: it was EUR already).
#[derive(Debug, Clone, PartialEq)]
pub struct InEur {
    pub amount: f64,
    pub rate: Option<ExchangeRate>,
}

#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    by_provider: HashMap<String, Price>,
    /// Storage prices of other kinds, by (provider, kind label); a row without a price is
    /// kept out (unknown).
    by_kind: HashMap<(String, String), Price>,
    key_managers: HashMap<String, KeyManagerSupport>,
    exchange_rates: HashMap<String, ExchangeRate>,
    /// The EU Data Act's switching-charge rule, as the table records it.
    pub data_act_note: String,
}

#[derive(Deserialize)]
struct PriceRow {
    provider: String,
    storage_price_per_gb_month: String,
    currency: String,
    #[serde(default)]
    free_egress_allowance: String,
    price_date: String,
    status: String,
    source: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    egress_unit: String,
    #[serde(default)]
    egress_tiers: String,
    #[serde(default)]
    egress_tiers_date: String,
    #[serde(default)]
    egress_tiers_status: String,
    #[serde(default)]
    egress_tiers_source: String,
    #[serde(default)]
    free_egress_per_month: String,
    #[serde(default)]
    free_exit_programme: String,
    #[serde(default)]
    free_exit_programme_date: String,
    #[serde(default)]
    free_exit_programme_status: String,
    #[serde(default)]
    free_exit_programme_source: String,
}

#[derive(Deserialize)]
struct KindPriceRow {
    provider: String,
    kind: String,
    price_per_gb_month: String,
    currency: String,
    billed_on: String,
    price_date: String,
    status: String,
    source: String,
}

#[derive(Deserialize)]
struct KeyManagerRow {
    provider: String,
    external_key_manager: String,
    how: String,
    status: String,
    source: String,
    #[serde(default)]
    s3_api: String,
}

#[derive(Deserialize)]
struct RateRow {
    currency: String,
    per_eur: String,
    date: String,
    status: String,
    source: String,
}

/// The leading number of a price cell ("0.087 (Zone 1, ...)", "~0.0049 (derived ...)").
pub(super) fn leading_number(cell: &str) -> Option<f64> {
    let t = cell.trim().trim_start_matches('~');
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    t[..end].parse().ok()
}

/// `0-10240:0.09;10240-51200:0.085;51200-:?`: contiguous from 0, `?` for an unsourced
/// price, an empty upper bound for the open-ended last step.
pub(super) fn parse_tiers(cell: &str) -> Result<Vec<Tier>, String> {
    let mut tiers: Vec<Tier> = Vec::new();
    for step in cell.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (range, price) = step
            .split_once(':')
            .ok_or_else(|| format!("{step:?} is not from-to:price"))?;
        let (from, to) = range
            .split_once('-')
            .ok_or_else(|| format!("{range:?} is not from-to"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| format!("{s:?} is not a volume or price"))
        };
        let tier = Tier {
            from: number(from)?,
            to: if to.trim().is_empty() {
                None
            } else {
                Some(number(to)?)
            },
            price: if price.trim() == "?" {
                None
            } else {
                Some(number(price)?)
            },
        };
        let expected_from = match tiers.last() {
            None => Some(0.0),
            Some(last) => last.to,
        };
        if expected_from != Some(tier.from) {
            return Err(format!(
                "{step:?} does not continue the ladder (expected it to start at {expected_from:?})"
            ));
        }
        if tier.to.is_some_and(|to| to <= tier.from) {
            return Err(format!("{step:?} ends before it starts"));
        }
        tiers.push(tier);
    }
    Ok(tiers)
}

fn optional_number(table: &'static str, cell: &str) -> Result<Option<f64>, PriceTableError> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    cell.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(Some)
        .ok_or_else(|| PriceTableError::Value {
            table,
            detail: format!("{cell:?} is not a number"),
        })
}

impl PriceTable {
    pub fn builtin() -> Result<Self, PriceTableError> {
        Self::parse(PRICES_CSV, KEY_MANAGERS_CSV, EXCHANGE_RATES_CSV)?
            .with_kind_prices(KIND_PRICES_CSV)
    }

    /// Adds the storage prices of kinds other than object storage (`kind-prices.csv`).
    pub fn with_kind_prices(mut self, csv_text: &str) -> Result<Self, PriceTableError> {
        for row in csv::Reader::from_reader(csv_text.as_bytes()).deserialize::<KindPriceRow>() {
            let row = row?;
            let Some(per_gb) = optional_number("kind-prices.csv", &row.price_per_gb_month)? else {
                continue;
            };
            if !matches!(row.billed_on.as_str(), "stored" | "allocated") {
                return Err(PriceTableError::Value {
                    table: "kind-prices.csv",
                    detail: format!(
                        "billed_on {:?} of {} {} (stored or allocated)",
                        row.billed_on, row.provider, row.kind
                    ),
                });
            }
            let egress = self
                .by_provider
                .get(&row.provider)
                .map(|p| p.egress.clone())
                .unwrap_or_default();
            self.by_kind.insert(
                (row.provider, row.kind),
                Price {
                    storage_per_gb_month: Some(per_gb),
                    currency: row.currency,
                    date: row.price_date,
                    status: row.status,
                    source: row.source,
                    egress,
                    free_exit: None,
                },
            );
        }
        Ok(self)
    }

    /// Keeps the first price row per provider (the table lists its reference region first).
    pub fn parse(prices: &str, key_managers: &str, rates: &str) -> Result<Self, PriceTableError> {
        let mut t = PriceTable::default();
        for row in csv::Reader::from_reader(prices.as_bytes()).deserialize::<PriceRow>() {
            let row = row?;
            if row.provider == "eu-data-act" {
                t.data_act_note = format!(
                    "{} {} ({})",
                    row.free_egress_allowance, row.notes, row.price_date
                );
                continue;
            }
            if t.by_provider.contains_key(&row.provider) {
                continue;
            }
            let unit = match row.egress_unit.trim() {
                "" | "GB" => EgressUnit::Gb,
                "GiB" => EgressUnit::Gib,
                other => {
                    return Err(PriceTableError::Value {
                        table: "egress.csv",
                        detail: format!("egress_unit {other:?} of {} (GB or GiB)", row.provider),
                    });
                }
            };
            let tiers =
                parse_tiers(&row.egress_tiers).map_err(|detail| PriceTableError::Tiers {
                    provider: row.provider.clone(),
                    detail,
                })?;
            let free_exit =
                (!row.free_exit_programme.trim().is_empty()).then(|| FreeExitProgramme {
                    conditions: row.free_exit_programme.clone(),
                    date: row.free_exit_programme_date.clone(),
                    status: row.free_exit_programme_status.clone(),
                    source: row.free_exit_programme_source.clone(),
                });
            let price = Price {
                storage_per_gb_month: leading_number(&row.storage_price_per_gb_month),
                currency: row.currency,
                date: row.price_date,
                status: row.status,
                source: row.source,
                egress: EgressLadder {
                    unit,
                    tiers,
                    free_per_month: optional_number("egress.csv", &row.free_egress_per_month)?,
                    date: row.egress_tiers_date,
                    status: row.egress_tiers_status,
                    source: row.egress_tiers_source,
                },
                free_exit,
            };
            t.by_provider.insert(row.provider, price);
        }
        for row in csv::Reader::from_reader(key_managers.as_bytes()).deserialize::<KeyManagerRow>()
        {
            let row = row?;
            let external_key_manager = match row.external_key_manager.trim() {
                "yes" => ExternalKeyManager::Yes,
                "no" => ExternalKeyManager::No,
                "preview" => ExternalKeyManager::Preview,
                "unknown" => ExternalKeyManager::Unknown,
                other => {
                    return Err(PriceTableError::Value {
                        table: "key-managers.csv",
                        detail: format!(
                            "external_key_manager {other:?} of {} (yes, no, preview, unknown)",
                            row.provider
                        ),
                    });
                }
            };
            t.key_managers.insert(
                row.provider,
                KeyManagerSupport {
                    external_key_manager,
                    how: row.how,
                    status: row.status,
                    source: row.source,
                    s3_api: row.s3_api,
                },
            );
        }
        for row in csv::Reader::from_reader(rates.as_bytes()).deserialize::<RateRow>() {
            let row = row?;
            let per_eur = optional_number("exchange-rates.csv", &row.per_eur)?
                .filter(|r| *r > 0.0)
                .ok_or_else(|| PriceTableError::Value {
                    table: "exchange-rates.csv",
                    detail: format!("no rate for {}", row.currency),
                })?;
            t.exchange_rates.insert(
                row.currency.clone(),
                ExchangeRate {
                    currency: row.currency,
                    per_eur,
                    date: row.date,
                    status: row.status,
                    source: row.source,
                },
            );
        }
        Ok(t)
    }

    /// The provider's object-storage price and egress ladder.
    pub fn price(&self, provider: &str) -> Option<&Price> {
        self.by_provider.get(provider)
    }

    /// The storage price of a store of `kind` (a `StoreKind` label) at `provider`: the
    /// object-storage price for buckets, storage accounts and containers (and a kind not
    /// reported), the kind's own row otherwise; None when the table has none (unknown).
    pub fn storage_price(&self, provider: &str, kind: &str) -> Option<&Price> {
        match kind {
            "" | "unknown" | "bucket" | "storage-account" | "container" => self.price(provider),
            _ => self.by_kind.get(&(provider.to_owned(), kind.to_owned())),
        }
    }

    /// Every provider of the price table as an exit target (sorted), with its S3 API notes
    /// and whether it can keep keys in an external key manager.
    pub fn targets(&self) -> Vec<ExitTarget> {
        let mut targets: Vec<ExitTarget> = self
            .by_provider
            .iter()
            .map(|(provider, price)| {
                let keys = self.key_manager(provider);
                ExitTarget {
                    provider: provider.clone(),
                    storage_price_known: price.storage_per_gb_month.is_some(),
                    currency: price.currency.clone(),
                    external_key_manager: keys.external_key_manager,
                    s3_api: keys.s3_api,
                }
            })
            .collect();
        targets.sort_by(|a, b| a.provider.cmp(&b.provider));
        targets
    }

    /// Whether `provider` can keep keys outside it; unknown when the table does not list it.
    pub fn key_manager(&self, provider: &str) -> KeyManagerSupport {
        self.key_managers.get(provider).cloned().unwrap_or_default()
    }

    /// `amount` of `currency` in EUR at the table's rate; None when the table has no rate.
    pub fn to_eur(&self, amount: f64, currency: &str) -> Option<InEur> {
        if currency == "EUR" {
            return Some(InEur { amount, rate: None });
        }
        self.exchange_rates.get(currency).map(|r| InEur {
            amount: amount / r.per_eur,
            rate: Some(r.clone()),
        })
    }
}
