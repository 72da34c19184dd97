//! SOV-2 and SOV-3 *indicators* per store: the EU Cloud Sovereignty Framework's objectives
//! mapped onto what we observe (SOVEREIGNTY-FRAMEWORK.md section 1.4, our proposal). The
//! Commission scores providers and services; these are heuristic levels 0-4 for one data
//! asset, never an official SEAL. Pure: an interpreted view and the tables in, levels out.
//!
//! - SOV-2 (legal exposure): where the data, its replicas and its key material are, and
//!   whether the provider's parent is within the reach of the US CLOUD Act (or, failing
//!   that, headquartered outside the EU/EEA).
//! - SOV-3 (data and key sovereignty): the caps table of section 1.4 (location, replicas,
//!   custody level, client-side encryption).
//!
//! An input that is unknown (location, custody, provider) gives no indicator, never 0; a
//! reason says why. `cloud_act = unclear` is scored as the stricter neighbour (`yes`) and
//! flagged for legal review.

use landmeter_proto::v1::StoreView;
use landmeter_proto::{Custody, dimension};

use super::reference::ReferenceTables;

/// Bumped whenever the rules below change: it is part of the interpretation fingerprint,
/// so stored views are re-interpreted (and get the new levels) at the collector's next start.
pub const RULES_VERSION: u32 = 2;

/// What users are told wherever the levels are shown.
pub const NOTE: &str = "SOV-2/SOV-3 indicators computed from observed facts and the reference tables \
(landmeter's heuristic after the EU Cloud Sovereignty Framework, section 1.4 caps): not an official \
SEAL level and not legal advice; stores with an unknown location or custody have no indicator.";

/// EU member states and the EEA (Iceland, Liechtenstein, Norway), ISO 3166-1 alpha-2.
const EU_EEA: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Indicators {
    pub sov2: Option<i32>,
    pub sov3: Option<i32>,
    pub reasons: Vec<String>,
}

/// Where the store's data, replicas and key material are, as far as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Unknown(String),
    /// Data or a replica outside the EU/EEA.
    DataOutside(&'static str),
    /// Data and replicas in the EU/EEA, key material (or a key replica) outside.
    KeysOutside,
    AllEu,
}

fn place(v: &StoreView) -> Place {
    if v.country.is_empty() {
        return Place::Unknown(v.unknown(dimension::LOCATION).map_or_else(
            || "the data's region is not in the regions table".to_owned(),
            |u| format!("location unknown: {}", u.reason),
        ));
    }
    if !v.eu {
        return Place::DataOutside("data region outside the EU/EEA");
    }
    if v.replicated_outside_eu {
        return Place::DataOutside("a replica outside the EU/EEA");
    }
    // Not "no replica outside": replication or the key's place could not be established.
    for dim in [dimension::REPLICATION, dimension::KEY_LOCATION] {
        if let Some(u) = v.unknown(dim) {
            return Place::Unknown(format!("{dim} unknown: {}", u.reason));
        }
    }
    // The jurisdiction label sums up data, replicas and key material (map::jurisdiction_label).
    if v.jurisdiction.starts_with("unknown") {
        return Place::Unknown("a replica's or key's region is not in the regions table".into());
    }
    if v.location_unverified {
        // An unverified row does not decide an indicator on its own.
        return Place::Unknown(format!(
            "the regions table marks region {:?} unverified; the indicator does not rest on it alone",
            v.region
        ));
    }
    if v.jurisdiction.starts_with("non-EU") {
        return Place::KeysOutside;
    }
    Place::AllEu
}

/// The leading country code of the providers table's `parent_hq_country` ("US (ultimate
/// parent); DE (operating entities)" -> "US").
fn hq_country(cell: &str) -> &str {
    let t = cell.trim();
    let end = t
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(t.len());
    &t[..end]
}

