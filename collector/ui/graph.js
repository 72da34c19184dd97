// The dependency map: a layered drawing (dagre, vendored as /ui/assets/dagre.js) of
// tenant -> account -> provider / store -> region, store -> key -> key store, with
// replication as arrows from a store to the region its copy is in. Zoom and pan, a search box,
// a node's neighbours highlighted on hover or focus, jurisdiction by shape and pattern as well
// as colour, and store groups that collapse further per account when the map would be too big
// to read (10,000 stores draw as a few hundred nodes). The same nodes are listed in a table for
// screen readers and keyboard users.

import dagre from "/ui/assets/dagre.js";
import { t } from "/ui/assets/i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 200, NODE_H = 30;
/** Above this many nodes, the server's store groups are bundled per account (expandable). */
export const MAX_NODES = 300;
const RANK = { tenant: 0, account: 1, provider: 2, store: 2, "store-group": 2, bundle: 2, region: 3, key: 3, "key-store": 4 };
const KIND_NAMES = {
  tenant: "tenant", account: "account", provider: "provider", region: "region", store: "store",
  "store-group": "store group", bundle: "stores of an account", key: "key", "key-store": "key store",
};
/** A node kind's name in the chosen language (`ui-node-<kind>`). */
const kindName = (kind) => (KIND_NAMES[kind] ? t(`ui-node-${kind}`, KIND_NAMES[kind]) : kind);
export const JURISDICTIONS = [
  ["eu", "EU/EEA", "circle"],
  ["us-parent", "EU, US-parented provider (CLOUD Act)", "triangle"],
  ["non-eu", "outside the EU/EEA (data or a copy)", "square"],
  ["unknown", "unknown", "diamond"],
];
/** A jurisdiction's words in the chosen language (`ui-j-<key>`). */
const jurisdictionName = (key) => {
  const [k, label] = JURISDICTIONS.find(([j]) => j === key) || JURISDICTIONS[3];
  return t(`ui-j-${k}`, label);
};
// Fill and stroke per jurisdiction; the stroke colours reach 4.5:1 on white.
const COLOURS = {
  eu: ["#e3f3ea", "#1f7045"], "non-eu": ["#f8e1de", "#c0392b"],
  "us-parent": ["#fcebd9", "#a04a00"], unknown: ["#eceef1", "#676d75"],
};
export const CUSTODY = [
  ["unknown", "?", "unknown"], ["none", "none", "not encrypted"], ["provider", "P", "provider-held key"],
  ["customer-managed", "CM", "customer-managed key"], ["byok", "BYOK", "bring your own key"],
  ["dedicated-hsm", "HSM", "dedicated HSM"], ["hyok", "HYOK", "hold your own key"],
];
/** A custody level's words in the chosen language (`ui-custody-<level>`). */
export const custodyName = (level) => {
  const found = CUSTODY.find(([k]) => k === level);
  return found ? t(`ui-custody-${level}`, found[2]) : level;
};
const BADGE = Object.fromEntries(CUSTODY.map(([k, b]) => [k, b]));

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function html(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** The distinguishing end of an id: an ARN's resource (`key/1234abcd-…`), an ARM id's or a
 * URL's last two segments; the server shortens store names the same way (`short_name`). */
export function shortId(s) {
  const t = String(s);
  if (t.startsWith("arn:")) return t.split(":").slice(5).join(":") || t;
  if (t.startsWith("/subscriptions/") || /^https?:\/\//.test(t)) {
    const parts = t.replace(/^https?:\/\//, "").split("/").filter(Boolean);
    return parts.length > 2 ? parts.slice(-2).join("/") : t;
  }
  return t;
}

/** Cuts from the start, keeping the end: ids differ at their end (`…ab12-9f3c`). */
export function clipStart(s, n) {
  return s.length > n ? `…${s.slice(s.length - n + 1)}` : s;
}

function nodeLabel(n) {
  if (n.kind === "key" || n.kind === "key-store") return shortId(n.label);
  return String(n.label);
}

/** Bundles the server's store groups per (tenant, account) when the map has more than `max`
 * nodes, except the accounts in `open`; a bundle counts its stores and groups. Pure. */
export function bundle(g, open = new Set(), max = MAX_NODES) {
  const nodes = g.nodes || [], edges = g.edges || [];
  if (nodes.length <= max) return { nodes, edges, bundled: false };
  const bundleOf = new Map();
  const bundles = new Map();
  for (const n of nodes) {
    if (n.kind !== "store-group") continue;
    // group:<tenant>/<account>/<region>/<kind>/<custody>; the account may hold no '/'.
    const m = /^group:([^/]*)\/([^/]*)\//.exec(n.id);
    if (!m) continue;
    const id = `bundle:${m[1]}/${m[2]}`;
    if (open.has(id)) continue;
    bundleOf.set(n.id, id);
    const b = bundles.get(id) || { id, kind: "bundle", account: `${m[1]}/${m[2]}`, count: 0, groups: 0, jurisdiction: "eu", custody: null, bytes: 0, tenant: n.tenant };
    b.count += n.count || 0;
    b.groups += 1;
    b.bytes += n.bytes || 0;
    b.jurisdiction = worse(b.jurisdiction, n.jurisdiction);
    bundles.set(id, b);
  }
  for (const b of bundles.values()) b.label = `${b.count} stores in ${b.groups} groups`;
  const out = nodes.filter((n) => !bundleOf.has(n.id)).concat([...bundles.values()]);
  const seen = new Set();
  const outEdges = [];
  for (const e of edges) {
    const from = bundleOf.get(e.from) || e.from, to = bundleOf.get(e.to) || e.to;
    const k = `${from}>${to}>${e.kind}`;
    if (seen.has(k)) continue;
    seen.add(k);
    outEdges.push({ ...e, from, to });
  }
  return { nodes: out, edges: outEdges, bundled: bundles.size > 0 };
}

function worse(a, b) {
  const rank = { "non-eu": 3, "us-parent": 2, unknown: 1, eu: 0 };
  return (rank[b] || 0) > (rank[a] || 0) ? b : a;
}

/** Positions of every node and the points of every edge (dagre, left to right). Pure. */
export function layout(nodes, edges) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  // tight-tree ranks as well as network-simplex here (every edge spans one column) and
  // stays fast: network-simplex took minutes on some 800-node maps.
  g.setGraph({ rankdir: "LR", ranker: "tight-tree", nodesep: 8, ranksep: 70, edgesep: 6, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: NODE_W, height: NODE_H });
  edges.forEach((e, i) => {
    // Providers join the regions' column and keys get one of their own, so every column
    // holds one kind of thing: tenant, account, store, region/provider, key, key store.
    const minlen = e.kind === "hosted-by" || e.kind === "encrypted-by" ? 2 : 1;
    if (g.hasNode(e.from) && g.hasNode(e.to) && e.from !== e.to) g.setEdge(e.from, e.to, { minlen }, String(i));
  });
  dagre.layout(g);
  const pos = new Map(nodes.map((n) => { const p = g.node(n.id); return [n.id, { x: p.x - NODE_W / 2, y: p.y - NODE_H / 2 }]; }));
  const paths = edges.map((e, i) => {
    const d = g.hasNode(e.from) && g.hasNode(e.to) ? g.edge(e.from, e.to, String(i)) : null;
    return d ? d.points : null;
  });
  const gr = g.graph();
  return { pos, paths, width: gr.width || 0, height: gr.height || 0 };
}

/** A jurisdiction's symbol at (x, y), 12 px: circle, triangle, square, hollow diamond. */
export function symbol(j, x, y) {
  const [, stroke] = COLOURS[j] || COLOURS.unknown;
  const shape = (JURISDICTIONS.find(([k]) => k === j) || JURISDICTIONS[3])[2];
  const g = el("g", { class: `sym sym-${j}`, "aria-hidden": "true" });
  if (shape === "circle") g.append(el("circle", { cx: x + 6, cy: y + 6, r: 5.5, fill: stroke }));
  else if (shape === "triangle") g.append(el("path", { d: `M${x + 6} ${y} L${x + 12} ${y + 11} L${x} ${y + 11} Z`, fill: stroke }));
  else if (shape === "square") g.append(el("rect", { x, y, width: 11, height: 11, fill: stroke }));
  // Unknown: a hollow diamond (no text, so the node's name is only what it says).
  else g.append(el("path", { d: `M${x + 6} ${y} L${x + 12} ${y + 6} L${x + 6} ${y + 12} L${x} ${y + 6} Z`, fill: "#fff", stroke, "stroke-width": 1.8 }));
  return g;
}

function defs() {
  const d = el("defs");
  for (const [id, colour] of [["arrow", "#6b7380"], ["arrow-rep", "#7d3c98"]]) {
    const m = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    m.append(el("path", { d: "M0 0 L10 5 L0 10 z", fill: colour }));
    d.append(m);
  }
  // Outside the EU is hatched as well as red, so it reads without colour.
  const p = el("pattern", { id: "hatch-non-eu", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  p.append(el("rect", { width: 6, height: 6, fill: COLOURS["non-eu"][0] }));
  p.append(el("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#e8a59d", "stroke-width": 2 }));
  d.append(p);
  return d;
}

/** The legend: only what the drawing uses, each entry drawn the way the map draws it. */
export function legend() {
  const item = (svg, text) => html("li", {}, svg, " ", text);
  const small = (w = 14) => el("svg", { width: w, height: 14, viewBox: `0 0 ${w} 14`, "aria-hidden": "true", class: "legend-sym" });
  const js = JURISDICTIONS.map(([k]) => { const s = small(); s.append(symbol(k, 1, 1)); return item(s, jurisdictionName(k)); });
  const arrow = (cls, marker) => {
    const s = small(36);
    s.append(el("defs", {}), el("path", { d: "M1 7 L34 7", class: `edge ${cls}`, "marker-end": `url(#${marker})` }));
    return s;
  };
  return html("div", { class: "legend", "data-testid": "graph-legend" },
    html("ul", { "aria-label": t("ui-legend-jurisdiction", "Jurisdiction (shape and colour)") }, js,
      item(hatched(), t("ui-legend-hatched", "hatched: outside the EU/EEA"))),
    html("ul", { "aria-label": t("ui-legend-edges", "Edges") },
      item(arrow("", "arrow"), t("ui-legend-edge", "belongs to / is in / is encrypted by")),
      item(arrow("replicates-to", "arrow-rep"), t("ui-legend-replicates", "replicates to (dashed, purple)"))),
    html("p", { class: "muted" }, t("ui-legend-badge", "Badge: key custody —"), " ", CUSTODY.map(([k, b]) => `${b} ${custodyName(k)}`).join(", "),
      ". ", t("ui-legend-groups", "Rounded nodes are groups: activate one to show its stores.")));
}

function hatched() {
  const s = el("svg", { width: 14, height: 14, viewBox: "0 0 14 14", "aria-hidden": "true", class: "legend-sym" });
  s.append(el("rect", { x: 1, y: 1, width: 12, height: 12, fill: "url(#hatch-non-eu)", stroke: COLOURS["non-eu"][1] }));
  return s;
}

/**
 * Draws `g` ({nodes, edges}) into `container` with its controls: zoom, fit, search, and the
 * table alternative; the accounts in `open` (bundle ids) are not bundled. `onNode(node)` on
 * click or Enter on a store, a server group or a bundle. Returns the drawn graph.
 */
export function renderGraph(container, g, onNode, open = new Set(), find = "") {
  const drawn = bundle(g, open);
  const t0 = performance.now();
  const { nodes, edges } = drawn;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const lay = layout(nodes, edges);
  const layoutMs = Math.round(performance.now() - t0);

  const neighbours = new Map(nodes.map((n) => [n.id, new Set()]));
  edges.forEach((e) => { if (byId.has(e.from) && byId.has(e.to)) { neighbours.get(e.from).add(e.to); neighbours.get(e.to).add(e.from); } });

  const svg = el("svg", {
    class: "graph", role: "group", "data-testid": "graph", "data-layout-ms": layoutMs,
    "aria-label": t("ui-graph-label", "dependency map, {$n} nodes; the same nodes are listed in the table below the map", { n: nodes.length }),
  });
  svg.append(defs());
  const root = el("g", { class: "viewport" });
  const edgeLayer = el("g", { class: "edges" });
  const edgeEls = [];
  edges.forEach((e, i) => {
    const pts = lay.paths[i];
    if (!pts || !pts.length) return;
    const d = pts.map((p, k) => `${k ? "L" : "M"}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
    const rep = e.kind === "replicates-to";
    const p = el("path", {
      class: `edge ${e.kind}`, d, "data-edge": `${e.from}>${e.to}`, "data-kind": e.kind,
      "marker-end": `url(#${rep ? "arrow-rep" : "arrow"})`,
    });
    p.append(el("title", {}, `${e.kind}: ${nodeLabel(byId.get(e.from))} → ${nodeLabel(byId.get(e.to))}`));
    edgeLayer.append(p);
    edgeEls.push([e, p]);
  });
  root.append(edgeLayer);

  const nodeLayer = el("g", { class: "nodes" });
  const nodeEls = new Map();
  for (const n of nodes) {
    const { x, y } = lay.pos.get(n.id);
    const [fill, stroke] = COLOURS[n.jurisdiction] || COLOURS.unknown;
    const badge = n.custody ? BADGE[n.custody] || "?" : null;
    const group = n.kind === "store-group" || n.kind === "bundle";
    const clickable = n.kind === "store" || group;
    const label = nodeLabel(n);
    const shown = n.kind === "store-group" ? `${label}` : label;
    const kind = kindName(n.kind);
    const j = jurisdictionName(n.jurisdiction);
    const bw = badge ? 10 + badge.length * 7 : 0;
    // 7.8 px a character: digits, which ids are full of, are the widest at 12 px.
    const room = Math.floor((NODE_W - 24 - (badge ? bw + 10 : 6)) / 7.8);
    // The label stops before the badge; ids keep their distinguishing end.
    const text = n.kind === "key" || n.kind === "key-store" ? clipStart(shown, room) : clip(shown, room);
    // The name starts with the drawn text (WCAG 2.5.3: what is seen can be spoken), then says it in full.
    const drawnText = badge ? `${text} ${badge}` : text;
    const node = el("g", {
      class: `node ${n.kind}${clickable ? " clickable" : ""}`, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
      "data-node-id": n.id, "data-kind": n.kind, "data-jurisdiction": n.jurisdiction,
      // Every node is announced: a button when it opens something, else an image with its name.
      tabindex: clickable ? 0 : undefined, role: clickable ? "button" : "img",
      "aria-label": `${drawnText}: ${kind} ${n.label}${group ? `, ${t("ui-graph-group-label", "{$n} stores, activate to show them", { n: n.count })}` : ""}, ${j}${n.custody ? `, ${t("ui-key-custody", "key custody")} ${custodyName(n.custody)}` : ""}`,
    });
    node.append(el("title", {}, `${kind}: ${n.label}\n${t("ui-jurisdiction", "jurisdiction")}: ${j}${n.custody ? `\n${t("ui-key-custody", "key custody")}: ${custodyName(n.custody)}` : ""}${n.count ? `\n${t("ui-col-stores", "stores")}: ${n.count}` : ""}`));
    node.append(el("rect", {
      class: "box", width: NODE_W, height: NODE_H, rx: group ? 12 : 3,
      fill: n.jurisdiction === "non-eu" ? "url(#hatch-non-eu)" : fill, stroke,
      "stroke-dasharray": n.jurisdiction === "unknown" ? "4 3" : undefined,
    }));
    node.append(symbol(n.jurisdiction, 7, 9));
    node.append(el("text", { x: 24, y: 19 }, text));
    if (badge) {
      node.append(el("rect", { class: "badge-box", x: NODE_W - bw - 4, y: 6, width: bw, height: 18, rx: 9, stroke }));
      node.append(el("text", { class: "badge-text", x: NODE_W - bw / 2 - 4, y: 19, "text-anchor": "middle" }, ` ${badge}`)); // the space keeps "name badge" apart in the text a reader gets
    }
    if (clickable) {
      const act = () => onNode(n);
      node.addEventListener("click", act);
      node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); act(); } });
    }
    const hl = () => highlight(n.id);
    node.addEventListener("pointerenter", hl);
    node.addEventListener("focus", hl);
    node.addEventListener("pointerleave", () => highlight(null));
    node.addEventListener("blur", () => highlight(null));
    nodeLayer.append(node);
    nodeEls.set(n.id, node);
  }
  root.append(nodeLayer);
  svg.append(root);

  // A node and its neighbours stand out; the rest fades (search matches win when set).
  function highlight(id) {
    svg.classList.toggle("focus-mode", id !== null);
    if (id === null) { for (const e of nodeEls.values()) e.classList.remove("hl"); for (const [, p] of edgeEls) p.classList.remove("hl"); return; }
    const near = neighbours.get(id) || new Set();
    for (const [k, e] of nodeEls) e.classList.toggle("hl", k === id || near.has(k));
    for (const [e, p] of edgeEls) p.classList.toggle("hl", e.from === id || e.to === id);
  }

  // Zoom and pan: a transform on the root group; wheel zooms at the pointer, drag pans.
  const view = { k: 1, x: 0, y: 0 };
  const apply = () => root.setAttribute("transform", `translate(${view.x.toFixed(1)},${view.y.toFixed(1)}) scale(${view.k.toFixed(3)})`);
  const zoomAt = (f, cx, cy) => {
    const k = Math.min(3, Math.max(0.1, view.k * f));
    view.x = cx - ((cx - view.x) * k) / view.k;
    view.y = cy - ((cy - view.y) * k) / view.k;
    view.k = k;
    apply();
  };
  const size = () => { const r = svg.getBoundingClientRect(); return [r.width || 800, r.height || 600]; };
  const fit = () => {
    const [w, h] = size();
    view.k = Math.min(1, Math.max(0.1, Math.min(w / (lay.width || 1), h / (lay.height || 1))));
    view.x = Math.max(0, (w - lay.width * view.k) / 2);
    view.y = Math.max(0, (h - lay.height * view.k) / 2);
    apply();
  };
  // The first view: the whole map if its text stays legible, else legible from the top left.
  const start = () => {
    fit();
    if (view.k >= 0.7) return;
    view.k = 0.7;
    view.x = 0;
    view.y = 0;
    apply();
  };
  const centreOn = (id) => {
    const p = lay.pos.get(id);
    if (!p) return;
    const [w, h] = size();
    view.k = Math.max(view.k, 0.8);
    view.x = w / 2 - (p.x + NODE_W / 2) * view.k;
    view.y = h / 2 - (p.y + NODE_H / 2) * view.k;
    apply();
  };
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => {
    if (ev.target.closest && ev.target.closest(".node")) return;
    drag = { x: ev.clientX - view.x, y: ev.clientY - view.y };
    svg.setPointerCapture(ev.pointerId);
    svg.classList.add("dragging");
  });
  svg.addEventListener("pointermove", (ev) => { if (drag) { view.x = ev.clientX - drag.x; view.y = ev.clientY - drag.y; apply(); } });
  const stop = () => { drag = null; svg.classList.remove("dragging"); };
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointercancel", stop);

  const status = html("span", { class: "muted", role: "status", "data-testid": "graph-search-status" });
  const search = html("input", { type: "search", id: "graph-search", placeholder: t("ui-graph-search-placeholder", "name, region, key…"), autocomplete: "off", "data-testid": "graph-search" });
  let matches = [], at = -1;
  const runSearch = () => {
    const q = search.value.trim().toLowerCase();
    matches = q ? nodes.filter((n) => `${n.label} ${n.id}`.toLowerCase().includes(q)).map((n) => n.id) : [];
    at = -1;
    svg.classList.toggle("searching", q !== "");
    for (const [k, e] of nodeEls) e.classList.toggle("match", matches.includes(k));
    status.textContent = q ? (matches.length === 1 ? t("ui-graph-one-match", "1 match") : t("ui-graph-matches", "{$n} matches", { n: matches.length })) : "";
  };
  search.addEventListener("input", runSearch);
  search.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    if (!matches.length) return;
    at = (at + 1) % matches.length;
    centreOn(matches[at]);
    highlight(matches[at]);
  });
  const controls = html("div", { class: "graph-controls" },
    html("span", { class: "graph-find" }, html("label", { for: "graph-search" }, t("ui-graph-find", "Find on the map"), " "), search, status),
    html("span", { class: "graph-zoom" }, html("button", { type: "button", "aria-label": t("ui-zoom-in", "Zoom in"), onclick: () => { const [w, h] = size(); zoomAt(1.25, w / 2, h / 2); } }, "+"),
    html("button", { type: "button", "aria-label": t("ui-zoom-out", "Zoom out"), onclick: () => { const [w, h] = size(); zoomAt(0.8, w / 2, h / 2); } }, "−"),
    html("button", { type: "button", onclick: fit }, t("ui-zoom-fit", "Fit"))));
  const frame = html("div", { class: "graph-frame" }, svg);
  container.replaceChildren(controls, frame, nodeTable(drawn, onNode));
  // Height: the drawing's, within the window.
  svg.setAttribute("height", String(Math.round(Math.max(220, Math.min(window.innerHeight * 0.75, lay.height + 24)))));
  svg.setAttribute("width", "100%");
  start();
  if (find) {
    search.value = find;
    runSearch();
    if (matches.length) { at = 0; centreOn(matches[0]); }
  }
  return drawn;
}

