//! The exit scenario for people (table) and programs (JSON, CSV), one document for the CLI
//! (`landmeter exit`) and the HTTP API (`/v1/exit`). The JSON is the contract (documented
//! in openapi.json); the CSV flattens it to `figure,value` rows and the table says it in
//! words. Unknown is null in JSON, empty in CSV and "unknown" in the table, never 0.

use serde_json::{Value, json};

use super::Format;
use crate::map::exit::egress::range_label;
use crate::map::exit::prices::Price;
use crate::map::exit::{ExitScenario, KeysAtExit, LockIn, LockedStore};

pub fn exit(x: &ExitScenario, format: Format) -> String {
    let doc = document(x);
    match format {
        Format::Json => serde_json::to_string_pretty(&doc).unwrap_or_default(),
        Format::Csv => csv_rows(&doc),
        Format::Table => table(x),
    }
}

fn money_price(amount: Option<f64>, p: Option<&Price>) -> Value {
    json!({
        "amount": amount,
        "currency": p.map(|p| p.currency.as_str()),
        "date": p.map(|p| p.date.as_str()),
        "status": p.map(|p| p.status.as_str()),
        "source": p.map(|p| p.source.as_str()),
    })
}

/// The JSON document (field names documented in openapi.json, schema `Exit`).
pub fn document(x: &ExitScenario) -> Value {
    let e = &x.egress;
    let currency = (!e.currency.is_empty()).then_some(e.currency.as_str());
    let tiers: Vec<Value> = e
        .tiers
        .iter()
        .map(|t| {
            json!({"from": t.tier.from, "to": t.tier.to, "price": t.tier.price,
                "charged": t.charged, "amount": t.amount})
        })
        .collect();
    json!({
        "from": x.from,
        "to": x.to,
        "on": x.on.to_string(),
        "stores": x.stores,
        "bytes": x.bytes,
        "objects": x.objects,
        "stores_objects_unknown": x.stores_objects_unknown,
        "stores_size_unknown": x.stores_without_size,
        "transfer": {
            "hours": x.transfer_hours.is_finite().then_some(x.transfer_hours),
            "bandwidth_mbps": x.bandwidth_mbps,
        },
        "egress": {
            "currency": currency,
            "unit": e.ladder.unit.label(),
            "volume": e.volume,
            "free_allowance_per_month": e.ladder.free_per_month,
            "assumes": "the known bytes only, billed in one month, the free allowance not used by other traffic",
            "list_price": {
                "amount": e.list_price,
                "known_part": e.list_price_known_part,
                "tiers": tiers,
                "unsourced_tiers": e.unsourced_tiers(),
                "date": e.ladder.date,
                "status": e.ladder.status,
                "source": e.ladder.source,
            },
            "free_exit_programme": e.free_exit.as_ref().map(|p| json!({
                "amount": e.free_exit_amount(),
                "conditions": p.conditions,
                "date": p.date,
                "status": p.status,
                "source": p.source,
            })),
            "data_act": {
                "phase": e.data_act.phase.label(),
                "amount": e.data_act.amount,
                "upper_bound": e.data_act.upper_bound,
                "rule": e.data_act.text(),
                "law": "Regulation (EU) 2023/2854, Art. 29",
            },
        },
        "storage_per_month": {
            "now": money_price(x.monthly_storage_cost_now, x.source_price.as_ref()),
            "after": money_price(x.monthly_storage_cost_after, x.target_price.as_ref()),
        },
        "keys": keys_json(&x.keys),
        "replication_edges": x.replication_edges,
        "lock_in": lock_in_json(&x.lock_in),
        "data_act_note": x.data_act_note,
        "target_s3_api": x.keys.target.s3_api,
        "targets": x.targets.iter().map(|t| json!({
            "provider": t.provider,
            "storage_price_known": t.storage_price_known,
            "currency": t.currency,
            "external_key_manager": t.external_key_manager.label(),
            "s3_api": t.s3_api,
        })).collect::<Vec<_>>(),
    })
}

