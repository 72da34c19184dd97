//! Lock-in features of a store: storage classes that must be restored (or are charged) before
//! data can leave, and retention (object lock, immutability, legal holds) that keeps data at
//! the source. Pure: facts in, `StoreView` fields out.
//!
//! Storage classes (AWS S3 pricing and storage-class documentation; Azure access tiers):
//! Glacier Flexible Retrieval, Deep Archive and the Intelligent-Tiering archive tiers must be
//! restored (hours) before a copy can be made; they, Glacier Instant Retrieval and the
//! infrequent-access classes charge per GB retrieved; each has a minimum storage duration
//! (deleting earlier is charged as if stored that long).

use landmeter_proto::v1::{Retention, Size, StorageClassBytes, StoreView};

/// Part of the interpretation fingerprint: bump when these rules change, so stored facts
/// are re-interpreted at the collector's next start.
pub const RULES_VERSION: u32 = 2;

/// Days per year when S3 gives a default retention in years.
const DAYS_PER_YEAR: i64 = 365;

/// What one raw storage type means for leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    pub class: &'static str,
    /// Must be restored before it can be read or copied.
    pub archive: bool,
    /// Reading it is charged per GB.
    pub retrieval_fee: bool,
    /// Minimum storage duration in days.
    pub minimum_days: i32,
}

const fn info(
    class: &'static str,
    archive: bool,
    retrieval_fee: bool,
    minimum_days: i32,
) -> ClassInfo {
    ClassInfo {
        class,
        archive,
        retrieval_fee,
        minimum_days,
    }
}

/// The class of an S3 `StorageType` (including the overhead series billed with a class).
pub fn s3_class(storage_type: &str) -> ClassInfo {
    match storage_type {
        "StandardStorage" | "ReducedRedundancyStorage" | "ExpressOneZone" => {
            info("standard", false, false, 0)
        }
        "StandardIAStorage"
        | "StandardIASizeOverhead"
        | "OneZoneIAStorage"
        | "OneZoneIASizeOverhead" => info("infrequent-access", false, true, 30),
        "IntelligentTieringFAStorage"
        | "IntelligentTieringIAStorage"
        | "IntelligentTieringAIAStorage" => info("intelligent-tiering", false, false, 0),
        // The Archive Access and Deep Archive Access tiers need a restore like Glacier.
        "IntelligentTieringAAStorage" | "IntelligentTieringDAAStorage" => {
            info("intelligent-tiering-archive", true, false, 0)
        }
        "GlacierInstantRetrievalStorage" | "GlacierInstantRetrievalSizeOverhead" => {
            info("glacier-instant", false, true, 90)
        }
        "GlacierStorage"
        | "GlacierStagingStorage"
        | "GlacierObjectOverhead"
        | "GlacierS3ObjectOverhead" => info("glacier-flexible", true, true, 90),
        "DeepArchiveStorage"
        | "DeepArchiveStagingStorage"
        | "DeepArchiveObjectOverhead"
        | "DeepArchiveS3ObjectOverhead" => info("deep-archive", true, true, 180),
        _ => info("other", false, false, 0),
    }
}

/// The class of Azure blob capacity in an access tier.
pub fn azure_tier_class(access_tier: &str) -> ClassInfo {
    match access_tier.to_ascii_lowercase().as_str() {
        "hot" | "premium" => info("standard", false, false, 0),
        "cool" => info("infrequent-access", false, true, 30),
        "cold" => info("cold", false, true, 90),
        "archive" => info("archive", true, true, 180),
        _ => info("other", false, false, 0),
    }
}

/// Fills the lock-in fields of `v`.
///
/// `size` is the store's known size fact; `access_tier` the Azure account's tier (empty for
/// S3); `retention` the store's retention fact, if any; `lock_expected` says whether a
/// retention fact could have been reported for this kind of store (a missing one is then
/// unknown, not "no lock").
pub fn apply(
    v: &mut StoreView,
    size: Option<&Size>,
    access_tier: &str,
    retention: Option<&Retention>,
    lock_expected: bool,
) {
    v.access_tier = access_tier.to_owned();
    if let Some(size) = size.filter(|s| s.known) {
        let mut archive = Some(0i64);
        // A BTreeMap would sort; the proto map is a HashMap, so sort for stable output.
        let mut types: Vec<(&String, &i64)> = size.bytes_by_storage_type.iter().collect();
        types.sort();
        for (storage_type, bytes) in types {
            let c = if access_tier.is_empty() {
                s3_class(storage_type)
            } else if let Some(tier) = storage_type.strip_prefix("BlobCapacity:") {
                azure_tier_class(tier)
            } else if storage_type == "NonBlobCapacity" {
                // Files, tables and queues: no access tiers.
                info("other", false, false, 0)
            } else {
                // Capacity not split by tier: the account's default tier says nothing about
                // blobs moved to Archive one by one, so what is archived is unknown.
                archive = None;
                info("tier-unknown", false, false, 0)
            };
            if c.archive {
                archive = archive.map(|a| a + bytes);
            }
            v.storage_classes.push(StorageClassBytes {
                storage_type: storage_type.clone(),
                class: c.class.to_owned(),
                bytes: *bytes,
                archive: c.archive,
                minimum_days: c.minimum_days,
                retrieval_fee: c.retrieval_fee,
            });
        }
        v.archive_bytes = archive;
    }
    match retention {
        Some(r) => {
            v.object_lock = r.enabled;
            v.legal_hold = r.legal_hold;
            if r.enabled && !r.mode.is_empty() {
                v.object_lock_mode = r.mode.to_ascii_uppercase();
                let days = i64::from(r.days) + i64::from(r.years) * DAYS_PER_YEAR;
                v.object_lock_retention_days = (days > 0).then_some(days);
            }
        }
        None => v.object_lock_unknown = lock_expected,
    }
}

