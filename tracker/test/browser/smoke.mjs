// End-to-end check of the built bundle in real headless Chromium (Debian's
// `chromium`, driven by playwright-core; no browser download). A small
// stand-in for the reel server serves the demo shop with the snippet and a
// loader like the real one, and speaks the ingest protocol over a minimal
// WebSocket: welcome, acks, duplicates, gaps. Then a visit goes through the
// three pages and the recording is checked: ids, seq continuity across page
// loads, gzip frames, end, identify, privacy, custom errors, live snapshot,
// and what a page logs, fetches and throws (console, network, errors, track,
// each uncaught error once), the capture switches and reel.sessionUrl().
//
//   npm run build && node test/browser/smoke.mjs
//   CHROMIUM=/path/to/chromium node test/browser/smoke.mjs

import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { gunzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const ROOT = new URL("../../", import.meta.url);
const SITE = "demo_site_key";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// ---- a stand-in reel server ------------------------------------------------

/** Every message received: {conn, binary, m}. */
const received = [];
/** Next expected seq per "session/tab", and stored events per "session/tab". */
const expected = new Map();
const stored = new Map();
const sockets = new Set();

const settings = {
  sample_rate: 1,
  mask_all_inputs: true,
  mask_text: true,
  block_selector: "",
  batch_interval_ms: 300,
  batch_max_bytes: 512 * 1024,
  batch_max_events: 5000,
  max_frame_bytes: 4 * 1024 * 1024,
  maintenance: false,
};

function wsFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

function accept(socket, req) {
  const key = createHash("sha1")
    .update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    .digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${key}\r\n\r\n`,
  );
  const conn = { id: received.length + "-" + randomBytes(3).toString("hex"), socket, session: null, tab: null };
  sockets.add(conn);
  const send = (msg) => socket.write(wsFrame(1, Buffer.from(JSON.stringify(msg))));
  const close = (code) => {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    socket.write(wsFrame(8, p));
    socket.end();
  };
  conn.send = send;
  let buf = Buffer.alloc(0);
  let frag = null;
  socket.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = buf[0] & 0x80;
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const mask = buf.subarray(off, off + 4);
      off += 4;
      if (buf.length < off + len) return;
      const payload = Buffer.from(buf.subarray(off, off + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      buf = buf.subarray(off + len);
      if (op === 8) return close(1000);
      if (op === 9) {
        socket.write(wsFrame(10, payload));
        continue;
      }
      if (op === 1 || op === 2) frag = { op, parts: [payload] };
      else if (op === 0 && frag) frag.parts.push(payload);
      else continue;
      if (!fin) continue;
      const whole = Buffer.concat(frag.parts);
      const binary = frag.op === 2;
      frag = null;
      onMessage(conn, binary, JSON.parse((binary ? gunzipSync(whole) : whole).toString("utf8")), close);
    }
  });
  socket.on("close", () => sockets.delete(conn));
  socket.on("error", () => sockets.delete(conn));
}

function onMessage(conn, binary, m, close) {
  received.push({ conn: conn.id, binary, m });
  const key = () => `${conn.session}/${conn.tab}`;
  switch (m.t) {
    case "hello": {
      conn.session = m.session ?? "S" + randomBytes(6).toString("hex");
      conn.tab = m.tab;
      const next = Math.max(expected.get(key()) ?? 0, m.acked === null ? 0 : m.acked + 1);
      expected.set(key(), next);
      conn.send({ t: "welcome", session: conn.session, tab: conn.tab, next_seq: next, settings });
      break;
    }
    case "events": {
      const next = expected.get(key());
      if (m.seq > next) return close(4409);
      if (m.seq === next) {
        expected.set(key(), next + 1);
        stored.set(key(), [...(stored.get(key()) ?? []), ...m.events]);
      }
      conn.send({ t: "ack", seq: m.seq });
      break;
    }
    case "end": {
      const next = expected.get(key());
      if (next > 0) conn.send({ t: "ack", seq: next - 1 });
      break;
    }
  }
}

const loader = (host) => `(function(){
  window.__reelConfig = { site: ${JSON.stringify(SITE)}, endpoint: "ws://${host}/v1/ingest" };
  window.reel = window.reel || { q: [], identify: function(){ window.reel.q.push(["identify"].concat([].slice.call(arguments))); } };
  var s = document.createElement("script"); s.async = true; s.src = "http://${host}/t/tracker.js";
  document.head.appendChild(s);
})();`;

/** A port nothing listens on: requests to it fail with a network error. */
const closedPort = await new Promise((resolve) => {
  const spare = createServer().listen(0, "127.0.0.1", () => {
    const port = spare.address().port;
    spare.close(() => resolve(port));
  });
});

/** A page that, when #go is clicked, logs, fetches (200, 500, a network error, the reel server's own path), uses XHR (twice) and sendBeacon, tracks and throws. */
const capturePage = (host) => `<!doctype html><title>capture</title><p>Capture</p><button id="go">go</button>
<script async src="http://${host}/t/tracker.js" data-site="${SITE}"></script>
<script>
  document.getElementById("go").addEventListener("click", async () => {
    console.log("hello from the page", { cart: 2 });
    await fetch("/api/ok?token=abc&q=1");
    await fetch("/api/fail", { method: "POST", body: "12345" });
    await fetch("http://127.0.0.1:${closedPort}/down").catch(() => {});
    await fetch("/t/loader.js");
    const x = new XMLHttpRequest(); // sent twice: each send is recorded once
    for (const u of ["/api/ok?password=pw", "/api/fail"]) await new Promise((done) => { x.open("GET", u); x.onloadend = () => setTimeout(done); x.send(); });
    navigator.sendBeacon("/api/ok?beacon=1", "abc");
    reel.track("go_clicked", { n: 1, ok: true });
    reel.track("", {});
    document.title = reel.sessionUrl();
    Promise.reject(new Error("capture rejection"));
    setTimeout(() => { throw new Error("capture boom"); });
  });
</script>`;

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const host = req.headers.host;
  if (url.pathname === "/t/loader.js") {
    res.writeHead(200, { "content-type": "text/javascript" }).end(loader(host));
  } else if (url.pathname === "/t/tracker.js") {
    res.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(new URL("dist/tracker.js", ROOT)));
  } else if (url.pathname === "/direct.html") {
    // The bundle included directly, without the loader: config from its own tag.
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(
      `<!doctype html><title>direct</title><p>Direct include</p><script async src="http://${host}/t/tracker.js" data-site="${SITE}"></script>`,
    );
  } else if (url.pathname === "/capture.html") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(capturePage(host));
  } else if (url.pathname === "/api/ok") {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", "content-length": "2" }).end("ok");
  } else if (url.pathname === "/api/fail") {
    req.resume();
    res.writeHead(500, { "content-type": "text/plain", "content-length": "4" }).end("boom");
  } else if (url.pathname === "/dnt.html") {
    // A site that honours Do-Not-Track: its snippet says so.
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(
      `<!doctype html><title>dnt</title><p>Do not track</p><script async src="http://${host}/t/tracker.js" data-site="${SITE}" data-honor-dnt></script>`,
    );
  } else if (/^\/demo\/[a-z]+\.html$/.test(url.pathname)) {
    const html = readFileSync(new URL("." + url.pathname, ROOT), "utf8").replace(
      "<!-- REEL_SNIPPET -->",
      `<script async src="http://${host}/t/loader.js" data-site="${SITE}"></script>`,
    );
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html);
  } else {
    res.writeHead(404).end();
  }
});
server.on("upgrade", (req, socket) => {
  if (new URL(req.url, "http://x").searchParams.get("site") !== SITE) return socket.destroy();
  accept(socket, req);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

// ---- the visit ------------------------------------------------------------

const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
};
const until = async (cond, what, ms = 5000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  check(false, `timed out waiting for ${what}`);
  return false;
};
const allEvents = () => [...stored.values()].flat();
const eventsJson = () => JSON.stringify(allEvents());

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 700 } });
  const page = await context.newPage();
  const consoleWarnings = [];
  page.on("console", (msg) => {
    if (msg.type() === "warning" || msg.type() === "error") consoleWarnings.push(msg.text());
  });

  await page.goto(`${base}/demo/index.html`);
  await until(() => allEvents().some((e) => e.type === 2), "the first full snapshot");
  await page.mouse.move(200, 200);
  await page.mouse.move(400, 300);
  await page.click("#product-lamp");
  await page.waitForURL(/product\.html/);
  await page.click("#add-to-cart");
  await page.click("#add-to-cart");
  await until(() => eventsJson().includes("In your cart: 2"), "the cart mutation");
  // The connection drops (a network change, a node lost): the tab reconnects and goes on.
  for (const c of sockets) c.socket.destroy();
  await page.click("#add-to-cart");
  await until(() => received.filter((r) => r.m.t === "hello").length === 3, "a reconnect");
  await until(() => eventsJson().includes("In your cart: 3"), "the cart mutation after the reconnect");
  await page.click("#to-checkout");
  await page.waitForURL(/checkout\.html/);
  await page.fill("#name", "Jane Doe");
  await page.fill("#email", "jane@example.com");
  await page.fill("#card", "4242424242424242");
  await page.check("#terms");
  // Typed key by key: every value is recorded as it is typed, not only on blur.
  await page.locator("#coupon").pressSequentially("SAVE10", { delay: 150 });
  await page.click("#place-order");
  await page.evaluate(() => setTimeout(() => { throw new Error("demo boom"); }));
  await until(() => eventsJson().includes("Thank you! Your order is placed."), "the thank-you text");
  await until(() => eventsJson().includes("demo boom"), "the error event");

  // A live viewer joins: the server asks for a snapshot.
  const snapshotsBefore = allEvents().filter((e) => e.type === 2).length;
  for (const c of sockets) c.send({ t: "snapshot" });
  await until(() => allEvents().filter((e) => e.type === 2).length > snapshotsBefore, "a snapshot on request");

  await page.goto("about:blank"); // pagehide of the checkout page
  await until(() => received.filter((r) => r.m.t === "end").length >= 3, "end from each of the three pages");
  await context.close();

  // ---- what the server saw ------------------------------------------------
  const hellos = received.filter((r) => r.m.t === "hello").map((r) => r.m);
  const batches = received.filter((r) => r.m.t === "events");
  check(hellos.length === 4, `one hello per page load, one more for the reconnect (${hellos.length})`);
  check(new Set(hellos.map((h) => h.visitor)).size === 1, "one visitor id across page loads");
  check(hellos[0].session === null && hellos.slice(1).every((h) => h.session === hellos[1].session && h.session), "first hello starts a session, later page loads continue it");
  check(new Set(hellos.map((h) => h.tab)).size === 1, "one tab id across page loads of the tab");
  check(hellos.every((h) => /^[A-Za-z0-9_-]{1,64}$/.test(h.visitor) && /^[A-Za-z0-9_-]{1,64}$/.test(h.tab)), "ids follow the id rule");
  check(hellos[3].page.url.endsWith("/demo/checkout.html") && hellos[3].page.referrer.endsWith("/demo/product.html"), "hello carries url and referrer");
  check(hellos[3].screen.w === 1024 && typeof hellos[3].tz === "string" && hellos[3].lang.length > 0, "hello carries screen, lang, tz");
  check(hellos[1].acked !== null && hellos[2].acked >= hellos[1].acked && hellos[3].acked > hellos[1].acked, "hello carries the highest acked seq");
  const seqs = [...new Set(batches.map((b) => b.m.seq))].sort((a, b) => a - b);
  check(seqs.length > 3 && seqs.every((s, i) => s === i), `seq continues across page loads without gaps (0..${seqs.at(-1)})`);
  check(batches.some((b) => b.binary), "batches go out as gzip binary frames");
  check(received.some((r) => r.m.t === "identify" && r.m.user_id === "demo-user-1" && r.m.traits.plan === "demo"), "identify queued by the page reaches the server");

  const json = eventsJson();
  const inputs = allEvents().filter((e) => e.type === 3 && e.data.source === 5).map((e) => e.data.text);
  check(inputs.includes("SAVE10"), "the data-reel-unmask coupon is recorded as typed");
  check(["S", "SA", "SAV", "SAVE", "SAVE1"].every((v) => inputs.includes(v)), `input is recorded key by key (${inputs.filter((v) => /^S/.test(v)).join(",")})`);
  const network = allEvents().filter((e) => e.type === 6 && e.data.plugin === "reel/network@1").map((e) => e.data.payload);
  const cart = network.filter((n) => n.url.includes("/demo/api/cart"));
  check(cart.length === 3 && cart.every((n) => n.status === 404 && !n.ok && n.method === "POST" && n.url.endsWith("?sku=desk-lamp&session=[redacted]")), "the demo's cart requests are recorded, failed, their session parameter redacted");
  check(network.some((n) => n.url.startsWith("http://127.0.0.1:9/recommendations") && n.status === 0 && n.error), "the demo's unreachable service is a network error");
  check(allEvents().some((e) => e.type === 6 && e.data.plugin === "rrweb/console@1" && e.data.payload.level === "error" && e.data.payload.payload[0].includes("recommendations unavailable")), "the demo's console error is recorded");
  check(allEvents().some((e) => e.type === 5 && e.data.tag === "track" && e.data.payload.name === "add_to_cart" && e.data.payload.props.sku === "desk-lamp"), "the demo's track event is recorded");
  check(!/Jane|jane@example|4242424242424242/.test(json), "name, email and card never leave the browser");
  check(inputs.includes("********") && inputs.includes("****************"), "masked inputs are recorded as * of the same length");
  check(!json.includes("support@demo.example") && json.includes("********************"), "e-mail in page text is masked");
  check(!json.includes("123456") && json.includes("0800 ******"), "runs of 6+ digits in page text are masked");
  check(json.includes("Desk Lamp") && json.includes("€49.00"), "ordinary text is recorded");
  check(!json.includes("Saved card ending"), "data-reel-block content is not recorded");
  check(allEvents().some((e) => e.type === 5 && e.data.tag === "error" && e.data.payload.message.includes("demo boom")), "uncaught errors become custom error events");
  check(!network.some((n) => n.url.includes("/t/") || n.url.includes("/v1/")), "the tracker's own requests are not recorded");
  check(consoleWarnings.filter((w) => w.startsWith("reel:")).length === 0, `no tracker warnings (${consoleWarnings.join(" | ")})`);

  // Included directly: the endpoint comes from the script's src, the site from data-site.
  const direct = await browser.newContext();
  const directPage = await direct.newPage();
  await directPage.goto(`${base}/direct.html`);
  await until(() => received.filter((r) => r.m.t === "hello").length === 5, "a hello from the directly included bundle");
  const last = received.filter((r) => r.m.t === "hello").at(-1).m;
  check(last.visitor !== hellos[0].visitor && last.session === null, "a directly included bundle connects on its own");
  await direct.close();

  // An admin sets a block_selector mid-session: rrweb restarts (a new full
  // snapshot) and blocks what it matches; one the browser cannot parse stops recording.
  const blocked = await browser.newContext();
  const blockedPage = await blocked.newPage();
  const blockWarnings = [];
  blockedPage.on("console", (msg) => msg.type() === "warning" && blockWarnings.push(msg.text()));
  await blockedPage.goto(`${base}/direct.html`);
  await until(() => received.filter((r) => r.m.t === "hello").length === 6, "a hello from the block_selector page");
  const conn = [...sockets].at(-1);
  const snapshotsOf = () => (stored.get(`${conn.session}/${conn.tab}`) ?? []).filter((e) => e.type === 2);
  await until(() => snapshotsOf().length === 1, "the first full snapshot of the block_selector page");
  check(JSON.stringify(snapshotsOf()[0]).includes("Direct include"), "the paragraph is recorded before the setting");
  conn.send({ t: "settings", ...settings, block_selector: "p" });
  await until(() => snapshotsOf().length === 2, "a full snapshot after the new block_selector");
  check(!JSON.stringify(snapshotsOf()[1]).includes("Direct include"), "the block_selector's elements are not recorded");
  conn.send({ t: "settings", ...settings, block_selector: "p[" });
  await until(() => blockWarnings.some((w) => w.includes("block_selector")), "a warning about the unparsable block_selector");
  await blockedPage.evaluate(() => document.body.append(Object.assign(document.createElement("div"), { textContent: "after the bad selector" })));
  await blockedPage.evaluate(() => new Promise((r) => setTimeout(r, 1000)));
  check(!eventsJson().includes("after the bad selector"), "nothing is recorded under an unparsable block_selector");
  await blocked.close();

  // What a page logs, fetches and throws, in what the tracker sends.
  const cap = await browser.newContext();
  const capPage = await cap.newPage();
  await capPage.goto(`${base}/capture.html`);
  await until(() => received.filter((r) => r.m.t === "hello").length === 7, "a hello from the capture page");
  const capConn = [...sockets].at(-1);
  const capEvents = () => stored.get(`${capConn.session}/${capConn.tab}`) ?? [];
  await until(() => capEvents().some((e) => e.type === 2), "the capture page's first snapshot");
  await capPage.click("#go");
  const capJson = () => JSON.stringify(capEvents());
  await until(() => capJson().includes("capture boom") && capJson().includes("capture rejection") && capJson().includes("beacon=1"), "the capture page's events");
  const netOf = () => capEvents().filter((e) => e.type === 6 && e.data.plugin === "reel/network@1").map((e) => e.data.payload);
  const net = netOf();
  const keys = ["method", "url", "status", "ok", "start", "duration_ms", "request_bytes", "response_bytes", "initiator", "error"];
  check(net.every((n) => JSON.stringify(Object.keys(n).sort()) === JSON.stringify([...keys].sort())), "network payloads have exactly the protocol's fields (no bodies by default)");
  const find = (f) => net.find(f);
  const ok = find((n) => n.initiator === "fetch" && n.url === `${base}/api/ok?token=[redacted]&q=1`);
  check(ok && ok.status === 200 && ok.ok && ok.method === "GET" && ok.response_bytes === 2 && ok.request_bytes === 0 && ok.error === null && ok.duration_ms >= 0 && ok.start > Date.now() - 60_000, `fetch 200 recorded, token redacted (${JSON.stringify(ok)})`);
  const fail = find((n) => n.url === `${base}/api/fail`);
  check(fail && fail.status === 500 && !fail.ok && fail.method === "POST" && fail.request_bytes === 5, `fetch 500 recorded (${JSON.stringify(fail)})`);
  const down = find((n) => n.url.startsWith(`http://127.0.0.1:${closedPort}/`));
  check(down && down.status === 0 && !down.ok && typeof down.error === "string" && down.response_bytes === null, `fetch network error recorded (${JSON.stringify(down)})`);
  const xhrs = net.filter((n) => n.initiator === "xhr");
  const [xhr, xhr2] = xhrs;
  check(xhrs.length === 2 && xhr.status === 200 && xhr.ok && xhr.url === `${base}/api/ok?password=[redacted]` && xhr.response_bytes === 2, `XMLHttpRequest recorded (${JSON.stringify(xhr)})`);
  check(xhr2 && xhr2.status === 500 && !xhr2.ok && xhr2.url === `${base}/api/fail`, `an XMLHttpRequest sent again is recorded once more (${JSON.stringify(xhrs)})`);
  const beacon = find((n) => n.initiator === "beacon");
  check(beacon && beacon.method === "POST" && beacon.ok && beacon.request_bytes === 3, `sendBeacon recorded (${JSON.stringify(beacon)})`);
  check(!net.some((n) => n.url.includes("/t/loader.js")), "requests to the reel server's own paths are not recorded");
  check(net.length === 6, `exactly the page's six requests (${net.length})`);
  const logsOf = () => capEvents().filter((e) => e.type === 6 && e.data.plugin === "rrweb/console@1").map((e) => e.data.payload);
  const logs = logsOf();
  check(logs.some((l) => l.level === "log" && l.payload[0] === '"hello from the page"' && l.payload[1].includes("cart")), "console.log is recorded by the console plugin");
  // A track event after the error and the rejection: whatever they made comes before it.
  await capPage.evaluate(() => reel.track("after_errors"));
  await until(() => capEvents().some((e) => e.type === 5 && e.data.tag === "track" && e.data.payload.name === "after_errors"), "the track event after the errors");
  const errors = capEvents().filter((e) => e.type === 5 && e.data.tag === "error").map((e) => e.data.payload);
  const errorLines = logsOf().filter((l) => l.level === "error").map((l) => JSON.stringify(l));
  for (const what of ["capture boom", "capture rejection"]) {
    const n = errors.filter((p) => p.message.includes(what)).length;
    const lines = errorLines.filter((l) => l.includes(what)).length;
    check(n === 1 && lines === 0, `"${what}" is recorded once, as an error event, not as a console line (${n} error events, ${lines} console lines)`);
  }
  const boom = errors.find((p) => p.message.includes("capture boom"));
  check(boom && boom.source === `${base}/capture.html` && boom.line > 0 && boom.col > 0 && boom.stack.includes("capture boom"), `a thrown error carries stack, source, line and column (${JSON.stringify(boom)})`);
  const rejection = errors.find((p) => p.message.includes("capture rejection"));
  check(rejection && rejection.stack.includes("capture rejection") && rejection.source === `${base}/capture.html` && rejection.line > 0, `an unhandled rejection is recorded (${JSON.stringify(rejection)})`);
  const tracks = capEvents().filter((e) => e.type === 5 && e.data.tag === "track" && e.data.payload.name !== "after_errors").map((e) => e.data.payload);
  check(tracks.length === 1 && tracks[0].name === "go_clicked" && tracks[0].props.n === 1 && tracks[0].props.ok === true, "reel.track records its event; an invalid call is dropped");
  check((await capPage.title()) === `${base}/app/#/live/${capConn.session}`, "reel.sessionUrl is the session's live view while the tracker is connected");

  // The site switches console and network capture off: rrweb restarts, and
  // the same clicks record errors and track events but no console or network.
  const snapshots = () => capEvents().filter((e) => e.type === 2).length;
  const before = snapshots();
  capConn.send({ t: "settings", ...settings, capture_console: false, capture_network: false });
  await until(() => snapshots() > before, "a full snapshot after capture is switched off");
  const from = capEvents().length;
  await capPage.click("#go");
  await until(() => capEvents().slice(from).filter((e) => e.type === 5 && e.data.tag === "error").length === 2, "the errors of the second click");
  const after = capEvents().slice(from);
  check(after.some((e) => e.type === 5 && e.data.tag === "track") && !after.some((e) => e.type === 6), "with capture_console and capture_network off, nothing of type 6 is recorded");

  // The site switches error capture off: a thrown error and a rejection are not recorded.
  const beforeOff = snapshots();
  capConn.send({ t: "settings", ...settings, capture_errors: false });
  await until(() => snapshots() > beforeOff, "a full snapshot after error capture is switched off");
  const fromOff = capEvents().length;
  await capPage.evaluate(() => {
    // Listeners added now run after the tracker's (had it any): their track events mark the error and the rejection as handled.
    addEventListener("error", () => reel.track("after_error"), { once: true });
    addEventListener("unhandledrejection", () => reel.track("after_rejection"), { once: true });
    Promise.reject(new Error("off rejection"));
    setTimeout(() => {
      throw new Error("off boom");
    });
  });
  const offEvents = () => capEvents().slice(fromOff);
  const tracked = (name) => offEvents().some((e) => e.type === 5 && e.data.tag === "track" && e.data.payload.name === name);
  await until(() => tracked("after_error") && tracked("after_rejection"), "the track events after the error and the rejection");
  check(!offEvents().some((e) => e.type === 5 && e.data.tag === "error") && !/off boom|off rejection/.test(JSON.stringify(offEvents())), "with capture_errors off, errors and rejections are not recorded");

  // Opted out, the page's session is no longer live: its replay.
  const afterOptOut = await capPage.evaluate(() => {
    reel.optOut();
    return reel.sessionUrl();
  });
  check(afterOptOut === `${base}/app/#/sessions/${capConn.session}`, `after optOut reel.sessionUrl is the session's replay (${afterOptOut})`);
  await cap.close();
  // Do-Not-Track / Global Privacy Control on a site that honours it, and
  // an opted-out browser: no WebSocket is opened at all.
  const bundleRan = (p) => p.waitForFunction(() => window.reel && window.reel.__reel === true);
  const gpc = await browser.newContext();
  await gpc.addInitScript(() => Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true }));
  const gpcPage = await gpc.newPage();
  let gpcSockets = 0;
  gpcPage.on("websocket", () => gpcSockets++);
  await gpcPage.goto(`${base}/dnt.html`);
  await bundleRan(gpcPage);
  check(gpcSockets === 0, "a GPC browser opens no WebSocket on a site that honours it");
  await gpc.close();

  const optedOut = await browser.newContext();
  await optedOut.addInitScript(() => {
    if (!sessionStorage.getItem("reel.test.seeded")) {
      localStorage.setItem("reel.optout", "1");
      sessionStorage.setItem("reel.test.seeded", "1");
    }
  });
  const optPage = await optedOut.newPage();
  let optSockets = 0;
  optPage.on("websocket", () => optSockets++);
  await optPage.goto(`${base}/direct.html`);
  await bundleRan(optPage);
  check(optSockets === 0, "an opted-out browser opens no WebSocket");
  const hellosBefore = received.filter((r) => r.m.t === "hello").length;
  await optPage.evaluate(() => window.reel.optIn());
  await until(() => received.filter((r) => r.m.t === "hello").length === hellosBefore + 1, "a hello after optIn");
  check(optSockets === 1, "optIn connects from the same page");
  await optPage.evaluate(() => window.reel.optOut());
  check(await optPage.evaluate(() => localStorage.getItem("reel.optout")) === "1", "optOut is remembered in localStorage");
  await optPage.reload();
  await bundleRan(optPage);
  check(optSockets === 1, "after optOut a new page load opens no WebSocket");
  await optedOut.close();
} finally {
  await browser.close();
  server.close();
  for (const c of sockets) c.socket.destroy();
}

if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log("browser smoke test passed");
