//! What copying the bytes out costs: the source's tiered list price after its free
//! allowance, its free-exit programme (a waiver with conditions) and the EU Data Act's
//! switching-charge rule on a given date. Every figure is in the source's currency.

use time::Date;
use time::macros::date;

use super::prices::{EgressLadder, FreeExitProgramme, Price, Tier};

/// From this day providers may charge at most their cost for switching (Art. 29(2)).
pub const DATA_ACT_AT_COST_FROM: Date = date!(2024 - 01 - 11);
/// From this day providers may not charge for switching at all (Art. 29(1)).
pub const DATA_ACT_NO_CHARGES_FROM: Date = date!(2027 - 01 - 12);

/// The volume one tier of the ladder carries, and what it costs.
#[derive(Debug, Clone, PartialEq)]
pub struct TierCharge {
    pub tier: Tier,
    /// Volume billed in this tier (in the ladder's unit), after the free allowance.
    pub charged: f64,
    /// None when the tier's price is unsourced.
    pub amount: Option<f64>,
}

/// The tiered list price of `volume` (one month's traffic, in the ladder's unit): the
/// free allowance comes off the bottom of the ladder. The total is unknown as soon as the
/// volume reaches a tier without a sourced price; the sourced part is kept as a lower bound.
pub fn tiered(volume: f64, ladder: &EgressLadder) -> (Vec<TierCharge>, Option<f64>, f64) {
    let unsourced = [Tier {
        from: 0.0,
        to: None,
        price: None,
    }];
    let tiers = if ladder.tiers.is_empty() {
        &unsourced[..]
    } else {
        &ladder.tiers[..]
    };
    let free = ladder.free_per_month.unwrap_or(0.0);
    let mut charges = Vec::new();
    let mut known_part = 0.0;
    let mut complete = true;
    for tier in tiers {
        let low = tier.from.max(free);
        let high = tier.to.map_or(volume, |to| to.min(volume));
        if high <= low {
            continue;
        }
        let charged = high - low;
        let amount = tier.price.map(|p| p * charged);
        match amount {
            Some(a) => known_part += a,
            None => complete = false,
        }
        charges.push(TierCharge {
            tier: tier.clone(),
            charged,
            amount,
        });
    }
    // A bounded last tier that the volume outgrows: the rest has no price.
    if let Some(end) = tiers.last().and_then(|t| t.to)
        && volume > end.max(free)
    {
        complete = false;
        charges.push(TierCharge {
            tier: Tier {
                from: end,
                to: None,
                price: None,
            },
            charged: volume - end.max(free),
            amount: None,
        });
    }
    (charges, complete.then_some(known_part), known_part)
}

/// Where the EU Data Act (Regulation (EU) 2023/2854, Art. 29) stands on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataActPhase {
    /// Before 11 January 2024: no rule on switching charges yet.
    NotYetApplicable,
    /// 11 January 2024 to 11 January 2027: switching charges at most at cost.
    AtMostCost,
    /// From 12 January 2027: no switching charges (egress included) for a full switch.
    NoSwitchingCharges,
}

impl DataActPhase {
    pub fn on(date: Date) -> Self {
        if date < DATA_ACT_AT_COST_FROM {
            DataActPhase::NotYetApplicable
        } else if date < DATA_ACT_NO_CHARGES_FROM {
            DataActPhase::AtMostCost
        } else {
            DataActPhase::NoSwitchingCharges
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DataActPhase::NotYetApplicable => "not-yet-applicable",
            DataActPhase::AtMostCost => "at-most-cost",
            DataActPhase::NoSwitchingCharges => "no-switching-charges",
        }
    }
}

/// The Data Act's figure beside the list price.
#[derive(Debug, Clone, PartialEq)]
pub struct DataActFigure {
    pub phase: DataActPhase,
    /// None while the charge may be "at most cost": providers do not publish their cost.
    pub amount: Option<f64>,
    /// What the charge can be at most (the list price), when known.
    pub upper_bound: Option<f64>,
}

impl DataActFigure {
    pub fn on(date: Date, list_price: Option<f64>) -> Self {
        let phase = DataActPhase::on(date);
        match phase {
            DataActPhase::NotYetApplicable => DataActFigure {
                phase,
                amount: list_price,
                upper_bound: list_price,
            },
            DataActPhase::AtMostCost => DataActFigure {
                phase,
                amount: None,
                upper_bound: list_price,
            },
            DataActPhase::NoSwitchingCharges => DataActFigure {
                phase,
                amount: Some(0.0),
                upper_bound: Some(0.0),
            },
        }
    }

    /// The rule, in words, for every rendering.
    pub fn text(&self) -> &'static str {
        match self.phase {
            DataActPhase::NotYetApplicable => {
                "list price: the Data Act's switching-charge rules apply from 2024-01-11"
            }
            DataActPhase::AtMostCost => {
                "at most cost (not published: list price is an upper bound) until 2027-01-11"
            }
            DataActPhase::NoSwitchingCharges => {
                "none: no switching charges from 2027-01-12 for a full switch (egress for parallel use of several providers may still be charged at cost)"
            }
        }
    }
}

/// The egress figures of an exit, each in `currency`.
#[derive(Debug, Clone, PartialEq)]
pub struct EgressFigures {
    /// The source's price currency; empty when the table has no row for it.
    pub currency: String,
    pub ladder: EgressLadder,
    /// Known bytes to move, in the ladder's unit.
    pub volume: f64,
    /// The tiers the volume reaches.
    pub tiers: Vec<TierCharge>,
    /// The tiered list price; None when a reached tier is unsourced or no price is known.
    pub list_price: Option<f64>,
    /// The sourced tiers' part of it: a lower bound when `list_price` is unknown.
    pub list_price_known_part: f64,
    /// The provider's free-exit programme: egress waived (0) if its conditions are met.
    pub free_exit: Option<FreeExitProgramme>,
    pub data_act: DataActFigure,
}

impl EgressFigures {
    pub fn of(bytes: i64, source: Option<&Price>, on: Date) -> Self {
        let ladder = source.map(|p| p.egress.clone()).unwrap_or_default();
        let volume = bytes as f64 / ladder.unit.bytes();
        let (tiers, list_price, list_price_known_part) = tiered(volume, &ladder);
        EgressFigures {
            currency: source.map(|p| p.currency.clone()).unwrap_or_default(),
            volume,
            tiers,
            list_price,
            list_price_known_part,
            free_exit: source.and_then(|p| p.free_exit.clone()),
            data_act: DataActFigure::on(on, list_price),
            ladder,
        }
    }

    /// The waived amount under the free-exit programme, when there is one.
    pub fn free_exit_amount(&self) -> Option<f64> {
        self.free_exit.as_ref().map(|_| 0.0)
    }

    /// Reached tiers without a sourced price, as "from-to unit" ranges.
    pub fn unsourced_tiers(&self) -> Vec<String> {
        self.tiers
            .iter()
            .filter(|t| t.amount.is_none())
            .map(|t| range_label(&t.tier, self.ladder.unit.label()))
            .collect()
    }
}

/// "10240-51200 GB", "153600+ GB".
pub fn range_label(t: &Tier, unit: &str) -> String {
    match t.to {
        Some(to) => format!("{}-{} {unit}", t.from, to),
        None => format!("{}+ {unit}", t.from),
    }
}
