//! Old agents against a new collector: facts exactly as an agent before wave 2 sends them (flat
//! encryption fields, no store kind, no gap topic) interpret to the same map as the same
//! answers in the current shape (kind, topic, `Encryption.detail` and `double_encryption` set,
//! the flat fields kept as the current agent also fills them). Only the public map API.

use landmeter_collector::map::reference::ReferenceTables;
use landmeter_collector::map::{Interpreter, TagConventions};
use landmeter_proto::Custody;
use landmeter_proto::v1::{
    AzureStorageEncryption, Encryption, EncryptionState, Fact, FactTopic, Gap, GapKind, Key,
    S3Encryption, Store, StoreKind, StoreView, Tag, Tags, encryption::Detail, fact::Body,
};

const AWS_ACCOUNT: &str = "111122223333";
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000000aa";
const KMS_ARN: &str =
    "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const DENIED_KEY: &str = "arn:aws:kms:eu-central-1:999988887777:key/other";
const VAULT_KEY: &str = "https://gemeente.vault.azure.net/keys/cmk";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Shape {
    /// An agent before wave 2.
    Old,
    /// The current agent: new fields and the flat ones.
    Current,
}

fn fact(account: &str, subject: &str, call: &str, body: Body) -> Fact {
    Fact {
        account: account.into(),
        subject: subject.into(),
        observed_at_ms: 1_764_000_000_000,
        api_call: call.into(),
        body: Some(body),
    }
}

fn kind(shape: Shape, kind: StoreKind) -> i32 {
    match shape {
        Shape::Old => StoreKind::Unspecified as i32,
        Shape::Current => kind as i32,
    }
}

fn gap(
    shape: Shape,
    account: &str,
    subject: &str,
    call: &str,
    topic: FactTopic,
    code: &str,
) -> Fact {
    fact(
        account,
        subject,
        call,
        Body::Gap(Gap {
            kind: GapKind::AccessDenied as i32,
            code: code.into(),
            message: "not allowed".into(),
            call: call.into(),
            topic: match shape {
                Shape::Old => FactTopic::Unspecified as i32,
                Shape::Current => topic as i32,
            },
        }),
    )
}

fn bucket(shape: Shape, name: &str) -> Fact {
    fact(
        AWS_ACCOUNT,
        name,
        "s3:ListBuckets",
        Body::Store(Store {
            provider: "aws".into(),
            service: "s3".into(),
            name: name.into(),
            region: "eu-central-1".into(),
            region_source: "ListBuckets.BucketRegion".into(),
            kind: kind(shape, StoreKind::Bucket),
            ..Store::default()
        }),
    )
}

/// GetBucketEncryption as the AWS provider reports it: flat S3 fields always; the current
/// agent adds the S3 detail and the double-encryption flag.
fn s3_encryption(shape: Shape, name: &str, mut e: Encryption) -> Fact {
    if shape == Shape::Current {
        e.detail = Some(Detail::S3(S3Encryption {
            bucket_key_enabled: e.bucket_key_enabled,
            blocked_encryption_types: e.blocked_encryption_types.clone(),
            not_configured_code: e.not_configured_code.clone(),
        }));
        e.double_encryption = e.algorithm == "aws:kms:dsse";
    }
    fact(
        AWS_ACCOUNT,
        name,
        "s3:GetBucketEncryption",
        Body::Encryption(e),
    )
}

