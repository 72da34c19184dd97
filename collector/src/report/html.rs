//! The board report as one self-contained, print-friendly HTML page (A4, embedded CSS, no
//! external resources). Every figure carries `data-*` attributes so tests and scripts can
//! read it back; every risk names its store and last scan; the provenance section lists
//! the scans the figures rest on.

use std::fmt::Write as _;

use super::figures::{Eur, ExitEur, Figures, RiskKind, Row};
use crate::map::exit::ExitScenario;

/// Risk rows printed (all kinds counted; the rest are in the evidence bundle).
pub const MAX_RISK_ROWS: usize = 6;
/// Rows each kind of risk present gets at least, within or beyond `MAX_RISK_ROWS`.
pub const MIN_RISK_ROWS_PER_KIND: usize = 1;

/// The risk rows the report prints, in their order: the first `MAX_RISK_ROWS`, plus the
/// first rows of any kind that would otherwise not show.
fn printed_risks(risks: &[crate::report::figures::Risk]) -> Vec<&crate::report::figures::Risk> {
    let mut per_kind: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
    risks
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            let n = per_kind.entry(r.kind).or_default();
            *n += 1;
            *i < MAX_RISK_ROWS || *n <= MIN_RISK_ROWS_PER_KIND
        })
        .map(|(_, r)| r)
        .collect()
}
/// Scans listed in the provenance section.
pub const MAX_SCAN_ROWS: usize = 12;
const MAX_COUNTRY_ROWS: usize = 8;
const MAX_TREND_IDS: usize = 5;