fn keys_json(k: &KeysAtExit) -> Value {
    let groups: Vec<Value> = k
        .groups
        .iter()
        .map(|g| {
            json!({"custody": g.custody.label(), "fate": g.fate.code(), "fate_text": g.fate.label(),
                "stores": g.stores, "bytes": g.bytes, "stores_size_unknown": g.stores_size_unknown,
                "distinct_keys": g.keys.len(), "key_ids": g.keys,
                "stores_without_key_id": g.stores_without_key_id})
        })
        .collect();
    let unknown = k.custody_unknown();
    json!({
        "keys_to_recreate": k.keys_to_recreate(),
        "stores_recreated_without_key_id": k.recreated_stores_without_key_id(),
        "keys_reimport_if_escrowed": k.keys_reimport_if_escrowed(),
        "hyok": k.hyok().map(|g| json!({"keys": g.keys.len(), "stores": g.stores, "bytes": g.bytes,
            "stores_size_unknown": g.stores_size_unknown, "at_target": g.fate.code()})),
        "hyok_lost": k.hyok_lost().map(|l| json!({"stores": l.stores, "bytes": l.bytes,
            "stores_size_unknown": l.stores_size_unknown})),
        "stores_without_key": k.stores_without_key(),
        "custody_unknown_stores": unknown.map_or(0, |g| g.stores),
        "custody_unknown_key_ids": unknown.map_or(0, |g| g.keys.len()),
        "target_external_key_manager": {
            "support": k.target.external_key_manager.label(),
            "how": k.target.how,
            "status": k.target.status,
            "source": k.target.source,
        },
        "by_custody": groups,
    })
}

fn lock_in_json(l: &LockIn) -> Value {
    let store = |s: &LockedStore| {
        json!({"id": s.id, "name": s.name, "mode": s.mode,
            "retention_days": s.retention_days, "archive_bytes": s.archive_bytes})
    };
    json!({
        "archive_bytes": l.archive_bytes,
        "retrieval_fee_bytes": l.retrieval_fee_bytes,
        "minimum_duration": l.minimum_duration_bytes.iter().map(|(class, days, bytes)|
            json!({"class": class, "minimum_days": days, "bytes": bytes})).collect::<Vec<_>>(),
        "archive_stores": l.archive_stores.iter().map(store).collect::<Vec<_>>(),
        "object_lock_stores": l.object_lock_stores.iter().map(store).collect::<Vec<_>>(),
        "compliance_stores": l.compliance_stores,
        "legal_hold_stores": l.legal_hold_stores.iter().map(store).collect::<Vec<_>>(),
        "lock_unknown_stores": l.lock_unknown_stores,
    })
}

