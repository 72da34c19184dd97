//! Stores and summaries for people (table) and programs (JSON, CSV).

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use landmeter_proto::json;
use landmeter_proto::v1::{ChangeEvent, GetStoreResponse, StoreView, SummaryResponse};

mod exit_document;
pub use exit_document::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

const STORE_COLUMNS: [&str; 14] = [
    "id",
    "kind",
    "region",
    "country",
    "eu",
    "custody",
    "key_owner_account",
    "replicated_outside_eu",
    "replication",
    "jurisdiction",
    "classification",
    "process",
    "bytes",
    "custody_reason",
];

/// The table leaves out `kind` (the id already names the store; keeps the table narrow) and
/// the long `custody_reason`.
fn in_table(column: &str) -> bool {
    !matches!(column, "kind" | "custody_reason")
}

/// A yes/no cell: "unknown" when it is (never "no").
fn yes_no(known: Option<bool>) -> String {
    match known {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "unknown".into(),
    }
}

fn store_cells(v: &StoreView) -> [String; 14] {
    let replication: Vec<String> = v
        .replication
        .iter()
        .map(|t| {
            // Object replication needs no label (the only copy wave-1 agents reported).
            let kind = match t.copy_kind.as_str() {
                "" | "object-replication" => String::new(),
                k => format!("{k}:"),
            };
            format!(
                "{kind}{}@{}({})",
                t.bucket,
                if t.region.is_empty() { "?" } else { &t.region },
                if t.country.is_empty() {
                    "?"
                } else {
                    &t.country
                }
            )
        })
        .collect();
    [
        v.id.clone(),
        v.kind.clone(),
        v.region.clone(),
        if v.location_unverified {
            format!("{} (unverified)", v.country)
        } else {
            v.country.clone()
        },
        yes_no(v.eu_known()),
        if v.custody_modifiers.is_empty() {
            v.custody().label().to_owned()
        } else {
            format!(
                "{} [{}]",
                v.custody().label(),
                v.custody_modifiers.join("; ")
            )
        },
        v.key_owner_account.clone(),
        yes_no(v.replicated_outside_eu_known()),
        replication.join(" "),
        v.jurisdiction.clone(),
        v.classification.clone(),
        v.process.clone(),
        v.bytes.map_or_else(|| "unknown".into(), |b| b.to_string()),
        v.custody_reason.clone(),
    ]
}

/// How the `stores` table is laid out for a terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableLayout {
    /// Every column (modifiers, key owner, replicas, process, the custody reason).
    pub wide: bool,
    /// Sizes in bytes rather than KB/MB/GB.
    pub raw_bytes: bool,
    /// The width to fit (columns); None: the terminal's when there is one.
    pub width: Option<u16>,
}

/// The narrow table's columns: what a reader needs to judge a store at a glance.
const NARROW_COLUMNS: [&str; 9] = [
    "id",
    "kind",
    "country",
    "eu",
    "custody",
    "copy outside EU",
    "jurisdiction",
    "classification",
    "size",
];

/// Unix milliseconds as RFC 3339 in UTC, for people (`2026-12-05T08:03:25Z`).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// A size for people: 1.2 GB; "unknown" when it is.
pub fn human_bytes(bytes: Option<i64>) -> String {
    let Some(b) = bytes else {
        return "unknown".into();
    };
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < units.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[unit])
    }
}

/// The `stores` table for a terminal: narrow unless `wide`, fitted to the width.
pub fn stores_table(stores: &[StoreView], layout: TableLayout) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = layout.width {
        t.set_width(w);
    }
    let size = |v: &StoreView| {
        let figure = if layout.raw_bytes {
            v.bytes.map_or_else(|| "unknown".into(), |b| b.to_string())
        } else {
            human_bytes(v.bytes)
        };
        // Provisioned capacity is not stored bytes: say which one the figure is.
        if v.size_basis == "allocated" {
            format!("{figure} allocated")
        } else {
            figure
        }
    };
    if layout.wide {
        t.set_header(STORE_COLUMNS);
        for v in stores {
            let mut cells = store_cells(v);
            cells[12] = size(v);
            t.add_row(cells);
        }
    } else {
        t.set_header(NARROW_COLUMNS);
        for v in stores {
            t.add_row([
                v.id.clone(),
                v.kind.clone(),
                v.country.clone(),
                yes_no(v.eu_known()),
                v.custody().label().to_owned(),
                yes_no(v.replicated_outside_eu_known()),
                v.jurisdiction.clone(),
                v.classification.clone(),
                size(v),
            ]);
        }
    }
    format!("{t}\n{} stores", stores.len())
}

