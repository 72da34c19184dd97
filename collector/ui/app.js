// landmeter web UI: one page, hash routes, no framework. Every text from the API goes
// through text nodes and attributes, never parsed as HTML, so data cannot become markup.
import { legend as graphLegend, renderGraph } from "/ui/assets/graph.js";

// ---- DOM helpers --------------------------------------------------------------------------

/** Element with attributes (strings; `on*` functions become listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const view = () => document.getElementById("view");

function show(...children) {
  const v = view();
  v.replaceChildren();
  append(v, children);
}

const UNKNOWN = "unknown";

// ---- language -----------------------------------------------------------------------------
// The words come from the collector's Fluent catalogues (collector/locales/*/ui.ftl), served
// as JSON. The choice is remembered in localStorage, else the collector's configured language.

const LANG_KEY = "landmeter.lang";
let messages = {};

/** The message `key` in the chosen language, else the English `fallback`. */
export function t(key, fallback) {
  return messages[key] || fallback;
}

function storedLang() {
  try { return localStorage.getItem(LANG_KEY); } catch { return null; }
}

async function loadLanguage(lang) {
  const r = await fetch(`/ui/locales/${encodeURIComponent(lang || "default")}.json`, { credentials: "same-origin" });
  if (!r.ok) return;
  const cat = await r.json();
  messages = cat.messages || {};
  document.documentElement.lang = cat.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    if (messages[el.dataset.i18n]) el.textContent = messages[el.dataset.i18n];
  }
  for (const el of document.querySelectorAll("[data-i18n-label]")) {
    if (messages[el.dataset.i18nLabel]) el.setAttribute("aria-label", messages[el.dataset.i18nLabel]);
  }
  document.getElementById("lang").value = cat.lang;
}

/** A figure that may be unknown: never rendered as 0. `data-value` keeps the raw number. */
function num(value, testid, format = (x) => String(x)) {
  const known = value !== null && value !== undefined;
  return h("span", { "data-testid": testid, "data-value": known ? String(value) : UNKNOWN, class: known ? "" : "muted" },
    known ? format(value) : UNKNOWN);
}

export function bytes(b) {
  if (b === null || b === undefined) return UNKNOWN;
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let v = Number(b), i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function when(ms) {
  if (!ms) return "";
  return new Date(Number(ms)).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function pct(part, whole) {
  if (!whole) return "–";
  return `${((100 * part) / whole).toFixed(1)} %`;
}

/** A stable test id fragment for a key (empty keys are "unclassified"/"none"). */
function slug(s) {
  return String(s === "" ? "(none)" : s).replace(/[^A-Za-z0-9_.:-]/g, "_");
}

// ---- API ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } });
  if (r.status === 401) { showLogin(); throw new ApiError(401, "signed out"); }
  const text = await r.text();
  let body;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!r.ok) throw new ApiError(r.status, (body && body.error) || `${r.status} ${r.statusText}`);
  return body;
}

function errorBox(e) {
  return h("p", { class: "error", role: "alert", "data-testid": "error" }, `${t("ui-could-not-load", "Could not load:")} ${e.message}`);
}

// ---- routing ------------------------------------------------------------------------------

/** `#/stores?country=DE` -> { name: "stores", arg: "", params }. */
function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?");
  const [name, ...rest] = path.split("/");
  return { name: name || "dashboard", arg: rest.map(decodeURIComponent).join("/"), params: new URLSearchParams(query) };
}

function go(name, params) {
  const q = params && [...params].length ? `?${params}` : "";
  location.hash = `#/${name}${q}`;
}

let leaveView = () => {};

async function render() {
  leaveView();
  leaveView = () => {};
  document.body.dataset.ready = "";
  const r = route();
  for (const a of document.querySelectorAll("#nav a")) {
    const current = a.dataset.view === r.name || (r.name === "store" && a.dataset.view === "stores");
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const views = { dashboard, map, stores, store, changes, coverage, exit };
  const fn = views[r.name] || dashboard;
  show(h("p", { class: "muted" }, t("ui-loading", "Loading…")));
  try {
    await fn(r);
    signedIn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    show(errorBox(e));
  }
  announceView();
  document.body.dataset.ready = r.name;
}

/** A title per view (the heading's own text, without its badges) and focus on the heading,
 * so a screen reader announces where a navigation landed (WCAG 2.4.2, 2.4.3). */
function announceView() {
  const h1 = view().querySelector("h1");
  const own = h1 ? [...h1.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join("").trim() : "";
  const name = own || (h1 && h1.textContent.trim()) || (view().querySelector("[role=alert]") ? "Error" : "");
  document.title = name ? `${name} — landmeter` : "landmeter";
  if (h1) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); } else document.getElementById("main").focus({ preventScroll: true });
  fitTables();
}

/** Wide tables scroll inside their own box, never the page (WCAG 1.4.10 at 390 px), and a box
 * that scrolls can be reached and scrolled from the keyboard (WCAG 2.1.1). */
