//! Azure interpretation: storage accounts and blob containers.
//!
//! Both are stores. A storage account (`azure-storage-account`, name = account name) carries
//! location, redundancy SKU, secondary location and account encryption. A container
//! (`azure-blob-container`, name = `account/container`) lives where its account lives and
//! shares its geo-replication; its custody is the account's unless its default encryption
//! scope names a scope of its own, whose key then decides. Its metadata classifies it, falling
//! back to the account's tags.
//!
//! Custody (DESIGN.md, KEY-CUSTODY.md 2): keySource `Microsoft.Storage` -> provider;
//! `Microsoft.Keyvault` (any case) with a key in a Key Vault (`*.vault.azure.net` and the
//! sovereign-cloud vault suffixes) -> customer-managed; in a Managed HSM
//! (`*.managedhsm.azure.net`, ...) -> dedicated-hsm. The host is the evidence; the key's own
//! description adds modifiers (HSM-backed, state, exportable, owner, region). A key in another
//! Entra tenant and infrastructure (double) encryption are modifiers.

use landmeter_proto::Custody;
use landmeter_proto::v1::{Encryption, EncryptionState, Gap, Key, Store};

use super::AccountFacts;
use super::custody::CustodyDecision;

pub const SERVICE_ACCOUNT: &str = "azure-storage-account";
pub const SERVICE_CONTAINER: &str = "azure-blob-container";
/// The scope name Azure reports for "the account's own encryption".
pub const ACCOUNT_SCOPE: &str = "$account-encryption-key";
const KEY_CALLS: &[&str] = &["arm:Keys_Get", "arm:ManagedHsmKeys_Get"];
const SCOPES_CALL: &str = "arm:EncryptionScopes_List";

pub fn is_azure_store(store: &Store) -> bool {
    store.service == SERVICE_ACCOUNT || store.service == SERVICE_CONTAINER
}

/// Redundancy SKUs that keep a copy in the paired (secondary) region.
pub fn is_geo_redundant(sku: &str) -> bool {
    let redundancy = sku
        .rsplit_once('_')
        .map_or(sku, |(_, r)| r)
        .to_ascii_uppercase();
    matches!(redundancy.as_str(), "GRS" | "RAGRS" | "GZRS" | "RAGZRS")
}

/// The store that holds the account-level facts of `store`: itself, or a container's account.
pub fn account_subject(store: &Store) -> &str {
    if store.service == SERVICE_CONTAINER {
        if !store.parent.is_empty() {
            return &store.parent;
        }
        return store.name.split('/').next().unwrap_or(&store.name);
    }
    &store.name
}

enum KeyHost {
    Vault,
    ManagedHsm,
    Other,
}

fn key_host(uri: &str) -> (String, KeyHost) {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let host = rest
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let kind = if host.contains(".managedhsm.") {
        KeyHost::ManagedHsm
    } else if host.contains(".vault.") {
        KeyHost::Vault
    } else {
        KeyHost::Other
    };
    (host, kind)
}