pub fn stores(stores: &[StoreView], format: Format) -> String {
    match format {
        Format::Json => {
            let all: Vec<_> = stores.iter().map(json::store_view).collect();
            serde_json::to_string_pretty(&all).unwrap_or_default()
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(STORE_COLUMNS);
            for v in stores {
                let _ = w.write_record(store_cells(v));
            }
            String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(STORE_COLUMNS.iter().filter(|c| in_table(c)));
            for v in stores {
                let cells = store_cells(v);
                t.add_row(
                    STORE_COLUMNS
                        .iter()
                        .zip(cells)
                        .filter(|(c, _)| in_table(c))
                        .map(|(_, cell)| cell),
                );
            }
            format!("{t}\n{} stores", stores.len())
        }
    }
}

pub fn summary(s: &SummaryResponse, format: Format) -> String {
    let mut header: Vec<String> = s.group_by.clone();
    header.extend([
        "stores".into(),
        "bytes".into(),
        "stores_without_size".into(),
    ]);
    let rows: Vec<Vec<String>> = s
        .rows
        .iter()
        .map(|r| {
            let mut cells = r.keys.clone();
            if r.withheld_cells > 0 {
                // The pool's merged row of withheld values: one label across the key columns.
                cells = vec![String::new(); s.group_by.len()];
                if let Some(first) = cells.first_mut() {
                    *first = format!("(withheld: {} values)", r.withheld_cells);
                }
            }
            cells.extend([
                r.stores.to_string(),
                r.bytes.to_string(),
                r.stores_without_size.to_string(),
            ]);
            cells
        })
        .collect();
    match format {
        Format::Json => {
            let all: Vec<serde_json::Value> = rows
                .iter()
                .map(|cells| {
                    let mut obj = serde_json::Map::new();
                    for (h, c) in header.iter().zip(cells) {
                        let v = c
                            .parse::<i64>()
                            .ok()
                            .filter(|_| !s.group_by.contains(h))
                            .map_or_else(|| serde_json::json!(c), |n| serde_json::json!(n));
                        obj.insert(h.clone(), v);
                    }
                    serde_json::Value::Object(obj)
                })
                .collect();
            serde_json::to_string_pretty(&all).unwrap_or_default()
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(&header);
            for r in &rows {
                let _ = w.write_record(r);
            }
            String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(header);
            for r in rows {
                t.add_row(r);
            }
            t.to_string()
        }
    }
}

/// Change events: one line (table/CSV) or object (JSON) per event.
pub fn changes(events: &[ChangeEvent], format: Format) -> String {
    let describe = |e: &ChangeEvent| -> String {
        e.changes
            .iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.before, c.after))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let kind = |e: &ChangeEvent| json::change_kind(e.kind());
    match format {
        Format::Json => {
            let all: Vec<serde_json::Value> = events.iter().map(json::change).collect();
            serde_json::to_string_pretty(&all).unwrap_or_default()
        }
        Format::Csv | Format::Table => {
            // Programs get epoch ms; people RFC 3339 (UTC).
            let (at, when): (&str, fn(i64) -> String) = if format == Format::Table {
                ("at", rfc3339)
            } else {
                ("at_ms", |ms| ms.to_string())
            };
            let header = ["id", at, "tenant", "store", "kind", "changes", "scan"];
            let rows: Vec<[String; 7]> = events
                .iter()
                .map(|e| {
                    [
                        e.id.to_string(),
                        when(e.at_ms),
                        e.tenant.clone(),
                        e.store_id.clone(),
                        kind(e).to_owned(),
                        describe(e),
                        e.scan_id.clone(),
                    ]
                })
                .collect();
            if format == Format::Csv {
                let mut w = csv::Writer::from_writer(Vec::new());
                let _ = w.write_record(header);
                for r in &rows {
                    let _ = w.write_record(r);
                }
                String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_BORDERS_ONLY);
                t.set_header(header);
                for r in rows {
                    t.add_row(r);
                }
                format!("{t}\n{} changes", events.len())
            }
        }
    }
}

