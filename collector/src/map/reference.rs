//! Reference tables: region -> country -> EU/EEA, provider -> legal parent -> CLOUD Act.
//!
//! Shipped as CSV data (copied from the research in `shared/data`, `unverified` marks kept)
//! and loaded once. An operator can point the collector at edited copies; the whole map is
//! re-interpreted from the stored facts, no agent involved.

use std::collections::HashMap;

use serde::Deserialize;

/// The regions table as shipped.
pub const REGIONS_CSV: &str = include_str!("../../data/regions.csv");
/// The providers table as shipped.
pub const PROVIDERS_CSV: &str = include_str!("../../data/providers.csv");

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("reading {table} table: {source}")]
    Csv {
        table: &'static str,
        #[source]
        source: csv::Error,
    },
    #[error("{table} table row {row}: {message}")]
    Row {
        table: &'static str,
        row: usize,
        message: String,
    },
}

/// One row of the regions table.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub country: String,
    pub eu: bool,
    pub display_name: String,
    /// The table's comment, kept so that `unverified` marks reach the user.
    pub comment: String,
}

impl Region {
    /// True when the table marks this row's location (country, EU flag, existence) as
    /// needing a second source. A mark about the city alone does not count: the map never
    /// decides anything by city.
    pub fn unverified(&self) -> bool {
        let comment = self.comment.to_ascii_lowercase();
        let segments: Vec<&str> = comment.split(';').map(str::trim).collect();
        segments.iter().enumerate().any(|(i, seg)| {
            if !seg.contains("unverified") || seg.contains("city") {
                return false;
            }
            // "city not in AWS region name; unverified": the bare mark belongs to the city remark.
            !(*seg == "unverified" && i > 0 && segments[i - 1].contains("city"))
        })
    }
}

/// One row of the providers table.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    pub legal_parent: String,
    pub parent_hq_country: String,
    /// "yes", "no" or "unclear", as the research found it. Not legal advice.
    pub cloud_act: String,
    /// Whether the provider encrypts every object at rest with its own key even when its
    /// API reports no default encryption rule (KEY-CUSTODY.md section 5).
    pub encrypts_at_rest_by_default: DefaultEncryption,
    pub source: String,
}

/// The providers table's `encrypts_at_rest_by_default` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultEncryption {
    /// Documented: every object is encrypted with a provider key, whatever the API reports.
    Yes,
    /// Documented: without a configured rule, objects are not encrypted by the provider.
    No,
    /// Not researched or not documented: an API answer of "not configured" is all we know.
    Unknown,
}

impl DefaultEncryption {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "yes" => Some(Self::Yes),
            "no" => Some(Self::No),
            "unknown" => Some(Self::Unknown),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReferenceTables {
    /// Keyed by (regions-table provider, region code).
    regions: HashMap<(String, String), Region>,
    providers: HashMap<String, ProviderInfo>,
}

#[derive(Deserialize)]
struct RegionRow {
    provider: String,
    region_code: String,
    display_name: String,
    country_iso2: String,
    in_eu_eea: String,
    #[serde(default)]
    comment: String,
}

#[derive(Deserialize)]
struct ProviderRow {
    provider: String,
    legal_parent: String,
    parent_hq_country: String,
    subject_to_us_cloud_act: String,
    // Required: an edited table from before this column must say it, not default to "no".
    encrypts_at_rest_by_default: String,
    #[serde(default)]
    source: String,
}

impl ReferenceTables {
    /// The tables shipped inside the binary.
    pub fn builtin() -> Result<Self, ReferenceError> {
        Self::parse(REGIONS_CSV, PROVIDERS_CSV)
    }

