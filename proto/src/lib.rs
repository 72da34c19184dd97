//! The landmeter wire contract, package `landmeter.v1`.
//!
//! # Layout
//! - `v1`: generated messages and services (facts, `IngestService`, `MapService`).
//! - [`Custody`] helpers: the ladder's stable names used by the CLI, the store and the docs.
//! - [`FILE_DESCRIPTOR_SET`]: for gRPC reflection.
//! - [`json`]: the JSON rendering of facts and store views (CLI output, exports).
//! - [`compat`]: facts from agents before wave 2 brought to the current shape.
//! - [`StoreKind`] and [`FactTopic`] labels: the names filters, exports and the CLI use.
//!
//! Evolution rule: add fields only, never reuse a number.

pub mod v1 {
    tonic::include_proto!("landmeter.v1");
}

pub mod compat;
pub mod filter;
pub mod json;

pub use v1::{CopyKind, Custody, FactTopic, StoreKind};

/// The subject of a listing gap (`FactTopic::Listing`) for one kind of store in one region
/// (`database@eu-west-1`), or in every region when `region` is empty (`database`). Stores of
/// that kind (and region) that a complete scan did not see are then not marked gone: the
/// listing that would have seen them failed.
pub fn listing_part(kind: StoreKind, region: &str) -> String {
    if region.is_empty() {
        kind.label().to_owned()
    } else {
        format!("{}@{region}", kind.label())
    }
}

impl CopyKind {
    /// The name in `ReplicationTarget.copy_kind` and `StoreView.copy_kind`.
    pub fn label(self) -> &'static str {
        match self {
            // Agents before wave 3 reported only S3 object replication.
            CopyKind::Unspecified | CopyKind::ObjectReplication => "object-replication",
            CopyKind::ReadReplica => "read-replica",
            CopyKind::MultiRegion => "multi-region",
            CopyKind::Snapshot => "snapshot",
            CopyKind::SnapshotCopy => "snapshot-copy",
            CopyKind::BackupCopy => "backup-copy",
            CopyKind::FileSystemReplication => "file-system-replication",
            CopyKind::GeoRedundant => "geo-redundant",
        }
    }
}

/// The names of the dimensions a store view can leave unknown (`Unknown.dimension`), as
/// filters, exports and the CLI use them.
pub mod dimension {
    /// The data's region (or its country) is not known.
    pub const LOCATION: &str = "location";
    /// Whether and where the store replicates is not known.
    pub const REPLICATION: &str = "replication";
    pub const CLASSIFICATION: &str = "classification";
    pub const PROCESS: &str = "process";
    /// Where the key material lives is not known (a key in a vault the agent cannot see).
    pub const KEY_LOCATION: &str = "key-location";
    pub const CUSTODY: &str = "custody";
    /// The provider's parent's CLOUD Act exposure is not known (provider not in the table).
    pub const CLOUD_ACT: &str = "cloud-act";
    pub const SIZE: &str = "size";
    /// Who else can restore the store (a snapshot's sharing) is not known.
    pub const SHARING: &str = "sharing";

    pub const ALL: [&str; 9] = [
        LOCATION,
        REPLICATION,
        CLASSIFICATION,
        PROCESS,
        KEY_LOCATION,
        CUSTODY,
        CLOUD_ACT,
        SIZE,
        SHARING,
    ];
}

/// `NotApplicable.dimension` values: what a store's provider does not offer (the call that
/// would tell it is not implemented there). Not unknown and not "no" (map.proto).
pub mod not_applicable {
    use crate::v1::FactTopic;

    pub const REPLICATION: &str = "replication";
    pub const OBJECT_LOCK: &str = "object-lock";
    pub const TAGS: &str = "tags";
    pub const ENCRYPTION_CONFIGURATION: &str = "encryption-configuration";

    pub const ALL: [&str; 4] = [REPLICATION, OBJECT_LOCK, TAGS, ENCRYPTION_CONFIGURATION];

