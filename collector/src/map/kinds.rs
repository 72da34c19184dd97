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
use super::gcp;

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
    if gcp::is_kms_key_name(&enc.key_ref) {
        return gcp::decide_key(input, enc, d);
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

#[cfg(test)]
mod tests {
    use landmeter_proto::Custody;
    use landmeter_proto::v1::{
        CopyKind, Encryption, EncryptionState, Fact, FactTopic, Gap, GapKind, Key, Replication,
        ReplicationRule, Retention, Sharing, Size, Store, StoreKind, StoreView, Tag, Tags,
        fact::Body,
    };

    use crate::map::reference::ReferenceTables;
    use crate::map::{Interpreter, TagConventions};

    const ACCOUNT: &str = "111122223333";

    fn fact(subject: &str, body: Body) -> Fact {
        Fact {
            account: ACCOUNT.into(),
            subject: subject.into(),
            observed_at_ms: 1,
            api_call: "test".into(),
            body: Some(body),
        }
    }

    fn store(provider: &str, name: &str, kind: StoreKind, region: &str) -> Store {
        Store {
            provider: provider.into(),
            service: "test".into(),
            name: name.into(),
            region: region.into(),
            kind: kind as i32,
            ..Store::default()
        }
    }

    fn encrypted(subject: &str, key_ref: &str) -> Fact {
        fact(
            subject,
            Body::Encryption(Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: "KMS".into(),
                key_ref: key_ref.into(),
                ..Encryption::default()
            }),
        )
    }

    fn denied(subject: &str, call: &str, topic: FactTopic) -> Fact {
        fact(
            subject,
            Body::Gap(Gap {
                kind: GapKind::AccessDenied as i32,
                code: "AccessDenied".into(),
                call: call.into(),
                topic: topic as i32,
                ..Gap::default()
            }),
        )
    }

    fn interpret(facts: &[Fact]) -> Vec<StoreView> {
        Interpreter::new(
            ReferenceTables::builtin().expect("tables"),
            TagConventions::default(),
        )
        .interpret_account("t", ACCOUNT, facts, &|_, _| None)
    }

    fn view<'v>(views: &'v [StoreView], name: &str) -> &'v StoreView {
        views.iter().find(|v| v.name == name).expect(name)
    }

    const DB: &str = "arn:aws:rds:eu-west-1:111122223333:db:payroll";
    const KEY: &str = "arn:aws:kms:eu-central-1:111122223333:key/k1";

    #[test]
    fn custody_per_kind_from_the_neutral_fields() {
        let vol = "arn:aws:ec2:eu-west-1:111122223333:volume/vol-1";
        let table = "arn:aws:dynamodb:eu-west-1:111122223333:table/cases";
        let logs = "arn:aws:logs:eu-west-1:111122223333:log-group:/app";
        let disk = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/disks/d1";
        let hsm_disk = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/disks/d2";
        let facts = vec![
            fact(
                vol,
                Body::Store(store("aws", vol, StoreKind::Volume, "eu-west-1")),
            ),
            fact(
                vol,
                Body::Encryption(Encryption {
                    state: EncryptionState::Disabled as i32,
                    algorithm: "Encrypted=false".into(),
                    ..Encryption::default()
                }),
            ),
            fact(
                table,
                Body::Store(store("aws", table, StoreKind::Table, "eu-west-1")),
            ),
            encrypted(table, ""),
            fact(
                DB,
                Body::Store(store("aws", DB, StoreKind::Database, "eu-west-1")),
            ),
            encrypted(DB, KEY),
            fact(
                KEY,
                Body::Key(Key {
                    arn: KEY.into(),
                    key_account: ACCOUNT.into(),
                    region: "eu-central-1".into(),
                    key_manager: "CUSTOMER".into(),
                    origin: "AWS_KMS".into(),
                    requested_refs: vec![KEY.into()],
                    ..Key::default()
                }),
            ),
            fact(
                logs,
                Body::Store(store("aws", logs, StoreKind::LogGroup, "eu-west-1")),
            ),
            denied(logs, "logs:DescribeLogGroups", FactTopic::Encryption),
            fact(
                disk,
                Body::Store(store(
                    "microsoft-azure",
                    disk,
                    StoreKind::Volume,
                    "westeurope",
                )),
            ),
            encrypted(disk, "https://v1.vault.azure.net/keys/k/1"),
            fact(
                hsm_disk,
                Body::Store(store(
                    "microsoft-azure",
                    hsm_disk,
                    StoreKind::Volume,
                    "westeurope",
                )),
            ),
            encrypted(hsm_disk, "https://h1.managedhsm.azure.net/keys/k/1"),
        ];
        let views = interpret(&facts);
        assert_eq!(view(&views, vol).custody(), Custody::None);
        assert_eq!(view(&views, table).custody(), Custody::Provider);
        let db = view(&views, DB);
        assert_eq!(
            db.custody(),
            Custody::CustomerManaged,
            "{}",
            db.custody_reason
        );
        assert_eq!(db.key_region, "eu-central-1");
        assert!(
            db.jurisdictions.contains(&"DE".to_owned()),
            "{:?}",
            db.jurisdictions
        );
        let logs_view = view(&views, logs);
        assert_eq!(logs_view.custody(), Custody::Unknown, "never none");
        assert!(logs_view.is_unknown(landmeter_proto::dimension::CUSTODY));
        assert!(logs_view.custody_reason.contains("AccessDenied"));
        assert_eq!(view(&views, disk).custody(), Custody::CustomerManaged);
        assert_eq!(view(&views, hsm_disk).custody(), Custody::DedicatedHsm);
    }

    #[test]
    fn copies_from_both_sides_and_only_other_regions_on_the_source() {
        let replica = "arn:aws:rds:us-east-1:111122223333:db:payroll-replica";
        let snap_here = "arn:aws:rds:eu-west-1:111122223333:snapshot:nightly";
        let snap_away = "arn:aws:rds:us-west-2:111122223333:snapshot:nightly-copy";
        let mut here = store("aws", snap_here, StoreKind::Snapshot, "eu-west-1");
        here.copy_of = DB.into();
        here.copy_kind = CopyKind::Snapshot as i32;
        let mut away = store("aws", snap_away, StoreKind::Snapshot, "us-west-2");
        away.copy_of = DB.into();
        away.copy_kind = CopyKind::SnapshotCopy as i32;
        let facts = vec![
            fact(
                DB,
                Body::Store(store("aws", DB, StoreKind::Database, "eu-west-1")),
            ),
            fact(
                DB,
                Body::Replication(Replication {
                    rules: vec![ReplicationRule {
                        destination_bucket: replica.into(),
                        destination_region: "us-east-1".into(),
                        status: "replicating".into(),
                        copy_kind: CopyKind::ReadReplica as i32,
                        ..ReplicationRule::default()
                    }],
                }),
            ),
            fact(
                DB,
                Body::Tags(Tags {
                    tags: vec![Tag {
                        key: "classification".into(),
                        value: "BBN2".into(),
                    }],
                }),
            ),
            fact(snap_here, Body::Store(here)),
            fact(snap_away, Body::Store(away)),
        ];
        let views = interpret(&facts);
        let db = view(&views, DB);
        let kinds: Vec<(&str, &str)> = db
            .replication
            .iter()
            .map(|t| (t.bucket.as_str(), t.copy_kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [(replica, "read-replica"), (snap_away, "snapshot-copy")],
            "the same-region snapshot is not a replica of the source"
        );
        assert!(db.replicated_outside_eu);
        assert_eq!(db.jurisdiction, "non-EU+US-CLOUD-ACT");
        let snap = view(&views, snap_here);
        assert_eq!(
            (snap.copy_of.as_str(), snap.copy_kind.as_str()),
            (DB, "snapshot")
        );
        assert_eq!(
            snap.classification, "BBN2",
            "a copy is classified as its source"
        );
    }

    /// Some copies answered, the rest of the copies' call failed: the known copies stay (a
    /// known copy outside the EU is a yes), and replication is unknown with the failed call.
    #[test]
    fn a_partial_replication_answer_keeps_its_copies_and_is_unknown() {
        let table = "arn:aws:dynamodb:eu-west-1:111122223333:table/cases";
        let replica = "arn:aws:dynamodb:us-east-1:111122223333:table/cases";
        let rule = |dest: &str, region: &str| ReplicationRule {
            destination_bucket: dest.into(),
            destination_region: region.into(),
            copy_kind: CopyKind::MultiRegion as i32,
            ..ReplicationRule::default()
        };
        let mut facts = vec![
            fact(
                table,
                Body::Store(store("aws", table, StoreKind::Table, "eu-west-1")),
            ),
            fact(
                table,
                Body::Replication(Replication {
                    rules: vec![rule(replica, "us-east-1")],
                }),
            ),
            denied(
                table,
                "dynamodb:DescribeContinuousBackups",
                FactTopic::Replication,
            ),
        ];
        let views = interpret(&facts);
        let v = view(&views, table);
        assert_eq!(v.replication.len(), 1);
        assert_eq!(v.replicated_outside_eu_known(), Some(true));
        let why = v
            .unknown(landmeter_proto::dimension::REPLICATION)
            .expect("replication unknown");
        assert_eq!(
            (why.call.as_str(), why.code.as_str()),
            ("dynamodb:DescribeContinuousBackups", "AccessDenied")
        );
        // Only an EU copy known: not "no", unknown.
        facts[1] = fact(
            table,
            Body::Replication(Replication {
                rules: vec![rule(
                    "arn:aws:dynamodb:eu-central-1:111122223333:table/cases",
                    "eu-central-1",
                )],
            }),
        );
        let views = interpret(&facts);
        let v = view(&views, table);
        assert_eq!(v.replicated_outside_eu_known(), None, "{v:?}");
        assert!(v.jurisdiction.starts_with("unknown"), "{}", v.jurisdiction);
    }

    #[test]
    fn size_basis_sharing_and_retention() {
        let vol = "arn:aws:ec2:eu-west-1:111122223333:volume/vol-1";
        let snap = "arn:aws:ec2:eu-west-1:111122223333:snapshot/snap-1";
        let vault = "arn:aws:backup:eu-west-1:111122223333:backup-vault:main";
        let facts = vec![
            fact(
                vol,
                Body::Store(store("aws", vol, StoreKind::Volume, "eu-west-1")),
            ),
            fact(
                vol,
                Body::Size(Size {
                    allocated_bytes: Some(100 << 30),
                    ..Size::default()
                }),
            ),
            fact(
                snap,
                Body::Store(store("aws", snap, StoreKind::Snapshot, "eu-west-1")),
            ),
            fact(
                snap,
                Body::Sharing(Sharing {
                    public: true,
                    accounts: vec!["444455556666".into()],
                }),
            ),
            fact(
                vault,
                Body::Store(store("aws", vault, StoreKind::BackupVault, "eu-west-1")),
            ),
            fact(
                vault,
                Body::Size(Size {
                    known: true,
                    bytes_by_storage_type: [("RecoveryPoints".to_owned(), 5_000)].into(),
                    objects: 3,
                    ..Size::default()
                }),
            ),
            fact(
                vault,
                Body::Retention(Retention {
                    enabled: true,
                    mode: "COMPLIANCE".into(),
                    days: 30,
                    ..Retention::default()
                }),
            ),
        ];
        let views = interpret(&facts);
        let v = view(&views, vol);
        assert_eq!(
            (v.bytes, v.size_basis.as_str()),
            (Some(100 << 30), "allocated")
        );
        assert!(!v.is_unknown(landmeter_proto::dimension::SIZE));
        let s = view(&views, snap);
        assert!(s.shared_publicly);
        assert_eq!(s.shared_with, ["444455556666"]);
        assert!(s.custody_modifiers.iter().any(|m| m.contains("publicly")));
        assert!(
            s.is_unknown(landmeter_proto::dimension::SIZE),
            "no size: unknown"
        );
        let b = view(&views, vault);
        assert_eq!(
            (b.bytes, b.objects, b.size_basis.as_str()),
            (Some(5_000), Some(3), "stored")
        );
        assert!(b.object_lock && b.object_lock_mode == "COMPLIANCE");
        assert_eq!(b.object_lock_retention_days, Some(30));
    }

    #[test]
    fn a_denied_sharing_read_is_unknown_not_private() {
        let snap = "arn:aws:ec2:eu-west-1:111122223333:snapshot/snap-1";
        let facts = vec![
            fact(
                snap,
                Body::Store(store("aws", snap, StoreKind::Snapshot, "eu-west-1")),
            ),
            denied(snap, "ec2:DescribeSnapshotAttribute", FactTopic::Sharing),
        ];
        let views = interpret(&facts);
        let s = view(&views, snap);
        assert!(!s.shared_publicly && s.shared_with.is_empty());
        let u = s
            .unknown(landmeter_proto::dimension::SHARING)
            .expect("sharing unknown");
        assert_eq!(u.code, "AccessDenied");
    }
}
