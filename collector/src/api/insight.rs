//! The insight documents of the JSON API: dashboard, dependency graph, coverage, costs and
//! the exit scenario. Each is computed over the store with the caller's scope (the store
//! enforces it: tenant rows filtered, the pool role only aggregates over >= k tenants) and
//! rendered as JSON. Unknown stays unknown: unknown sizes and prices are null, never 0.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use landmeter_proto::v1::{StoreFilter, StoreView, SummaryRow};

use super::disclosure::{self, Dimension};
use crate::map::exit::PriceTable;
use crate::store::{GroupField, MapStore, Scope, StoreError, ViewDimension};

/// The graph aggregates stores into groups above this many.
pub const GRAPH_AGGREGATE_ABOVE: usize = 200;
/// The coverage page lists this many scans.
pub const COVERAGE_SCANS: usize = 50;

/// Narrows a scope to one tenant (`?tenant=T`): an admin may pick any tenant, a tenant
/// role only its own, the pool role none (a tenant is what it must not see).
pub fn narrow(scope: &Scope, tenant: Option<&str>) -> Result<Scope, StoreError> {
    match (scope, tenant.filter(|t| !t.is_empty())) {
        (s, None) => Ok(s.clone()),
        (Scope::AllTenants, Some(t)) => Ok(Scope::Tenant(t.to_owned())),
        (Scope::Tenant(own), Some(t)) if own == t => Ok(scope.clone()),
        (Scope::Tenant(_), Some(_)) => Err(StoreError::Forbidden(
            "a tenant role reads its own tenant only".into(),
        )),
        (Scope::Pool { .. }, Some(_)) => Err(StoreError::Forbidden(
            "the pool role cannot group or filter by tenant or account".into(),
        )),
    }
}

/// How the dashboard names a scope.
fn scope_name(scope: &Scope) -> String {
    match scope {
        Scope::AllTenants => "all".into(),
        Scope::Tenant(t) => format!("tenant:{t}"),
        Scope::Pool { .. } => "pool".into(),
    }
}

fn row_json(key: String, r: &SummaryRow) -> Value {
    if r.withheld_cells > 0 {
        // The pool's merged row of values withheld under its k rule.
        return json!({"key": null, "withheld_cells": r.withheld_cells, "stores": r.stores, "bytes": r.bytes, "stores_size_unknown": r.stores_without_size});
    }
    json!({"key": key, "stores": r.stores, "bytes": r.bytes, "stores_size_unknown": r.stores_without_size})
}

/// A summary in any scope: the pool's from its one release (see [`disclosure`]), the
/// others' from the store.
pub fn summary(
    store: &dyn MapStore,
    scope: &Scope,
    filter: &StoreFilter,
    group_by: &[GroupField],
) -> Result<Vec<SummaryRow>, StoreError> {
    match scope {
        Scope::Pool { min_tenants } => {
            disclosure::check_request(filter, group_by)?;
            disclosure::release(store, *min_tenants)?.summary(group_by)
        }
        _ => {
            let filter = super::names::check_filter(store, scope, filter.clone())?;
            store.summary(scope, &filter, group_by)
        }
    }
}

/// Known storage cost per month of summary rows, each priced by its provider and store kind.
struct Cost {
    by_currency: BTreeMap<String, f64>,
    stores_price_unknown: u64,
    dates: BTreeSet<String>,
    statuses: BTreeSet<String>,
    sources: BTreeSet<String>,
}

impl Cost {
    fn new() -> Self {
        Self {
            by_currency: BTreeMap::new(),
            stores_price_unknown: 0,
            dates: BTreeSet::new(),
            statuses: BTreeSet::new(),
            sources: BTreeSet::new(),
        }
    }

    fn add(&mut self, provider: &str, kind: &str, stores: u64, bytes: i64, prices: &PriceTable) {
        match prices
            .storage_price(provider, kind)
            .and_then(|p| p.monthly_storage(bytes).map(|m| (p, m)))
        {
            Some((p, monthly)) => {
                *self.by_currency.entry(p.currency.clone()).or_default() += monthly;
                self.dates.insert(p.date.clone());
                self.statuses.insert(p.status.clone());
                self.sources.insert(p.source.clone());
            }
            None => self.stores_price_unknown += stores,
        }
    }

    /// (monthly, currency): null when no price was known or the currencies differ.
    fn total(&self) -> (Value, Value) {
        match self.by_currency.len() {
            0 => (Value::Null, Value::Null),
            1 => {
                let (c, v) = self.by_currency.iter().next().expect("one entry");
                (json!(round_cents(*v)), json!(c))
            }
            _ => (Value::Null, json!("mixed")),
        }
    }
}

/// The distinguishing end of a store's name: an ARN's resource (`db:payroll`,
/// `volume/vol-1`), an ARM id's last type and name (`disks/d1`); other names whole.
fn short_name(name: &str) -> &str {
    if name.starts_with("arn:") {
        return name.splitn(6, ':').nth(5).unwrap_or(name);
    }
    if name.starts_with("/subscriptions/") {
        let mut cut = name.rmatch_indices('/').map(|(i, _)| i);
        return match (cut.next(), cut.next()) {
            (Some(_), Some(i)) => &name[i + 1..],
            _ => name,
        };
    }
    name
}