/// Both indicators of one interpreted store.
pub fn compute(v: &StoreView, tables: &ReferenceTables) -> Indicators {
    let mut reasons = Vec::new();
    let place = place(v);
    // Unclear is scored as the stricter neighbour (yes) and flagged.
    let cloud_act = match v.cloud_act.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        "unclear" => {
            reasons.push(
                "CLOUD Act exposure unclear: scored as exposed (the stricter neighbour); legal review needed"
                    .to_owned(),
            );
            Some(true)
        }
        _ => None,
    };
    let hq = tables
        .provider(&v.provider)
        .map(|p| hq_country(&p.parent_hq_country).to_ascii_uppercase());
    let custody = v.custody();
    let client_side = v.client_key_mode == "client-side";

    // SOV-2 is legal exposure: where things are and whose law reaches the provider. Keys held
    // outside the provider (HYOK, client-side) raise SOV-3, not SOV-2 (the framework's split).
    let sov2 = match (place.clone(), cloud_act) {
        (Place::Unknown(why), _) => {
            reasons.push(format!("SOV-2: no indicator: {why}"));
            None
        }
        (Place::DataOutside(why), _) => {
            reasons.push(format!("SOV-2: 0: {why}"));
            Some(0)
        }
        (_, None) => {
            reasons.push(format!(
                "SOV-2: no indicator: provider {:?} is not in the providers table (CLOUD Act exposure unknown)",
                v.provider
            ));
            None
        }
        (Place::KeysOutside, Some(_)) => {
            reasons.push("SOV-2: 1: key material (or a key replica) outside the EU/EEA".into());
            Some(1)
        }
        (Place::AllEu, Some(true)) => {
            reasons.push(
                "SOV-2: 1: EU location, provider's parent within the CLOUD Act's reach".into(),
            );
            Some(1)
        }
        (Place::AllEu, Some(false)) => match hq.as_deref() {
            Some(c) if EU_EEA.contains(&c) => {
                reasons.push(format!(
                    "SOV-2: 4: EU location, data, replicas and keys in the EU/EEA, parent headquartered in {c}, not subject to the CLOUD Act"
                ));
                Some(4)
            }
            Some(c) if !c.is_empty() => {
                reasons.push(format!(
                    "SOV-2: 3: not subject to the CLOUD Act, but the parent is headquartered outside the EU/EEA ({c})"
                ));
                Some(3)
            }
            _ => {
                reasons.push(
                    "SOV-2: 3: not subject to the CLOUD Act; parent headquarters unknown".into(),
                );
                Some(3)
            }
        },
    };

    let sov3 = match place {
        Place::Unknown(why) => {
            reasons.push(format!("SOV-3: no indicator: {why}"));
            None
        }
        Place::DataOutside(why) => {
            reasons.push(format!("SOV-3: 0: {why}"));
            Some(0)
        }
        _ if matches!(custody, Custody::Unknown | Custody::Unspecified) => {
            reasons.push(format!(
                "SOV-3: no indicator: key custody unknown ({})",
                v.custody_reason
            ));
            None
        }
        _ if cloud_act.is_none() => {
            reasons.push(format!(
                "SOV-3: no indicator: provider {:?} is not in the providers table",
                v.provider
            ));
            None
        }
        Place::KeysOutside => {
            reasons.push("SOV-3: 1: key material (or a key replica) outside the EU/EEA".into());
            Some(1)
        }
        _ => {
            let (level, why) = sov3_cap(custody, client_side, cloud_act == Some(true));
            reasons.push(format!("SOV-3: {level}: {why}"));
            Some(level)
        }
    };
    Indicators {
        sov2,
        sov3,
        reasons,
    }
}

/// Section 1.4's caps for a store whose data, replicas and keys are all in the EU/EEA.
fn sov3_cap(custody: Custody, client_side: bool, cloud_act: bool) -> (i32, &'static str) {
    if !cloud_act {
        return if custody == Custody::None && !client_side {
            (
                3,
                "EU provider not subject to the CLOUD Act, EU location, but the data is not encrypted at rest",
            )
        } else {
            (
                4,
                "EU provider not subject to the CLOUD Act, EU location, no non-EU replicas (subject to SOV-5/6 dependencies)",
            )
        };
    }
    if client_side {
        return (
            3,
            "client-side encryption declared by tag (not observed), keys held by the customer (confidentiality; availability and metadata still depend on the provider)",
        );
    }
    match custody {
        Custody::Hyok => (
            2,
            "EU location, CLOUD Act provider, external key manager (cap 2-3: 3 only if an EU entity outside the provider runs it, which is not observable)",
        ),
        Custody::Byok | Custody::DedicatedHsm => (
            2,
            "EU location, CLOUD Act provider, custody C2-C3 (still decryptable inside the provider)",
        ),
        _ => (
            1,
            "EU location, CLOUD Act provider, custody C0-C1 (provider or customer-managed keys in the provider's KMS, or no encryption)",
        ),
    }
}

