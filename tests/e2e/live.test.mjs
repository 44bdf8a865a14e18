// Support staff watch a visitor of the demo shop live (PROTOCOL.md §4): the
// site's live page lists the visitor as they arrive (presence over
// /v1/live), and the live player shows their page and what they do in it
// while they do it. A second test restarts the node under both live pages;
// a third has a watched visitor move to another page, which is stored.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";

import {
  SHOTS,
  TYPED,
  api,
  demoSite,
  freePort,
  launchBrowser,
  liveFrames,
  signIn as signInAs,
  startNode,
  stopNode,
  tempDataDir,
  textOf,
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

/** Signs in to the dashboard as the demo owner; checks the sign-in cookie. */
async function signIn(page, node) {
  await signInAs(page, node);
  const cookies = await page.context().cookies(node.base);
  const cookie = cookies.find((c) => c.name === "reel_session");
  assert.ok(cookie, `POST /api/v1/login set reel_session: ${JSON.stringify(cookies)}`);
  assert.equal(cookie.httpOnly, true, "the session cookie is HttpOnly");
  assert.equal(cookie.sameSite, "Lax", "the session cookie is SameSite=Lax");
  assert.equal(cookie.path, "/");
}

/** Opens the site's live page from the sites list and waits for its first snapshot. */
async function openLiveList(page, site) {
  await page.locator(`tr[data-testid=site-row][data-site-id="${site.id}"] [data-testid=site-live]`).click();
  await page.waitForURL(`**/app/#/sites/${site.id}/live`);
  await page.locator("[data-testid=live-connection][data-state=live]").waitFor({ timeout: 15_000 });
}

/** The value of an input in the live player's replay, or null while it is not there. */
async function replayedValue(frame, selector) {
  const input = frame.locator(selector);
  return (await input.count()) > 0 ? input.inputValue({ timeout: 1_000 }) : null;
}

/** The next seq the page's tracker will give a batch. */
function nextSeq(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem("reel.pending") ?? "null")?.next ?? 0);
}