/// Custody of one Azure store (account or container).
pub(super) fn decide(
    a: &AccountFacts<'_>,
    account: &str,
    store: &Store,
    subject: &str,
) -> CustodyDecision {
    let account_subject = account_subject(store);
    if store.service == SERVICE_CONTAINER {
        let own = a.encryption.get(subject).copied();
        let scope = own.map(|e| e.encryption_scope.as_str()).unwrap_or_default();
        if !scope.is_empty() && scope != ACCOUNT_SCOPE {
            let scope_subject = format!("{account_subject}/encryptionScopes/{scope}");
            let mut d = match a.encryption.get(scope_subject.as_str()) {
                Some(e) => {
                    let mut d = decide_encryption(a, account, &store.region, e);
                    d.reason = format!("default encryption scope {scope}: {}", d.reason);
                    if !e.scope_state.is_empty() && !e.scope_state.eq_ignore_ascii_case("Enabled") {
                        d.modifiers.push(format!(
                            "encryption scope {}",
                            e.scope_state.to_ascii_lowercase()
                        ));
                    }
                    d
                }
                None => {
                    let why = a
                        .gaps
                        .get(&(account_subject, SCOPES_CALL))
                        .map(|g| format!("{SCOPES_CALL} failed: {}", gap_text(g)))
                        .unwrap_or_else(|| "the scope was not described".to_owned());
                    CustodyDecision {
                        level: Custody::Unknown,
                        reason: format!("default encryption scope {scope}: {why}"),
                        ..CustodyDecision::default()
                    }
                }
            };
            if own.is_some_and(|e| !e.deny_encryption_scope_override) {
                d.modifiers
                    .push("blobs may name another encryption scope".to_owned());
            }
            return d;
        }
        let mut d = match a.encryption.get(account_subject).copied() {
            Some(e) => decide_encryption(a, account, &store.region, e),
            None => CustodyDecision {
                level: Custody::Unknown,
                reason: format!("no encryption answer for storage account {account_subject}"),
                ..CustodyDecision::default()
            },
        };
        d.reason = format!("account encryption of {account_subject}: {}", d.reason);
        return d;
    }
    match a.encryption.get(subject).copied() {
        Some(e) => decide_encryption(a, account, &store.region, e),
        None => CustodyDecision {
            level: Custody::Unknown,
            reason: "no encryption answer observed".to_owned(),
            ..CustodyDecision::default()
        },
    }
}

/// The ladder for one Azure encryption setting (an account's or an encryption scope's).
fn decide_encryption(
    a: &AccountFacts<'_>,
    account: &str,
    store_region: &str,
    e: &Encryption,
) -> CustodyDecision {
    let mut d = CustodyDecision::default();
    if e.require_infrastructure_encryption {
        d.modifiers
            .push("infrastructure (double) encryption".to_owned());
    }
    if !e.federated_identity_client_id.is_empty() {
        d.modifiers.push(format!(
            "key in another Entra tenant (federated identity client {})",
            e.federated_identity_client_id
        ));
    }
    if e.state() == EncryptionState::NotConfigured {
        d.level = Custody::Provider;
        d.reason = format!(
            "no encryption property ({}); Azure Storage always encrypts with Microsoft-managed keys",
            e.not_configured_code
        );
        return d;
    }
    let source = e.algorithm.as_str();
    if source.eq_ignore_ascii_case("Microsoft.Storage") {
        d.level = Custody::Provider;
        d.reason = "keySource Microsoft.Storage: Microsoft-managed key".to_owned();
        return d;
    }
    if !source.eq_ignore_ascii_case("Microsoft.Keyvault") {
        d.level = Custody::Unknown;
        d.reason = format!("unrecognised keySource {source:?}");
        return d;
    }
    let key_ref = e.key_ref.as_str();
    if key_ref.is_empty() {
        d.level = Custody::Unknown;
        d.reason = "keySource Microsoft.Keyvault without a key URI".to_owned();
        return d;
    }
    let versionless = if e.resolved_key_arn.is_empty() {
        key_ref
    } else {
        e.resolved_key_arn.as_str()
    };
    d.key_arn = versionless.to_owned();
    let (host, kind) = key_host(key_ref);
    let (level, what) = match kind {
        KeyHost::ManagedHsm => (
            Custody::DedicatedHsm,
            "customer-managed key in a Managed HSM (single-tenant HSM)",
        ),
        KeyHost::Vault => (
            Custody::CustomerManaged,
            "customer-managed key in Azure Key Vault",
        ),
        KeyHost::Other => {
            d.level = Custody::Unknown;
            d.reason = format!("key host {host} is neither a Key Vault nor a Managed HSM");
            return d;
        }
    };
    d.level = level;
    d.reason = format!("{what} ({versionless})");
    match find_key(a, versionless, key_ref) {
        Ok(k) => {
            d.key_owner_account = k.key_account.clone();
            d.key_region = k.region.clone();
            if !d.key_owner_account.is_empty() && d.key_owner_account != account {
                d.modifiers.push(format!(
                    "key owned by another account: {}",
                    d.key_owner_account
                ));
            }
            if !d.key_region.is_empty() && d.key_region != store_region {
                d.modifiers.push(format!("key in region {}", d.key_region));
            }
            if k.hsm_backed && !matches!(kind, KeyHost::ManagedHsm) {
                d.modifiers.push(format!("HSM-backed key ({})", k.key_type));
            }
            if !k.key_state.is_empty() && k.key_state != "Enabled" {
                d.modifiers.push(format!("key state {}", k.key_state));
            }
            if k.exportable {
                d.modifiers
                    .push("key exportable (secure key release)".to_owned());
            }
        }
        Err(Some(g)) => d.modifiers.push(format!("key not described: {}", g.code)),
        Err(None) => d.modifiers.push("key not described".to_owned()),
    }
    d
}