/// Sets the view's indicator fields.
pub fn apply(v: &mut StoreView, tables: &ReferenceTables) {
    let i = compute(v, tables);
    v.sov2_indicator = i.sov2;
    v.sov3_indicator = i.sov3;
    v.indicator_reasons = i.reasons;
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::v1::ReplicationTarget;

    fn tables() -> ReferenceTables {
        ReferenceTables::builtin().expect("tables")
    }

    struct Case {
        name: &'static str,
        provider: &'static str,
        cloud_act: &'static str,
        country: &'static str,
        eu: bool,
        jurisdiction: &'static str,
        replicated_outside_eu: bool,
        custody: Custody,
        client_side: bool,
        want: (Option<i32>, Option<i32>),
        reason_contains: &'static str,
    }

    /// `who`: provider and its CLOUD Act answer; `place`: country, EU, jurisdiction label,
    /// replicated outside the EU.
    const fn case(
        name: &'static str,
        who: (&'static str, &'static str),
        place: (&'static str, bool, &'static str, bool),
        custody: Custody,
        client_side: bool,
        want: (Option<i32>, Option<i32>),
        reason_contains: &'static str,
    ) -> Case {
        Case {
            name,
            provider: who.0,
            cloud_act: who.1,
            country: place.0,
            eu: place.1,
            jurisdiction: place.2,
            replicated_outside_eu: place.3,
            custody,
            client_side,
            want,
            reason_contains,
        }
    }

    const EU: (&str, bool, &str, bool) = ("DE", true, "EU", false);
    const EU_CA: (&str, bool, &str, bool) = ("DE", true, "EU+US-CLOUD-ACT", false);

    #[test]
    fn the_caps_table_as_cases() {
        use Custody::*;
        let cases = [
            case(
                "us region",
                ("aws", "yes"),
                ("US", false, "non-EU+US-CLOUD-ACT", false),
                Provider,
                false,
                (Some(0), Some(0)),
                "outside the EU",
            ),
            case(
                "eu data, us replica",
                ("aws", "yes"),
                ("IE", true, "non-EU+US-CLOUD-ACT", true),
                Hyok,
                false,
                (Some(0), Some(0)),
                "replica",
            ),
            case(
                "eu, cloud act, provider keys",
                ("aws", "yes"),
                EU_CA,
                Provider,
                false,
                (Some(1), Some(1)),
                "C0-C1",
            ),
            case(
                "eu, cloud act, customer-managed",
                ("aws", "yes"),
                EU_CA,
                CustomerManaged,
                false,
                (Some(1), Some(1)),
                "C0-C1",
            ),
            case(
                "eu, cloud act, unencrypted",
                ("aws", "yes"),
                EU_CA,
                None,
                false,
                (Some(1), Some(1)),
                "C0-C1",
            ),
            case(
                "eu, cloud act, byok",
                ("aws", "yes"),
                EU_CA,
                Byok,
                false,
                (Some(1), Some(2)),
                "C2-C3",
            ),
            case(
                "eu, cloud act, dedicated hsm",
                ("aws", "yes"),
                EU_CA,
                DedicatedHsm,
                false,
                (Some(1), Some(2)),
                "C2-C3",
            ),
            case(
                "eu, cloud act, hyok",
                ("aws", "yes"),
                EU_CA,
                Hyok,
                false,
                // HYOK raises SOV-3, not SOV-2: the CLOUD Act still reaches the provider.
                (Some(1), Some(2)),
                "external key manager",
            ),
            case(
                "eu, cloud act, client-side",
                ("aws", "yes"),
                EU_CA,
                Provider,
                true,
                (Some(1), Some(3)),
                "client-side",
            ),
            case(
                "eu, key replica in us",
                ("aws", "yes"),
                ("IE", true, "non-EU+US-CLOUD-ACT", false),
                CustomerManaged,
                false,
                (Some(1), Some(1)),
                "key material",
            ),
            case(
                "eu provider, eu hq",
                ("ovhcloud", "no"),
                EU,
                Provider,
                false,
                (Some(4), Some(4)),
                "headquartered in FR",
            ),
            case(
                "eu provider, unencrypted",
                ("ovhcloud", "no"),
                EU,
                None,
                false,
                (Some(4), Some(3)),
                "not encrypted",
            ),
            case(
                "unclear is stricter",
                ("aws-european-sovereign-cloud", "unclear"),
                ("DE", true, "EU+US-CLOUD-ACT?", false),
                Byok,
                false,
                (Some(1), Some(2)),
                "legal review",
            ),
            case(
                "unknown custody",
                ("aws", "yes"),
                EU_CA,
                Unknown,
                false,
                (Some(1), Option::None),
                "custody unknown",
            ),
            case(
                "unknown location",
                ("aws", "yes"),
                ("", false, "unknown+US-CLOUD-ACT", false),
                Provider,
                false,
                (Option::None, Option::None),
                "not in the regions table",
            ),
            case(
                "unknown replica region",
                ("aws", "yes"),
                ("DE", true, "unknown+US-CLOUD-ACT", false),
                Provider,
                false,
                (Option::None, Option::None),
                "replica's or key's region",
            ),
            case(
                "unknown provider",
                ("acme", "unknown"),
                EU,
                Provider,
                false,
                (Option::None, Option::None),
                "not in the providers table",
            ),
        ];
        let t = tables();
        for c in cases {
            let v = StoreView {
                provider: c.provider.into(),
                cloud_act: c.cloud_act.into(),
                country: c.country.into(),
                eu: c.eu,
                jurisdiction: c.jurisdiction.into(),
                replicated_outside_eu: c.replicated_outside_eu,
                replication: if c.replicated_outside_eu {
                    vec![ReplicationTarget::default()]
                } else {
                    vec![]
                },
                custody: c.custody as i32,
                client_key_mode: if c.client_side {
                    "client-side".into()
                } else {
                    String::new()
                },
                ..StoreView::default()
            };
            let got = compute(&v, &t);
            assert_eq!(
                (got.sov2, got.sov3),
                c.want,
                "{}: {:?}",
                c.name,
                got.reasons
            );
            assert!(
                got.reasons.iter().any(|r| r.contains(c.reason_contains)),
                "{}: {:?}",
                c.name,
                got.reasons
            );
            // Every indicator, given or withheld, says why.
            assert!(
                got.reasons.iter().any(|r| r.starts_with("SOV-2:")),
                "{}",
                c.name
            );
            assert!(
                got.reasons.iter().any(|r| r.starts_with("SOV-3:")),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn headquarters_cell_reads_its_leading_country() {
        assert_eq!(
            hq_country("US (ultimate parent); DE (operating entities)"),
            "US"
        );
        assert_eq!(hq_country("FR"), "FR");
        assert_eq!(hq_country(""), "");
    }

    #[test]
    fn interpretation_fills_the_indicators() {
        use super::super::{Interpreter, TagConventions};
        use landmeter_proto::v1::{Fact, Store, fact::Body};
        let facts = vec![Fact {
            account: "1".into(),
            subject: "b".into(),
            observed_at_ms: 1,
            api_call: "s3:ListBuckets".into(),
            body: Some(Body::Store(Store {
                provider: "aws".into(),
                name: "b".into(),
                region: "us-east-1".into(),
                ..Store::default()
            })),
        }];
        let i = Interpreter::new(tables(), TagConventions::default());
        let v = &i.interpret_account("t", "1", &facts, &|_, _| Option::None)[0];
        assert_eq!((v.sov2_indicator, v.sov3_indicator), (Some(0), Some(0)));
        assert!(!v.indicator_reasons.is_empty());
    }
}