function fitTables() {
  for (const t of view().querySelectorAll("table")) {
    if (t.parentElement.closest("table, .scroll, .card")) continue;
    const box = h("div", { class: "scroll" });
    t.replaceWith(box);
    box.append(t);
  }
  for (const box of view().querySelectorAll(".scroll, .card")) {
    const scrolls = box.scrollWidth > box.clientWidth + 1;
    if (scrolls && !box.hasAttribute("tabindex")) {
      const heading = box.querySelector("h2") || box.closest(".card")?.querySelector("h2");
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", heading ? heading.textContent : "table");
      box.dataset.scrolls = "";
    } else if (!scrolls && "scrolls" in box.dataset) {
      for (const a of ["tabindex", "role", "aria-label", "data-scrolls"]) box.removeAttribute(a);
    }
  }
}
addEventListener("resize", () => { clearTimeout(fitTables.timer); fitTables.timer = setTimeout(fitTables, 200); });

// ---- filters (the CLI's store filters, same query parameters) ------------------------------

const CUSTODY = ["unknown", "none", "provider", "customer-managed", "byok", "dedicated-hsm", "hyok"];
const FILTERS = [
  ["tenant", "Tenant"], ["provider", "Provider"], ["account", "Account"], ["region", "Region"],
  // Unknown is a value of its own: true/false select known values only.
  ["country", "Country (DE,NL)"], ["eu", "EU/EEA", ["", "true", "false", "unknown"]],
  ["cloud_act", "CLOUD Act", ["", "true", "false", "unknown"]],
  ["replicated_outside_eu", "Replicated outside EU", ["", "true", "false", "unknown"]],
  ["custody_at_least", "Custody at least", ["", ...CUSTODY]],
  ["custody_at_most", "Custody at most", ["", ...CUSTODY]],
  ["classification", "Classification"], ["process", "Process"],
];

function filterParams(params) {
  const out = new URLSearchParams();
  for (const [k] of FILTERS) { const v = params.get(k); if (v) out.set(k, v); }
  return out;
}

/** The filter bar; `keep` names parameters of the view itself that a new filter keeps. */
function filterForm(name, params, extra = [], keep = []) {
  const fields = FILTERS.map(([k, label, options]) => {
    const id = `f-${k}`;
    const value = params.get(k) || "";
    // Choices, not free text: the names the scope holds (a misspelt name would answer 0).
    const input = options
      ? h("select", { id, name: k }, options.map((o) => h("option", { value: o, selected: o === value }, o || "any")))
      : h("input", { id, name: k, value, autocomplete: "off", list: `names-${k}` });
    return h("label", { for: id }, label, input);
  });
  const lists = FILTERS.filter(([, , options]) => !options).map(([k]) => h("datalist", { id: `names-${k}` }));
  api("/v1/names").then((names) => {
    for (const [k] of FILTERS) {
      const list = document.getElementById(`names-${k}`);
      if (list && names && names[k]) list.replaceChildren(...names[k].map((v) => h("option", { value: v })));
    }
  }).catch(() => {});
  const form = h("form", { class: "filters", "data-testid": "filters" }, fields, lists, extra,
    h("button", { type: "submit", class: "primary" }, "Apply"),
    h("button", { type: "button", onclick: () => go(name) }, "Clear"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const k of keep) if (params.get(k)) p.set(k, params.get(k));
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    go(name, p);
  });
  return form;
}

// ---- dashboard ----------------------------------------------------------------------------

const DIMENSIONS = [
  ["country", "Country"], ["eu", "EU / non-EU (data region)"],
  ["jurisdiction", "Jurisdiction (data, replicas and keys)"],
  ["replication", "Copies outside the EU/EEA"], ["readable", "Read completely"],
  ["provider_parent", "Provider legal parent"],
  ["cloud_act", "CLOUD Act exposure"], ["custody", "Key custody level"],
  ["classification", "Classification"], ["process", "Process"],
  ["sov2", "SOV-2 indicator"], ["sov3", "SOV-3 indicator"],
];

function keyLabel(dim, key) {
  if (key === "" || key === null || key === undefined) return dim === "classification" ? "(unclassified)" : "(none)";
  // Unknown is counted apart, never folded into "no".
  if (key === "unknown") return "unknown (could not be read or placed)";
  if (dim === "replication") return key === "outside-EU" ? "a copy outside the EU/EEA" : key === "EU-or-none" ? "copies in the EU/EEA, or none" : key;
  if (dim === "eu") return key === "true" ? "EU/EEA" : key === "false" ? "outside EU/EEA" : key;
  if (dim === "cloud_act") return key === "true" ? "under the CLOUD Act" : key === "false" ? "not under the CLOUD Act" : key;
  return key;
}

