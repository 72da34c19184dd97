//! What changed in a store's interpretation between two views, and which views a watch
//! filter selects. Pure: views in, events out.

use landmeter_proto::v1::{ChangeKind, FieldChange, StoreView};

/// A yes/no that may be unknown, as change events record it.
fn tri(known: Option<bool>) -> String {
    known.map_or_else(|| "unknown".to_owned(), |b| b.to_string())
}

/// The interpreted fields whose changes are recorded, as text: where the data and its
/// copies are, who holds the keys and where they are, and what the indicators say.
fn fields(v: &StoreView) -> [(&'static str, String); 15] {
    let mut replication: Vec<String> = v
        .replication
        .iter()
        .map(|t| {
            format!(
                "{}@{}",
                t.bucket,
                if t.region.is_empty() { "?" } else { &t.region }
            )
        })
        .collect();
    replication.sort();
    let indicator = |l: Option<i32>| l.map_or_else(|| "none".to_owned(), |l| l.to_string());
    let mut unknowns: Vec<&str> = v.unknowns.iter().map(|u| u.dimension.as_str()).collect();
    unknowns.sort_unstable();
    [
        ("location", v.region.clone()),
        ("country", v.country.clone()),
        ("eu", tri(v.eu_known())),
        ("custody", v.custody().label().to_owned()),
        ("key", v.key_arn.clone()),
        ("key_region", v.key_region.clone()),
        // Key modifiers: a new multi-region replica, deletion scheduled, a disconnected
        // external key store, another account's key.
        ("key_modifiers", v.custody_modifiers.join("; ")),
        ("replication", replication.join(" ")),
        (
            "replicated_outside_eu",
            tri(v.replicated_outside_eu_known()),
        ),
        ("jurisdiction", v.jurisdiction.clone()),
        ("classification", v.classification.clone()),
        ("process", v.process.clone()),
        (
            "indicators",
            format!(
                "SOV-2 {} / SOV-3 {}",
                indicator(v.sov2_indicator),
                indicator(v.sov3_indicator)
            ),
        ),
        ("unknown", unknowns.join(",")),
        (
            "bytes",
            v.bytes
                .map_or_else(|| "unknown".to_owned(), |b| b.to_string()),
        ),
    ]
}

/// The store as a change event records it: its identity, bookkeeping and every field that
/// changes are recorded for or that a filter selects on, without the explanations
/// (reasons, indicators, key and lock-in details) that `GetStore` gives for the store now.
/// History keeps one such snapshot per change, about a fifth of the full view's size.
pub fn history_view(v: &StoreView) -> StoreView {
    StoreView {
        id: v.id.clone(),
        tenant: v.tenant.clone(),
        provider: v.provider.clone(),
        provider_parent: v.provider_parent.clone(),
        cloud_act: v.cloud_act.clone(),
        account: v.account.clone(),
        name: v.name.clone(),
        kind: v.kind.clone(),
        region: v.region.clone(),
        country: v.country.clone(),
        eu: v.eu,
        custody: v.custody,
        custody_modifiers: v.custody_modifiers.clone(),
        key_arn: v.key_arn.clone(),
        key_region: v.key_region.clone(),
        sov2_indicator: v.sov2_indicator,
        sov3_indicator: v.sov3_indicator,
        // Filters on history select on what is unknown as on the live map.
        unknowns: v.unknowns.clone(),
        replication: v.replication.clone(),
        replicated_outside_eu: v.replicated_outside_eu,
        jurisdiction: v.jurisdiction.clone(),
        classification: v.classification.clone(),
        process: v.process.clone(),
        bytes: v.bytes,
        objects: v.objects,
        first_seen_ms: v.first_seen_ms,
        last_seen_ms: v.last_seen_ms,
        gone_at_ms: v.gone_at_ms,
        last_scan_id: v.last_scan_id.clone(),
        ..StoreView::default()
    }
}

/// The change from `before` (None: never seen, or gone) to `after`, if any.
pub fn diff(
    before: Option<&StoreView>,
    after: &StoreView,
) -> Option<(ChangeKind, Vec<FieldChange>)> {
    let Some(before) = before.filter(|b| b.gone_at_ms.is_none()) else {
        return Some((ChangeKind::Added, Vec::new()));
    };
    let changes: Vec<FieldChange> = fields(before)
        .into_iter()
        .zip(fields(after))
        .filter(|((_, b), (_, a))| a != b)
        .map(|((field, before), (_, after))| FieldChange {
            field: field.to_owned(),
            before,
            after,
        })
        .collect();
    (!changes.is_empty()).then_some((ChangeKind::Changed, changes))
}

/// Whether a view passes a filter (the store's meaning, in memory).
pub use landmeter_proto::filter::matches;

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::Custody;
    use landmeter_proto::v1::ReplicationTarget;
    use landmeter_proto::v1::StoreFilter;

    fn view() -> StoreView {
        StoreView {
            kind: "bucket".into(),
            region: "eu-west-1".into(),
            country: "IE".into(),
            eu: true,
            custody: Custody::CustomerManaged as i32,
            classification: "BBN2".into(),
            ..StoreView::default()
        }
    }

    #[test]
    fn new_changed_and_unchanged() {
        let v = view();
        assert_eq!(diff(None, &v), Some((ChangeKind::Added, vec![])));
        assert_eq!(diff(Some(&v), &v), None);
        let mut after = v.clone();
        after.custody = Custody::Provider as i32;
        after.replication.push(ReplicationTarget {
            bucket: "dr".into(),
            region: "us-east-1".into(),
            ..ReplicationTarget::default()
        });
        after.replicated_outside_eu = true;
        let (kind, changes) = diff(Some(&v), &after).expect("changed");
        assert_eq!(kind, ChangeKind::Changed);
        let got: Vec<(&str, &str, &str)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.before.as_str(), c.after.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("custody", "customer-managed", "provider"),
                ("replication", "", "dr@us-east-1"),
                ("replicated_outside_eu", "false", "true"),
            ]
        );
        // A store that had gone and is seen again is added again.
        let mut gone = v.clone();
        gone.gone_at_ms = Some(5);
        assert_eq!(diff(Some(&gone), &v).map(|d| d.0), Some(ChangeKind::Added));
    }

    #[test]
    fn filters_match_in_memory() {
        let v = view();
        assert!(matches(&StoreFilter::default(), &v));
        assert!(matches(
            &StoreFilter {
                countries: vec!["IE".into()],
                eu: Some(true),
                ..Default::default()
            },
            &v
        ));
        assert!(!matches(
            &StoreFilter {
                eu: Some(false),
                ..Default::default()
            },
            &v
        ));
        assert!(!matches(
            &StoreFilter {
                custody_at_least: Custody::Byok as i32,
                ..Default::default()
            },
            &v
        ));
        assert!(matches(
            &StoreFilter {
                custody_at_most: Custody::CustomerManaged as i32,
                ..Default::default()
            },
            &v
        ));
        assert!(matches(
            &StoreFilter {
                kinds: vec!["container".into(), "bucket".into()],
                ..Default::default()
            },
            &v
        ));
        assert!(!matches(
            &StoreFilter {
                kinds: vec!["storage-account".into()],
                ..Default::default()
            },
            &v
        ));
    }

    #[test]
    fn history_keeps_what_filters_select_on() {
        let mut v = view();
        v.custody_reason = "long explanation".into();
        let h = history_view(&v);
        assert_eq!(h.kind, "bucket");
        assert_eq!(h.custody_reason, "", "explanations are not kept");
        assert!(matches(
            &StoreFilter {
                kinds: vec!["bucket".into()],
                ..Default::default()
            },
            &h
        ));
    }
}
