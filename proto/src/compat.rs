//! Facts from agents before wave 2, brought to the current shape.
//!
//! Old agents fill none of `Store.kind`, `Gap.topic`, `Encryption.detail` and
//! `Encryption.double_encryption`: they write provider-specific encryption values into the flat
//! fields 5-13 and name a failed call only by its `service:Operation` name. [`upgrade_fact`]
//! derives the new fields from the old ones so that the collector's map reads one shape only.
//! This module is the one place that knows the old agents' service strings and call names.
//!
//! Rules (each applies only while the new field is unset, so an upgrade is idempotent and a
//! new agent's own values always win):
//! - `Store.kind` from `service`: `s3` -> bucket, `azure-storage-account` -> storage account,
//!   `azure-blob-container` -> container; an unknown service with a `parent` is a container
//!   (the only nested store old agents report). Otherwise it stays unspecified.
//! - `Gap.topic` from `call`, by the table [`OLD_CALL_TOPICS`] (every call `AWS_CALLS` and
//!   `AZURE_CALLS` list). An unknown call stays unspecified: no rule can then read the gap as
//!   evidence about a dimension, which leaves that dimension unknown, never "no".
//! - `Encryption.detail`, when absent, by [`old_detail`]: Azure Storage when any Azure-only flat
//!   field is set, the algorithm is an Azure `keySource`, the not-configured code is the Azure
//!   agent's `NoEncryptionProperty`, or the fact came from an Azure call (`arm:`, `blob:`);
//!   else S3 when any S3-only flat field is set, the algorithm is an S3 SSE algorithm, or the
//!   fact came from an `s3:` call; else no detail (nothing provider-specific was said).
//! - `Encryption.double_encryption` is set by `aws:kms:dsse` (S3 dual-layer) or by Azure
//!   `require_infrastructure_encryption`; it is never cleared.
//!
//! The flat fields are left as they are: the stored fact stays what the agent sent.

use crate::v1::{
    AzureStorageEncryption, Encryption, Fact, FactTopic, Gap, S3Encryption, Store, StoreKind,
    encryption::Detail, fact::Body,
};

/// Old agents' store services.
const SERVICE_S3: &str = "s3";
const SERVICE_AZURE_ACCOUNT: &str = "azure-storage-account";
const SERVICE_AZURE_CONTAINER: &str = "azure-blob-container";

/// The not-configured code the Azure agent writes for an account without an encryption property.
const AZURE_NO_ENCRYPTION_PROPERTY: &str = "NoEncryptionProperty";

/// Every call an old agent can report as a gap, with the dimension its failure leaves unknown.
pub const OLD_CALL_TOPICS: &[(&str, FactTopic)] = &[
    // AWS (agent `AWS_CALLS`). Without the caller's identity or a role, the account is not listed.
    ("sts:GetCallerIdentity", FactTopic::Listing),
    ("sts:AssumeRole", FactTopic::Listing),
    ("organizations:ListAccounts", FactTopic::Listing),
    ("s3:ListBuckets", FactTopic::Listing),
    ("s3:HeadBucket", FactTopic::Location),
    ("s3:GetBucketLocation", FactTopic::Location),
    ("s3:GetBucketEncryption", FactTopic::Encryption),
    ("s3:GetBucketTagging", FactTopic::Tags),
    ("s3:GetBucketReplication", FactTopic::Replication),
    ("s3:GetObjectLockConfiguration", FactTopic::Retention),
    ("cloudwatch:ListMetrics", FactTopic::Size),
    ("cloudwatch:GetMetricData", FactTopic::Size),
    ("kms:ListAliases", FactTopic::Key),
    ("kms:DescribeKey", FactTopic::Key),
    ("kms:DescribeCustomKeyStores", FactTopic::KeyStore),
    // Azure (agent `AZURE_CALLS`). An account's encryption scopes are part of its encryption;
    // vaults and managed HSMs are where keys are held.
    ("arm:Subscriptions_List", FactTopic::Listing),
    ("arm:StorageAccounts_List", FactTopic::Listing),
    ("arm:EncryptionScopes_List", FactTopic::Encryption),
    ("arm:Vaults_ListBySubscription", FactTopic::KeyStore),
    ("arm:ManagedHsms_ListBySubscription", FactTopic::KeyStore),
    ("arm:Keys_Get", FactTopic::Key),
    ("arm:ManagedHsmKeys_Get", FactTopic::Key),
    ("monitor:Metrics_List", FactTopic::Size),
    ("blob:ListContainers", FactTopic::Listing),
];