async function dashboard(r) {
  const fp = filterParams(r.params);
  const [d, costs] = await Promise.all([
    api(`/v1/dashboard?${fp}`),
    api(`/v1/costs?by=provider&${fp}`).catch((e) => ({ error: e.message })),
  ]);
  const figures = h("div", { class: "figures" },
    figure("Stores", num(d.stores, "dash-stores")),
    figure("Bytes (known sizes)", num(d.bytes, "dash-bytes", bytes)),
    figure("Stores of unknown size", num(d.stores_size_unknown, "dash-stores-size-unknown")),
    figure("Monthly storage cost (known prices)", num(d.costs && d.costs.monthly_known, "dash-cost-monthly",
      (x) => `${Number(x).toFixed(2)} ${d.costs.currency || ""}`)),
    figure("Stores without a price", num(d.costs && d.costs.stores_price_unknown, "dash-cost-price-unknown")));
  const cards = DIMENSIONS.map(([dim, title]) => {
    const rows = (d.dimensions && d.dimensions[dim]) || [];
    const indicator = dim === "sov2" || dim === "sov3";
    return h("section", { class: "card", "data-testid": `dim-${dim}` },
      h("h2", {}, title),
      indicator ? h("p", { class: "muted" }, "indicator computed from observed facts, not an official SEAL") : null,
      rows.length === 0 ? h("p", { class: "muted" }, "no rows in this scope") :
        h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "value"), h("th", { class: "num" }, "stores"), h("th", {}, "share of stores"),
            h("th", { class: "num" }, "bytes"), h("th", {}, "share of bytes"), h("th", { class: "num", title: "stores whose size is unknown (not counted in bytes)" }, "size unknown"))),
          h("tbody", {}, rows.map((row) => {
            const id = row.withheld_cells ? `dim-${dim}-withheld` : `dim-${dim}-${slug(row.key)}`;
            const share = d.stores ? (100 * row.stores) / d.stores : 0;
            const bar = h("span", { class: "bar" });
            bar.style.width = `${Math.max(1, Math.round(share))}px`;
            return h("tr", { "data-testid": id },
              h("td", {}, row.withheld_cells
                ? `withheld: ${row.withheld_cells} values (pool rule: each figure covers at least ${d.pool_min_tenants} tenants)`
                : keyLabel(dim, row.key)),
              h("td", { class: "num" }, num(row.stores, `${id}-stores`)),
              h("td", { class: "share" }, bar, pct(row.stores, d.stores)),
              h("td", { class: "num" }, num(row.bytes, `${id}-bytes`,
                (b) => (b === 0 && row.stores_size_unknown === row.stores ? UNKNOWN : bytes(b)))),
              h("td", { class: "share" }, pct(row.bytes, d.bytes)),
              h("td", { class: "num" }, num(row.stores_size_unknown, `${id}-size-unknown`)));
          }))));
  });
  // The board's five questions first, each with its unknown share.
  const headline = h("div", { class: "figures headline", "data-testid": "headline" },
    (d.headline || []).map((f) => {
      const id = `headline-${f.id}`;
      const share = f.total_bytes > 0 ? pct(f.bytes, f.total_bytes) : "—";
      return h("div", { class: "figure", "data-testid": id },
        h("span", { class: "v", "data-testid": `${id}-bytes-share`, title: "share of the known bytes" }, share),
        h("span", { class: "k" }, f.label),
        h("span", { class: "muted" },
          "of known bytes; ", num(f.stores, `${id}-stores`), ` of ${f.total_stores} stores; `,
          "unknown: ", num(f.unknown_stores, `${id}-unknown-stores`), " stores",
          f.withheld_stores ? `; withheld (pool rule): ${f.withheld_stores}` : ""));
    }));
  const banner = (d.incomplete_coverage || []).length === 0 ? null :
    h("div", { class: "card warn", role: "status", "data-testid": "coverage-banner" },
      h("b", {}, t("ui-incomplete-coverage", "Incomplete coverage:"), " "), t("ui-incomplete-coverage-note", "figures leave out what could not be read."), " ",
      h("ul", {}, d.incomplete_coverage.map((c) => h("li", {}, `${c.tenant} / ${c.account}: ${c.reason || "incomplete"}`))),
      h("a", { href: "#/coverage" }, "Coverage"));
  show(
    h("h1", {}, t("ui-title-dashboard", "Sovereignty dashboard"), " ", h("span", { class: "badge", "data-testid": "dash-scope" }, d.scope)),
    banner,
    headline,
    filterForm("dashboard", r.params),
    h("p", { class: "note", "data-testid": "indicators-note" }, d.indicators_note ||
      "SOV-2/SOV-3: indicator computed from observed facts, not an official SEAL."),
    figures,
    costTable(costs),
    h("div", { class: "cards" }, cards),
    h("p", { class: "muted" }, `Generated ${when(d.generated_at_ms)}. Shares of bytes count known sizes only; stores of unknown size are listed, not counted as 0.`));
}

function figure(label, value) {
  return h("div", { class: "figure" }, h("span", { class: "v" }, value), h("span", { class: "k" }, label));
}

