//! The Google Cloud provider's registry of calls, as `service:resource.method` (the REST
//! method names of the official API references): what a failure of each leaves unknown, and
//! the IAM permissions that authorise it. The custom role in
//! `deploy/policies/gcp-agent-role.json` is checked against it.

use landmeter_proto::v1::FactTopic;

use crate::providers::Call;

/// Every call this provider makes.
pub const GCP_CALLS: &[&Call] = &[
    LIST_BUCKETS,
    GET_CRYPTO_KEY,
    LIST_TIME_SERIES,
    LIST_SQL_INSTANCES,
    LIST_DISKS,
    LIST_SNAPSHOTS,
];

/// `GET /storage/v1/b?project=P`: every bucket with its location, location type, data
/// locations, default KMS key, labels, storage class and retention policy. Only a failed
/// listing leaves anything of the buckets unknown: the project's stores.
pub const LIST_BUCKETS: &Call = &Call {
    name: "storage:buckets.list",
    topic: FactTopic::Listing,
    permissions: &["storage.buckets.list"],
};
/// `GET /v1/{name=projects/*/locations/*/keyRings/*/cryptoKeys/*}`: the key with its primary
/// version (protection level, import job, external key URI) and its backend.
pub const GET_CRYPTO_KEY: &Call = &Call {
    name: "cloudkms:cryptoKeys.get",
    topic: FactTopic::Key,
    permissions: &["cloudkms.cryptoKeys.get"],
};
/// `GET /v3/projects/P/timeSeries`: `storage/total_bytes` and `storage/object_count` per
/// bucket and storage class.
pub const LIST_TIME_SERIES: &Call = &Call {
    name: "monitoring:timeSeries.list",
    topic: FactTopic::Size,
    permissions: &["monitoring.timeSeries.list"],
};

/// Cloud SQL Admin `GET /v1/projects/P/instances`: every instance with its region, CMEK
/// (`diskEncryptionConfiguration`), disk size, primary (`masterInstanceName`) and backup
/// location. A failure leaves the project's databases unknown.
pub const LIST_SQL_INSTANCES: &Call = &Call {
    name: "sqladmin:instances.list",
    topic: FactTopic::Listing,
    permissions: &["cloudsql.instances.list"],
};
/// Compute `GET /compute/v1/projects/P/aggregated/disks`: every zonal and regional Persistent
/// Disk with its size and CMEK (`diskEncryptionKey.kmsKeyName`).
pub const LIST_DISKS: &Call = &Call {
    name: "compute:disks.aggregatedList",
    topic: FactTopic::Listing,
    permissions: &["compute.disks.list"],
};
/// Compute `GET /compute/v1/projects/P/global/snapshots`: every snapshot with its storage
/// location, source disk, stored bytes and CMEK.
pub const LIST_SNAPSHOTS: &Call = &Call {
    name: "compute:snapshots.list",
    topic: FactTopic::Listing,
    permissions: &["compute.snapshots.list"],
};

#[cfg(test)]
pub(crate) mod policy_tests {
    //! The shipped custom role grants exactly what the call registry needs, read-only.
    use super::GCP_CALLS;
    use std::collections::BTreeSet;

    /// The shipped role's `includedPermissions` (the IAM `roles.create` body's role).
    pub(crate) fn shipped_role_permissions() -> BTreeSet<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/policies/gcp-agent-role.json"
        );
        let text = std::fs::read_to_string(path).expect("role file");
        let role: serde_json::Value = serde_json::from_str(&text).expect("role is JSON");
        assert_eq!(role["stage"], "GA");
        role["includedPermissions"]
            .as_array()
            .expect("includedPermissions")
            .iter()
            .map(|p| p.as_str().expect("permission").to_owned())
            .collect()
    }

    /// Every IAM permission the registry needs.
    pub(crate) fn registry_permissions() -> BTreeSet<String> {
        GCP_CALLS
            .iter()
            .flat_map(|c| c.permissions.iter().map(|a| (*a).to_owned()))
            .collect()
    }

    #[test]
    fn shipped_role_matches_the_call_registry() {
        let granted = shipped_role_permissions();
        assert_eq!(
            granted,
            registry_permissions(),
            "role and call registry differ"
        );
        for p in &granted {
            // `service.resource.verb`, and the verb reads metadata: no object data
            // (storage.objects.get), no key use (cloudkms.cryptoKeyVersions.useToDecrypt).
            let verb = p.rsplit('.').next().unwrap_or_default();
            assert!(matches!(verb, "get" | "list"), "not a read permission: {p}");
            assert!(!p.contains('*'), "wildcard permission {p}");
            assert!(!p.starts_with("storage.objects."), "object data: {p}");
        }
    }

    #[test]
    fn registry_is_well_formed() {
        crate::providers::check_registry(GCP_CALLS);
    }
}