    pub fn parse(regions_csv: &str, providers_csv: &str) -> Result<Self, ReferenceError> {
        let mut regions = HashMap::new();
        let mut reader = csv::Reader::from_reader(regions_csv.as_bytes());
        for (i, row) in reader.deserialize::<RegionRow>().enumerate() {
            let row = row.map_err(|source| ReferenceError::Csv {
                table: "regions",
                source,
            })?;
            let eu = match row.in_eu_eea.trim() {
                "yes" => true,
                "no" => false,
                other => {
                    return Err(ReferenceError::Row {
                        table: "regions",
                        row: i + 2,
                        message: format!("in_eu_eea must be yes or no, found {other:?}"),
                    });
                }
            };
            regions.insert(
                (
                    row.provider.trim().to_owned(),
                    row.region_code.trim().to_owned(),
                ),
                Region {
                    country: row.country_iso2.trim().to_owned(),
                    eu,
                    display_name: row.display_name,
                    comment: row.comment,
                },
            );
        }
        let mut providers = HashMap::new();
        let mut reader = csv::Reader::from_reader(providers_csv.as_bytes());
        for (i, row) in reader.deserialize::<ProviderRow>().enumerate() {
            let row = row.map_err(|source| ReferenceError::Csv {
                table: "providers",
                source,
            })?;
            let by_default = row.encrypts_at_rest_by_default.trim();
            let encrypts_at_rest_by_default =
                DefaultEncryption::parse(by_default).ok_or_else(|| ReferenceError::Row {
                    table: "providers",
                    row: i + 2,
                    message: format!(
                        "encrypts_at_rest_by_default must be yes, no or unknown, found {by_default:?}"
                    ),
                })?;
            providers.insert(
                row.provider.trim().to_owned(),
                ProviderInfo {
                    legal_parent: row.legal_parent,
                    parent_hq_country: row.parent_hq_country,
                    cloud_act: row.subject_to_us_cloud_act.trim().to_owned(),
                    encrypts_at_rest_by_default,
                    source: row.source,
                },
            );
        }
        Ok(Self { regions, providers })
    }

    /// Looks a region up for a declared provider (`aws`, `microsoft-azure`, `ovhcloud`, ...).
    pub fn region(&self, provider: &str, code: &str) -> Option<&Region> {
        let table_provider = regions_table_provider(provider);
        let found = self
            .regions
            .get(&(table_provider.to_owned(), code.to_owned()));
        if found.is_some() || table_provider != "gcp" {
            return found;
        }
        // Cloud Storage spells regions in capitals ("EUROPE-WEST4"), Cloud KMS its
        // multi-regions in lower case ("europe"); the table holds regions in lower case under
        // `gcp` and multi- and dual-regions in capitals under `gcp-gcs`.
        self.regions
            .get(&("gcp".to_owned(), code.to_ascii_lowercase()))
            .or_else(|| {
                self.regions
                    .get(&("gcp-gcs".to_owned(), code.to_ascii_uppercase()))
            })
    }

    pub fn provider(&self, provider: &str) -> Option<&ProviderInfo> {
        self.providers.get(provider)
    }