/// Whether rows by kind hold object storage only (no other kind, nothing withheld): the
/// pool's release cannot join kinds to providers, so only then is it priced per provider.
fn only_object_storage(by_kind: &[SummaryRow]) -> bool {
    by_kind.iter().all(|r| {
        r.withheld_cells == 0
            && r.keys.first().is_some_and(|k| {
                landmeter_proto::v1::StoreKind::from_label(k)
                    .is_some_and(crate::map::kinds::is_object_storage)
            })
    })
}

fn round_cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn joined(set: &BTreeSet<String>) -> Value {
    if set.is_empty() {
        Value::Null
    } else {
        json!(set.iter().cloned().collect::<Vec<_>>().join("; "))
    }
}

/// `GET /v1/dashboard`: shares of stores and bytes by every dimension, the indicators and
/// the known storage cost, all from `summary` (so they equal `/v1/summary`'s numbers).
pub fn dashboard(
    store: &dyn MapStore,
    scope: &Scope,
    filter: &StoreFilter,
    prices: &PriceTable,
    now_ms: i64,
) -> Result<Value, StoreError> {
    const COLUMNS: [(&str, GroupField); 9] = [
        ("country", GroupField::Country),
        ("eu", GroupField::Eu),
        ("jurisdiction", GroupField::Jurisdiction),
        ("readable", GroupField::Readable),
        ("replication", GroupField::Replication),
        ("cloud_act", GroupField::CloudAct),
        ("custody", GroupField::Custody),
        ("classification", GroupField::Classification),
        ("process", GroupField::Process),
    ];
    const VIEWS: [(&str, ViewDimension); 3] = [
        ("provider_parent", ViewDimension::ProviderParent),
        ("sov2", ViewDimension::Sov2),
        ("sov3", ViewDimension::Sov3),
    ];
    // (total, rows per dimension in COLUMNS then VIEWS order, rows by provider and kind)
    let (total, tables, by_provider_kind) = match scope {
        Scope::Pool { min_tenants } => {
            disclosure::check_request(filter, &[])?;
            let release = disclosure::release(store, *min_tenants)?;
            let tables: Vec<Vec<SummaryRow>> = COLUMNS
                .iter()
                .map(|(_, f)| release.rows(Dimension::Field(*f)))
                .chain(VIEWS.iter().map(|(_, d)| release.rows(Dimension::View(*d))))
                .collect();
            // The release has one dimension a table: prices per kind cannot be joined to
            // providers there, so only an estate of object storage alone is priced (the
            // kind ""); any other kind, or a withheld kind, makes the whole cost unknown.
            let only_object_storage =
                only_object_storage(&release.rows(Dimension::Field(GroupField::Kind)));
            let mut by_provider = release.rows(Dimension::Field(GroupField::Provider));
            if !only_object_storage {
                for r in &mut by_provider {
                    r.withheld_cells = r.withheld_cells.max(1);
                }
            }
            (release.summary(&[])?, tables, by_provider)
        }
        _ => {
            let filter = &super::names::check_filter(store, scope, filter.clone())?;
            let mut tables = Vec::new();
            for (_, field) in COLUMNS {
                tables.push(store.summary(scope, filter, &[field])?);
            }
            tables.extend(store.summary_by_view(scope, filter, &VIEWS.map(|(_, d)| d))?);
            (
                store.summary(scope, filter, &[])?,
                tables,
                store.summary(scope, filter, &[GroupField::Provider, GroupField::Kind])?,
            )
        }
    };
    let names = COLUMNS
        .iter()
        .map(|(n, _)| *n)
        .chain(VIEWS.iter().map(|(n, _)| *n));
    let by_name: BTreeMap<&str, &Vec<SummaryRow>> = names.clone().zip(&tables).collect();
    let headline = headline_figures(&by_name);
    let coverage_banner = match scope {
        // The pool sees no scans (they name tenants and accounts).
        Scope::Pool { .. } => Value::Null,
        _ => incomplete_coverage(store, scope)?,
    };
    let mut dimensions = serde_json::Map::new();
    for (name, rows) in names.zip(tables) {
        let rendered: Vec<Value> = rows
            .iter()
            .map(|r| {
                let key = r.keys.first().cloned().unwrap_or_default();
                // Unclassified is the empty key; the UI names it.
                let key = if name == "classification" && key == crate::map::UNCLASSIFIED {
                    String::new()
                } else {
                    key
                };
                row_json(key, r)
            })
            .collect();
        dimensions.insert(name.into(), Value::Array(rendered));
    }
    let mut cost = Cost::new();
    for r in by_provider_kind {
        if r.withheld_cells > 0 {
            // Which providers the withheld row holds is not released: its price is unknown.
            cost.stores_price_unknown += r.stores;
            continue;
        }
        cost.add(
            r.keys.first().map_or("", String::as_str),
            r.keys.get(1).map_or("", String::as_str),
            r.stores,
            r.bytes,
            prices,
        );
    }
    let (monthly, currency) = cost.total();
    // The pool sees no total when fewer than k tenants are in it: withheld, not zero.
    let (stores, bytes, unknown) = match total.first() {
        Some(t) => (
            json!(t.stores),
            json!(t.bytes),
            json!(t.stores_without_size),
        ),
        None if matches!(scope, Scope::Pool { .. }) => (Value::Null, Value::Null, Value::Null),
        None => (json!(0), json!(0), json!(0)),
    };
    let min_tenants = match scope {
        Scope::Pool { min_tenants } => json!(min_tenants),
        _ => Value::Null,
    };
    Ok(json!({
        "scope": scope_name(scope),
        "pool_min_tenants": min_tenants,
        "stores": stores,
        "bytes": bytes,
        "stores_size_unknown": unknown,
        "headline": headline,
        "incomplete_coverage": coverage_banner,
        "dimensions": dimensions,
        "indicators_note": crate::map::indicators::NOTE,
        "costs": {
            "monthly_known": monthly,
            "currency": currency,
            "by_currency": cost.by_currency.iter().map(|(c, v)| json!({"currency": c, "monthly_known": round_cents(*v)})).collect::<Vec<_>>(),
            "stores_price_unknown": cost.stores_price_unknown,
            "price_date": joined(&cost.dates),
            "price_status": joined(&cost.statuses),
            "price_source": joined(&cost.sources),
        },
        "generated_at_ms": now_ms,
    }))
}