/// Brings a fact from an agent before wave 2 to the current shape. Idempotent; a fact that is
/// already current is left unchanged.
pub fn upgrade_fact(fact: &mut Fact) {
    let api_call = fact.api_call.as_str();
    match &mut fact.body {
        Some(Body::Store(s)) => {
            if let Some(kind) = old_store_kind(s) {
                s.set_kind(kind);
            }
        }
        Some(Body::Gap(g)) => {
            if let Some(topic) = old_gap_topic(g) {
                g.set_topic(topic);
            }
        }
        Some(Body::Encryption(e)) => {
            if e.detail.is_none() {
                e.detail = old_detail(e, api_call);
            }
            if old_double_encryption(e) {
                e.double_encryption = true;
            }
        }
        _ => {}
    }
}

/// Whether [`upgrade_fact`] would change the fact. Cheap: lets a caller copy only old facts.
pub fn needs_upgrade(fact: &Fact) -> bool {
    match &fact.body {
        Some(Body::Store(s)) => old_store_kind(s).is_some(),
        Some(Body::Gap(g)) => old_gap_topic(g).is_some(),
        Some(Body::Encryption(e)) => {
            (e.detail.is_none() && old_detail(e, &fact.api_call).is_some())
                || old_double_encryption(e)
        }
        _ => false,
    }
}

/// The kind an old agent's store is, when the store names none.
fn old_store_kind(s: &Store) -> Option<StoreKind> {
    if s.kind() != StoreKind::Unspecified {
        return None;
    }
    match s.service.as_str() {
        SERVICE_S3 => Some(StoreKind::Bucket),
        SERVICE_AZURE_ACCOUNT => Some(StoreKind::StorageAccount),
        SERVICE_AZURE_CONTAINER => Some(StoreKind::Container),
        _ if !s.parent.is_empty() => Some(StoreKind::Container),
        _ => None,
    }
}

/// The topic of an old agent's gap, when the gap names none.
fn old_gap_topic(g: &Gap) -> Option<FactTopic> {
    if g.topic() != FactTopic::Unspecified {
        return None;
    }
    OLD_CALL_TOPICS
        .iter()
        .find(|(call, _)| *call == g.call)
        .map(|(_, topic)| *topic)
}

/// The provider-specific detail held in an old agent's flat encryption fields (rule in the
/// module documentation). `None` when nothing provider-specific was said.
fn old_detail(e: &Encryption, api_call: &str) -> Option<Detail> {
    let azure_fields = e.require_infrastructure_encryption
        || !e.federated_identity_client_id.is_empty()
        || !e.user_assigned_identity.is_empty()
        || !e.encryption_scope.is_empty()
        || e.deny_encryption_scope_override
        || !e.scope_state.is_empty();
    let azure_source = e.algorithm.eq_ignore_ascii_case("Microsoft.Storage")
        || e.algorithm.eq_ignore_ascii_case("Microsoft.Keyvault");
    let azure_call = api_call.starts_with("arm:") || api_call.starts_with("blob:");
    if azure_fields
        || azure_source
        || azure_call
        || e.not_configured_code == AZURE_NO_ENCRYPTION_PROPERTY
    {
        return Some(Detail::AzureStorage(AzureStorageEncryption {
            federated_identity_client_id: e.federated_identity_client_id.clone(),
            user_assigned_identity: e.user_assigned_identity.clone(),
            encryption_scope: e.encryption_scope.clone(),
            deny_encryption_scope_override: e.deny_encryption_scope_override,
            scope_state: e.scope_state.clone(),
        }));
    }
    let s3_fields = e.bucket_key_enabled
        || !e.blocked_encryption_types.is_empty()
        || !e.not_configured_code.is_empty();
    let s3_algorithm = matches!(
        e.algorithm.as_str(),
        "AES256" | "aws:kms" | "aws:kms:dsse" | "aws:fsx" | "aws:backup"
    );
    if s3_fields || s3_algorithm || api_call.starts_with("s3:") {
        return Some(Detail::S3(S3Encryption {
            bucket_key_enabled: e.bucket_key_enabled,
            blocked_encryption_types: e.blocked_encryption_types.clone(),
            not_configured_code: e.not_configured_code.clone(),
        }));
    }
    None
}