/// Account and region settings: one line per setting, the value or why it is unknown.
pub fn settings(rows: &[landmeter_proto::v1::AccountSetting], format: Format) -> String {
    let value = |r: &landmeter_proto::v1::AccountSetting| {
        if r.known {
            r.value.clone()
        } else {
            format!("unknown ({})", r.unknown_reason)
        }
    };
    match format {
        Format::Json => {
            let all: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "tenant": r.tenant, "account": r.account, "region": r.region,
                        "name": r.name, "known": r.known,
                        "value": if r.known { serde_json::json!(r.value) } else { serde_json::Value::Null },
                        "unknown_reason": r.unknown_reason, "meaning": r.meaning,
                        "concern": r.concern, "api_call": r.api_call,
                        "observed_at_ms": r.observed_at_ms,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&all).unwrap_or_default()
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record([
                "tenant", "account", "region", "setting", "known", "value", "concern", "meaning",
            ]);
            for r in rows {
                let _ = w.write_record([
                    r.tenant.as_str(),
                    &r.account,
                    &r.region,
                    &r.name,
                    if r.known { "true" } else { "false" },
                    &value(r),
                    if r.concern { "true" } else { "false" },
                    &r.meaning,
                ]);
            }
            String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(["tenant", "account", "region", "setting", "value", "meaning"]);
            for r in rows {
                let meaning = if r.concern {
                    format!("CONCERN: {}", r.meaning)
                } else {
                    r.meaning.clone()
                };
                t.add_row([
                    r.tenant.clone(),
                    r.account.clone(),
                    r.region.clone(),
                    r.name.clone(),
                    value(r),
                    meaning,
                ]);
            }
            let unknown = rows.iter().filter(|r| !r.known).count();
            let concerns = rows.iter().filter(|r| r.concern).count();
            format!(
                "{t}\n{} settings, {concerns} of concern, {unknown} unknown",
                rows.len()
            )
        }
    }
}

/// One store with every fact and where it came from.
pub fn store_detail(r: &GetStoreResponse, format: Format) -> String {
    let facts: Vec<serde_json::Value> = r
        .facts
        .iter()
        .map(|p| {
            let mut f = p.fact.as_ref().map(json::fact).unwrap_or_default();
            f["scan_id"] = serde_json::json!(p.scan_id);
            f["agent"] = serde_json::json!(p.agent);
            f
        })
        .collect();
    let view = r.store.as_ref().map(json::store_view).unwrap_or_default();
    match format {
        Format::Json | Format::Csv => {
            serde_json::to_string_pretty(&serde_json::json!({"store": view, "facts": facts}))
                .unwrap_or_default()
        }
        Format::Table => {
            let mut out = String::new();
            if let serde_json::Value::Object(m) = &view {
                for (k, v) in m {
                    out.push_str(&format!("{k:>22}: {v}\n"));
                }
            }
            // The SOV levels are our heuristic: say so wherever they are printed.
            out.push_str(&format!("{:>22}  ({})\n", "", crate::map::indicators::NOTE));
            out.push_str("\nfacts (call, observed at, scan, agent):\n");
            for f in &facts {
                out.push_str(&format!(
                    "- {} {} [{}] observed {} scan {} agent {}\n    {}\n",
                    f["kind"].as_str().unwrap_or(""),
                    f["subject"].as_str().unwrap_or(""),
                    f["api_call"].as_str().unwrap_or(""),
                    f["observed_at_ms"]
                        .as_i64()
                        .map_or_else(|| "unknown".to_owned(), rfc3339),
                    f["scan_id"].as_str().unwrap_or(""),
                    f["agent"].as_str().unwrap_or(""),
                    f["body"]
                ));
            }
            out
        }
    }
}

