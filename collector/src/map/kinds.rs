//! Stores other than object storage: databases, tables, volumes, snapshots, file systems,
//! backup vaults and log groups, on every cloud.
//!
//! Their facts use the neutral encryption fields only (facts.proto): `DISABLED` -> `none`;
//! `CONFIGURED` without a key -> the provider's own key; with a key reference -> that key's
//! ladder: a KMS key by its description (as for S3, `custody::decide_kms`), a Key Vault or
//! Managed HSM key by its host (as for Azure Storage, `azure::decide_key_uri`).
//!
//! Copies are drawn from both sides: a source that lists its copies (`Replication` rules
//! with a `CopyKind`), and a copy that names its source (`Store.copy_of`). On the source's
//! view only copies in another region count as replication (they change where the data is);
//! a same-region snapshot is its own store, pointing back at its source.

use landmeter_proto::Custody;
use landmeter_proto::v1::{EncryptionState, Sharing, StoreKind, StoreView};

use super::AccountFacts;
use super::azure;
use super::custody::{self, CustodyDecision, CustodyInput};

/// Buckets, storage accounts and containers: the kinds with rules of their own (S3 default
/// encryption, Azure Storage key sources). A store whose kind is not known is read as one
/// of them, the shape agents before wave 2 sent.
pub fn is_object_storage(kind: StoreKind) -> bool {
    matches!(
        kind,
        StoreKind::Unspecified
            | StoreKind::Bucket
            | StoreKind::StorageAccount
            | StoreKind::Container
    )
}

/// Kinds whose stored figure counts items (`Size.objects`): table items, recovery points.
pub fn counts_objects(kind: StoreKind) -> bool {
    matches!(
        kind,
        StoreKind::Bucket | StoreKind::Table | StoreKind::BackupVault
    )
}

/// The custody of a store of a kind other than object storage.
pub(super) fn decide(a: &AccountFacts<'_>, input: &CustodyInput<'_>) -> CustodyDecision {
    let (Some(enc), None) = (input.encryption, input.encryption_gap) else {
        // No answer, or a failed one: the shared rules say why it is unknown.
        return custody::decide(input);
    };
    if enc.state() != EncryptionState::Configured {
        // Disabled (none), or a state without meaning here: the shared rules.
        return custody::decide(input);
    }
    let mut d = CustodyDecision {
        client_key_mode: if input.client_side_declared {
            "client-side".to_owned()
        } else {
            String::new()
        },
        ..CustodyDecision::default()
    };
    if enc.double_encryption {
        d.modifiers.push("double encryption at rest".to_owned());
    }
    if enc.key_ref.is_empty() {
        d.level = Custody::Provider;
        d.reason = format!(
            "encrypted at rest with {}'s own key{}",
            input.provider,
            if enc.algorithm.is_empty() {
                String::new()
            } else {
                format!(" ({})", enc.algorithm)
            }
        );
        return d;
    }
    if enc.key_ref.starts_with("https://") {
        return azure::decide_key_uri(a, input.store_account, input.store_region, enc, d);
    }
    custody::decide_kms(input, enc, d)
}

/// Who else can restore the store, as view fields and custody modifiers.
pub(super) fn apply_sharing(v: &mut StoreView, sharing: &Sharing) {
    v.shared_publicly = sharing.public;
    v.shared_with = sharing.accounts.clone();
    v.shared_with.sort();
    v.shared_with.dedup();
    if sharing.public {
        v.custody_modifiers
            .push("shared publicly: anyone can restore a copy".to_owned());
    }
    if !v.shared_with.is_empty() {
        v.custody_modifiers.push(format!(
            "shared with {} other account(s) that can restore a copy: {}",
            v.shared_with.len(),
            v.shared_with.join(", ")
        ));
    }
}
