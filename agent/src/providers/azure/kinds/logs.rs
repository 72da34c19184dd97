//! Log Analytics workspaces and the dedicated clusters that hold their customer keys
//! (Microsoft.OperationalInsights, api-version 2025-02-01; STORE-KINDS.md 14).
//!
//! One workspace listing; the cluster listing only when a workspace is linked to a cluster.
//! `retentionInDays` is when data is deleted (not a lock); workspace replication keeps a
//! copy in `replication.location`. No ARM field gives the stored bytes.

use std::collections::HashMap;

use landmeter_proto::v1::{CopyKind, Encryption, ReplicationRule, Retention, StoreKind, fact};
use serde::Deserialize;

use super::{Resource, SERVICE_LOG_ANALYTICS, arm_id, encrypted, normalize_region};
use crate::providers::CallFailure;
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::sink::SinkClosed;

pub const LOG_ANALYTICS_API: &str = "2025-02-01";

type Workspace = Resource<WorkspaceProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceProperties {
    #[serde(default)]
    retention_in_days: Option<i32>,
    #[serde(default)]
    features: Option<Features>,
    #[serde(default)]
    replication: Option<WorkspaceReplication>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Features {
    #[serde(default)]
    cluster_resource_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct WorkspaceReplication {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    location: String,
}

type Cluster = Resource<ClusterProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterProperties {
    #[serde(default)]
    key_vault_properties: Option<ClusterKey>,
    /// Defaults to true on the service side.
    #[serde(default)]
    is_double_encryption_enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterKey {
    #[serde(default)]
    key_vault_uri: String,
    #[serde(default)]
    key_name: String,
    #[serde(default)]
    key_version: String,
}

impl Subscription<'_> {
    pub(super) async fn log_analytics_workspaces(&self) -> Result<u64, SinkClosed> {
        let call = calls::LIST_LOG_ANALYTICS_WORKSPACES;
        let base = self.in_subscription("Microsoft.OperationalInsights");
        let workspaces: Vec<Workspace> = self
            .list_kind(
                StoreKind::LogGroup,
                call,
                &format!("{base}/workspaces"),
                LOG_ANALYTICS_API,
            )
            .await?;
        self.sink.stores_found(workspaces.len() as u64);
        let linked = workspaces.iter().any(|w| !cluster_of(w).is_empty());
        // Clusters by lowercase id (the examples answer lowercase ids), or why unknown.
        let clusters: Result<HashMap<String, Cluster>, CallFailure> = if linked {
            self.list_all::<Cluster>(&format!("{base}/clusters"), LOG_ANALYTICS_API)
                .await
                .map(|list| {
                    list.into_iter()
                        .map(|c| (arm_id(&c.id).to_ascii_lowercase(), c))
                        .collect()
                })
        } else {
            Ok(HashMap::new())
        };
        for w in &workspaces {
            let s = w.store(
                &self.ctx.provider,
                SERVICE_LOG_ANALYTICS,
                StoreKind::LogGroup,
                "Workspaces_List.location",
            );
            let subject = s.name.clone();
            let region = s.region.clone();
            let encryption = match workspace_encryption(w, &clusters) {
                Ok(e) => Some(e),
                Err(f) => {
                    self.gap(&subject, calls::LIST_LOG_ANALYTICS_CLUSTERS, &f)
                        .await?;
                    None
                }
            };
            self.push_store(call, s, &w.tags, encryption).await?;
            if let Some(days) = w.properties.retention_in_days.filter(|d| *d > 0) {
                self.push(
                    &subject,
                    call,
                    fact::Body::Retention(Retention {
                        delete_after_days: days,
                        ..Retention::default()
                    }),
                )
                .await?;
            }
            let rules = match &w.properties.replication {
                Some(r) if r.enabled && !r.location.is_empty() => {
                    let to = normalize_region(&r.location);
                    (to != region)
                        .then(|| ReplicationRule {
                            id: format!("replication:{to}"),
                            status: "Enabled".to_owned(),
                            destination_bucket: subject.clone(),
                            destination_region: to,
                            copy_kind: CopyKind::MultiRegion as i32,
                            ..ReplicationRule::default()
                        })
                        .into_iter()
                        .collect()
                }
                _ => Vec::new(),
            };
            self.push_copies(&subject, call, rules).await?;
            self.sink.store_done();
        }
        Ok(workspaces.len() as u64)
    }
}

fn cluster_of(w: &Workspace) -> &str {
    w.properties
        .features
        .as_ref()
        .map_or("", |f| f.cluster_resource_id.as_str())
}

/// The platform's key, unless the workspace is linked to a cluster with a Key Vault key.
fn workspace_encryption(
    w: &Workspace,
    clusters: &Result<HashMap<String, Cluster>, CallFailure>,
) -> Result<Encryption, CallFailure> {
    let cluster_id = cluster_of(w);
    if cluster_id.is_empty() {
        return Ok(encrypted("platform-managed key", "", false));
    }
    let clusters = clusters.as_ref().map_err(Clone::clone)?;
    let Some(cluster) = clusters.get(&arm_id(cluster_id).to_ascii_lowercase()) else {
        return Err(CallFailure {
            code: Some("ClusterNotFound".into()),
            message: format!("{cluster_id} is not among the subscription's clusters"),
            status: Some(404),
            timeout: false,
        });
    };
    let double = cluster
        .properties
        .is_double_encryption_enabled
        .unwrap_or(true);
    let key = cluster
        .properties
        .key_vault_properties
        .as_ref()
        .filter(|k| !k.key_vault_uri.is_empty() && !k.key_name.is_empty())
        .map(|k| {
            let base = format!(
                "{}/keys/{}",
                k.key_vault_uri.trim_end_matches('/'),
                k.key_name
            );
            if k.key_version.is_empty() {
                base
            } else {
                format!("{base}/{}", k.key_version)
            }
        })
        .unwrap_or_default();
    Ok(encrypted(
        if key.is_empty() {
            "cluster, platform-managed key"
        } else {
            "cluster keyVaultProperties"
        },
        &key,
        double,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_workspace_and_cluster() {
        // Trimmed from az-specs …/OperationalInsights/stable/2025-02-01/examples/WorkspacesGet.json.
        let w: Workspace = serde_json::from_str(
            r#"{"properties": {"customerId": "5b02755b-5bf4-430c-9487-45502a2a7e62", "sku": {"name": "PerGB2018"},
                "retentionInDays": 30, "replication": {"location": "westus3", "enabled": true}},
              "id": "/subscriptions/00000000-0000-0000-0000-00000000000/resourcegroups/oiautorest6685/providers/microsoft.operationalinsights/workspaces/oiautorest6685",
              "name": "oiautorest6685", "type": "Microsoft.OperationalInsights/workspaces", "location": "eastus"}"#,
        )
        .expect("workspace");
        assert_eq!(w.properties.retention_in_days, Some(30));
        // Trimmed from …/2025-02-01/examples/ClustersSubscriptionList.json.
        let c: Cluster = serde_json::from_str(
            r#"{"properties": {"keyVaultProperties": {"keyVaultUri": "https://aztest2170.vault.azure.net",
                "keyName": "aztest2170cert", "keyVersion": "654ft6c4e63845cbb50fd6fg51540429"}},
              "id": "/subscriptions/53bc36c5-91e1-4d09-92c9-63b89e571926/resourcegroups/oiautorest6685/providers/microsoft.operationalinsights/clusters/mycluster",
              "name": "mycluster", "location": "eastus"}"#,
        )
        .expect("cluster");
        let mut linked = w.clone();
        linked.properties.features = Some(Features {
            cluster_resource_id: "/subscriptions/53bc36c5-91e1-4d09-92c9-63b89e571926/resourceGroups/oiautorest6685/providers/Microsoft.OperationalInsights/clusters/mycluster".into(),
        });
        let clusters = Ok([(arm_id(&c.id).to_ascii_lowercase(), c)].into());
        let e = workspace_encryption(&linked, &clusters).expect("encryption");
        assert_eq!(
            e.key_ref,
            "https://aztest2170.vault.azure.net/keys/aztest2170cert/654ft6c4e63845cbb50fd6fg51540429"
        );
        assert!(e.double_encryption, "double encryption is the default");
        assert!(
            workspace_encryption(&w, &clusters)
                .expect("own")
                .key_ref
                .is_empty()
        );
    }
}