fn aws_facts(shape: Shape) -> Vec<Fact> {
    vec![
        // A customer-managed KMS key, bucket key on, SSE-C blocked.
        bucket(shape, "zaken-archief"),
        s3_encryption(
            shape,
            "zaken-archief",
            Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: "aws:kms".into(),
                key_ref: KMS_ARN.into(),
                resolved_key_arn: KMS_ARN.into(),
                bucket_key_enabled: true,
                blocked_encryption_types: vec!["SSE-C".into()],
                ..Encryption::default()
            },
        ),
        fact(
            AWS_ACCOUNT,
            "zaken-archief",
            "s3:GetBucketTagging",
            Body::Tags(Tags {
                tags: vec![Tag {
                    key: "classification".into(),
                    value: "BBN2".into(),
                }],
            }),
        ),
        fact(
            AWS_ACCOUNT,
            KMS_ARN,
            "kms:DescribeKey",
            Body::Key(Key {
                arn: KMS_ARN.into(),
                key_account: AWS_ACCOUNT.into(),
                region: "eu-central-1".into(),
                key_manager: "CUSTOMER".into(),
                origin: "AWS_KMS".into(),
                key_state: "Enabled".into(),
                key_spec: "SYMMETRIC_DEFAULT".into(),
                requested_refs: vec![KMS_ARN.into()],
                ..Key::default()
            }),
        ),
        // Default encryption could not be read: a gap, custody unknown.
        bucket(shape, "denied"),
        gap(
            shape,
            AWS_ACCOUNT,
            "denied",
            "s3:GetBucketEncryption",
            FactTopic::Encryption,
            "AccessDenied",
        ),
        // DSSE with the AWS-managed key.
        bucket(shape, "dual-layer"),
        s3_encryption(
            shape,
            "dual-layer",
            Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: "aws:kms:dsse".into(),
                ..Encryption::default()
            },
        ),
        // Another account's key that could not be described.
        bucket(shape, "cross-account"),
        s3_encryption(
            shape,
            "cross-account",
            Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: "aws:kms".into(),
                key_ref: DENIED_KEY.into(),
                ..Encryption::default()
            },
        ),
        gap(
            shape,
            AWS_ACCOUNT,
            DENIED_KEY,
            "kms:DescribeKey",
            FactTopic::Key,
            "AccessDeniedException",
        ),
        // No rule: on AWS still encrypted (providers table), custody provider.
        bucket(shape, "no-rule"),
        s3_encryption(
            shape,
            "no-rule",
            Encryption {
                state: EncryptionState::NotConfigured as i32,
                not_configured_code: "ServerSideEncryptionConfigurationNotFoundError".into(),
                ..Encryption::default()
            },
        ),
    ]
}

/// ARM's account encryption and blob containers as the Azure provider reports them.
fn azure_facts(shape: Shape) -> Vec<Fact> {
    let account = |name: &str, sku: &str, secondary: &str| {
        fact(
            SUBSCRIPTION,
            name,
            "arm:StorageAccounts_List",
            Body::Store(Store {
                provider: "microsoft-azure".into(),
                service: "azure-storage-account".into(),
                name: name.into(),
                region: "westeurope".into(),
                region_source: "arm:location".into(),
                endpoint: format!("https://{name}.blob.core.windows.net"),
                sku: sku.into(),
                secondary_region: secondary.into(),
                access_tier: "Hot".into(),
                kind: kind(shape, StoreKind::StorageAccount),
                ..Store::default()
            }),
        )
    };
    let container = |account: &str, name: &str, scope: &str, deny: bool| {
        let subject = format!("{account}/{name}");
        let mut e = Encryption {
            state: EncryptionState::Configured as i32,
            encryption_scope: scope.into(),
            deny_encryption_scope_override: deny,
            ..Encryption::default()
        };
        if shape == Shape::Current {
            e.detail = Some(Detail::AzureStorage(AzureStorageEncryption {
                encryption_scope: scope.into(),
                deny_encryption_scope_override: deny,
                ..AzureStorageEncryption::default()
            }));
        }
        vec![
            fact(
                SUBSCRIPTION,
                &subject,
                "blob:ListContainers",
                Body::Store(Store {
                    provider: "microsoft-azure".into(),
                    service: "azure-blob-container".into(),
                    name: subject.clone(),
                    region: "westeurope".into(),
                    region_source: "account".into(),
                    parent: account.into(),
                    kind: kind(shape, StoreKind::Container),
                    ..Store::default()
                }),
            ),
            fact(
                SUBSCRIPTION,
                &subject,
                "blob:ListContainers",
                Body::Encryption(e),
            ),
        ]
    };
    let mut keyvault = Encryption {
        state: EncryptionState::Configured as i32,
        algorithm: "Microsoft.Keyvault".into(),
        key_ref: VAULT_KEY.into(),
        resolved_key_arn: VAULT_KEY.into(),
        require_infrastructure_encryption: true,
        user_assigned_identity: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmk".into(),
        ..Encryption::default()
    };
    if shape == Shape::Current {
        keyvault.detail = Some(Detail::AzureStorage(AzureStorageEncryption {
            user_assigned_identity: keyvault.user_assigned_identity.clone(),
            ..AzureStorageEncryption::default()
        }));
        keyvault.double_encryption = true;
    }
    let mut facts = vec![
        account("stzaken", "Standard_GRS", "northeurope"),
        fact(
            SUBSCRIPTION,
            "stzaken",
            "arm:StorageAccounts_List",
            Body::Tags(Tags {
                tags: vec![Tag {
                    key: "process".into(),
                    value: "burgerzaken".into(),
                }],
            }),
        ),
        fact(
            SUBSCRIPTION,
            "stzaken",
            "arm:StorageAccounts_List",
            Body::Encryption(keyvault),
        ),
        fact(
            SUBSCRIPTION,
            VAULT_KEY,
            "arm:Keys_Get",
            Body::Key(Key {
                arn: VAULT_KEY.into(),
                key_account: SUBSCRIPTION.into(),
                region: "westeurope".into(),
                key_manager: "CUSTOMER".into(),
                key_state: "Enabled".into(),
                key_spec: "RSA-HSM-3072".into(),
                requested_refs: vec![VAULT_KEY.into()],
                hsm_backed: true,
                key_type: "RSA-HSM".into(),
                key_service: "Microsoft.KeyVault/vaults".into(),
                ..Key::default()
            }),
        ),
        // An account whose scopes could not be listed, with a container naming one.
        account("stscoped", "Standard_LRS", ""),
        fact(
            SUBSCRIPTION,
            "stscoped",
            "arm:StorageAccounts_List",
            Body::Encryption(Encryption {
                state: EncryptionState::Configured as i32,
                algorithm: "Microsoft.Storage".into(),
                detail: (shape == Shape::Current)
                    .then(|| Detail::AzureStorage(AzureStorageEncryption::default())),
                ..Encryption::default()
            }),
        ),
        gap(
            shape,
            SUBSCRIPTION,
            "stscoped",
            "arm:EncryptionScopes_List",
            FactTopic::Encryption,
            "AuthorizationFailed",
        ),
    ];
    facts.extend(container("stzaken", "dossiers", "", false));
    facts.extend(container("stscoped", "paspoort", "scope-bbn3", true));
    facts
}

