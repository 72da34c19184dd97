//! The custody ladder: who can use the key that protects a store's data at rest.
//!
//! Pure: facts in, a level with its reason and modifiers out. The rules follow DESIGN.md
//! ("Custody ladder") and shared/reference/KEY-CUSTODY.md section 1.

use landmeter_proto::Custody;
use landmeter_proto::v1::{
    Encryption, EncryptionState, Gap, Key, KeyStore, S3Encryption, Unsupported, encryption::Detail,
};

use super::reference::DefaultEncryption;

/// What the map knows about the key a store's encryption names.
#[derive(Debug, Clone, Copy)]
pub enum KeyEvidence<'a> {
    Described(&'a Key),
    Failed(&'a Gap),
    NotObserved,
}

/// Everything the custody decision for one store rests on.
#[derive(Debug, Clone, Copy)]
pub struct CustodyInput<'a> {
    /// The declared provider of the endpoint (`aws`, `ovhcloud`, ...).
    pub provider: &'a str,
    /// Whether the provider encrypts at rest when its API reports no rule (providers table).
    pub encrypts_by_default: DefaultEncryption,
    pub store_account: &'a str,
    pub store_region: &'a str,
    pub encryption: Option<&'a Encryption>,
    pub encryption_gap: Option<&'a Gap>,
    /// The provider does not implement the encryption-configuration call (an S3-compatible
    /// cloud's NotImplemented): not a gap, and not "no encryption".
    pub encryption_unsupported: Option<&'a Unsupported>,
    pub key: KeyEvidence<'a>,
    pub key_store: Option<&'a KeyStore>,
    /// A tag declares client-side encryption (no API can see it).
    pub client_side_declared: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustodyDecision {
    pub level: Custody,
    pub reason: String,
    pub modifiers: Vec<String>,
    pub key_arn: String,
    pub key_owner_account: String,
    pub key_region: String,
    /// Regions holding copies of the key material (multi-region keys), besides `key_region`.
    pub key_replica_regions: Vec<String>,
    pub client_key_mode: String,
}

/// What the S3 API said beside the neutral fields; empty for a fact that carries none.
fn s3_detail(enc: &Encryption) -> &S3Encryption {
    static NONE: S3Encryption = S3Encryption {
        bucket_key_enabled: false,
        blocked_encryption_types: Vec::new(),
        not_configured_code: String::new(),
    };
    match &enc.detail {
        Some(Detail::S3(d)) => d,
        _ => &NONE,
    }
}

pub fn decide(input: &CustodyInput<'_>) -> CustodyDecision {
    let mut d = CustodyDecision {
        client_key_mode: client_key_mode(input),
        ..CustodyDecision::default()
    };
    if let Some(gap) = input.encryption_gap {
        d.level = Custody::Unknown;
        d.reason = format!("{} failed: {}", gap.call, gap_text(gap));
        return d;
    }
    let Some(enc) = input.encryption else {
        if let Some(u) = input.encryption_unsupported {
            return decide_without_encryption_api(input, u, d);
        }
        d.level = Custody::Unknown;
        d.reason = "no default-encryption answer observed".into();
        return d;
    };
    let detail = s3_detail(enc);
    match enc.state() {
        EncryptionState::NotConfigured => {
            let code = &detail.not_configured_code;
            // "none" is what the API reported: no default encryption. Where the providers table
            // does not know the provider's default, the reason says so.
            (d.level, d.reason) = match input.encrypts_by_default {
                DefaultEncryption::Yes => (
                    Custody::Provider,
                    format!(
                        "no default encryption rule ({code}); {} encrypts every object with its own key",
                        input.provider
                    ),
                ),
                DefaultEncryption::No => (
                    Custody::None,
                    format!("no default encryption configured ({code})"),
                ),
                DefaultEncryption::Unknown => (
                    Custody::None,
                    format!(
                        "no default encryption configured ({code}); whether {} encrypts at rest by default is not known",
                        input.provider
                    ),
                ),
            };
            return d;
        }
        EncryptionState::Disabled => {
            d.level = Custody::None;
            d.reason = if enc.algorithm.is_empty() {
                "the service reports the data is not encrypted at rest".to_owned()
            } else {
                format!(
                    "the service reports the data is not encrypted at rest ({})",
                    enc.algorithm
                )
            };
            return d;
        }
        EncryptionState::Configured => {}
        EncryptionState::Unspecified => {
            d.level = Custody::Unknown;
            d.reason = "encryption answer without a state".into();
            return d;
        }
    }
    if detail.bucket_key_enabled {
        d.modifiers.push("bucket key enabled".into());
    }
    if enc.double_encryption {
        d.modifiers.push(if enc.algorithm == "aws:kms:dsse" {
            "dual-layer encryption (DSSE-KMS)".into()
        } else {
            "double encryption at rest".into()
        });
    }
    match enc.algorithm.as_str() {
        "AES256" => {
            d.level = Custody::Provider;
            d.reason = "SSE-S3 (AES256): provider-held key".into();
            d
        }
        "aws:kms" | "aws:kms:dsse" if !is_aws(input.provider) && !enc.key_ref.is_empty() => {
            // An S3-compatible cloud's SSE-KMS (Scaleway Key Manager, OTC KMS): a customer
            // key in the provider's multi-tenant KMS, which the agent does not describe
            // (KEY-CUSTODY.md section 4: C1).
            d.level = Custody::CustomerManaged;
            d.reason = format!(
                "{} with key {}: a customer key in {}'s own KMS",
                enc.algorithm, enc.key_ref, input.provider
            );
            d
        }
        "aws:kms" | "aws:kms:dsse" => decide_kms(input, enc, d),
        other => {
            d.level = Custody::Unknown;
            d.reason = format!("unrecognised SSE algorithm {other:?}");
            d
        }
    }
}

/// A provider that has no encryption-configuration call: what its documented default says
/// (providers table), else unknown. Never "none": nothing was observed to be unencrypted.
fn decide_without_encryption_api(
    input: &CustodyInput<'_>,
    u: &Unsupported,
    mut d: CustodyDecision,
) -> CustodyDecision {
    let answer = if u.code.is_empty() {
        String::new()
    } else {
        format!(" ({})", u.code)
    };
    let provider = input.provider;
    (d.level, d.reason) = match input.encrypts_by_default {
        DefaultEncryption::Yes => (
            Custody::Provider,
            format!(
                "{provider} does not implement {}{answer}; it encrypts every object at rest with its own key (providers table)",
                u.call
            ),
        ),
        DefaultEncryption::No | DefaultEncryption::Unknown => (
            Custody::Unknown,
            format!(
                "{provider} does not implement {}{answer}, and does not document encryption of every object by default: the bucket's encryption cannot be read",
                u.call
            ),
        ),
    };
    d
}

pub(super) fn decide_kms(
    input: &CustodyInput<'_>,
    enc: &Encryption,
    mut d: CustodyDecision,
) -> CustodyDecision {
    let key_ref = enc.key_ref.as_str();
    if key_ref.is_empty() {
        d.level = Custody::Provider;
        d.reason = "aws:kms without a key id: the AWS-managed aws/s3 key".into();
        return d;
    }
    if is_aws_managed_alias(key_ref) {
        d.level = Custody::Provider;
        d.reason = format!("AWS-managed key {key_ref}");
        return d;
    }
    if key_ref.starts_with("alias/") || key_ref.contains(":alias/") {
        d.modifiers.push(format!(
            "key named by alias {key_ref}: resolves in the requester's account, ambiguous"
        ));
    }
    // What the ARN alone tells, even when the key could not be described.
    let arn = if !enc.resolved_key_arn.is_empty() {
        enc.resolved_key_arn.as_str()
    } else {
        key_ref
    };
    if let Some((region, account)) = parse_kms_arn(arn) {
        d.key_region = region.to_owned();
        d.key_owner_account = account.to_owned();
        if arn.contains(":key/") {
            d.key_arn = arn.to_owned();
        }
    }
    let key = match input.key {
        KeyEvidence::Described(key) => key,
        KeyEvidence::Failed(gap) => {
            d.level = Custody::Unknown;
            d.reason = format!("{} failed for {key_ref}: {}", gap.call, gap_text(gap));
            add_location_modifiers(input, &mut d);
            return d;
        }
        KeyEvidence::NotObserved => {
            d.level = Custody::Unknown;
            d.reason = format!("key {key_ref} was not described");
            add_location_modifiers(input, &mut d);
            return d;
        }
    };
    d.key_arn = key.arn.clone();
    d.key_owner_account = key.key_account.clone();
    d.key_region = key.region.clone();
    add_location_modifiers(input, &mut d);
    if key.multi_region {
        let mut regions: Vec<&str> = key.replica_regions.iter().map(String::as_str).collect();
        if !key.primary_region.is_empty() && key.primary_region != key.region {
            regions.push(&key.primary_region);
        }
        regions.sort_unstable();
        regions.dedup();
        d.key_replica_regions = regions.iter().map(|r| (*r).to_owned()).collect();
        d.modifiers.push(format!(
            "multi-region key ({}), copies in: {}",
            key.multi_region_key_type.to_ascii_lowercase(),
            if regions.is_empty() {
                "none yet".to_owned()
            } else {
                regions.join(", ")
            }
        ));
    }
    if key.key_manager == "AWS" || key.aliases.iter().any(|a| is_aws_managed_alias(a)) {
        d.level = Custody::Provider;
        d.reason = format!("AWS-managed KMS key {}", key.arn);
        return d;
    }
    let (level, what) = match key.origin.as_str() {
        "AWS_KMS" => (
            Custody::CustomerManaged,
            "customer-managed KMS key, material made by AWS KMS",
        ),
        "EXTERNAL" => (
            Custody::Byok,
            "customer-managed KMS key with imported material (BYOK)",
        ),
        "AWS_CLOUDHSM" => (
            Custody::DedicatedHsm,
            "KMS key in a CloudHSM custom key store",
        ),
        "EXTERNAL_KEY_STORE" => (
            Custody::Hyok,
            "KMS key in an external key store (XKS): material outside AWS",
        ),
        other => {
            d.level = Custody::Unknown;
            d.reason = format!("unrecognised key origin {other:?} for {}", key.arn);
            return d;
        }
    };
    d.level = level;
    d.reason = format!("{what} ({})", key.arn);
    if !key.key_state.is_empty() && key.key_state != "Enabled" {
        d.modifiers.push(format!("key state {}", key.key_state));
    }
    if let Some(ks) = input.key_store {
        if !ks.xks_uri_endpoint.is_empty() {
            d.modifiers.push(format!(
                "external key proxy {} ({})",
                host_of(&ks.xks_uri_endpoint),
                ks.xks_connectivity.to_ascii_lowercase()
            ));
        }
        if !ks.xks_vpc_endpoint_service_owner.is_empty() {
            d.modifiers.push(format!(
                "key proxy reached through a VPC endpoint service owned by {}",
                ks.xks_vpc_endpoint_service_owner
            ));
        }
        if !ks.cloud_hsm_cluster_id.is_empty() {
            d.modifiers
                .push(format!("CloudHSM cluster {}", ks.cloud_hsm_cluster_id));
        }
        if !ks.connection_state.is_empty() && ks.connection_state != "CONNECTED" {
            d.modifiers.push(format!(
                "key store {}",
                ks.connection_state.to_ascii_lowercase()
            ));
        }
    } else if !key.custom_key_store_id.is_empty() {
        d.modifiers.push(format!(
            "custom key store {} not described",
            key.custom_key_store_id
        ));
    }
    d
}

fn add_location_modifiers(input: &CustodyInput<'_>, d: &mut CustodyDecision) {
    if !d.key_owner_account.is_empty() && d.key_owner_account != input.store_account {
        d.modifiers.push(format!(
            "key owned by another account: {}",
            d.key_owner_account
        ));
    }
    if !d.key_region.is_empty() && d.key_region != input.store_region {
        d.modifiers.push(format!("key in region {}", d.key_region));
    }
}

fn client_key_mode(input: &CustodyInput<'_>) -> String {
    if input.client_side_declared {
        return "client-side".into();
    }
    match input.encryption {
        Some(enc)
            if s3_detail(enc)
                .blocked_encryption_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case("SSE-C")) =>
        {
            "sse-c-blocked".into()
        }
        Some(_) => "sse-c-allowed".into(),
        None => String::new(),
    }
}

