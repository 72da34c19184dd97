//! The board report as one self-contained, print-friendly HTML page (A4, embedded CSS, no
//! external resources). Every figure carries `data-*` attributes so tests and scripts can
//! read it back; every risk names its store and last scan; the provenance section lists
//! the scans the figures rest on.

use std::fmt::Write as _;

use super::figures::{Eur, ExitEur, Figures, RiskKind, Row};
use crate::i18n::{Arg, Locale};
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
/* A risk's name wraps in its own column, so a longer name (Dutch) does not squeeze the ids into
   one character a line. */
tr[data-risk] td:first-child { white-space: normal; width: 30mm; }
td.id { min-width: 30mm; }
/* Sections may run on to the next page (a whole section pushed over leaves a gap and, in the
   longer Dutch text, a third page); a heading stays with what follows, a row stays whole. */
h2 { break-after: avoid; }
tr, .kpis, .kpi { break-inside: avoid; }
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

/// Bytes in decimal units for people, in English (the exact figure is in the `data-bytes`
/// attribute); [`Locale::bytes`] in the report's language.
pub fn human_bytes(b: i64) -> String {
    Locale::new(crate::i18n::Lang::En, "UTC")
        .unwrap_or_default()
        .bytes(b)
}

/// A plain-text message, escaped for HTML.
fn tx(l: &Locale, key: &str) -> String {
    esc(&l.t(key))
}

/// A plain-text message with arguments, escaped for HTML.
fn txa(l: &Locale, key: &str, args: &[(&str, Arg)]) -> String {
    esc(&l.ta(key, args))
}

/// A `-html` message: the catalogue's own markup kept, every argument already HTML (the
/// caller escapes what it passes).
fn html_msg(l: &Locale, key: &str, args: &[(&str, Arg)]) -> String {
    l.ta(key, args)
}

/// A decimal as the table writes it (`1.1172`), with the language's decimal separator.
fn decimal_text(l: &Locale, text: &str) -> String {
    match l.lang {
        crate::i18n::Lang::Nl => text.replace('.', ","),
        crate::i18n::Lang::En => text.to_owned(),
    }
}

fn pct(l: &Locale, part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        l.percent(part as f64 / whole as f64)
    }
}

fn pct_bytes(l: &Locale, part: i64, whole: i64) -> String {
    if whole <= 0 {
        "–".to_owned()
    } else {
        l.percent(part as f64 / whole as f64)
    }
}

fn display_key(l: &Locale, dim: &str, key: &str) -> String {
    match (dim, key) {
        (_, "") => l.t("report-key-unknown"),
        ("eu", "EU") => l.t("report-eu-in"),
        ("eu", "non-EU") => l.t("report-eu-out"),
        ("cloud_act", "yes") => l.t("report-cloud-act-yes"),
        ("cloud_act", "no") => l.t("report-cloud-act-no"),
        ("cloud_act", "unclear") => l.t("report-cloud-act-unclear"),
        ("sov2" | "sov3", "none") => l.t("report-sov-none"),
        ("sov2" | "sov3", level) => l.ta("report-sov-level", &[("level", level.into())]),
        _ => key.to_owned(),
    }
}

