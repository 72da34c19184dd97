//! `GetBucketEncryption` and the `Encryption` fact it becomes.

use std::collections::BTreeSet;

use aws_sdk_s3::error::ProvideErrorMetadata;
use landmeter_proto::v1::{Encryption, EncryptionState, S3Encryption, encryption};

use super::account::AccountScan;
use super::calls;
use super::sdk::failure;
use crate::sink::SinkClosed;

/// S3's algorithm value for dual-layer server-side encryption with KMS keys (DSSE-KMS).
const DSSE_KMS: &str = "aws:kms:dsse";

/// S3 replies with this code when a bucket has no default encryption configuration.
const NO_ENCRYPTION_CODE: &str = "ServerSideEncryptionConfigurationNotFoundError";

impl AccountScan<'_> {
    /// The encryption fact (emitted later, after key resolution); `None` after a gap.
    pub(super) async fn encryption(
        &self,
        client: &aws_sdk_s3::Client,
        bucket: &str,
    ) -> Result<Option<Encryption>, SinkClosed> {
        if self
            .documented_absent(bucket, calls::GET_BUCKET_ENCRYPTION)
            .await?
        {
            return Ok(None);
        }
        match client.get_bucket_encryption().bucket(bucket).send().await {
            Ok(out) => {
                let rules = out
                    .server_side_encryption_configuration()
                    .map(|c| c.rules())
                    .unwrap_or_default();
                Ok(Some(encryption_from_rules(rules)))
            }
            Err(err) if err.code() == Some(NO_ENCRYPTION_CODE) => Ok(Some(Encryption {
                state: EncryptionState::NotConfigured as i32,
                not_configured_code: NO_ENCRYPTION_CODE.to_owned(),
                ..Encryption::default()
            })),
            Err(err) => {
                self.failed(bucket, calls::GET_BUCKET_ENCRYPTION, &failure(&err))
                    .await?;
                Ok(None)
            }
        }
    }
}

/// The `Encryption` body for a `GetBucketEncryption` answer. The first rule with a default
/// gives algorithm and key; bucket key and blocked types are gathered from every rule.
fn encryption_from_rules(rules: &[aws_sdk_s3::types::ServerSideEncryptionRule]) -> Encryption {
    let mut encryption = Encryption::default();
    if rules.is_empty() {
        // An empty configuration (some S3-compatible services) configures nothing.
        encryption.state = EncryptionState::NotConfigured as i32;
        return encryption;
    }
    encryption.state = EncryptionState::Configured as i32;
    if let Some(default) = rules
        .iter()
        .find_map(|r| r.apply_server_side_encryption_by_default())
    {
        encryption.algorithm = default.sse_algorithm().as_str().to_owned();
        encryption.key_ref = default.kms_master_key_id().unwrap_or_default().to_owned();
    }
    encryption.bucket_key_enabled = rules.iter().any(|r| r.bucket_key_enabled() == Some(true));
    let mut blocked = BTreeSet::new();
    for rule in rules {
        if let Some(types) = rule.blocked_encryption_types() {
            blocked.extend(
                types
                    .encryption_type()
                    .iter()
                    .map(|t| t.as_str().to_owned()),
            );
        }
    }
    encryption.blocked_encryption_types = blocked.into_iter().collect();
    encryption
}

/// The wire form of an S3 `Encryption` fact: the S3-only values in `detail.s3`, and the
/// neutral `double_encryption` (DSSE-KMS). The deprecated flat fields (5-7) keep the same
/// values: a collector from before `detail` reads only those, and must read a new agent's
/// facts as it read an old one's.
pub(super) fn with_s3_detail(mut e: Encryption) -> Encryption {
    e.double_encryption = e.algorithm == DSSE_KMS;
    e.detail = Some(encryption::Detail::S3(S3Encryption {
        bucket_key_enabled: e.bucket_key_enabled,
        blocked_encryption_types: e.blocked_encryption_types.clone(),
        not_configured_code: e.not_configured_code.clone(),
    }));
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        BlockedEncryptionTypes, EncryptionType, ServerSideEncryption,
        ServerSideEncryptionByDefault, ServerSideEncryptionRule,
    };

    #[test]
    fn encryption_rules_map_to_a_fact() {
        let kms_rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::AwsKms)
                    .kms_master_key_id("alias/data")
                    .build()
                    .expect("algorithm set"),
            )
            .bucket_key_enabled(true)
            .blocked_encryption_types(
                BlockedEncryptionTypes::builder()
                    .encryption_type(EncryptionType::from("SSE-C"))
                    .build(),
            )
            .build();
        let enc = encryption_from_rules(&[kms_rule]);
        assert_eq!(enc.state(), EncryptionState::Configured);
        assert_eq!(enc.algorithm, "aws:kms");
        assert_eq!(enc.key_ref, "alias/data");
        assert!(enc.bucket_key_enabled);
        assert_eq!(enc.blocked_encryption_types, vec!["SSE-C".to_owned()]);
        assert!(enc.resolved_key_arn.is_empty());

        let wire = with_s3_detail(enc.clone());
        let Some(encryption::Detail::S3(s3)) = &wire.detail else {
            panic!("no s3 detail: {wire:?}");
        };
        assert!(
            s3.bucket_key_enabled && wire.bucket_key_enabled,
            "detail and flat field"
        );
        assert_eq!(s3.blocked_encryption_types, wire.blocked_encryption_types);
        assert!(!wire.double_encryption);
        let dsse = with_s3_detail(Encryption {
            algorithm: "aws:kms:dsse".to_owned(),
            ..Encryption::default()
        });
        assert!(dsse.double_encryption);

        let empty = encryption_from_rules(&[]);
        assert_eq!(empty.state(), EncryptionState::NotConfigured);
        assert!(empty.not_configured_code.is_empty());
    }
}
