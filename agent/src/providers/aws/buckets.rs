//! The per-bucket calls: the `Store` fact, tags, replication and Object Lock.

use aws_sdk_s3::error::ProvideErrorMetadata;
use landmeter_proto::v1::{
    CopyKind, Replication, ReplicationRule, Retention, Store, StoreKind, Tag, Tags, fact,
};

use super::account::{AccountScan, Bucket, Listed};
use super::calls;
use super::sdk::failure;
use crate::arn::s3_bucket_name;
use crate::sink::SinkClosed;

const NO_TAGS_CODE: &str = "NoSuchTagSet";
const NO_REPLICATION_CODE: &str = "ReplicationConfigurationNotFoundError";
/// S3 replies with this code when Object Lock was never enabled on a bucket.
const NO_OBJECT_LOCK_CODE: &str = "ObjectLockConfigurationNotFoundError";

impl AccountScan<'_> {
    /// Region, store fact, encryption, tags and replication of one bucket.
    pub(super) async fn examine(&self, listed: Listed) -> Result<Bucket, SinkClosed> {
        let name = listed.name;
        let (region, region_source) = match listed.region {
            Some(region) => (region, listed.region_source),
            None => match self.bucket_region(&name).await {
                Ok((region, source)) => (region, source),
                Err(failed) => {
                    self.gap(&name, calls::HEAD_BUCKET, &failed).await?;
                    (String::new(), "")
                }
            },
        };
        let store = Store {
            provider: self.settings.provider.clone(),
            service: "s3".to_owned(),
            name: name.clone(),
            region: region.clone(),
            region_source: region_source.to_owned(),
            created_at_ms: listed.created_at_ms,
            endpoint: self.settings.endpoint.clone().unwrap_or_default(),
            kind: StoreKind::Bucket as i32,
            ..Store::default()
        };
        self.emit(&name, calls::LIST_BUCKETS, fact::Body::Store(store))
            .await?;

        let client = self.s3(self.region_or_home(&region));
        let (encryption, tags, replica_refs, lock) = tokio::join!(
            self.encryption(&client, &name),
            self.tags(&client, &name),
            self.replication(&client, &name, &region),
            self.object_lock(&client, &name),
        );
        let encryption = encryption?.map(Box::new);
        tags?;
        lock?;
        let mut key_refs = replica_refs?;
        if let Some(c) = &self.settings.compatible {
            // No KMS to describe keys at an S3-compatible provider (the collector reads an
            // SSE-KMS key id as the provider's own KMS), and no metrics service for sizes.
            key_refs.clear();
            let answer = crate::providers::CallFailure {
                message: c.persona.sizes.to_owned(),
                ..crate::providers::CallFailure::default()
            };
            self.unsupported(&name, calls::GET_METRIC_DATA, &answer)
                .await?;
        } else if let Some(key_ref) = encryption
            .as_ref()
            .map(|e| &e.key_ref)
            .filter(|k| !k.is_empty())
        {
            key_refs.push((key_ref.clone(), self.region_or_home(&region).to_owned()));
        }
        self.sink.store_done();
        Ok(Bucket {
            name,
            region,
            encryption,
            key_refs,
        })
    }

    async fn tags(&self, client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), SinkClosed> {
        if self
            .documented_absent(bucket, calls::GET_BUCKET_TAGGING)
            .await?
        {
            return Ok(());
        }
        let tags = match client.get_bucket_tagging().bucket(bucket).send().await {
            Ok(out) => out
                .tag_set()
                .iter()
                .map(|t| Tag {
                    key: t.key().to_owned(),
                    value: t.value().to_owned(),
                })
                .collect(),
            Err(err) if err.code() == Some(NO_TAGS_CODE) => Vec::new(),
            Err(err) => {
                return self
                    .failed(bucket, calls::GET_BUCKET_TAGGING, &failure(&err))
                    .await;
            }
        };
        self.emit(
            bucket,
            calls::GET_BUCKET_TAGGING,
            fact::Body::Tags(Tags { tags }),
        )
        .await
    }

    /// Emits the `Retention` fact from Object Lock; nothing when switched off (the collector
    /// then shows the lock as unknown, not absent).
    async fn object_lock(
        &self,
        client: &aws_sdk_s3::Client,
        bucket: &str,
    ) -> Result<(), SinkClosed> {
        if !self.settings.object_lock
            || self
                .documented_absent(bucket, calls::GET_OBJECT_LOCK)
                .await?
        {
            return Ok(());
        }
        let retention = match client
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => retention_from(out.object_lock_configuration()),
            Err(err) if err.code() == Some(NO_OBJECT_LOCK_CODE) => Retention::default(),
            Err(err) => {
                return self
                    .failed(bucket, calls::GET_OBJECT_LOCK, &failure(&err))
                    .await;
            }
        };
        self.emit(
            bucket,
            calls::GET_OBJECT_LOCK,
            fact::Body::Retention(retention),
        )
        .await
    }

    /// Emits the replication fact; returns the replica key references with the region they
    /// resolve in.
    async fn replication(
        &self,
        client: &aws_sdk_s3::Client,
        bucket: &str,
        bucket_region: &str,
    ) -> Result<Vec<(String, String)>, SinkClosed> {
        if self
            .documented_absent(bucket, calls::GET_BUCKET_REPLICATION)
            .await?
        {
            return Ok(Vec::new());
        }
        let config = match client.get_bucket_replication().bucket(bucket).send().await {
            Ok(out) => out.replication_configuration().cloned(),
            Err(err) if err.code() == Some(NO_REPLICATION_CODE) => None,
            Err(err) => {
                self.failed(bucket, calls::GET_BUCKET_REPLICATION, &failure(&err))
                    .await?;
                return Ok(Vec::new());
            }
        };
        let mut rules = Vec::new();
        let mut key_refs = Vec::new();
        for rule in config.as_ref().map(|c| c.rules()).unwrap_or_default() {
            let destination = rule.destination();
            let destination_bucket = destination
                .map(|d| s3_bucket_name(d.bucket()).to_owned())
                .unwrap_or_default();
            let destination_region = if destination_bucket.is_empty() {
                String::new()
            } else {
                match self.bucket_region(&destination_bucket).await {
                    Ok((region, _)) => region,
                    Err(failed) => {
                        tracing::debug!(bucket, destination = %destination_bucket, error = %failed, "cannot resolve replication destination region");
                        String::new()
                    }
                }
            };
            let replica_key_ref = destination
                .and_then(|d| d.encryption_configuration())
                .and_then(|e| e.replica_kms_key_id())
                .unwrap_or_default()
                .to_owned();
            if !replica_key_ref.is_empty() {
                let context = if destination_region.is_empty() {
                    self.region_or_home(bucket_region)
                } else {
                    &destination_region
                };
                key_refs.push((replica_key_ref.clone(), context.to_owned()));
            }
            rules.push(ReplicationRule {
                id: rule.id().unwrap_or_default().to_owned(),
                status: rule.status().as_str().to_owned(),
                destination_bucket,
                destination_account: destination
                    .and_then(|d| d.account())
                    .unwrap_or_default()
                    .to_owned(),
                destination_region,
                replica_key_ref,
                destination_storage_class: destination
                    .and_then(|d| d.storage_class())
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                copy_kind: CopyKind::ObjectReplication as i32,
            });
        }
        self.emit(
            bucket,
            calls::GET_BUCKET_REPLICATION,
            fact::Body::Replication(Replication { rules }),
        )
        .await?;
        Ok(key_refs)
    }
}

