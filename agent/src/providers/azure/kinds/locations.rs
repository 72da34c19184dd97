//! Paired regions from `GET /subscriptions/{id}/locations` (`metadata.pairedRegion[]`),
//! read once per subscription and only when a geo-redundant copy names no region. Never a
//! hard-coded pair table: a region without a pair, or a failed read, leaves the copy's
//! region empty (unknown in the map).

use std::collections::HashMap;

use serde::Deserialize;

use super::normalize_region;
use crate::providers::azure::arm;
use crate::providers::azure::calls;
use crate::providers::azure::subscription::Subscription;
use crate::sink::SinkClosed;

/// Region -> its first paired region ("" when the API names none); `None` when the read
/// failed (reported once as a gap on the subscription).
pub(in crate::providers::azure) type Locations =
    tokio::sync::OnceCell<Option<HashMap<String, String>>>;

/// `Subscriptions_ListLocations` answers `{"value": [...]}` (the spec's `LocationListResult`);
/// the spec's example file `GetLocations.json` (2022-12-01) shows a bare array, so both parse.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LocationList {
    Wrapped { value: Vec<Location> },
    Bare(Vec<Location>),
}

#[derive(Debug, Default, Deserialize)]
struct Location {
    #[serde(default)]
    name: String,
    #[serde(default)]
    metadata: Option<LocationMetadata>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationMetadata {
    #[serde(default)]
    paired_region: Vec<PairedRegion>,
}

#[derive(Debug, Default, Deserialize)]
struct PairedRegion {
    #[serde(default)]
    name: String,
}

impl Subscription<'_> {
    /// The pair of `region`, or "" when unknown.
    pub(in crate::providers::azure) async fn paired_region(
        &self,
        region: &str,
    ) -> Result<String, SinkClosed> {
        let mut failure = None;
        let pairs = self
            .locations
            .get_or_init(|| async {
                let url = match self.ctx.arm.url(
                    &format!("/subscriptions/{}/locations", self.id),
                    arm::SUBSCRIPTIONS_API,
                ) {
                    Ok(u) => u,
                    Err(f) => {
                        failure = Some(f);
                        return None;
                    }
                };
                match self.ctx.arm.get::<LocationList>(url).await {
                    Ok(list) => Some(pairs_of(list)),
                    Err(f) => {
                        failure = Some(f);
                        None
                    }
                }
            })
            .await;
        if let Some(f) = failure {
            self.gap(self.id, calls::LIST_LOCATIONS, &f).await?;
        }
        Ok(pairs
            .as_ref()
            .and_then(|p| p.get(&normalize_region(region)).cloned())
            .unwrap_or_default())
    }
}

fn pairs_of(list: LocationList) -> HashMap<String, String> {
    let locations = match list {
        LocationList::Wrapped { value } | LocationList::Bare(value) => value,
    };
    locations
        .into_iter()
        .map(|l| {
            let pair = l
                .metadata
                .and_then(|m| m.paired_region.into_iter().next())
                .map(|p| normalize_region(&p.name))
                .unwrap_or_default();
            (normalize_region(&l.name), pair)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_from_both_shapes_and_no_pair_is_empty() {
        // Trimmed from az-specs Microsoft.Resources/stable/2022-12-01/examples/GetLocations.json.
        let bare = r#"[{"id": "/subscriptions/x/locations/eastus", "name": "eastus", "type": "Region",
            "metadata": {"regionType": "Physical", "pairedRegion": [{"name": "westus", "id": "/subscriptions/x/locations/westus"}]}}]"#;
        let pairs = pairs_of(serde_json::from_str(bare).expect("bare"));
        assert_eq!(pairs["eastus"], "westus");
        let wrapped = r#"{"value": [{"name": "polandcentral", "metadata": {"pairedRegion": []}}]}"#;
        let pairs = pairs_of(serde_json::from_str(wrapped).expect("wrapped"));
        assert_eq!(pairs["polandcentral"], "");
    }
}