fn interpret(account: &str, facts: &[Fact]) -> Vec<StoreView> {
    let interpreter = Interpreter::new(
        ReferenceTables::builtin().expect("shipped tables"),
        TagConventions::default(),
    );
    interpreter.interpret_account("gemeente", account, facts, &|_, _| None)
}

fn by_name<'v>(views: &'v [StoreView], name: &str) -> &'v StoreView {
    views.iter().find(|v| v.name == name).expect(name)
}

#[test]
fn an_old_agents_s3_facts_give_the_same_map_as_the_current_shape() {
    let old = interpret(AWS_ACCOUNT, &aws_facts(Shape::Old));
    let current = interpret(AWS_ACCOUNT, &aws_facts(Shape::Current));
    assert_eq!(old, current);
    assert_eq!(current.len(), 5);
    assert!(current.iter().all(|v| v.kind == "bucket"));

    let archive = by_name(&current, "zaken-archief");
    assert_eq!(
        archive.custody(),
        Custody::CustomerManaged,
        "{}",
        archive.custody_reason
    );
    assert_eq!(archive.custody_modifiers, ["bucket key enabled"]);
    assert_eq!(archive.client_key_mode, "sse-c-blocked");
    assert_eq!(archive.classification, "BBN2");

    let denied = by_name(&current, "denied");
    assert_eq!(denied.custody(), Custody::Unknown);
    assert_eq!(
        denied.custody_reason,
        "s3:GetBucketEncryption failed: AccessDenied: not allowed"
    );

    let dual = by_name(&current, "dual-layer");
    assert_eq!(dual.custody(), Custody::Provider);
    assert_eq!(dual.custody_modifiers, ["dual-layer encryption (DSSE-KMS)"]);

    let cross = by_name(&current, "cross-account");
    assert_eq!(cross.custody(), Custody::Unknown);
    assert!(
        cross
            .custody_reason
            .starts_with("kms:DescribeKey failed for"),
        "{}",
        cross.custody_reason
    );
    assert_eq!(cross.key_owner_account, "999988887777");

    assert_eq!(by_name(&current, "no-rule").custody(), Custody::Provider);
}

