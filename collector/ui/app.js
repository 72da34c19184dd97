// landmeter web UI: one page, hash routes, no framework. Every text from the API goes
// through text nodes and attributes, never parsed as HTML, so data cannot become markup.
import { custodyName, legend as graphLegend, renderGraph } from "/ui/assets/graph.js";
import { bytesText, dateTime, int, isoDay, money, number, setCatalogue, startOfDay, t } from "/ui/assets/i18n.js";

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

function storedLang() {
  try { return localStorage.getItem(LANG_KEY); } catch { return null; }
}

async function loadLanguage(lang) {
  const r = await fetch(`/ui/locales/${encodeURIComponent(lang || "default")}.json`, { credentials: "same-origin" });
  if (!r.ok) return;
  const cat = await r.json();
  setCatalogue(cat);
  document.documentElement.lang = cat.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n, el.textContent);
  }
  for (const el of document.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel, el.getAttribute("aria-label")));
  }
  document.getElementById("lang").value = cat.lang;
}

/** "unknown" in the chosen language: a value that could not be read, never 0 or "no". */
const unknownText = () => t("ui-unknown", UNKNOWN);

/** A figure that may be unknown: never rendered as 0. `data-value` keeps the raw number. */
function num(value, testid, format = int) {
  const known = value !== null && value !== undefined;
  return h("span", { "data-testid": testid, "data-value": known ? String(value) : UNKNOWN, class: known ? "" : "muted" },
    known ? format(value) : unknownText());
}

export function bytes(b) {
  if (b === null || b === undefined) return unknownText();
  return bytesText(b);
}

function when(ms) {
  return dateTime(ms);
}