/// The `Retention` body for a `GetObjectLockConfiguration` answer.
fn retention_from(config: Option<&aws_sdk_s3::types::ObjectLockConfiguration>) -> Retention {
    let Some(config) = config else {
        return Retention::default();
    };
    let default = config.rule().and_then(|r| r.default_retention());
    Retention {
        enabled: config
            .object_lock_enabled()
            .is_some_and(|e| e.as_str() == "Enabled"),
        mode: default
            .and_then(|d| d.mode())
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default(),
        days: default.and_then(|d| d.days()).unwrap_or_default(),
        years: default.and_then(|d| d.years()).unwrap_or_default(),
        legal_hold: false,
        delete_after_days: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_lock_answers_map_to_a_retention_fact() {
        use aws_sdk_s3::types::{
            DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
            ObjectLockRule,
        };
        let config = ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .rule(
                ObjectLockRule::builder()
                    .default_retention(
                        DefaultRetention::builder()
                            .mode(ObjectLockRetentionMode::Compliance)
                            .years(7)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let r = retention_from(Some(&config));
        assert!(r.enabled);
        assert_eq!((r.mode.as_str(), r.days, r.years), ("COMPLIANCE", 0, 7));

        // Enabled without a default rule; and an answer without a configuration.
        let bare = ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .build();
        let r = retention_from(Some(&bare));
        assert!(r.enabled && r.mode.is_empty());
        assert!(!retention_from(None).enabled);
    }
}