/// The AWS partitions' providers, whose `aws:kms` keys are AWS KMS keys.
fn is_aws(provider: &str) -> bool {
    matches!(provider, "aws" | "aws-european-sovereign-cloud")
}

/// `alias/aws/s3` or `arn:aws:kms:eu-west-1:111122223333:alias/aws/s3`: the `alias/aws/`
/// prefix is reserved for AWS-managed keys.
pub fn is_aws_managed_alias(r: &str) -> bool {
    r.starts_with("alias/aws/") || r.contains(":alias/aws/")
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>` (or `:alias/...`) -> (region, account).
pub fn parse_kms_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("kms"), Some(region), Some(account), Some(_res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    Some((region, account))
}

fn host_of(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    rest.split(['/', ':']).next().unwrap_or(rest)
}

pub(super) fn gap_text(gap: &Gap) -> String {
    if gap.message.is_empty() {
        gap.code.clone()
    } else {
        format!("{}: {}", gap.code, gap.message)
    }
}

#[cfg(test)]
mod tests {
    //! The classifier as a table: recorded API answers (as facts) -> level + modifiers.
    use super::*;
    use crate::map::reference::ReferenceTables;
    use landmeter_proto::compat::upgrade_fact;
    use landmeter_proto::v1::{Fact, GapKind, fact::Body};

    const ACCT: &str = "111122223333";
    const REGION: &str = "eu-central-1";

    fn enc(algorithm: &str, key_ref: &str) -> Encryption {
        Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: algorithm.into(),
            key_ref: key_ref.into(),
            ..Encryption::default()
        }
    }

    fn not_configured() -> Encryption {
        Encryption {
            state: EncryptionState::NotConfigured as i32,
            detail: Some(Detail::S3(S3Encryption {
                not_configured_code: "ServerSideEncryptionConfigurationNotFoundError".into(),
                ..S3Encryption::default()
            })),
            ..Encryption::default()
        }
    }

    /// An encryption fact as an agent before wave 2 sent it, upgraded as the map does.
    fn upgraded_old(e: Encryption) -> Encryption {
        let mut f = Fact {
            api_call: "s3:GetBucketEncryption".into(),
            body: Some(Body::Encryption(e)),
            ..Fact::default()
        };
        upgrade_fact(&mut f);
        match f.body {
            Some(Body::Encryption(e)) => e,
            other => panic!("not an encryption: {other:?}"),
        }
    }

    fn by_default(provider: &str) -> DefaultEncryption {
        ReferenceTables::builtin()
            .expect("tables")
            .encrypts_at_rest_by_default(provider)
    }

    /// DescribeKey's KeyMetadata as AWS records it (KEY-CUSTODY.md 1.4).
    fn key(id: &str, manager: &str, origin: &str) -> Key {
        Key {
            arn: format!("arn:aws:kms:{REGION}:{ACCT}:key/{id}"),
            key_account: ACCT.into(),
            region: REGION.into(),
            key_manager: manager.into(),
            origin: origin.into(),
            key_state: "Enabled".into(),
            ..Key::default()
        }
    }

    fn denied(call: &str) -> Gap {
        Gap {
            kind: GapKind::AccessDenied as i32,
            code: "AccessDenied".into(),
            message: "Access Denied".into(),
            call: call.into(),
            ..Default::default()
        }
    }

    /// DescribeCustomKeyStores entry for an XKS store, shape from KEY-CUSTODY.md 1.4.
    fn xks_store() -> KeyStore {
        KeyStore {
            id: "cks-1234567890abcdef0".into(),
            name: "ExampleXksKeyStore".into(),
            store_type: "EXTERNAL_KEY_STORE".into(),
            connection_state: "CONNECTED".into(),
            xks_uri_endpoint: "https://xks.example.eu:443".into(),
            xks_uri_path: "/example/prefix/kms/xks/v1".into(),
            xks_connectivity: "PUBLIC_ENDPOINT".into(),
            ..KeyStore::default()
        }
    }

    /// DescribeCustomKeyStores entry for a CloudHSM store.
    fn cloudhsm_store() -> KeyStore {
        KeyStore {
            id: "cks-0987654321fedcba0".into(),
            name: "ExampleCloudHSMKeyStore".into(),
            store_type: "AWS_CLOUDHSM".into(),
            connection_state: "CONNECTED".into(),
            cloud_hsm_cluster_id: "cluster-1a23b4cdefg".into(),
            ..KeyStore::default()
        }
    }

    fn check(
        provider: &str,
        e: Option<Encryption>,
        gap: Option<Gap>,
        k: Option<Result<Key, Gap>>,
        ks: Option<KeyStore>,
        expect_level: Custody,
        expect_modifiers: &[&str],
    ) {
        let key_holder = k;
        let key = match &key_holder {
            Some(Ok(k)) => KeyEvidence::Described(k),
            Some(Err(g)) => KeyEvidence::Failed(g),
            None => KeyEvidence::NotObserved,
        };
        let input = CustodyInput {
            provider,
            encrypts_by_default: by_default(provider),
            store_account: ACCT,
            store_region: REGION,
            encryption: e.as_ref(),
            encryption_gap: gap.as_ref(),
            encryption_unsupported: None,
            key,
            key_store: ks.as_ref(),
            client_side_declared: false,
        };
        let d = decide(&input);
        assert_eq!(d.level, expect_level, "reason: {}", d.reason);
        assert_eq!(d.modifiers, expect_modifiers, "reason: {}", d.reason);
        assert!(!d.reason.is_empty());
    }

    /// An S3-compatible cloud's SSE-KMS names a key of its own KMS, which no agent
    /// describes: customer-managed (KEY-CUSTODY.md section 4), never an AWS KMS lookup. Its
    /// AES256 is the provider's key (OVH SSE-OMK, Scaleway SSE-ONE).
    #[test]
    fn s3_compatible_sse_kms_is_a_customer_key_in_the_providers_kms() {
        check(
            "scaleway",
            Some(enc("aws:kms", "0f2c-scw-key")),
            None,
            None,
            None,
            Custody::CustomerManaged,
            &[],
        );
        check(
            "ovhcloud",
            Some(enc("AES256", "")),
            None,
            None,
            None,
            Custody::Provider,
            &[],
        );
        // AWS's own aws:kms with an undescribed key stays unknown.
        check(
            "aws",
            Some(enc("aws:kms", "0f2c-scw-key")),
            None,
            None,
            None,
            Custody::Unknown,
            &[],
        );
    }

    #[test]
    fn custody_table() {
        let kid = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let arn = format!("arn:aws:kms:{REGION}:{ACCT}:key/{kid}");
        // (provider, encryption, encryption gap, key, key store) -> level, modifiers
        check(
            "aws",
            Some(enc("AES256", "")),
            None,
            None,
            None,
            Custody::Provider,
            &[],
        );
        check(
            "aws",
            Some(not_configured()),
            None,
            None,
            None,
            Custody::Provider,
            &[],
        );
        check(
            "ovhcloud",
            Some(not_configured()),
            None,
            None,
            None,
            Custody::None,
            &[],
        );
        check(
            "aws",
            Some(enc("aws:kms", "")),
            None,
            None,
            None,
            Custody::Provider,
            &[],
        );
        check(
            "aws",
            Some(enc("aws:kms", "alias/aws/s3")),
            None,
            None,
            None,
            Custody::Provider,
            &[],
        );
        check(
            "aws",
            None,
            Some(denied("s3:GetBucketEncryption")),
            None,
            None,
            Custody::Unknown,
            &[],
        );
        check("aws", None, None, None, None, Custody::Unknown, &[]);
        check(
            "aws",
            Some(enc("aws:fsx-future", "")),
            None,
            None,
            None,
            Custody::Unknown,
            &[],
        );
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(key(kid, "CUSTOMER", "AWS_KMS"))),
            None,
            Custody::CustomerManaged,
            &[],
        );
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(key(kid, "AWS", "AWS_KMS"))),
            None,
            Custody::Provider,
            &[],
        );
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(key(kid, "CUSTOMER", "EXTERNAL"))),
            None,
            Custody::Byok,
            &[],
        );
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(key(kid, "CUSTOMER", "NEW_ORIGIN"))),
            None,
            Custody::Unknown,
            &[],
        );
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Err(denied("kms:DescribeKey"))),
            None,
            Custody::Unknown,
            &[],
        );
        // moto reports the aws/s3 key as CUSTOMER; its alias gives it away.
        let mut aws_s3 = key(kid, "CUSTOMER", "AWS_KMS");
        aws_s3.aliases = vec!["alias/aws/s3".into()];
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(aws_s3)),
            None,
            Custody::Provider,
            &[],
        );
        // CloudHSM custom key store.
        let mut hsm = key(kid, "CUSTOMER", "AWS_CLOUDHSM");
        hsm.custom_key_store_id = "cks-0987654321fedcba0".into();
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(hsm.clone())),
            Some(cloudhsm_store()),
            Custody::DedicatedHsm,
            &["CloudHSM cluster cluster-1a23b4cdefg"],
        );
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(hsm)),
            None,
            Custody::DedicatedHsm,
            &["custom key store cks-0987654321fedcba0 not described"],
        );
        // External key store (XKS) with its proxy.
        let mut xks = key(kid, "CUSTOMER", "EXTERNAL_KEY_STORE");
        xks.custom_key_store_id = "cks-1234567890abcdef0".into();
        xks.xks_key_id = "ext-key-1".into();
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(xks.clone())),
            Some(xks_store()),
            Custody::Hyok,
            &["external key proxy xks.example.eu (public_endpoint)"],
        );
        let mut vpc = xks_store();
        vpc.xks_connectivity = "VPC_ENDPOINT_SERVICE".into();
        vpc.xks_uri_endpoint = "https://myproxy-private.xks.example.com".into();
        vpc.xks_vpc_endpoint_service_owner = "444455556666".into();
        vpc.connection_state = "DISCONNECTED".into();
        check(
            "aws",
            Some(enc("aws:kms", &arn)),
            None,
            Some(Ok(xks)),
            Some(vpc),
            Custody::Hyok,
            &[
                "external key proxy myproxy-private.xks.example.com (vpc_endpoint_service)",
                "key proxy reached through a VPC endpoint service owned by 444455556666",
                "key store disconnected",
            ],
        );
    }

    #[test]
    fn modifiers_for_cross_account_regions_replicas_alias_and_dsse() {
        let other = "999988887777";
        let arn = format!("arn:aws:kms:us-east-1:{other}:key/k1");
        // Another account's key that could not be described: unknown, but owner and region known.
        let e = enc("aws:kms", &arn);
        let gap = Gap {
            kind: GapKind::NotFound as i32,
            code: "NotFoundException".into(),
            message: String::new(),
            call: "kms:DescribeKey".into(),
            ..Default::default()
        };
        let d = decide(&CustodyInput {
            provider: "aws",
            encrypts_by_default: DefaultEncryption::Yes,
            store_account: ACCT,
            store_region: REGION,
            encryption: Some(&e),
            encryption_gap: None,
            encryption_unsupported: None,
            key: KeyEvidence::Failed(&gap),
            key_store: None,
            client_side_declared: false,
        });
        assert_eq!(d.level, Custody::Unknown);
        assert_eq!(d.key_owner_account, other);
        assert_eq!(
            d.modifiers,
            [
                "key owned by another account: 999988887777",
                "key in region us-east-1"
            ]
        );
        assert_eq!(
            d.reason,
            "kms:DescribeKey failed for arn:aws:kms:us-east-1:999988887777:key/k1: NotFoundException"
        );

        // A multi-region primary named by alias, with DSSE and a bucket key, SSE-C blocked.
        let mut e = enc("aws:kms:dsse", "alias/shared");
        e.resolved_key_arn = format!("arn:aws:kms:{REGION}:{ACCT}:key/mrk-1");
        e.double_encryption = true;
        e.detail = Some(Detail::S3(S3Encryption {
            bucket_key_enabled: true,
            blocked_encryption_types: vec!["SSE-C".into()],
            ..S3Encryption::default()
        }));
        // The same answer from an agent before wave 2: flat fields, no detail, no double flag.
        let mut old = enc("aws:kms:dsse", "alias/shared");
        old.resolved_key_arn = e.resolved_key_arn.clone();
        old.bucket_key_enabled = true;
        old.blocked_encryption_types = vec!["SSE-C".into()];
        let old = upgraded_old(old);
        let mut k = key("mrk-1", "CUSTOMER", "AWS_KMS");
        k.multi_region = true;
        k.multi_region_key_type = "PRIMARY".into();
        k.replica_regions = vec!["us-west-2".into(), "eu-west-1".into()];
        for e in [&e, &old] {
            let d = decide(&CustodyInput {
                provider: "aws",
                encrypts_by_default: DefaultEncryption::Yes,
                store_account: ACCT,
                store_region: REGION,
                encryption: Some(e),
                encryption_gap: None,
                encryption_unsupported: None,
                key: KeyEvidence::Described(&k),
                key_store: None,
                client_side_declared: false,
            });
            assert_eq!(d.level, Custody::CustomerManaged);
            assert_eq!(d.client_key_mode, "sse-c-blocked");
            assert_eq!(
                d.modifiers,
                [
                    "bucket key enabled",
                    "dual-layer encryption (DSSE-KMS)",
                    "key named by alias alias/shared: resolves in the requester's account, ambiguous",
                    "multi-region key (primary), copies in: eu-west-1, us-west-2",
                ]
            );
        }
    }

    #[test]
    fn not_configured_follows_the_providers_table_in_both_shapes() {
        let old = upgraded_old(Encryption {
            state: EncryptionState::NotConfigured as i32,
            not_configured_code: "ServerSideEncryptionConfigurationNotFoundError".into(),
            ..Encryption::default()
        });
        // (provider, expected level, expected reason)
        for (provider, level, reason) in [
            (
                "aws",
                Custody::Provider,
                "no default encryption rule (ServerSideEncryptionConfigurationNotFoundError); aws encrypts every object with its own key",
            ),
            (
                "stackit",
                Custody::Provider,
                "no default encryption rule (ServerSideEncryptionConfigurationNotFoundError); stackit encrypts every object with its own key",
            ),
            (
                "ionos",
                Custody::None,
                "no default encryption configured (ServerSideEncryptionConfigurationNotFoundError)",
            ),
            (
                "hetzner",
                Custody::None,
                "no default encryption configured (ServerSideEncryptionConfigurationNotFoundError); whether hetzner encrypts at rest by default is not known",
            ),
        ] {
            for e in [not_configured(), old.clone()] {
                let d = decide(&CustodyInput {
                    provider,
                    encrypts_by_default: by_default(provider),
                    store_account: ACCT,
                    store_region: REGION,
                    encryption: Some(&e),
                    encryption_gap: None,
                    encryption_unsupported: None,
                    key: KeyEvidence::NotObserved,
                    key_store: None,
                    client_side_declared: false,
                });
                assert_eq!((d.level, d.reason.as_str()), (level, reason), "{provider}");
                assert_eq!(d.client_key_mode, "sse-c-allowed");
            }
        }
    }

    #[test]
    fn arn_parsing() {
        assert_eq!(
            parse_kms_arn("arn:aws:kms:eu-west-1:111122223333:key/abc"),
            Some(("eu-west-1", "111122223333"))
        );
        assert_eq!(
            parse_kms_arn("arn:aws-eusc:kms:eusc-de-east-1:111122223333:alias/x"),
            Some(("eusc-de-east-1", "111122223333"))
        );
        assert_eq!(parse_kms_arn("alias/x"), None);
        assert_eq!(parse_kms_arn("1234abcd"), None);
    }
}