function pct(part, whole) {
  if (!whole) return "–";
  return `${number((100 * part) / whole, 1)} %`;
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
  const name = own || (h1 && h1.textContent.trim()) || (view().querySelector("[role=alert]") ? t("ui-error", "Error") : "");
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
const YES_NO = ["", "true", "false", "unknown"];
// [parameter, label, choices]; labels are functions so they follow the language switch.
const FILTERS = [
  ["tenant", () => t("ui-f-tenant", "Tenant")], ["provider", () => t("ui-f-provider", "Provider")],
  ["account", () => t("ui-f-account", "Account")], ["region", () => t("ui-f-region", "Region")],
  // Unknown is a value of its own: true/false select known values only.
  ["country", () => t("ui-f-country", "Country (DE,NL)")], ["eu", () => t("ui-f-eu", "EU/EEA"), YES_NO],
  ["cloud_act", () => t("ui-f-cloud-act", "CLOUD Act"), YES_NO],
  ["replicated_outside_eu", () => t("ui-f-replicated", "Replicated outside EU"), YES_NO],
  ["custody_at_least", () => t("ui-f-custody-at-least", "Custody at least"), ["", ...CUSTODY]],
  ["custody_at_most", () => t("ui-f-custody-at-most", "Custody at most"), ["", ...CUSTODY]],
  ["classification", () => t("ui-f-classification", "Classification")], ["process", () => t("ui-f-process", "Process")],
];

/** A choice's words: yes/no/unknown and "any" translated, custody levels as they are. */
function choiceLabel(o) {
  return { "": t("ui-any", "any"), true: t("ui-yes", "yes"), false: t("ui-no", "no"), unknown: unknownText() }[o] ?? o;
}

function filterParams(params) {
  const out = new URLSearchParams();
  for (const [k] of FILTERS) { const v = params.get(k); if (v) out.set(k, v); }
  return out;
}

/** The filter bar; `extra` are fields of the view itself (sent with the filters), `keep`
 * names parameters of the view a new filter keeps; `omit` leaves filters out, `submit` names
 * the button. */
function filterForm(name, params, extra = [], keep = [], { omit = [], submit } = {}) {
  const fields = FILTERS.filter(([k]) => !omit.includes(k)).map(([k, label, options]) => {
    const id = `f-${k}`;
    const value = params.get(k) || "";
    // Choices, not free text: the names the scope holds (a misspelt name would answer 0).
    const input = options
      ? h("select", { id, name: k }, options.map((o) => h("option", { value: o, selected: o === value }, choiceLabel(o))))
      : h("input", { id, name: k, value, autocomplete: "off", list: `names-${k}` });
    return h("label", { for: id }, label(), input);
  });
  const lists = FILTERS.filter(([, , options]) => !options).map(([k]) => h("datalist", { id: `names-${k}` }));
  api("/v1/names").then((names) => {
    for (const [k] of FILTERS) {
      const list = document.getElementById(`names-${k}`);
      if (list && names && names[k]) list.replaceChildren(...names[k].map((v) => h("option", { value: v })));
    }
  }).catch(() => {});
  const form = h("form", { class: "filters", "data-testid": "filters" }, extra, fields, lists,
    h("button", { type: "submit", class: "primary" }, submit || t("ui-apply", "Apply")),
    h("button", { type: "button", onclick: () => go(name) }, t("ui-clear", "Clear")));
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
  ["country", () => t("ui-dim-country", "Country")], ["eu", () => t("ui-dim-eu", "EU / non-EU (data region)")],
  ["jurisdiction", () => t("ui-dim-jurisdiction", "Jurisdiction (data, replicas and keys)")],
  ["replication", () => t("ui-dim-replication", "Copies outside the EU/EEA")], ["readable", () => t("ui-dim-readable", "Read completely")],
  ["provider_parent", () => t("ui-dim-provider-parent", "Provider legal parent")],
  ["cloud_act", () => t("ui-dim-cloud-act", "CLOUD Act exposure")], ["custody", () => t("ui-dim-custody", "Key custody level")],
  ["classification", () => t("ui-dim-classification", "Classification")], ["process", () => t("ui-dim-process", "Process")],
  ["sov2", () => t("ui-dim-sov2", "SOV-2 indicator")], ["sov3", () => t("ui-dim-sov3", "SOV-3 indicator")],
];

const SEAL_NOTE = () => t("ui-indicator-note", "indicator computed from observed facts, not an official SEAL");

function keyLabel(dim, key) {
  if (key === "" || key === null || key === undefined) return dim === "classification" ? t("ui-unclassified", "(unclassified)") : t("ui-none", "(none)");
  // Unknown is counted apart, never folded into "no".
  if (key === "unknown") return t("ui-unknown-unplaced", "unknown (could not be read or placed)");
  if (dim === "replication") return key === "outside-EU" ? t("ui-copy-outside-eu", "a copy outside the EU/EEA") : key === "EU-or-none" ? t("ui-copies-in-eu", "copies in the EU/EEA, or none") : key;
  if (dim === "eu") return key === "true" ? t("ui-eu", "EU/EEA") : key === "false" ? t("ui-outside-eu", "outside EU/EEA") : key;
  if (dim === "cloud_act") return key === "true" ? t("ui-under-cloud-act", "under the CLOUD Act") : key === "false" ? t("ui-not-under-cloud-act", "not under the CLOUD Act") : key;
  if (dim === "readable") return key === "true" ? t("ui-yes", "yes") : key === "false" ? t("ui-no", "no") : key;
  return key;
}

async function dashboard(r) {
  const fp = filterParams(r.params);
  const [d, costs] = await Promise.all([
    api(`/v1/dashboard?${fp}`),
    api(`/v1/costs?by=provider&${fp}`).catch((e) => ({ error: e.message })),
  ]);
  const figures = h("div", { class: "figures" },
    figure(t("ui-fig-stores", "Stores"), num(d.stores, "dash-stores")),
    figure(t("ui-fig-bytes", "Bytes (known sizes)"), num(d.bytes, "dash-bytes", bytes)),
    figure(t("ui-fig-size-unknown", "Stores of unknown size"), num(d.stores_size_unknown, "dash-stores-size-unknown")),
    figure(t("ui-fig-cost", "Monthly storage cost (known prices)"), num(d.costs && d.costs.monthly_known, "dash-cost-monthly",
      (x) => money(x, d.costs.currency))),
    figure(t("ui-fig-price-unknown", "Stores without a price"), num(d.costs && d.costs.stores_price_unknown, "dash-cost-price-unknown")));
  const cards = DIMENSIONS.map(([dim, title]) => {
    const rows = (d.dimensions && d.dimensions[dim]) || [];
    const indicator = dim === "sov2" || dim === "sov3";
    return h("section", { class: "card", "data-testid": `dim-${dim}` },
      h("h2", {}, title()),
      indicator ? h("p", { class: "muted" }, SEAL_NOTE()) : null,
      rows.length === 0 ? h("p", { class: "muted" }, t("ui-no-rows", "no rows in this scope")) :
        h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, t("ui-col-value", "value")), h("th", { class: "num" }, t("ui-col-stores", "stores")),
            h("th", {}, t("ui-col-share-stores", "share of stores")), h("th", { class: "num" }, t("ui-col-bytes", "bytes")),
            h("th", {}, t("ui-col-share-bytes", "share of bytes")),
            h("th", { class: "num", title: t("ui-col-size-unknown-title", "stores whose size is unknown (not counted in bytes)") }, t("ui-col-size-unknown", "size unknown")))),
          h("tbody", {}, rows.map((row) => {
            const id = row.withheld_cells ? `dim-${dim}-withheld` : `dim-${dim}-${slug(row.key)}`;
            const share = d.stores ? (100 * row.stores) / d.stores : 0;
            const bar = h("span", { class: "bar" });
            bar.style.width = `${Math.max(1, Math.round(share))}px`;
            return h("tr", { "data-testid": id },
              h("td", {}, row.withheld_cells
                ? t("ui-withheld-row", "withheld: {$cells} values (pool rule: each figure covers at least {$k} tenants)", { cells: row.withheld_cells, k: d.pool_min_tenants })
                : keyLabel(dim, row.key)),
              h("td", { class: "num" }, num(row.stores, `${id}-stores`)),
              h("td", { class: "share" }, bar, pct(row.stores, d.stores)),
              h("td", { class: "num" }, num(row.bytes, `${id}-bytes`,
                (b) => (b === 0 && row.stores_size_unknown === row.stores ? unknownText() : bytes(b)))),
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
        h("span", { class: "v", "data-testid": `${id}-bytes-share`, title: t("ui-share-known-bytes", "share of the known bytes") }, share),
        h("span", { class: "k" }, t(`ui-headline-${f.id}`, f.label)),
        h("span", { class: "muted" },
          t("ui-headline-of-bytes", "of known bytes;"), " ", num(f.stores, `${id}-stores`), " ",
          t("ui-headline-of-stores", "of {$total} stores;", { total: int(f.total_stores) }), " ",
          t("ui-headline-unknown", "unknown:"), " ", num(f.unknown_stores, `${id}-unknown-stores`), " ", t("ui-headline-stores", "stores"),
          f.withheld_stores ? `; ${t("ui-headline-withheld", "withheld (pool rule):")} ${int(f.withheld_stores)}` : ""));
    }));
  const banner = (d.incomplete_coverage || []).length === 0 ? null :
    h("div", { class: "card warn", role: "status", "data-testid": "coverage-banner" },
      h("b", {}, t("ui-incomplete-coverage", "Incomplete coverage:"), " "), t("ui-incomplete-coverage-note", "figures leave out what could not be read."), " ",
      h("ul", {}, d.incomplete_coverage.map((c) => h("li", {}, `${c.tenant} / ${c.account}: ${c.reason || t("ui-incomplete", "incomplete")}`))),
      h("a", { href: "#/coverage" }, t("ui-nav-coverage", "Coverage")));
  show(
    h("h1", {}, t("ui-title-dashboard", "Sovereignty dashboard"), " ", h("span", { class: "badge", "data-testid": "dash-scope" }, d.scope)),
    banner,
    headline,
    filterForm("dashboard", r.params),
    h("p", { class: "note", "data-testid": "indicators-note" }, t("ui-indicators-note", d.indicators_note || "SOV-2/SOV-3: indicator computed from observed facts, not an official SEAL.")),
    figures,
    costTable(costs),
    h("div", { class: "cards" }, cards),
    h("p", { class: "muted" }, t("ui-generated", "Generated {$at}. Shares of bytes count known sizes only; stores of unknown size are listed, not counted as 0.", { at: when(d.generated_at_ms) })));
}

function figure(label, value) {
  return h("div", { class: "figure" }, h("span", { class: "v" }, value), h("span", { class: "k" }, label));
}

function costTable(costs) {
  if (!costs || costs.error) return h("p", { class: "muted" }, t("ui-costs-unavailable", "Costs unavailable:"), " ", (costs && costs.error) || t("ui-no-answer", "no answer"));
  const rows = costs.rows || [];
  return h("section", { class: "card", "data-testid": "costs" },
    h("h2", {}, t("ui-costs-title", "Monthly storage cost by provider")),
    h("table", {},
      h("thead", {}, h("tr", {}, [t("ui-col-provider", "provider"), t("ui-col-stores", "stores"), t("ui-col-bytes", "bytes"),
        t("ui-col-monthly", "monthly"), t("ui-col-price-date", "price date"), t("ui-col-status", "status"), t("ui-col-source", "source"),
        t("ui-col-stores-without-price", "stores without price")].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.map((row) => h("tr", {},
        h("td", {}, row.key), h("td", { class: "num" }, int(row.stores)), h("td", { class: "num" }, bytes(row.bytes)),
        h("td", { class: "num" }, num(row.monthly, `cost-${slug(row.key)}-monthly`, (x) => money(x, row.currency))),
        h("td", {}, row.price_date || unknownText()), h("td", {}, row.price_status || ""), h("td", {}, row.price_source || ""),
        h("td", { class: "num" }, int(row.stores_price_unknown)))))));
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
  const grouping = h("label", { for: "f-group" }, t("ui-group-stores", "Group stores"),
    h("select", { id: "f-group", name: "group" }, [["", t("ui-group-auto", "automatic")], ["always", t("ui-group-always", "always")], ["never", t("ui-group-never", "never")]]
      .map(([v, label]) => h("option", { value: v, selected: v === group }, label))));
  const wrap = h("div", { class: "graph-wrap" });
  show(
    h("h1", {}, t("ui-title-map", "Dependency map")),
    filterForm("map", r.params, [grouping], ["find"]),
    h("p", { "data-testid": "graph-summary" },
      t("ui-graph-summary", "{$nodes} nodes, {$edges} edges", { nodes: int(g.nodes.length), edges: int(g.edges.length) }),
      g.aggregated ? ` — ${t("ui-graph-grouped", "stores grouped per account, region, kind and custody; activate a group to show its stores")}` : "",
      expand.length || open.length ? [" ", h("button", { type: "button", onclick: () => { const p = new URLSearchParams(r.params); p.delete("expand"); p.delete("open"); go("map", p); } }, t("ui-collapse-all", "Collapse all"))] : null),
    graphLegend(), wrap);
  // `find` (a store page's key link): the search box filled in, its first match centred.
  renderGraph(wrap, g, onNode, new Set(open), r.params.get("find") || "");
}

// ---- stores -------------------------------------------------------------------------------

// The API's largest page: a filter of up to 1,000 stores is one page, so sorting and searching
// (in the browser) cover all of it; a larger one pages by key, 1,000 at a time.
const PAGE = 1000;

/** The stores table's columns: the CSV header (machine format, never translated) and the
 * value to sort and export by; the shown header is `ui-store-col-<header>`. */
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
      h("td", {}, s.country || unknownText()),
      h("td", {}, jurisdictionBadge(s)),
      h("td", {}, h("span", { class: "badge", title: custodyName(s.custody) }, s.custody)),
      h("td", { "data-testid": `store-replication-${slug(s.id)}`, "data-value": replicationLabel(s) }, yesNo(s.replicated_outside_eu, "replicated_outside_eu")),
      h("td", {}, s.classification || t("ui-unclassified", "(unclassified)")), h("td", {}, s.process || ""),
      h("td", { class: "num" }, num(s.bytes, `store-bytes-${slug(s.id)}`, bytes)),
      h("td", {}, s.gone_at_ms ? t("ui-gone-at", "gone {$at}", { at: when(s.gone_at_ms) }) : ""));
  };
  // Sorting and searching work on this page (the collector pages by key, not by column):
  // every store of the filter up to 1,000.
  let sortBy = -1, ascending = true, needle = "";
  const tbody = h("tbody", {});
  const shown = h("span", { role: "status", "data-testid": "stores-shown" });
  const heads = STORE_COLUMNS.map(([c], i) => h("th", { class: c === "bytes" ? "num" : "", "aria-sort": "none" },
    h("button", { type: "button", class: "sort", "data-testid": `sort-${c.replace(/ /g, "-")}`, onclick: () => { ascending = sortBy === i ? !ascending : true; sortBy = i; redraw(); } },
      t(`ui-store-col-${c.replace(/ /g, "-")}`, c))));
  const redraw = () => {
    let rows = list.filter((s) => !needle || `${s.name} ${s.id} ${s.account} ${s.region}`.toLowerCase().includes(needle));
    if (sortBy >= 0) {
      const v = STORE_COLUMNS[sortBy][1];
      rows = [...rows].sort((a, b) => { const x = v(a), y = v(b); const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)); return ascending ? c : -c; });
    }
    heads.forEach((th, i) => th.setAttribute("aria-sort", i === sortBy ? (ascending ? "ascending" : "descending") : "none"));
    tbody.replaceChildren(...rows.map(rowOf));
    shown.textContent = t("ui-stores-shown", "{$shown} of {$page} stores on this page shown", { shown: int(rows.length), page: int(list.length) });
  };
  const search = h("input", { type: "search", id: "stores-search", "data-testid": "stores-search", placeholder: t("ui-stores-search-placeholder", "name, id, account, region"), oninput: () => { needle = search.value.trim().toLowerCase(); redraw(); } });
  const exportCsv = h("button", { type: "button", "data-testid": "stores-csv", onclick: async () => {
    exportCsv.disabled = true;
    try {
      const blob = new Blob([await storesCsv(fp)], { type: "text/csv" });
      const a = h("a", { href: URL.createObjectURL(blob), download: "landmeter-stores.csv" });
      document.body.append(a); a.click(); a.remove();
    } finally { exportCsv.disabled = false; }
  } }, t("ui-export-csv", "Export CSV (every page)"));
  const page = new URLSearchParams(r.params);
  const pager = h("div", { class: "pager" },
    token ? h("button", { type: "button", onclick: () => history.back() }, t("ui-previous-page", "← Previous page")) : null,
    h("span", { "data-testid": "stores-count" }, t("ui-stores-on-page", "{$n} stores on this page", { n: int(list.length) })),
    res.next_page_token ? h("button", { type: "button", "data-testid": "next-page", onclick: () => { page.set("page_token", res.next_page_token); go("stores", page); } }, t("ui-next-page", "Next page →")) : null);
  show(
    h("h1", {}, t("ui-title-stores", "Stores")),
    filterForm("stores", r.params),
    h("p", { "data-testid": "stores-total", "data-value": String(total.stores) },
      t("ui-stores-total", "{$n} stores match the filter, {$bytes} known", { n: int(total.stores), bytes: bytes(total.bytes) }),
      total.unsized ? t("ui-stores-total-unsized", ", {$n} of unknown size", { n: int(total.unsized) }) : ""),
    h("div", { class: "pager" }, h("label", { for: "stores-search" }, t("ui-search-page", "Search this page"), " "), search, shown, exportCsv),
    pager,
    h("table", { "data-testid": "stores-table" },
      h("thead", {}, h("tr", {}, heads, h("th", {}, h("span", { class: "sr-only" }, t("ui-gone", "gone"))))),
      tbody));
  redraw();
}

