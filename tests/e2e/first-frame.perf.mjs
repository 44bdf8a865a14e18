// Measures the dashboard's time to first frame for a 10-minute recording:
// a real page (the demo checkout, recorded by the real tracker in Chromium)
// followed by 10 minutes of synthetic activity (a page load every 2
// minutes, mouse moves, scrolls and clicks every second), sent over the
// ingest protocol like a tracker would. Prints JSON; not part of `npm test`.
//
//   node --experimental-websocket first-frame.perf.mjs   (Node 20)
import { api, freePort, launchBrowser, signIn, startNode, stopNode, tempDataDir, trackerSettled, waitFor } from "./harness.mjs";

const MINUTES = Number(process.env.MINUTES ?? 10);
const node = await startNode(tempDataDir(), await freePort());
const browser = await launchBrowser();
try {
  // 1. A real Meta + full snapshot from the tracker.
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${node.base}/demo/checkout.html`);
  await page.getByText("Checkout").first().waitFor();
  await page.fill("#coupon", "X");
  await trackerSettled(page);
  await page.goto("about:blank");
  const real = await waitFor("the real recording", async () => {
    const s = await api(node, "/api/v1/sites/1/sessions?user_id=demo-user-1");
    if (!s.sessions[0] || s.sessions[0].events < 2) return null;
    const lines = (await api(node, `/api/v1/sessions/${s.sessions[0].id}/events`, { text: true })).trim().split("\n");
    return lines.map((l) => JSON.parse(l));
  });
  const meta = real.find((e) => e.type === 4);
  const full = real.find((e) => e.type === 2);

  // 2. Ten minutes of a visit, as a tracker would send it.
  const { sites } = await api(node, "/api/v1/sites");
  const key = sites.find((s) => s.name === "Demo shop").site_key;
  const ws = new WebSocket(`${node.base.replace("http", "ws")}/v1/ingest?site=${key}&visitor=perf`);
  const inbox = [];
  let wake = () => {};
  ws.onmessage = (m) => {
    inbox.push(JSON.parse(m.data));
    wake();
  };
  ws.onclose = (e) => {
    closed = `closed ${e.code} ${e.reason}`;
    wake();
  };
  let closed = null;
  const next = async () => {
    if (closed && !inbox.length) throw new Error(closed);
    while (!inbox.length) {
      if (closed) throw new Error(closed);
      await new Promise((r) => (wake = r));
    }
    return inbox.shift();
  };
  await new Promise((r) => (ws.onopen = r));
  ws.send(JSON.stringify({ t: "hello", v: 1, visitor: "perf", session: null, tab: "perf-tab", acked: null,
    page: { url: meta.data.href, referrer: "", title: "perf" }, screen: { w: 1280, h: 720 }, lang: "en", tz: "UTC" }));
  const welcome = await next();
  ws.send(JSON.stringify({ t: "identify", user_id: "perf-user", traits: {} }));
  const t0 = Date.now() - MINUTES * 60_000;
  let rawBytes = 0;
  let eventCount = 0;
  // The last batch is acked twice: when durable, and after the final `end`.
  let lastAcks = 0;
  for (let s = 0; s < MINUTES * 60; s++) {
    const ts = t0 + s * 1000;
    const events = [];
    if (s % 120 === 0) {
      // A page load: the previous page's pagehide sent `end` (a segment).
      if (s > 0) ws.send(JSON.stringify({ t: "end" }));
      events.push({ ...meta, timestamp: ts }, { ...full, timestamp: ts + 1 });
    }
    const positions = Array.from({ length: 10 }, (_, i) => ({ x: 100 + ((s * 7 + i * 13) % 900), y: 80 + ((s * 11 + i * 5) % 500), id: 10, timeOffset: -900 + i * 100 }));
    events.push({ type: 3, data: { source: 1, positions }, timestamp: ts + 950 });
    if (s % 5 === 0) events.push({ type: 3, data: { source: 3, id: 1, x: 0, y: (s * 37) % 1200 }, timestamp: ts + 500 });
    if (s % 10 === 0) events.push({ type: 3, data: { source: 2, type: 2, id: 12, x: 300, y: 200 }, timestamp: ts + 700 });
    const frame = JSON.stringify({ t: "events", seq: s, events });
    rawBytes += frame.length;
    eventCount += events.length;
    ws.send(frame);
    // A tracker's pace is 1 batch/s; here 40/s, under the 50/s limit.
    if (s % 40 === 39) await new Promise((r) => setTimeout(r, 1000));
    while (inbox.length) {
      const m = inbox.shift();
      if (m.t === "error") throw new Error(JSON.stringify(m));
      if (m.t === "ack" && m.seq === MINUTES * 60 - 1) lastAcks++;
    }
  }
  ws.send(JSON.stringify({ t: "end" }));
  const sentAt = Date.now();
  const seen = [];
  for (;;) {
    const m = await next().catch((e) => {
      throw new Error(`${e.message} after ${JSON.stringify(seen.slice(-5))} (${Date.now() - sentAt} ms)`);
    });
    seen.push(m);
    if (m.t === "error") throw new Error(JSON.stringify(m));
    if (m.t === "ack" && m.seq === MINUTES * 60 - 1 && ++lastAcks === 2) break;
  }
  ws.close();
  const info = await api(node, `/api/v1/sessions/${welcome.session}`);

  // 3. Time to first frame in the dashboard.
  const dash = await ctx.newPage();
  await signIn(dash, node);
  const runs = [];
  for (let i = 0; i < 5; i++) {
    await dash.goto(`${node.base}/app/#/sites`);
    await dash.locator("[data-testid=site-row]").first().waitFor();
    const start = Date.now();
    await dash.goto(`${node.base}/app/#/sessions/${welcome.session}`);
    await dash.locator("[data-testid=player][data-ready=true]").waitFor({ timeout: 60_000 });
    const firstFrame = Date.now() - start;
    await dash.locator("[data-testid=player][data-complete=true]").waitFor({ timeout: 120_000 });
    runs.push({ first_frame_ms: firstFrame, all_loaded_ms: Date.now() - start });
  }
  runs.sort((a, b) => a.first_frame_ms - b.first_frame_ms);
  console.log(JSON.stringify({
    minutes: MINUTES,
    events: eventCount,
    raw_bytes: info.raw_bytes,
    stored_bytes: info.stored_bytes,
    segments: info.segments,
    wire_bytes: rawBytes,
    median_first_frame_ms: runs[2].first_frame_ms,
    median_all_loaded_ms: runs.map((r) => r.all_loaded_ms).sort((a, b) => a - b)[2],
    runs,
  }));
} finally {
  await browser.close();
  await stopNode(node);
}