function costTable(costs) {
  if (!costs || costs.error) return h("p", { class: "muted" }, `Costs unavailable: ${(costs && costs.error) || "no answer"}`);
  const rows = costs.rows || [];
  return h("section", { class: "card", "data-testid": "costs" },
    h("h2", {}, "Monthly storage cost by provider"),
    h("table", {},
      h("thead", {}, h("tr", {}, ["provider", "stores", "bytes", "monthly", "price date", "status", "source", "stores without price"]
        .map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((row) => h("tr", {},
        h("td", {}, row.key), h("td", { class: "num" }, row.stores), h("td", { class: "num" }, bytes(row.bytes)),
        h("td", { class: "num" }, num(row.monthly, `cost-${slug(row.key)}-monthly`, (x) => `${Number(x).toFixed(2)} ${row.currency || ""}`)),
        h("td", {}, row.price_date || UNKNOWN), h("td", {}, row.price_status || ""), h("td", {}, row.price_source || ""),
        h("td", { class: "num" }, row.stores_price_unknown))))));
}

// ---- map ----------------------------------------------------------------------------------

async function map(r) {
  const fp = filterParams(r.params);
  const expand = (r.params.get("expand") || "").split(",").filter(Boolean);
  const group = r.params.get("group") || "";
  const q = new URLSearchParams(fp);
  if (expand.length) q.set("expand", expand.join(","));
  if (group) q.set("group", group);
  const g = await api(`/v1/graph?${q}`);
  // Bundles (an account's groups, when the map is too big) open here, groups at the collector.
  const open = (r.params.get("open") || "").split(",").filter(Boolean);
  const onNode = (node) => {
    if (node.kind === "store-group" || node.kind === "bundle") {
      const [key, list] = node.kind === "bundle" ? ["open", open] : ["expand", expand];
      const p = new URLSearchParams(r.params);
      p.set(key, [...new Set([...list, node.id])].join(","));
      go("map", p);
    } else if (node.kind === "store") {
      // Within its tenant: a store id two tenants share must not open either one silently.
      location.hash = storeHref(node.id.replace(/^store:/, ""), node.tenant);
    }
  };
  // Grouping: automatic above 200 stores, or the reader's choice; kept by the filter form.
  const grouping = h("label", { for: "f-group" }, "Group stores",
    h("select", { id: "f-group", name: "group" }, [["", "automatic"], ["always", "always"], ["never", "never"]]
      .map(([v, t]) => h("option", { value: v, selected: v === group }, t))));
  const wrap = h("div", { class: "graph-wrap" });
  show(
    h("h1", {}, t("ui-title-map", "Dependency map")),
    filterForm("map", r.params, [grouping]),
    h("p", { "data-testid": "graph-summary" },
      `${g.nodes.length} nodes, ${g.edges.length} edges`, g.aggregated ? " — stores grouped per account, region, kind and custody; activate a group to show its stores" : "",
      expand.length || open.length ? [" ", h("button", { type: "button", onclick: () => { const p = new URLSearchParams(r.params); p.delete("expand"); p.delete("open"); go("map", p); } }, "Collapse all")] : null),
    graphLegend(), wrap);
  renderGraph(wrap, g, onNode, new Set(open));
}

// ---- stores -------------------------------------------------------------------------------

const PAGE = 100;

/** The stores table's columns: header, the value to sort and search by, and the cell. */
const STORE_COLUMNS = [
  ["name", (s) => s.name],
  ["tenant", (s) => s.tenant],
  ["provider", (s) => s.provider],
  ["account", (s) => s.account],
  ["region", (s) => s.region],
  ["country", (s) => s.country || ""],
  ["jurisdiction", (s) => s.jurisdiction || ""],
  ["custody", (s) => s.custody],
  ["replicated outside EU", (s) => replicationLabel(s)],
  ["classification", (s) => s.classification || "(unclassified)"],
  ["process", (s) => s.process || ""],
  ["bytes", (s) => (s.bytes === null || s.bytes === undefined ? -1 : s.bytes)],
];

/** Whether a copy is outside the EU/EEA: yes, no, or unknown (never "no" for a failed read). */
function replicationLabel(s) {
  if (s.replicated_outside_eu === true) return "yes";
  if (s.replicated_outside_eu === false) return "no";
  return UNKNOWN;
}

/** Every store the filter selects, page by page, as CSV (the columns of the table plus id). */
async function storesCsv(fp) {
  const head = ["id", ...STORE_COLUMNS.map(([c]) => c)];
  const lines = [head];
  let token = "";
  do {
    const q = new URLSearchParams(fp);
    q.set("page_size", "1000");
    if (token) q.set("page_token", token);
    const res = await api(`/v1/stores?${q}`);
    for (const s of res.stores || []) {
      lines.push([s.id, ...STORE_COLUMNS.map(([c, v]) => (c === "bytes" && v(s) < 0 ? "unknown" : v(s)))]);
    }
    token = res.next_page_token || "";
  } while (token);
  const cell = (x) => { const t = String(x ?? ""); return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t; };
  return lines.map((l) => l.map(cell).join(",")).join("\n") + "\n";
}

async function stores(r) {
  const fp = filterParams(r.params);
  const q = new URLSearchParams(fp);
  q.set("page_size", String(PAGE));
  const token = r.params.get("page_token") || "";
  if (token) q.set("page_token", token);
  // The page, and the filter's total from the summary (same filter, every page).
  const [res, totals] = await Promise.all([api(`/v1/stores?${q}`), api(`/v1/summary?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(fp)), by: "tenant" })}`)]);
  const list = res.stores || [];
  const total = (totals || []).reduce((a, row) => ({ stores: a.stores + (row.stores || 0), bytes: a.bytes + (row.bytes || 0), unsized: a.unsized + (row.stores_without_size || 0) }), { stores: 0, bytes: 0, unsized: 0 });
  const rowOf = (s) => {
    const open = () => { location.hash = storeHref(s.id, s.tenant); };
    return h("tr", { class: "clickable", "data-testid": `store-row-${slug(s.id)}`, onclick: open },
      h("td", {}, h("a", { href: storeHref(s.id, s.tenant), "data-testid": "store-link" }, s.name)),
      h("td", {}, s.tenant), h("td", {}, s.provider), h("td", {}, s.account), h("td", {}, s.region),
      h("td", {}, s.country || UNKNOWN),
      h("td", {}, jurisdictionBadge(s)),
      h("td", {}, h("span", { class: "badge" }, s.custody)),
      h("td", { "data-testid": `store-replication-${slug(s.id)}` }, replicationLabel(s)),
      h("td", {}, s.classification || "(unclassified)"), h("td", {}, s.process || ""),
      h("td", { class: "num" }, num(s.bytes, `store-bytes-${slug(s.id)}`, bytes)),
      h("td", {}, s.gone_at_ms ? `gone ${when(s.gone_at_ms)}` : ""));
  };
  // Sorting and searching work on this page (the collector pages by key, not by column).
  let sortBy = -1, ascending = true, needle = "";
  const tbody = h("tbody", {});
  const shown = h("span", { role: "status", "data-testid": "stores-shown" });
  const heads = STORE_COLUMNS.map(([c], i) => h("th", { class: c === "bytes" ? "num" : "", "aria-sort": "none" },
    h("button", { type: "button", class: "sort", "data-testid": `sort-${c.replace(/ /g, "-")}`, onclick: () => { ascending = sortBy === i ? !ascending : true; sortBy = i; redraw(); } }, c)));
  const redraw = () => {
    let rows = list.filter((s) => !needle || `${s.name} ${s.id} ${s.account} ${s.region}`.toLowerCase().includes(needle));
    if (sortBy >= 0) {
      const v = STORE_COLUMNS[sortBy][1];
      rows = [...rows].sort((a, b) => { const x = v(a), y = v(b); const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)); return ascending ? c : -c; });
    }
    heads.forEach((th, i) => th.setAttribute("aria-sort", i === sortBy ? (ascending ? "ascending" : "descending") : "none"));
    tbody.replaceChildren(...rows.map(rowOf));
    shown.textContent = `${rows.length} of ${list.length} stores on this page shown`;
  };
  const search = h("input", { type: "search", id: "stores-search", "data-testid": "stores-search", placeholder: "name, id, account, region", oninput: () => { needle = search.value.trim().toLowerCase(); redraw(); } });
  const exportCsv = h("button", { type: "button", "data-testid": "stores-csv", onclick: async () => {
    exportCsv.disabled = true;
    try {
      const blob = new Blob([await storesCsv(fp)], { type: "text/csv" });
      const a = h("a", { href: URL.createObjectURL(blob), download: "landmeter-stores.csv" });
      document.body.append(a); a.click(); a.remove();
    } finally { exportCsv.disabled = false; }
  } }, "Export CSV (every page)");
  const page = new URLSearchParams(r.params);
  const pager = h("div", { class: "pager" },
    token ? h("button", { type: "button", onclick: () => history.back() }, "← Previous page") : null,
    h("span", { "data-testid": "stores-count" }, `${list.length} stores on this page`),
    res.next_page_token ? h("button", { type: "button", "data-testid": "next-page", onclick: () => { page.set("page_token", res.next_page_token); go("stores", page); } }, "Next page →") : null);
  show(
    h("h1", {}, t("ui-title-stores", "Stores")),
    filterForm("stores", r.params),
    h("p", { "data-testid": "stores-total" }, `${total.stores} stores match the filter, ${bytes(total.bytes)} known`,
      total.unsized ? `, ${total.unsized} of unknown size` : ""),
    h("div", { class: "pager" }, h("label", { for: "stores-search" }, "Search this page "), search, shown, exportCsv),
    pager,
    h("table", { "data-testid": "stores-table" },
      h("thead", {}, h("tr", {}, heads, h("th", {}, h("span", { class: "sr-only" }, "gone")))),
      tbody));
  redraw();
}