#[test]
fn an_old_agents_azure_facts_give_the_same_map_as_the_current_shape() {
    let old = interpret(SUBSCRIPTION, &azure_facts(Shape::Old));
    let current = interpret(SUBSCRIPTION, &azure_facts(Shape::Current));
    assert_eq!(old, current);
    assert_eq!(current.len(), 4);

    let account = by_name(&current, "stzaken");
    assert_eq!(account.kind, "storage-account");
    assert_eq!(
        account.custody(),
        Custody::CustomerManaged,
        "{}",
        account.custody_reason
    );
    assert_eq!(
        account.custody_modifiers,
        [
            "infrastructure (double) encryption",
            "HSM-backed key (RSA-HSM)"
        ]
    );
    assert_eq!(account.replication[0].region, "northeurope");

    let dossiers = by_name(&current, "stzaken/dossiers");
    assert_eq!(dossiers.kind, "container");
    assert_eq!(dossiers.custody(), Custody::CustomerManaged);
    assert_eq!(
        dossiers.process, "burgerzaken",
        "inherits the account's tags"
    );
    assert_eq!(dossiers.key_arn, VAULT_KEY);

    let paspoort = by_name(&current, "stscoped/paspoort");
    assert_eq!(paspoort.custody(), Custody::Unknown);
    assert_eq!(
        paspoort.custody_reason,
        "default encryption scope scope-bbn3: arm:EncryptionScopes_List failed: AuthorizationFailed: not allowed"
    );
}

#[test]
fn reinterpreting_upgraded_facts_changes_nothing() {
    // What the store holds for an old agent is its facts as sent; whether they are upgraded
    // once, twice or never before interpretation, the map is the same.
    for (account, facts) in [
        (AWS_ACCOUNT, aws_facts(Shape::Old)),
        (SUBSCRIPTION, azure_facts(Shape::Old)),
    ] {
        let mut upgraded = facts.clone();
        upgraded
            .iter_mut()
            .for_each(landmeter_proto::compat::upgrade_fact);
        assert!(
            upgraded
                .iter()
                .all(|f| !landmeter_proto::compat::needs_upgrade(f))
        );
        assert_ne!(upgraded, facts, "the old shape was upgraded");
        assert_eq!(interpret(account, &upgraded), interpret(account, &facts));
    }
}

/// The same, end to end: an old agent's stream (ScanBegin without `providers`, facts in the
/// old shape) into a running collector over gRPC gives the map a current agent's stream
/// gives, with store kinds, as the operator reads it through `MapService`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_agents_stream_gives_the_same_map_over_grpc() {
    use crate::harness::Collector;
    use landmeter_proto::v1::{ListStoresRequest, collector_message::Msg};

    async fn map_after(shape: Shape) -> Vec<StoreView> {
        let c = Collector::start(&format!("compat-{shape:?}")).await;
        let mut a = c.agent("agent-1").await;
        for (n, (account, facts)) in [
            (AWS_ACCOUNT, aws_facts(shape)),
            (SUBSCRIPTION, azure_facts(shape)),
        ]
        .into_iter()
        .enumerate()
        {
            let scan = format!("s{n}");
            // `begin_for` sends what an old agent sends: one provider, no `providers`.
            a.begin_for(&scan, account).await;
            a.batch(&scan, 1, facts).await;
            assert!(matches!(a.next().await, Msg::Ack(_)), "batch acknowledged");
            a.end_for(&scan, 1, true, account).await;
            assert!(matches!(a.next().await, Msg::Ack(_)), "scan ended");
        }
        let stores = c
            .map()
            .await
            .list_stores(ListStoresRequest {
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner()
            .stores;
        drop(a);
        c.stop().await;
        stores
            .into_iter()
            .map(|mut v| {
                // Bookkeeping differs between the two runs by time only.
                v.first_seen_ms = 0;
                v.last_seen_ms = 0;
                v
            })
            .collect()
    }
    let old = map_after(Shape::Old).await;
    let current = map_after(Shape::Current).await;
    assert_eq!(old, current);
    let kinds: std::collections::BTreeSet<&str> = old.iter().map(|v| v.kind.as_str()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["bucket", "container", "storage-account"]
    );
}
