//! Keys at exit: what happens to each distinct key (by key ARN or key id) of the stores
//! that move. Data under a provider's server-side encryption leaves as plaintext through the
//! provider's read path whatever its custody; what decides the work is whether the key
//! *material* can go along (shared/reference/KEY-CUSTODY.md):
//! - provider and customer-managed keys (made in the provider's KMS, not exportable) and
//!   keys in a provider-run HSM (CloudHSM, Managed HSM: not exportable unless a release
//!   policy says so, which the map does not see) are re-created at the target;
//! - BYOK material can be imported again only where the customer kept (escrowed) a copy:
//!   the map cannot see that, so it says "if escrowed";
//! - HYOK keys stay in the customer's external key manager only at a target that can use
//!   one; at a target without, the data falls to keys the target provider holds;
//! - `none` has no key; `unknown` is counted apart, never folded into another level.

use std::collections::{BTreeMap, BTreeSet};

use landmeter_proto::Custody;
use landmeter_proto::v1::StoreView;

use super::prices::{ExternalKeyManager, KeyManagerSupport};

/// What becomes of the keys of one custody level at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFate {
    /// The material cannot leave: the target makes new keys (its default encryption for
    /// provider-held keys).
    Recreated,
    /// Imported material: import it again if a copy was escrowed, else re-create.
    ReimportIfEscrowed,
    /// The keys stay in the external key manager; the target connects to it.
    KeptInExternalKeyManager,
    /// The target has no external key manager: the data falls to provider-held keys.
    FallsToProviderHeldKeys,
    /// Whether the target can keep HYOK keys is not known (or only a preview).
    UnknownAtTarget,
    /// No default encryption reported: no key to carry.
    NoKey,
    /// Custody unknown: counted apart.
    CustodyUnknown,
}

impl KeyFate {
    pub fn label(self) -> &'static str {
        match self {
            KeyFate::Recreated => "re-created at the target",
            KeyFate::ReimportIfEscrowed => "re-imported if escrowed, else re-created",
            KeyFate::KeptInExternalKeyManager => {
                "kept in the external key manager (the target connects to it)"
            }
            KeyFate::FallsToProviderHeldKeys => {
                "lost: the target has no external key manager, the data falls to provider-held keys"
            }
            KeyFate::UnknownAtTarget => {
                "unknown: whether the target can use an external key manager is not known"
            }
            KeyFate::NoKey => "no key (no default encryption reported)",
            KeyFate::CustodyUnknown => "unknown custody: counted apart",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            KeyFate::Recreated => "recreated",
            KeyFate::ReimportIfEscrowed => "reimport-if-escrowed",
            KeyFate::KeptInExternalKeyManager => "kept-in-external-key-manager",
            KeyFate::FallsToProviderHeldKeys => "falls-to-provider-held-keys",
            KeyFate::UnknownAtTarget => "unknown-at-target",
            KeyFate::NoKey => "no-key",
            KeyFate::CustodyUnknown => "custody-unknown",
        }
    }
}

/// The moving stores of one custody level and their distinct keys.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyGroup {
    pub custody: Custody,
    pub fate: KeyFate,
    pub stores: usize,
    /// Known bytes of those stores.
    pub bytes: i64,
    pub stores_size_unknown: usize,
    /// Distinct key ARNs / key ids.
    pub keys: BTreeSet<String>,
    /// Stores whose key has no id in the map (SSE-S3, Azure Microsoft-managed keys, or a
    /// key that could not be named): not counted as keys, counted as stores.
    pub stores_without_key_id: usize,
}

/// Stores (and their known bytes) that fall from an external key manager to provider-held
/// keys at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lost {
    pub stores: usize,
    pub bytes: i64,
    pub stores_size_unknown: usize,
}

/// The keys of an exit, grouped by custody level in ladder order.
#[derive(Debug, Clone, PartialEq)]
pub struct KeysAtExit {
    pub groups: Vec<KeyGroup>,
    /// The target's support for external key managers, with its source.
    pub target: KeyManagerSupport,
}

