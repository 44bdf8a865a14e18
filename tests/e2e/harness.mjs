// Shared by the browser tests: a real `reel serve --demo` process on a
// fixed free port (so that trackers reconnect to it after a restart), and
// Debian's Chromium driven by playwright-core.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = process.env.REEL_BIN ?? join(ROOT, "target/debug/reel");
export const SHOTS = join(ROOT, "target/e2e-screenshots");
mkdirSync(SHOTS, { recursive: true });

/** A free TCP port on loopback. */
export async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on("error", fail);
  });
}

/**
 * The demo owner's email and password from a line `reel serve --demo`
 * prints, e.g. `dashboard:  http://.../app/  (sign in as demo@reel.local
 * with password XXXX)`; null for other lines.
 */
export function demoCredentials(line) {
  const email = line.match(/([^\s(]+@[^\s)]+)/);
  const password = line.match(/password:?\s+(\S+?)\)?$/);
  return email && password ? { email: email[1], password: password[1] } : null;
}

/** Starts `reel serve --demo` on `dataDir` and `port`; resolves once it listens,
 * with the demo owner's `email` and `password` and a signed-in `cookie` for `api`. */
export async function startNode(dataDir, port) {
  const child = spawn(BIN, ["serve", "--demo"], {
    cwd: ROOT,
    env: {
      ...process.env,
      REEL_DATA_DIR: dataDir,
      REEL_LISTEN: `127.0.0.1:${port}`,
      REEL_WORKERS: "2",
      REEL_LOG: process.env.REEL_LOG ?? (process.env.TEST_LOG ? "info" : "warn"),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const info = { child, base: `http://127.0.0.1:${port}` };
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("node did not start in 30 s")), 30_000);
    child.on("exit", (code) => fail(new Error(`node exited with ${code}`)));
    lines.on("line", (line) => {
      const creds = demoCredentials(line);
      if (creds) {
        Object.assign(info, creds);
        clearTimeout(timer);
        ok();
      }
    });
  });
  info.cookie = await apiSignIn(info, info.email, info.password);
  return info;
}

