//! AWS Backup: vaults (key, lock, recovery points: their count and size), and the backup plans whose rules
//! fill a vault of this region: their copy actions are the vault's copies (to other regions
//! or accounts), their lifecycle how long its backups are kept.

use aws_sdk_backup::types::{BackupRule, BackupVaultListMember};
use landmeter_proto::v1::{CopyKind, ReplicationRule, Retention, Size, StoreKind, fact};

use super::super::account::AccountScan;
use super::super::calls;
use super::super::sdk::failure;
use super::{KindsOutcome, configured, millis};
use crate::providers::{Call, CallFailure};
use crate::sink::SinkClosed;

const SERVICE: &str = "backup";
const AWS_OWNED: &str = "AWS_OWNED_KMS_KEY";

impl AccountScan<'_> {
    pub(super) async fn backup(&self, region: &str) -> Result<KindsOutcome, SinkClosed> {
        let client = self.backup_client(region);
        let mut out = KindsOutcome::default();
        let vaults = match list_vaults(&client).await {
            Ok(vaults) => vaults,
            Err(failed) => {
                self.listing_gap(
                    StoreKind::BackupVault,
                    region,
                    calls::LIST_BACKUP_VAULTS,
                    &failed,
                )
                .await?;
                return Ok(out);
            }
        };
        if vaults.is_empty() {
            return Ok(out);
        }
        self.sink.stores_found(vaults.len() as u64);
        let rules = self.backup_rules(&client).await;
        let call = calls::LIST_BACKUP_VAULTS;
        for vault in &vaults {
            let name = vault.backup_vault_name().unwrap_or_default();
            let arn = vault
                .backup_vault_arn()
                .filter(|a| !a.is_empty())
                .map_or_else(
                    || self.arn(SERVICE, region, &format!("backup-vault:{name}")),
                    str::to_owned,
                );
            let mut store = self.kind_store(SERVICE, StoreKind::BackupVault, &arn, region, call);
            store.created_at_ms = millis(vault.creation_date());
            self.emit_store(call, store).await?;
            let key_type = vault.encryption_key_type().map(|t| t.as_str());
            let encryption = match (key_type, vault.encryption_key_arn()) {
                (Some(AWS_OWNED), _) | (_, None) => configured(key_type.unwrap_or(AWS_OWNED), None),
                (kind, Some(key)) => configured(kind.unwrap_or("EncryptionKeyArn"), Some(key)),
            };
            out.encryption(&arn, region, call, encryption);
            // The bytes are the sum over the vault's recovery points; when they cannot be
            // listed, the listing's count alone (bytes unknown) and the gap.
            let points = {
                let _permit = self.permits.acquire().await.ok();
                list_recovery_points(&client, name).await
            };
            match points {
                Ok(sizes) => {
                    self.emit_size(
                        &arn,
                        calls::LIST_RECOVERY_POINTS_BY_BACKUP_VAULT,
                        vault_size(&sizes),
                    )
                    .await?
                }
                Err(failed) => {
                    self.emit_size(
                        &arn,
                        call,
                        Size {
                            objects: vault.number_of_recovery_points(),
                            known: false,
                            ..Size::default()
                        },
                    )
                    .await?;
                    self.gap(&arn, calls::LIST_RECOVERY_POINTS_BY_BACKUP_VAULT, &failed)
                        .await?;
                }
            }
            let mine: Vec<&(String, BackupRule)> = match &rules {
                Ok(rules) => rules
                    .iter()
                    .filter(|(_, r)| r.target_backup_vault_name() == name)
                    .collect(),
                Err((failed_call, failed)) => {
                    self.gap(&arn, failed_call, failed).await?;
                    Vec::new()
                }
            };
            let retention = vault_retention(
                vault,
                &mine,
                time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
            );
            self.emit(&arn, call, fact::Body::Retention(retention))
                .await?;
            if rules.is_ok() {
                let copies: Vec<ReplicationRule> = mine
                    .iter()
                    .flat_map(|(plan, rule)| {
                        rule.copy_actions().iter().map(move |copy| {
                            let mut r = self.copy_rule(
                                copy.destination_backup_vault_arn(),
                                CopyKind::BackupCopy,
                                "",
                            );
                            r.id = format!("{plan}/{}", rule.rule_name());
                            r
                        })
                    })
                    .collect();
                self.emit_replication(&arn, calls::GET_BACKUP_PLAN, copies)
                    .await?;
            }
        }
        Ok(out)
    }

    /// (plan id, rule) of every plan of the region; on failure, the call that failed.
    async fn backup_rules(
        &self,
        client: &aws_sdk_backup::Client,
    ) -> Result<Vec<(String, BackupRule)>, (&'static Call, CallFailure)> {
        let mut ids = Vec::new();
        let mut pages = client.list_backup_plans().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| (calls::LIST_BACKUP_PLANS, failure(&e)))?;
            ids.extend(
                page.backup_plans_list()
                    .iter()
                    .filter_map(|p| p.backup_plan_id().map(str::to_owned)),
            );
        }
        let mut rules = Vec::new();
        for id in ids {
            let _permit = self.permits.acquire().await.ok();
            let plan = client
                .get_backup_plan()
                .backup_plan_id(&id)
                .send()
                .await
                .map_err(|e| (calls::GET_BACKUP_PLAN, failure(&e)))?;
            for rule in plan.backup_plan().map(|p| p.rules()).unwrap_or_default() {
                rules.push((id.clone(), rule.clone()));
            }
        }
        Ok(rules)
    }
}