/// A second layer of encryption that the flat fields show and `double_encryption` does not.
fn old_double_encryption(e: &Encryption) -> bool {
    !e.double_encryption && (e.algorithm == "aws:kms:dsse" || e.require_infrastructure_encryption)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{EncryptionState, GapKind, Tags};

    fn fact(api_call: &str, body: Body) -> Fact {
        Fact {
            account: "111122223333".into(),
            subject: "s".into(),
            observed_at_ms: 1,
            api_call: api_call.into(),
            body: Some(body),
        }
    }

    fn store(service: &str, parent: &str) -> Body {
        Body::Store(Store {
            provider: "aws".into(),
            service: service.into(),
            name: "n".into(),
            parent: parent.into(),
            ..Store::default()
        })
    }

    fn gap(call: &str) -> Body {
        Body::Gap(Gap {
            kind: GapKind::AccessDenied as i32,
            code: "AccessDenied".into(),
            call: call.into(),
            ..Gap::default()
        })
    }

    fn upgraded(mut f: Fact) -> Fact {
        upgrade_fact(&mut f);
        f
    }

    fn kind_of(f: &Fact) -> StoreKind {
        match &f.body {
            Some(Body::Store(s)) => s.kind(),
            other => panic!("not a store: {other:?}"),
        }
    }

    fn topic_of(f: &Fact) -> FactTopic {
        match &f.body {
            Some(Body::Gap(g)) => g.topic(),
            other => panic!("not a gap: {other:?}"),
        }
    }

    fn enc_of(f: &Fact) -> &Encryption {
        match &f.body {
            Some(Body::Encryption(e)) => e,
            other => panic!("not an encryption: {other:?}"),
        }
    }

    #[test]
    fn store_kinds_from_old_services() {
        for (service, parent, kind) in [
            ("s3", "", StoreKind::Bucket),
            ("azure-storage-account", "", StoreKind::StorageAccount),
            ("azure-blob-container", "acct", StoreKind::Container),
            ("azure-blob-container", "", StoreKind::Container),
            ("future-nested", "acct", StoreKind::Container),
            ("future", "", StoreKind::Unspecified),
        ] {
            let f = upgraded(fact("x", store(service, parent)));
            assert_eq!(kind_of(&f), kind, "{service}/{parent}");
        }
        // A kind the agent set is kept, whatever the service says.
        let mut f = fact("x", store("s3", ""));
        if let Some(Body::Store(s)) = &mut f.body {
            s.set_kind(StoreKind::Volume);
        }
        assert!(!needs_upgrade(&f));
        assert_eq!(kind_of(&upgraded(f)), StoreKind::Volume);
    }

    #[test]
    fn gap_topics_from_old_call_names() {
        for (call, topic) in [
            ("s3:GetBucketEncryption", FactTopic::Encryption),
            ("kms:DescribeKey", FactTopic::Key),
            ("s3:GetBucketTagging", FactTopic::Tags),
            ("s3:HeadBucket", FactTopic::Location),
            ("cloudwatch:GetMetricData", FactTopic::Size),
            ("kms:DescribeCustomKeyStores", FactTopic::KeyStore),
            ("arm:EncryptionScopes_List", FactTopic::Encryption),
            ("arm:ManagedHsmKeys_Get", FactTopic::Key),
            ("blob:ListContainers", FactTopic::Listing),
            ("s3:GetSomethingNew", FactTopic::Unspecified),
        ] {
            assert_eq!(topic_of(&upgraded(fact(call, gap(call)))), topic, "{call}");
        }
        // The agent's own topic wins over the table.
        let mut f = fact("kms:DescribeKey", gap("kms:DescribeKey"));
        if let Some(Body::Gap(g)) = &mut f.body {
            g.set_topic(FactTopic::KeyStore);
        }
        assert_eq!(topic_of(&upgraded(f)), FactTopic::KeyStore);
    }

    #[test]
    fn every_old_call_has_one_topic() {
        let mut calls: Vec<&str> = OLD_CALL_TOPICS.iter().map(|(c, _)| *c).collect();
        let n = calls.len();
        calls.sort_unstable();
        calls.dedup();
        assert_eq!(calls.len(), n, "a call listed twice");
        assert!(
            OLD_CALL_TOPICS
                .iter()
                .all(|(_, t)| *t != FactTopic::Unspecified)
        );
    }

    #[test]
    fn encryption_detail_from_flat_fields() {
        // (api call, old flat encryption) -> detail and double encryption
        let s3_kms = Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: "aws:kms:dsse".into(),
            key_ref: "alias/shared".into(),
            bucket_key_enabled: true,
            blocked_encryption_types: vec!["SSE-C".into()],
            ..Encryption::default()
        };
        let f = upgraded(fact("s3:GetBucketEncryption", Body::Encryption(s3_kms)));
        let e = enc_of(&f);
        assert_eq!(
            e.detail,
            Some(Detail::S3(S3Encryption {
                bucket_key_enabled: true,
                blocked_encryption_types: vec!["SSE-C".into()],
                not_configured_code: String::new(),
            }))
        );
        assert!(e.double_encryption);
        assert_eq!(e.key_ref, "alias/shared", "neutral fields untouched");
        assert!(e.bucket_key_enabled, "flat fields kept as sent");

        let s3_none = Encryption {
            state: EncryptionState::NotConfigured as i32,
            not_configured_code: "ServerSideEncryptionConfigurationNotFoundError".into(),
            ..Encryption::default()
        };
        let f = upgraded(fact("s3:GetBucketEncryption", Body::Encryption(s3_none)));
        assert!(matches!(&enc_of(&f).detail, Some(Detail::S3(d))
            if d.not_configured_code == "ServerSideEncryptionConfigurationNotFoundError"));
        assert!(!enc_of(&f).double_encryption);

        let azure_account = Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: "Microsoft.Keyvault".into(),
            key_ref: "https://contoso.vault.azure.net/keys/k1".into(),
            require_infrastructure_encryption: true,
            federated_identity_client_id: "client-1".into(),
            ..Encryption::default()
        };
        let f = upgraded(fact(
            "arm:StorageAccounts_List",
            Body::Encryption(azure_account),
        ));
        assert!(matches!(&enc_of(&f).detail, Some(Detail::AzureStorage(d))
            if d.federated_identity_client_id == "client-1"));
        assert!(enc_of(&f).double_encryption);

        // A container without a scope says nothing but where it came from.
        let container = Encryption {
            state: EncryptionState::Configured as i32,
            ..Encryption::default()
        };
        let f = upgraded(fact(
            "blob:ListContainers",
            Body::Encryption(container.clone()),
        ));
        assert_eq!(
            enc_of(&f).detail,
            Some(Detail::AzureStorage(AzureStorageEncryption::default()))
        );
        // The Azure agent's not-configured answer.
        let none = Encryption {
            state: EncryptionState::NotConfigured as i32,
            not_configured_code: "NoEncryptionProperty".into(),
            ..Encryption::default()
        };
        let f = upgraded(fact("test", Body::Encryption(none)));
        assert!(matches!(enc_of(&f).detail, Some(Detail::AzureStorage(_))));
        // Nothing provider-specific at all: no detail, and nothing to upgrade.
        let f = fact("test", Body::Encryption(container));
        assert!(!needs_upgrade(&f));
        assert_eq!(enc_of(&upgraded(f)).detail, None);
    }

    #[test]
    fn a_new_agents_detail_is_kept() {
        let e = Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: "AES256".into(),
            bucket_key_enabled: true,
            detail: Some(Detail::S3(S3Encryption::default())),
            ..Encryption::default()
        };
        let f = fact("s3:GetBucketEncryption", Body::Encryption(e));
        assert!(!needs_upgrade(&f));
        assert_eq!(
            enc_of(&upgraded(f)).detail,
            Some(Detail::S3(S3Encryption::default()))
        );
    }

    #[test]
    fn upgrade_is_idempotent_and_needs_upgrade_agrees() {
        let facts = [
            fact("s3:ListBuckets", store("s3", "")),
            fact("blob:ListContainers", store("azure-blob-container", "a")),
            fact("kms:DescribeKey", gap("kms:DescribeKey")),
            fact("s3:Unknown", gap("s3:Unknown")),
            fact(
                "s3:GetBucketEncryption",
                Body::Encryption(Encryption {
                    state: EncryptionState::Configured as i32,
                    algorithm: "aws:kms:dsse".into(),
                    ..Encryption::default()
                }),
            ),
            fact(
                "arm:StorageAccounts_List",
                Body::Encryption(Encryption {
                    state: EncryptionState::Configured as i32,
                    algorithm: "Microsoft.Storage".into(),
                    require_infrastructure_encryption: true,
                    ..Encryption::default()
                }),
            ),
            fact("s3:GetBucketTagging", Body::Tags(Tags::default())),
        ];
        for f in facts {
            let once = upgraded(f.clone());
            assert_eq!(needs_upgrade(&f), once != f, "{f:?}");
            assert!(!needs_upgrade(&once), "{once:?}");
            assert_eq!(upgraded(once.clone()), once);
        }
    }
}