    /// The dimension an unsupported call of `topic` leaves not applicable; `None` for a topic
    /// whose absence does not make a dimension inapplicable (a size without a source stays
    /// unknown).
    pub fn of_topic(topic: FactTopic) -> Option<&'static str> {
        match topic {
            FactTopic::Replication => Some(REPLICATION),
            FactTopic::Retention => Some(OBJECT_LOCK),
            FactTopic::Tags => Some(TAGS),
            FactTopic::Encryption => Some(ENCRYPTION_CONFIGURATION),
            _ => None,
        }
    }
}

impl v1::StoreView {
    /// Why `dimension` is unknown, when it is.
    pub fn unknown(&self, dimension: &str) -> Option<&v1::Unknown> {
        self.unknowns.iter().find(|u| u.dimension == dimension)
    }

    pub fn is_unknown(&self, dimension: &str) -> bool {
        self.unknown(dimension).is_some()
    }

    /// Why `dimension` does not apply to this store (its provider lacks the call), when so.
    pub fn not_applicable(&self, dimension: &str) -> Option<&v1::NotApplicable> {
        self.not_applicable
            .iter()
            .find(|n| n.dimension == dimension)
    }

    /// The store's size is unknown: no bytes, and not because they are counted elsewhere (an
    /// Azure container's bytes are in its storage account's figure, not unknown twice).
    pub fn size_unknown(&self) -> bool {
        self.bytes.is_none() && self.is_unknown(dimension::SIZE)
    }

    /// Whether a replica is outside the EU/EEA: None when that is unknown.
    pub fn replicated_outside_eu_known(&self) -> Option<bool> {
        // A known replica outside the EU is a "yes" even when another rule is unknown.
        if self.replicated_outside_eu {
            Some(true)
        } else if self.is_unknown(dimension::REPLICATION) {
            None
        } else {
            Some(false)
        }
    }

    /// Whether the data's region is in the EU/EEA: None when the location is unknown.
    pub fn eu_known(&self) -> Option<bool> {
        (!self.country.is_empty()).then_some(self.eu)
    }

    /// Whether the provider's parent is within the US CLOUD Act's reach: "unclear" counts as
    /// exposed until a lawyer says otherwise (flagged for legal review); None when unknown.
    pub fn cloud_act_exposed(&self) -> Option<bool> {
        match self.cloud_act.as_str() {
            "yes" | "unclear" => Some(true),
            "no" => Some(false),
            _ => None,
        }
    }
}

/// Encoded descriptors of every landmeter.v1 file, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/landmeter_v1_descriptor.bin"));

/// Largest message either side accepts on the ingest stream (4 MiB, tonic's default).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Most facts one `FactsBatch` may carry.
pub const MAX_FACTS_PER_BATCH: usize = 5_000;

impl Custody {
    /// Levels from least to most customer control, `Unknown` first.
    pub const LADDER: [Custody; 7] = [
        Custody::Unknown,
        Custody::None,
        Custody::Provider,
        Custody::CustomerManaged,
        Custody::Byok,
        Custody::DedicatedHsm,
        Custody::Hyok,
    ];

    /// The name used in the CLI, exports and DESIGN.md (`customer-managed`, `hyok`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Custody::Unspecified => "unspecified",
            Custody::Unknown => "unknown",
            Custody::None => "none",
            Custody::Provider => "provider",
            Custody::CustomerManaged => "customer-managed",
            Custody::Byok => "byok",
            Custody::DedicatedHsm => "dedicated-hsm",
            Custody::Hyok => "hyok",
        }
    }

    /// Parses a label as printed by [`Custody::label`].
    pub fn from_label(s: &str) -> Option<Custody> {
        Self::LADDER.into_iter().find(|c| c.label() == s)
    }

    /// Rank on the ladder: higher means more customer control. `Unknown` ranks lowest.
    pub fn rank(self) -> i32 {
        self as i32
    }
}

impl StoreKind {
    /// Every kind with a name, in wire order.
    pub const ALL: [StoreKind; 10] = [
        StoreKind::Bucket,
        StoreKind::StorageAccount,
        StoreKind::Container,
        StoreKind::Database,
        StoreKind::Table,
        StoreKind::Volume,
        StoreKind::Snapshot,
        StoreKind::FileSystem,
        StoreKind::BackupVault,
        StoreKind::LogGroup,
    ];

