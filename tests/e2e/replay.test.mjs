// A visitor browses the demo shop (recorded by the real tracker), support
// staff find the session by user id in the dashboard and replay it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";

import {
  SHOTS,
  TYPED,
  api,
  findDemoSession,
  freePort,
  launchBrowser,
  replayInDashboard,
  startNode,
  stopNode,
  tempDataDir,
  trackerSettled,
  waitFor,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** The next seq the page's tracker will give a batch (its stored state). */
function nextSeq(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem("reel.pending") ?? "null")?.next ?? 0);
}

/** Home -> product -> checkout, clicking and typing; `midway` runs on the
 * product page. On each page the visitor waits until what they did there is
 * acked (a visitor reads a page for a moment; the tracker's last batch on an
 * unloading page is best effort, as with any tracker). */
async function visit(page, base, midway = async () => {}) {
  await page.goto(`${base}/demo/`);
  await page.getByText("Reel Demo Shop").first().waitFor();
  // The first page of a new session records once `welcome` is in.
  await trackerSettled(page, 0);
  await page.click("a[href$='product.html']");
  await page.locator("#add-to-cart").waitFor();
  let before = await nextSeq(page);
  // The shop's cart answers (500) before `midway` runs: a node killed while
  // the request is in flight would record it as a network error instead.
  const cartAnswered = page.waitForResponse((r) => r.url().includes("/demo/api/cart"));
  await page.click("#add-to-cart");
  await cartAnswered;
  await midway();
  await trackerSettled(page, before);
  await page.click("a[href$='checkout.html']");
  await page.locator("#place-order").waitFor();
  before = await nextSeq(page);
  await page.fill("#name", TYPED.name);
  await page.fill("#email", TYPED.email);
  await page.fill("#card", TYPED.card);
  await page.fill("#coupon", TYPED.coupon);
  await page.click("#place-order");
  await page.getByText("Thank you").first().waitFor();
  await trackerSettled(page, before);
  // Leaving the page fires pagehide (the tracker sends `end`); then close.
  await page.goto("about:blank");
  await page.close();
}

/** The demo user's session once its three page loads are committed. */
async function checkoutRecorded(node) {
  let last;
  try {
    return await waitFor("the checkout page's segment", async () => {
      last = await findDemoSession(node, "demo-user-1");
      return last.page_loads >= 3 ? last : null;
    });
  } catch (e) {
    throw new Error(`${e.message}; the session: ${JSON.stringify(last)}`);
  }
}

/** The recorded events of the session, checked for completeness. */
async function checkRecording(node, session) {
  const ndjson = await api(node, `/api/v1/sessions/${session.id}/events`, { text: true });
  const lines = ndjson.trim().split("\n");
  const events = lines.map((l) => JSON.parse(l));
  const metas = events.filter((e) => e.type === 4).map((e) => new URL(e.data.href).pathname);
  for (const page of ["/demo/", "/demo/product.html", "/demo/checkout.html"]) {
    assert.ok(metas.includes(page), `a page load of ${page} in ${JSON.stringify(metas)}`);
  }
  assert.equal(new Set(lines).size, lines.length, "no event stored twice");
  // Typed values are masked, except the input marked data-reel-unmask.
  for (const secret of [TYPED.name, TYPED.email, TYPED.card]) {
    assert.ok(!ndjson.includes(secret), `${secret} must not be recorded`);
  }
  const inputs = events.filter((e) => e.type === 3 && e.data.source === 5).map((e) => e.data.text);
  assert.ok(inputs.some((t) => /^\*+$/.test(t)), `masked input events in ${JSON.stringify(inputs)}`);
  assert.ok(inputs.includes(TYPED.coupon), "the unmasked coupon field is recorded as typed");
  // The demo's support context (issue 12): a failing request, its session
  // parameter redacted, an unreachable service, a console error, a track event.
  const network = events.filter((e) => e.type === 6 && e.data.plugin === "reel/network@1").map((e) => e.data.payload);
  assert.ok(
    network.some((n) => n.url.endsWith("/demo/api/cart?sku=desk-lamp&session=[redacted]") && n.status === 500 && !n.ok),
    `the failing cart request in ${JSON.stringify(network)}`,
  );
  assert.ok(network.some((n) => n.url.startsWith("http://127.0.0.1:9/") && n.status === 0 && n.error), "the unreachable service");
  assert.ok(
    events.some((e) => e.type === 6 && e.data.plugin === "rrweb/console@1" && e.data.payload.level === "error"),
    "the console error",
  );
  assert.ok(events.some((e) => e.type === 5 && e.data.tag === "track" && e.data.payload.name === "add_to_cart"), "the track event");
  return events;
}