test("a visitor of the demo shop is listed live and watched while they click and type", async () => {
  const node = await startNode(tempDataDir(), await freePort());
  const staff = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const visitors = await browser.newContext();
  try {
    const site = await demoSite(node);

    // Support staff sign in (which sets the live socket's cookie) and open
    // the demo site's live page: it subscribes and gets a snapshot first.
    const list = await staff.newPage();
    const listFrames = liveFrames(list);
    await signIn(list, node);
    await openLiveList(list, site);
    assert.deepEqual(listFrames.sent[0], { t: "presence", site: site.id }, "the live page subscribes to the site");
    assert.equal(listFrames.received[0]?.t, "presence_snapshot", "the first answer is the snapshot");

    // A visitor arrives on the demo shop's product page.
    const visitor = await visitors.newPage();
    await visitor.goto(`${node.base}/demo/product.html`);
    await visitor.locator("#add-to-cart").waitFor();
    await trackerSettled(visitor, 0);
    const sessionId = await visitorSession(visitor);

    // They appear in the live list, with the page they are on.
    const row = list.locator(`tr[data-testid=presence-row][data-session-id="${sessionId}"]`);
    await row.waitFor({ timeout: 15_000 });
    await waitFor("the product page's URL in the live list", async () =>
      (await textOf(row.locator("[data-testid=presence-url]"))).endsWith("/demo/product.html"),
    );
    assert.ok(Number(await list.locator("[data-testid=live-count]").getAttribute("data-count")) >= 1);
    assert.match(await textOf(row.locator("[data-testid=presence-user]")), /^visitor /, "not identified yet");
    // Browser and OS from the visitor's user agent, not the node's id.
    assert.match(await textOf(row.locator("[data-testid=presence-client]")), /Chrom\w* · Linux/);
    assert.ok(
      listFrames.received.some((m) => m.t === "presence_join" && m.session?.session === sessionId),
      "the visitor came in as presence_join",
    );
    await list.screenshot({ path: join(SHOTS, "live-list.png"), fullPage: true });

    // Staff open the live player from the visitor's row.
    const href = await row.locator("[data-testid=watch-live]").getAttribute("href");
    assert.equal(href, `#/live/${sessionId}?site=${site.id}`);
    const player = await staff.newPage();
    const playerFrames = liveFrames(player);
    await player.goto(`${node.base}/app/${href}`);
    await player.locator("[data-testid=live-player][data-ready=true]").waitFor({ timeout: 15_000 });
    const frame = player.frameLocator("[data-testid=live-player] iframe");
    await frame.getByText("Brass arm, linen shade").first().waitFor({ timeout: 15_000 });
    await waitFor("the product page's URL above the live player", async () =>
      (await textOf(player.locator("[data-testid=live-url]"))).endsWith("/demo/product.html"),
    );
    await player.locator("[data-testid=live-status][data-state=live]").waitFor({ timeout: 15_000 });
    assert.deepEqual(playerFrames.sent[0], { t: "watch", session: sessionId });
    const first = playerFrames.received.find((m) => m.t === "events");
    assert.equal(first.session, sessionId);
    assert.deepEqual(
      first.events.slice(0, 2).map((e) => e.type),
      [4, 2],
      "a watch begins with the tab's Meta and full snapshot",
    );
    assert.equal(await frame.locator("#cart-status").innerText(), "Your cart is empty.");
    await player.screenshot({ path: join(SHOTS, "live-player.png"), fullPage: true });

    // A note while watching: at the moment watched, ms from the session's start.
    const session = await api(node, `/api/v1/sessions/${sessionId}`);
    await player.fill("[data-testid=note-input]", "Watching the lamp page");
    const typedAt = Date.now() - session.started_at;
    await player.click("[data-testid=note-add]");
    await player.locator("[data-testid=note]", { hasText: "Watching the lamp page" }).waitFor();
    const { notes } = await api(node, `/api/v1/sessions/${sessionId}/notes`);
    assert.equal(notes.length, 1);
    assert.ok(notes[0].t > 0 && notes[0].t <= typedAt + 50, `note at ${notes[0].t}, typed at ${typedAt}`);

    // The visitor clicks: the live player shows the page changing.
    await visitor.click("#add-to-cart");
    await frame.getByText("In your cart: 1 × Desk Lamp").waitFor({ timeout: 15_000 });
    await player.screenshot({ path: join(SHOTS, "live-player-click.png"), fullPage: true });

    // The visitor goes on to checkout (a new page of the same tab) and types.
    await visitor.click("#to-checkout");
    await visitor.locator("#place-order").waitFor();
    await waitFor("the checkout page's URL above the live player", async () =>
      (await textOf(player.locator("[data-testid=live-url]"))).endsWith("/demo/checkout.html"),
    );
    // The tracker records a field's value as it is typed (every `input`
    // event, at most one per field every 100 ms), so what the visitor types
    // key by key shows while the field still has focus; recorded on
    // `change` only (rrweb's input "last"), it would wait for the visitor
    // to leave the field.
    const focused = () => visitor.evaluate(() => document.activeElement?.id ?? null);
    let shown;
    await visitor.click("#name");
    await visitor.keyboard.type(TYPED.name);
    await waitFor("the name typed, masked, in the live player", async () => {
      shown = await replayedValue(frame, "#name");
      return shown === "*".repeat(TYPED.name.length);
    }).catch((e) => assert.fail(`${e.message}; the live name field shows ${JSON.stringify(shown)}`));
    assert.equal(await focused(), "name", "the name field still has the visitor's focus");
    await visitor.click("#coupon");
    await visitor.keyboard.type(TYPED.coupon);
    await waitFor("the coupon typed, unmasked, in the live player", async () => {
      shown = await replayedValue(frame, "#coupon");
      return shown === TYPED.coupon;
    }).catch((e) => assert.fail(`${e.message}; the live coupon field shows ${JSON.stringify(shown)}`));
    assert.equal(await focused(), "coupon", "the coupon field still has the visitor's focus");
    await player.screenshot({ path: join(SHOTS, "live-player-typed.png"), fullPage: true });

    // The live list followed: the checkout page, and the user id the demo's
    // checkout page identifies the visitor with.
    await waitFor("the checkout page's URL in the live list", async () =>
      (await textOf(row.locator("[data-testid=presence-url]"))).endsWith("/demo/checkout.html"),
    );
    await waitFor("the user id in the live list", async () => (await textOf(row.locator("[data-testid=presence-user]"))) === "demo-user-1");
    await list.screenshot({ path: join(SHOTS, "live-list-checkout.png"), fullPage: true });

    // Leaving the live player (for the site's sessions, a page without a
    // live socket) stops the watch.
    await player.evaluate((siteId) => {
      location.hash = `#/sites/${siteId}`;
    }, site.id);
    await waitFor("unwatch on leaving the live player", () =>
      playerFrames.sent.some((m) => m.t === "unwatch" && m.session === sessionId),
    );
    assert.equal(playerFrames.sockets, 1, "one socket for the live player");

    // The visitor leaves: the session counts the keys typed (from the
    // values' lengths), not the throttled input events.
    await visitor.goto("about:blank");
    const typed = TYPED.name.length + TYPED.coupon.length;
    let counted;
    await waitFor("the keys typed, counted on the session", async () => {
      counted = (await api(node, `/api/v1/sessions/${sessionId}`)).keypresses;
      return counted === typed;
    }).catch((e) => assert.fail(`${e.message}; keypresses ${counted}, typed ${typed}`));
  } finally {
    await staff.close();
    await visitors.close();
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});

test("the live pages reconnect to a restarted node and carry on", async () => {
  const dataDir = tempDataDir();
  const port = await freePort();
  let node = await startNode(dataDir, port);
  const staff = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const visitors = await browser.newContext();
  try {
    const site = await demoSite(node);
    const list = await staff.newPage();
    const listFrames = liveFrames(list);
    await signIn(list, node);
    await openLiveList(list, site);

    const visitor = await visitors.newPage();
    await visitor.goto(`${node.base}/demo/product.html`);
    await visitor.locator("#add-to-cart").waitFor();
    await trackerSettled(visitor, 0);
    const sessionId = await visitorSession(visitor);
    const row = list.locator(`tr[data-testid=presence-row][data-session-id="${sessionId}"]`);
    await row.waitFor({ timeout: 15_000 });

    const player = await staff.newPage();
    const playerFrames = liveFrames(player);
    await player.goto(`${node.base}/app/#/live/${encodeURIComponent(sessionId)}?site=${site.id}`);
    const frame = player.frameLocator("[data-testid=live-player] iframe");
    await frame.getByText("Brass arm, linen shade").first().waitFor({ timeout: 15_000 });

    // The node dies: both pages say so and keep trying.
    await stopNode(node, "SIGKILL");
    await list.locator("[data-testid=live-connection][data-state=retrying]").waitFor({ timeout: 15_000 });
    await player.locator("[data-testid=live-status][data-state=retrying]").waitFor({ timeout: 15_000 });
    await list.screenshot({ path: join(SHOTS, "live-list-reconnecting.png"), fullPage: true });

    // It comes back on the same address; the visitor's tracker reconnects.
    node = await startNode(dataDir, port);
    const before = await nextSeq(visitor);
    await visitor.click("#add-to-cart");
    await trackerSettled(visitor, before, 60_000);

    // The list subscribed again (a fresh snapshot) and lists the visitor.
    await list.locator("[data-testid=live-connection][data-state=live]").waitFor({ timeout: 60_000 });
    assert.ok(listFrames.sockets >= 2, "the live page opened a new socket");
    assert.ok(listFrames.sent.filter((m) => m.t === "presence").length >= 2, "and subscribed again");
    await row.waitFor({ timeout: 30_000 });

    // The player watched again and shows the visitor's clicks.
    await player.locator("[data-testid=live-status][data-state=live]").waitFor({ timeout: 60_000 });
    assert.ok(playerFrames.sent.filter((m) => m.t === "watch").length >= 2, "the player sent watch again");
    await visitor.click("#add-to-cart");
    await frame.getByText("In your cart: 2 × Desk Lamp").waitFor({ timeout: 30_000 });
    await player.screenshot({ path: join(SHOTS, "live-player-after-restart.png"), fullPage: true });
  } finally {
    await staff.close();
    await visitors.close();
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});

/** Makes the visitor's trackers wait `ms` before sending a batch that is
 * not full: the welcome's (and settings') batch_interval_ms is rewritten on
 * the way, so that only what the tracker sends at once reaches the node. */
async function lengthenBatchInterval(context, ms) {
  await context.routeWebSocket(/\/v1\/ingest/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => {
      const msg = typeof m === "string" ? JSON.parse(m) : null;
      if (msg?.t === "welcome") msg.settings.batch_interval_ms = ms;
      if (msg?.t === "settings") msg.batch_interval_ms = ms;
      ws.send(msg ? JSON.stringify(msg) : m);
    });
  });
}