function clip(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** The map's nodes as a table: what a screen reader or keyboard user reads instead of the
 * drawing (kind, name, jurisdiction, custody, stores, what each links to). */
export function nodeTable(g, onNode) {
  const nodes = g.nodes || [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const links = new Map(nodes.map((n) => [n.id, []]));
  for (const e of g.edges || []) {
    if (!byId.has(e.from) || !byId.has(e.to)) continue;
    links.get(e.from).push(`${e.kind} ${nodeLabel(byId.get(e.to))}`);
  }
  const order = (n) => RANK[n.kind] ?? 9;
  const rows = [...nodes].sort((a, b) => order(a) - order(b) || String(a.label).localeCompare(String(b.label))).map((n) => {
    const group = n.kind === "store-group" || n.kind === "bundle";
    const name = n.kind === "store" || group
      ? html("button", { type: "button", class: "link", onclick: () => onNode(n) }, group ? `${n.label}: ${t("ui-graph-show-stores", "show the stores")}` : n.label)
      : nodeLabel(n);
    const j = jurisdictionName(n.jurisdiction);
    return html("tr", {}, html("td", {}, kindName(n.kind)), html("td", {}, name), html("td", {}, j),
      html("td", {}, n.custody ? custodyName(n.custody) : ""), html("td", { class: "num" }, n.count ?? ""), html("td", {}, links.get(n.id).join("; ")));
  });
  return html("details", { class: "graph-alt" },
    html("summary", {}, t("ui-graph-table", "The map as a table ({$n} nodes)", { n: nodes.length })),
    html("div", { class: "scroll" }, html("table", { "data-testid": "graph-table" },
      html("thead", {}, html("tr", {}, [t("ui-col-kind", "kind"), t("ui-col-name", "name"), t("ui-jurisdiction", "jurisdiction"),
        t("ui-col-custody", "custody"), t("ui-col-stores", "stores"), t("ui-col-links", "links")].map((c) => html("th", {}, c)))),
      html("tbody", {}, rows))));
}