test("a demo visit is found by user id and replayed with inputs masked", async () => {
  const dataDir = tempDataDir();
  const node = await startNode(dataDir, await freePort());
  try {
    const context = await browser.newContext();
    await visit(await context.newPage(), node.base);
    const session = await checkoutRecorded(node);
    await checkRecording(node, session);
    // The cart's 500 and the unreachable service are failed requests.
    const counted = await waitFor("the demo session's failed requests", async () => {
      const s = await api(node, `/api/v1/sessions/${session.id}`);
      return s.failed_requests >= 2 ? s : null;
    });
    assert.ok(counted.failed_requests >= 2, JSON.stringify(counted));

    const page = await context.newPage();
    const shown = await replayInDashboard(page, node, "demo-user-1", "replay");
    assert.equal(shown, session.id);
    // The network panel highlights the cart request as failed.
    await page.click("[data-testid=panel-tab-network]");
    const cartRow = page.locator("[data-testid=network-row]", { has: page.locator("[data-testid=row-label]", { hasText: "/demo/api/cart" }) });
    await cartRow.first().waitFor({ timeout: 15_000 });
    assert.equal(await cartRow.first().getAttribute("data-failed"), "true");
    assert.equal(await cartRow.first().getAttribute("data-status"), "500");
    // The replayer renders the demo's own page.
    const frame = page.frameLocator("[data-testid=player] iframe");
    await frame.getByText("Reel Demo Shop").first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, "replay-start.png"), fullPage: true });
    // At the end of the replay, the checkout form shows masked values.
    await page.evaluate(() => {
      const p = window.__reelPlayer;
      const total = p.getMetaData().totalTime;
      p.goto(total, false);
    });
    // The replayer applies the seek to its iframe's form fields as it
    // renders: read them until they hold the recorded values (bounded).
    const name = await frame.locator("#name").inputValue({ timeout: 15_000 });
    assert.match(name, /^\*+$/, `the replayed name field is masked, not ${name}`);
    const coupon = await waitFor("the replayed coupon field", async () => {
      const v = await frame.locator("#coupon").inputValue();
      return v === TYPED.coupon ? v : null;
    }, 15_000);
    assert.equal(coupon, TYPED.coupon);
    await page.screenshot({ path: join(SHOTS, "replay-end.png"), fullPage: true });
    const facts = await page.locator("[data-testid=facts]").innerText();
    assert.ok(facts.includes("demo-user-1"), facts);
    await context.close();
  } finally {
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});

test("a node killed and restarted mid-visit loses nothing and stores nothing twice", async () => {
  const dataDir = tempDataDir();
  const port = await freePort();
  let node = await startNode(dataDir, port);
  try {
    const context = await browser.newContext();
    await visit(await context.newPage(), node.base, async () => {
      await stopNode(node, "SIGKILL");
      node = await startNode(dataDir, port);
    });
    const session = await checkoutRecorded(node);
    await checkRecording(node, session);
    const page = await context.newPage();
    await replayInDashboard(page, node, "demo-user-1", "replay-after-kill");
    await page.frameLocator("[data-testid=player] iframe").getByText("Reel Demo Shop").first().waitFor({ timeout: 15_000 });
    await context.close();
  } finally {
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});
