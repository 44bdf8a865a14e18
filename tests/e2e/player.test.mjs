// The replay player of issue 12: a page logs to the console, makes requests
// (a 500, a network error, one whose body the site allows) and throws; its
// replay lists exactly those in the side panel with their times, a `?t=`
// link opens at its moment, the shortcuts work, and the player, its
// controls and the timeline fit a 1366×768 window.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import {
  ROOT,
  SHOTS,
  api,
  freePort,
  ingestEvents,
  launchBrowser,
  signIn,
  startNode,
  stopNode,
  tempDataDir,
  trackerFlushed,
  trackerSettled,
  waitFor,
} from "./harness.mjs";

const DOCS_SHOTS = process.env.REEL_DOCS_SHOTS ? join(ROOT, "docs/screenshots") : SHOTS;
const VIEWPORT = { width: 1366, height: 768 };

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/**
 * The lab: a page on its own loopback origin (a page the browser got from
 * a real server, so the tracker may reach the node on loopback) with the
 * site's snippet, that logs, fetches and throws on a click; `/lab/fail`
 * answers 500 and `/lab/data` a JSON body.
 */
async function startLab(snippet) {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Support lab</title>
${snippet}
</head>
<body>
<main>
  <h1>Support lab</h1>
  <div data-reel-block style="width: 240px; height: 90px">private widget</div>
  <button id="run">Run checks</button>
  <p id="done" hidden>Done</p>
</main>
<script>
  document.getElementById("run").addEventListener("click", async () => {
    console.log("lab log", 42, "jane.doe@example.com");
    await fetch("/lab/fail").catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    await fetch("http://127.0.0.1:9/lab/down").catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    await fetch("/lab/data?token=s3cret-lab-token&q=1").then((r) => r.text());
    setTimeout(() => {
      document.getElementById("done").hidden = false;
      throw new Error("lab boom");
    }, 300);
  });
</script>
</body>
</html>`;
  const server = createServer((req, res) => {
    if (req.url === "/lab/fail") {
      res.writeHead(500, { "content-type": "text/plain" }).end("down for maintenance");
    } else if (req.url.startsWith("/lab/data")) {
      res.writeHead(200, { "content-type": "application/json" }).end('{"stock":7}');
    } else {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html);
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/** The player's current time, ms from the start. */
function playerTime(page) {
  return page.evaluate(() => window.__reelPlayer.getReplayer().getCurrentTime());
}

/** The zone the replay is watched in: UTC+5:30 all year, so that local time is not UTC. */
const ZONE = "Asia/Kolkata";

/** `ms` as the dashboard writes a moment in ZONE. */
function zoneTime(ms) {
  const t = new Date(ms + 330 * 60_000).toISOString();
  return `${t.slice(0, 10)} ${t.slice(11, 19)} UTC+5:30`;
}

/** `0:07` as the panel shows a time. */
function clock(ms) {
  const s = Math.floor(Math.max(0, ms) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

test("the replay lists the page's console, requests and errors with times, opens at ?t= and fits 1366×768", async () => {
  const node = await startNode(tempDataDir(), await freePort());
  let lab;
  try {
    const { sites } = await api(node, "/api/v1/sites");
    const site = sites.find((s) => s.name === "Demo shop");
    const { html: snippet } = await api(node, `/api/v1/sites/${site.id}/snippet`);
    lab = await startLab(snippet);
    const patch = await fetch(`${node.base}/api/v1/sites/${site.id}`, {
      method: "PATCH",
      headers: { cookie: node.cookie, "content-type": "application/json" },
      body: JSON.stringify({ origins: [node.base, lab.origin], settings: { network_body_urls: [`${lab.origin}/lab/data*`] } }),
    });
    assert.ok(patch.ok, `PATCH the site: ${patch.status} ${await patch.text()}`);

    // The visitor.
    const context = await browser.newContext({ viewport: VIEWPORT, timezoneId: ZONE });
    const visitor = await context.newPage();
    const visitedAt = Date.now();
    await visitor.goto(`${lab.origin}/lab.html`);
    const first = await trackerSettled(visitor, 0);
    await visitor.click("#run");
    await visitor.locator("#done").waitFor({ state: "visible" });
    // The error is thrown as #done shows: it is recorded, and acked before
    // the visitor leaves.
    await trackerSettled(visitor, first);
    await trackerFlushed(visitor);
    await visitor.goto("about:blank");
    await visitor.close();

    const session = await waitFor("the lab session", async () => {
      const page = await api(node, `/api/v1/sites/${site.id}/sessions`);
      return page.sessions[0];
    });
    const ndjson = await api(node, `/api/v1/sessions/${session.id}/events`, { text: true });
    const events = ndjson.trim().split("\n").map((l) => JSON.parse(l));
    const start = events[0].timestamp;
    const requests = events.filter((e) => e.type === 6 && e.data.plugin === "reel/network@1").map((e) => e.data.payload);
    const byPath = (p) => requests.find((r) => new URL(r.url).pathname === p);
    for (const p of ["/lab/fail", "/lab/down", "/lab/data"]) assert.ok(byPath(p), `${p} recorded in ${JSON.stringify(requests)}`);

    // Redaction (PROTOCOL.md §7): the e-mail in a console argument (the
    // node's built-in rule) and the `token` query parameter are stored as
    // [redacted]; the secrets are nowhere in the stored NDJSON.
    assert.ok(!ndjson.includes("jane.doe@example.com"), "the e-mail is not stored");
    assert.ok(!ndjson.includes("s3cret-lab-token"), "the token is not stored");
    const logLine = events.find((e) => e.type === 6 && e.data.plugin === "rrweb/console@1" && e.data.payload.level === "log");
    assert.ok(logLine.data.payload.payload.some((a) => a.includes("[redacted]")), JSON.stringify(logLine.data.payload));
    assert.equal(new URL(byPath("/lab/data").url).searchParams.get("token"), "[redacted]");
    assert.equal(new URL(byPath("/lab/data").url).searchParams.get("q"), "1");

    // Support opens the replay in a laptop-sized window.
    const page = await context.newPage();
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: node.base });
    await signIn(page, node);
    await page.goto(`${node.base}/app/#/sessions/${session.id}`);
    await page.locator("[data-testid=player][data-complete=true]").waitFor({ timeout: 30_000 });

    // The title says who and when (the start, in the viewer's zone), not the session id.
    const title = await page.locator("[data-testid=session-title]").innerText();
    assert.ok(!title.includes(session.id), title);
    const who = `Visitor ${session.visitor_id.slice(0, 8)}`;
    assert.ok(session.started_at >= visitedAt - 1_000 && session.started_at <= Date.now(), `started at ${session.started_at}, visited at ${visitedAt}`);
    const when = zoneTime(session.started_at);
    assert.equal(await page.locator("[data-testid=session-title] .who").innerText(), who);
    assert.equal(await page.locator("[data-testid=session-title] .when").innerText(), when);
    assert.ok(title.startsWith(`${who} ${when}`), title);
    assert.equal(await page.title(), `${who} · ${when} · reel`);

    // Network: exactly the three requests, failed ones marked, at their start times.
    await page.click("[data-testid=panel-tab-network]");
    const network = await page.locator("[data-testid=network-row]").evaluateAll((rows) =>
      rows.map((r) => ({
        url: r.querySelector("[data-testid=row-label]").textContent,
        time: r.querySelector("[data-testid=row-time]").textContent,
        failed: r.dataset.failed,
        status: r.dataset.status,
      })),
    );
    assert.deepEqual(
      network.map((r) => [new URL(r.url).pathname, r.failed, r.status]),
      [
        ["/lab/fail", "true", "500"],
        ["/lab/down", "true", "0"],
        ["/lab/data", "false", "200"],
      ],
    );
    assert.deepEqual(
      network.map((r) => r.time),
      ["/lab/fail", "/lab/down", "/lab/data"].map((p) => clock(byPath(p).start - start)),
    );
    assert.equal(await page.locator("[data-testid=network-row] [data-testid=response-body]").textContent(), '{"stock":7}');

    // Console: the log line, and the uncaught error once (the tracker's error event, not also a console plugin line).
    await page.click("[data-testid=panel-tab-console]");
    const lines = await page.locator("[data-testid=console-row]").evaluateAll((rows) =>
      rows.map((r) => [r.dataset.level, r.querySelector("[data-testid=row-label]").textContent]),
    );
    assert.deepEqual(
      lines,
      [
        ["log", "lab log 42 [redacted]"],
        ["error", "Uncaught Error: lab boom"],
      ],
    );

    // Activity: one page load, the click named by the button's text, the error.
    await page.click("[data-testid=panel-tab-activity]");
    await waitFor("the click named from the replay", () =>
      page.locator("[data-testid=activity-row][data-kind=click]", { hasText: "Run checks" }).count(),
    );
    const activity = await page.locator("[data-testid=activity-row]").evaluateAll((rows) =>
      rows.map((r) => [r.dataset.kind, r.querySelector("[data-testid=row-label]").textContent]),
    );
    assert.deepEqual(activity.filter(([kind]) => kind === "page").map(([, url]) => url), [`${lab.origin}/lab.html`]);
    assert.deepEqual(
      activity.filter(([kind]) => kind === "error" || kind === "click").map(([kind, label]) => [kind, /Run checks|lab boom/.exec(label)?.[0]]),
      [
        ["click", "Run checks"],
        ["error", "lab boom"],
      ],
    );
    assert.equal(await page.locator("[data-testid=legend-page]").innerText(), "1 page load");

    // The markers ride the player's own bar.
    assert.ok((await page.locator(".rr-progress [data-testid=marker][data-kind=error]").count()) >= 1);
    assert.equal(await page.locator(".rr-progress [data-testid=marker][data-kind=page]").count(), 1);

    // A blocked element shows as a hatched "hidden" box of its size.
    const hidden = page.frameLocator("[data-testid=player] iframe").locator("[data-reel-hidden]");
    const box = await hidden.first().evaluate((el) => [el.offsetWidth, el.offsetHeight, getComputedStyle(el, "::after").content]);
    assert.deepEqual(box, [240, 90, '"hidden"']);

    // Clicking a row moves the player to its moment and highlights it.
    await page.click("[data-testid=panel-tab-network]");
    const dataAt = byPath("/lab/data").start - start;
    await page.evaluate(() => window.__reelPlayer.pause());
    await page.locator("[data-testid=network-row]").nth(2).click();
    const t = await playerTime(page);
    assert.ok(Math.abs(t - dataAt) < 50, `player at ${t}, the request at ${dataAt}`);
    await page.locator("[data-testid=network-row].current").nth(0).waitFor();
    assert.equal(await page.locator("[data-testid=network-row]").nth(2).getAttribute("aria-current"), "true");

    // A link at the 500's moment opens there (paused), that row current.
    const failAt = Math.round(byPath("/lab/fail").start - start);
    await page.goto(`${node.base}/app/#/sessions/${session.id}?t=${failAt}`);
    await page.locator("[data-testid=player][data-complete=true]").waitFor({ timeout: 30_000 });
    await waitFor("the player at the moment", async () => Math.abs((await playerTime(page)) - failAt) < 50);
    await page.click("[data-testid=panel-tab-network]");
    await waitFor("the 500 highlighted", async () => (await page.locator("[data-testid=network-row]").nth(0).getAttribute("aria-current")) === "true");

    // The copy button writes the full link at the moment, and shows it.
    await page.click("[data-testid=copy-moment]");
    const expected = `${node.base}/app/#/sessions/${session.id}?t=${failAt}`;
    assert.equal(await page.locator("[data-testid=moment-link]").inputValue(), expected);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), expected);

    // Shortcuts: 3 sets 4x, → moves 5 s on (within the recording).
    await page.locator("body").press("3");
    assert.equal(await page.evaluate(() => window.__reelPlayer.getReplayer().config.speed), 4);
    const total = await page.evaluate(() => window.__reelPlayer.getMetaData().totalTime);
    await page.locator("body").press("ArrowRight");
    const after = await playerTime(page);
    assert.ok(Math.abs(after - Math.min(failAt + 5000, total)) < 50, `→ moved to ${after}`);

    // A note at the current moment: listed, on the bar, stored at that t.
    await page.evaluate(() => window.__reelPlayer.pause());
    const noteAt = await playerTime(page);
    await page.click("[data-testid=panel-tab-notes]");
    await page.fill("[data-testid=note-input]", "Customer hit the 500 here");
    await page.click("[data-testid=note-add]");
    await page.locator("[data-testid=note]", { hasText: "Customer hit the 500 here" }).waitFor();
    await page.locator(".rr-progress [data-testid=marker][data-kind=note]").waitFor();
    const { notes } = await api(node, `/api/v1/sessions/${session.id}/notes`);
    assert.equal(notes.length, 1);
    assert.equal(notes[0].text, "Customer hit the 500 here");
    assert.ok(Math.abs(notes[0].t - noteAt) < 50, `note at ${notes[0].t}, player at ${noteAt}`);

    // Everything fits 1366×768 without scrolling.
    await page.screenshot({ path: join(DOCS_SHOTS, "replay-panels.png") });
    for (const selector of [".rr-player", ".rr-controller", ".rr-progress", "[data-testid=timeline]", "[data-testid=copy-moment]", "[data-testid=side-panel]", "[data-testid=replay-url]"]) {
      const b = await page.locator(selector).first().boundingBox();
      assert.ok(b, `${selector} is shown`);
      assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= VIEWPORT.width && b.y + b.height <= VIEWPORT.height, `${selector} at ${JSON.stringify(b)} fits`);
    }
    assert.equal(await page.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight), true, "the page does not scroll");
    assert.equal(await page.locator("[data-testid=replay-url]").innerText(), `${lab.origin}/lab.html`);
    await context.close();
  } finally {
    lab?.server.close();
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});