/// A lock the owner cannot shorten: COMPLIANCE mode (not even the root user can delete
/// locked versions before retention ends) or a legal hold someone must lift.
pub fn cannot_be_shortened(v: &StoreView) -> bool {
    (v.object_lock && v.object_lock_mode == "COMPLIANCE") || v.legal_hold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(types: &[(&str, i64)]) -> Size {
        Size {
            bytes_by_storage_type: types.iter().map(|(t, b)| ((*t).to_owned(), *b)).collect(),
            objects: 1,
            datapoint_at_ms: 1,
            known: true,
            allocated_bytes: None,
        }
    }

    #[test]
    fn archive_classes_are_counted_and_flagged() {
        let mut v = StoreView::default();
        let s = size(&[
            ("StandardStorage", 100),
            ("GlacierStorage", 1_000),
            ("DeepArchiveStorage", 10_000),
            ("GlacierInstantRetrievalStorage", 7),
        ]);
        apply(&mut v, Some(&s), "", None, true);
        assert_eq!(v.archive_bytes, Some(11_000));
        let deep = v
            .storage_classes
            .iter()
            .find(|c| c.storage_type == "DeepArchiveStorage")
            .expect("deep archive row");
        assert_eq!(
            (deep.class.as_str(), deep.archive, deep.minimum_days),
            ("deep-archive", true, 180)
        );
        let instant = v
            .storage_classes
            .iter()
            .find(|c| c.class == "glacier-instant")
            .expect("instant row");
        assert!(!instant.archive && instant.retrieval_fee);
        assert_eq!(v.storage_classes.len(), 4);
        assert!(v.object_lock_unknown, "no lock fact for a bucket: unknown");
        assert!(!v.object_lock);
    }

    #[test]
    fn unknown_size_leaves_archive_bytes_unknown() {
        let mut v = StoreView::default();
        let unknown = Size::default();
        apply(&mut v, Some(&unknown), "", None, false);
        assert_eq!(v.archive_bytes, None, "unknown, not zero");
        assert!(v.storage_classes.is_empty());
        assert!(!v.object_lock_unknown);
    }

    #[test]
    fn compliance_retention_in_years_becomes_days() {
        let mut v = StoreView::default();
        let r = Retention {
            enabled: true,
            mode: "COMPLIANCE".into(),
            years: 2,
            ..Retention::default()
        };
        apply(&mut v, None, "", Some(&r), true);
        assert!(v.object_lock && !v.object_lock_unknown);
        assert_eq!(v.object_lock_mode, "COMPLIANCE");
        assert_eq!(v.object_lock_retention_days, Some(730));
        assert!(cannot_be_shortened(&v));

        let mut g = StoreView::default();
        let governance = Retention {
            enabled: true,
            mode: "GOVERNANCE".into(),
            days: 30,
            ..Retention::default()
        };
        apply(&mut g, None, "", Some(&governance), true);
        assert_eq!(g.object_lock_retention_days, Some(30));
        assert!(!cannot_be_shortened(&g));

        // Enabled without a default rule: locked objects possible, no default period.
        let mut e = StoreView::default();
        let bare = Retention {
            enabled: true,
            ..Retention::default()
        };
        apply(&mut e, None, "", Some(&bare), true);
        assert!(e.object_lock);
        assert_eq!(e.object_lock_retention_days, None);
        assert_eq!(e.object_lock_mode, "");
    }

    #[test]
    fn azure_tier_classifies_capacity_and_legal_hold_cannot_be_shortened() {
        let mut v = StoreView::default();
        // Capacity split by tier: archived blobs counted whatever the account's default.
        let s = size(&[
            ("BlobCapacity:Cool", 4_000),
            ("BlobCapacity:Archive", 900),
            ("NonBlobCapacity", 100),
        ]);
        let hold = Retention {
            legal_hold: true,
            ..Retention::default()
        };
        apply(&mut v, Some(&s), "Cool", Some(&hold), true);
        assert_eq!(v.access_tier, "Cool");
        let class = |t: &str| {
            v.storage_classes
                .iter()
                .find(|c| c.storage_type == t)
                .expect(t)
                .clone()
        };
        assert_eq!(class("BlobCapacity:Cool").class, "infrequent-access");
        assert!(class("BlobCapacity:Cool").retrieval_fee);
        assert!(class("BlobCapacity:Archive").archive);
        assert_eq!(class("NonBlobCapacity").class, "other");
        assert_eq!(v.archive_bytes, Some(900));
        // Not split by tier: archived bytes unknown, not 0 (nor all, for an Archive default).
        let mut unsplit = StoreView::default();
        apply(
            &mut unsplit,
            Some(&size(&[("UsedCapacity", 5_000)])),
            "Hot",
            None,
            true,
        );
        assert_eq!(unsplit.archive_bytes, None);
        assert_eq!(unsplit.storage_classes[0].class, "tier-unknown");
        assert!(v.legal_hold && !v.object_lock);
        assert!(cannot_be_shortened(&v));
        assert_eq!(azure_tier_class("Archive").class, "archive");
        assert!(azure_tier_class("Archive").archive);
        assert_eq!(s3_class("SomethingNew").class, "other");
    }
}