/// `figure,value` rows, one per leaf of the JSON document (`egress.list_price.amount`,
/// `keys.by_custody.0.stores`); null is an empty cell.
fn csv_rows(doc: &Value) -> String {
    fn walk(path: &str, v: &Value, out: &mut Vec<(String, String)>) {
        let join = |k: &str| {
            if path.is_empty() {
                k.to_owned()
            } else {
                format!("{path}.{k}")
            }
        };
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| walk(&join(k), v, out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(&join(&i.to_string()), v, out)),
            Value::Null => out.push((path.to_owned(), String::new())),
            Value::String(s) => out.push((path.to_owned(), s.clone())),
            other => out.push((path.to_owned(), other.to_string())),
        }
    }
    let mut rows = Vec::new();
    walk("", doc, &mut rows);
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["figure", "value"]);
    for (k, v) in rows {
        let _ = w.write_record([k, v]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn amount(v: Option<f64>, currency: &str) -> String {
    match v {
        Some(v) if currency.is_empty() => format!("{v:.2}"),
        Some(v) => format!("{v:.2} {currency}"),
        None => "unknown".to_owned(),
    }
}

fn dated(date: &str, status: &str, source: &str) -> String {
    let date = if date.trim().is_empty() {
        "undated"
    } else {
        date
    };
    format!("{date}, {status}; source: {source}")
}

fn table(x: &ExitScenario) -> String {
    let e = &x.egress;
    let cur = e.currency.as_str();
    let unit = e.ladder.unit.label();
    let no_price = "unknown (no price in the table)".to_owned();
    let list = match (x.source_price.as_ref(), e.list_price) {
        (None, _) => no_price.clone(),
        (Some(_), Some(v)) => format!(
            "{} ({}; free {} {unit}/month; list price {})",
            amount(Some(v), cur),
            tier_text(x),
            e.ladder
                .free_per_month
                .map_or_else(|| "allowance unknown".to_owned(), |f| f.to_string()),
            dated(&e.ladder.date, &e.ladder.status, &e.ladder.source)
        ),
        (Some(_), None) => format!(
            "unknown: no sourced price for {} (at least {} for the sourced tiers)",
            e.unsourced_tiers().join(", "),
            amount(Some(e.list_price_known_part), cur)
        ),
    };
    let free_exit = e.free_exit.as_ref().map_or_else(
        || "none published in the table (list price applies)".to_owned(),
        |p| {
            format!(
                "{} if its conditions are met: {} ({})",
                amount(e.free_exit_amount(), cur),
                p.conditions,
                dated(&p.date, &p.status, &p.source)
            )
        },
    );
    let data_act = format!(
        "{}: {}{}",
        e.data_act.text(),
        amount(e.data_act.amount, cur),
        match (e.data_act.amount, e.data_act.upper_bound) {
            (None, Some(b)) => format!(", at most {}", amount(Some(b), cur)),
            _ => String::new(),
        }
    );
    let storage = |v: Option<f64>, p: Option<&Price>| match (v, p) {
        (Some(v), Some(p)) => format!(
            "{} (list price {})",
            amount(Some(v), &p.currency),
            dated(&p.date, &p.status, &p.source)
        ),
        _ => no_price.clone(),
    };
    let k = &x.keys;
    let hyok = match (k.hyok(), k.hyok_lost()) {
        (None, _) => "none".to_owned(),
        (Some(g), lost) => format!(
            "{} keys, {} stores, {} known bytes: {}{}",
            g.keys.len(),
            g.stores,
            g.bytes,
            g.fate.label(),
            match lost {
                Some(l) if l.stores > 0 => format!(
                    " ({} stores, {} known bytes{} lose HYOK at {})",
                    l.stores,
                    l.bytes,
                    if l.stores_size_unknown > 0 {
                        format!(" + {} of unknown size", l.stores_size_unknown)
                    } else {
                        String::new()
                    },
                    x.to
                ),
                _ => String::new(),
            }
        ),
    };
    let unknown = k.custody_unknown();
    let rows = [
        ("from", x.from.clone()),
        ("to", x.to.clone()),
        ("on", x.on.to_string()),
        ("stores", x.stores.to_string()),
        ("bytes to move", x.bytes.to_string()),
        (
            "objects to move",
            format!(
                "{} (+ {} stores whose count is unknown)",
                x.objects, x.stores_objects_unknown
            ),
        ),
        (
            "stores of unknown size (not in bytes)",
            x.stores_without_size.to_string(),
        ),
        (
            "egress at list price",
            if x.stores_without_size > 0 {
                format!(
                    "{list}; the known bytes only: {} stores of unknown size are not in it",
                    x.stores_without_size
                )
            } else {
                list
            },
        ),
        ("egress under the free-exit programme", free_exit),
        (
            "egress under the EU Data Act (Art. 29)",
            format!("{data_act} (on {})", x.on),
        ),
        (
            "storage per month now",
            storage(x.monthly_storage_cost_now, x.source_price.as_ref()),
        ),
        (
            "storage per month after",
            storage(x.monthly_storage_cost_after, x.target_price.as_ref()),
        ),
        (
            "transfer time",
            format!("{:.1} h at {} Mbit/s", x.transfer_hours, x.bandwidth_mbps),
        ),
        (
            "keys re-created at the target",
            format!(
                "{} distinct keys (+ {} stores under provider default keys with no key id)",
                k.keys_to_recreate(),
                k.recreated_stores_without_key_id()
            ),
        ),
        (
            "BYOK keys",
            format!(
                "{}: re-imported if escrowed, else re-created",
                k.keys_reimport_if_escrowed()
            ),
        ),
        ("HYOK keys", hyok),
        (
            "external key manager at the target",
            format!(
                "{} ({}; source: {})",
                k.target.external_key_manager.label(),
                k.target.status,
                k.target.source
            ),
        ),
        (
            "S3 API at the target",
            if k.target.s3_api.is_empty() {
                "not researched".to_owned()
            } else {
                k.target.s3_api.clone()
            },
        ),
        ("stores without a key", k.stores_without_key().to_string()),
        (
            "stores of unknown custody (apart)",
            format!(
                "{} ({} key ids)",
                unknown.map_or(0, |g| g.stores),
                unknown.map_or(0, |g| g.keys.len())
            ),
        ),
        ("replication edges to cut", x.replication_edges.to_string()),
        ("lock-in features", super::lock_in_summary(&x.lock_in)),
        ("EU Data Act", x.data_act_note.clone()),
    ];
    let mut lines: Vec<String> = rows.iter().map(|(k, v)| format!("{k:>40}: {v}")).collect();
    lines.extend(super::lock_in_lines(&x.lock_in));
    lines.push(format!("{:>40}:", "other targets (external key manager)"));
    for t in &x.targets {
        lines.push(format!(
            "{:>40}  {} ({}{}): {}",
            "",
            t.provider,
            t.external_key_manager.label(),
            if t.storage_price_known {
                ""
            } else {
                "; no storage price"
            },
            if t.s3_api.is_empty() {
                "S3 API not researched"
            } else {
                &t.s3_api
            }
        ));
    }
    lines.join("\n")
}

/// "50 GB at 0.09 + ..." for the tiers the volume reaches.
fn tier_text(x: &ExitScenario) -> String {
    let e = &x.egress;
    let unit = e.ladder.unit.label();
    if e.tiers.is_empty() {
        return "within the free allowance".to_owned();
    }
    e.tiers
        .iter()
        .map(|t| {
            format!(
                "{:.1} {unit} in {} at {}",
                t.charged,
                range_label(&t.tier, unit),
                t.tier
                    .price
                    .map_or_else(|| "an unsourced price".to_owned(), |p| p.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::exit::{PriceTable, exit_scenario};
    use landmeter_proto::Custody;
    use landmeter_proto::v1::StoreView;

    /// Every field of `doc` is documented under `schema` (openapi.json), recursively.
    fn documented(path: &str, doc: &Value, schema: &Value) {
        match doc {
            Value::Object(m) => {
                let props = &schema["properties"];
                for (k, v) in m {
                    let s = props
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}.{k} is not in openapi.json"));
                    documented(&format!("{path}.{k}"), v, s);
                }
            }
            Value::Array(a) => a
                .iter()
                .for_each(|v| documented(&format!("{path}[]"), v, &schema["items"])),
            _ => {}
        }
    }

    #[test]
    fn every_field_is_documented_in_openapi() {
        let spec: Value = serde_json::from_str(crate::api::http::OPENAPI).expect("spec");
        let schema = &spec["components"]["schemas"]["Exit"];
        let stores = [
            StoreView {
                provider: "google-cloud".into(),
                bytes: Some(20 * 1024_i64.pow(4)),
                custody: Custody::Hyok as i32,
                key_arn: "projects/p/locations/europe/keyRings/r/cryptoKeys/k".into(),
                object_lock: true,
                ..StoreView::default()
            },
            StoreView {
                provider: "google-cloud".into(),
                custody: Custody::CustomerManaged as i32,
                key_arn: "projects/p/locations/europe/keyRings/r/cryptoKeys/c".into(),
                ..StoreView::default()
            },
        ];
        let x = exit_scenario(
            &stores,
            "google-cloud",
            "ovhcloud",
            1000.0,
            &PriceTable::builtin().expect("prices"),
            time::macros::date!(2026 - 12 - 01),
        );
        let doc = document(&x);
        // The case reaches every optional part: tiers, an unsourced one, a programme, HYOK.
        assert_eq!(
            doc["egress"]["list_price"]["unsourced_tiers"],
            json!(["10240+ GiB"])
        );
        assert!(doc["egress"]["free_exit_programme"].is_object());
        assert_eq!(doc["keys"]["hyok_lost"]["stores"], 1);
        assert_eq!(doc["lock_in"]["object_lock_stores"][0]["mode"], "");
        documented("Exit", &doc, schema);
        let csv = exit(&x, Format::Csv);
        assert!(csv.contains("\nkeys.hyok_lost.stores,1\n"), "{csv}");
        assert!(
            csv.contains("\negress.list_price.amount,\n"),
            "unknown is empty: {csv}"
        );
    }
}