/** The collector's jurisdiction label (`EU`, `EU+US-CLOUD-ACT`, `non-EU…`, `unknown`) as a badge. */
function jurisdictionBadge(s) {
  const label = s.jurisdiction || UNKNOWN;
  const j = label.startsWith("unknown") ? "unknown" : label.startsWith("non-EU") ? "non-eu" : label.includes("CLOUD-ACT") ? "us-parent" : "eu";
  return h("span", { class: `badge j-${j}`, title: t("ui-jurisdiction", "jurisdiction") }, label);
}

/** A field value: empty is "—", a missing size is unknown, lists are joined. */
function value(v, key = "") {
  if (v === null || v === undefined || v === "") {
    const unknown = v !== "" && /^(bytes|objects|country|eu|replicated_outside_eu|cloud_act_exposed)$/.test(key);
    return h("span", { class: "muted" }, unknown ? unknownText() : "—");
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
 * is a copy of, and who else may restore it. Each copy links to its own store page. A failed
 * replication read says so: unknown, never "no copies". */
function copiesSection(s, tenant) {
  const copies = s.replication || [];
  const shared = s.shared_with || [];
  const link = (account, name) => h("a", { href: storeHref(`${s.provider}:${account}:${name}`, tenant), "data-testid": "store-copy-link" }, name);
  const place = (c) => c.country
    ? ` (${c.country}, ${c.eu ? t("ui-eu", "EU/EEA") : t("ui-outside-eu", "outside EU/EEA")})`
    : "";
  const items = [
    s.copy_of ? h("li", { "data-testid": "store-copy-of" }, t("ui-copy-of", "{$kind} of", { kind: s.copy_kind || t("ui-copy", "copy") }), " ", link(s.account, s.copy_of)) : null,
    ...copies.map((c) => h("li", { "data-testid": "store-copy", "data-copy-kind": c.copy_kind || "object-replication" },
      h("b", {}, c.copy_kind || "object-replication"), ": ", link(c.account || s.account, c.bucket),
      ` ${t("ui-in-region", "in {$region}", { region: c.region || t("ui-unknown-region", "an unknown region") })}${place(c)}`,
      c.cross_account ? ` — ${t("ui-other-account", "another account ({$account})", { account: c.account })}` : "")),
    s.shared_publicly ? h("li", { class: "warn", "data-testid": "store-shared-publicly" }, t("ui-shared-publicly", "shared publicly: anyone can restore a copy")) : null,
    shared.length ? h("li", { "data-testid": "store-shared-with" }, t("ui-shared-with", "shared with {$n} other account(s):", { n: shared.length }), " ", shared.join(", ")) : null,
  ].filter(Boolean);
  return section("copies", t("ui-sec-copies", "Copies and sharing"), [
    row("replicated_outside_eu", t("ui-field-replicated", "A copy outside the EU/EEA"), yesNo(s.replicated_outside_eu, "replicated_outside_eu")),
    row("delete_after_days", t("ui-field-delete-after", "Deleted after (days)"), s.delete_after_days),
  ], items.length ? h("ul", {}, items)
    : h("p", { class: "muted", "data-testid": "store-no-copies" }, s.replicated_outside_eu === null || s.replicated_outside_eu === undefined
      ? t("ui-copies-unknown", "Whether copies exist is unknown (see above).") : t("ui-no-copies", "No copies or sharing seen.")));
}

/** yes / no, or unknown (muted) when the collector could not tell. */
function yesNo(v, key) {
  if (v === true) return t("ui-yes", "yes");
  if (v === false) return t("ui-no", "no");
  return value(null, key);
}

/** A row of a section's table: a label, a value (node, text, list), `data-testid` by field. */
function row(field, label, v) {
  const cell = v instanceof Node ? v : value(v, field);
  return h("tr", { "data-testid": `store-field-${field}` }, h("th", {}, label), h("td", {}, cell));
}

/** One group of the store page: a heading, a table of rows and what follows it. */
function section(id, title, rows, ...after) {
  return h("section", { class: "card", "data-testid": `store-sec-${id}` }, h("h2", {}, title),
    rows.length ? h("table", { class: "kv" }, h("tbody", {}, rows)) : null, after);
}

/** The map, searched for `text` (a key's id): the key, its key store and the stores it encrypts. */
function mapFind(text, tenant) {
  const p = new URLSearchParams();
  if (tenant) p.set("tenant", tenant);
  p.set("find", text);
  return `#/map?${p}`;
}

async function store(r) {
  const id = r.arg;
  const tenant = r.params.get("tenant");
  const d = await api(`/v1/stores/${encodeURIComponent(id)}${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ""}`);
  const s = d.store || {};
  const facts = d.facts || [];
  const classes = s.storage_classes || [];
  const where = section("where", t("ui-sec-where", "Where"), [
    row("provider", t("ui-field-provider", "Provider"), s.provider),
    row("provider_parent", t("ui-field-provider-parent", "Legal parent"), s.provider_parent),
    row("account", t("ui-field-account", "Account"), s.account),
    row("region", t("ui-field-region", "Region"), s.region),
    row("country", t("ui-field-country", "Country"), s.country),
    row("eu", t("ui-field-eu", "In the EU/EEA"), yesNo(s.eu, "eu")),
    s.location_unverified ? row("location_unverified", t("ui-field-location-unverified", "Location"), t("ui-location-unverified", "as configured, not confirmed by the provider")) : null,
    row("jurisdiction", t("ui-field-jurisdiction", "Jurisdiction"), jurisdictionBadge(s)),
    row("jurisdictions", t("ui-field-jurisdictions", "Jurisdictions (data, copies, keys)"), s.jurisdictions),
    row("cloud_act_exposed", t("ui-field-cloud-act", "Under the US CLOUD Act"), s.legal_review ? t("ui-legal-review", "unclear: legal review") : yesNo(s.cloud_act_exposed, "cloud_act_exposed")),
  ].filter(Boolean));
  const keyId = s.key_arn || s.key_store_id || "";
  const keys = section("keys", t("ui-sec-keys", "Keys"), [
    row("custody", t("ui-field-custody", "Custody"), h("span", {}, h("span", { class: "badge" }, custodyName(s.custody)), " ", s.custody_reason || "")),
    (s.custody_modifiers || []).length ? row("custody_modifiers", t("ui-field-custody-modifiers", "Modifiers"), s.custody_modifiers) : null,
    row("key_arn", t("ui-field-key", "Key"), s.key_arn
      ? h("a", { href: mapFind(s.key_arn, s.tenant), "data-testid": "store-key-link", title: t("ui-key-on-map", "the key on the map, with every store it encrypts") }, s.key_arn)
      : null),
    row("key_owner_account", t("ui-field-key-owner", "Key owner account"), s.key_owner_account),
    row("key_region", t("ui-field-key-region", "Key region"), s.key_region),
    s.key_store_id ? row("key_store_id", t("ui-field-key-store", "Key store"), h("a", { href: mapFind(s.key_store_id, s.tenant) }, s.key_store_id)) : null,
    s.client_key_mode ? row("client_key_mode", t("ui-field-client-key", "Client-side encryption"), s.client_key_mode) : null,
  ].filter(Boolean), keyId ? null : h("p", { class: "muted" }, t("ui-no-key-id", "No key of the customer's is named: the provider holds the key, or it could not be read.")));
  const size = section("size", t("ui-sec-size", "Size"), [
    row("kind", t("ui-field-kind", "Kind"), [s.kind, s.engine].filter(Boolean).join(" · ")),
    row("bytes", t("ui-field-bytes", "Bytes"), num(s.bytes, "store-bytes", bytes)),
    row("objects", t("ui-field-objects", "Objects"), num(s.objects, "store-objects")),
    s.allocated_bytes !== null && s.allocated_bytes !== undefined ? row("allocated_bytes", t("ui-field-allocated", "Allocated"), bytes(s.allocated_bytes)) : null,
    s.size_basis ? row("size_basis", t("ui-field-size-basis", "Size measured as"), s.size_basis) : null,
  ].filter(Boolean));
  const classification = section("classification", t("ui-sec-classification", "Classification"), [
    row("classification", t("ui-f-classification", "Classification"), s.classification || h("span", { class: "warn" }, t("ui-unclassified", "(unclassified)"))),
    row("process", t("ui-f-process", "Process"), s.process),
  ]);
  const lockin = section("lockin", t("ui-sec-lockin", "Lock-in"), [
    row("object_lock", t("ui-field-object-lock", "Object lock"), s.object_lock_unknown ? value(null, "objects")
      : s.object_lock ? [s.object_lock_mode, s.object_lock_retention_days ? t("ui-days", "{$n} days", { n: s.object_lock_retention_days }) : null].filter(Boolean).join(", ") || t("ui-yes", "yes")
        : t("ui-no", "no")),
    s.legal_hold ? row("legal_hold", t("ui-field-legal-hold", "Legal hold"), t("ui-yes", "yes")) : null,
    s.access_tier ? row("access_tier", t("ui-field-access-tier", "Access tier"), s.access_tier) : null,
    row("archive_bytes", t("ui-field-archive", "In archive classes"), s.archive_bytes === null || s.archive_bytes === undefined ? value(null, "bytes") : bytes(s.archive_bytes)),
  ].filter(Boolean), classes.length === 0 ? null : h("table", { "data-testid": "store-classes" },
    h("thead", {}, h("tr", {}, [t("ui-col-class", "storage class"), t("ui-col-bytes", "bytes"), t("ui-col-archive", "archive"),
      t("ui-col-minimum-days", "minimum days"), t("ui-col-retrieval-fee", "retrieval fee")].map((c) => h("th", {}, c)))),
    h("tbody", {}, classes.map((c) => h("tr", {}, h("td", {}, c.class || c.storage_type), h("td", { class: "num" }, bytes(c.bytes)),
      h("td", {}, c.archive ? t("ui-yes", "yes") : t("ui-no", "no")), h("td", { class: "num" }, c.minimum_days ?? "—"),
      h("td", {}, c.retrieval_fee ? t("ui-yes", "yes") : t("ui-no", "no")))))));
  const indicators = section("indicators", t("ui-sec-indicators", "Indicators"), [
    row("sov2_indicator", t("ui-dim-sov2", "SOV-2 indicator"), s.sov2_indicator),
    row("sov3_indicator", t("ui-dim-sov3", "SOV-3 indicator"), s.sov3_indicator),
  ], h("p", { class: "muted" }, SEAL_NOTE()),
  (s.indicator_reasons || []).length ? h("ul", { "data-testid": "store-indicator-reasons" }, s.indicator_reasons.map((x) => h("li", {}, x))) : null);
  const seen = h("p", { class: "muted", "data-testid": "store-seen" },
    t("ui-store-seen", "First seen {$first}, last seen {$last} (scan {$scan}).", { first: when(s.first_seen_ms), last: when(s.last_seen_ms), scan: s.last_scan_id || "—" }),
    s.gone_at_ms ? [" ", h("b", {}, t("ui-gone-at", "gone {$at}", { at: when(s.gone_at_ms) }))] : null);
  // For auditors: the whole interpretation and every fact behind it, folded away.
  const auditor = h("details", { class: "auditor", "data-testid": "store-auditor" },
    h("summary", {}, t("ui-auditor", "For auditors: the interpretation and the {$n} facts behind it", { n: facts.length })),
    h("h2", {}, t("ui-interpretation", "Interpretation")),
    h("table", { class: "kv", "data-testid": "store-view" }, h("tbody", {},
      Object.entries(s).filter(([k]) => k !== "unknowns" && k !== "not_applicable").map(([k, v]) =>
        h("tr", { "data-testid": `store-raw-${k}` }, h("th", {}, k), h("td", {}, /_ms$/.test(k) && v ? when(v) : value(v, k)))))),
    h("h2", {}, t("ui-facts-title", "Facts ({$n}) — what the cloud API said, when, in which scan, from which agent", { n: facts.length })),
    h("table", { "data-testid": "store-facts" },
      h("thead", {}, h("tr", {}, [t("ui-col-kind", "kind"), t("ui-col-call", "source call"), t("ui-col-observed", "observed"), t("ui-col-scan", "scan"),
        t("ui-col-agent", "agent"), t("ui-field-account", "Account"), t("ui-col-subject", "subject"), t("ui-col-body", "body")].map((c) => h("th", {}, c)))),
      h("tbody", {}, facts.map((f) => h("tr", { "data-testid": "fact-row", "data-kind": f.kind },
        h("td", {}, f.kind), h("td", {}, h("code", {}, f.api_call)), h("td", {}, when(f.observed_at_ms)),
        h("td", {}, f.scan_id), h("td", {}, f.agent), h("td", {}, f.account), h("td", {}, f.subject),
        h("td", {}, value(f.body)))))));
  show(
    h("p", {}, h("a", { href: "#/stores" }, t("ui-back-to-stores", "← Stores"))),
    h("h1", { "data-testid": "store-name" }, s.name || id, " ", jurisdictionBadge(s), " ", h("span", { class: "badge" }, `${t("ui-col-custody", "custody")}: ${custodyName(s.custody)}`)),
    h("p", { class: "muted" }, [s.kind, s.provider, s.account, s.tenant].filter(Boolean).join(" · ")),
    (s.unknowns || []).length === 0 ? null :
      h("section", { class: "card warn", "data-testid": "store-unknowns" }, h("h2", {}, t("ui-not-known", "Not known — and why")),
        h("ul", {}, s.unknowns.map((u) => h("li", { "data-testid": `store-unknown-${u.dimension}` },
          h("b", {}, u.dimension), ": ", u.reason)))),
    // Not applicable: the provider lacks the call. Neither unknown nor "no".
    (s.not_applicable || []).length === 0 ? null :
      h("section", { class: "card", "data-testid": "store-not-applicable" }, h("h2", {}, t("ui-not-applicable", "Not applicable at this provider")),
        h("ul", {}, s.not_applicable.map((n) => h("li", { "data-testid": `store-not-applicable-${n.dimension}` },
          h("b", {}, n.dimension), ": ", n.reason)))),
    h("div", { class: "sections" }, where, keys, copiesSection(s, tenant || s.tenant), size, classification, lockin, indicators),
    seen,
    auditor);
}

// ---- changes (history + live) -------------------------------------------------------------

const CHANGE_KINDS = ["added", "changed", "gone", "unknown"];

function changeRow(e, fresh) {
  const desc = (e.changes || []).map((c) => `${c.field}: ${c.before} → ${c.after}`).join("; ");
  const storeName = (e.store && e.store.name) || e.store_id;
  return h("tr", { "data-testid": `change-row-${e.id}`, "data-change-id": e.id, "data-kind": e.kind, class: fresh ? "new-row" : "" },
    h("td", { class: "num" }, e.id), h("td", {}, when(e.at_ms)), h("td", {}, e.tenant),
    h("td", {}, h("a", { href: storeHref(e.store_id, e.tenant) }, storeName)),
    h("td", {}, h("span", { class: "badge" }, t(`ui-change-${e.kind}`, e.kind))), h("td", { "data-testid": "change-desc" }, desc), h("td", {}, e.scan_id));
}

async function changes(r) {
  const fp = filterParams(r.params);
  // Since a day (in the collector's zone) and of a kind: the history's own controls, kept
  // beside the store filters.
  const since = r.params.get("since") || "";
  const kind = r.params.get("kind") || "";
  const q = new URLSearchParams(fp);
  if (since) q.set("since_ms", String(startOfDay(since)));
  const wanted = (e) => !kind || e.kind === kind;
  const list = ((await api(`/v1/changes?${q}`)) || []).filter(wanted);
  list.sort((a, b) => b.id - a.id);
  const seen = new Set(list.map((e) => e.id));
  const tbody = h("tbody", {}, list.map((e) => changeRow(e, false)));
  const status = h("span", { "data-testid": "changes-live" }, t("ui-connecting", "connecting…"));
  const count = h("span", { "data-testid": "changes-count" }, String(list.length));
  const controls = [
    h("label", { for: "f-since" }, t("ui-since", "Since"), h("input", { id: "f-since", name: "since", type: "date", value: since, max: isoDay(Date.now()) })),
    h("label", { for: "f-kind" }, t("ui-change-kind", "Kind of change"),
      h("select", { id: "f-kind", name: "kind" }, ["", ...CHANGE_KINDS].map((k) => h("option", { value: k, selected: k === kind }, k ? t(`ui-change-${k}`, k) : t("ui-any", "any"))))),
  ];
  show(
    h("h1", {}, t("ui-title-changes", "Changes"), " ", h("span", { class: "badge" }, count)),
    filterForm("changes", r.params, controls),
    h("p", {}, t("ui-changes-intro", "History of what changed between scans; new scans appear here as they land"), " (", status, ")."),
    list.length === 0 ? h("p", { class: "muted", "data-testid": "changes-none" }, t("ui-changes-none", "No changes match.")) : null,
    h("table", { "data-testid": "changes-table" },
      h("thead", {}, h("tr", {}, ["id", t("ui-col-at", "at"), t("ui-f-tenant", "Tenant"), t("ui-col-store", "store"), t("ui-col-kind", "kind"),
        t("ui-col-what-changed", "what changed"), t("ui-col-scan", "scan")].map((c) => h("th", {}, c)))),
      tbody));
  const after = list.reduce((m, e) => Math.max(m, e.id), 0);
  const live = new URLSearchParams(fp);
  live.set("after_id", String(after));
  const es = new EventSource(`/v1/events?${live}`);
  const badge = document.getElementById("live");
  const onEvent = (msg) => {
    let e;
    try { e = JSON.parse(msg.data); } catch { return; }
    if (seen.has(e.id) || !wanted(e)) return;
    seen.add(e.id);
    tbody.prepend(changeRow(e, true));
    count.textContent = String(seen.size);
  };
  for (const k of [...CHANGE_KINDS, "message"]) es.addEventListener(k, onEvent);
  es.onopen = () => { status.textContent = "live"; badge.hidden = false; badge.textContent = t("ui-live", "live"); badge.classList.add("on"); };
  es.onerror = () => { status.textContent = t("ui-reconnecting", "reconnecting…"); badge.classList.remove("on"); badge.textContent = t("ui-reconnecting", "reconnecting…"); };
  leaveView = () => { es.close(); badge.hidden = true; badge.classList.remove("on"); };
}

// ---- coverage -----------------------------------------------------------------------------

async function coverage(r) {
  const tenant = r.params.get("tenant") || "";
  const q = tenant ? `?tenant=${encodeURIComponent(tenant)}` : "";
  const [d, st] = await Promise.all([api(`/v1/coverage${q}`), api(`/v1/settings${q}`)]);
  const scans = d.scans || [];
  const settings = st.settings || [];
  const form = h("form", { class: "filters" },
    h("label", { for: "cov-tenant" }, t("ui-f-tenant", "Tenant"), h("input", { id: "cov-tenant", name: "tenant", value: tenant, list: "names-cov-tenant", autocomplete: "off" })),
    h("datalist", { id: "names-cov-tenant" }),
    h("button", { type: "submit", class: "primary" }, t("ui-show", "Show")));
  api("/v1/names").then((names) => {
    const list = document.getElementById("names-cov-tenant");
    if (list && names && names.tenant) list.replaceChildren(...names.tenant.map((v) => h("option", { value: v })));
  }).catch(() => {});
  form.addEventListener("submit", (ev) => { ev.preventDefault(); const p = new URLSearchParams(); const v = form.elements.tenant.value; if (v) p.set("tenant", v); go("coverage", p); });
  show(
    h("h1", {}, t("ui-title-coverage", "Coverage")),
    h("p", { class: "note" }, t("ui-coverage-note", "Not seen is not “not there”: a call that failed leaves a gap, and the stores behind it may exist. An incomplete scan never marks stores gone.")),
    form,
    settings.length === 0 ? null : h("section", { class: "card", "data-testid": "settings" },
      h("h2", {}, t("ui-settings-title", "Account settings")),
      h("p", { class: "note" }, t("ui-settings-note", "Settings decide how new stores are made (EBS encryption by default and its key per region), even where no store exists yet.")),
      h("table", { class: "gaps" },
        h("thead", {}, h("tr", {}, [t("ui-field-account", "Account"), t("ui-field-region", "Region"), t("ui-col-setting", "setting"),
          t("ui-col-value", "value"), t("ui-col-meaning", "meaning")].map((c) => h("th", {}, c)))),
        h("tbody", {}, settings.map((x) => h("tr", { "data-testid": `setting-${slug(x.name)}-${slug(x.region)}` },
          h("td", {}, x.account), h("td", {}, x.region), h("td", {}, x.name),
          h("td", {}, x.known ? h("code", {}, x.value) : h("span", { class: "badge unknown" }, unknownText())),
          h("td", {}, x.concern ? h("span", { class: "badge j-non-eu" }, t("ui-concern", "concern")) : null, " ", x.known ? x.meaning : x.unknown_reason)))))),
    scans.length === 0 ? h("p", { class: "muted" }, t("ui-no-scans", "no scans yet")) : null,
    scans.map((s) => h("section", { class: "card", "data-testid": `scan-${slug(s.scan_id)}` },
      h("h2", {}, t("ui-scan-title", "{$provider} scan {$scan}", { provider: s.provider, scan: s.scan_id }), " ",
        s.complete ? h("span", { class: "badge ok" }, t("ui-complete", "complete")) : h("span", { class: "badge j-non-eu" }, t("ui-incomplete", "incomplete"))),
      h("p", { class: "muted" }, t("ui-scan-line", "tenant {$tenant} · agent {$agent} · accounts {$accounts} · {$start} → {$end}", {
        tenant: s.tenant, agent: s.agent, accounts: (s.accounts || []).join(", "), start: when(s.started_at_ms),
        end: s.ended_at_ms ? when(s.ended_at_ms) : t("ui-not-ended", "not ended"),
      })),
      (s.gaps || []).length === 0 ? h("p", { class: "ok", "data-testid": "no-gaps" }, t("ui-no-gaps", "every call answered")) :
        h("table", { class: "gaps" },
          h("thead", {}, h("tr", {}, [t("ui-field-account", "Account"), t("ui-field-region", "Region"), t("ui-col-call-short", "call"),
            t("ui-col-subject", "subject"), t("ui-col-code", "code"), t("ui-col-message", "message")].map((c) => h("th", {}, c)))),
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

/** An amount with its currency, or unknown (never 0). */
function amount(x, currency, testid) {
  return num(x, testid, (v) => money(v, currency || "EUR"));
}

/** The exit scenario's answer for people: the figures a decision needs, the stores and keys
 * it concerns, and the whole document (with every source) folded away. */
function exitAnswer(x, affected, p) {
  const e = x.egress || {};
  const k = x.keys || {};
  const lock = x.lock_in || {};
  const hours = x.transfer && x.transfer.hours;
  const figures = h("div", { class: "figures", "data-testid": "exit-figures" },
    figure(t("ui-fig-stores", "Stores"), num(x.stores, "exit-fig-stores")),
    figure(t("ui-fig-bytes", "Bytes (known sizes)"), num(x.bytes, "exit-fig-bytes", bytes)),
    figure(t("ui-exit-transfer", "Transfer time"), num(hours, "exit-fig-hours", (v) => t("ui-hours", "{$n} h", { n: number(v, 1) }))),
    figure(t("ui-exit-egress", "Egress at list price"), amount(e.list_price && e.list_price.amount, e.currency, "exit-fig-egress")),
    figure(t("ui-exit-data-act", "Switching charge under the Data Act"), amount(e.data_act && e.data_act.amount, e.currency, "exit-fig-data-act")),
    figure(t("ui-exit-keys", "Keys to re-create"), num(k.keys_to_recreate, "exit-fig-keys")),
    figure(t("ui-exit-storage-now", "Storage per month now"), amount(x.storage_per_month && x.storage_per_month.now.amount, x.storage_per_month && x.storage_per_month.now.currency, "exit-fig-now")),
    figure(t("ui-exit-storage-after", "Storage per month after"), amount(x.storage_per_month && x.storage_per_month.after.amount, x.storage_per_month && x.storage_per_month.after.currency, "exit-fig-after")));
  const notes = h("ul", { class: "note", "data-testid": "exit-notes" },
    e.data_act ? h("li", {}, e.data_act.rule) : null,
    e.free_exit_programme ? h("li", {}, t("ui-exit-free-programme", "Free-exit programme:"), " ", e.free_exit_programme.conditions) : null,
    x.stores_size_unknown ? h("li", {}, t("ui-exit-size-unknown", "{$n} stores of unknown size are not in the bytes, the time or the cost.", { n: int(x.stores_size_unknown) })) : null,
    lock.lock_unknown_stores ? h("li", {}, t("ui-exit-lock-unknown", "{$n} stores: whether data is locked is unknown.", { n: int(lock.lock_unknown_stores) })) : null,
    (lock.object_lock_stores || []).length ? h("li", {}, t("ui-exit-locked", "{$n} stores hold locked objects that cannot leave before their retention ends.", { n: int(lock.object_lock_stores.length) })) : null);
  // Affected stores: the provider's stores the filter selects (the API's first page).
  const storesLink = new URLSearchParams(filterParams(p));
  storesLink.set("provider", x.from);
  const storesTable = h("section", { class: "card", "data-testid": "exit-stores" },
    h("h2", {}, t("ui-exit-affected-stores", "Affected stores ({$n})", { n: int(x.stores) })),
    h("table", {},
      h("thead", {}, h("tr", {}, [t("ui-col-name", "name"), t("ui-col-kind", "kind"), t("ui-field-region", "Region"), t("ui-col-custody", "custody"), t("ui-col-bytes", "bytes")].map((c) => h("th", {}, c)))),
      h("tbody", {}, affected.stores.map((s) => h("tr", { "data-testid": "exit-store" },
        h("td", {}, h("a", { href: storeHref(s.id, s.tenant) }, s.name)), h("td", {}, s.kind || ""), h("td", {}, s.region),
        h("td", {}, custodyName(s.custody)), h("td", { class: "num" }, bytes(s.bytes)))))),
    affected.more ? h("p", {}, h("a", { href: `#/stores?${storesLink}`, "data-testid": "exit-stores-all" }, t("ui-exit-all-stores", "All {$n} stores on the Stores page", { n: int(x.stores) }))) : null);
  const groups = k.by_custody || [];
  const keysTable = h("section", { class: "card", "data-testid": "exit-keys" },
    h("h2", {}, t("ui-exit-affected-keys", "Keys and what becomes of them")),
    groups.length === 0 ? h("p", { class: "muted" }, t("ui-no-rows", "no rows in this scope")) :
      h("table", {},
        h("thead", {}, h("tr", {}, [t("ui-col-custody", "custody"), t("ui-exit-fate", "at the target"), t("ui-col-stores", "stores"), t("ui-exit-key-ids", "keys")].map((c) => h("th", {}, c)))),
        h("tbody", {}, groups.map((g) => h("tr", { "data-testid": `exit-keys-${slug(g.custody)}` },
          h("td", {}, custodyName(g.custody)), h("td", {}, g.fate_text), h("td", { class: "num" }, int(g.stores)),
          h("td", {}, (g.key_ids || []).length
            ? h("ul", {}, g.key_ids.map((id) => h("li", { "data-testid": "exit-key" }, h("a", { href: mapFind(id, p.get("tenant")) }, id))))
            : h("span", { class: "muted" }, g.stores_without_key_id ? t("ui-exit-no-key-id", "no key id (provider-held or not named)") : "—")))))),
    h("p", { class: "muted" }, t("ui-exit-key-manager", "External key manager at the target:"), " ", (k.target_external_key_manager || {}).support || unknownText(),
      (k.target_external_key_manager || {}).how ? ` — ${k.target_external_key_manager.how}` : ""));
  const raw = h("details", { class: "auditor", "data-testid": "exit-details" },
    h("summary", {}, t("ui-exit-document", "Every figure with its source (the API's document)")),
    kvTable(x || {}, "exit", { "data-testid": "exit-result" }));
  return [figures, notes, storesTable, keysTable, raw];
}

async function exit(r) {
  const p = r.params;
  const names = await api("/v1/names").catch(() => ({}));
  const choose = (name, label, options, chosen) => h("label", { for: `x-${name}` }, label,
    h("select", { id: `x-${name}`, name, required: true },
      h("option", { value: "" }, t("ui-choose", "choose…")),
      options.map((o) => h("option", { value: o, selected: o === chosen }, o))));
  const field = (name, label, val, type, required) =>
    h("label", { for: `x-${name}` }, label, h("input", { id: `x-${name}`, name, value: val || "", type, required, min: type === "number" ? "1" : undefined }));
  const from = p.get("from") || "";
  const to = p.get("to") || "";
  // One form: the providers (those in the map, the priced alternatives), the transfer, the day
  // and the store filters; the provider filter is "From".
  const exitFields = [
    choose("from", t("ui-exit-from", "From provider"), names.provider || [], from),
    choose("to", t("ui-exit-to", "To provider (priced)"), (names.exit_target || []).filter((x) => x !== from), to),
    field("bandwidth_mbps", t("ui-exit-bandwidth", "Bandwidth (Mbit/s)"), p.get("bandwidth_mbps") || "1000", "number", true),
    // The EU Data Act's switching charges depend on the day (none from 2027-01-12).
    field("on", t("ui-exit-on", "On (date; default today)"), p.get("on") || "", "date", false),
  ];
  const form = filterForm("exit", p, exitFields, [], { omit: ["provider"], submit: t("ui-exit-compute", "Compute") });
  form.dataset.testid = "exit-form";
  const tenant = p.get("tenant") || "";
  const links = h("p", {},
    tenant ? [
      h("a", { href: `/v1/report?tenant=${encodeURIComponent(tenant)}&format=html`, target: "_blank", rel: "noopener", "data-testid": "board-report" }, t("ui-board-report", "Board report")),
      " · ",
      h("a", { href: `/v1/evidence?tenant=${encodeURIComponent(tenant)}`, target: "_blank", rel: "noopener" }, t("ui-evidence", "Evidence bundle (JSON)")),
    ] : h("span", { class: "muted" }, t("ui-exit-tenant-hint", "Filter by a tenant for its board report and evidence bundle.")));
  let result = null;
  if (from && to) {
    const q = new URLSearchParams(filterParams(p));
    for (const k of ["from", "to", "bandwidth_mbps", "on"]) if (p.get(k)) q.set(k, p.get(k));
    const sq = new URLSearchParams(filterParams(p));
    sq.set("provider", from);
    sq.set("page_size", "100");
    const [x, page] = await Promise.all([api(`/v1/exit?${q}`), api(`/v1/stores?${sq}`)]);
    result = exitAnswer(x || {}, { stores: page.stores || [], more: !!page.next_page_token }, p);
  }
  show(
    h("h1", {}, t("ui-title-exit", "Exit scenario")),
    h("p", {}, t("ui-exit-intro", "Move everything of one provider (narrowed by the filters) to an alternative: bytes and objects to move, egress cost, transfer time, keys to re-create, replication to cut, lock-in features.")),
    form, links,
    result || h("p", { class: "muted" }, t("ui-exit-choose", "Choose the providers and compute; the answer includes the EU Data Act's switching-charge rules.")));
}

// ---- session ------------------------------------------------------------------------------

function showLogin() {
  document.getElementById("login").hidden = false;
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  view().replaceChildren();
  document.title = `${t("ui-sign-in", "Sign in")} — landmeter`;
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