/// The board's five questions, first on the dashboard, each with its unknown share (never
/// folded into "no"): what share of the stores and known bytes is outside the EU/EEA
/// (data, replicas or keys), under the US CLOUD Act ("unclear" counted as exposed), under
/// keys the provider holds (or none), unclassified, and could not be read completely.
fn headline_figures(tables: &BTreeMap<&str, &Vec<SummaryRow>>) -> Value {
    type Test = fn(&str) -> bool;
    let figures: [(&str, &str, &str, Test, Test); 5] = [
        (
            "outside-eu",
            "Outside the EU/EEA (data, replicas or keys)",
            "jurisdiction",
            |k| k.starts_with("non-EU"),
            |k| k.starts_with("unknown"),
        ),
        (
            "cloud-act",
            "Under the US CLOUD Act (unclear: legal review)",
            "cloud_act",
            |k| matches!(k, "yes" | "unclear"),
            |k| !matches!(k, "yes" | "unclear" | "no"),
        ),
        (
            "provider-keys",
            "Keys held by the provider (or no encryption)",
            "custody",
            |k| matches!(k, "provider" | "none"),
            |k| matches!(k, "unknown" | "unspecified"),
        ),
        (
            "unclassified",
            "Unclassified",
            "classification",
            |k| k == crate::map::UNCLASSIFIED,
            |k| k == crate::map::UNKNOWN,
        ),
        (
            "not-read",
            "Could not be read completely (a dimension unknown)",
            "readable",
            |k| k == "incomplete",
            |_| false,
        ),
    ];
    let out: Vec<Value> = figures
        .iter()
        .map(|(id, label, table, yes, unknown)| {
            let rows = tables.get(table).copied().map_or(&[][..], Vec::as_slice);
            let mut total = [0i64; 2];
            let mut hit = [0i64; 3];
            let mut unk = [0i64; 2];
            let mut withheld = 0u64;
            for r in rows {
                let key = r.keys.first().map_or("", String::as_str);
                total[0] += r.stores as i64;
                total[1] += r.bytes;
                if r.withheld_cells > 0 {
                    withheld += r.stores;
                } else if yes(key) {
                    hit[0] += r.stores as i64;
                    hit[1] += r.bytes;
                    hit[2] += r.stores_without_size as i64;
                } else if unknown(key) {
                    unk[0] += r.stores as i64;
                    unk[1] += r.bytes;
                }
            }
            json!({
                "id": id, "label": label,
                "stores": hit[0], "bytes": hit[1], "stores_size_unknown": hit[2],
                "unknown_stores": unk[0], "unknown_bytes": unk[1],
                // Pool only: stores in values withheld under the k rule.
                "withheld_stores": withheld,
                "total_stores": total[0], "total_bytes": total[1],
            })
        })
        .collect();
    Value::Array(out)
}

/// The accounts whose latest scan was incomplete (or partly so), with why: the dashboard's
/// banner.
fn incomplete_coverage(store: &dyn MapStore, scope: &Scope) -> Result<Value, StoreError> {
    let scans = store.scan_coverage(scope, None, COVERAGE_SCANS)?;
    let mut latest: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    // Newest first: the first line of an account is its latest.
    for s in &scans {
        for a in &s.account_coverage {
            let key = (s.tenant.clone(), a.account.clone());
            if !seen.insert(key.clone()) {
                continue;
            }
            if !a.complete || !a.reason.is_empty() {
                latest.insert(
                    key,
                    json!({"tenant": s.tenant, "account": a.account, "scan_id": s.scan_id,
                           "complete": a.complete, "reason": a.reason}),
                );
            }
        }
    }
    Ok(Value::Array(latest.into_values().collect()))
}

