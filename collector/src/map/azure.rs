//! Azure interpretation: storage accounts and blob containers.
//!
//! Both are stores. A storage account (kind `storage-account`, name = account name) carries
//! location, redundancy SKU, secondary location and account encryption. A container
//! (kind `container`, name = `account/container`) lives where its account lives and
//! shares its geo-replication; its custody is the account's unless its default encryption
//! scope names a scope of its own, whose key then decides. Its metadata classifies it, falling
//! back to the account's tags.
//!
//! Custody (DESIGN.md, KEY-CUSTODY.md 2): keySource `Microsoft.Storage` -> provider;
//! `Microsoft.Keyvault` (any case) with a key in a Key Vault (`*.vault.azure.net` and the
//! sovereign-cloud vault suffixes) -> customer-managed; in a Managed HSM
//! (`*.managedhsm.azure.net`, ...) -> dedicated-hsm. The host is the evidence; the key's own
//! description adds modifiers (HSM-backed, state, exportable, owner, region). A key in another
//! Entra tenant and infrastructure (double) encryption are modifiers. Azure-only encryption
//! values are read from `Encryption.detail` (`azure_storage`), never from the flat fields.

use landmeter_proto::Custody;
use landmeter_proto::v1::{
    AzureStorageEncryption, Encryption, EncryptionState, FactTopic, Gap, Key, Store, StoreKind,
    encryption::Detail,
};

use super::AccountFacts;
use super::custody::CustodyDecision;

/// The scope name Azure reports for "the account's own encryption".
pub const ACCOUNT_SCOPE: &str = "$account-encryption-key";

/// A storage account or a container in one: the kinds this module interprets.
pub fn is_azure_store(store: &Store) -> bool {
    matches!(
        store.kind(),
        StoreKind::StorageAccount | StoreKind::Container
    )
}