/** The collector's jurisdiction label (`EU`, `EU+US-CLOUD-ACT`, `non-EU…`, `unknown`) as a badge. */
function jurisdictionBadge(s) {
  const label = s.jurisdiction || UNKNOWN;
  const j = label.startsWith("unknown") ? "unknown" : label.startsWith("non-EU") ? "non-eu" : label.includes("CLOUD-ACT") ? "us-parent" : "eu";
  return h("span", { class: `badge j-${j}`, title: "jurisdiction" }, label);
}

/** A field value: empty is "—", a missing size is unknown, lists are joined. */
function value(v, key = "") {
  if (v === null || v === undefined || v === "") {
    const unknown = v !== "" && /^(bytes|objects|country|eu|replicated_outside_eu|cloud_act_exposed)$/.test(key);
    return h("span", { class: "muted" }, unknown ? UNKNOWN : "—");
  }
  if (Array.isArray(v) && v.every((x) => typeof x !== "object")) return v.length ? v.join(", ") : h("span", { class: "muted" }, "—");
  if (typeof v === "object") return h("pre", {}, JSON.stringify(v, null, 2));
  return String(v);
}

/** A store's page: its id, and its tenant (an id is unique within its tenant only). */
function storeHref(id, tenant) {
  const q = tenant ? `?tenant=${encodeURIComponent(tenant)}` : "";
  return `#/store/${encodeURIComponent(id)}${q}`;
}

/** Where else this store's data is: its copies (with their kind and place), the store it
 * is a copy of, and who else may restore it. Each copy links to its own store page. */