/// The colour class of a store: outside the EU (data or replicas) beats a US parent.
fn store_jurisdiction(v: &StoreView) -> &'static str {
    if v.country.is_empty() {
        "unknown"
    } else if !v.eu || v.replicated_outside_eu {
        "non-eu"
    } else if matches!(v.cloud_act.as_str(), "yes" | "unclear") {
        "us-parent"
    } else {
        "eu"
    }
}

/// The worse of two jurisdictions, for nodes that stand for several stores.
fn worse(a: &'static str, b: &'static str) -> &'static str {
    let rank = |j: &str| match j {
        "non-eu" => 3,
        "us-parent" => 2,
        "unknown" => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

#[derive(Default)]
struct Node {
    kind: &'static str,
    label: String,
    jurisdiction: &'static str,
    custody: Option<String>,
    count: u64,
    bytes: i64,
    size_unknown: u64,
    /// The tenants of the stores under the node (a store id is unique within its tenant).
    tenants: BTreeSet<String>,
}

impl Node {
    fn add(&mut self, v: &StoreView) {
        self.count += 1;
        if !self.tenants.contains(&v.tenant) {
            self.tenants.insert(v.tenant.clone());
        }
        match v.bytes {
            Some(b) => self.bytes += b,
            None => self.size_unknown += 1,
        }
    }
}

/// `GET /v1/graph`: tenant -> account -> provider, account -> store (or store group) ->
/// region, store -> key, replication to the target's region. Above
/// [`GRAPH_AGGREGATE_ABOVE`] stores, stores become one group per (account, region,
/// custody) unless the group's id is in `expand`.
pub fn graph(stores: &[StoreView], expand: &BTreeSet<String>) -> Value {
    graph_of(stores, expand, stores.len() > GRAPH_AGGREGATE_ABOVE)
}

/// [`graph`] with the grouping chosen: `Some(true)` groups whatever the size, `Some(false)`
/// never, `None` above [`GRAPH_AGGREGATE_ABOVE`] stores.
pub fn graph_grouped(
    stores: &[StoreView],
    expand: &BTreeSet<String>,
    group: Option<bool>,
) -> Value {
    graph_of(
        stores,
        expand,
        group.unwrap_or(stores.len() > GRAPH_AGGREGATE_ABOVE),
    )
}

/// Every store as its own node, whatever the size: the export (`landmeter graph`).
pub fn graph_detailed(stores: &[StoreView]) -> Value {
    graph_of(stores, &BTreeSet::new(), false)
}

fn graph_of(stores: &[StoreView], expand: &BTreeSet<String>, aggregated: bool) -> Value {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut edges: BTreeSet<(String, String, &'static str)> = BTreeSet::new();
    fn upsert<'a>(
        nodes: &'a mut BTreeMap<String, Node>,
        id: &str,
        kind: &'static str,
        label: &str,
    ) -> &'a mut Node {
        nodes.entry(id.to_owned()).or_insert_with(|| Node {
            kind,
            label: label.to_owned(),
            jurisdiction: "eu",
            ..Node::default()
        })
    }
    for v in stores {
        let j = store_jurisdiction(v);
        let custody = v.custody().label();
        let tenant = format!("tenant:{}", v.tenant);
        let account = format!("account:{}/{}", v.tenant, v.account);
        let provider = format!("provider:{}", v.provider);
        let region = format!("region:{}/{}", v.provider, v.region);
        // Stores are grouped by kind too: 40 snapshots and 2 databases in one region are
        // different things to a reader.
        let kind = if v.kind.is_empty() {
            "store"
        } else {
            v.kind.as_str()
        };
        let group = format!(
            "group:{}/{}/{}/{kind}/{custody}",
            v.tenant, v.account, v.region
        );
        for (id, kind, label) in [
            (&tenant, "tenant", v.tenant.clone()),
            (&account, "account", v.account.clone()),
        ] {
            let n = upsert(&mut nodes, id, kind, &label);
            n.add(v);
            n.jurisdiction = worse(n.jurisdiction, j);
        }
        let p = upsert(
            &mut nodes,
            &provider,
            "provider",
            &if v.provider_parent.is_empty() {
                v.provider.clone()
            } else {
                format!("{} ({})", v.provider, v.provider_parent)
            },
        );
        p.add(v);
        p.jurisdiction = match v.cloud_act.as_str() {
            "yes" | "unclear" => "us-parent",
            "no" => "eu",
            _ => "unknown",
        };
        let r = upsert(
            &mut nodes,
            &region,
            "region",
            &format!(
                "{} ({})",
                v.region,
                if v.country.is_empty() {
                    "?"
                } else {
                    &v.country
                }
            ),
        );
        r.add(v);
        r.jurisdiction = match (v.country.is_empty(), v.eu) {
            (true, _) => "unknown",
            (false, true) => "eu",
            (false, false) => "non-eu",
        };
        edges.insert((tenant.clone(), account.clone(), "owns"));
        edges.insert((account.clone(), provider.clone(), "hosted-by"));
        let holder = if aggregated && !expand.contains(&group) {
            let g = upsert(&mut nodes, &group, "store-group", "");
            if g.count == 0 {
                g.custody = Some(custody.to_owned());
            }
            g.add(v);
            g.jurisdiction = worse(g.jurisdiction, j);
            g.label = format!("{} × {kind} in {} ({custody})", g.count, v.region);
            group
        } else {
            let id = format!("store:{}", v.id);
            let s = upsert(&mut nodes, &id, "store", short_name(&v.name));
            s.add(v);
            s.jurisdiction = j;
            s.custody = Some(custody.to_owned());
            if !v.key_arn.is_empty() {
                let key = format!("key:{}", v.key_arn);
                let k = upsert(&mut nodes, &key, "key", &v.key_arn);
                k.add(v);
                k.custody = Some(custody.to_owned());
                k.jurisdiction = worse(k.jurisdiction, j);
                if !v.key_store_id.is_empty() {
                    let ks = format!("key-store:{}", v.key_store_id);
                    let n = upsert(&mut nodes, &ks, "key-store", &v.key_store_id);
                    n.add(v);
                    n.custody = Some(custody.to_owned());
                    n.jurisdiction = worse(n.jurisdiction, j);
                    edges.insert((key.clone(), ks, "held-in"));
                }
                edges.insert((id.clone(), key, "encrypted-by"));
            }
            id
        };
        edges.insert((account.clone(), holder.clone(), "contains"));
        edges.insert((holder.clone(), region.clone(), "located-in"));
        // A geo-redundant storage account's copy is one edge, from the account: its
        // containers are copied with it and draw none of their own.
        let copied_with_account = v.kind == "container"
            && v.replication.iter().all(|t| {
                v.name
                    .split_once('/')
                    .is_some_and(|(acct, _)| acct == t.bucket)
            });
        for t in v.replication.iter().filter(|_| !copied_with_account) {
            let target = format!("region:{}/{}", v.provider, t.region);
            let n = upsert(
                &mut nodes,
                &target,
                "region",
                &format!(
                    "{} ({})",
                    if t.region.is_empty() { "?" } else { &t.region },
                    if t.country.is_empty() {
                        "?"
                    } else {
                        &t.country
                    }
                ),
            );
            n.jurisdiction = match (t.country.is_empty(), t.eu) {
                (true, _) => "unknown",
                (false, true) => "eu",
                (false, false) => "non-eu",
            };
            edges.insert((holder.clone(), target, "replicates-to"));
        }
    }
    json!({
        "nodes": nodes.iter().map(|(id, n)| json!({
            "id": id, "kind": n.kind, "label": n.label, "jurisdiction": n.jurisdiction,
            "custody": n.custody, "count": n.count,
            // Known bytes; null when no store under the node has a known size.
            "bytes": if n.count > n.size_unknown { json!(n.bytes) } else { Value::Null },
            "stores_size_unknown": n.size_unknown,
            // A store node opens its store within this tenant; null when the id is shared.
            "tenant": if n.tenants.len() == 1 { json!(n.tenants.first()) } else { Value::Null },
        })).collect::<Vec<_>>(),
        "edges": edges.iter().map(|(from, to, kind)| json!({"from": from, "to": to, "kind": kind})).collect::<Vec<_>>(),
        "aggregated": aggregated,
    })
}