test("a snapshot a live viewer asked for is not a page load: the legend and the facts agree", async () => {
  const dataDir = tempDataDir();
  const node = await startNode(dataDir, await freePort());
  try {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const visitor = await context.newPage();
    await visitor.goto(`${node.base}/demo/product.html`);
    await visitor.locator("#add-to-cart").waitFor();
    let next = await trackerSettled(visitor, 0);
    const sessionId = await waitFor("the visitor's session id", () =>
      visitor.evaluate(() => JSON.parse(localStorage.getItem("reel.session") ?? "null")?.id ?? null),
    );
    // The page changes its URL in place (no navigation, no new page load),
    // so only the tracker's mark tells the re-record below from a page load.
    await visitor.evaluate(() => history.pushState({}, "", "product.html?variant=brass"));

    // Support watches live. The node starts a viewer from the tab's tail on
    // disk; without one (lost, as after a restart: removed here) it asks
    // the tracker for a full snapshot.
    rmSync(join(dataDir, "live"), { recursive: true, force: true });
    const staff = await context.newPage();
    await signIn(staff, node);
    await staff.goto(`${node.base}/app/#/live/${encodeURIComponent(sessionId)}`);
    await staff.locator("[data-testid=live-player][data-ready=true]").waitFor({ timeout: 15_000 });
    next = await trackerSettled(visitor, next);
    await staff.goto(`${node.base}/app/#/sites`);
    // Leaving the page fires pagehide (the tracker sends `end`); then close.
    await visitor.goto("about:blank");
    await visitor.close();

    const events = await waitFor("the re-record stored", async () => {
      const text = await api(node, `/api/v1/sessions/${sessionId}/events`, { text: true });
      const all = text.trim().split("\n").map((l) => JSON.parse(l));
      return all.filter((e) => e.type === 4).length >= 2 ? all : null;
    });
    const metas = events.filter((e) => e.type === 4).map((e) => new URL(e.data.href).search);
    assert.deepEqual(metas, ["", "?variant=brass"], "the page load and the re-record, each with a Meta");
    const marker = events.findIndex((e) => e.type === 5 && e.data.tag === "reel/resnapshot");
    assert.ok(marker > 0 && events[marker + 1]?.type === 4, "the tracker marked the re-record just before its Meta");
    // The node counts the same: one page load, one URL visited.
    const row = await waitFor("the session row", async () => {
      const info = await api(node, `/api/v1/sessions/${sessionId}`);
      return info.events >= events.length ? info : null;
    });
    assert.equal(row.page_loads, 1);
    assert.deepEqual(row.urls.map((u) => new URL(u).search), [""]);

    await staff.goto(`${node.base}/app/#/sessions/${encodeURIComponent(sessionId)}`);
    await staff.locator("[data-testid=player][data-complete=true]").waitFor({ timeout: 30_000 });
    assert.equal(await staff.locator("[data-testid=legend-page]").innerText(), "1 page load");
    assert.equal(await staff.locator("[data-testid=fact-page-loads]").textContent(), "1");
    assert.equal(await staff.locator(".rr-progress [data-testid=marker][data-kind=page]").count(), 1);
    await context.close();
  } finally {
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});

/**
 * A page as a tracker records it: a Meta, a full snapshot with a button,
 * then a click on it at each of `clicksAt` (ms after `t0`). With `changesAt`,
 * the page also changes 40 times (800 KB, no user input) just after that
 * moment, so that what follows comes in a later chunk of the stream than
 * the one the player starts with.
 */
function clickedPage(t0, clicksAt, changesAt = null) {
  const button = { type: 2, tagName: "button", attributes: { id: "go" }, childNodes: [{ type: 3, textContent: "Go", id: 7 }], id: 6 };
  const body = { type: 2, tagName: "body", attributes: {}, childNodes: [button], id: 5 };
  const head = { type: 2, tagName: "head", attributes: {}, childNodes: [], id: 4 };
  const html = { type: 2, tagName: "html", attributes: {}, childNodes: [head, body], id: 3 };
  const doc = { type: 0, childNodes: [{ type: 1, name: "html", publicId: "", systemId: "", id: 2 }, html], id: 1 };
  return [
    { type: 4, timestamp: t0, data: { href: "https://shop.example/", width: 1024, height: 768 } },
    { type: 2, timestamp: t0 + 1, data: { node: doc, initialOffset: { left: 0, top: 0 } } },
    ...clicksAt.flatMap((t) => [
      { type: 3, timestamp: t0 + t, data: { source: 2, type: 2, id: 6, x: 10, y: 10 } },
      ...(t === changesAt
        ? Array.from({ length: 40 }, (_, i) => ({
            type: 3,
            timestamp: t0 + t + 10 + i,
            data: { source: 0, texts: [{ id: 7, value: `${"x".repeat(20_000)}${i}` }], attributes: [], removes: [], adds: [] },
          }))
        : []),
    ]),
  ];
}

/** The shaded stretches on the replay's bar: left and width in % of the bar, and colour. */
async function shadedStretches(page, node, sessionId) {
  await page.goto(`${node.base}/app/#/sessions/${sessionId}`);
  await page.locator("[data-testid=player][data-complete=true]").waitFor({ timeout: 30_000 });
  return page.locator(".rr-progress > div[title='inactive period']").evaluateAll((els) =>
    els.map((el) => ({ left: parseFloat(el.style.left), width: parseFloat(el.style.width), color: getComputedStyle(el).backgroundColor })),
  );
}

test("the replay's bar shades where the visitor did nothing for a while, and only there", async () => {
  const node = await startNode(tempDataDir(), await freePort());
  try {
    const { sites } = await api(node, "/api/v1/sites");
    const site = sites.find((s) => s.name === "Demo shop");
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    const t0 = Date.now() - 120_000;
    // Clicks at 1 s and 2 s, nothing for a minute, clicks at 62 s and 63 s;
    // the gap's end comes in after the player started (rrweb-player alone
    // shades only the stretches in the events it was created with).
    const gap = await ingestEvents(page, node, site.site_key, clickedPage(t0, [1_000, 2_000, 62_000, 63_000], 2_000), {
      visitor: "idle-visitor",
      tab: "idle-tab",
      userId: "idle-user",
      url: "https://shop.example/",
    });
    // A click every second for 9 s: never idle.
    const busy = await ingestEvents(page, node, site.site_key, clickedPage(t0, [1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000]), {
      visitor: "busy-visitor",
      tab: "busy-tab",
      userId: "busy-user",
      url: "https://shop.example/",
    });
    for (const [id, events] of [[gap, 46], [busy, 11]]) {
      await waitFor(`session ${id} stored`, async () => (await api(node, `/api/v1/sessions/${id}`)).events >= events);
    }
    await signIn(page, node);

    // One stretch, from the last click before the gap to the first after
    // it, on a bar from the first event (0 s) to the last (63 s).
    const shaded = await shadedStretches(page, node, gap);
    assert.equal(shaded.length, 1, JSON.stringify(shaded));
    assert.ok(Math.abs(shaded[0].left - (2_000 / 63_000) * 100) < 0.1, `starts at 2 s: ${JSON.stringify(shaded)}`);
    assert.ok(Math.abs(shaded[0].width - (60_000 / 63_000) * 100) < 0.1, `lasts 60 s: ${JSON.stringify(shaded)}`);
    assert.equal(shaded[0].color, "rgb(208, 215, 222)", "drawn in the dashboard's inactive colour");
    const [bar, stretch] = await Promise.all([
      page.locator(".rr-progress").boundingBox(),
      page.locator(".rr-progress > div[title='inactive period']").boundingBox(),
    ]);
    assert.ok(stretch.width > bar.width * 0.9 && stretch.height > 0, `visible: ${JSON.stringify({ bar, stretch })}`);

    assert.deepEqual(await shadedStretches(page, node, busy), [], "no gap, no shading");
    await context.close();
  } finally {
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});
