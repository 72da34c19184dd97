//! The filter grammar: which stores a query selects, as flags (`--country DE,NL --eu
//! false`) or as HTTP query parameters (`?country=DE,NL&eu=false`): one parser, one set of
//! error messages. The CLI is one client of it, the HTTP API another.

use clap::Args;

use landmeter_proto::v1::{StoreFilter, StoreKind};
use landmeter_proto::{Custody, dimension};

/// Store filters shared by `stores` and `summary`. Lists take commas or repeated flags.
#[derive(Debug, Args, Default, Clone)]
pub struct FilterArgs {
    #[arg(long, value_delimiter = ',')]
    pub provider: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub account: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub region: Vec<String>,
    /// ISO 3166 alpha-2 country codes.
    #[arg(long, value_delimiter = ',')]
    pub country: Vec<String>,
    /// Only stores in (true) or outside (false) the EU/EEA, or whose location is unknown.
    /// true/false select known values only: an unknown location is never "outside".
    #[arg(long)]
    pub eu: Option<Tri>,
    /// Custody at least this level: unknown, none, provider, customer-managed, byok, dedicated-hsm, hyok.
    #[arg(long, value_parser = parse_custody)]
    pub custody_at_least: Option<Custody>,
    /// Custody at most this level (e.g. `provider` finds stores whose keys the provider holds).
    #[arg(long, value_parser = parse_custody)]
    pub custody_at_most: Option<Custody>,
    #[arg(long, value_delimiter = ',')]
    pub classification: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub process: Vec<String>,
    /// Only stores that replicate (true) or do not replicate (false) outside the EU/EEA, or
    /// whose replication could not be read (unknown; never counted as false).
    #[arg(long)]
    pub replicated_outside_eu: Option<Tri>,
    /// Only stores whose provider's parent is (true) or is not (false) within the reach of
    /// the US CLOUD Act, or unknown. "unclear" parents count as true (exposed until a legal
    /// review says otherwise).
    #[arg(long)]
    pub cloud_act: Option<Tri>,
    /// Only stores for which each of these dimensions is unknown: location, replication,
    /// classification, process, key-location, custody, cloud-act, size.
    #[arg(long, value_delimiter = ',', value_parser = parse_dimension)]
    pub unknown: Vec<String>,
    /// Store kinds: bucket, storage-account, container, database, table, volume, snapshot,
    /// file-system, backup-vault, log-group.
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    pub kind: Vec<String>,
    /// Include stores no longer seen by a complete scan.
    #[arg(long)]
    pub include_gone: bool,
}

impl FilterArgs {
    pub fn to_filter(&self) -> StoreFilter {
        StoreFilter {
            providers: self.provider.clone(),
            accounts: self.account.clone(),
            regions: self.region.clone(),
            countries: self
                .country
                .iter()
                .map(|c| c.to_ascii_uppercase())
                .collect(),
            eu: self.eu.and_then(Tri::known),
            custody_at_least: self.custody_at_least.unwrap_or(Custody::Unspecified) as i32,
            custody_at_most: self.custody_at_most.unwrap_or(Custody::Unspecified) as i32,
            classifications: self.classification.clone(),
            processes: self.process.clone(),
            replicated_outside_eu: self.replicated_outside_eu.and_then(Tri::known),
            include_gone: self.include_gone,
            cloud_act: self.cloud_act.and_then(Tri::known),
            kinds: self.kind.clone(),
            unknown: self.unknown_dimensions(),
        }
    }

    /// `--unknown`, plus the dimensions the yes/no flags ask to be unknown.
    fn unknown_dimensions(&self) -> Vec<String> {
        let mut out = self.unknown.clone();
        for (flag, dim) in [
            (self.eu, dimension::LOCATION),
            (self.replicated_outside_eu, dimension::REPLICATION),
            (self.cloud_act, dimension::CLOUD_ACT),
        ] {
            if flag == Some(Tri::Unknown) && !out.iter().any(|d| d == dim) {
                out.push(dim.to_owned());
            }
        }
        out
    }
}

/// A yes/no filter with unknown as a value of its own (unknown is never "no").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn known(self) -> Option<bool> {
        match self {
            Tri::True => Some(true),
            Tri::False => Some(false),
            Tri::Unknown => None,
        }
    }
}

