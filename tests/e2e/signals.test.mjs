// Frustration signals (PROTOCOL.md §7) in the dashboard: a visitor of the
// demo shop rage-clicks and makes a dead click; the site's live list flags
// them while it happens (from the `signals` of their presence entry); once
// they are gone, their session's row shows the counts, the `has_rage_clicks`
// and `has_dead_clicks` filters find it (and a filter that should not match
// does not), the filters survive a reload of the list's address, and the
// live player of the gone session says once that it is not live and offers
// the replay instead of asking again and again.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";

import {
  SHOTS,
  api,
  demoSite,
  freePort,
  launchBrowser,
  liveFrames,
  signIn,
  startNode,
  stopNode,
  tempDataDir,
  trackerSettled,
  visitorSession,
  waitFor,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Opens the site's live page and waits for its first snapshot. */
async function openLiveList(page, node, site) {
  await page.goto(`${node.base}/app/#/sites/${site.id}/live`);
  await page.locator("[data-testid=live-connection][data-state=live]").waitFor({ timeout: 15_000 });
}

/** A visitor on the demo shop's product page; resolves with their session id. */
async function visit(visitors, node) {
  const visitor = await visitors.newPage();
  await visitor.goto(`${node.base}/demo/product.html`);
  await visitor.locator("#add-to-cart").waitFor();
  await trackerSettled(visitor, 0);
  return { visitor, sessionId: await visitorSession(visitor) };
}

/** The visitor leaves (pagehide sends `end`) and drops out of the live list. */
async function leave(visitor, liveRow) {
  await visitor.goto("about:blank");
  await visitor.close();
  await liveRow.waitFor({ state: "detached", timeout: 30_000 });
}

/** The count a signal badge of `scope` shows, 0 without the badge. */
async function badgeCount(scope, signal) {
  const badge = scope.locator(`[data-testid=signal-badge][data-signal=${signal}]`);
  return (await badge.count()) > 0 ? Number(await badge.getAttribute("data-count")) : 0;
}

/** Sets the list's filters through its form and applies them; waits for the answer. */
async function applyFilters(page, { visitorId, selects = {} }) {
  const more = page.locator("[data-testid=more-filters]");
  if ((await more.getAttribute("open")) === null) await more.locator("summary").click();
  await page.fill("[data-testid=filter-visitor_id]", visitorId);
  for (const name of ["has_errors", "has_failed_requests", "has_rage_clicks", "has_dead_clicks", "live"]) {
    await page.selectOption(`[data-testid=filter-${name}]`, selects[name] ?? "");
  }
  await page.selectOption("[data-testid=filter-device]", selects.device ?? "");
  await page.click("[data-testid=apply-filters]");
  // Apply writes the filters into the address and the list loads again: wait
  // for a status that reports that load, not the one it replaces.
  await waitFor("the filtered list", async () => {
    const hash = new URL(page.url()).hash;
    const wanted = hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "";
    const status = page.locator("[data-testid=sessions-status]");
    return (await status.getAttribute("data-query")) === wanted && (await status.getAttribute("data-state")) === "done";
  });
}

test("a visitor who rage-clicks and makes a dead click is flagged live, then counted on the row and found by the filters", async () => {
  const node = await startNode(tempDataDir(), await freePort());
  const staff = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const visitors = await browser.newContext();
  try {
    const site = await demoSite(node);
    const list = await staff.newPage();
    await signIn(list, node);
    await openLiveList(list, node, site);

    const { visitor, sessionId } = await visit(visitors, node);
    const row = list.locator(`tr[data-testid=presence-row][data-session-id="${sessionId}"]`);
    await row.waitFor({ timeout: 15_000 });
    assert.equal(await row.getAttribute("data-flagged"), "false", "nothing went wrong yet");

    // Dead: "Save for later" does nothing. The node knows a click is dead
    // once a later event of the tab passes its one-second deadline with
    // nothing changed, loaded or requested: the visitor moves the mouse on
    // (over the page's text, not a button) until the list shows it.
    await visitor.click("#save-for-later");
    const text = await visitor.locator("h1").boundingBox();
    let step = 0;
    await waitFor("the dead click flagged in the live list", async () => {
      step = (step + 1) % 20;
      await visitor.mouse.move(text.x + 5 + step * 5, text.y + text.height / 2);
      return (await badgeCount(row, "dead_clicks")) >= 1;
    });
    assert.equal(await row.getAttribute("data-flagged"), "true");
    assert.equal(await list.locator("[data-testid=live-flagged]").getAttribute("data-count"), "1", "the page counts who has trouble");

    // Rage: four clicks on one spot within a second (each adds to the cart:
    // the page changes, so none of them is dead).
    const box = await visitor.locator("#add-to-cart").boundingBox();
    for (let i = 0; i < 4; i++) await visitor.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    // The live list flags the visitor while they are still on the page.
    await waitFor("the rage clicks flagged in the live list", async () => (await badgeCount(row, "rage_clicks")) >= 1);
    assert.equal(await badgeCount(row, "dead_clicks"), 1, "the rage clicks are not dead");
    assert.equal(await visitor.evaluate(() => document.visibilityState), "visible", "flagged while the visitor is there");
    await list.screenshot({ path: join(SHOTS, "live-list-flagged.png"), fullPage: true });

    await leave(visitor, row);
    const info = await waitFor("the session's row with its signals, no longer live", async () => {
      const s = await api(node, `/api/v1/sessions/${encodeURIComponent(sessionId)}`);
      return s.rage_clicks >= 1 && s.dead_clicks >= 1 && !s.live ? s : null;
    });

    // The list, filtered to this visitor with rage and dead clicks, finds it.
    const page = await staff.newPage();
    await page.goto(`${node.base}/app/#/sites/${site.id}`);
    await page.locator("[data-testid=filters]").waitFor();
    await applyFilters(page, { visitorId: info.visitor_id, selects: { has_rage_clicks: "true", has_dead_clicks: "true" } });
    const sessionRow = page.locator(`tr[data-testid=session-row][data-session-id="${sessionId}"]`);
    await sessionRow.waitFor({ timeout: 10_000 });
    assert.equal(await page.locator("tr[data-testid=session-row]").count(), 1);
    assert.equal(await badgeCount(sessionRow, "rage_clicks"), info.rage_clicks, "the row shows the rage clicks");
    assert.equal(await badgeCount(sessionRow, "dead_clicks"), info.dead_clicks, "the row shows the dead clicks");
    assert.equal(await badgeCount(sessionRow, "failed_requests"), info.failed_requests);
    assert.equal(await badgeCount(sessionRow, "console_errors"), info.console_errors);
    assert.equal(await sessionRow.locator("[data-testid=live-badge]").count(), 0, "no live badge: nobody is there");
    assert.equal(await sessionRow.locator("[data-testid=watch-live]").count(), 0, "and no Watch live link");
    await page.screenshot({ path: join(SHOTS, "sessions-signals.png"), fullPage: true });

    // The filters are in the address: reloading it shows the same list.
    const hash = new URL(page.url()).hash;
    const query = new URLSearchParams(hash.slice(hash.indexOf("?") + 1));
    assert.equal(query.get("visitor_id"), info.visitor_id);
    assert.equal(query.get("has_rage_clicks"), "true");
    assert.equal(query.get("has_dead_clicks"), "true");
    await page.reload();
    await sessionRow.waitFor({ timeout: 10_000 });
    assert.equal(await page.inputValue("[data-testid=filter-has_rage_clicks]"), "true");
    assert.equal(await page.inputValue("[data-testid=filter-visitor_id]"), info.visitor_id);

    // Filters that should not match do not.
    for (const selects of [
      { has_rage_clicks: "false" },
      { has_dead_clicks: "false" },
      { has_rage_clicks: "true", device: "mobile" },
      { has_dead_clicks: "true", live: "true" },
    ]) {
      await applyFilters(page, { visitorId: info.visitor_id, selects });
      assert.equal(await page.locator("tr[data-testid=session-row]").count(), 0, `nothing for ${JSON.stringify(selects)}`);
      assert.equal(await page.locator("[data-testid=sessions-status]").innerText(), "No sessions match these filters.");
    }
  } finally {
    await staff.close();
    await visitors.close();
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});

test("watching a session that is no longer live says so once and offers its replay", async () => {
  const node = await startNode(tempDataDir(), await freePort());
  const staff = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const visitors = await browser.newContext();
  try {
    const site = await demoSite(node);
    const list = await staff.newPage();
    await signIn(list, node);
    await openLiveList(list, node, site);
    const { visitor, sessionId } = await visit(visitors, node);
    const row = list.locator(`tr[data-testid=presence-row][data-session-id="${sessionId}"]`);
    await row.waitFor({ timeout: 15_000 });
    // A link to its live player, kept (in a chat, say) after the visitor left.
    const href = await row.locator("[data-testid=watch-live]").getAttribute("href");
    await leave(visitor, row);

    const player = await staff.newPage();
    const frames = liveFrames(player);
    await player.goto(`${node.base}/app/${href}`);
    const failed = player.locator("[data-testid=watch-failed]");
    await failed.waitFor({ timeout: 15_000 });
    assert.equal(await failed.getAttribute("data-code"), "not_live");
    assert.match(await failed.innerText(), /not live/);
    assert.equal(await player.locator("[data-testid=live-status]").innerText(), "Not watching.", "the reason is said once, in the notice");
    assert.equal(await player.locator("[data-testid=live-status]").getAttribute("data-state"), "failed");
    const replay = failed.locator("[data-testid=failed-replay]");
    assert.equal(await replay.getAttribute("href"), `#/sessions/${encodeURIComponent(sessionId)}`);
    await player.screenshot({ path: join(SHOTS, "watch-not-live.png"), fullPage: true });

    // Said once: no watch goes out again by itself. The old page asked again
    // after 0.5 to 1 s, then ever more slowly; twice the first delay is
    // enough to see it would have.
    const watches = () => frames.sent.filter((m) => m.t === "watch" && m.session === sessionId).length;
    assert.equal(watches(), 1);
    const errors = frames.received.filter((m) => m.t === "error").length;
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(watches(), 1, "the watch was not sent again");
    assert.equal(frames.received.filter((m) => m.t === "error").length, errors, "nor refused again");

    // The replay link opens the recording.
    await replay.click();
    await player.locator("[data-testid=player][data-ready=true]").waitFor({ timeout: 30_000 });
  } finally {
    await staff.close();
    await visitors.close();
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});