function copiesCard(s, tenant) {
  const copies = s.replication || [];
  const shared = s.shared_with || [];
  if (copies.length === 0 && !s.copy_of && !s.shared_publicly && shared.length === 0) return null;
  const link = (account, name) => h("a", { href: storeHref(`${s.provider}:${account}:${name}`, tenant) }, name);
  return h("section", { class: "card", "data-testid": "store-copies" }, h("h2", {}, "Copies and sharing"),
    h("ul", {},
      s.copy_of ? h("li", { "data-testid": "store-copy-of" }, `${s.copy_kind || "copy"} of `, link(s.account, s.copy_of)) : null,
      copies.map((t) => h("li", { "data-testid": "store-copy", "data-copy-kind": t.copy_kind || "object-replication" },
        h("b", {}, t.copy_kind || "object-replication"), ": ", link(t.account || s.account, t.bucket),
        ` in ${t.region || "an unknown region"}${t.country ? ` (${t.country}${t.eu ? ", EU/EEA" : ", outside the EU/EEA"})` : ""}`,
        t.cross_account ? ` — another account (${t.account})` : "")),
      s.shared_publicly ? h("li", { class: "warn", "data-testid": "store-shared-publicly" }, "shared publicly: anyone can restore a copy") : null,
      shared.length ? h("li", { "data-testid": "store-shared-with" }, `shared with ${shared.length} other account(s): ${shared.join(", ")}`) : null));
}

async function store(r) {
  const id = r.arg;
  const tenant = r.params.get("tenant");
  const d = await api(`/v1/stores/${encodeURIComponent(id)}${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ""}`);
  const s = d.store || {};
  const indicatorKeys = Object.keys(s).filter((k) => /indicator/.test(k));
  const facts = d.facts || [];
  show(
    h("p", {}, h("a", { href: "#/stores" }, "← Stores")),
    h("h1", { "data-testid": "store-name" }, s.name || id, " ", jurisdictionBadge(s), " ", h("span", { class: "badge" }, `custody: ${s.custody}`)),
    (s.unknowns || []).length === 0 ? null :
      h("section", { class: "card warn", "data-testid": "store-unknowns" }, h("h2", {}, "Not known — and why"),
        h("ul", {}, s.unknowns.map((u) => h("li", { "data-testid": `store-unknown-${u.dimension}` },
          h("b", {}, u.dimension), ": ", u.reason)))),
    // Not applicable: the provider lacks the call. Neither unknown nor "no".
    (s.not_applicable || []).length === 0 ? null :
      h("section", { class: "card", "data-testid": "store-not-applicable" }, h("h2", {}, "Not applicable at this provider"),
        h("ul", {}, s.not_applicable.map((n) => h("li", { "data-testid": `store-not-applicable-${n.dimension}` },
          h("b", {}, n.dimension), ": ", n.reason)))),
    copiesCard(s, tenant),
    h("div", { class: "split" },
      h("section", { class: "card" }, h("h2", {}, "Interpretation"),
        h("table", { class: "kv", "data-testid": "store-view" }, h("tbody", {},
          Object.entries(s).filter(([k]) => !/indicator/.test(k) && k !== "unknowns" && k !== "not_applicable").map(([k, v]) =>
            h("tr", { "data-testid": `store-field-${k}` }, h("th", {}, k), h("td", {}, /_ms$/.test(k) && v ? when(v) : value(v, k))))))),
      h("section", { class: "card" }, h("h2", {}, "Indicators"),
        h("p", { class: "muted" }, "indicator computed from observed facts, not an official SEAL"),
        indicatorKeys.length === 0 ? h("p", { class: "muted" }, "no indicators for this store") :
          h("table", { class: "kv", "data-testid": "store-indicators" }, h("tbody", {},
            indicatorKeys.map((k) => h("tr", { "data-testid": `store-field-${k}` }, h("th", {}, k), h("td", {}, Array.isArray(s[k]) ? h("ul", {}, s[k].map((x) => h("li", {}, x))) : value(s[k], k)))))))),
    h("h2", {}, `Facts (${facts.length}) — what the cloud API said, when, in which scan, from which agent`),
    h("table", { "data-testid": "store-facts" },
      h("thead", {}, h("tr", {}, ["kind", "source call", "observed", "scan", "agent", "account", "subject", "body"].map((t) => h("th", {}, t)))),
      h("tbody", {}, facts.map((f) => h("tr", { "data-testid": "fact-row", "data-kind": f.kind },
        h("td", {}, f.kind), h("td", {}, h("code", {}, f.api_call)), h("td", {}, when(f.observed_at_ms)),
        h("td", {}, f.scan_id), h("td", {}, f.agent), h("td", {}, f.account), h("td", {}, f.subject),
        h("td", {}, value(f.body)))))));
}

// ---- changes (history + live) -------------------------------------------------------------

function changeRow(e, fresh) {
  const desc = (e.changes || []).map((c) => `${c.field}: ${c.before} → ${c.after}`).join("; ");
  const storeName = (e.store && e.store.name) || e.store_id;
  return h("tr", { "data-testid": `change-row-${e.id}`, "data-change-id": e.id, class: fresh ? "new-row" : "" },
    h("td", { class: "num" }, e.id), h("td", {}, when(e.at_ms)), h("td", {}, e.tenant),
    h("td", {}, h("a", { href: storeHref(e.store_id, e.tenant) }, storeName)),
    h("td", {}, h("span", { class: "badge" }, e.kind)), h("td", { "data-testid": "change-desc" }, desc), h("td", {}, e.scan_id));
}