    /// The name used in filters, exports and `StoreView.kind` (`bucket`, `storage-account`,
    /// ...). A store whose kind neither its agent nor [`compat`] could name is `unknown`.
    pub fn label(self) -> &'static str {
        match self {
            StoreKind::Unspecified => "unknown",
            StoreKind::Bucket => "bucket",
            StoreKind::StorageAccount => "storage-account",
            StoreKind::Container => "container",
            StoreKind::Database => "database",
            StoreKind::Table => "table",
            StoreKind::Volume => "volume",
            StoreKind::Snapshot => "snapshot",
            StoreKind::FileSystem => "file-system",
            StoreKind::BackupVault => "backup-vault",
            StoreKind::LogGroup => "log-group",
        }
    }

    /// Parses a label as printed by [`StoreKind::label`] (`unknown` included, so a filter can
    /// select the stores whose kind is not known).
    pub fn from_label(s: &str) -> Option<StoreKind> {
        std::iter::once(StoreKind::Unspecified)
            .chain(Self::ALL)
            .find(|k| k.label() == s)
    }
}

impl FactTopic {
    /// Every topic with a name, in wire order.
    pub const ALL: [FactTopic; 11] = [
        FactTopic::Listing,
        FactTopic::Location,
        FactTopic::Encryption,
        FactTopic::Tags,
        FactTopic::Replication,
        FactTopic::Size,
        FactTopic::Key,
        FactTopic::KeyStore,
        FactTopic::Retention,
        FactTopic::Sharing,
        FactTopic::Setting,
    ];

    /// The name used in coverage reports (`encryption`, `key-store`, ...); `unknown` for a gap
    /// whose topic neither its agent nor [`compat`] could name.
    pub fn label(self) -> &'static str {
        match self {
            FactTopic::Unspecified => "unknown",
            FactTopic::Listing => "listing",
            FactTopic::Location => "location",
            FactTopic::Encryption => "encryption",
            FactTopic::Tags => "tags",
            FactTopic::Replication => "replication",
            FactTopic::Size => "size",
            FactTopic::Key => "key",
            FactTopic::KeyStore => "key-store",
            FactTopic::Retention => "retention",
            FactTopic::Sharing => "sharing",
            FactTopic::Setting => "setting",
        }
    }

    /// Parses a label as printed by [`FactTopic::label`].
    pub fn from_label(s: &str) -> Option<FactTopic> {
        std::iter::once(FactTopic::Unspecified)
            .chain(Self::ALL)
            .find(|t| t.label() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custody_labels_round_trip_and_rank_in_ladder_order() {
        let mut last = 0;
        for c in Custody::LADDER {
            assert_eq!(Custody::from_label(c.label()), Some(c));
            assert!(c.rank() > last, "{c:?} out of order");
            last = c.rank();
        }
        assert_eq!(Custody::from_label("root"), None);
    }

    #[test]
    fn kind_and_topic_labels_round_trip() {
        for k in std::iter::once(StoreKind::Unspecified).chain(StoreKind::ALL) {
            assert_eq!(StoreKind::from_label(k.label()), Some(k));
        }
        assert_eq!(
            StoreKind::from_label("storage-account"),
            Some(StoreKind::StorageAccount)
        );
        assert_eq!(StoreKind::from_label("Bucket"), None);
        for t in std::iter::once(FactTopic::Unspecified).chain(FactTopic::ALL) {
            assert_eq!(FactTopic::from_label(t.label()), Some(t));
        }
        assert_eq!(
            FactTopic::from_label("key-store"),
            Some(FactTopic::KeyStore)
        );
        assert_eq!(FactTopic::from_label("keys"), None);
        // ALL lists every value the wire defines (a new enum value must get a label).
        for n in 1..64 {
            if let Ok(k) = StoreKind::try_from(n) {
                assert!(StoreKind::ALL.contains(&k), "{k:?} missing from ALL");
            }
            if let Ok(t) = FactTopic::try_from(n) {
                assert!(FactTopic::ALL.contains(&t), "{t:?} missing from ALL");
            }
        }
    }
}