/// `GET /v1/coverage`: the newest scans with their accounts' completeness and gaps.
pub fn coverage(
    store: &dyn MapStore,
    scope: &Scope,
    tenant: Option<&str>,
) -> Result<Value, StoreError> {
    let scans = store.scan_coverage(scope, tenant, COVERAGE_SCANS)?;
    Ok(json!({"scans": scans.iter().map(|s| json!({
        "tenant": s.tenant, "scan_id": s.scan_id, "agent": s.agent, "provider": s.provider,
        "accounts": s.accounts, "started_at_ms": s.started_at_ms, "ended_at_ms": s.ended_at_ms,
        "complete": s.complete,
        "coverage": s.account_coverage.iter().map(|a| json!({"account": a.account, "complete": a.complete,
            "stores_seen": a.stores_seen, "gaps": a.gaps, "reason": a.reason})).collect::<Vec<_>>(),
        "gaps": s.gaps.iter().map(|g| json!({"account": g.account, "region": g.region, "call": g.call,
            "subject": g.subject, "kind": g.kind, "code": g.code, "message": g.message})).collect::<Vec<_>>(),
        "gaps_truncated": s.gaps_truncated,
    })).collect::<Vec<_>>()}))
}

/// Account and region settings, interpreted: the rows of `ListSettings` and `/v1/settings`.
pub fn settings_rows(
    store: &dyn MapStore,
    scope: &Scope,
    tenant: Option<&str>,
) -> Result<Vec<landmeter_proto::v1::AccountSetting>, StoreError> {
    let facts = store.settings(scope, tenant)?;
    Ok(crate::map::settings::interpret(
        facts.iter().map(|f| (f.tenant.as_str(), &f.fact)),
    ))
}