fn fate(custody: Custody, target: ExternalKeyManager) -> KeyFate {
    match custody {
        Custody::Provider | Custody::CustomerManaged | Custody::DedicatedHsm => KeyFate::Recreated,
        Custody::Byok => KeyFate::ReimportIfEscrowed,
        Custody::Hyok => match target {
            ExternalKeyManager::Yes => KeyFate::KeptInExternalKeyManager,
            ExternalKeyManager::No => KeyFate::FallsToProviderHeldKeys,
            ExternalKeyManager::Preview | ExternalKeyManager::Unknown => KeyFate::UnknownAtTarget,
        },
        Custody::None => KeyFate::NoKey,
        Custody::Unknown | Custody::Unspecified => KeyFate::CustodyUnknown,
    }
}

impl KeysAtExit {
    pub fn of(stores: &[&StoreView], target: KeyManagerSupport) -> Self {
        let mut groups: BTreeMap<i32, KeyGroup> = BTreeMap::new();
        for s in stores {
            // A view without a level (older data) is unknown, not a level of its own.
            let custody = match s.custody() {
                Custody::Unspecified => Custody::Unknown,
                c => c,
            };
            let g = groups.entry(custody.rank()).or_insert_with(|| KeyGroup {
                custody,
                fate: fate(custody, target.external_key_manager),
                stores: 0,
                bytes: 0,
                stores_size_unknown: 0,
                keys: BTreeSet::new(),
                stores_without_key_id: 0,
            });
            g.stores += 1;
            match s.bytes {
                Some(b) => g.bytes += b,
                None => g.stores_size_unknown += 1,
            }
            let key = s.key_arn.trim();
            if key.is_empty() {
                g.stores_without_key_id += 1;
            } else {
                g.keys.insert(key.to_owned());
            }
        }
        KeysAtExit {
            groups: groups.into_values().collect(),
            target,
        }
    }

    fn group(&self, fate: KeyFate) -> impl Iterator<Item = &KeyGroup> {
        self.groups.iter().filter(move |g| g.fate == fate)
    }

    /// Distinct keys re-created at the target (one key shared by several stores counts once).
    pub fn keys_to_recreate(&self) -> usize {
        self.group(KeyFate::Recreated)
            .flat_map(|g| g.keys.iter())
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Stores re-created under the target's own keys that name no key (provider defaults).
    pub fn recreated_stores_without_key_id(&self) -> usize {
        self.group(KeyFate::Recreated)
            .map(|g| g.stores_without_key_id)
            .sum()
    }

    /// Distinct BYOK keys: re-imported if escrowed, else re-created.
    pub fn keys_reimport_if_escrowed(&self) -> usize {
        self.group(KeyFate::ReimportIfEscrowed)
            .map(|g| g.keys.len())
            .sum()
    }

    /// The HYOK group, whatever its fate at the target.
    pub fn hyok(&self) -> Option<&KeyGroup> {
        self.groups.iter().find(|g| g.custody == Custody::Hyok)
    }

    /// The HYOK data that loses its external key manager at the target: zero when the
    /// target can keep it (or nothing is HYOK), None when that is not known.
    pub fn hyok_lost(&self) -> Option<Lost> {
        match self.hyok() {
            None => Some(Lost::default()),
            Some(g) => match g.fate {
                KeyFate::FallsToProviderHeldKeys => Some(Lost {
                    stores: g.stores,
                    bytes: g.bytes,
                    stores_size_unknown: g.stores_size_unknown,
                }),
                KeyFate::KeptInExternalKeyManager => Some(Lost::default()),
                _ => None,
            },
        }
    }

    pub fn stores_without_key(&self) -> usize {
        self.group(KeyFate::NoKey).map(|g| g.stores).sum()
    }

    pub fn custody_unknown(&self) -> Option<&KeyGroup> {
        self.group(KeyFate::CustodyUnknown).next()
    }
}
