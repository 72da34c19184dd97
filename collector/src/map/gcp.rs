//! Google Cloud interpretation: Cloud Storage buckets and the Cloud KMS keys behind them.
//!
//! Location: a bucket's `location` is a region (`EUROPE-WEST4`), a multi-region (`EU`, `US`,
//! `ASIA`) or a dual-region (`EUR4`, `NAM4`, or a multi-region code whose members the agent
//! reports from `customPlacementConfig.dataLocations`). The regions table holds regions in
//! lower case under `gcp` and the multi- and dual-region codes under `gcp-gcs`
//! (`reference.rs`). Every member region of a dual-region holds the data: each is a copy,
//! from the agent's `Replication` fact (configurable dual-regions) or from
//! [`predefined_dual_region`] (Google's predefined pairs), so a member outside the EU makes the
//! bucket replicated outside the EU.
//!
//! Custody (KEY-CUSTODY.md 3.2), from the key's primary version: no default KMS key ->
//! provider (Google default encryption); `SOFTWARE` -> customer-managed; `HSM` ->
//! customer-managed, HSM-backed (multi-tenant Cloud HSM); an imported version (import job)
//! -> byok; `HSM_SINGLE_TENANT` -> dedicated-hsm; `EXTERNAL` / `EXTERNAL_VPC` (Cloud EKM)
//! -> hyok, with the external key manager's host or the EKM connection as a modifier. A key
//! that could not be read is unknown with the reason. The key ring's location is where the
//! key is (a jurisdiction of the store); `global` is not pinned to a region.

use landmeter_proto::Custody;
use landmeter_proto::v1::{Encryption, EncryptionState, Key, Store, StoreKind};

use super::custody::{CustodyDecision, CustodyInput, KeyEvidence, gap_text};

/// `Key.key_service` of a Cloud KMS key (as the agent reports it).
pub const KEY_SERVICE: &str = "cloudkms.googleapis.com";

/// A Cloud Storage bucket.
pub fn is_gcs_bucket(store: &Store) -> bool {
    store.kind() == StoreKind::Bucket && store.service == "gcs-bucket"
}

/// A Cloud KMS key resource name (`projects/P/locations/L/keyRings/R/cryptoKeys/K`).
pub fn is_kms_key_name(key_ref: &str) -> bool {
    key_ref.starts_with("projects/") && key_ref.contains("/cryptoKeys/")
}

/// The member regions of Google's predefined dual-regions (docs.cloud.google.com/storage/
/// docs/locations, "Predefined dual-regions"); none for any other location.
pub fn predefined_dual_region(location: &str) -> &'static [&'static str] {
    match location.to_ascii_uppercase().as_str() {
        "ASIA1" => &["asia-northeast1", "asia-northeast2"],
        "EUR4" => &["europe-north1", "europe-west4"],
        "EUR5" => &["europe-west1", "europe-west2"],
        "EUR7" => &["europe-west2", "europe-west3"],
        "EUR8" => &["europe-west3", "europe-west6"],
        "NAM4" => &["us-central1", "us-east1"],
        _ => &[],
    }
}

/// (project, location) of a Cloud KMS resource name; empty parts when absent.
fn project_and_location(name: &str) -> (String, String) {
    let parts: Vec<&str> = name.split('/').collect();
    let after = |label: &str| {
        parts
            .iter()
            .position(|p| *p == label)
            .and_then(|i| parts.get(i + 1))
            .map(|s| (*s).to_owned())
            .unwrap_or_default()
    };
    (after("projects"), after("locations"))
}

/// The custody of a Cloud Storage bucket.
pub fn decide(input: &CustodyInput<'_>) -> CustodyDecision {
    let mut d = CustodyDecision {
        client_key_mode: if input.client_side_declared {
            "client-side".to_owned()
        } else {
            String::new()
        },
        ..CustodyDecision::default()
    };
    if let Some(gap) = input.encryption_gap {
        d.level = Custody::Unknown;
        d.reason = format!("{} failed: {}", gap.call, gap_text(gap));
        return d;
    }
    let Some(enc) = input.encryption else {
        d.level = Custody::Unknown;
        d.reason = "no encryption answer observed".into();
        return d;
    };
    if enc.state() != EncryptionState::Configured {
        d.level = Custody::Unknown;
        d.reason = format!("unexpected encryption state {:?}", enc.state());
        return d;
    }
    if enc.key_ref.is_empty() {
        d.level = Custody::Provider;
        d.reason =
            "no default Cloud KMS key: Google default encryption, Google holds the key".to_owned();
        return d;
    }
    decide_key(input, enc, d)
}