/// `GET /v1/settings`: account and region settings (EBS encryption by default and its key),
/// with `unknown` counting the settings whose read failed.
pub fn settings(store: &dyn MapStore, scope: &Scope) -> Result<Value, StoreError> {
    let rows = settings_rows(store, scope, None)?;
    let unknown = rows.iter().filter(|r| !r.known).count();
    let concerns = rows.iter().filter(|r| r.concern).count();
    Ok(json!({
        "settings": rows.iter().map(|r| json!({
            "tenant": r.tenant, "account": r.account, "region": r.region, "name": r.name,
            "known": r.known, "value": if r.known { json!(r.value) } else { Value::Null },
            "unknown_reason": r.unknown_reason, "meaning": r.meaning, "concern": r.concern,
            "api_call": r.api_call, "observed_at_ms": r.observed_at_ms,
        })).collect::<Vec<_>>(),
        "unknown": unknown,
        "concerns": concerns,
    }))
}

/// What `/v1/costs` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostsBy {
    Provider,
    Account,
    Tenant,
    /// Store kind (database, volume, ...): each kind has its own price.
    Kind,
    Store,
}

impl CostsBy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "provider" => Some(CostsBy::Provider),
            "account" => Some(CostsBy::Account),
            "tenant" => Some(CostsBy::Tenant),
            "kind" => Some(CostsBy::Kind),
            "store" => Some(CostsBy::Store),
            _ => None,
        }
    }
}

/// `GET /v1/costs`: monthly storage cost at list price per row; unknown prices are null and
/// counted in `stores_price_unknown`, unknown sizes in `stores_size_unknown`.
pub fn costs(
    store: &dyn MapStore,
    scope: &Scope,
    filter: &StoreFilter,
    by: CostsBy,
    prices: &PriceTable,
) -> Result<Value, StoreError> {
    let filter = &super::names::check_filter(store, scope, filter.clone())?;
    let parts: Vec<CostPart> = match by {
        CostsBy::Store => {
            return Ok(costs_of(
                &crate::store::all_stores(store, scope, filter)?,
                by,
                prices,
            ));
        }
        CostsBy::Provider if matches!(scope, Scope::Pool { .. }) => {
            // The withheld row's providers are not released: its price is unknown. The pool
            // releases one dimension a table, so each provider is priced as object storage
            // only when no other kind is released (else its price is unknown: no kind).
            let only_object_storage =
                only_object_storage(&summary(store, scope, filter, &[GroupField::Kind])?);
            summary(store, scope, filter, &[GroupField::Provider])?
                .into_iter()
                .map(|r| {
                    let key = r
                        .keys
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "(withheld)".into());
                    let kind = if only_object_storage {
                        "bucket"
                    } else {
                        "(not released)"
                    };
                    (
                        key.clone(),
                        key,
                        kind.to_owned(),
                        r.stores,
                        r.bytes,
                        r.stores_without_size,
                    )
                })
                .collect()
        }
        _ => {
            // The row's key first, then the provider and the kind (whose price applies).
            let group = match by {
                CostsBy::Provider => vec![GroupField::Provider, GroupField::Kind],
                CostsBy::Account => {
                    vec![GroupField::Account, GroupField::Provider, GroupField::Kind]
                }
                CostsBy::Kind => vec![GroupField::Kind, GroupField::Provider],
                _ => vec![GroupField::Tenant, GroupField::Provider, GroupField::Kind],
            };
            store
                .summary(scope, filter, &group)?
                .into_iter()
                .map(|r| {
                    let key = r.keys.first().cloned().unwrap_or_default();
                    let (provider, kind) = match (by, r.keys.as_slice()) {
                        (CostsBy::Kind, [kind, provider]) => (provider.clone(), kind.clone()),
                        (_, [.., provider, kind]) => (provider.clone(), kind.clone()),
                        _ => Default::default(),
                    };
                    (
                        key,
                        provider,
                        kind,
                        r.stores,
                        r.bytes,
                        r.stores_without_size,
                    )
                })
                .collect()
        }
    };
    Ok(cost_rows(parts, prices))
}

/// (key, provider, kind, stores, known bytes, stores of unknown size)
type CostPart = (String, String, String, u64, i64, u64);

/// The same rows as [`costs`], from stores already listed (the CLI lists them over gRPC).
pub fn costs_of(stores: &[StoreView], by: CostsBy, prices: &PriceTable) -> Value {
    let parts = stores
        .iter()
        .map(|v| {
            let key = match by {
                CostsBy::Provider => &v.provider,
                CostsBy::Account => &v.account,
                CostsBy::Tenant => &v.tenant,
                CostsBy::Kind => &v.kind,
                CostsBy::Store => &v.id,
            };
            (
                key.clone(),
                v.provider.clone(),
                v.kind.clone(),
                1,
                v.bytes.unwrap_or(0),
                u64::from(v.size_unknown()),
            )
        })
        .collect();
    cost_rows(parts, prices)
}