/** `POST /api/v1/login`; returns the `Cookie` header value of the new sign-in. */
export async function apiSignIn(node, email, password) {
  const res = await fetch(`${node.base}/api/v1/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (!res.ok) throw new Error(`POST /api/v1/login: ${res.status} ${await res.text()}`);
  const set = res.headers.getSetCookie().find((c) => c.startsWith("reel_session="));
  if (!set) throw new Error(`no reel_session cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  return set.split(";")[0];
}

export function stopNode(node, signal = "SIGTERM") {
  return new Promise((ok) => {
    if (node.child.exitCode !== null) return ok(node.child.exitCode);
    node.child.once("exit", (code) => ok(code));
    node.child.kill(signal);
  });
}

export function tempDataDir() {
  return mkdtempSync(join(tmpdir(), "reel-e2e-"));
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** GET an API path as the demo owner; returns parsed JSON or text. */
export async function api(node, path, { text = false } = {}) {
  const res = await fetch(node.base + path, { headers: { cookie: node.cookie } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return text ? res.text() : res.json();
}

/** Polls `probe` until it returns a truthy value (bounded). */
export async function waitFor(what, probe, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

/** The demo visit: home, product, checkout with a filled form. */
export const TYPED = { name: "Alice Example", email: "alice@example.com", card: "4242424242424242", coupon: "WELCOME10" };

export async function findDemoSession(node, userId) {
  const { sites } = await api(node, "/api/v1/sites");
  const site = sites.find((s) => s.name === "Demo shop");
  return waitFor(`a session of ${userId}`, async () => {
    const page = await api(node, `/api/v1/sites/${site.id}/sessions?user_id=${userId}`);
    return page.sessions[0];
  });
}

/** Signs in on the dashboard's sign-in page (as the demo owner unless told
 * otherwise) and waits for the sites list. */
export async function signIn(page, node, { email = node.email, password = node.password } = {}) {
  await page.goto(`${node.base}/app/`);
  await page.fill("[data-testid=email-input]", email);
  await page.fill("[data-testid=password-input]", password);
  await page.click("[data-testid=sign-in]");
  await page.locator("[data-testid=who-user]").waitFor();
  await page.locator("tr[data-testid=site-row]").first().waitFor();
}

/** Finds the user's session on the sessions page of the demo site and opens
 * its replay (signed in already). Returns the session id. */
export async function findAndReplay(page, userId, shotName) {
  await page.click("[data-testid=site-row] >> text=Demo shop");
  await page.fill("[data-testid=filter-user]", userId);
  await page.click("[data-testid=apply-filters]");
  const rows = page.locator("tr[data-testid=session-row]");
  await rows.first().waitFor();
  await page.screenshot({ path: join(SHOTS, `${shotName}-list.png`), fullPage: true });
  const sessionId = await rows.first().getAttribute("data-session-id");
  await rows.first().click();
  await page.locator("[data-testid=player][data-ready=true]").waitFor({ timeout: 30_000 });
  await page.locator("[data-testid=player][data-complete=true]").waitFor({ timeout: 30_000 });
  return sessionId;
}

/** Signs in to the dashboard, finds the user's session and opens its replay. */
export async function replayInDashboard(page, node, userId, shotName) {
  await signIn(page, node);
  return findAndReplay(page, userId, shotName);
}

/** Waits (bounded) until the page's tracker has sent batches beyond seq
 * `since` and every batch it sent is acked: it is connected and what it
 * recorded so far is durable on the node. Returns the next seq. */
export async function trackerSettled(page, since = 0, timeoutMs = 30_000) {
  return waitFor(
    `the tracker to have batches past ${since} acked`,
    () =>
      page.evaluate((since) => {
        const p = JSON.parse(sessionStorage.getItem("reel.pending") ?? "null");
        const settled = p !== null && p.next > since && p.batches.length === 0 && p.acked === p.next - 1;
        return settled ? p.next : null;
      }, since),
    timeoutMs,
  );
}

/**
 * Everything the page's tracker recorded so far is acked: its batch being
 * filled is cut now (as when the page is hidden), then this waits until it
 * holds nothing unacked. `trackerSettled` only sees batches already cut: a
 * page's last events may still wait for the batch timer, and what is sent
 * as the page unloads is best effort.
 */
export async function trackerFlushed(page, timeoutMs = 30_000) {
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    try {
      document.dispatchEvent(new Event("visibilitychange"));
    } finally {
      delete document.visibilityState;
    }
  });
  return waitFor(
    "the tracker to have everything acked",
    () =>
      page.evaluate(() => {
        const p = JSON.parse(sessionStorage.getItem("reel.pending") ?? "null");
        return p !== null && p.batches.length === 0 && p.acked === p.next - 1 ? p.next : null;
      }),
    timeoutMs,
  );
}

/** Records the JSON messages a page sends and receives on /v1/live. */
export function liveFrames(page) {
  const frames = { sockets: 0, sent: [], received: [] };
  const parse = (payload) => {
    try {
      return JSON.parse(String(payload));
    } catch {
      return { unparsable: String(payload).slice(0, 200) };
    }
  };
  page.on("websocket", (ws) => {
    if (!new URL(ws.url()).pathname.endsWith("/v1/live")) return;
    frames.sockets++;
    ws.on("framesent", (f) => frames.sent.push(parse(f.payload)));
    ws.on("framereceived", (f) => frames.received.push(parse(f.payload)));
  });
  return frames;
}

/** The demo shop's site (id, key). */
export async function demoSite(node) {
  const { sites } = await api(node, "/api/v1/sites");
  const site = sites.find((s) => s.name === "Demo shop");
  assert.ok(site, `the demo site in ${JSON.stringify(sites)}`);
  return site;
}

/** The visitor's session id, as their tracker holds it. */
export function visitorSession(page) {
  return waitFor("the visitor's session id", () =>
    page.evaluate(() => JSON.parse(localStorage.getItem("reel.session") ?? "null")?.id ?? null),
  );
}

/** Text of a locator, or "" while it is not there (for polling). */
export async function textOf(locator) {
  return (await locator.count()) > 0 ? locator.first().innerText({ timeout: 1_000 }) : "";
}

/**
 * Sends crafted `events` over `/v1/ingest` from a browser page on the node's
 * origin, as a tracker would (hello, identify, one batch, end); resolves
 * with the session id once the batch is acked.
 */
export async function ingestEvents(page, node, siteKey, events, { visitor, tab, userId, url, title = "" }) {
  await page.goto(`${node.base}/app/`);
  return page.evaluate(
    async ({ siteKey, events, visitor, tab, userId, url, title }) => {
      const ws = new WebSocket(`${location.origin.replace("http", "ws")}/v1/ingest?site=${siteKey}&visitor=${visitor}`);
      const inbox = [];
      let wake = () => {};
      ws.onmessage = (m) => {
        inbox.push(JSON.parse(m.data));
        wake();
      };
      const next = async () => {
        while (!inbox.length) await new Promise((r) => (wake = r));
        return inbox.shift();
      };
      await new Promise((ok, fail) => {
        ws.onopen = ok;
        ws.onerror = () => fail(new Error("ingest socket failed"));
      });
      ws.send(JSON.stringify({
        t: "hello", v: 1, visitor, session: null, tab, acked: null,
        page: { url, referrer: "", title },
        screen: { w: 1024, h: 768 }, lang: "en", tz: "UTC",
      }));
      const welcome = await next();
      if (welcome.t !== "welcome") throw new Error(JSON.stringify(welcome));
      ws.send(JSON.stringify({ t: "identify", user_id: userId, traits: {} }));
      ws.send(JSON.stringify({ t: "events", seq: 0, events }));
      for (;;) {
        const m = await next();
        if (m.t === "ack" && m.seq === 0) break;
        if (m.t === "error") throw new Error(JSON.stringify(m));
      }
      ws.send(JSON.stringify({ t: "end" }));
      await next().catch(() => {});
      ws.close();
      return welcome.session;
    },
    { siteKey, events, visitor, tab, userId, url, title },
  );
}
