// A recorded page is data, never code (PROTOCOL.md §5): a session whose
// page holds `<script>`, inline event handlers (`onerror=`, `onload=`, ...)
// and `javascript:` links replays in the dashboard without running any of
// them. The events are crafted, as a hostile tracker could send them, and
// ingested over the real protocol; the dashboard replays them in Chromium.
// Also: the dashboard is served with the Content-Security-Policy of §5.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { api, freePort, ingestEvents, launchBrowser, signIn, startNode, stopNode, tempDataDir, waitFor } from "./harness.mjs";

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

/** What each payload would set `window.__pwned` (or its parent's) to, were it run. */
const SET = (how) => `window.__pwned='${how}';try{parent.__pwned='${how}';top.__pwned='${how}'}catch(e){}`;

/** A hostile page as rrweb's serialized DOM: a Meta, a full snapshot, then mutations adding more. */
function hostileEvents(t0) {
  let id = 0;
  const el = (tagName, attributes = {}, childNodes = []) => ({ type: 2, tagName, attributes, childNodes, id: ++id });
  const text = (textContent) => ({ type: 3, textContent, id: ++id });
  const head = el("head", {}, [
    el("script", {}, [text(SET("head-script"))]),
    el("meta", { "http-equiv": "refresh", content: `0;url=javascript:${SET("meta-refresh")}` }),
  ]);
  const body = el("body", { onload: SET("body-onload") }, [
    el("h1", {}, [text("Hostile page")]),
    el("script", {}, [text(SET("body-script"))]),
    el("img", { src: "/nonexistent.png", onerror: SET("img-onerror") }),
    el("a", { id: "evil-link", href: `javascript:${SET("javascript-link")}` }, [text("click me")]),
    el("svg", { onload: SET("svg-onload") }),
    el("details", { open: "", ontoggle: SET("details-ontoggle") }, [el("summary", {}, [text("more")])]),
    el("input", { id: "evil-input", autofocus: "", onfocus: SET("input-onfocus") }),
    el("iframe", { srcdoc: `<script>${SET("srcdoc-script")}</script>` }),
  ]);
  const html = el("html", {}, [head, body]);
  const doc = { type: 0, childNodes: [{ type: 1, name: "html", publicId: "", systemId: "", id: ++id }, html], id: ++id };
  const bodyId = body.id;
  const imgId = body.childNodes[2].id;
  const added = el("script", { src: `data:text/javascript,${encodeURIComponent(SET("added-script"))}` });
  const addedImg = el("img", { src: "/missing-2.png", onerror: SET("added-img-onerror") });
  return [
    { type: 4, timestamp: t0, data: { href: "https://hostile.example/", width: 1024, height: 768 } },
    { type: 2, timestamp: t0 + 1, data: { node: doc, initialOffset: { left: 0, top: 0 } } },
    {
      type: 3,
      timestamp: t0 + 500,
      data: {
        source: 0,
        texts: [],
        attributes: [{ id: imgId, attributes: { onerror: SET("attr-onerror"), src: "/missing-3.png" } }],
        removes: [],
        adds: [
          { parentId: bodyId, nextId: null, node: added },
          { parentId: bodyId, nextId: null, node: addedImg },
        ],
      },
    },
    { type: 3, timestamp: t0 + 1500, data: { source: 2, type: 2, id: body.childNodes[3].id, x: 10, y: 10 } },
  ];
}

test("a recorded page's scripts, handlers and javascript: links do not run in the replay", async () => {
  const { sites } = await api(node, "/api/v1/sites");
  const site = sites.find((s) => s.name === "Demo shop");
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const sessionId = await ingestEvents(page, node, site.site_key, hostileEvents(Date.now() - 5_000), {
    visitor: "hostile-visitor",
    tab: "hostile-tab",
    userId: "hostile-user",
    url: "https://hostile.example/",
    title: "Hostile",
  });
  await waitFor("the hostile session stored", async () => {
    const s = await api(node, `/api/v1/sessions/${sessionId}`);
    return s.events >= 4;
  });

  const dialogs = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await signIn(page, node);
  await page.goto(`${node.base}/app/#/sessions/${sessionId}`);
  await page.locator("[data-testid=player][data-complete=true]").waitFor({ timeout: 30_000 });
  const iframe = page.locator("[data-testid=player] iframe");
  const sandbox = await iframe.getAttribute("sandbox");
  assert.ok(sandbox !== null, "the replay iframe is sandboxed");
  assert.ok(!sandbox.split(/\s+/).includes("allow-scripts"), `no allow-scripts in sandbox="${sandbox}"`);
  const frame = page.frameLocator("[data-testid=player] iframe");
  await frame.getByText("Hostile page").waitFor({ timeout: 15_000 });

  // Play it to the end (the mutations adding a script and a handler), and
  // try the link and the input as a person would.
  await page.evaluate(() => {
    const p = window.__reelPlayer;
    p.goto(p.getMetaData().totalTime, false);
  });
  await frame.locator("img[src='/missing-2.png']").waitFor({ state: "attached", timeout: 15_000 }).catch(() => {});
  await frame.locator("#evil-link").click({ force: true, timeout: 5_000 }).catch(() => {});
  await frame.locator("#evil-input").focus({ timeout: 5_000 }).catch(() => {});
  // Give every handler its chance: a couple of frames and a timer turn of
  // each document (bounded; nothing to poll for since nothing may happen).
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 500)))));

  const frames = page.frames();
  assert.ok(frames.length >= 2, "the page and the replay iframe");
  for (const f of frames) {
    const value = await f.evaluate(() => window.__pwned).catch((e) => `evaluate failed: ${e.message}`);
    assert.equal(value, undefined, `window.__pwned in ${f.url() || "(about:blank)"}`);
  }
  assert.deepEqual(dialogs, [], "no dialog opened");
  assert.equal(new URL(page.url()).pathname, "/app/", "the dashboard did not navigate away");
  await context.close();
});

test("the dashboard is served with the Content-Security-Policy", async () => {
  for (const path of ["/app/", "/app/index.html", "/api/v1/me"]) {
    const res = await fetch(node.base + path, { headers: { cookie: node.cookie } });
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /(^|;)\s*script-src 'self'\s*(;|$)/, `${path}: script-src 'self' in ${csp}`);
    assert.match(csp, /(^|;)\s*frame-ancestors 'none'\s*(;|$)/, `${path}: frame-ancestors 'none' in ${csp}`);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
  }
  // The browser applies it: an inline script injected into the dashboard does not run.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${node.base}/app/`);
  await page.locator("[data-testid=email-input]").waitFor();
  await page.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.__inline = 1";
    document.body.append(s);
  });
  assert.equal(await page.evaluate(() => window.__inline), undefined, "inline script blocked by the CSP");
  await context.close();
});