/// Checks a dimension name of `--unknown`, with the valid ones in the error.
pub fn parse_dimension(s: &str) -> Result<String, String> {
    let s = s.trim();
    dimension::ALL
        .iter()
        .find(|d| **d == s)
        .map(|d| (*d).to_owned())
        .ok_or_else(|| {
            format!(
                "unknown dimension {s:?}; expected one of {}",
                dimension::ALL.join(", ")
            )
        })
}

/// Checks a store kind label, with the list of valid ones in the error (a misspelt kind
/// would otherwise select nothing, silently).
pub fn parse_kind(s: &str) -> Result<String, String> {
    let s = s.trim();
    match StoreKind::from_label(s) {
        Some(k) => Ok(k.label().to_owned()),
        None => {
            let labels: Vec<&str> = StoreKind::ALL.iter().map(|k| k.label()).collect();
            Err(format!(
                "unknown store kind {s:?}; expected one of {}",
                labels.join(", ")
            ))
        }
    }
}

/// Parses a custody level label, with the list of valid ones in the error.
pub fn parse_custody(s: &str) -> Result<Custody, String> {
    Custody::from_label(s.trim()).ok_or_else(|| {
        let labels: Vec<&str> = Custody::LADDER.iter().map(|c| c.label()).collect();
        format!(
            "unknown custody level {s:?}; expected one of {}",
            labels.join(", ")
        )
    })
}

/// Query parameters as the CLI's filter flags (`?country=DE,NL&eu=false` is
/// `--country DE,NL --eu false`): one parser, one set of error messages.
pub fn from_query(pairs: &[(String, String)]) -> Result<StoreFilter, tonic::Status> {
    #[derive(clap::Parser)]
    #[command(no_binary_name = true)]
    struct Query {
        #[command(flatten)]
        filter: FilterArgs,
    }
    // `tenant` narrows the caller's scope instead (see `insight::narrow`).
    const NOT_FILTERS: [&str; 13] = [
        "page_token",
        "page_size",
        "by",
        "since_ms",
        "after_id",
        "tenant",
        "expand",
        "group",
        "from",
        "to",
        "bandwidth_mbps",
        "on",
        "format",
    ];
    let mut args = Vec::new();
    for (k, v) in pairs
        .iter()
        .filter(|(k, _)| !NOT_FILTERS.contains(&k.as_str()))
    {
        let flag = format!("--{}", k.replace('_', "-"));
        if k == "include_gone" {
            if v == "true" {
                args.push(flag);
            }
        } else {
            args.push(flag);
            args.push(v.clone());
        }
    }
    <Query as clap::Parser>::try_parse_from(args)
        .map(|q| q.filter.to_filter())
        .map_err(|e| {
            tonic::Status::invalid_argument(
                e.render()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<StoreFilter, tonic::Status> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_query(&pairs)
    }

    #[test]
    fn unknown_is_a_value_of_its_own_never_false() {
        let f = query(&[("replicated_outside_eu", "false")]).expect("valid");
        assert_eq!((f.replicated_outside_eu, f.unknown.len()), (Some(false), 0));
        let f = query(&[("replicated_outside_eu", "unknown"), ("eu", "unknown")]).expect("valid");
        assert_eq!(f.replicated_outside_eu, None);
        assert_eq!(f.eu, None);
        assert_eq!(f.unknown, ["location", "replication"]);
        let f = query(&[("unknown", "classification,size")]).expect("valid");
        assert_eq!(f.unknown, ["classification", "size"]);
        let err = query(&[("unknown", "colour")]).expect_err("not a dimension");
        assert!(
            err.message().contains("expected one of location"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn kinds_are_checked_against_the_known_labels() {
        let f = query(&[("kind", "bucket,container"), ("tenant", "t")]).expect("valid");
        assert_eq!(f.kinds, ["bucket", "container"]);
        let err = query(&[("kind", "buckets")]).expect_err("misspelt");
        assert!(
            err.message()
                .contains("expected one of bucket, storage-account"),
            "{}",
            err.message()
        );
    }
}
