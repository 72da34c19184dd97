//! The command line's parsing.

use super::*;
use crate::api::filter::parse_custody;
use landmeter_proto::Custody;

#[test]
fn custody_labels_parse_with_a_helpful_error() {
    assert_eq!(parse_custody("byok"), Ok(Custody::Byok));
    let err = parse_custody("kms").unwrap_err();
    assert!(
        err.contains(
            "expected one of unknown, none, provider, customer-managed, byok, dedicated-hsm, hyok"
        ),
        "{err}"
    );
}

#[test]
fn filter_flags_map_to_the_wire_filter() {
    let cli = Cli::try_parse_from([
        "landmeter",
        "stores",
        "--country",
        "de,nl",
        "--eu",
        "false",
        "--custody-at-most",
        "provider",
        "--replicated-outside-eu",
        "true",
        "--classification",
        "BBN2",
    ])
    .expect("parses");
    let Command::Stores { filter, .. } = cli.command else {
        panic!("stores")
    };
    let f = filter.to_filter();
    assert_eq!(f.countries, ["DE", "NL"]);
    assert_eq!(f.eu, Some(false));
    assert_eq!(f.custody_at_most(), Custody::Provider);
    assert_eq!(f.custody_at_least(), Custody::Unspecified);
    assert_eq!(f.replicated_outside_eu, Some(true));
    assert_eq!(f.classifications, ["BBN2"]);
}