/// One line: the lock-in features found, counted.
fn lock_in_summary(l: &crate::map::exit::LockIn) -> String {
    let mut parts = vec![
        format!(
            "{} bytes in archive classes in {} stores (restore first: hours, retrieval fees)",
            l.archive_bytes,
            l.archive_stores.len()
        ),
        format!(
            "{} bytes in classes with retrieval fees",
            l.retrieval_fee_bytes
        ),
        format!(
            "{} stores with object lock ({} COMPLIANCE: cannot be shortened)",
            l.object_lock_stores.len(),
            l.compliance_stores
        ),
        format!("{} stores under legal hold", l.legal_hold_stores.len()),
    ];
    if l.lock_unknown_stores > 0 {
        parts.push(format!(
            "{} stores whose lock could not be read (unknown, not unlocked)",
            l.lock_unknown_stores
        ));
    }
    parts.join("; ")
}

/// The stores behind the lock-in summary, for the table rendering.
fn lock_in_lines(l: &crate::map::exit::LockIn) -> Vec<String> {
    let mut out = Vec::new();
    for (class, days, bytes) in &l.minimum_duration_bytes {
        out.push(format!(
            "  minimum storage duration: {bytes} bytes in {class} ({days} days; deleting earlier is charged as if stored that long)"
        ));
    }
    for s in &l.archive_stores {
        out.push(format!(
            "  archive: {} ({} bytes must be restored before they can be copied)",
            s.id, s.archive_bytes
        ));
    }
    for s in &l.object_lock_stores {
        let retention = s.retention_days.map_or_else(
            || "no default retention".to_owned(),
            |d| format!("{d} days default retention"),
        );
        let consequence = if s.mode == "COMPLIANCE" {
            "cannot be shortened: locked versions stay at the source until their retention ends"
        } else if s.mode == "GOVERNANCE" {
            "can be lifted only with s3:BypassGovernanceRetention"
        } else {
            "objects may carry their own retention"
        };
        let mode = if s.mode.is_empty() {
            "enabled"
        } else {
            &s.mode
        };
        out.push(format!(
            "  object lock: {} ({mode}, {retention}; {consequence})",
            s.id
        ));
    }
    for s in &l.legal_hold_stores {
        out.push(format!(
            "  legal hold: {} (data stays until the hold is lifted)",
            s.id
        ));
    }
    out
}

/// The map as a GraphViz graph: tenant -> account -> provider, store -> region (country),
/// store -> key, replication as dashed edges. Stores coloured by jurisdiction: green EU
/// without CLOUD Act reach, orange EU under a US-parented provider, red outside the EU.
/// Rows of a JSON document (`/v1/costs`, the graph's edges) as JSON, CSV or a table, in the
/// given column order. A null is "unknown" in a table and an empty cell in CSV: never 0.
pub fn json_rows(rows: &[serde_json::Value], columns: &[&str], format: Format) -> String {
    let cell = |r: &serde_json::Value, c: &str, unknown: &str| match &r[c] {
        serde_json::Value::Null => unknown.to_owned(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(";"),
        v => v.to_string(),
    };
    match format {
        Format::Json => serde_json::to_string_pretty(rows).unwrap_or_default(),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(columns);
            for r in rows {
                let _ = w.write_record(columns.iter().map(|c| cell(r, c, "")));
            }
            String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(columns.to_vec());
            for r in rows {
                t.add_row(columns.iter().map(|c| cell(r, c, "unknown")));
            }
            t.to_string()
        }
    }
}