    /// Every provider the providers table names.
    pub fn provider_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.providers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Every region code and every country the regions table names (a name an operator may
    /// filter by even when no store is there yet).
    pub fn region_codes_and_countries(&self) -> (Vec<&str>, Vec<&str>) {
        let mut regions: Vec<&str> = self.regions.keys().map(|(_, r)| r.as_str()).collect();
        let mut countries: Vec<&str> = self.regions.values().map(|r| r.country.as_str()).collect();
        for list in [&mut regions, &mut countries] {
            list.sort_unstable();
            list.dedup();
        }
        (regions, countries)
    }

    /// Whether `provider` encrypts at rest by default; `Unknown` for a provider not in the table.
    pub fn encrypts_at_rest_by_default(&self, provider: &str) -> DefaultEncryption {
        self.provider(provider)
            .map_or(DefaultEncryption::Unknown, |p| {
                p.encrypts_at_rest_by_default
            })
    }
}

/// The providers table names legal entities (`microsoft-azure`); the regions table names
/// region namespaces (`azure`). One mapping, here.
fn regions_table_provider(provider: &str) -> &str {
    match provider {
        "aws" | "aws-european-sovereign-cloud" => "aws",
        "microsoft-azure" => "azure",
        "google-cloud" => "gcp",
        "open-telekom-cloud" => "otc",
        "ovhcloud-us" => "ovhcloud",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tables_parse_and_answer_known_rows() {
        let t = ReferenceTables::builtin().expect("shipped tables parse");
        let frankfurt = t.region("aws", "eu-central-1").expect("eu-central-1");
        assert_eq!((frankfurt.country.as_str(), frankfurt.eu), ("DE", true));
        let virginia = t.region("aws", "us-east-1").expect("us-east-1");
        assert_eq!((virginia.country.as_str(), virginia.eu), ("US", false));
        let amsterdam = t
            .region("microsoft-azure", "westeurope")
            .expect("westeurope");
        assert_eq!((amsterdam.country.as_str(), amsterdam.eu), ("NL", true));
        assert_eq!(t.provider("aws").expect("aws").cloud_act, "yes");
        assert_eq!(t.provider("scaleway").expect("scaleway").cloud_act, "no");
        assert!(t.region("aws", "mars-north-1").is_none());
    }

    #[test]
    fn unverified_marks_are_kept() {
        let t = ReferenceTables::builtin().expect("shipped tables parse");
        // (region, whether its location is marked unverified)
        for (provider, region, unverified) in [
            ("aws", "us-iso-east-1", true),               // "country unverified"
            ("microsoft-azure", "jioindiacentral", true), // bare mark on a listing source
            ("aws", "eu-west-1", false),                  // "city unverified" only
            ("aws", "ap-southeast-5", false), // "city not in AWS region name; unverified"
            ("aws", "eu-central-1", false),
        ] {
            let row = t.region(provider, region).expect("row");
            assert_eq!(row.unverified(), unverified, "{region}: {}", row.comment);
            assert!(!unverified || row.comment.contains("unverified"));
        }
    }

    #[test]
    fn default_encryption_comes_from_the_providers_table() {
        let t = ReferenceTables::builtin().expect("shipped tables parse");
        // (provider, documented default encryption at rest)
        for (provider, expect) in [
            ("aws", DefaultEncryption::Yes),
            ("aws-european-sovereign-cloud", DefaultEncryption::Yes),
            ("exoscale", DefaultEncryption::Yes),
            ("stackit", DefaultEncryption::Yes),
            ("ovhcloud", DefaultEncryption::No),
            ("scaleway", DefaultEncryption::No),
            ("ionos", DefaultEncryption::No),
            ("hetzner", DefaultEncryption::Unknown),
            ("not-in-the-table", DefaultEncryption::Unknown),
        ] {
            assert_eq!(
                t.encrypts_at_rest_by_default(provider),
                expect,
                "{provider}"
            );
        }
    }

    #[test]
    fn a_providers_table_without_or_with_a_bad_default_encryption_is_an_error() {
        let old = "provider,legal_parent,parent_hq_country,subject_to_us_cloud_act,notes,source\n\
                   aws,Amazon,US,yes,,\n";
        let err = ReferenceTables::parse(REGIONS_CSV, old).unwrap_err();
        assert!(
            err.to_string().contains("encrypts_at_rest_by_default"),
            "{err}"
        );
        let bad = "provider,legal_parent,parent_hq_country,subject_to_us_cloud_act,encrypts_at_rest_by_default,notes,source\n\
                   aws,Amazon,US,yes,maybe,,\n";
        assert_eq!(
            ReferenceTables::parse(REGIONS_CSV, bad)
                .unwrap_err()
                .to_string(),
            "providers table row 2: encrypts_at_rest_by_default must be yes, no or unknown, found \"maybe\""
        );
    }

    #[test]
    fn a_bad_eu_flag_is_a_clear_error() {
        let err = ReferenceTables::parse(
            "provider,region_code,display_name,country_iso2,in_eu_eea,city,comment\naws,x,X,DE,maybe,,\n",
            PROVIDERS_CSV,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "regions table row 2: in_eu_eea must be yes or no, found \"maybe\""
        );
    }
}