/// Vault Lock (after its lock date it can no longer be removed: compliance mode, before it:
/// governance mode), and the shortest lifecycle of the rules that fill the vault.
fn vault_retention(
    vault: &BackupVaultListMember,
    rules: &[&(String, BackupRule)],
    now_ms: i64,
) -> Retention {
    let locked = vault.locked().unwrap_or(false);
    let delete_after = rules
        .iter()
        .filter_map(|(_, r)| r.lifecycle().and_then(|l| l.delete_after_days()))
        .min()
        .unwrap_or_default();
    Retention {
        enabled: locked,
        mode: if !locked {
            String::new()
        } else if vault
            .lock_date()
            .and_then(|d| d.to_millis().ok())
            .is_some_and(|d| d <= now_ms)
        {
            "COMPLIANCE".to_owned()
        } else {
            "GOVERNANCE".to_owned()
        },
        days: if locked {
            i32::try_from(vault.min_retention_days().unwrap_or_default()).unwrap_or(i32::MAX)
        } else {
            0
        },
        delete_after_days: i32::try_from(delete_after).unwrap_or(i32::MAX),
        ..Retention::default()
    }
}

/// The vault's stored size from its recovery points' `BackupSizeInBytes`: known only when
/// every point reports one (a point still being created may not; unknown is not zero).
fn vault_size(sizes: &[Option<i64>]) -> Size {
    let known = sizes.iter().all(Option::is_some);
    Size {
        bytes_by_storage_type: if known {
            [(
                "RecoveryPoints".to_owned(),
                sizes.iter().flatten().copied().sum::<i64>(),
            )]
            .into()
        } else {
            Default::default()
        },
        objects: i64::try_from(sizes.len()).unwrap_or(i64::MAX),
        known,
        ..Size::default()
    }
}

/// `BackupSizeInBytes` of every recovery point in the vault.
async fn list_recovery_points(
    client: &aws_sdk_backup::Client,
    vault: &str,
) -> Result<Vec<Option<i64>>, CallFailure> {
    let mut pages = client
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(vault)
        .into_paginator()
        .send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend(
            page.map_err(|e| failure(&e))?
                .recovery_points()
                .iter()
                .map(|p| p.backup_size_in_bytes()),
        );
    }
    Ok(all)
}

async fn list_vaults(
    client: &aws_sdk_backup::Client,
) -> Result<Vec<BackupVaultListMember>, CallFailure> {
    let mut pages = client.list_backup_vaults().into_paginator().send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        all.extend_from_slice(page.map_err(|e| failure(&e))?.backup_vault_list());
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_backup::types::Lifecycle;
    use aws_smithy_types::DateTime;

    fn rule(days: i64) -> (String, BackupRule) {
        (
            "p".to_owned(),
            BackupRule::builder()
                .rule_name("daily")
                .target_backup_vault_name("main")
                .lifecycle(Lifecycle::builder().delete_after_days(days).build())
                .build()
                .expect("rule"),
        )
    }

    #[test]
    fn recovery_points_sum_to_the_vault_size_unless_one_is_unsized() {
        let s = vault_size(&[Some(5_000), Some(7_000)]);
        assert!(s.known);
        assert_eq!(s.objects, 2);
        assert_eq!(s.bytes_by_storage_type["RecoveryPoints"], 12_000);
        let s = vault_size(&[Some(5_000), None]);
        assert!(
            !s.known && s.bytes_by_storage_type.is_empty(),
            "unknown, not 5000"
        );
        assert_eq!(s.objects, 2);
        let s = vault_size(&[]);
        assert!(s.known && s.objects == 0, "an empty vault holds nothing");
        assert_eq!(s.bytes_by_storage_type["RecoveryPoints"], 0);
    }

    #[test]
    fn vault_lock_and_lifecycle_map_to_retention() {
        let locked = BackupVaultListMember::builder()
            .locked(true)
            .min_retention_days(30)
            .lock_date(DateTime::from_secs(1_000))
            .build();
        let (a, b) = (rule(90), rule(35));
        let r = vault_retention(&locked, &[&a, &b], 2_000_000);
        assert!(r.enabled);
        assert_eq!(
            (r.mode.as_str(), r.days, r.delete_after_days),
            ("COMPLIANCE", 30, 35)
        );
        let r = vault_retention(&locked, &[], 0);
        assert_eq!(r.mode, "GOVERNANCE", "before the lock date");
        let open = BackupVaultListMember::builder().build();
        let r = vault_retention(&open, &[&a], 0);
        assert!(!r.enabled && r.mode.is_empty() && r.days == 0);
        assert_eq!(r.delete_after_days, 90);
    }
}
