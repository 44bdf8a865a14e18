// The real-recordings corpus (issue 13): a visitor reads the Rust
// documentation installed with the toolchain (the std API docs and the
// book), served on a loopback origin with the site's snippet injected, in
// Debian's Chromium; every recorded tab is read back through the node's API
// and written as a fixture (docs/fixture format: one zstd NDJSON file per
// tab, one line `{"at":MS,"events":[...]}` per stored batch).
//
// Used by `capture-corpus.mjs` (the full corpus, a script) and by
// `corpus.test.mjs` (two pages, in `npm test`).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { homedir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { gunzipSync } from "node:zlib";

import { api, trackerFlushed, waitFor } from "./harness.mjs";

/** The toolchain's HTML documentation (override with RUST_DOCS). */
export function rustDocsDir() {
  if (process.env.RUST_DOCS) return process.env.RUST_DOCS;
  const sysroot = spawnSync("rustc", ["--print", "sysroot"], { encoding: "utf8" });
  const candidates = [
    sysroot.status === 0 ? join(sysroot.stdout.trim(), "share/doc/rust/html") : null,
    join(homedir(), ".rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/share/doc/rust/html"),
  ].filter(Boolean);
  const found = candidates.find((d) => existsSync(join(d, "std/index.html")));
  if (!found) throw new Error(`no Rust documentation in ${candidates.join(", ")} (rustup component add rust-docs, or set RUST_DOCS)`);
  return found;
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Serves `root` read-only on a loopback origin; HTML pages get `snippet`
 * before `</head>`, as a site that installed reel would have it.
 */
export async function serveDocs(root, snippet) {
  const server = createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      return res.writeHead(400).end();
    }
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) return res.writeHead(403).end();
    try {
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      let body = readFileSync(file);
      const type = TYPES[extname(file)] ?? "application/octet-stream";
      if (extname(file) === ".html") {
        const html = body.toString("utf8");
        const at = html.indexOf("</head>");
        body = at < 0 ? snippet + html : html.slice(0, at) + snippet + html.slice(at);
      }
      res.writeHead(200, { "content-type": type, "cache-control": "no-cache" }).end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, origin: `http://127.0.0.1:${server.address().port}`, root };
}

/** A site for the docs that records text as it is (a documentation site has
 * nothing to mask), with its snippet. */