async function changes(r) {
  const fp = filterParams(r.params);
  const list = (await api(`/v1/changes?${fp}`)) || [];
  list.sort((a, b) => b.id - a.id);
  const seen = new Set(list.map((e) => e.id));
  const tbody = h("tbody", {}, list.map((e) => changeRow(e, false)));
  const status = h("span", { "data-testid": "changes-live" }, "connecting…");
  const count = h("span", { "data-testid": "changes-count" }, String(list.length));
  show(
    h("h1", {}, t("ui-title-changes", "Changes"), " ", h("span", { class: "badge" }, count)),
    h("p", {}, "History of what changed between scans; new scans appear here as they land (", status, ")."),
    h("table", { "data-testid": "changes-table" },
      h("thead", {}, h("tr", {}, ["id", "at", "tenant", "store", "kind", "what changed", "scan"].map((t) => h("th", {}, t)))),
      tbody));
  const after = list.reduce((m, e) => Math.max(m, e.id), 0);
  const es = new EventSource(`/v1/events?after_id=${after}`);
  const live = document.getElementById("live");
  const onEvent = (msg) => {
    let e;
    try { e = JSON.parse(msg.data); } catch { return; }
    if (seen.has(e.id)) return;
    seen.add(e.id);
    tbody.prepend(changeRow(e, true));
    count.textContent = String(seen.size);
  };
  for (const k of ["added", "changed", "gone", "unknown", "message"]) es.addEventListener(k, onEvent);
  es.onopen = () => { status.textContent = "live"; live.hidden = false; live.textContent = "live"; live.classList.add("on"); };
  es.onerror = () => { status.textContent = "reconnecting…"; live.classList.remove("on"); live.textContent = "reconnecting"; };
  leaveView = () => { es.close(); live.hidden = true; live.classList.remove("on"); };
}

// ---- coverage -----------------------------------------------------------------------------

async function coverage(r) {
  const tenant = r.params.get("tenant") || "";
  const q = tenant ? `?tenant=${encodeURIComponent(tenant)}` : "";
  const [d, st] = await Promise.all([api(`/v1/coverage${q}`), api(`/v1/settings${q}`)]);
  const scans = d.scans || [];
  const settings = st.settings || [];
  const form = h("form", { class: "filters" },
    h("label", { for: "cov-tenant" }, "Tenant", h("input", { id: "cov-tenant", name: "tenant", value: tenant })),
    h("button", { type: "submit", class: "primary" }, "Show"));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); const p = new URLSearchParams(); const t = form.elements.tenant.value; if (t) p.set("tenant", t); go("coverage", p); });
  show(
    h("h1", {}, t("ui-title-coverage", "Coverage")),
    h("p", { class: "note" }, "Not seen is not “not there”: a call that failed leaves a gap, and the stores behind it may exist. An incomplete scan never marks stores gone."),
    form,
    settings.length === 0 ? null : h("section", { class: "card", "data-testid": "settings" },
      h("h2", {}, "Account settings"),
      h("p", { class: "note" }, "Settings decide how new stores are made (EBS encryption by default and its key per region), even where no store exists yet."),
      h("table", { class: "gaps" },
        h("thead", {}, h("tr", {}, ["account", "region", "setting", "value", "meaning"].map((t) => h("th", {}, t)))),
        h("tbody", {}, settings.map((x) => h("tr", { "data-testid": `setting-${slug(x.name)}-${slug(x.region)}` },
          h("td", {}, x.account), h("td", {}, x.region), h("td", {}, x.name),
          h("td", {}, x.known ? h("code", {}, x.value) : h("span", { class: "badge unknown" }, "unknown")),
          h("td", {}, x.concern ? h("span", { class: "badge j-non-eu" }, "concern") : null, " ", x.known ? x.meaning : x.unknown_reason)))))),
    scans.length === 0 ? h("p", { class: "muted" }, "no scans yet") : null,
    scans.map((s) => h("section", { class: "card", "data-testid": `scan-${slug(s.scan_id)}` },
      h("h2", {}, `${s.provider} scan ${s.scan_id} `, s.complete ? h("span", { class: "badge ok" }, "complete") : h("span", { class: "badge j-non-eu" }, "incomplete")),
      h("p", { class: "muted" }, `tenant ${s.tenant} · agent ${s.agent} · accounts ${(s.accounts || []).join(", ")} · ${when(s.started_at_ms)} → ${s.ended_at_ms ? when(s.ended_at_ms) : "not ended"}`),
      (s.gaps || []).length === 0 ? h("p", { class: "ok", "data-testid": "no-gaps" }, "every call answered") :
        h("table", { class: "gaps" },
          h("thead", {}, h("tr", {}, ["account", "region", "call", "subject", "code", "message"].map((t) => h("th", {}, t)))),
          h("tbody", {}, s.gaps.map((g) => h("tr", { "data-testid": "gap-row" },
            h("td", {}, g.account), h("td", {}, g.region), h("td", {}, h("code", {}, g.call)), h("td", {}, g.subject),
            h("td", {}, g.code), h("td", {}, g.message))))))));
}

