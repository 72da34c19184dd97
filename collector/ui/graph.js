// The dependency map as SVG with a layered layout of our own: one column per node kind
// (tenant -> account -> provider -> region -> store -> key -> key store), nodes ordered by
// the mean position of their neighbours in the nearest earlier column (one barycentre
// pass keeps crossings low), replication drawn as arcs between stores.

const SVG = "http://www.w3.org/2000/svg";
const COLUMNS = ["tenant", "account", "provider", "region", "store", "key", "key-store"];
const TITLES = ["Tenant", "Account", "Provider", "Region / country", "Store", "Key", "Key store"];
const NODE_W = 170, NODE_H = 26, GAP = 8, COL_W = 212, TOP = 34, LEFT = 12;
const COLOURS = {
  eu: ["#e3f3ea", "#2e8b57"],
  "non-eu": ["#f8e1de", "#c0392b"],
  "us-parent": ["#fcebd9", "#e67e22"],
  unknown: ["#eceef1", "#8a8f98"],
};
// Border width grows with how much of the key the customer holds.
const CUSTODY = {
  unknown: [1, "?"], none: [1, "none"], provider: [1.2, "P"], "customer-managed": [2.2, "CM"],
  byok: [3, "BYOK"], "dedicated-hsm": [3.6, "HSM"], hyok: [4.2, "HYOK"],
};

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function column(kind) {
  const i = COLUMNS.indexOf(kind === "store-group" ? "store" : kind);
  return i < 0 ? COLUMNS.length - 1 : i;
}

function clip(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Lays out and draws `g` ({nodes, edges}) into `container`; `onNode(node)` on click/Enter. */
export function renderGraph(container, g, onNode) {
  const nodes = g.nodes || [];
  const edges = g.edges || [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const neighbours = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (!byId.has(e.from) || !byId.has(e.to) || e.kind === "replicates-to") continue;
    neighbours.get(e.from).push(e.to);
    neighbours.get(e.to).push(e.from);
  }
  const cols = COLUMNS.map(() => []);
  for (const n of nodes) cols[column(n.kind)].push(n);
  const pos = new Map();
  cols.forEach((list, c) => {
    // Mean position of the neighbours in the nearest earlier column (a store follows its
    // region, not its account), so edges between adjacent columns stay short.
    const score = (n) => {
      const earlier = neighbours.get(n.id).filter((m) => column(byId.get(m).kind) < c && pos.has(m));
      const nearest = Math.max(-1, ...earlier.map((m) => column(byId.get(m).kind)));
      const ys = earlier.filter((m) => column(byId.get(m).kind) === nearest).map((m) => pos.get(m));
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : Number.MAX_SAFE_INTEGER;
    };
    const scored = list.map((n) => [score(n), n]);
    scored.sort((a, b) => a[0] - b[0] || String(a[1].label).localeCompare(String(b[1].label)));
    scored.forEach(([, n], i) => pos.set(n.id, i));
    list.splice(0, list.length, ...scored.map(([, n]) => n));
  });
  const used = cols.map((l, i) => [l, i]).filter(([l]) => l.length);
  const x = new Map(used.map(([, i], k) => [i, LEFT + k * COL_W]));
  const rows = Math.max(1, ...cols.map((l) => l.length));
  const width = LEFT + used.length * COL_W + 60;
  const height = TOP + rows * (NODE_H + GAP) + 20;
  const xy = (id) => {
    const n = byId.get(id);
    return [x.get(column(n.kind)), TOP + pos.get(id) * (NODE_H + GAP)];
  };

  const svg = el("svg", { class: "graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `dependency map, ${nodes.length} nodes`, "data-testid": "graph" });
  for (const [, i] of used) svg.append(el("text", { class: "colhead", x: x.get(i) + 4, y: 18 }, TITLES[i]));

  const edgeLayer = el("g", { class: "edges" });
  for (const e of edges) {
    if (!byId.has(e.from) || !byId.has(e.to)) continue;
    const [x1, y1] = xy(e.from), [x2, y2] = xy(e.to);
    let d;
    if (e.kind === "replicates-to") {
      // An arc to the right of the store column, so it does not hide the column's edges.
      const ax = Math.max(x1, x2) + NODE_W, bulge = 30 + Math.min(120, Math.abs(y2 - y1) / 6);
      d = `M${ax} ${y1 + NODE_H / 2} C${ax + bulge} ${y1 + NODE_H / 2} ${ax + bulge} ${y2 + NODE_H / 2} ${ax} ${y2 + NODE_H / 2}`;
    } else {
      const [a, b] = x1 <= x2 ? [[x1, y1], [x2, y2]] : [[x2, y2], [x1, y1]];
      const sx = a[0] + NODE_W, sy = a[1] + NODE_H / 2, tx = b[0], ty = b[1] + NODE_H / 2, mx = (sx + tx) / 2;
      d = `M${sx} ${sy} C${mx} ${sy} ${mx} ${ty} ${tx} ${ty}`;
    }
    const p = el("path", { class: `edge ${e.kind}`, d, "data-edge": `${e.from}>${e.to}` });
    p.append(el("title", {}, `${e.kind}: ${e.from} → ${e.to}`));
    edgeLayer.append(p);
  }
  svg.append(edgeLayer);

  const nodeLayer = el("g", { class: "nodes" });
  for (const n of nodes) {
    const [nx, ny] = xy(n.id);
    const [fill, stroke] = COLOURS[n.jurisdiction] || COLOURS.unknown;
    const [sw, badge] = n.custody ? CUSTODY[n.custody] || CUSTODY.unknown : [1, null];
    const clickable = n.kind === "store" || n.kind === "store-group";
    const label = n.kind === "store-group" ? `${n.label} (${n.count})` : n.label;
    const g = el("g", {
      class: `node ${n.kind}${clickable ? " clickable" : ""}`, transform: `translate(${nx},${ny})`,
      "data-node-id": n.id, "data-kind": n.kind, "data-jurisdiction": n.jurisdiction,
      tabindex: clickable ? 0 : undefined, role: clickable ? "button" : undefined,
      "aria-label": `${n.kind} ${label}${n.custody ? `, custody ${n.custody}` : ""}, ${n.jurisdiction}`,
    });
    g.append(el("title", {}, `${n.kind}: ${n.label}\njurisdiction: ${n.jurisdiction}${n.custody ? `\ncustody: ${n.custody}` : ""}${n.count ? `\nstores: ${n.count}` : ""}`));
    g.append(el("rect", { width: NODE_W, height: NODE_H, fill, stroke, "stroke-width": sw, rx: n.kind === "store-group" ? 10 : 4 }));
    g.append(el("text", { x: 6, y: 17 }, clip(String(label), badge ? 21 : 27)));
    if (badge) {
      g.append(el("rect", { x: NODE_W - 38, y: 5, width: 34, height: 16, rx: 8, fill: "#fff", stroke, "stroke-width": 1 }));
      g.append(el("text", { x: NODE_W - 21, y: 17, "text-anchor": "middle" }, badge));
    }
    if (clickable) {
      g.addEventListener("click", () => onNode(n));
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onNode(n); } });
    }
    nodeLayer.append(g);
  }
  svg.append(nodeLayer);
  container.replaceChildren(svg);
}
