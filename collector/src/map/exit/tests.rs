//! Hand-computed cases of the exit scenario: each figure below is worked out in the comment
//! beside it from the shipped tables (collector/data/egress.csv, key-managers.csv,
//! exchange-rates.csv).

use landmeter_proto::Custody;
use landmeter_proto::v1::{ReplicationTarget, StoreView};
use time::macros::date;

use super::egress::{DataActPhase, tiered};
use super::prices::{EgressLadder, EgressUnit, ExternalKeyManager, parse_tiers};
use super::*;

fn prices() -> PriceTable {
    PriceTable::builtin().expect("prices")
}

const DAY: Date = date!(2026 - 12 - 01);

fn store(provider: &str, bytes: Option<i64>, custody: Custody, key: &str) -> StoreView {
    StoreView {
        provider: provider.into(),
        bytes,
        objects: bytes.map(|_| 10),
        custody: custody as i32,
        key_arn: key.into(),
        ..StoreView::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn shipped_tables_parse_with_unknowns_kept_unknown() {
    let t = prices();
    let aws = t.price("aws").expect("aws");
    assert_eq!(aws.storage_per_gb_month, Some(0.0245));
    assert_eq!(aws.egress.unit, EgressUnit::Gb);
    assert_eq!(aws.egress.free_per_month, Some(100.0));
    assert_eq!(aws.egress.tiers.len(), 4);
    assert_eq!(
        t.price("microsoft-azure").expect("azure").egress.unit,
        EgressUnit::Gib
    );
    let ovh = t.price("ovhcloud").expect("ovh");
    assert_eq!(ovh.storage_per_gb_month, None);
    assert!(ovh.egress.tiers.is_empty(), "no sourced egress price");
    assert_eq!(ovh.egress.free_per_month, None, "unknown, not 0");
    assert_eq!(ovh.free_exit, None);
    assert_eq!(
        t.price("hetzner").expect("hetzner").storage_per_gb_month,
        Some(0.0049)
    );
    assert!(
        t.data_act_note.contains("no switching charges"),
        "{}",
        t.data_act_note
    );
    // Each ladder's first paid tier is the research's "first paid tier" column.
    let mut reader = csv::Reader::from_reader(PRICES_CSV.as_bytes());
    let header = reader.headers().expect("header").clone();
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (provider, first_paid) = (
        column("provider"),
        column("egress_internet_first_paid_tier_per_gb"),
    );
    let mut checked = 0;
    for row in reader.records().map(|r| r.expect("row")) {
        let Some(p) = t.price(&row[provider]) else {
            continue;
        };
        if let (Some(tier), Some(listed)) = (
            p.egress.tiers.first(),
            prices::leading_number(&row[first_paid]),
        ) {
            assert_eq!(tier.price, Some(listed), "{}", &row[provider]);
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "aws, azure and google's two rows");
}

#[test]
fn the_key_manager_table_marks_the_european_targets_without_one() {
    let t = prices();
    let support = |p: &str| t.key_manager(p).external_key_manager;
    assert_eq!(support("aws"), ExternalKeyManager::Yes);
    assert_eq!(support("google-cloud"), ExternalKeyManager::Yes);
    assert_eq!(support("microsoft-azure"), ExternalKeyManager::Preview);
    for eu in [
        "ovhcloud",
        "scaleway",
        "ionos",
        "stackit",
        "hetzner",
        "open-telekom-cloud",
        "exoscale",
    ] {
        assert_eq!(support(eu), ExternalKeyManager::No, "{eu}");
        assert!(!t.key_manager(eu).source.is_empty(), "{eu} has a source");
    }
    assert_eq!(
        support("a-provider-not-in-the-table"),
        ExternalKeyManager::Unknown
    );
}

/// Every provider of the price table is offered as a target, with its S3 API notes and its
/// external key manager support; the provider left is not among them.
#[test]
fn every_priced_provider_is_a_target_with_s3_notes_and_key_manager_support() {
    let t = prices();
    let x = exit_scenario(
        &[store("aws", Some(1_000), Custody::Hyok, "k")],
        "aws",
        "ovhcloud",
        100.0,
        &t,
        date!(2026 - 12 - 06),
    );
    let names: Vec<&str> = x.targets.iter().map(|t| t.provider.as_str()).collect();
    for p in [
        "aws-european-sovereign-cloud",
        "exoscale",
        "google-cloud",
        "hetzner",
        "ionos",
        "microsoft-azure",
        "open-telekom-cloud",
        "ovhcloud",
        "scaleway",
        "stackit",
    ] {
        assert!(names.contains(&p), "{p} not offered: {names:?}");
    }
    assert!(!names.contains(&"aws"), "the provider left is no target");
    assert!(!names.contains(&"eu-data-act"), "a rule, not a provider");
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    for target in &x.targets {
        assert!(
            !target.s3_api.is_empty(),
            "{} has S3 API notes",
            target.provider
        );
    }
    let hetzner = x
        .targets
        .iter()
        .find(|t| t.provider == "hetzner")
        .expect("hetzner");
    assert_eq!(hetzner.external_key_manager, ExternalKeyManager::No);
    assert!(
        hetzner.s3_api.contains("no replication"),
        "{}",
        hetzner.s3_api
    );
    let google = x
        .targets
        .iter()
        .find(|t| t.provider == "google-cloud")
        .expect("gcp");
    assert_eq!(google.external_key_manager, ExternalKeyManager::Yes);
    assert!(google.s3_api.starts_with("not S3"), "{}", google.s3_api);
    // The chosen target's notes are the scenario's.
    assert!(
        x.keys.target.s3_api.contains("ovh"),
        "{}",
        x.keys.target.s3_api
    );
}

#[test]
fn a_conversion_names_its_rate_and_date() {
    let t = prices();
    // ECB 2026-10-30: 1 EUR = 1.1172 USD, so 111.72 USD = 100 EUR.
    let eur = t.to_eur(111.72, "USD").expect("a rate");
    assert!(close(eur.amount, 100.0), "{}", eur.amount);
    let rate = eur.rate.expect("converted");
    assert_eq!((rate.per_eur, rate.date.as_str()), (1.1172, "2026-10-30"));
    assert_eq!(
        t.to_eur(5.0, "EUR").expect("eur").rate,
        None,
        "no conversion"
    );
    assert_eq!(t.to_eur(5.0, "CHF"), None, "no rate: unknown, not 5");
}

#[test]
fn a_ladder_must_be_contiguous_from_zero() {
    assert!(parse_tiers("0-10:0.1;10-:0.05").is_ok());
    assert_eq!(parse_tiers("").expect("empty"), vec![]);
    for bad in [
        "5-10:0.1",
        "0-10:0.1;20-:0.05",
        "0-10:x",
        "0-10",
        "10-0:0.1",
        "0-10:0.1;10-:?;20-:1",
    ] {
        assert!(parse_tiers(bad).is_err(), "{bad}");
    }
}

/// Tiered egress across tier boundaries, one case a line: (ladder, volume in its unit,
/// list price or None, known part).
#[test]
fn tiered_egress_across_tier_boundaries() {
    let t = prices();
    let ladder = |p: &str| t.price(p).expect(p).egress.clone();
    let (aws, azure, google) = (
        ladder("aws"),
        ladder("microsoft-azure"),
        ladder("google-cloud"),
    );
    let cases: [(&EgressLadder, f64, Option<f64>, f64); 8] = [
        // Inside the free 100 GB.
        (&aws, 50.0, Some(0.0), 0.0),
        // 150 GB: 50 GB over the allowance x 0.09.
        (&aws, 150.0, Some(4.5), 4.5),
        // Exactly the first tier's end: 10,140 GB x 0.09 = 912.60.
        (&aws, 10_240.0, Some(912.6), 912.6),
        // 60,000 GB: 10,140 x 0.09 + 40,960 x 0.085 + 8,800 x 0.07 = 912.60 + 3,481.60 + 616.00.
        (&aws, 60_000.0, Some(5_010.2), 5_010.2),
        // 200,000 GB: 912.60 + 3,481.60 + 102,400 x 0.07 + 46,400 x 0.05 = 7,168 + 2,320.
        (&aws, 200_000.0, Some(13_882.2), 13_882.2),
        // Azure, 20 TiB: 10,140 GiB x 0.087 + 10,240 GiB x 0.083 (the fixture's own case).
        (
            &azure,
            20_480.0,
            Some(10_140.0 * 0.087 + 10_240.0 * 0.083),
            10_140.0 * 0.087 + 10_240.0 * 0.083,
        ),
        // Google, 5 TiB, no free allowance in the EU: 5,120 GiB x 0.12 = 614.40.
        (&google, 5_120.0, Some(614.4), 614.4),
        // Google, 20 TiB: the tier above 10 TiB is unsourced: unknown, 10,240 x 0.12 known.
        (&google, 20_480.0, None, 1_228.8),
    ];
    for (ladder, volume, list, known) in cases {
        let (_, got, got_known) = tiered(volume, ladder);
        match (got, list) {
            (Some(g), Some(l)) => assert!(close(g, l), "{volume}: {g} != {l}"),
            (g, l) => assert_eq!(g, l, "{volume}"),
        }
        assert!(
            close(got_known, known),
            "{volume}: known part {got_known} != {known}"
        );
    }
    // A provider without a sourced price: unknown above its allowance, 0 within it.
    let hetzner = ladder("hetzner");
    assert_eq!(
        tiered(999.0, &hetzner).1,
        Some(0.0),
        "inside the included 1 TB"
    );
    assert_eq!(tiered(1_001.0, &hetzner).1, None);
    assert_eq!(tiered(10.0, &ladder("ovhcloud")).1, None);
}

#[test]
fn an_exit_names_the_tiers_it_reaches_and_the_unsourced_ones() {
    let t = prices();
    // 20 TiB at Google.
    let bytes = 20 * 1024_i64.pow(4);
    let e = EgressFigures::of(bytes, t.price("google-cloud"), DAY);
    assert_eq!(e.currency, "USD");
    assert!(close(e.volume, 20_480.0));
    assert_eq!(e.tiers.len(), 2);
    assert_eq!(e.list_price, None);
    assert_eq!(e.unsourced_tiers(), ["10240+ GiB"]);
    // The Data Act's upper bound is the list price: unknown too.
    assert_eq!((e.data_act.amount, e.data_act.upper_bound), (None, None));
}

#[test]
fn a_free_exit_programme_waives_egress_with_its_conditions() {
    let t = prices();
    for (provider, date) in [
        ("aws", "2024-03"),
        ("microsoft-azure", "2024-03-13"),
        ("google-cloud", "2024-01-11"),
    ] {
        // 5 TB: inside every ladder's sourced tiers.
        let e = EgressFigures::of(5_000_000_000_000, t.price(provider), DAY);
        assert_eq!(e.free_exit_amount(), Some(0.0), "{provider}");
        let programme = e.free_exit.as_ref().expect("programme");
        assert!(
            programme.conditions.contains("60 days"),
            "{provider}: {}",
            programme.conditions
        );
        assert_eq!(programme.date, date);
        assert!(!programme.source.is_empty());
        // The list price stays beside it: the waiver is a separate figure.
        assert!(e.list_price.is_some_and(|p| p > 0.0), "{provider}");
    }
    let ovh = EgressFigures::of(1, t.price("ovhcloud"), DAY);
    assert_eq!(
        ovh.free_exit_amount(),
        None,
        "none published: no waiver assumed"
    );
}

#[test]
fn the_data_act_figure_before_and_after_12_january_2027() {
    let t = prices();
    // 60,000 GB out of AWS: 5,010.20 USD at list price (above).
    let on = |day: Date| EgressFigures::of(60_000_000_000_000, t.price("aws"), day).data_act;
    let before = on(date!(2027 - 01 - 11));
    assert_eq!(before.phase, DataActPhase::AtMostCost);
    assert_eq!(before.amount, None, "cost is not published");
    assert!(close(before.upper_bound.expect("bounded"), 5_010.2));
    assert!(before.text().contains("list price is an upper bound"));
    let after = on(date!(2027 - 01 - 12));
    assert_eq!(after.phase, DataActPhase::NoSwitchingCharges);
    assert_eq!((after.amount, after.upper_bound), (Some(0.0), Some(0.0)));
    let early = on(date!(2024 - 01 - 10));
    assert_eq!(early.phase, DataActPhase::NotYetApplicable);
    assert!(close(early.amount.expect("list"), 5_010.2));
    assert_eq!(on(date!(2024 - 01 - 11)).phase, DataActPhase::AtMostCost);
    // The scenario takes the day it is given.
    let stores = [store(
        "aws",
        Some(60_000_000_000_000),
        Custody::Provider,
        "",
    )];
    let x = |day| exit_scenario(&stores, "aws", "ovhcloud", 1000.0, &t, day);
    assert_eq!(x(date!(2027 - 01 - 11)).egress.data_act.amount, None);
    assert_eq!(x(date!(2027 - 01 - 12)).egress.data_act.amount, Some(0.0));
}

#[test]
fn keys_are_counted_once_however_many_stores_they_protect() {
    const SHARED: &str = "arn:aws:kms:eu-central-1:111122223333:key/shared";
    const OTHER: &str = "arn:aws:kms:eu-central-1:111122223333:key/other";
    const HSM: &str = "arn:aws:kms:eu-central-1:111122223333:key/hsm";
    const IMPORTED: &str = "arn:aws:kms:eu-central-1:111122223333:key/imported";
    const UNDESCRIBED: &str = "arn:aws:kms:eu-central-1:999999999999:key/denied";
    let stores = [
        // Three stores under one customer-managed key: one key.
        store("aws", Some(1), Custody::CustomerManaged, SHARED),
        store("aws", Some(2), Custody::CustomerManaged, SHARED),
        store("aws", None, Custody::CustomerManaged, SHARED),
        store("aws", Some(4), Custody::CustomerManaged, OTHER),
        store("aws", Some(8), Custody::DedicatedHsm, HSM),
        // SSE-S3 names no key: two stores, no key id.
        store("aws", Some(16), Custody::Provider, ""),
        store("aws", Some(32), Custody::Provider, ""),
        store("aws", Some(64), Custody::Byok, IMPORTED),
        store("aws", Some(64), Custody::Byok, IMPORTED),
        store("aws", Some(128), Custody::None, ""),
        // Unknown custody, one with a key ARN that could not be described.
        store("aws", None, Custody::Unknown, UNDESCRIBED),
        store("aws", Some(256), Custody::Unknown, ""),
        store(
            "microsoft-azure",
            Some(1),
            Custody::CustomerManaged,
            "https://v.vault.azure.net/keys/k",
        ),
    ];
    let x = exit_scenario(&stores, "aws", "ovhcloud", 1000.0, &prices(), DAY);
    let k = &x.keys;
    // shared, other (customer-managed) and hsm (dedicated HSM): three keys, not six stores.
    assert_eq!(k.keys_to_recreate(), 3);
    assert_eq!(k.recreated_stores_without_key_id(), 2, "the SSE-S3 stores");
    assert_eq!(k.keys_reimport_if_escrowed(), 1);
    assert_eq!(k.stores_without_key(), 1);
    let unknown = k.custody_unknown().expect("counted apart");
    assert_eq!(
        (
            unknown.stores,
            unknown.keys.len(),
            unknown.stores_without_key_id
        ),
        (2, 1, 1)
    );
    let cmk = k
        .groups
        .iter()
        .find(|g| g.custody == Custody::CustomerManaged)
        .expect("customer-managed");
    assert_eq!(
        (
            cmk.stores,
            cmk.keys.len(),
            cmk.bytes,
            cmk.stores_size_unknown
        ),
        (4, 2, 7, 1)
    );
    assert_eq!(cmk.fate, KeyFate::Recreated);
    // Ladder order, each level once, the Azure store not among them.
    let levels: Vec<Custody> = k.groups.iter().map(|g| g.custody).collect();
    assert_eq!(
        levels,
        [
            Custody::Unknown,
            Custody::None,
            Custody::Provider,
            Custody::CustomerManaged,
            Custody::Byok,
            Custody::DedicatedHsm
        ]
    );
    assert!(k.hyok().is_none());
    assert_eq!(
        k.hyok_lost(),
        Some(keys::Lost::default()),
        "no HYOK: nothing lost"
    );
}

#[test]
fn hyok_falls_to_provider_held_keys_at_a_target_without_an_external_key_manager() {
    const XKS: &str = "arn:aws:kms:eu-central-1:111122223333:key/xks";
    let stores = [
        store("aws", Some(1_000), Custody::Hyok, XKS),
        store("aws", Some(2_000), Custody::Hyok, XKS),
        store("aws", None, Custody::Hyok, XKS),
        store("aws", Some(5), Custody::Provider, ""),
    ];
    let t = prices();
    let to = |target: &str| exit_scenario(&stores, "aws", target, 1000.0, &t, DAY).keys;
    // OVHcloud has no external key manager: 3 stores, 3,000 known bytes (one size unknown)
    // fall to provider-held keys; the one XKS key is not re-created, it is lost.
    let ovh = to("ovhcloud");
    let lost = ovh.hyok_lost().expect("known at ovhcloud");
    assert_eq!(
        (lost.stores, lost.bytes, lost.stores_size_unknown),
        (3, 3_000, 1)
    );
    let hyok = ovh.hyok().expect("hyok");
    assert_eq!(
        (hyok.fate, hyok.keys.len()),
        (KeyFate::FallsToProviderHeldKeys, 1)
    );
    assert_eq!(ovh.target.external_key_manager, ExternalKeyManager::No);
    assert_eq!(ovh.keys_to_recreate(), 0, "SSE-S3 names no key");
    // Google keeps keys in Cloud EKM: nothing lost.
    let google = to("google-cloud");
    assert_eq!(google.hyok_lost(), Some(keys::Lost::default()), "none lost");
    assert_eq!(
        google.hyok().expect("hyok").fate,
        KeyFate::KeptInExternalKeyManager
    );
    // Azure's external keys are a preview, a provider not in the table is unknown: neither
    // is counted as kept or as lost.
    for target in ["microsoft-azure", "somewhere-new"] {
        let k = to(target);
        assert_eq!(k.hyok_lost(), None, "{target}: unknown, not none");
        assert_eq!(
            k.hyok().expect("hyok").fate,
            KeyFate::UnknownAtTarget,
            "{target}"
        );
    }
}

#[test]
fn exit_figures_match_a_hand_computed_case() {
    let mut stores = [
        store("aws", Some(100_000_000_000), Custody::Provider, ""),
        store(
            "aws",
            Some(50_000_000_000),
            Custody::Byok,
            "arn:aws:kms:eu-central-1:1:key/b",
        ),
        store(
            "aws",
            None,
            Custody::CustomerManaged,
            "arn:aws:kms:eu-central-1:1:key/c",
        ),
        store(
            "aws",
            Some(1),
            Custody::Hyok,
            "arn:aws:kms:eu-central-1:1:key/h",
        ),
        store("microsoft-azure", Some(999), Custody::Provider, ""),
    ];
    stores[0].replication = vec![ReplicationTarget::default()];
    stores[3].replication = vec![ReplicationTarget::default(); 2];
    let x = exit_scenario(&stores, "aws", "ovhcloud", 1000.0, &prices(), DAY);
    assert_eq!(
        (x.stores, x.bytes, x.objects, x.stores_without_size),
        (4, 150_000_000_001, 30, 1)
    );
    assert_eq!(x.stores_objects_unknown, 1, "unknown, not 0 objects");
    // 150 GB, the first 100 GB free: 50.000000001 GB x 0.09 USD egress; 150 GB x 0.0245
    // USD/GB-month storage; OVHcloud's storage price unknown.
    let gb = 150_000_000_001.0 / 1e9;
    assert_eq!(x.egress.currency, "USD");
    assert!(close(
        x.egress.list_price.expect("known"),
        (gb - 100.0) * 0.09
    ));
    assert!(close(
        x.monthly_storage_cost_now.expect("known"),
        gb * 0.0245
    ));
    assert_eq!(x.monthly_storage_cost_after, None, "unknown, not zero");
    // 150 GB x 8 bit / 1 Gbit/s = 1200 s.
    assert!((x.transfer_hours - 1200.000000008 / 3600.0).abs() < 1e-9);
    // The customer-managed key is re-created; the BYOK key re-imported if escrowed; the
    // HYOK store loses its external key manager at OVHcloud.
    assert_eq!(x.keys.keys_to_recreate(), 1);
    assert_eq!(x.keys.keys_reimport_if_escrowed(), 1);
    assert_eq!(
        x.keys.hyok_lost().map(|g| (g.stores, g.bytes)),
        Some((1, 1))
    );
    assert_eq!(x.replication_edges, 3);
    assert_eq!(x.lock_in, LockIn::default(), "no lock-in facts, none found");
    assert_eq!(x.on, DAY);
}

#[test]
fn days_come_from_unix_ms_and_from_text() {
    assert_eq!(day_of_ms(1_799_712_000_000), date!(2027 - 01 - 12));
    assert_eq!(day_of_ms(1_799_711_999_999), date!(2027 - 01 - 11));
    assert_eq!(parse_day("2027-01-12"), Ok(date!(2027 - 01 - 12)));
    assert!(parse_day("12-01-2027").is_err());
    assert!(parse_day("2027-02-30").is_err());
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
        date!(2026 - 12 - 01),
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

/// Each kind at its own price: 100 GB of RDS storage at 0.115 USD, 200 GB of EBS gp3 at 0.08
/// and 10 GB of S3 at 0.0245 (collector/data/kind-prices.csv, egress.csv); a kind the table
/// does not price (an Azure managed disk) or a target without per-kind prices is unknown.
#[test]
fn every_kind_is_priced_at_its_own_rate_and_an_unpriced_kind_is_unknown() {
    let t = prices();
    assert_eq!(
        t.storage_price("aws", "bucket")
            .and_then(|p| p.storage_per_gb_month),
        Some(0.0245),
        "object storage keeps the provider's S3 price"
    );
    assert_eq!(
        t.storage_price("aws", "database")
            .and_then(|p| p.storage_per_gb_month),
        Some(0.115)
    );
    assert_eq!(t.storage_price("microsoft-azure", "volume"), None);
    assert_eq!(t.storage_price("ovhcloud", "database"), None);
    let of = |kind: &str, bytes: i64| StoreView {
        kind: kind.into(),
        ..store("aws", Some(bytes), Custody::Provider, "")
    };
    let stores = [
        of("database", 100_000_000_000),
        of("volume", 200_000_000_000),
        of("bucket", 10_000_000_000),
    ];
    let x = exit_scenario(&stores, "aws", "hetzner", 1000.0, &t, DAY);
    assert!(close(
        x.monthly_storage_cost_now.expect("every kind priced"),
        100.0 * 0.115 + 200.0 * 0.08 + 10.0 * 0.0245
    ));
    assert_eq!(
        x.monthly_storage_cost_after, None,
        "Hetzner's database and volume prices are not in the table: unknown, not its S3 price"
    );
    let buckets = exit_scenario(&stores[2..], "aws", "hetzner", 1000.0, &t, DAY);
    assert!(close(
        buckets
            .monthly_storage_cost_after
            .expect("object storage priced"),
        10.0 * 0.0049
    ));
}
