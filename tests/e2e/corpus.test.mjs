// The corpus capture (capture-corpus.mjs) kept honest: two pages of the
// Rust documentation read in Chromium, the tab read back through the API
// and written as a fixture, which parses and holds exactly the events the
// API returns, byte for byte, one line per stored batch.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { docsSite, DWELL, readFixture, readFixtureText, readTabs, rustDocsDir, serveDocs, waitStored, walkTab, watchSends, writeFixture } from "./corpus.mjs";
import { api, freePort, launchBrowser, startNode, stopNode, tempDataDir } from "./harness.mjs";

let browser;
let node;
before(async () => {
  browser = await launchBrowser();
  node = await startNode(tempDataDir(), await freePort());
});
after(async () => {
  if (node) assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  await browser?.close();
});

test("a captured fixture holds the tab's stored events, one line per batch", async () => {
  const site = await docsSite(node);
  const docs = await serveDocs(rustDocsDir(), site.snippet);
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const sends = watchSends(context);
    const page = await context.newPage();
    const { tab, session, acked } = await walkTab(page, docs, {
      start: "/book/ch01-00-getting-started.html",
      pages: 2,
      seed: 1,
      dwell: DWELL.fast,
      searchRate: 0,
    });
    await context.close();
    await waitStored(node, session, new Map([[tab, acked]]));
    const read = (await readTabs(node, session)).find((t) => t.tab === tab);
    const dir = join(tempDataDir(), "fixtures");
    const meta = writeFixture(dir, "two-pages", read, sends.get(tab), "corpus.test.mjs");

    const lines = readFixture(join(dir, "two-pages.batches.ndjson.zst"));
    const stored = await api(node, `/api/v1/sessions/${session}/events?tab=${tab}`, { text: true });
    const events = stored.split("\n").filter((l) => l.length);
    // One line per stored batch, times from 0, never going back.
    assert.equal(lines.length, read.batches.length);
    assert.ok(lines.length >= 2, `${lines.length} batches`);
    assert.equal(lines[0].at, 0);
    lines.forEach((l, i) => assert.ok(i === 0 || l.at >= lines[i - 1].at, `at of batch ${i}`));
    // The same events, in order, with their bytes.
    assert.deepEqual(
      lines.flatMap((l) => l.events),
      events.map((e) => JSON.parse(e)),
    );
    const text = readFixtureText(join(dir, "two-pages.batches.ndjson.zst"));
    let from = 0;
    for (const e of events) {
      const at = text.indexOf(e, from);
      assert.ok(at >= 0, `the stored bytes of an event are in the fixture: ${e.slice(0, 80)}`);
      from = at + e.length;
    }
    // Two page loads of the docs, each a Meta and a full snapshot.
    assert.equal(meta.pages, 2);
    assert.equal(lines.flatMap((l) => l.events).filter((e) => e.type === 2).length, 2);
    const hrefs = lines.flatMap((l) => l.events).filter((e) => e.type === 4).map((e) => e.data.href);
    assert.ok(hrefs[0].startsWith(`${docs.origin}/book/ch01-00`), hrefs[0]);
    assert.ok(hrefs.every((h) => h.startsWith(docs.origin)), `the pages are the docs': ${hrefs}`);
    assert.equal(meta.events, events.length);
    assert.equal(meta.raw_bytes, Buffer.byteLength(stored));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "two-pages.meta.json"), "utf8")), meta);
  } finally {
    docs.server.close();
  }
});