/// The custody given by a Cloud KMS key a store's encryption names.
pub fn decide_key(
    input: &CustodyInput<'_>,
    enc: &Encryption,
    mut d: CustodyDecision,
) -> CustodyDecision {
    let name = if enc.resolved_key_arn.is_empty() {
        enc.key_ref.as_str()
    } else {
        enc.resolved_key_arn.as_str()
    };
    let name = name
        .find("/cryptoKeyVersions/")
        .map_or(name, |i| &name[..i]);
    d.key_arn = name.to_owned();
    (d.key_owner_account, d.key_region) = project_and_location(name);
    let key = match input.key {
        KeyEvidence::Described(k) => k,
        KeyEvidence::Failed(gap) => {
            d.level = Custody::Unknown;
            d.reason = format!("{} failed for {name}: {}", gap.call, gap_text(gap));
            location_modifiers(input, &mut d);
            return d;
        }
        KeyEvidence::NotObserved => {
            d.level = Custody::Unknown;
            d.reason = format!("Cloud KMS key {name} was not described");
            location_modifiers(input, &mut d);
            return d;
        }
    };
    if !key.key_account.is_empty() {
        d.key_owner_account.clone_from(&key.key_account);
    }
    if !key.region.is_empty() {
        d.key_region.clone_from(&key.region);
    }
    location_modifiers(input, &mut d);
    let level = key.origin.as_str();
    let (custody, what) = match level {
        "EXTERNAL" | "EXTERNAL_VPC" => (
            Custody::Hyok,
            "Cloud EKM key: material held by an external key manager outside Google",
        ),
        _ if !key.import_job.is_empty() => {
            (Custody::Byok, "Cloud KMS key with imported material (BYOK)")
        }
        "HSM_SINGLE_TENANT" => (
            Custody::DedicatedHsm,
            "Cloud KMS key in a single-tenant Cloud HSM instance",
        ),
        "HSM" => (
            Custody::CustomerManaged,
            "customer-managed Cloud KMS key, material in Cloud HSM",
        ),
        "SOFTWARE" => (
            Custody::CustomerManaged,
            "customer-managed Cloud KMS key, software protection level",
        ),
        other => {
            d.level = Custody::Unknown;
            d.reason = format!("unrecognised protection level {other:?} of {name}");
            return d;
        }
    };
    d.level = custody;
    d.reason = format!("{what} ({name})");
    key_modifiers(key, &mut d);
    d
}

fn key_modifiers(key: &Key, d: &mut CustodyDecision) {
    match key.origin.as_str() {
        "HSM" => d
            .modifiers
            .push("HSM-backed key (multi-tenant Cloud HSM)".to_owned()),
        "HSM_SINGLE_TENANT" if !key.import_job.is_empty() => d
            .modifiers
            .push("imported into a single-tenant Cloud HSM instance".to_owned()),
        "EXTERNAL" => {
            let host = host_of(&key.external_key_uri);
            d.modifiers.push(if host.is_empty() {
                "external key manager over the internet (no key URI reported)".to_owned()
            } else {
                format!("external key manager {host} (over the internet)")
            });
        }
        "EXTERNAL_VPC" => d.modifiers.push(if key.key_backend.is_empty() {
            "external key manager over a VPC (EKM connection not reported)".to_owned()
        } else {
            format!(
                "external key manager over a VPC: EKM connection {}",
                key.key_backend
            )
        }),
        _ => {}
    }
    if key.origin == "HSM_SINGLE_TENANT" && !key.key_backend.is_empty() {
        d.modifiers
            .push(format!("single-tenant HSM instance {}", key.key_backend));
    }
    if !key.key_state.is_empty() && key.key_state != "ENABLED" {
        d.modifiers
            .push(format!("key version state {}", key.key_state));
    }
}

fn location_modifiers(input: &CustodyInput<'_>, d: &mut CustodyDecision) {
    if !d.key_owner_account.is_empty() && d.key_owner_account != input.store_account {
        d.modifiers.push(format!(
            "key owned by another project: {}",
            d.key_owner_account
        ));
    }
    if d.key_region == "global" {
        d.modifiers
            .push("key ring location global: not pinned to a region".to_owned());
    } else if !d.key_region.is_empty() && !d.key_region.eq_ignore_ascii_case(input.store_region) {
        d.modifiers
            .push(format!("key in location {}", d.key_region));
    }
}

