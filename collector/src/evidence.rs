//! The evidence bundle for auditors (`landmeter evidence`, `GET /v1/evidence`,
//! `MapService.Evidence`): one JSON document with the collector version, the reference
//! tables the map was interpreted with (SHA-256 of their content and the interpretation
//! fingerprint), the tenant's stores, every stored fact with its provenance, the scans with
//! their coverage, and a manifest of SHA-256 digests.
//!
//! Verifying (docs/evidence.md): for each section name in `manifest.sections`, the SHA-256
//! of the section's canonical JSON equals the listed digest; `manifest.digest` is the
//! SHA-256 of the canonical JSON of `manifest.sections`. Canonical JSON: no whitespace,
//! object keys sorted by their UTF-8 bytes, strings escaped as JSON requires (non-ASCII kept
//! as UTF-8), integers in decimal (the bundle holds no floating-point numbers).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

use landmeter_proto::v1::StoreFilter;

use crate::store::{MapStore, Scope, StoreError};

pub const FORMAT: &str = "landmeter-evidence/1";
/// Sections covered by the manifest, in the order they appear.
pub const SECTIONS: [&str; 6] = [
    "header",
    "collector",
    "reference_tables",
    "stores",
    "facts",
    "scans",
];
/// Scans included (newest first).
const SCANS_INCLUDED: usize = 10_000;

/// SHA-256, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The canonical JSON text of a value: compact, object keys sorted.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Reference tables by interpretation fingerprint, as this process loaded them: the
/// fingerprint kept in the database names the tables its map was built with.
/// (table name, SHA-256 of its content) per fingerprint.
type TableDigests = HashMap<String, Vec<(String, String)>>;

