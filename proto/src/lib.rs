//! The landmeter wire contract, package `landmeter.v1`.
//!
//! # Layout
//! - `v1`: generated messages and services (facts, `IngestService`, `MapService`).
//! - [`Custody`] helpers: the ladder's stable names used by the CLI, the store and the docs.
//! - [`FILE_DESCRIPTOR_SET`]: for gRPC reflection.
//! - [`json`]: the JSON rendering of facts and store views (CLI output, exports).
//!
//! Evolution rule: add fields only, never reuse a number.

pub mod v1 {
    tonic::include_proto!("landmeter.v1");
}

pub mod filter;
pub mod json;

pub use v1::Custody;

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
}