fn host_of(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    rest.split(['/', ':']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    //! The protection levels as a table: the key as the agent reports it -> level + modifiers.
    use super::*;
    use crate::map::reference::DefaultEncryption;
    use landmeter_proto::v1::{Gap, GapKind};

    const KEY: &str = "projects/p-1/locations/europe-west4/keyRings/r/cryptoKeys/k";

    fn enc(key_ref: &str) -> Encryption {
        Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: if key_ref.is_empty() {
                "GOOGLE_DEFAULT_ENCRYPTION"
            } else {
                "CLOUD_KMS"
            }
            .into(),
            key_ref: key_ref.into(),
            ..Encryption::default()
        }
    }

    fn input<'a>(e: &'a Encryption, key: KeyEvidence<'a>) -> CustodyInput<'a> {
        CustodyInput {
            provider: "google-cloud",
            encrypts_by_default: DefaultEncryption::Yes,
            store_account: "p-1",
            store_region: "EUROPE-WEST4",
            encryption: Some(e),
            encryption_gap: None,
            encryption_unsupported: None,
            key,
            key_store: None,
            client_side_declared: false,
        }
    }

    fn key(level: &str) -> Key {
        Key {
            arn: KEY.into(),
            key_account: "p-1".into(),
            region: "europe-west4".into(),
            key_manager: "CUSTOMER".into(),
            origin: level.into(),
            key_state: "ENABLED".into(),
            key_service: KEY_SERVICE.into(),
            ..Key::default()
        }
    }

    #[test]
    fn protection_levels_map_to_the_ladder() {
        let e = enc(KEY);
        let imported = Key {
            import_job: "projects/p-1/locations/europe-west4/keyRings/r/importJobs/j".into(),
            ..key("SOFTWARE")
        };
        let external = Key {
            external_key_uri: "https://ekm.example.eu:443/v0/keys/k1".into(),
            ..key("EXTERNAL")
        };
        let vpc = Key {
            key_backend: "projects/p-1/locations/europe-west4/ekmConnections/c".into(),
            external_key_uri: "v0/keys/k1".into(),
            ..key("EXTERNAL_VPC")
        };
        let cases: Vec<(Key, Custody, Vec<&str>)> = vec![
            (key("SOFTWARE"), Custody::CustomerManaged, vec![]),
            (
                key("HSM"),
                Custody::CustomerManaged,
                vec!["HSM-backed key (multi-tenant Cloud HSM)"],
            ),
            (key("HSM_SINGLE_TENANT"), Custody::DedicatedHsm, vec![]),
            (imported, Custody::Byok, vec![]),
            (
                external,
                Custody::Hyok,
                vec!["external key manager ekm.example.eu (over the internet)"],
            ),
            (
                vpc,
                Custody::Hyok,
                vec![
                    "external key manager over a VPC: EKM connection projects/p-1/locations/europe-west4/ekmConnections/c",
                ],
            ),
            (key("QUANTUM"), Custody::Unknown, vec![]),
        ];
        for (k, level, modifiers) in cases {
            let d = decide(&input(&e, KeyEvidence::Described(&k)));
            assert_eq!(d.level, level, "{k:?}: {}", d.reason);
            assert_eq!(d.modifiers, modifiers, "{k:?}");
            assert_eq!(
                (d.key_owner_account.as_str(), d.key_region.as_str()),
                ("p-1", "europe-west4")
            );
        }
    }

    #[test]
    fn no_key_is_google_and_an_unread_key_is_unknown_never_provider() {
        let none = enc("");
        let d = decide(&input(&none, KeyEvidence::NotObserved));
        assert_eq!(d.level, Custody::Provider);
        let e = enc(&format!("{KEY}/cryptoKeyVersions/2"));
        let denied = Gap {
            kind: GapKind::AccessDenied as i32,
            code: "PERMISSION_DENIED".into(),
            message: "Permission 'cloudkms.cryptoKeys.get' denied".into(),
            call: "cloudkms:cryptoKeys.get".into(),
            ..Gap::default()
        };
        let d = decide(&input(&e, KeyEvidence::Failed(&denied)));
        assert_eq!(d.level, Custody::Unknown);
        assert!(d.reason.contains("PERMISSION_DENIED"), "{}", d.reason);
        assert_eq!(d.key_arn, KEY, "the version is not part of the key");
        assert_eq!(
            d.key_region, "europe-west4",
            "the key's place is known from its name"
        );
        let global = enc("projects/other/locations/global/keyRings/r/cryptoKeys/k");
        let d = decide(&input(&global, KeyEvidence::NotObserved));
        assert_eq!(d.level, Custody::Unknown);
        assert_eq!(
            d.modifiers,
            [
                "key owned by another project: other",
                "key ring location global: not pinned to a region"
            ]
        );
    }

    #[test]
    fn predefined_dual_regions_name_their_members() {
        assert_eq!(
            predefined_dual_region("eur4"),
            ["europe-north1", "europe-west4"]
        );
        assert_eq!(predefined_dual_region("EU"), [] as [&str; 0]);
    }
}