const CSS: &str = r#"
@page { size: A4; margin: 14mm 13mm; }
* { box-sizing: border-box; }
body { font: 8.5pt/1.3 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; margin: 0; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
h2 { font-size: 11pt; margin: 4mm 0 1.5mm; border-bottom: 0.4pt solid #555; padding-bottom: 0.5mm; }
p { margin: 1mm 0; }
.meta { color: #444; font-size: 8pt; }
.kpis { display: flex; gap: 3mm; margin: 2mm 0; }
.kpi { flex: 1; border: 0.5pt solid #999; border-radius: 1.5mm; padding: 1.5mm 2mm; }
.kpi b { display: block; font-size: 12pt; }
.kpi { font-size: 7.5pt; }
.cols { display: flex; gap: 4mm; }
.cols > div { flex: 1; min-width: 0; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0; }
th, td { text-align: left; padding: 0.4mm 1.2mm; border-bottom: 0.3pt solid #ccc; vertical-align: top; }
th { font-size: 7.5pt; color: #333; font-weight: 600; }
.nw { white-space: nowrap; }
.why { white-space: normal; display: block; max-width: 16em; color: #555; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.small { font-size: 7.5pt; }
.note { font-size: 7.5pt; color: #444; }
.risk-classified-outside-eu td:first-child, .risk-provider-keys-us-parent td:first-child { font-weight: bold; }
.id { font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; word-break: break-all; }
section { break-inside: avoid; }
@media screen { body { max-width: 190mm; margin: 8mm auto; } }
"#;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Bytes in decimal units for people (the exact figure is in the `data-bytes` attribute).
pub fn human_bytes(b: i64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// UTC time for people, from Unix ms.
pub fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// The UTC day, from Unix ms.
pub fn day(ms: i64) -> String {
    when(ms).get(..10).unwrap_or_default().to_owned()
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.0} %", part as f64 * 100.0 / whole as f64)
    }
}

fn pct_bytes(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "–".to_owned()
    } else {
        format!("{:.0} %", part as f64 * 100.0 / whole as f64)
    }
}

fn display_key(dim: &str, key: &str) -> String {
    match (dim, key) {
        (_, "") => "(unknown)".to_owned(),
        ("cloud_act", "yes") => "US CLOUD Act".to_owned(),
        ("cloud_act", "no") => "not under the CLOUD Act".to_owned(),
        ("cloud_act", "unclear") => "unclear (legal review)".to_owned(),
        ("sov2" | "sov3", "none") => "none (input unknown)".to_owned(),
        ("sov2" | "sov3", level) => format!("level {level}"),
        _ => key.to_owned(),
    }
}

fn dim_table(out: &mut String, dim: &str, title: &str, rows: &[Row], total: &Row, limit: usize) {
    let _ = write!(
        out,
        "<table class=\"dim\" data-dimension=\"{}\"><tr><th>{}</th><th class=n>stores</th><th class=n>known bytes</th><th class=n>size unknown</th></tr>",
        esc(dim),
        esc(title)
    );
    let mut rest = Row::default();
    for (i, r) in rows.iter().enumerate() {
        if i >= limit {
            rest.stores += r.stores;
            rest.bytes += r.bytes;
            rest.stores_size_unknown += r.stores_size_unknown;
            continue;
        }
        let _ = write!(
            out,
            "<tr data-dim=\"{d}\" data-key=\"{k}\" data-stores=\"{s}\" data-bytes=\"{b}\" data-size-unknown=\"{u}\"><td>{label}</td><td class=\"n nw\">{s} · {sp}</td><td class=\"n nw\">{hb} · {bp}</td><td class=n>{u}</td></tr>",
            d = esc(dim),
            k = esc(&r.key),
            s = r.stores,
            b = r.bytes,
            u = r.stores_size_unknown,
            label = esc(&display_key(dim, &r.key)),
            sp = pct(r.stores, total.stores),
            hb = human_bytes(r.bytes),
            bp = pct_bytes(r.bytes, total.bytes),
        );
    }
    if rest.stores > 0 {
        let _ = write!(
            out,
            "<tr class=\"other\"><td>other ({} more)</td><td class=\"n nw\">{} · {}</td><td class=\"n nw\">{} · {}</td><td class=n>{}</td></tr>",
            rows.len() - limit,
            rest.stores,
            pct(rest.stores, total.stores),
            human_bytes(rest.bytes),
            pct_bytes(rest.bytes, total.bytes),
            rest.stores_size_unknown
        );
    }
    out.push_str("</table>");
}

fn figure(id: &str, value: impl std::fmt::Display, shown: &str) -> String {
    format!(
        "<span id=\"{}\" data-value=\"{}\">{}</span>",
        esc(id),
        esc(&value.to_string()),
        esc(shown)
    )
}

fn ids(list: &[String]) -> String {
    let mut s: Vec<String> = list
        .iter()
        .take(MAX_TREND_IDS)
        .map(|i| format!("<span class=id>{}</span>", esc(i)))
        .collect();
    if list.len() > MAX_TREND_IDS {
        s.push(format!("and {} more", list.len() - MAX_TREND_IDS));
    }
    s.join(", ")
}

/// A price's date, or "undated" (the table leaves some empty).
fn dated(p: &crate::map::exit::Price) -> &str {
    if p.date.trim().is_empty() {
        "undated"
    } else {
        &p.date
    }
}

/// A figure in EUR, with the listed amount when it was converted (the rate is named once,
/// under the section).
fn eur_text(e: &Eur) -> String {
    match (e.amount, &e.rate, e.listed) {
        (Some(a), Some(_), Some(listed)) => format!("{a:.2} EUR ({listed:.2} {})", e.currency),
        (Some(a), _, _) => format!("{a:.2} EUR"),
        (None, _, Some(listed)) if !e.currency.is_empty() => format!(
            "unknown in EUR (no exchange rate for {}; listed {listed:.2} {})",
            e.currency, e.currency
        ),
        _ => "unknown".to_owned(),
    }
}

/// "1 EUR = 1.1172 USD on 2026-10-30" for each rate the figures used (the table names the
/// source: the ECB's reference rates).
fn rates_used(figures: &[&Eur]) -> String {
    let rates: std::collections::BTreeSet<String> = figures
        .iter()
        .filter_map(|e| e.rate.as_ref())
        .map(|r| format!("1 EUR = {} {} on {}", r.per_eur, r.currency, r.date))
        .collect();
    if rates.is_empty() {
        "none used".to_owned()
    } else {
        rates.into_iter().collect::<Vec<_>>().join("; ")
    }
}

fn eur_value(e: &Eur) -> String {
    e.amount.map(|v| v.to_string()).unwrap_or_default()
}

/// The exit section: every money figure in EUR with the rate it was converted at.
fn exit_section(o: &mut String, x: &ExitScenario, eur: &ExitEur) {
    let e = &x.egress;
    let k = &x.keys;
    let l = &x.lock_in;
    let rates = rates_used(&[
        &eur.egress_list,
        &eur.egress_known_part,
        &eur.storage_now,
        &eur.storage_after,
    ]);
    let _ = write!(
        o,
        "<p>Moving everything at <b>{}</b> (the largest provider of this tenant) to <b>{}</b> on {}, in EUR (exchange rate: {}):</p><div class=cols><div><table class=small>",
        esc(&x.from),
        esc(&x.to),
        x.on,
        esc(&rates)
    );
    let egress_list = match e.list_price {
        Some(_) => format!(
            "{} after {} free; {}",
            eur_text(&eur.egress_list),
            e.ladder.free_per_month.map_or_else(
                || "an unknown allowance".to_owned(),
                |f| format!("{f} {}", e.ladder.unit.label())
            ),
            e.ladder
                .status
                .split(" (")
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("undated")
        ),
        None if x.source_price.is_none() => "unknown (no price in the table)".to_owned(),
        None => format!(
            "unknown: {} unsourced (at least {})",
            e.unsourced_tiers().join(", "),
            eur_text(&eur.egress_known_part)
        ),
    };
    let free_exit = match &e.free_exit {
        Some(_) => format!(
            "{} if {} approves (below)",
            eur_text(&eur.egress_free_exit),
            x.from
        ),
        None => "none published".to_owned(),
    };
    let data_act = match (e.data_act.amount, e.data_act.upper_bound) {
        (None, Some(_)) => format!(
            "at most cost (not published): at most {}",
            eur_text(&eur.egress_data_act_upper_bound)
        ),
        (None, None) => "at most cost (not published)".to_owned(),
        (Some(_), _) => format!(
            "{} ({})",
            eur_text(&eur.egress_data_act),
            e.data_act.phase.label()
        ),
    };
    let storage = format!(
        "{} now, {} after",
        eur_text(&eur.storage_now),
        if x.target_price.is_none() {
            "unknown".to_owned()
        } else {
            eur_text(&eur.storage_after)
        }
    );
    let hyok_lost = match (k.hyok(), k.hyok_lost()) {
        (None, _) => ("0".to_owned(), "none (no HYOK data)".to_owned()),
        (Some(_), Some(lost)) if lost.stores == 0 => (
            "0".to_owned(),
            format!("none ({} keeps external keys)", x.to),
        ),
        (Some(_), Some(lost)) => (
            lost.stores.to_string(),
            format!(
                "{} stores, {}{} to provider-held keys",
                lost.stores,
                human_bytes(lost.bytes),
                if lost.stores_size_unknown > 0 {
                    format!(" + {} of unknown size", lost.stores_size_unknown)
                } else {
                    String::new()
                }
            ),
        ),
        (Some(g), None) => (
            String::new(),
            format!(
                "unknown for {} stores ({}: {})",
                g.stores,
                x.to,
                k.target.external_key_manager.label()
            ),
        ),
    };
    let unknown = k.custody_unknown();
    // (data-exit key, label; None: a figure shown within another row, value, shown)
    let rows: [(&str, Option<&str>, String, String); 16] = [
        (
            "stores",
            Some("Stores"),
            x.stores.to_string(),
            x.stores.to_string(),
        ),
        (
            "bytes",
            Some("Known bytes"),
            x.bytes.to_string(),
            format!(
                "{}, {} objects (+ {} stores of unknown size)",
                human_bytes(x.bytes),
                x.objects,
                x.stores_without_size
            ),
        ),
        ("objects", None, x.objects.to_string(), String::new()),
        (
            "egress",
            Some("Egress, list price"),
            eur_value(&eur.egress_list),
            egress_list,
        ),
        (
            "egress-free-exit",
            Some("Egress, free exit"),
            eur_value(&eur.egress_free_exit),
            free_exit,
        ),
        (
            "egress-data-act",
            Some("Egress, Data Act"),
            eur_value(&eur.egress_data_act),
            data_act,
        ),
        (
            "storage-now",
            Some("Storage a month"),
            eur_value(&eur.storage_now),
            storage,
        ),
        (
            "storage-after",
            None,
            eur_value(&eur.storage_after),
            String::new(),
        ),
        (
            "transfer-hours",
            Some("Transfer time"),
            format!("{:.3}", x.transfer_hours),
            format!("{:.1} h at {} Mbit/s", x.transfer_hours, x.bandwidth_mbps),
        ),
        (
            "keys",
            Some("Keys to re-create"),
            k.keys_to_recreate().to_string(),
            format!(
                "{} (+ {} stores under provider default keys)",
                k.keys_to_recreate(),
                k.recreated_stores_without_key_id()
            ),
        ),
        (
            "keys-byok",
            Some("BYOK keys"),
            k.keys_reimport_if_escrowed().to_string(),
            format!("{}, re-imported if escrowed", k.keys_reimport_if_escrowed()),
        ),
        ("hyok-lost", Some("HYOK lost"), hyok_lost.0, hyok_lost.1),
        (
            "keys-unknown",
            Some("Custody unknown"),
            unknown.map_or(0, |g| g.stores).to_string(),
            format!(
                "{} stores, apart (no key: {})",
                unknown.map_or(0, |g| g.stores),
                k.stores_without_key()
            ),
        ),
        (
            "no-key",
            None,
            k.stores_without_key().to_string(),
            String::new(),
        ),
        (
            "replication",
            Some("Replication to cut"),
            x.replication_edges.to_string(),
            x.replication_edges.to_string(),
        ),
        (
            "lock-in",
            Some("Lock-in"),
            (l.archive_stores.len() + l.object_lock_stores.len() + l.legal_hold_stores.len())
                .to_string(),
            format!(
                "archive {} ({} stores), object lock {} ({} COMPLIANCE), legal holds {}, lock unknown {}",
                human_bytes(l.archive_bytes),
                l.archive_stores.len(),
                l.object_lock_stores.len(),
                l.compliance_stores,
                l.legal_hold_stores.len(),
                l.lock_unknown_stores
            ),
        ),
    ];
    for (key, label, value, shown) in rows {
        if key == "transfer-hours" {
            o.push_str("</table></div><div><table class=small>");
        }
        match label {
            Some(label) => {
                let _ = write!(
                    o,
                    "<tr data-exit=\"{key}\" data-value=\"{}\"><td>{}</td><td>{}</td></tr>",
                    esc(&value),
                    esc(label),
                    esc(&shown)
                );
            }
            None => {
                let _ = write!(
                    o,
                    "<tr hidden data-exit=\"{key}\" data-value=\"{}\"></tr>",
                    esc(&value)
                );
            }
        }
    }
    let free_exit_note = e.free_exit.as_ref().map_or_else(String::new, |p| {
        format!("{}'s free-exit programme: {}. ", x.from, p.conditions)
    });
    let _ = write!(
        o,
        "</table></div></div><p class=note>Egress: known bytes billed in one month. {}</p>",
        esc(&free_exit_note),
    );
}

/// Renders the report.
pub fn render(f: &Figures) -> String {
    let p = &f.posture;
    let total = Row {
        key: String::new(),
        stores: p.stores,
        bytes: p.bytes,
        stores_size_unknown: p.stores_size_unknown,
    };
    let row = |dim: &str, key: &str| p.row(dim, key).cloned().unwrap_or_default();
    let eu = row("eu", "EU");
    let us = row("cloud_act", "yes");
    let classified = row("classified", "classified");
    let mut o = String::with_capacity(32 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Data sovereignty report: {t}</title><style>{CSS}</style></head><body data-tenant=\"{t}\" data-report-id=\"{id}\" data-issued-at-ms=\"{at}\">",
        t = esc(&f.tenant),
        id = f.report_id,
        at = f.issued_at_ms
    );
    let _ = write!(
        o,
        "<h1>Where our data is, and who can reach it</h1><p class=meta>Tenant <b>{}</b> · report #{} issued {} · landmeter {} · figures from {} scan(s), listed under Provenance</p>",
        esc(&f.tenant),
        f.report_id,
        when(f.issued_at_ms),
        env!("CARGO_PKG_VERSION"),
        f.scans.len() + f.scans_not_listed.len()
    );

    // Posture.
    o.push_str("<section id=\"posture\"><h2>Posture</h2><div class=kpis>");
    let _ = write!(
        o,
        "<div class=kpi>Stores<b>{}</b>{} of unknown size</div>",
        figure("total-stores", p.stores, &p.stores.to_string()),
        figure(
            "total-size-unknown",
            p.stores_size_unknown,
            &p.stores_size_unknown.to_string()
        )
    );
    let _ = write!(
        o,
        "<div class=kpi>Known bytes<b>{}</b>unknown sizes not counted</div>",
        figure("total-bytes", p.bytes, &human_bytes(p.bytes))
    );
    let _ = write!(
        o,
        "<div class=kpi>In the EU/EEA<b>{}</b>{} of known bytes</div>",
        figure("eu-stores", eu.stores, &pct(eu.stores, p.stores)),
        figure("eu-bytes", eu.bytes, &pct_bytes(eu.bytes, p.bytes))
    );
    let _ = write!(
        o,
        "<div class=kpi>Under the US CLOUD Act<b>{}</b>{} of known bytes</div>",
        figure("cloud-act-stores", us.stores, &pct(us.stores, p.stores)),
        figure("cloud-act-bytes", us.bytes, &pct_bytes(us.bytes, p.bytes))
    );
    let _ = write!(
        o,
        "<div class=kpi>Classified<b>{}</b>{} stores unclassified</div>",
        figure(
            "classified-stores",
            classified.stores,
            &classified.stores.to_string()
        ),
        figure(
            "unclassified-stores",
            p.stores - classified.stores,
            &(p.stores - classified.stores).to_string()
        )
    );
    o.push_str("</div><div class=cols><div>");
    let dims = |d: &str| p.dimensions.get(d).cloned().unwrap_or_default();
    dim_table(
        &mut o,
        "custody",
        "Key custody",
        &dims("custody"),
        &total,
        usize::MAX,
    );
    dim_table(&mut o, "eu", "Location", &dims("eu"), &total, usize::MAX);
    dim_table(
        &mut o,
        "cloud_act",
        "Provider parent",
        &dims("cloud_act"),
        &total,
        usize::MAX,
    );
    o.push_str("</div><div>");
    dim_table(
        &mut o,
        "country",
        "Country",
        &dims("country"),
        &total,
        MAX_COUNTRY_ROWS,
    );
    dim_table(
        &mut o,
        "classification",
        "Classification",
        &dims("classification"),
        &total,
        MAX_COUNTRY_ROWS,
    );
    o.push_str("</div></div><div class=cols><div>");
    dim_table(
        &mut o,
        "sov2",
        "SOV-2 indicator (legal)",
        &dims("sov2"),
        &total,
        usize::MAX,
    );
    o.push_str("</div><div>");
    dim_table(
        &mut o,
        "sov3",
        "SOV-3 indicator (data, keys)",
        &dims("sov3"),
        &total,
        usize::MAX,
    );
    o.push_str("</div></div><p class=note>SOV-2/SOV-3: indicators computed from observed facts and the reference tables (our heuristic, after the EU Cloud Sovereignty Framework), not an official SEAL level. Custody ladder: none &lt; provider &lt; customer-managed &lt; byok &lt; dedicated-hsm &lt; hyok.</p></section>");

    // Trend.
    o.push_str("<section id=\"trend\"><h2>Since the previous report</h2>");
    match &f.trend {
        None => o.push_str("<p data-trend=\"none\">This is the first report for this tenant; the next one will show what changed since it.</p>"),
        Some(t) => {
            let _ = write!(
                o,
                "<p>Compared with the figures kept from report #{} ({}): stores {} → {}, known bytes {} → {}, stores in the EU/EEA {} → {}.</p><p>",
                t.previous_id,
                when(t.previous_at_ms),
                t.stores_before,
                p.stores,
                human_bytes(t.bytes_before),
                human_bytes(p.bytes),
                t.eu_stores_before,
                eu.stores
            );
            let mut listed = String::new();
            for (key, label, list) in [
                ("new", "New stores", &t.new_stores),
                ("gone", "Gone stores", &t.gone_stores),
                ("left-eu", "Moved out of the EU/EEA", &t.left_eu),
                ("entered-eu", "Moved into the EU/EEA", &t.entered_eu),
                ("custody-up", "Custody up the ladder", &t.custody_up),
                ("custody-down", "Custody down the ladder", &t.custody_down),
                ("custody-unknown", "Custody now unknown", &t.custody_now_unknown),
            ] {
                let _ = write!(
                    o,
                    "<span data-trend=\"{key}\" data-value=\"{n}\">{label}: <b>{n}</b></span>{sep}",
                    n = list.len(),
                    sep = if key == "custody-unknown" { "" } else { " · " }
                );
                if !list.is_empty() {
                    let _ = write!(
                        listed,
                        "<tr><td class=nw>{label}</td><td>{}</td></tr>",
                        ids(list)
                    );
                }
            }
            o.push_str("</p>");
            if !listed.is_empty() {
                let _ = write!(o, "<table class=small>{listed}</table>");
            }
        }
    }
    o.push_str("</section>");

    // Risks.
    o.push_str("<section id=\"risks\"><h2>Top risks</h2><p>");
    let counts: Vec<String> = RiskKind::ALL
        .iter()
        .map(|k| {
            let n = f.risks.iter().filter(|r| r.kind == *k).count();
            format!(
                "<span data-risk-count=\"{}\" data-value=\"{n}\">{}: <b>{n}</b></span>",
                k.id(),
                esc(k.title())
            )
        })
        .collect();
    o.push_str(&counts.join(" · "));
    o.push_str("</p>");
    if f.risks.is_empty() {
        o.push_str("<p>No store has any of these risks.</p>");
    } else {
        o.push_str("<table class=small><tr><th>risk</th><th>store</th><th>country</th><th>custody</th><th>class</th><th class=n>bytes</th><th>last scan</th><th>seen</th></tr>");
        // The most serious rows, but every kind present shows its first rows: a board must
        // see that replication or tags could not be read even beside many provider keys.
        let printed = printed_risks(&f.risks);
        for r in printed.iter().copied() {
            let _ = write!(
                o,
                "<tr class=\"risk-{k}\" data-risk=\"{k}\" data-store=\"{id}\" data-scan=\"{scan}\"><td class=nw>{title}{detail}</td><td class=id>{id}</td><td>{country}</td><td>{custody}</td><td>{class}</td><td class=\"n nw\">{bytes}</td><td class=id>{scan}</td><td class=nw>{seen}</td></tr>",
                k = r.kind.id(),
                id = esc(&r.store_id),
                scan = esc(&r.last_scan_id),
                title = esc(r.kind.short()),
                country = esc(if r.country.is_empty() {
                    "(unknown)"
                } else {
                    &r.country
                }),
                custody = esc(&r.custody),
                class = esc(&r.classification),
                bytes = r.bytes.map_or_else(|| "unknown".to_owned(), human_bytes),
                seen = day(r.last_seen_ms),
                // Why, under the risk's name, when it is an unknown (the failed call).
                detail = if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<small class=why data-risk-detail>{}</small>",
                        esc(&r.detail)
                    )
                },
            );
        }
        o.push_str("</table>");
        if f.risks.len() > printed.len() {
            let _ = write!(
                o,
                "<p class=note>{} more risk rows are not printed: see the evidence bundle (<code>landmeter evidence</code>) or <code>landmeter stores</code> with filters.</p>",
                f.risks.len() - printed.len()
            );
        }
    }
    o.push_str("</section>");

    // Exit scenario.
    o.push_str("<section id=\"exit\"><h2>Exit scenario</h2>");
    match (&f.exit, &f.exit_eur) {
        (Some(x), Some(eur)) => exit_section(&mut o, x, eur),
        _ => o.push_str("<p>No stores: nothing to move.</p>"),
    }
    o.push_str("</section>");

    // Costs.
    o.push_str("<section id=\"costs\"><h2>Storage costs (list prices)</h2><table class=small><tr><th>provider</th><th>kind</th><th class=n>stores</th><th class=n>known bytes</th><th class=n>per month (EUR)</th><th>price date</th><th>source</th></tr>");
    for c in &f.costs {
        let _ = write!(
            o,
            "<tr data-cost=\"{p}\" data-kind=\"{k}\" data-monthly=\"{m}\" data-monthly-eur=\"{me}\"><td>{p}</td><td>{k}</td><td class=n>{s}</td><td class=n>{b}{u}</td><td class=n>{money}</td><td>{date}</td><td>{src}</td></tr>",
            p = esc(&c.provider),
            k = esc(&c.kind),
            m = c
                .monthly
                .map(|v| v.to_string())
                .unwrap_or_else(|| "unknown".into()),
            s = c.stores,
            b = human_bytes(c.bytes),
            u = if c.stores_size_unknown > 0 {
                format!(" + {} unknown", c.stores_size_unknown)
            } else {
                String::new()
            },
            me = eur_value(&c.monthly_eur),
            money = esc(&eur_text(&c.monthly_eur)),
            date = esc(c.price.as_ref().map_or("–", dated)),
            src = esc(&c.price.as_ref().map_or_else(
                || "no price in the table".to_owned(),
                |p| format!("{} ({})", p.source, p.status)
            )),
        );
    }
    let monthly: Vec<&Eur> = f.costs.iter().map(|c| &c.monthly_eur).collect();
    let _ = write!(
        o,
        "</table><p class=note>Unknown prices and unknown sizes are shown as unknown, never as zero. Exchange rate: {}.</p></section>",
        esc(&rates_used(&monthly))
    );

    // Provenance.
    o.push_str("<section id=\"provenance\"><h2>Provenance</h2><p class=small>Every figure above is computed from the stores' current views, each interpreted from the facts of its last scan (below).");
    if let Some(fp) = &f.interpretation_fingerprint {
        let _ = write!(
            o,
            " Reference tables fingerprint <span class=id data-fingerprint=\"{0}\">{0}</span>.",
            esc(fp)
        );
    }
    o.push_str("</p><table class=small><tr><th>scan</th><th>agent</th><th>provider</th><th>accounts</th><th>started</th><th>ended</th><th>complete</th><th class=n>gaps</th></tr>");
    for s in f.scans.iter().take(MAX_SCAN_ROWS) {
        let _ = write!(
            o,
            "<tr data-scan-id=\"{id}\"><td class=id>{id}</td><td>{agent}</td><td>{prov}</td><td class=id>{acc}</td><td>{start}</td><td>{end}</td><td>{complete}</td><td class=n>{gaps}</td></tr>",
            id = esc(&s.scan_id),
            agent = esc(&s.agent),
            prov = esc(&s.provider),
            acc = esc(&s.accounts.join(", ")),
            start = s.started_at_ms.map(when).unwrap_or_else(|| "–".into()),
            end = s
                .ended_at_ms
                .map(when)
                .unwrap_or_else(|| "not ended".into()),
            complete = if s.complete { "yes" } else { "no" },
            gaps = s.gaps.len(),
        );
    }
    o.push_str("</table>");
    if f.scans.len() > MAX_SCAN_ROWS || !f.scans_not_listed.is_empty() {
        let _ = write!(
            o,
            "<p class=note>{} more scan(s) not printed; every store's scan is in the evidence bundle.</p>",
            f.scans.len().saturating_sub(MAX_SCAN_ROWS) + f.scans_not_listed.len()
        );
    }
    o.push_str("</section></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn bytes_read_in_decimal_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