/** The session's stored events, in order. */
async function storedEvents(node, sessionId) {
  const text = await api(node, `/api/v1/sessions/${encodeURIComponent(sessionId)}/events`, { text: true });
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

test("a watched visitor's next page is stored and counted once, without waiting for the batch timer", async () => {
  const node = await startNode(tempDataDir(), await freePort());
  const staff = await browser.newContext();
  const visitors = await browser.newContext();
  try {
    // A page's recording starts with a full snapshot, which the tracker
    // sends at once: a page left before batch_interval_ms has it stored
    // (its pagehide sends are best effort). Ten minutes makes any wait on
    // the timer fail this test.
    await lengthenBatchInterval(visitors, 600_000);
    const visitor = await visitors.newPage();
    await visitor.goto(`${node.base}/demo/product.html`);
    await visitor.locator("#add-to-cart").waitFor();
    await trackerSettled(visitor, 0);
    const sessionId = await visitorSession(visitor);

    // Staff watch the visitor live: the tracker re-records the page.
    const player = await staff.newPage();
    await signIn(player, node);
    await player.goto(`${node.base}/app/#/live/${encodeURIComponent(sessionId)}`);
    await player.locator("[data-testid=live-player][data-ready=true]").waitFor({ timeout: 15_000 });
    const frame = player.frameLocator("[data-testid=live-player] iframe");
    await frame.getByText("Brass arm, linen shade").first().waitFor({ timeout: 15_000 });

    // The visitor goes on to the checkout page (a real navigation). The
    // watched tab's new page is asked for a snapshot as it attaches.
    const before = await nextSeq(visitor);
    await visitor.click("#to-checkout");
    await visitor.locator("#place-order").waitFor();
    // The live player shows it: the node has its recording, which the
    // tracker has acked (its pagehide's sends count for nothing here).
    await frame.locator("#place-order").waitFor({ timeout: 15_000 });
    await trackerSettled(visitor, before);
    await visitor.goto("about:blank");

    // What was acked is stored: the checkout page's load, and the
    // re-record marked so that it is not counted as another.
    const checkout = `${node.base}/demo/checkout.html`;
    let last;
    try {
      await waitFor("the checkout page's recording stored", async () => {
        const events = await storedEvents(node, sessionId);
        const session = await api(node, `/api/v1/sessions/${encodeURIComponent(sessionId)}`);
        last = { page_loads: session.page_loads, metas: events.filter((e) => e.type === 4).map((e) => e.data.href) };
        const metas = events.flatMap((e, i) => (e.type === 4 && e.data.href === checkout ? [i] : []));
        const marked = metas.filter((i) => events[i - 1]?.type === 5 && events[i - 1].data.tag === "reel/resnapshot");
        return metas.length === 2 && marked.length === 1 && session.page_loads === 2;
      });
    } catch (e) {
      throw new Error(`${e.message}; stored: ${JSON.stringify(last)}`);
    }
  } finally {
    await staff.close();
    await visitors.close();
    assert.equal(await stopNode(node), 0, "SIGTERM exits 0");
  }
});
