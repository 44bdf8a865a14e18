// The data lifecycle in the dashboard (PROTOCOL.md §6), in Chromium: the
// demo owner pins a customer's recording, deletes it (asked again; the
// session then answers 404), and erases the customer by user id from the
// site settings page, where the receipt shows what was deleted and the
// usage what is left.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  api,
  findAndReplay,
  freePort,
  launchBrowser,
  signIn,
  startNode,
  stopNode,
  tempDataDir,
  trackerSettled,
  waitFor,
} from "./harness.mjs";

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

/** A visit of the demo checkout (identified as demo-user-1), recorded and stored. */
async function recordCustomerVisit() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${node.base}/demo/checkout.html`);
  await page.locator("#place-order").waitFor();
  await trackerSettled(page);
  await page.goto("about:blank");
  await context.close();
}

/** The status of `GET path` as the demo owner. */
async function statusOf(path) {
  const res = await fetch(node.base + path, { headers: { cookie: node.cookie } });
  return res.status;
}

test("pin, delete and erase from the dashboard", async () => {
  await recordCustomerVisit();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await signIn(page, node);
  const sessionId = await findAndReplay(page, "demo-user-1", "lifecycle-replay");

  // The actions are in the side panel's Session tab.
  await page.click("[data-testid=panel-tab-session]");
  await page.click("[data-testid=session-pin]");
  await page.locator("[data-testid=session-pin][data-pinned=true]").waitFor();
  assert.equal((await api(node, `/api/v1/sessions/${sessionId}`)).pinned, true);

  await page.click("[data-testid=session-delete]");
  await page.click("[data-testid=session-delete-confirm]");
  await page.waitForURL(/#\/sites\/\d+$/);
  assert.equal(await statusOf(`/api/v1/sessions/${sessionId}`), 404);
  assert.equal(await statusOf(`/api/v1/sessions/${sessionId}/events`), 404);

  // Erase the customer by user id: a second visit of theirs goes.
  await recordCustomerVisit();
  const { sites } = await api(node, "/api/v1/sites");
  const site = sites.find((s) => s.name === "Demo shop");
  const mine = () => api(node, `/api/v1/sites/${site.id}/sessions?user_id=demo-user-1`);
  await waitFor("the second visit", async () => (await mine()).sessions.length === 1);
  await page.goto(`${node.base}/app/#/sites/${site.id}/settings`);
  await waitFor("the usage", async () => /1 recordings/.test(await page.locator("[data-testid=site-usage]").innerText()));
  await page.selectOption("[data-testid=erase-kind]", "user_id");
  await page.fill("[data-testid=erase-id]", "demo-user-1");
  await page.click("[data-testid=erase-next]");
  await page.click("[data-testid=site-erase]");
  await page.click("[data-testid=site-erase-confirm]");
  const receipt = page.locator("[data-testid=erasure-receipt][data-state=done]");
  await receipt.waitFor({ timeout: 30_000 });
  assert.match(await receipt.innerText(), /Erased: 1 sessions/);
  assert.equal((await mine()).sessions.length, 0);
  await context.close();
});