fn tables_registry() -> &'static Mutex<TableDigests> {
    static R: OnceLock<Mutex<TableDigests>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Records the content digests of the tables behind `fingerprint` (called when the
/// interpreter is built).
pub fn remember_tables(fingerprint: &str, tables: &[(&str, &str)]) {
    let digests = tables
        .iter()
        .map(|(name, content)| ((*name).to_owned(), sha256_hex(content.as_bytes())))
        .collect();
    if let Ok(mut r) = tables_registry().lock() {
        r.insert(fingerprint.to_owned(), digests);
    }
}

fn reference_tables(fingerprint: Option<&str>) -> Value {
    let known = fingerprint.and_then(|fp| {
        tables_registry()
            .lock()
            .ok()
            .and_then(|r| r.get(fp).cloned())
    });
    let mut tables: Vec<Value> = match &known {
        Some(list) => list
            .iter()
            .map(|(name, sha)| json!({"name": name, "sha256": sha}))
            .collect(),
        None => Vec::new(),
    };
    // The exit scenario's tables (built in): prices, external key managers, exchange rates.
    for (name, text) in [
        (
            "egress.csv (prices, built in)",
            crate::map::exit::PRICES_CSV,
        ),
        (
            "key-managers.csv (external key managers, built in)",
            crate::map::exit::KEY_MANAGERS_CSV,
        ),
        (
            "exchange-rates.csv (rates to EUR, built in)",
            crate::map::exit::EXCHANGE_RATES_CSV,
        ),
    ] {
        tables.push(json!({"name": name, "sha256": sha256_hex(text.as_bytes())}));
    }
    json!({
        "interpretation_fingerprint": fingerprint,
        "tables": tables,
        "tables_known": known.is_some(),
        "note": if known.is_some() {
            "regions and providers tables as loaded by this collector process; their fingerprint is the one the stored map was interpreted with"
        } else {
            "the regions and providers tables behind this fingerprint were not loaded by this process: their digests are unknown"
        },
    })
}

fn scan_json(s: &crate::store::ScanCoverage) -> Value {
    json!({
        "scan_id": s.scan_id,
        "agent": s.agent,
        "provider": s.provider,
        "accounts": s.accounts,
        "started_at_ms": s.started_at_ms,
        "ended_at_ms": s.ended_at_ms,
        "complete": s.complete,
        "coverage": s.account_coverage.iter().map(|c| json!({
            "account": c.account, "complete": c.complete, "stores_seen": c.stores_seen,
            "gaps": c.gaps, "reason": c.reason,
        })).collect::<Vec<_>>(),
        "gaps": s.gaps.iter().map(|g| json!({
            "account": g.account, "region": g.region, "call": g.call, "subject": g.subject,
            "kind": g.kind, "code": g.code, "message": g.message,
        })).collect::<Vec<_>>(),
    })
}

/// Builds the bundle of one tenant. `scope` is the caller's.
pub fn build(
    store: &dyn MapStore,
    scope: &Scope,
    named_tenant: &str,
    now_ms: i64,
) -> Result<Value, StoreError> {
    let tenant = crate::report::resolve_tenant(scope, named_tenant)?;
    let stores = crate::report::tenant_stores_with(
        store,
        &tenant,
        &StoreFilter {
            include_gone: true,
            ..StoreFilter::default()
        },
    )?;
    let facts = store.tenant_facts(scope, &tenant)?;
    let scans = store.scan_coverage(scope, Some(&tenant), SCANS_INCLUDED)?;
    let fingerprint = store.interpretation_fingerprint()?;
    let mut sections = serde_json::Map::new();
    sections.insert(
        "header".into(),
        json!({"format": FORMAT, "tenant": tenant, "generated_at_ms": now_ms}),
    );
    sections.insert(
        "collector".into(),
        json!({"name": "landmeter", "version": env!("CARGO_PKG_VERSION")}),
    );
    sections.insert(
        "reference_tables".into(),
        reference_tables(fingerprint.as_deref()),
    );
    sections.insert(
        "stores".into(),
        Value::Array(
            stores
                .iter()
                .map(landmeter_proto::json::store_view)
                .collect(),
        ),
    );
    sections.insert(
        "facts".into(),
        Value::Array(
            facts
                .iter()
                .map(|f| {
                    json!({
                        "account": f.account, "subject": f.subject, "kind": f.kind,
                        "scan_id": f.scan_id, "agent": f.agent, "api_call": f.fact.api_call,
                        "observed_at_ms": f.fact.observed_at_ms,
                        "fact": landmeter_proto::json::fact(&f.fact),
                    })
                })
                .collect(),
        ),
    );
    sections.insert(
        "scans".into(),
        Value::Array(scans.iter().map(scan_json).collect()),
    );
    let digests: serde_json::Map<String, Value> = SECTIONS
        .iter()
        .map(|name| {
            let text = canonical(&sections[*name]);
            (
                (*name).to_owned(),
                Value::String(sha256_hex(text.as_bytes())),
            )
        })
        .collect();
    let digests = Value::Object(digests);
    let manifest = json!({
        "algorithm": "sha256",
        "canonical_json": "compact, object keys sorted by UTF-8 bytes, non-ASCII as UTF-8",
        "digest": sha256_hex(canonical(&digests).as_bytes()),
        "sections": digests,
    });
    sections.insert("manifest".into(), manifest);
    Ok(Value::Object(sections))
}

/// Checks every digest of a bundle; the first mismatch as the error.
pub fn verify(bundle: &Value) -> Result<(), String> {
    let manifest = bundle.get("manifest").ok_or("no manifest")?;
    let sections = manifest
        .get("sections")
        .and_then(Value::as_object)
        .ok_or("manifest has no sections")?;
    for name in SECTIONS {
        let listed = sections
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("manifest lists no digest for {name}"))?;
        let section = bundle
            .get(name)
            .ok_or_else(|| format!("section {name} is missing"))?;
        let actual = sha256_hex(canonical(section).as_bytes());
        if actual != listed {
            return Err(format!(
                "section {name}: digest {actual} differs from the manifest's {listed}"
            ));
        }
    }
    let whole = sha256_hex(canonical(&Value::Object(sections.clone())).as_bytes());
    match manifest.get("digest").and_then(Value::as_str) {
        Some(d) if d == whole => Ok(()),
        Some(d) => Err(format!(
            "manifest digest {d} differs from the digest of its sections {whole}"
        )),
        None => Err("manifest has no digest".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let v = json!({"b": [1, {"z": "ü\"", "a": null}], "a": true});
        assert_eq!(canonical(&v), r#"{"a":true,"b":[1,{"a":null,"z":"ü\""}]}"#);
    }

    #[test]
    fn known_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_finds_a_changed_section() {
        let mut sections = serde_json::Map::new();
        for name in SECTIONS {
            sections.insert(name.into(), json!({"x": name}));
        }
        let digests: serde_json::Map<String, Value> = SECTIONS
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    json!(sha256_hex(canonical(&sections[*n]).as_bytes())),
                )
            })
            .collect();
        let digests = Value::Object(digests);
        sections.insert(
            "manifest".into(),
            json!({"sections": digests, "digest": sha256_hex(canonical(&digests).as_bytes())}),
        );
        let mut bundle = Value::Object(sections);
        assert_eq!(verify(&bundle), Ok(()));
        bundle["facts"]["x"] = json!("changed");
        assert!(verify(&bundle).unwrap_err().contains("section facts"));
    }
}
