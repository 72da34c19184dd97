// Times the map's layout (collector/ui/graph.js: bundling + dagre) on synthetic estates in the
// /v1/graph shape: `node scripts/map-layout-bench.mjs [stores,...]` (default 50,200,2000,10000).
// Above 200 stores the collector sends store groups (account, region, kind, custody); above
// 300 nodes the UI bundles them per account, so what is laid out stays a few hundred nodes.
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ui = join(dirname(fileURLToPath(import.meta.url)), "..", "collector", "ui");
// graph.js imports dagre and i18n.js by their served paths; point them at the files.
const dir = mkdtempSync(join(tmpdir(), "map-bench-"));
const src = readFileSync(join(ui, "graph.js"), "utf8")
  .replace('"/ui/assets/dagre.js"', JSON.stringify(pathToFileURL(join(ui, "vendor", "dagre.esm.js")).href))
  .replace('"/ui/assets/i18n.js"', JSON.stringify(pathToFileURL(join(ui, "i18n.js")).href));
writeFileSync(join(dir, "graph.mjs"), src);
const { bundle, layout } = await import(pathToFileURL(join(dir, "graph.mjs")).href);

/** An estate of `n` stores over n/60 accounts, 6 regions, 5 kinds, 5 custody levels, every
 * sixth store replicated; grouped as the collector groups it above 200 stores. */
function estate(n) {
  const nodes = new Map(), edges = new Set();
  const node = (id, kind, extra = {}) => { if (!nodes.has(id)) nodes.set(id, { id, kind, label: id, jurisdiction: "eu", count: 0, ...extra }); const x = nodes.get(id); x.count++; return x; };
  const edge = (from, to, kind) => edges.add(JSON.stringify({ from, to, kind }));
  const regions = ["eu-central-1", "eu-west-1", "eu-north-1", "us-east-1", "eu-south-1", "ap-south-1"];
  const kinds = ["bucket", "database", "volume", "snapshot", "table"];
  const custody = ["provider", "customer-managed", "byok", "none", "unknown"];
  const accounts = Math.max(1, Math.round(n / 60));
  for (let i = 0; i < n; i++) {
    const a = `account:t/${100000000000 + (i % accounts)}`, r = regions[(i * 7) % 6];
    node("tenant:t", "tenant"); node(a, "account"); node("provider:aws", "provider"); node(`region:aws/${r}`, "region");
    edge("tenant:t", a, "owns"); edge(a, "provider:aws", "hosted-by");
    let holder;
    if (n > 200) {
      holder = `group:t/${a.slice(10)}/${r}/${kinds[i % 5]}/${custody[(i * 3) % 5]}`;
      node(holder, "store-group", { custody: custody[(i * 3) % 5] });
    } else {
      holder = `store:${i}`;
      node(holder, "store", { custody: custody[(i * 3) % 5] });
      if (i % 2) { node(`key:k${i % 40}`, "key"); edge(holder, `key:k${i % 40}`, "encrypted-by"); }
    }
    edge(a, holder, "contains"); edge(holder, `region:aws/${r}`, "located-in");
    if (i % 6 === 1) edge(holder, `region:aws/${regions[(i + 2) % 6]}`, "replicates-to");
  }
  for (const r of regions) node(`region:aws/${r}`, "region");
  return { nodes: [...nodes.values()], edges: [...edges].map((e) => JSON.parse(e)) };
}

const sizes = (process.argv[2] || "50,200,2000,10000").split(",").map(Number);
for (const n of sizes) {
  const g = estate(n);
  const t0 = performance.now();
  const drawn = bundle(g);
  const t1 = performance.now();
  layout(drawn.nodes, drawn.edges);
  const t2 = performance.now();
  console.log(`${n} stores: ${g.nodes.length} nodes from the collector, ${drawn.nodes.length} drawn (${drawn.edges.length} edges); bundle ${(t1 - t0).toFixed(0)} ms, layout ${(t2 - t1).toFixed(0)} ms`);
}
