//! CloudWatch Logs: log groups (`DescribeLogGroups`, 50 a page): key, stored bytes and
//! retention. Log data is always encrypted; without `kmsKeyId` with the service's own key.

use aws_sdk_cloudwatchlogs::types::LogGroup;
use landmeter_proto::v1::{Retention, StoreKind, fact};

use super::super::account::AccountScan;
use super::super::calls;
use super::super::sdk::failure;
use super::{KindsOutcome, configured, stored};
use crate::providers::CallFailure;
use crate::sink::SinkClosed;

const SERVICE: &str = "logs";

impl AccountScan<'_> {
    pub(super) async fn logs(&self, region: &str) -> Result<KindsOutcome, SinkClosed> {
        let client = self.logs_client(region);
        let mut out = KindsOutcome::default();
        let groups = match list_groups(&client).await {
            Ok(groups) => groups,
            Err(failed) => {
                self.listing_gap(
                    StoreKind::LogGroup,
                    region,
                    calls::DESCRIBE_LOG_GROUPS,
                    &failed,
                )
                .await?;
                return Ok(out);
            }
        };
        self.sink.stores_found(groups.len() as u64);
        let call = calls::DESCRIBE_LOG_GROUPS;
        for g in &groups {
            let arn = log_group_subject(g).unwrap_or_else(|| {
                self.arn(
                    SERVICE,
                    region,
                    &format!("log-group:{}", g.log_group_name().unwrap_or_default()),
                )
            });
            let mut store = self.kind_store(SERVICE, StoreKind::LogGroup, &arn, region, call);
            store.created_at_ms = g.creation_time().unwrap_or_default();
            store.sku = g
                .log_group_class()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            self.emit_store(call, store).await?;
            let encryption = match g.kms_key_id().filter(|k| !k.is_empty()) {
                Some(key) => configured("kmsKeyId", Some(key)),
                None => configured("CloudWatch Logs", None),
            };
            out.encryption(&arn, region, call, encryption);
            if let Some(bytes) = g.stored_bytes() {
                self.emit_size(&arn, call, stored("Stored", bytes, 0))
                    .await?;
            }
            // No retentionInDays: kept until deleted (0).
            self.emit(
                &arn,
                call,
                fact::Body::Retention(Retention {
                    delete_after_days: g.retention_in_days().unwrap_or_default(),
                    ..Retention::default()
                }),
            )
            .await?;
        }
        Ok(out)
    }
}

/// `logGroupArn`, else `arn` without its trailing `:*`.
fn log_group_subject(g: &LogGroup) -> Option<String> {
    g.log_group_arn()
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            g.arn()
                .filter(|a| !a.is_empty())
                .map(|a| a.strip_suffix(":*").unwrap_or(a).to_owned())
        })
}

async fn list_groups(
    client: &aws_sdk_cloudwatchlogs::Client,
) -> Result<Vec<LogGroup>, CallFailure> {
    let mut pages = client.describe_log_groups().into_paginator().send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.log_groups());
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_has_no_trailing_wildcard() {
        let g = LogGroup::builder()
            .arn("arn:aws:logs:eu-west-1:1:log-group:/app:*")
            .build();
        assert_eq!(
            log_group_subject(&g).as_deref(),
            Some("arn:aws:logs:eu-west-1:1:log-group:/app")
        );
    }
}