fn cost_rows(parts: Vec<CostPart>, prices: &PriceTable) -> Value {
    let mut rows: BTreeMap<String, (Cost, u64, i64, u64, BTreeSet<String>)> = BTreeMap::new();
    for (key, provider, kind, stores, bytes, unknown) in parts {
        let row = rows
            .entry(key)
            .or_insert_with(|| (Cost::new(), 0, 0, 0, BTreeSet::new()));
        row.0.add(&provider, &kind, stores, bytes, prices);
        row.1 += stores;
        row.2 += bytes;
        row.3 += unknown;
        row.4.insert(provider);
    }
    json!({"rows": rows.iter().map(|(key, (cost, stores, bytes, unknown, providers))| {
        let (monthly, currency) = cost.total();
        json!({
            "key": key, "providers": providers, "stores": stores, "bytes": bytes,
            "stores_size_unknown": unknown, "monthly": monthly, "currency": currency,
            "price_date": joined(&cost.dates), "price_status": joined(&cost.statuses),
            "price_source": joined(&cost.sources), "stores_price_unknown": cost.stores_price_unknown,
        })
    }).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::Custody;

    fn view(
        tenant: &str,
        account: &str,
        name: &str,
        region: &str,
        bytes: Option<i64>,
    ) -> StoreView {
        StoreView {
            id: format!("aws:{account}:{name}"),
            tenant: tenant.into(),
            provider: "aws".into(),
            cloud_act: "yes".into(),
            account: account.into(),
            name: name.into(),
            region: region.into(),
            country: "DE".into(),
            eu: true,
            custody: Custody::Provider as i32,
            bytes,
            ..StoreView::default()
        }
    }

    #[test]
    fn the_graph_aggregates_large_sets_and_expands_a_group() {
        let few: Vec<StoreView> = (0..3)
            .map(|i| view("t", "a", &format!("b{i}"), "eu-central-1", Some(10)))
            .collect();
        let g = graph(&few, &BTreeSet::new());
        assert_eq!(g["aggregated"], false);
        // tenant, account, provider, region, 3 stores
        assert_eq!(g["nodes"].as_array().expect("nodes").len(), 7);
        assert!(
            g["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .any(|n| n["id"] == "store:aws:a:b0" && n["jurisdiction"] == "us-parent")
        );

        let mut many: Vec<StoreView> = (0..250)
            .map(|i| view("t", "a", &format!("b{i}"), "eu-central-1", Some(1)))
            .collect();
        many[0].bytes = None;
        let g = graph(&many, &BTreeSet::new());
        assert_eq!(g["aggregated"], true);
        let nodes = g["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 5, "{nodes:?}");
        let group = nodes
            .iter()
            .find(|n| n["kind"] == "store-group")
            .expect("group");
        assert_eq!(group["id"], "group:t/a/eu-central-1/store/provider");
        assert_eq!(
            (group["count"].as_u64(), group["bytes"].as_i64()),
            (Some(250), Some(249))
        );
        assert_eq!(group["stores_size_unknown"], 1);
        let expand = BTreeSet::from(["group:t/a/eu-central-1/store/provider".to_owned()]);
        let g = graph(&many, &expand);
        assert_eq!(g["nodes"].as_array().expect("nodes").len(), 4 + 250);
        // The reader's choice wins over the size: a small map grouped, a big one not.
        let g = graph_grouped(&few, &BTreeSet::new(), Some(true));
        assert_eq!(
            (
                g["aggregated"].as_bool(),
                g["nodes"].as_array().map(Vec::len)
            ),
            (Some(true), Some(5))
        );
        let g = graph_grouped(&many, &BTreeSet::new(), Some(false));
        assert_eq!(g["nodes"].as_array().map(Vec::len), Some(4 + 250));
    }

    #[test]
    fn keys_key_stores_and_replicas_are_nodes_with_edges() {
        let mut v = view("t", "a", "hsm", "eu-central-1", Some(5));
        v.custody = Custody::Hyok as i32;
        v.key_arn = "arn:aws:kms:eu-central-1:1:key/k".into();
        v.key_store_id = "cks-1".into();
        v.replication = vec![landmeter_proto::v1::ReplicationTarget {
            bucket: "copy".into(),
            region: "us-east-1".into(),
            country: "US".into(),
            ..Default::default()
        }];
        v.replicated_outside_eu = true;
        let g = graph(&[v], &BTreeSet::new());
        let has_edge = |from: &str, to: &str, kind: &str| {
            g["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .any(|e| e["from"] == from && e["to"] == to && e["kind"] == kind)
        };
        assert!(has_edge(
            "store:aws:a:hsm",
            "key:arn:aws:kms:eu-central-1:1:key/k",
            "encrypted-by"
        ));
        assert!(has_edge(
            "key:arn:aws:kms:eu-central-1:1:key/k",
            "key-store:cks-1",
            "held-in"
        ));
        assert!(has_edge(
            "store:aws:a:hsm",
            "region:aws/us-east-1",
            "replicates-to"
        ));
        let node = |id: &str| {
            g["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .find(|n| n["id"] == id)
                .cloned()
                .expect("node")
        };
        assert_eq!(node("key-store:cks-1")["kind"], "key-store");
        assert_eq!(node("key-store:cks-1")["custody"], "hyok");
        assert_eq!(node("region:aws/us-east-1")["jurisdiction"], "non-eu");
        assert_eq!(node("store:aws:a:hsm")["jurisdiction"], "non-eu");
        // The node opens its store within its tenant.
        assert_eq!(node("store:aws:a:hsm")["tenant"], "t");
    }

    #[test]
    fn a_geo_redundant_account_is_one_replication_edge_not_one_per_container() {
        let grs = |name: &str, kind: &str| {
            let mut v = view("t", "sub", name, "westeurope", Some(1));
            v.kind = kind.into();
            v.replication.push(landmeter_proto::v1::ReplicationTarget {
                bucket: "st".into(),
                region: "northeurope".into(),
                country: "IE".into(),
                eu: true,
                ..Default::default()
            });
            v
        };
        let g = graph(
            &[
                grs("st", "storage-account"),
                grs("st/c1", "container"),
                grs("st/c2", "container"),
            ],
            &BTreeSet::new(),
        );
        let replicas: Vec<&Value> = g["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .filter(|e| e["kind"] == "replicates-to")
            .collect();
        assert_eq!(replicas.len(), 1, "{replicas:?}");
        assert_eq!(replicas[0]["from"], "store:aws:sub:st");
    }

    #[test]
    fn a_store_node_two_tenants_share_names_no_tenant() {
        let g = graph(
            &[
                view("t1", "a", "b", "eu-west-1", Some(1)),
                view("t2", "a", "b", "eu-west-1", Some(1)),
            ],
            &BTreeSet::new(),
        );
        let node = g["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["id"] == "store:aws:a:b")
            .cloned()
            .expect("node");
        assert_eq!(
            (node["count"].as_u64(), &node["tenant"]),
            (Some(2), &Value::Null)
        );
    }

    #[test]
    fn store_labels_keep_the_distinguishing_end_of_long_ids() {
        assert_eq!(
            short_name("arn:aws:rds:eu-west-1:1:db:payroll"),
            "db:payroll"
        );
        assert_eq!(
            short_name("arn:aws:ec2:eu-west-1:1:volume/vol-1"),
            "volume/vol-1"
        );
        assert_eq!(
            short_name("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/disks/d1"),
            "disks/d1"
        );
        assert_eq!(short_name("lm-ie-aes256"), "lm-ie-aes256");
    }

    #[test]
    fn narrowing_never_widens() {
        assert!(matches!(narrow(&Scope::AllTenants, Some("x")), Ok(Scope::Tenant(t)) if t == "x"));
        assert!(
            matches!(narrow(&Scope::Tenant("a".into()), Some("a")), Ok(Scope::Tenant(t)) if t == "a")
        );
        assert!(narrow(&Scope::Tenant("a".into()), Some("b")).is_err());
        assert!(narrow(&Scope::Pool { min_tenants: 3 }, Some("b")).is_err());
        assert!(matches!(
            narrow(&Scope::Pool { min_tenants: 3 }, None),
            Ok(Scope::Pool { .. })
        ));
    }

    /// Costs by kind: each kind at its own price; a kind without a price is counted as
    /// unknown in its row, not priced as object storage.
    #[test]
    fn costs_by_kind_price_each_kind_and_keep_unpriced_kinds_unknown() {
        let prices = PriceTable::builtin().expect("prices");
        let mut db = view("t", "1", "db", "eu-west-1", Some(10_000_000_000));
        db.kind = "database".into();
        let mut bucket = view("t", "1", "b", "eu-west-1", Some(20_000_000_000));
        bucket.kind = "bucket".into();
        let mut disk = view("t", "1", "d", "westeurope", Some(10_000_000_000));
        disk.kind = "volume".into();
        disk.provider = "microsoft-azure".into();
        let out = costs_of(&[db, bucket, disk], CostsBy::Kind, &prices);
        let rows = out["rows"].as_array().expect("rows");
        let row = |k: &str| rows.iter().find(|r| r["key"] == k).cloned().expect(k);
        // 10 GB x 0.115 USD (RDS gp3) and 20 GB x 0.0245 USD (S3 Standard).
        assert_eq!(row("database")["monthly"], json!(1.15));
        assert_eq!(row("bucket")["monthly"], json!(0.49));
        let volume = row("volume");
        assert_eq!(volume["monthly"], Value::Null, "unknown, never zero");
        assert_eq!(volume["stores_price_unknown"], json!(1));
    }
}