export async function docsSite(node, name = "Rust documentation") {
  const post = await fetch(`${node.base}/api/v1/sites`, {
    method: "POST",
    headers: { cookie: node.cookie, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (!post.ok) throw new Error(`POST /api/v1/sites: ${post.status} ${await post.text()}`);
  const site = await post.json();
  const patch = await fetch(`${node.base}/api/v1/sites/${site.id}`, {
    method: "PATCH",
    headers: { cookie: node.cookie, "content-type": "application/json" },
    body: JSON.stringify({ settings: { mask_text: false } }),
  });
  if (!patch.ok) throw new Error(`PATCH the site: ${patch.status} ${await patch.text()}`);
  const { html } = await api(node, `/api/v1/sites/${site.id}/snippet`);
  return { ...site, snippet: html };
}

/** A small seeded PRNG (mulberry32), so that a walk can be repeated. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.between = (lo, hi) => lo + next() * (hi - lo);
  next.int = (lo, hi) => Math.floor(next.between(lo, hi + 1));
  next.pick = (xs) => xs[Math.floor(next() * xs.length)];
  return next;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Records, per tab id, when each batch seq first left the browser: the
 * tracker's `hello` names the tab, its `events` frames (gzip or text) carry
 * the seq. Returns the map tab -> Map(seq -> ms).
 */
export function watchSends(context) {
  const sends = new Map();
  const watch = (page) =>
    page.on("websocket", (ws) => {
      if (!new URL(ws.url()).pathname.endsWith("/v1/ingest")) return;
      let tab = null;
      ws.on("framesent", (f) => {
        const now = Date.now();
        let msg;
        try {
          const text = typeof f.payload === "string" ? f.payload : gunzipSync(f.payload).toString("utf8");
          // Only the head is needed: `{"t":"events","seq":N,...`.
          const head = text.slice(0, 200);
          if (head.includes('"t":"hello"')) msg = JSON.parse(text);
          else {
            const m = head.match(/"t":"events","seq":(\d+)/) ?? head.match(/"seq":(\d+)/);
            msg = m && head.includes('"t":"events"') ? { t: "events", seq: Number(m[1]) } : null;
          }
        } catch {
          return;
        }
        if (msg?.t === "hello") tab = msg.tab;
        else if (msg?.t === "events" && tab) {
          if (!sends.has(tab)) sends.set(tab, new Map());
          const seqs = sends.get(tab);
          if (!seqs.has(msg.seq)) seqs.set(msg.seq, now);
        }
      });
    });
  context.pages().forEach(watch);
  context.on("page", watch);
  return sends;
}

/** Paths a walk may go to: pages of std and the book, not too large, not a
 * redirect stub. */
function walkable(docs, url, maxBytes) {
  const u = new URL(url);
  if (u.origin !== docs.origin) return false;
  const path = decodeURIComponent(u.pathname);
  if (!/^\/(std|book)\/.*\.html$/.test(path) || path.endsWith("/all.html")) return false;
  const file = join(docs.root, path);
  try {
    const size = statSync(file).size;
    if (size > maxBytes) return false;
    if (size < 4096 && readFileSync(file, "utf8").includes('http-equiv="refresh"')) return false;
    return true;
  } catch {
    return false;
  }
}

/** The visible links of the page: `{ i, href }`, `i` its index among `a[href]`. */
function visibleLinks(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("a[href]")]
      .map((a, i) => {
        const r = a.getBoundingClientRect();
        const shown = r.width > 0 && r.height > 0 && (a.checkVisibility?.() ?? true);
        return shown ? { i, href: a.href.split("#")[0] } : null;
      })
      .filter(Boolean),
  );
}

const QUERIES = ["vec", "hashmap", "iter", "into_iter", "string", "option", "from_str", "arc", "mutex", "ownership", "traits", "lifetimes", "closures", "slice"];

/** Types a query in the page's search box (rustdoc or mdBook) like a person,
 * waits for results; returns the visible result links. */
async function search(page, r, log) {
  const isBook = new URL(page.url()).pathname.startsWith("/book/");
  const query = r.pick(QUERIES);
  try {
    if (isBook) {
      await page.click("#mdbook-search-toggle", { timeout: 3_000 });
      await page.locator("#mdbook-searchbar").waitFor({ timeout: 3_000 });
    } else {
      // rustdoc shows its search box behind a button.
      if (!(await page.locator("input.search-input").isVisible())) await page.click("#search-button", { timeout: 3_000 });
      await page.click("input.search-input", { timeout: 3_000 });
    }
    await sleep(r.between(300, 900));
    await page.keyboard.type(query, { delay: r.between(90, 220) });
    await sleep(r.between(1_200, 2_500));
    log(`  search "${query}"`);
    const sel = isBook ? "#mdbook-searchresults a[href]" : ".search-results a[href]";
    return await page.evaluate((sel) => [...document.querySelectorAll(sel)].slice(0, 8).map((a) => a.href.split("#")[0]), sel);
  } catch (e) {
    log(`  search failed: ${e.message.split("\n")[0]}`);
    return [];
  }
}

/** Scrolls through the page with the wheel and moves the mouse, with pauses. */
async function read(page, r, dwell) {
  const viewport = page.viewportSize() ?? { width: 1280, height: 800 };
  const height = await page.evaluate(() => document.documentElement.scrollHeight).catch(() => viewport.height);
  const steps = Math.min(Math.ceil(height / 500), r.int(dwell.scrolls[0], dwell.scrolls[1]));
  await sleep(r.between(dwell.first[0], dwell.first[1]));
  for (let s = 0; s < steps; s++) {
    if (r() < 0.4) {
      await page.mouse.move(r.between(100, viewport.width - 100), r.between(80, viewport.height - 80), { steps: r.int(4, 14) });
    }
    const dy = r() < 0.12 ? -r.between(150, 400) : r.between(250, 700);
    await page.mouse.wheel(0, dy);
    await sleep(r.between(dwell.pause[0], dwell.pause[1]));
  }
}

/** How long a visitor lingers (ms), by speed. */
export const DWELL = {
  human: { first: [800, 2_000], scrolls: [4, 12], pause: [300, 1_200] },
  fast: { first: [200, 400], scrolls: [1, 3], pause: [100, 250] },
};

/**
 * One tab's walk: `pages` page loads starting at `start`, each read, then a
 * link (or a search result) clicked. Returns the tab id, the session id
 * and the last seq the node acked.
 */
export async function walkTab(page, docs, { start, pages, seed, dwell = DWELL.human, maxBytes = 700_000, searchRate = 0.2, log = () => {} }) {
  const r = rng(seed);
  const visited = new Set();
  let url = new URL(start, docs.origin).href;
  await page.goto(url);
  for (let n = 1; ; n++) {
    await page.waitForLoadState("load").catch(() => {});
    url = page.url().split("#")[0];
    visited.add(url);
    log(`${n}/${pages} ${new URL(url).pathname}`);
    await read(page, r, dwell);
    if (n >= pages) break;
    let next = null;
    if (r() < searchRate) {
      const results = (await search(page, r, log)).filter((h) => walkable(docs, h, maxBytes) && h !== url);
      if (results.length && r() < 0.6) {
        next = results.find((h) => !visited.has(h)) ?? results[0];
        const hit = (await visibleLinks(page)).find((l) => l.href === next);
        if (hit && (await clickLink(page, hit.i))) continue;
        await page.goto(next);
        continue;
      }
      await page.keyboard.press("Escape").catch(() => {});
      await sleep(r.between(300, 800));
    }
    const links = (await visibleLinks(page)).filter((l) => l.href !== url && walkable(docs, l.href, maxBytes));
    const fresh = links.filter((l) => !visited.has(l.href));
    const pool = fresh.length ? fresh : links;
    if (!pool.length) {
      await page.goto(new URL(start, docs.origin).href);
      continue;
    }
    const pick = r.pick(pool);
    if (!(await clickLink(page, pick.i))) await page.goto(pick.href);
  }
  const ids = await page.evaluate(() => ({
    tab: sessionStorage.getItem("reel.tab"),
    session: JSON.parse(localStorage.getItem("reel.session") ?? "null")?.id ?? null,
  }));
  const next = await trackerFlushed(page, 60_000);
  return { ...ids, acked: next - 1 };
}

/** Hovers and clicks link `i` of `a[href]`, and waits for the next page. */
async function clickLink(page, i) {
  const before = page.url();
  try {
    const link = page.locator("a[href]").nth(i);
    await link.scrollIntoViewIfNeeded({ timeout: 3_000 });
    await link.hover({ timeout: 3_000 });
    await sleep(150 + Math.random() * 250);
    await Promise.all([page.waitForURL((u) => u.href !== before, { timeout: 10_000, waitUntil: "commit" }), link.click({ timeout: 3_000 })]);
    return true;
  } catch {
    return page.url() !== before;
  }
}

/**
 * Every tab of `sessionId` read back through the API: `[{ tab, batches:
 * [{ seq, body }] }]`, `body` the batch's NDJSON bytes exactly as the
 * events route returns them (one event per line), split at the segments'
 * batch ends.
 */
export async function readTabs(node, sessionId) {
  const segments = await retry(() => api(node, `/api/v1/sessions/${sessionId}/segments`));
  const byTab = new Map();
  for (const s of segments) {
    if (!byTab.has(s.tab)) byTab.set(s.tab, []);
    byTab.get(s.tab).push(s);
  }
  const tabs = [];
  for (const [tab, segs] of byTab) {
    segs.sort((a, b) => a.first_seq - b.first_seq);
    const all = await retry(async () => {
      const res = await fetch(`${node.base}/api/v1/sessions/${sessionId}/events?tab=${encodeURIComponent(tab)}`, {
        headers: { cookie: node.cookie },
      });
      if (!res.ok) throw new Error(`GET events of tab ${tab}: ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    });
    const batches = [];
    let base = 0;
    let nextSeq = 0;
    for (const s of segs) {
      if (!s.batch_ends) throw new Error(`segment ${s.key} has no batch ends`);
      if (s.first_seq < nextSeq) throw new Error(`segments of tab ${tab} overlap at ${s.first_seq}`);
      let start = 0;
      s.batch_ends.forEach((end, i) => {
        batches.push({ seq: s.first_seq + i, body: all.subarray(base + start, base + end) });
        start = end;
      });
      base += start;
      nextSeq = s.last_seq + 1;
    }
    if (base !== all.length) throw new Error(`tab ${tab}: the segments' batch ends cover ${base} bytes, the events route returned ${all.length}`);
    const stored = segs.reduce((n, s) => n + s.stored_bytes, 0);
    tabs.push({ tab, batches, segments: segs.length, storedBytes: stored });
  }
  return tabs;
}

/** `f()`, tried again (up to 3 times) when the connection fails: a
 * keep-alive connection the node closed while idle is not an answer. */
export async function retry(f) {
  for (let i = 1; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= 3 || !(e instanceof TypeError)) throw e;
      await sleep(200);
    }
  }
}

/** The fixture line of a batch: `{"at":MS,"events":[...]}`, the events' bytes as stored. */
export function fixtureLine(at, body) {
  const text = body.toString("utf8");
  const events = text.endsWith("\n") ? text.slice(0, -1) : text;
  return `{"at":${at},"events":[${events.split("\n").filter((l) => l.length).join(",")}]}\n`;
}

/** Max event timestamp of a batch body (the send time when the frame was not seen). */
function lastTimestamp(body) {
  let t = 0;
  for (const m of body.toString("utf8").matchAll(/"timestamp":(\d+)/g)) t = Math.max(t, Number(m[1]));
  return t;
}

/**
 * Writes one tab as `dir/NAME.batches.ndjson.zst` (zstd -19, via the zstd
 * command) and `dir/NAME.meta.json`. `sends` maps seq -> ms it left the
 * browser. Returns the meta.
 */
export function writeFixture(dir, name, tab, sends, source) {
  mkdirSync(dir, { recursive: true });
  let t0 = null;
  let prev = 0;
  let raw = 0;
  let events = 0;
  let pages = 0;
  const lines = [];
  for (const b of tab.batches) {
    const sent = sends?.get(b.seq) ?? lastTimestamp(b.body);
    if (t0 === null) t0 = sent;
    const at = Math.max(prev, sent - t0);
    prev = at;
    const text = b.body.toString("utf8");
    events += text.split("\n").filter((l) => l.length).length;
    pages += (text.match(/^\{"type":4,/gm) ?? []).length;
    raw += b.body.length;
    lines.push(fixtureLine(at, b.body));
  }
  const ndjson = Buffer.from(lines.join(""), "utf8");
  const zst = spawnSync("zstd", ["-q", "-19", "-c"], { input: ndjson, maxBuffer: 1 << 30 });
  if (zst.status !== 0) throw new Error(`zstd: ${zst.error?.message ?? zst.stderr}`);
  const meta = {
    source,
    pages,
    raw_bytes: raw,
    events,
    duration_ms: prev,
    batches: tab.batches.length,
    node_segments: tab.segments,
    node_stored_bytes: tab.storedBytes,
  };
  writeFileSync(join(dir, `${name}.batches.ndjson.zst`), zst.stdout);
  writeFileSync(join(dir, `${name}.meta.json`), JSON.stringify(meta, null, 2) + "\n");
  return meta;
}

/** A fixture's NDJSON text (decompressed with the zstd command). */
export function readFixtureText(file) {
  const out = spawnSync("zstd", ["-q", "-d", "-c", resolve(file)], { maxBuffer: 1 << 30 });
  if (out.status !== 0) throw new Error(`zstd -d ${file}: ${out.error?.message ?? out.stderr}`);
  return out.stdout.toString("utf8");
}

/** A fixture read back: `[{ at, events }]`, one per line. */
export function readFixture(file) {
  return readFixtureText(file)
    .split("\n")
    .filter((l) => l.length)
    .map((l) => JSON.parse(l));
}

/** Waits until the session's tabs hold at least the seqs each tab's tracker had acked. */
export async function waitStored(node, sessionId, ackedByTab) {
  return waitFor(
    `the segments of ${sessionId}`,
    async () => {
      const segs = await api(node, `/api/v1/sessions/${sessionId}/segments`);
      return [...ackedByTab].every(([tab, last]) => segs.some((s) => s.tab === tab && s.last_seq >= last));
    },
    60_000,
  );
}