pub fn dot(stores: &[StoreView]) -> String {
    use std::collections::BTreeSet;
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut nodes = BTreeSet::new();
    let mut edges = BTreeSet::new();
    for v in stores {
        let tenant = format!("tenant:{}", v.tenant);
        let account = format!("account:{}:{}", v.provider, v.account);
        let provider = format!("provider:{}", v.provider);
        let region = format!("region:{}:{}", v.provider, v.region);
        nodes.insert(format!(
            "{} [shape=house label={}]",
            q(&tenant),
            q(&v.tenant)
        ));
        nodes.insert(format!(
            "{} [shape=folder label={}]",
            q(&account),
            q(&v.account)
        ));
        nodes.insert(format!(
            "{} [shape=box label={}]",
            q(&provider),
            q(&format!("{}\n{}", v.provider, v.provider_parent))
        ));
        nodes.insert(format!(
            "{} [shape=ellipse label={}]",
            q(&region),
            q(&format!(
                "{} ({})",
                v.region,
                if v.country.is_empty() {
                    "?"
                } else {
                    &v.country
                }
            ))
        ));
        let colour = match (v.eu, v.cloud_act.as_str()) {
            (true, "yes") => "orange",
            (true, _) => "palegreen",
            (false, _) => "tomato",
        };
        nodes.insert(format!(
            "{} [shape=cylinder style=filled fillcolor={colour} label={}]",
            q(&v.id),
            q(&format!(
                "{}\n{}\n{}",
                v.name,
                v.custody().label(),
                v.classification
            ))
        ));
        edges.insert(format!("{} -> {}", q(&tenant), q(&account)));
        edges.insert(format!("{} -> {}", q(&account), q(&provider)));
        edges.insert(format!("{} -> {}", q(&account), q(&v.id)));
        edges.insert(format!(
            "{} -> {} [label=\"located in\"]",
            q(&v.id),
            q(&region)
        ));
        if !v.key_arn.is_empty() {
            let key = format!("key:{}", v.key_arn);
            nodes.insert(format!("{} [shape=note label={}]", q(&key), q(&v.key_arn)));
            edges.insert(format!(
                "{} -> {} [label=\"encrypted with\"]",
                q(&v.id),
                q(&key)
            ));
        }
        for t in &v.replication {
            let target = format!("region:{}:{}", v.provider, t.region);
            nodes.insert(format!(
                "{} [shape=ellipse label={}]",
                q(&target),
                q(&format!(
                    "{} ({})",
                    t.region,
                    if t.country.is_empty() {
                        "?"
                    } else {
                        &t.country
                    }
                ))
            ));
            edges.insert(format!(
                "{} -> {} [style=dashed label={}]",
                q(&v.id),
                q(&target),
                q(&format!("replicates to {}", t.bucket))
            ));
        }
    }
    let mut out = String::from("digraph landmeter {\n  rankdir=LR;\n");
    for n in nodes.iter().chain(edges.iter()) {
        out.push_str("  ");
        out.push_str(n);
        out.push_str(";\n");
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_rows_carry_their_kind_in_csv_and_json_not_in_the_table() {
        let v = StoreView {
            id: "aws:1:b".into(),
            kind: "bucket".into(),
            custody_reason: "SSE-S3 (AES256): provider-held key".into(),
            ..StoreView::default()
        };
        let csv = stores(std::slice::from_ref(&v), Format::Csv);
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let row: Vec<&str> = lines.next().expect("row").split(',').collect();
        assert_eq!(&header[..2], ["id", "kind"]);
        assert_eq!(&row[..2], ["aws:1:b", "bucket"]);
        let json: serde_json::Value =
            serde_json::from_str(&stores(std::slice::from_ref(&v), Format::Json)).expect("json");
        assert_eq!(json[0]["kind"], "bucket");
        let table = stores(&[v], Format::Table);
        assert!(table.contains("aws:1:b") && table.contains("classification"));
        assert!(!table.contains("bucket") && !table.contains("custody_reason"));
    }
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn times_for_people_are_rfc3339_in_utc() {
        assert_eq!(super::rfc3339(1_764_921_805_123), "2025-12-05T08:03:25Z");
        assert_eq!(super::human_bytes(Some(1_234_567)), "1.2 MB");
        assert_eq!(super::human_bytes(Some(999)), "999 B");
        assert_eq!(super::human_bytes(None), "unknown");
    }
}