// ---- exit scenario ------------------------------------------------------------------------

/** An object as nested key/value tables (the exit scenario's figures, each with its source):
 * null stays "unknown"/"—", never 0. Rows carry data-testid `${prefix}-${key}`. */
function kvTable(obj, prefix, attrs = {}) {
  return h("table", { class: "kv", ...attrs }, h("tbody", {},
    Object.entries(obj).map(([k, v]) => {
      const id = `${prefix}-${slug(k)}`;
      let cell;
      if (v && typeof v === "object" && !Array.isArray(v)) cell = kvTable(v, id);
      else if (Array.isArray(v) && v.some((x) => x && typeof x === "object")) {
        cell = h("div", {}, v.map((x, i) => (x && typeof x === "object" ? kvTable(x, `${id}-${i}`) : value(x))));
      } else cell = value(v, k);
      return h("tr", { "data-testid": id }, h("th", {}, k), h("td", {}, cell));
    })));
}

async function exit(r) {
  const p = r.params;
  const field = (name, label, val, type = "text", required = true) =>
    h("label", { for: `x-${name}` }, label, h("input", { id: `x-${name}`, name, value: val || "", type, required }));
  const form = h("form", { class: "exit" },
    field("from", "From provider", p.get("from") || "aws"),
    field("to", "To provider", p.get("to") || ""),
    field("bandwidth_mbps", "Bandwidth (Mbit/s)", p.get("bandwidth_mbps") || "1000", "number"),
    // The EU Data Act's switching charges depend on the day (none from 2027-01-12).
    field("on", "On (date; default today)", p.get("on") || "", "date", false),
    h("button", { type: "submit", class: "primary" }, "Compute"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams(p);
    for (const [k, v] of new FormData(form)) { if (v) q.set(k, v); else q.delete(k); }
    go("exit", q);
  });
  const tenant = p.get("tenant") || "";
  const links = h("p", {},
    tenant ? [
      h("a", { href: `/v1/report?tenant=${encodeURIComponent(tenant)}&format=html`, target: "_blank", rel: "noopener", "data-testid": "board-report" }, "Board report"),
      " · ",
      h("a", { href: `/v1/evidence?tenant=${encodeURIComponent(tenant)}`, target: "_blank", rel: "noopener" }, "Evidence bundle (JSON)"),
    ] : h("span", { class: "muted" }, "Filter by a tenant for its board report and evidence bundle."));
  let result = null;
  if (p.get("from") && p.get("to")) {
    const q = new URLSearchParams(filterParams(p));
    for (const k of ["from", "to", "bandwidth_mbps", "on"]) if (p.get(k)) q.set(k, p.get(k));
    const x = await api(`/v1/exit?${q}`);
    result = kvTable(x || {}, "exit", { "data-testid": "exit-result" });
  }
  show(
    h("h1", {}, t("ui-title-exit", "Exit scenario")),
    h("p", {}, "Move everything of one provider (narrowed by the filters) to an alternative: bytes and objects to move, egress cost, transfer time, keys to re-create, replication to cut, lock-in features."),
    form, filterForm("exit", p, [], ["from", "to", "bandwidth_mbps", "on"]), links,
    result || h("p", { class: "muted" }, "Choose the providers and compute; the answer includes the EU Data Act's switching-charge rules."));
}

// ---- session ------------------------------------------------------------------------------

function showLogin() {
  document.getElementById("login").hidden = false;
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  view().replaceChildren();
  document.title = "Sign in — landmeter";
  document.body.dataset.ready = "login";
  document.getElementById("login-token").focus();
}

async function openSession(token) {
  const r = await fetch("/ui/session", {
    method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ token }),
  });
  return r.status === 204;
}

function signedIn() {
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
}

async function start() {
  try { await loadLanguage(storedLang()); } catch { /* the English words in the page stay */ }
  document.getElementById("lang").addEventListener("change", async (ev) => {
    try { localStorage.setItem(LANG_KEY, ev.target.value); } catch { /* not remembered */ }
    await loadLanguage(ev.target.value);
    if (document.getElementById("login").hidden) render();
  });
  // The demo prints `/ui/#token=...`: read it once, trade it for the cookie, drop it from the URL.
  const m = location.hash.match(/^#token=([^&]+)/);
  if (m) {
    const ok = await openSession(decodeURIComponent(m[1]));
    history.replaceState(null, "", `${location.pathname}#/dashboard`);
    if (!ok) { showLogin(); document.getElementById("login-error").textContent = t("ui-token-invalid", "That token is not valid."); return; }
  }
  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = document.getElementById("login-token");
    if (await openSession(input.value.trim())) { input.value = ""; signedIn(); render(); }
    else document.getElementById("login-error").textContent = t("ui-token-invalid", "That token is not valid.");
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/ui/logout", { method: "POST", credentials: "same-origin" });
    leaveView(); leaveView = () => {};
    showLogin();
  });
  window.addEventListener("hashchange", () => { if (!document.getElementById("login").hidden) return; render(); });
  // The navigation appears with the first answer of the API (render -> signedIn), so the
  // sign-in page never shows it.
  await render();
}

start();
