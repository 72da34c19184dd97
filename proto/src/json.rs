//! JSON renderings of the wire types, for people and scripts (CLI `--output json`, exports).
//!
//! Hand-written rather than derived so that field names stay stable and enums print as
//! their ladder labels, whatever prost generates.

use serde_json::{Value, json};

use crate::v1::{Fact, GapKind, StoreView, fact::Body};

fn ms(v: i64) -> Value {
    if v == 0 { Value::Null } else { json!(v) }
}

/// One fact with its provenance fields and a `kind` naming its body.
pub fn fact(f: &Fact) -> Value {
    let (kind, body) = match &f.body {
        Some(Body::Store(s)) => (
            "store",
            json!({"provider": s.provider, "service": s.service, "name": s.name, "region": s.region,
                   "region_source": s.region_source, "created_at_ms": ms(s.created_at_ms), "endpoint": s.endpoint,
                   "sku": s.sku, "secondary_region": s.secondary_region, "parent": s.parent,
                   "access_tier": s.access_tier, "kind": s.kind().label(), "engine": s.engine,
                   "copy_of": s.copy_of, "copy_kind": s.copy_kind().label(), "copy_of_region": s.copy_of_region}),
        ),
        Some(Body::Encryption(e)) => (
            "encryption",
            json!({"state": e.state().as_str_name(), "algorithm": e.algorithm, "key_ref": e.key_ref,
                   "resolved_key_arn": e.resolved_key_arn, "bucket_key_enabled": e.bucket_key_enabled,
                   "blocked_encryption_types": e.blocked_encryption_types, "not_configured_code": e.not_configured_code,
                   "require_infrastructure_encryption": e.require_infrastructure_encryption,
                   "federated_identity_client_id": e.federated_identity_client_id,
                   "user_assigned_identity": e.user_assigned_identity, "encryption_scope": e.encryption_scope,
                   "deny_encryption_scope_override": e.deny_encryption_scope_override, "scope_state": e.scope_state}),
        ),
        Some(Body::Tags(t)) => (
            "tags",
            Value::Object(
                t.tags
                    .iter()
                    .map(|t| (t.key.clone(), json!(t.value)))
                    .collect(),
            ),
        ),
        Some(Body::Replication(r)) => (
            "replication",
            json!({"rules": r.rules.iter().map(|r| json!({"id": r.id, "status": r.status,
                "destination_bucket": r.destination_bucket, "destination_account": r.destination_account,
                "destination_region": r.destination_region, "replica_key_ref": r.replica_key_ref,
                "destination_storage_class": r.destination_storage_class,
                "copy_kind": r.copy_kind().label()})).collect::<Vec<_>>()}),
        ),
        Some(Body::Size(s)) => (
            "size",
            json!({"known": s.known, "bytes_by_storage_type": s.bytes_by_storage_type, "objects": s.objects,
                   "datapoint_at_ms": ms(s.datapoint_at_ms), "allocated_bytes": s.allocated_bytes}),
        ),
        Some(Body::Key(k)) => (
            "key",
            json!({"arn": k.arn, "key_account": k.key_account, "region": k.region, "key_manager": k.key_manager,
                   "origin": k.origin, "custom_key_store_id": k.custom_key_store_id, "key_state": k.key_state,
                   "multi_region": k.multi_region, "multi_region_key_type": k.multi_region_key_type,
                   "primary_region": k.primary_region, "replica_regions": k.replica_regions, "aliases": k.aliases,
                   "cloud_hsm_cluster_id": k.cloud_hsm_cluster_id, "xks_key_id": k.xks_key_id,
                   "key_spec": k.key_spec, "requested_refs": k.requested_refs, "hsm_backed": k.hsm_backed,
                   "key_type": k.key_type, "key_service": k.key_service, "exportable": k.exportable}),
        ),
        Some(Body::KeyStore(s)) => (
            "key_store",
            json!({"id": s.id, "name": s.name, "store_type": s.store_type, "connection_state": s.connection_state,
                   "cloud_hsm_cluster_id": s.cloud_hsm_cluster_id, "xks_uri_endpoint": s.xks_uri_endpoint,
                   "xks_uri_path": s.xks_uri_path, "xks_connectivity": s.xks_connectivity,
                   "xks_vpc_endpoint_service_owner": s.xks_vpc_endpoint_service_owner, "region": s.region}),
        ),
        Some(Body::Retention(r)) => (
            "retention",
            json!({"enabled": r.enabled, "mode": r.mode, "days": r.days, "years": r.years,
                   "legal_hold": r.legal_hold, "delete_after_days": r.delete_after_days}),
        ),
        Some(Body::Sharing(s)) => (
            "sharing",
            json!({"public": s.public, "accounts": s.accounts}),
        ),
        Some(Body::Setting(s)) => (
            "setting",
            json!({"name": s.name, "region": s.region, "value": s.value}),
        ),
        Some(Body::Unsupported(u)) => (
            "unsupported",
            json!({"call": u.call, "topic": u.topic().as_str_name(), "code": u.code,
                   "message": u.message, "http_status": u.http_status}),
        ),
        Some(Body::Gap(g)) => (
            "gap",
            json!({"kind": GapKind::try_from(g.kind).map_or("GAP_KIND_UNSPECIFIED", |k| k.as_str_name()),
                   "code": g.code, "message": g.message, "call": g.call}),
        ),
        None => ("unknown", Value::Null),
    };
    json!({"account": f.account, "subject": f.subject, "api_call": f.api_call,
           "observed_at_ms": f.observed_at_ms, "kind": kind, "body": body})
}