/// What Azure Storage said beside the neutral fields; empty for a fact that carries none.
fn detail(e: &Encryption) -> &AzureStorageEncryption {
    static NONE: AzureStorageEncryption = AzureStorageEncryption {
        federated_identity_client_id: String::new(),
        user_assigned_identity: String::new(),
        encryption_scope: String::new(),
        deny_encryption_scope_override: false,
        scope_state: String::new(),
    };
    match &e.detail {
        Some(Detail::AzureStorage(d)) => d,
        _ => &NONE,
    }
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
    if store.kind() == StoreKind::Container {
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
    if store.kind() == StoreKind::Container {
        let own = a.encryption.get(subject).copied();
        let scope = own
            .map(|e| detail(e).encryption_scope.as_str())
            .unwrap_or_default();
        if !scope.is_empty() && scope != ACCOUNT_SCOPE {
            let scope_subject = format!("{account_subject}/encryptionScopes/{scope}");
            let mut d = match a.encryption.get(scope_subject.as_str()) {
                Some(e) => {
                    let mut d = decide_encryption(a, account, &store.region, e);
                    d.reason = format!("default encryption scope {scope}: {}", d.reason);
                    let state = &detail(e).scope_state;
                    if !state.is_empty() && !state.eq_ignore_ascii_case("Enabled") {
                        d.modifiers
                            .push(format!("encryption scope {}", state.to_ascii_lowercase()));
                    }
                    d
                }
                None => {
                    // The account's scope listing is part of its encryption.
                    let why = a
                        .gaps
                        .get(&(account_subject, FactTopic::Encryption))
                        .map(|g| format!("{} failed: {}", g.call, gap_text(g)))
                        .unwrap_or_else(|| "the scope was not described".to_owned());
                    CustodyDecision {
                        level: Custody::Unknown,
                        reason: format!("default encryption scope {scope}: {why}"),
                        ..CustodyDecision::default()
                    }
                }
            };
            if own.is_some_and(|e| !detail(e).deny_encryption_scope_override) {
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
        if !scopes_of(a, account_subject).is_empty() {
            // Without a default scope, each write may name any scope of the account.
            d.modifiers.push(
                "no default encryption scope: blobs may be written under another scope of the account"
                    .to_owned(),
            );
        }
        return d;
    }
    let mut d = match a.encryption.get(subject).copied() {
        Some(e) => decide_encryption(a, account, &store.region, e),
        None => CustodyDecision {
            level: Custody::Unknown,
            reason: "no encryption answer observed".to_owned(),
            ..CustodyDecision::default()
        },
    };
    // The account's encryption scopes belong to its view: its data may sit under any of them.
    let mut scopes: Vec<(Custody, &str)> = scopes_of(a, subject)
        .into_iter()
        .map(|(name, e)| (decide_encryption(a, account, &store.region, e).level, name))
        .collect();
    scopes.sort_by_key(|(level, name)| (level.rank(), *name));
    if let (Some((weak, weak_name)), Some((strong, strong_name))) = (scopes.first(), scopes.last())
    {
        d.modifiers.push(format!(
            "encryption scopes: {} (weakest {} {weak_name}, strongest {} {strong_name})",
            scopes.len(),
            weak.label(),
            strong.label()
        ));
    }
    d
}

/// The encryption scopes described under a storage account: (scope name, its encryption).
fn scopes_of<'a>(a: &AccountFacts<'a>, account_subject: &str) -> Vec<(&'a str, &'a Encryption)> {
    let prefix = format!("{account_subject}/encryptionScopes/");
    let mut out: Vec<(&'a str, &'a Encryption)> = a
        .encryption
        .iter()
        .filter_map(|(subject, e)| subject.strip_prefix(prefix.as_str()).map(|name| (name, *e)))
        .collect();
    out.sort_by_key(|(name, _)| *name);
    out
}

/// The ladder for one Azure encryption setting (an account's or an encryption scope's).
fn decide_encryption(
    a: &AccountFacts<'_>,
    account: &str,
    store_region: &str,
    e: &Encryption,
) -> CustodyDecision {
    let mut d = CustodyDecision::default();
    if e.double_encryption {
        d.modifiers
            .push("infrastructure (double) encryption".to_owned());
    }
    let federated = &detail(e).federated_identity_client_id;
    if !federated.is_empty() {
        d.modifiers.push(format!(
            "key in another Entra tenant (federated identity client {federated})"
        ));
    }
    if e.state() == EncryptionState::NotConfigured {
        // A property of the storage-account kind, not of a provider: Azure Storage (and the
        // clouds built on it) cannot store data unencrypted.
        d.level = Custody::Provider;
        d.reason =
            "no encryption property; Azure Storage always encrypts with Microsoft-managed keys"
                .to_owned();
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
    if e.key_ref.is_empty() {
        d.level = Custody::Unknown;
        d.reason = "keySource Microsoft.Keyvault without a key URI".to_owned();
        return d;
    }
    decide_key_uri(a, account, store_region, e, d)
}

/// The ladder for a key named by its Key Vault or Managed HSM URI (`e.key_ref`, with the
/// versionless URI the agent resolved in `resolved_key_arn`): the host decides the level,
/// the key's own description adds modifiers. Shared by every Azure store kind.
pub(super) fn decide_key_uri(
    a: &AccountFacts<'_>,
    account: &str,
    store_region: &str,
    e: &Encryption,
    mut d: CustodyDecision,
) -> CustodyDecision {
    let key_ref = e.key_ref.as_str();
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
    Err(a.gaps.get(&(versionless, FactTopic::Key)).copied())
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
    use landmeter_proto::v1::{Fact, GapKind, StoreView, Tag, Tags, fact::Body};

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    /// Facts as the current agent sends them, or as an agent before wave 2 did (no kind,
    /// Azure-only encryption values in the flat fields, gaps without a topic).
    #[derive(Clone, Copy, PartialEq)]
    enum Shape {
        Current,
        Old,
    }

    fn fact(subject: &str, call: &str, body: Body) -> Fact {
        Fact {
            account: SUB.into(),
            subject: subject.into(),
            observed_at_ms: 1,
            api_call: call.into(),
            body: Some(body),
        }
    }

    fn store(shape: Shape, kind: StoreKind, service: &str, store: Store) -> Body {
        Body::Store(Store {
            provider: "microsoft-azure".into(),
            service: service.into(),
            kind: if shape == Shape::Current {
                kind as i32
            } else {
                0
            },
            ..store
        })
    }

    fn account(shape: Shape, name: &str, region: &str, sku: &str, secondary: &str) -> Fact {
        fact(
            name,
            "arm:StorageAccounts_List",
            store(
                shape,
                StoreKind::StorageAccount,
                "azure-storage-account",
                Store {
                    name: name.into(),
                    region: region.into(),
                    sku: sku.into(),
                    secondary_region: secondary.into(),
                    ..Store::default()
                },
            ),
        )
    }

    /// Azure-only values, in `detail` (current) or the flat fields (old).
    fn azure_encryption(shape: Shape, neutral: Encryption, d: AzureStorageEncryption) -> Body {
        Body::Encryption(match shape {
            Shape::Current => Encryption {
                double_encryption: neutral.require_infrastructure_encryption,
                require_infrastructure_encryption: false,
                detail: Some(Detail::AzureStorage(d)),
                ..neutral
            },
            Shape::Old => Encryption {
                federated_identity_client_id: d.federated_identity_client_id,
                user_assigned_identity: d.user_assigned_identity,
                encryption_scope: d.encryption_scope,
                deny_encryption_scope_override: d.deny_encryption_scope_override,
                scope_state: d.scope_state,
                ..neutral
            },
        })
    }

    fn container(shape: Shape, account: &str, name: &str, region: &str, scope: &str) -> Vec<Fact> {
        let subject = format!("{account}/{name}");
        vec![
            fact(
                &subject,
                "blob:ListContainers",
                store(
                    shape,
                    StoreKind::Container,
                    "azure-blob-container",
                    Store {
                        name: subject.clone(),
                        region: region.into(),
                        parent: account.into(),
                        ..Store::default()
                    },
                ),
            ),
            fact(
                &subject,
                "blob:ListContainers",
                azure_encryption(
                    shape,
                    Encryption {
                        state: EncryptionState::Configured as i32,
                        ..Encryption::default()
                    },
                    AzureStorageEncryption {
                        encryption_scope: scope.into(),
                        deny_encryption_scope_override: true,
                        ..AzureStorageEncryption::default()
                    },
                ),
            ),
        ]
    }

    fn enc(shape: Shape, subject: &str, source: &str, key: &str) -> Fact {
        fact(
            subject,
            "arm:StorageAccounts_List",
            azure_encryption(
                shape,
                Encryption {
                    state: EncryptionState::Configured as i32,
                    algorithm: source.into(),
                    key_ref: key.into(),
                    resolved_key_arn: key.into(),
                    ..Encryption::default()
                },
                AzureStorageEncryption::default(),
            ),
        )
    }

    fn gap(shape: Shape, subject: &str, call: &str, topic: FactTopic) -> Fact {
        fact(
            subject,
            call,
            Body::Gap(Gap {
                kind: GapKind::AccessDenied as i32,
                code: "AuthorizationFailed".into(),
                call: call.into(),
                topic: if shape == Shape::Current {
                    topic as i32
                } else {
                    0
                },
                ..Gap::default()
            }),
        )
    }

    fn interpret(facts: &[Fact]) -> Vec<StoreView> {
        Interpreter::new(
            ReferenceTables::builtin().expect("tables"),
            TagConventions::default(),
        )
        .interpret_account("t1", SUB, facts, &|_, _| None)
    }

    fn estate(shape: Shape) -> Vec<Fact> {
        let vault_key = "https://contoso.vault.azure.net/keys/k1";
        let hsm_key = "https://contoso.managedhsm.azure.net/keys/k2";
        let mut facts = vec![
            account(shape, "stweu", "westeurope", "Standard_GRS", "northeurope"),
            enc(shape, "stweu", "Microsoft.Storage", ""),
            fact(
                "stweu",
                "arm:StorageAccounts_List",
                Body::Tags(Tags {
                    tags: vec![Tag {
                        key: "classification".into(),
                        value: "BBN2".into(),
                    }],
                }),
            ),
            account(shape, "stuk", "uksouth", "Standard_RAGRS", "ukwest"),
            enc(shape, "stuk", "Microsoft.Keyvault", vault_key),
            fact(
                vault_key,
                "arm:Keys_Get",
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
            account(shape, "stde", "germanywestcentral", "Standard_ZRS", ""),
            enc(shape, "stde", "microsoft.keyvault", hsm_key),
            enc(
                shape,
                "stde/encryptionScopes/scope1",
                "Microsoft.Storage",
                "",
            ),
        ];
        facts.extend(container(shape, "stweu", "c1", "westeurope", ""));
        facts.extend(container(
            shape,
            "stde",
            "c2",
            "germanywestcentral",
            "scope1",
        ));
        facts.extend(container(
            shape,
            "stde",
            "c3",
            "germanywestcentral",
            "missing",
        ));
        facts
    }

    #[test]
    fn accounts_and_containers_get_custody_location_and_replication() {
        let views = interpret(&estate(Shape::Current));
        let get = |name: &str| views.iter().find(|v| v.name == name).expect(name);

        let weu = get("stweu");
        assert_eq!(weu.id, format!("microsoft-azure:{SUB}:stweu"));
        assert_eq!(weu.kind, "storage-account");
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
        // Its encryption scopes belong to the account's view.
        assert_eq!(
            de.custody_modifiers,
            [
                "key not described",
                "encryption scopes: 1 (weakest provider scope1, strongest provider scope1)"
            ]
        );
        assert!(de.replication.is_empty());

        let c1 = get("stweu/c1");
        assert_eq!(c1.kind, "container");
        // Its bytes are in the account's capacity: no size of its own, and not unknown.
        assert_eq!(c1.bytes, None);
        assert!(!c1.size_unknown(), "{:?}", c1.unknowns);
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
        // No default scope in an account with scopes: a write may name another scope.
        let mut facts = estate(Shape::Current);
        facts.extend(container(
            Shape::Current,
            "stde",
            "c4",
            "germanywestcentral",
            "",
        ));
        let views = interpret(&facts);
        let c4 = views.iter().find(|v| v.name == "stde/c4").expect("c4");
        assert!(
            c4.custody_modifiers
                .iter()
                .any(|m| m.starts_with("no default encryption scope")),
            "{:?}",
            c4.custody_modifiers
        );
    }

    #[test]
    fn an_old_agents_azure_facts_interpret_as_the_current_ones() {
        let current = interpret(&estate(Shape::Current));
        assert_eq!(current.len(), 6);
        assert_eq!(interpret(&estate(Shape::Old)), current);
    }

    /// A key in a vault the agent cannot read (another tenant, a subscription it is refused):
    /// the key's place is unknown, so the store is not "fully in the EU" and has no indicator.
    #[test]
    fn a_key_whose_place_is_unknown_leaves_the_jurisdiction_incomplete() {
        let key = "https://partner.vault.azure.net/keys/k1";
        let facts = vec![
            account(Shape::Current, "stnl", "westeurope", "Standard_LRS", ""),
            enc(Shape::Current, "stnl", "Microsoft.Keyvault", key),
            gap(Shape::Current, key, "arm:Keys_Get", FactTopic::Key),
        ];
        let views = interpret(&facts);
        let nl = views.iter().find(|v| v.name == "stnl").expect("stnl");
        assert_eq!(nl.custody(), Custody::CustomerManaged);
        assert!(nl.is_unknown("key-location"), "{:?}", nl.unknowns);
        assert!(
            nl.jurisdiction.starts_with("unknown"),
            "{}",
            nl.jurisdiction
        );
        assert_eq!((nl.sov2_indicator, nl.sov3_indicator), (None, None));
        assert!(
            nl.indicator_reasons
                .iter()
                .any(|r| r.contains("key-location unknown")),
            "{:?}",
            nl.indicator_reasons
        );
    }

    #[test]
    fn modifiers_and_gaps_in_both_shapes() {
        let vault_key = "https://contoso.vault.azure.net/keys/k9";
        for shape in [Shape::Current, Shape::Old] {
            let mut facts = vec![
                account(shape, "stnl", "westeurope", "Standard_LRS", ""),
                fact(
                    "stnl",
                    "arm:StorageAccounts_List",
                    azure_encryption(
                        shape,
                        Encryption {
                            state: EncryptionState::Configured as i32,
                            algorithm: "Microsoft.Keyvault".into(),
                            key_ref: vault_key.into(),
                            resolved_key_arn: vault_key.into(),
                            require_infrastructure_encryption: true,
                            ..Encryption::default()
                        },
                        AzureStorageEncryption {
                            federated_identity_client_id: "client-1".into(),
                            ..AzureStorageEncryption::default()
                        },
                    ),
                ),
                gap(shape, vault_key, "arm:Keys_Get", FactTopic::Key),
                gap(
                    shape,
                    "stnl",
                    "arm:EncryptionScopes_List",
                    FactTopic::Encryption,
                ),
            ];
            facts.extend(container(shape, "stnl", "c", "westeurope", "scope9"));
            let views = interpret(&facts);
            let nl = views.iter().find(|v| v.name == "stnl").expect("stnl");
            assert_eq!(nl.custody(), Custody::CustomerManaged);
            assert_eq!(
                nl.custody_modifiers,
                [
                    "infrastructure (double) encryption",
                    "key in another Entra tenant (federated identity client client-1)",
                    "key not described: AuthorizationFailed",
                ]
            );
            let c = views.iter().find(|v| v.name == "stnl/c").expect("c");
            assert_eq!(c.custody(), Custody::Unknown);
            assert_eq!(
                c.custody_reason,
                "default encryption scope scope9: arm:EncryptionScopes_List failed: AuthorizationFailed"
            );
        }
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