fn find_key<'a>(
    a: &AccountFacts<'a>,
    versionless: &str,
    key_ref: &str,
) -> Result<&'a Key, Option<&'a Gap>> {
    for c in [versionless, key_ref] {
        if let Some(k) = a.keys_by_arn.get(c).or_else(|| a.keys_by_ref.get(c)) {
            return Ok(k);
        }
    }
    for call in KEY_CALLS {
        if let Some(g) = a.gaps.get(&(versionless, *call)) {
            return Err(Some(g));
        }
    }
    Err(None)
}

fn gap_text(gap: &Gap) -> String {
    if gap.message.is_empty() {
        gap.code.clone()
    } else {
        format!("{}: {}", gap.code, gap.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::reference::ReferenceTables;
    use crate::map::{Interpreter, TagConventions};
    use landmeter_proto::v1::{Fact, Tag, Tags, fact::Body};

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    fn fact(subject: &str, body: Body) -> Fact {
        Fact {
            account: SUB.into(),
            subject: subject.into(),
            observed_at_ms: 1,
            api_call: "test".into(),
            body: Some(body),
        }
    }

    fn account(name: &str, region: &str, sku: &str, secondary: &str) -> Fact {
        fact(
            name,
            Body::Store(Store {
                provider: "microsoft-azure".into(),
                service: SERVICE_ACCOUNT.into(),
                name: name.into(),
                region: region.into(),
                sku: sku.into(),
                secondary_region: secondary.into(),
                ..Store::default()
            }),
        )
    }

    fn container(account: &str, name: &str, region: &str, scope: &str) -> Vec<Fact> {
        let subject = format!("{account}/{name}");
        vec![
            fact(
                &subject,
                Body::Store(Store {
                    provider: "microsoft-azure".into(),
                    service: SERVICE_CONTAINER.into(),
                    name: subject.clone(),
                    region: region.into(),
                    parent: account.into(),
                    ..Store::default()
                }),
            ),
            fact(
                &subject,
                Body::Encryption(Encryption {
                    state: EncryptionState::Configured as i32,
                    encryption_scope: scope.into(),
                    deny_encryption_scope_override: true,
                    ..Encryption::default()
                }),
            ),
        ]
    }

    fn enc(subject: &str, source: &str, key: &str) -> Fact {
        fact(
            subject,
            Body::Encryption(Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: source.into(),
                key_ref: key.into(),
                resolved_key_arn: key.into(),
                ..Encryption::default()
            }),
        )
    }

    #[test]
    fn accounts_and_containers_get_custody_location_and_replication() {
        let vault_key = "https://contoso.vault.azure.net/keys/k1";
        let hsm_key = "https://contoso.managedhsm.azure.net/keys/k2";
        let mut facts = vec![
            account("stweu", "westeurope", "Standard_GRS", "northeurope"),
            enc("stweu", "Microsoft.Storage", ""),
            fact(
                "stweu",
                Body::Tags(Tags {
                    tags: vec![Tag {
                        key: "classification".into(),
                        value: "BBN2".into(),
                    }],
                }),
            ),
            account("stuk", "uksouth", "Standard_RAGRS", "ukwest"),
            enc("stuk", "Microsoft.Keyvault", vault_key),
            fact(
                vault_key,
                Body::Key(Key {
                    arn: vault_key.into(),
                    key_account: SUB.into(),
                    region: "uksouth".into(),
                    key_type: "RSA-HSM".into(),
                    hsm_backed: true,
                    key_state: "Enabled".into(),
                    ..Key::default()
                }),
            ),
            account("stde", "germanywestcentral", "Standard_ZRS", ""),
            enc("stde", "microsoft.keyvault", hsm_key),
            enc("stde/encryptionScopes/scope1", "Microsoft.Storage", ""),
        ];
        facts.extend(container("stweu", "c1", "westeurope", ""));
        facts.extend(container("stde", "c2", "germanywestcentral", "scope1"));
        facts.extend(container("stde", "c3", "germanywestcentral", "missing"));
        let i = Interpreter::new(
            ReferenceTables::builtin().expect("tables"),
            TagConventions::default(),
        );
        let views = i.interpret_account("t1", SUB, &facts, &|_| None);
        let get = |name: &str| views.iter().find(|v| v.name == name).expect(name);

        let weu = get("stweu");
        assert_eq!(weu.id, format!("microsoft-azure:{SUB}:stweu"));
        assert_eq!((weu.country.as_str(), weu.eu), ("NL", true));
        assert_eq!(weu.custody(), Custody::Provider);
        assert_eq!(weu.replication[0].region, "northeurope");
        assert_eq!(
            (weu.replication[0].country.as_str(), weu.replication[0].eu),
            ("IE", true)
        );
        assert!(!weu.replicated_outside_eu);
        assert_eq!(weu.jurisdiction, "EU+US-CLOUD-ACT");
        assert_eq!(weu.provider_parent, "Microsoft Corporation");

        let uk = get("stuk");
        assert_eq!(
            uk.custody(),
            Custody::CustomerManaged,
            "{}",
            uk.custody_reason
        );
        assert_eq!(uk.custody_modifiers, ["HSM-backed key (RSA-HSM)"]);
        assert!(uk.replicated_outside_eu);
        assert_eq!(uk.replication[0].country, "GB");

        let de = get("stde");
        assert_eq!(de.custody(), Custody::DedicatedHsm, "{}", de.custody_reason);
        assert_eq!(de.custody_modifiers, ["key not described"]);
        assert!(de.replication.is_empty());

        let c1 = get("stweu/c1");
        assert_eq!(c1.custody(), Custody::Provider);
        assert_eq!(c1.classification, "BBN2", "inherits the account's tags");
        assert_eq!(
            c1.replication[0].region, "northeurope",
            "inherits geo-replication"
        );
        let c2 = get("stde/c2");
        assert_eq!(c2.custody(), Custody::Provider, "{}", c2.custody_reason);
        assert!(c2.custody_reason.contains("scope1"));
        let c3 = get("stde/c3");
        assert_eq!(c3.custody(), Custody::Unknown);
    }

    #[test]
    fn geo_redundant_skus() {
        for (sku, geo) in [
            ("Standard_GRS", true),
            ("Standard_RAGRS", true),
            ("Standard_GZRS", true),
            ("Standard_RAGZRS", true),
            ("Standard_LRS", false),
            ("Standard_ZRS", false),
            ("Premium_LRS", false),
            ("Premium_ZRS", false),
            ("", false),
        ] {
            assert_eq!(is_geo_redundant(sku), geo, "{sku}");
        }
    }
}
