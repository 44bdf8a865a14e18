// Shared by the browser tests: a real `reel serve --demo` process on a
// fixed free port (so that trackers reconnect to it after a restart), and
// Debian's Chromium driven by playwright-core.
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

/** Starts `reel serve --demo` on `dataDir` and `port`; resolves once it listens. */
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
      const owner = line.match(/^sign in as (\S+) with the password (\S+)$/);
      if (owner) {
        info.email = owner[1];
        info.password = owner[2];
        clearTimeout(timer);
        ok();
      }
    });
  });
  // An API token for the tests' own reads (the dashboard signs in with the
  // demo owner's email and password).
  info.token = await cliToken(dataDir);
  return info;
}

/** `reel token create` on `dataDir`: an admin API token. */
async function cliToken(dataDir) {
  const child = spawn(BIN, ["token", "create", "--name", "e2e", "--role", "admin"], {
    cwd: ROOT,
    env: { ...process.env, REEL_DATA_DIR: dataDir, REEL_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const code = await new Promise((ok) => child.on("exit", ok));
  if (code !== 0) throw new Error(`reel token create exited with ${code}`);
  return JSON.parse(out).token;
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

/** GET an API path with the token; returns parsed JSON or text. */
export async function api(node, path, { text = false } = {}) {
  const res = await fetch(node.base + path, { headers: { authorization: `Bearer ${node.token}` } });
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

/** Signs in to the dashboard, finds the user's session and opens its replay. */
export async function replayInDashboard(page, node, userId, shotName) {
  await page.goto(`${node.base}/app/`);
  await page.fill("[data-testid=token-input]", node.token);
  await page.click("[data-testid=sign-in]");
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