/// The name of a change kind in the CLI, JSON and server-sent events.
pub fn change_kind(kind: crate::v1::ChangeKind) -> &'static str {
    match kind {
        crate::v1::ChangeKind::Added => "added",
        crate::v1::ChangeKind::Changed => "changed",
        crate::v1::ChangeKind::Gone => "gone",
        crate::v1::ChangeKind::Unspecified => "unknown",
    }
}

/// One change event, with the store as it is after it.
pub fn change(e: &crate::v1::ChangeEvent) -> Value {
    json!({
        "id": e.id, "at_ms": e.at_ms, "tenant": e.tenant, "store_id": e.store_id, "scan_id": e.scan_id,
        "kind": change_kind(e.kind()),
        "changes": e.changes.iter().map(|c| json!({"field": c.field, "before": c.before, "after": c.after})).collect::<Vec<_>>(),
        "store": e.store.as_ref().map(store_view),
    })
}

/// One interpreted store.
pub fn store_view(v: &StoreView) -> Value {
    let mut out = json!({
        "id": v.id, "tenant": v.tenant, "provider": v.provider, "provider_parent": v.provider_parent,
        "cloud_act": v.cloud_act, "account": v.account, "name": v.name, "region": v.region,
        "country": v.country, "eu": v.eu_known(), "location_unverified": v.location_unverified,
        "custody": v.custody().label(), "custody_reason": v.custody_reason,
        "custody_modifiers": v.custody_modifiers, "key_arn": v.key_arn,
        "key_owner_account": v.key_owner_account, "key_region": v.key_region,
        "client_key_mode": v.client_key_mode,
        "replication": v.replication.iter().map(|t| json!({"bucket": t.bucket, "account": t.account,
            "region": t.region, "country": t.country, "eu": t.eu, "cross_account": t.cross_account, "copy_kind": t.copy_kind})).collect::<Vec<_>>(),
        "replicated_outside_eu": v.replicated_outside_eu_known(), "jurisdictions": v.jurisdictions,
        "jurisdiction": v.jurisdiction, "classification": v.classification, "process": v.process,
        "bytes": v.bytes, "objects": v.objects, "first_seen_ms": v.first_seen_ms,
        "last_seen_ms": v.last_seen_ms, "gone_at_ms": v.gone_at_ms, "last_scan_id": v.last_scan_id,
        "storage_classes": v.storage_classes.iter().map(|c| json!({"storage_type": c.storage_type,
            "class": c.class, "bytes": c.bytes, "archive": c.archive, "minimum_days": c.minimum_days,
            "retrieval_fee": c.retrieval_fee})).collect::<Vec<_>>(),
        "archive_bytes": v.archive_bytes, "object_lock": v.object_lock,
        "object_lock_unknown": v.object_lock_unknown, "object_lock_mode": v.object_lock_mode,
        "object_lock_retention_days": v.object_lock_retention_days, "legal_hold": v.legal_hold,
        "access_tier": v.access_tier,
    });
    // Added apart: one json! call with every field exceeds the macro recursion limit.
    for (key, value) in [
        ("sov2_indicator", json!(v.sov2_indicator)),
        ("sov3_indicator", json!(v.sov3_indicator)),
        ("indicator_reasons", json!(v.indicator_reasons)),
        ("key_store_id", json!(v.key_store_id)),
        ("kind", json!(v.kind)),
        ("engine", json!(v.engine)),
        ("size_basis", json!(v.size_basis)),
        ("allocated_bytes", json!(v.allocated_bytes)),
        ("shared_with", json!(v.shared_with)),
        ("shared_publicly", json!(v.shared_publicly)),
        ("delete_after_days", json!(v.delete_after_days)),
        ("copy_of", json!(v.copy_of)),
        ("copy_kind", json!(v.copy_kind)),
        // Unknown is never "no": a yes/no above is null when its dimension is listed here.
        (
            "unknowns",
            json!(
                v.unknowns
                    .iter()
                    .map(|u| json!({"dimension": u.dimension, "reason": u.reason,
                        "call": u.call, "code": u.code, "message": u.message}))
                    .collect::<Vec<_>>()
            ),
        ),
        // Not applicable is neither unknown nor "no": the provider lacks the call.
        (
            "not_applicable",
            json!(
                v.not_applicable
                    .iter()
                    .map(|n| json!({"dimension": n.dimension, "reason": n.reason,
                        "call": n.call, "code": n.code}))
                    .collect::<Vec<_>>()
            ),
        ),
        ("cloud_act_exposed", json!(v.cloud_act_exposed())),
        ("legal_review", json!(v.cloud_act == "unclear")),
    ] {
        out[key] = value;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Gap, Tag, Tags};

    #[test]
    fn facts_render_with_kind_and_labels() {
        let f = Fact {
            account: "1".into(),
            subject: "b".into(),
            observed_at_ms: 5,
            api_call: "s3:GetBucketTagging".into(),
            body: Some(Body::Tags(Tags {
                tags: vec![Tag {
                    key: "process".into(),
                    value: "wmo".into(),
                }],
            })),
        };
        assert_eq!(fact(&f)["kind"], "tags");
        assert_eq!(fact(&f)["body"]["process"], "wmo");
        let g = Fact {
            body: Some(Body::Gap(Gap {
                kind: GapKind::AccessDenied as i32,
                code: "AccessDenied".into(),
                ..Gap::default()
            })),
            ..f
        };
        assert_eq!(fact(&g)["body"]["kind"], "GAP_KIND_ACCESS_DENIED");
        let v = StoreView {
            custody: crate::Custody::Hyok as i32,
            ..StoreView::default()
        };
        assert_eq!(store_view(&v)["custody"], "hyok");
        let bucket = StoreView {
            kind: crate::StoreKind::Bucket.label().into(),
            ..StoreView::default()
        };
        assert_eq!(store_view(&bucket)["kind"], "bucket");
        let s = Fact {
            body: Some(Body::Store(crate::v1::Store {
                kind: crate::StoreKind::Container as i32,
                ..Default::default()
            })),
            ..Fact::default()
        };
        assert_eq!(fact(&s)["body"]["kind"], "container");
        let locked = StoreView {
            object_lock: true,
            object_lock_mode: "COMPLIANCE".into(),
            object_lock_retention_days: Some(30),
            ..StoreView::default()
        };
        let j = store_view(&locked);
        assert_eq!(j["object_lock_mode"], "COMPLIANCE");
        assert_eq!(j["object_lock_retention_days"], 30);
        assert_eq!(j["archive_bytes"], Value::Null, "unknown, not zero");
    }
}