fn dim_table(
    out: &mut String,
    l: &Locale,
    dim: &str,
    title_key: &str,
    rows: &[Row],
    total: &Row,
    limit: usize,
) {
    let _ = write!(
        out,
        "<table class=\"dim\" data-dimension=\"{}\"><tr><th>{}</th><th class=n>{}</th><th class=n>{}</th><th class=n>{}</th></tr>",
        esc(dim),
        tx(l, title_key),
        tx(l, "report-col-stores"),
        tx(l, "report-col-known-bytes"),
        tx(l, "report-col-size-unknown"),
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
            "<tr data-dim=\"{d}\" data-key=\"{k}\" data-stores=\"{s}\" data-bytes=\"{b}\" data-size-unknown=\"{u}\"><td>{label}</td><td class=\"n nw\">{sn} · {sp}</td><td class=\"n nw\">{hb} · {bp}</td><td class=n>{un}</td></tr>",
            d = esc(dim),
            k = esc(&r.key),
            s = r.stores,
            b = r.bytes,
            u = r.stores_size_unknown,
            sn = l.int(r.stores),
            un = l.int(r.stores_size_unknown),
            label = esc(&display_key(l, dim, &r.key)),
            sp = pct(l, r.stores, total.stores),
            hb = l.bytes(r.bytes),
            bp = pct_bytes(l, r.bytes, total.bytes),
        );
    }
    if rest.stores > 0 {
        let _ = write!(
            out,
            "<tr class=\"other\"><td>{}</td><td class=\"n nw\">{} · {}</td><td class=\"n nw\">{} · {}</td><td class=n>{}</td></tr>",
            txa(
                l,
                "report-other-more",
                &[("n", l.int((rows.len() - limit) as u64).into())]
            ),
            l.int(rest.stores),
            pct(l, rest.stores, total.stores),
            l.bytes(rest.bytes),
            pct_bytes(l, rest.bytes, total.bytes),
            l.int(rest.stores_size_unknown)
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

fn ids(l: &Locale, list: &[String]) -> String {
    let mut s: Vec<String> = list
        .iter()
        .take(MAX_TREND_IDS)
        .map(|i| format!("<span class=id>{}</span>", esc(i)))
        .collect();
    if list.len() > MAX_TREND_IDS {
        s.push(txa(
            l,
            "report-and-more",
            &[("n", l.int((list.len() - MAX_TREND_IDS) as u64).into())],
        ));
    }
    s.join(", ")
}

/// A price's date, or "undated" (the table leaves some empty).
fn dated(l: &Locale, p: &crate::map::exit::Price) -> String {
    if p.date.trim().is_empty() {
        l.t("report-undated")
    } else {
        p.date.clone()
    }
}

/// A figure in EUR, with the listed amount when it was converted (the rate is named once,
/// under the section).
fn eur_text(l: &Locale, e: &Eur) -> String {
    match (e.amount, &e.rate, e.listed) {
        (Some(a), Some(_), Some(listed)) => l.ta(
            "report-eur-listed",
            &[
                ("eur", l.eur(a).into()),
                ("listed", l.number(listed, 2).into()),
                ("currency", e.currency.as_str().into()),
            ],
        ),
        (Some(a), _, _) => l.eur(a),
        (None, _, Some(listed)) if !e.currency.is_empty() => l.ta(
            "report-eur-no-rate",
            &[
                ("listed", l.number(listed, 2).into()),
                ("currency", e.currency.as_str().into()),
            ],
        ),
        _ => l.t("report-unknown"),
    }
}

/// "1 EUR = 1.1172 USD on 2026-10-30" for each rate the figures used (the table names the
/// source: the ECB's reference rates).
fn rates_used(l: &Locale, figures: &[&Eur]) -> String {
    let rates: std::collections::BTreeSet<String> = figures
        .iter()
        .filter_map(|e| e.rate.as_ref())
        .map(|r| {
            l.ta(
                "report-rate",
                &[
                    ("rate", decimal_text(l, &r.per_eur.to_string()).into()),
                    ("currency", r.currency.as_str().into()),
                    ("date", r.date.as_str().into()),
                ],
            )
        })
        .collect();
    if rates.is_empty() {
        l.t("report-rates-none")
    } else {
        rates.into_iter().collect::<Vec<_>>().join("; ")
    }
}

fn eur_value(e: &Eur) -> String {
    e.amount.map(|v| v.to_string()).unwrap_or_default()
}

/// The exit section: every money figure in EUR with the rate it was converted at.
fn exit_section(o: &mut String, l: &Locale, x: &ExitScenario, eur: &ExitEur) {
    let e = &x.egress;
    let k = &x.keys;
    let lk = &x.lock_in;
    let rates = rates_used(
        l,
        &[
            &eur.egress_list,
            &eur.egress_known_part,
            &eur.storage_now,
            &eur.storage_after,
        ],
    );
    let _ = write!(
        o,
        "<p>{}</p><div class=cols><div><table class=small>",
        html_msg(
            l,
            "report-exit-intro-html",
            &[
                ("from", esc(&x.from).into()),
                ("to", esc(&x.to).into()),
                ("on", esc(&x.on.to_string()).into()),
                ("rates", esc(&rates).into()),
            ]
        )
    );
    let egress_list = match e.list_price {
        Some(_) => l.ta(
            "report-egress-after-free",
            &[
                ("eur", eur_text(l, &eur.egress_list).into()),
                (
                    "allowance",
                    e.ladder
                        .free_per_month
                        .map_or_else(
                            || l.t("report-unknown-allowance"),
                            |f| {
                                format!(
                                    "{} {}",
                                    decimal_text(l, &f.to_string()),
                                    e.ladder.unit.label()
                                )
                            },
                        )
                        .into(),
                ),
                (
                    "status",
                    e.ladder
                        .status
                        .split(" (")
                        .next()
                        .filter(|s| !s.is_empty())
                        .map_or_else(|| l.t("report-undated"), str::to_owned)
                        .into(),
                ),
            ],
        ),
        None if x.source_price.is_none() => l.t("report-no-price-unknown"),
        None => l.ta(
            "report-egress-unsourced",
            &[
                ("tiers", e.unsourced_tiers().join(", ").into()),
                ("eur", eur_text(l, &eur.egress_known_part).into()),
            ],
        ),
    };
    let free_exit = match &e.free_exit {
        Some(_) => l.ta(
            "report-free-exit-if",
            &[
                ("eur", eur_text(l, &eur.egress_free_exit).into()),
                ("from", x.from.as_str().into()),
            ],
        ),
        None => l.t("report-none-published"),
    };
    let data_act = match (e.data_act.amount, e.data_act.upper_bound) {
        (None, Some(_)) => l.ta(
            "report-data-act-upper",
            &[("eur", eur_text(l, &eur.egress_data_act_upper_bound).into())],
        ),
        (None, None) => l.t("report-data-act-unpublished"),
        (Some(_), _) => format!(
            "{} ({})",
            eur_text(l, &eur.egress_data_act),
            e.data_act.phase.label()
        ),
    };
    let storage = l.ta(
        "report-storage-now-after",
        &[
            ("now", eur_text(l, &eur.storage_now).into()),
            (
                "after",
                if x.target_price.is_none() {
                    l.t("report-unknown")
                } else {
                    eur_text(l, &eur.storage_after)
                }
                .into(),
            ),
        ],
    );
    let hyok_lost = match (k.hyok(), k.hyok_lost()) {
        (None, _) => ("0".to_owned(), l.t("report-hyok-none-data")),
        (Some(_), Some(lost)) if lost.stores == 0 => (
            "0".to_owned(),
            l.ta("report-hyok-none-kept", &[("to", x.to.as_str().into())]),
        ),
        (Some(_), Some(lost)) => (
            lost.stores.to_string(),
            l.ta(
                "report-hyok-lost",
                &[
                    ("stores", l.int(lost.stores).into()),
                    ("bytes", l.bytes(lost.bytes).into()),
                    (
                        "unknown",
                        if lost.stores_size_unknown > 0 {
                            l.ta(
                                "report-plus-unknown-size",
                                &[("n", l.int(lost.stores_size_unknown).into())],
                            )
                        } else {
                            String::new()
                        }
                        .into(),
                    ),
                ],
            ),
        ),
        (Some(g), None) => (
            String::new(),
            l.ta(
                "report-hyok-unknown",
                &[
                    ("stores", l.int(g.stores).into()),
                    ("to", x.to.as_str().into()),
                    ("manager", k.target.external_key_manager.label().into()),
                ],
            ),
        ),
    };
    let unknown = k.custody_unknown();
    // (data-exit key, label key; None: a figure shown within another row, value, shown)
    let rows: [(&str, Option<&str>, String, String); 16] = [
        (
            "stores",
            Some("report-exit-stores"),
            x.stores.to_string(),
            l.int(x.stores),
        ),
        (
            "bytes",
            Some("report-exit-known-bytes"),
            x.bytes.to_string(),
            l.ta(
                "report-exit-bytes",
                &[
                    ("bytes", l.bytes(x.bytes).into()),
                    ("objects", l.int(x.objects).into()),
                    ("unknown", l.int(x.stores_without_size).into()),
                ],
            ),
        ),
        ("objects", None, x.objects.to_string(), String::new()),
        (
            "egress",
            Some("report-exit-egress"),
            eur_value(&eur.egress_list),
            egress_list,
        ),
        (
            "egress-free-exit",
            Some("report-exit-egress-free-exit"),
            eur_value(&eur.egress_free_exit),
            free_exit,
        ),
        (
            "egress-data-act",
            Some("report-exit-egress-data-act"),
            eur_value(&eur.egress_data_act),
            data_act,
        ),
        (
            "storage-now",
            Some("report-exit-storage"),
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
            Some("report-exit-transfer"),
            format!("{:.3}", x.transfer_hours),
            l.ta(
                "report-exit-transfer-value",
                &[
                    ("hours", l.number(x.transfer_hours, 1).into()),
                    (
                        "mbps",
                        decimal_text(l, &x.bandwidth_mbps.to_string()).into(),
                    ),
                ],
            ),
        ),
        (
            "keys",
            Some("report-exit-keys"),
            k.keys_to_recreate().to_string(),
            l.ta(
                "report-exit-keys-value",
                &[
                    ("keys", l.int(k.keys_to_recreate() as u64).into()),
                    (
                        "stores",
                        l.int(k.recreated_stores_without_key_id() as u64).into(),
                    ),
                ],
            ),
        ),
        (
            "keys-byok",
            Some("report-exit-byok"),
            k.keys_reimport_if_escrowed().to_string(),
            l.ta(
                "report-exit-byok-value",
                &[("keys", l.int(k.keys_reimport_if_escrowed() as u64).into())],
            ),
        ),
        (
            "hyok-lost",
            Some("report-exit-hyok"),
            hyok_lost.0,
            hyok_lost.1,
        ),
        (
            "keys-unknown",
            Some("report-exit-custody-unknown"),
            unknown.map_or(0, |g| g.stores).to_string(),
            l.ta(
                "report-exit-custody-unknown-value",
                &[
                    ("stores", l.int(unknown.map_or(0, |g| g.stores)).into()),
                    ("nokey", l.int(k.stores_without_key() as u64).into()),
                ],
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
            Some("report-exit-replication"),
            x.replication_edges.to_string(),
            l.int(x.replication_edges as u64),
        ),
        (
            "lock-in",
            Some("report-exit-lock-in"),
            (lk.archive_stores.len() + lk.object_lock_stores.len() + lk.legal_hold_stores.len())
                .to_string(),
            l.ta(
                "report-exit-lock-in-value",
                &[
                    ("archive", l.bytes(lk.archive_bytes).into()),
                    (
                        "archive_stores",
                        l.int(lk.archive_stores.len() as u64).into(),
                    ),
                    ("locked", l.int(lk.object_lock_stores.len() as u64).into()),
                    ("compliance", l.int(lk.compliance_stores as u64).into()),
                    ("holds", l.int(lk.legal_hold_stores.len() as u64).into()),
                    ("unknown", l.int(lk.lock_unknown_stores as u64).into()),
                ],
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
                    tx(l, label),
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
        l.ta(
            "report-free-exit-note",
            &[
                ("from", x.from.as_str().into()),
                ("conditions", p.conditions.as_str().into()),
            ],
        )
    });
    let _ = write!(
        o,
        "</table></div></div><p class=note>{}</p>",
        txa(l, "report-egress-note", &[("note", free_exit_note.into())]),
    );
}

/// Renders the report in English with times in UTC (tests and callers without a locale).
pub fn render(f: &Figures) -> String {
    render_in(
        f,
        &Locale::new(crate::i18n::Lang::En, "UTC").unwrap_or_default(),
    )
}

/// Renders the report in a language, with dates and times in the locale's zone. Machine
/// readable values (`data-*`) are the same in every language.
pub fn render_in(f: &Figures, l: &Locale) -> String {
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
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{CSS}</style></head><body data-tenant=\"{t}\" data-report-id=\"{id}\" data-issued-at-ms=\"{at}\" data-lang=\"{lang}\">",
        lang = l.lang.code(),
        title = txa(l, "report-title", &[("tenant", f.tenant.as_str().into())]),
        t = esc(&f.tenant),
        id = f.report_id,
        at = f.issued_at_ms
    );
    let _ = write!(
        o,
        "<h1>{}</h1><p class=meta>{}</p>",
        tx(l, "report-heading"),
        html_msg(
            l,
            "report-meta-html",
            &[
                ("tenant", esc(&f.tenant).into()),
                ("id", f.report_id.to_string().into()),
                ("issued", esc(&l.datetime(f.issued_at_ms)).into()),
                ("version", env!("CARGO_PKG_VERSION").into()),
                (
                    "scans",
                    l.int((f.scans.len() + f.scans_not_listed.len()) as u64)
                        .into()
                ),
            ]
        )
    );

    // Posture.
    let _ = write!(
        o,
        "<section id=\"posture\"><h2>{}</h2><div class=kpis>",
        tx(l, "report-posture")
    );
    let kpi = |key: &str, args: &[(&str, Arg)]| {
        format!("<div class=kpi>{}</div>", html_msg(l, key, args))
    };
    o.push_str(&kpi(
        "report-kpi-stores-html",
        &[
            (
                "stores",
                figure("total-stores", p.stores, &l.int(p.stores)).into(),
            ),
            (
                "unknown",
                figure(
                    "total-size-unknown",
                    p.stores_size_unknown,
                    &l.int(p.stores_size_unknown),
                )
                .into(),
            ),
        ],
    ));
    o.push_str(&kpi(
        "report-kpi-bytes-html",
        &[(
            "bytes",
            figure("total-bytes", p.bytes, &l.bytes(p.bytes)).into(),
        )],
    ));
    o.push_str(&kpi(
        "report-kpi-eu-html",
        &[
            (
                "stores",
                figure("eu-stores", eu.stores, &pct(l, eu.stores, p.stores)).into(),
            ),
            (
                "bytes",
                figure("eu-bytes", eu.bytes, &pct_bytes(l, eu.bytes, p.bytes)).into(),
            ),
        ],
    ));
    o.push_str(&kpi(
        "report-kpi-cloud-act-html",
        &[
            (
                "stores",
                figure("cloud-act-stores", us.stores, &pct(l, us.stores, p.stores)).into(),
            ),
            (
                "bytes",
                figure(
                    "cloud-act-bytes",
                    us.bytes,
                    &pct_bytes(l, us.bytes, p.bytes),
                )
                .into(),
            ),
        ],
    ));
    o.push_str(&kpi(
        "report-kpi-classified-html",
        &[
            (
                "stores",
                figure(
                    "classified-stores",
                    classified.stores,
                    &l.int(classified.stores),
                )
                .into(),
            ),
            (
                "unclassified",
                figure(
                    "unclassified-stores",
                    p.stores - classified.stores,
                    &l.int(p.stores - classified.stores),
                )
                .into(),
            ),
        ],
    ));
    o.push_str("</div><div class=cols><div>");
    let dims = |d: &str| p.dimensions.get(d).cloned().unwrap_or_default();
    dim_table(
        &mut o,
        l,
        "custody",
        "report-dim-custody",
        &dims("custody"),
        &total,
        usize::MAX,
    );
    dim_table(
        &mut o,
        l,
        "eu",
        "report-dim-eu",
        &dims("eu"),
        &total,
        usize::MAX,
    );
    dim_table(
        &mut o,
        l,
        "cloud_act",
        "report-dim-cloud-act",
        &dims("cloud_act"),
        &total,
        usize::MAX,
    );
    o.push_str("</div><div>");
    dim_table(
        &mut o,
        l,
        "country",
        "report-dim-country",
        &dims("country"),
        &total,
        MAX_COUNTRY_ROWS,
    );
    dim_table(
        &mut o,
        l,
        "classification",
        "report-dim-classification",
        &dims("classification"),
        &total,
        MAX_COUNTRY_ROWS,
    );
    o.push_str("</div></div><div class=cols><div>");
    dim_table(
        &mut o,
        l,
        "sov2",
        "report-dim-sov2",
        &dims("sov2"),
        &total,
        usize::MAX,
    );
    o.push_str("</div><div>");
    dim_table(
        &mut o,
        l,
        "sov3",
        "report-dim-sov3",
        &dims("sov3"),
        &total,
        usize::MAX,
    );
    let _ = write!(
        o,
        "</div></div><p class=note>{}</p></section>",
        tx(l, "report-sov-note")
    );

    // Trend.
    let _ = write!(
        o,
        "<section id=\"trend\"><h2>{}</h2>",
        tx(l, "report-trend")
    );
    match &f.trend {
        None => {
            let _ = write!(
                o,
                "<p data-trend=\"none\">{}</p>",
                tx(l, "report-trend-first")
            );
        }
        Some(t) => {
            let _ = write!(
                o,
                "<p>{}</p><p>",
                txa(
                    l,
                    "report-trend-compared",
                    &[
                        ("id", t.previous_id.to_string().into()),
                        ("at", l.datetime(t.previous_at_ms).into()),
                        ("stores_before", l.int(t.stores_before).into()),
                        ("stores", l.int(p.stores).into()),
                        ("bytes_before", l.bytes(t.bytes_before).into()),
                        ("bytes", l.bytes(p.bytes).into()),
                        ("eu_before", l.int(t.eu_stores_before).into()),
                        ("eu", l.int(eu.stores).into()),
                    ]
                )
            );
            let mut listed = String::new();
            for (key, list) in [
                ("new", &t.new_stores),
                ("gone", &t.gone_stores),
                ("left-eu", &t.left_eu),
                ("entered-eu", &t.entered_eu),
                ("custody-up", &t.custody_up),
                ("custody-down", &t.custody_down),
                ("custody-unknown", &t.custody_now_unknown),
            ] {
                let label = tx(l, &format!("report-trend-{key}"));
                let _ = write!(
                    o,
                    "<span data-trend=\"{key}\" data-value=\"{n}\">{label}: <b>{shown}</b></span>{sep}",
                    n = list.len(),
                    shown = l.int(list.len() as u64),
                    sep = if key == "custody-unknown" { "" } else { " · " }
                );
                if !list.is_empty() {
                    let _ = write!(
                        listed,
                        "<tr><td class=nw>{label}</td><td>{}</td></tr>",
                        ids(l, list)
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
    let _ = write!(
        o,
        "<section id=\"risks\"><h2>{}</h2><p>",
        tx(l, "report-risks")
    );
    let counts: Vec<String> = RiskKind::ALL
        .iter()
        .map(|k| {
            let n = f.risks.iter().filter(|r| r.kind == *k).count();
            format!(
                "<span data-risk-count=\"{}\" data-value=\"{n}\">{}: <b>{}</b></span>",
                k.id(),
                tx(l, &format!("report-risk-{}", k.id())),
                l.int(n as u64)
            )
        })
        .collect();
    o.push_str(&counts.join(" · "));
    o.push_str("</p>");
    if f.risks.is_empty() {
        let _ = write!(o, "<p>{}</p>", tx(l, "report-no-risks"));
    } else {
        o.push_str("<table class=small><tr>");
        for (col, class) in [
            ("risk", ""),
            ("store", ""),
            ("country", ""),
            ("custody", ""),
            ("class", ""),
            ("bytes", " class=n"),
            ("last-scan", ""),
            ("seen", ""),
        ] {
            let _ = write!(o, "<th{class}>{}</th>", tx(l, &format!("report-col-{col}")));
        }
        o.push_str("</tr>");
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
                title = tx(l, &format!("report-risk-{}-short", r.kind.id())),
                country = if r.country.is_empty() {
                    tx(l, "report-key-unknown")
                } else {
                    esc(&r.country)
                },
                custody = esc(&r.custody),
                class = esc(&r.classification),
                bytes = esc(&r
                    .bytes
                    .map_or_else(|| l.t("report-unknown"), |b| l.bytes(b))),
                seen = esc(&l.date(r.last_seen_ms)),
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
                "<p class=note>{}</p>",
                html_msg(
                    l,
                    "report-risks-not-printed-html",
                    &[("n", l.int((f.risks.len() - printed.len()) as u64).into())]
                )
            );
        }
    }
    o.push_str("</section>");

    // Exit scenario.
    let _ = write!(o, "<section id=\"exit\"><h2>{}</h2>", tx(l, "report-exit"));
    match (&f.exit, &f.exit_eur) {
        (Some(x), Some(eur)) => exit_section(&mut o, l, x, eur),
        _ => {
            let _ = write!(o, "<p>{}</p>", tx(l, "report-exit-none"));
        }
    }
    o.push_str("</section>");

    // Costs.
    let _ = write!(
        o,
        "<section id=\"costs\"><h2>{}</h2><table class=small><tr><th>{}</th><th>{}</th><th class=n>{}</th><th class=n>{}</th><th class=n>{}</th><th>{}</th><th>{}</th></tr>",
        tx(l, "report-costs"),
        tx(l, "report-col-provider"),
        tx(l, "report-col-kind"),
        tx(l, "report-col-stores"),
        tx(l, "report-col-known-bytes"),
        tx(l, "report-col-per-month"),
        tx(l, "report-col-price-date"),
        tx(l, "report-col-source"),
    );
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
            s = l.int(c.stores),
            b = l.bytes(c.bytes),
            u = if c.stores_size_unknown > 0 {
                txa(
                    l,
                    "report-plus-unknown",
                    &[("n", l.int(c.stores_size_unknown).into())],
                )
            } else {
                String::new()
            },
            me = eur_value(&c.monthly_eur),
            money = esc(&eur_text(l, &c.monthly_eur)),
            date = esc(&c
                .price
                .as_ref()
                .map_or_else(|| "–".to_owned(), |p| dated(l, p))),
            src = esc(&c.price.as_ref().map_or_else(
                || l.t("report-no-price"),
                |p| format!("{} ({})", p.source, p.status)
            )),
        );
    }
    let monthly: Vec<&Eur> = f.costs.iter().map(|c| &c.monthly_eur).collect();
    let _ = write!(
        o,
        "</table><p class=note>{}</p></section>",
        txa(
            l,
            "report-costs-note",
            &[("rates", rates_used(l, &monthly).into())]
        )
    );

    // Provenance.
    let _ = write!(
        o,
        "<section id=\"provenance\"><h2>{}</h2><p class=small>{}",
        tx(l, "report-provenance"),
        tx(l, "report-provenance-intro")
    );
    if let Some(fp) = &f.interpretation_fingerprint {
        let _ = write!(
            o,
            " {label} <span class=id data-fingerprint=\"{0}\">{0}</span>.",
            esc(fp),
            label = tx(l, "report-fingerprint")
        );
    }
    o.push_str("</p><table class=small><tr>");
    for col in [
        "scan", "agent", "provider", "accounts", "started", "ended", "complete",
    ] {
        let _ = write!(o, "<th>{}</th>", tx(l, &format!("report-col-{col}")));
    }
    let _ = write!(o, "<th class=n>{}</th></tr>", tx(l, "report-col-gaps"));
    for s in f.scans.iter().take(MAX_SCAN_ROWS) {
        let _ = write!(
            o,
            "<tr data-scan-id=\"{id}\"><td class=id>{id}</td><td>{agent}</td><td>{prov}</td><td class=id>{acc}</td><td>{start}</td><td>{end}</td><td>{complete}</td><td class=n>{gaps}</td></tr>",
            id = esc(&s.scan_id),
            agent = esc(&s.agent),
            prov = esc(&s.provider),
            acc = esc(&s.accounts.join(", ")),
            start = esc(&s
                .started_at_ms
                .map(|ms| l.datetime(ms))
                .unwrap_or_else(|| "–".into())),
            end = esc(&s
                .ended_at_ms
                .map(|ms| l.datetime(ms))
                .unwrap_or_else(|| l.t("report-not-ended"))),
            complete = tx(
                l,
                if s.complete {
                    "common-yes"
                } else {
                    "common-no"
                }
            ),
            gaps = l.int(s.gaps.len() as u64),
        );
    }
    o.push_str("</table>");
    if f.scans.len() > MAX_SCAN_ROWS || !f.scans_not_listed.is_empty() {
        let _ = write!(
            o,
            "<p class=note>{}</p>",
            txa(
                l,
                "report-scans-not-printed",
                &[(
                    "n",
                    l.int(
                        (f.scans.len().saturating_sub(MAX_SCAN_ROWS) + f.scans_not_listed.len())
                            as u64
                    )
                    .into()
                )]
            )
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
