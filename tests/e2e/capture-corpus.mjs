// Captures the real-recordings corpus (issue 13): a visitor reads the Rust
// documentation (std API docs and the book, served locally with the
// snippet) in several sessions and tabs of Debian's Chromium, recorded by
// the real tracker into a real `reel serve --demo`; each tab is read back
// through the API and written as a fixture (one `.batches.ndjson.zst` and
// one `.meta.json` per tab). Not part of `npm test` (minutes); the suite's
// corpus.test.mjs captures two pages with the same code.
//
//   npm run capture-corpus -- --out ../../target/corpus --pages 74
//   (options: --seed N, --fast, --max-page-bytes N, --sessions 2,2,1,1)
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { docsSite, DWELL, readTabs, retry, rustDocsDir, serveDocs, waitStored, walkTab, watchSends, writeFixture } from "./corpus.mjs";
import { ROOT, api, freePort, launchBrowser, startNode, stopNode, tempDataDir } from "./harness.mjs";

const { values: opt } = parseArgs({
  options: {
    out: { type: "string", default: join(ROOT, "loadtest/fixtures") },
    pages: { type: "string", default: "74" },
    seed: { type: "string", default: "13" },
    sessions: { type: "string", default: "2,2,1,1" },
    fast: { type: "boolean", default: false },
    "max-page-bytes": { type: "string", default: "700000" },
    prefix: { type: "string", default: "rust-docs" },
  },
});
const PAGES = Number(opt.pages);
const SEED = Number(opt.seed);
// Tabs per session; fewer tabs than pages.
let layout = opt.sessions.split(",").map(Number);
while (layout.reduce((a, b) => a + b, 0) > PAGES) layout = layout.slice(0, -1).concat(layout.at(-1) > 1 ? [layout.at(-1) - 1] : []);
const TABS = layout.reduce((a, b) => a + b, 0);
// Where each tab starts reading.
const STARTS = [
  "/std/index.html",
  "/book/index.html",
  "/std/collections/index.html",
  "/book/ch08-00-common-collections.html",
  "/std/iter/index.html",
  "/book/ch10-00-generics.html",
  "/std/string/struct.String.html",
  "/book/ch16-00-concurrency.html",
];

const t0 = Date.now();
const log = (m) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);
const docs = await serveDocs(rustDocsDir(), "");
const node = await startNode(tempDataDir(), await freePort());
const browser = await launchBrowser();
try {
  const site = await docsSite(node);
  // The snippet is known only now: serve again with it.
  docs.server.close();
  const served = await serveDocs(docs.root, site.snippet);
  log(`docs ${served.root} at ${served.origin}; node ${node.base}; ${TABS} tabs in ${layout.length} sessions, ${PAGES} page loads`);

  const dwell = opt.fast ? DWELL.fast : DWELL.human;
  const walks = [];
  const sends = new Map();
  const contexts = [];
  let tabNo = 0;
  for (const [s, tabs] of layout.entries()) {
    const context = await browser.newContext({ viewport: { width: 1280 + 80 * s, height: 800 } });
    contexts.push(context);
    const seen = watchSends(context);
    for (let t = 0; t < tabs; t++, tabNo++) {
      const n = tabNo;
      const pages = Math.floor(PAGES / TABS) + (n < PAGES % TABS ? 1 : 0);
      const tabLog = (m) => log(`s${s + 1}t${t + 1} ${m}`);
      walks.push(
        (async () => {
          // Tabs open a few seconds apart, as a reader opens one from another.
          await new Promise((r) => setTimeout(r, n * 2_500));
          const page = await context.newPage();
          const { tab, session, acked } = await walkTab(page, served, {
            start: STARTS[n % STARTS.length],
            pages,
            seed: SEED * 1000 + n,
            dwell,
            maxBytes: Number(opt["max-page-bytes"]),
            log: tabLog,
          });
          await page.close({ runBeforeUnload: false });
          return { session, tab, acked, seen, name: `${opt.prefix}-s${s + 1}-t${t + 1}` };
        })(),
      );
    }
  }
  const tabs = await Promise.all(walks);
  for (const c of contexts) await c.close();
  log(`walks done; reading ${tabs.length} tabs back`);

  const bySession = new Map();
  for (const t of tabs) {
    if (!bySession.has(t.session)) bySession.set(t.session, new Map());
    bySession.get(t.session).set(t.tab, t.acked);
  }
  for (const [session, acked] of bySession) await waitStored(node, session, acked);
  const totals = { raw_bytes: 0, events: 0, pages: 0, batches: 0, node_stored_bytes: 0 };
  // Everything is read first (writing with zstd -19 takes a while).
  const reads = new Map();
  for (const session of bySession.keys()) reads.set(session, await readTabs(node, session));
  for (const t of tabs) {
    const read = reads.get(t.session).find((r) => r.tab === t.tab);
    if (!read) throw new Error(`tab ${t.tab} of ${t.session} has no segments`);
    for (const ext of [".batches.ndjson.zst", ".meta.json"]) rmSync(join(opt.out, t.name + ext), { force: true });
    const meta = writeFixture(opt.out, t.name, read, t.seen.get(t.tab), `Rust ${process.env.RUST_DOCS_VERSION ?? "1.95.0"} documentation (std API docs and the book) served locally, read in Chromium, recorded by reel's tracker (session ${t.session}, tab ${t.tab})`);
    for (const k of Object.keys(totals)) totals[k] += meta[k];
    log(`${t.name}: ${meta.pages} pages, ${meta.batches} batches, ${meta.events} events, ${(meta.raw_bytes / 1e6).toFixed(2)} MB raw, ${(meta.duration_ms / 1000).toFixed(0)} s`);
  }
  const sessions = await retry(() => api(node, `/api/v1/sites/${site.id}/sessions?limit=100`));
  log(`${sessions.sessions.length} sessions stored`);
  console.log(JSON.stringify({ out: opt.out, tabs: tabs.length, sessions: bySession.size, ...totals, wall_s: Math.round((Date.now() - t0) / 1000) }));
  served.server.close();
} finally {
  await browser.close();
  await stopNode(node);
}
