// Accounts in the dashboard (PROTOCOL.md §5), in Chromium: the demo owner
// signs in, invites a support member, who accepts in a second browser
// context, finds a customer's session by user id and replays it; the owner
// then sees that replay (`replay_viewed`, by the member) in the audit log.
// A viewer cannot open the admin pages. Screenshots of every screen go to
// target/e2e-screenshots/, or with REEL_DOCS_SHOTS=1 to docs/screenshots/
// (the dashboard guide shows them), so that a test run leaves the tree clean.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";

import {
  ROOT,
  SHOTS,
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

const DOCS_SHOTS = process.env.REEL_DOCS_SHOTS ? join(ROOT, "docs/screenshots") : SHOTS;
const shot = (page, name, options = {}) => page.screenshot({ path: join(DOCS_SHOTS, `${name}.png`), ...options });

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

/** A visitor of the demo checkout (which identifies them as demo-user-1), recorded and stored. */
async function recordCustomerVisit() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${node.base}/demo/checkout.html`);
  await page.locator("#place-order").waitFor();
  await page.fill("#coupon", "WELCOME10");
  await trackerSettled(page);
  await page.goto("about:blank");
  await context.close();
}

/** A new browser context with a viewport that screenshots well, in a zone
 * other than UTC so that times show their offset. */
function newContext() {
  return browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "Europe/Berlin" });
}

/** Creates an invitation on the invitations page; returns the link. */
async function invite(page, email, role) {
  await page.goto(`${node.base}/app/#/invitations`);
  await page.locator("[data-testid=invite-sites]").waitFor();
  await page.fill("[data-testid=invite-email]", email);
  await page.selectOption("[data-testid=invite-role]", role);
  await page.click("[data-testid=invite-create]");
  const url = await page.locator("[data-testid=invite-url]").inputValue();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/app\/#\/invite\/\S+$/, url);
  await page.locator(`tr[data-testid=invitation-row][data-email="${email}"]`).waitFor();
  return url;
}

/** Accepts an invitation in a fresh browser context; returns its page, signed in. */
async function accept(url, name, password, shotName) {
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.locator("[data-testid=invite-form]").waitFor();
  if (shotName) await shot(page, shotName);
  // Too short a password is refused before anything is sent.
  await page.fill("[data-testid=invite-name]", name);
  await page.fill("[data-testid=invite-password]", "short");
  await page.fill("[data-testid=invite-repeat]", "short");
  await page.click("[data-testid=invite-accept]");
  assert.match(await page.locator("[data-testid=invite-error]").innerText(), /at least 10 characters/);
  await page.fill("[data-testid=invite-password]", password);
  await page.fill("[data-testid=invite-repeat]", password);
  await page.click("[data-testid=invite-accept]");
  await page.locator("[data-testid=who-user]", { hasText: name }).waitFor();
  return page;
}

test("an owner invites a support member who replays a customer's session; the owner sees it in the audit log", async () => {
  await recordCustomerVisit();

  // The owner signs in: first with a wrong password, which says so.
  const ownerContext = await newContext();
  const owner = await ownerContext.newPage();
  await owner.goto(`${node.base}/app/`);
  await owner.locator("[data-testid=email-input]").waitFor();
  await shot(owner, "sign-in");
  await owner.fill("[data-testid=email-input]", node.email);
  await owner.fill("[data-testid=password-input]", "not the password");
  await owner.click("[data-testid=sign-in]");
  const error = owner.locator("[data-testid=sign-in-error]");
  await error.waitFor();
  assert.equal(await error.getAttribute("data-kind"), "bad_credentials");
  assert.match(await error.innerText(), /Wrong email or password/);
  await shot(owner, "sign-in-error");
  await signIn(owner, node);
  // No credential in storage: the session is the HttpOnly cookie.
  const stored = await owner.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.equal(stored, "{}{}", "nothing in localStorage or sessionStorage");
  assert.equal(await owner.locator("[data-testid=who-role]").innerText(), "owner");
  await owner.locator("[data-testid=nav-members]").waitFor();
  await owner.locator("header.top").screenshot({ path: join(DOCS_SHOTS, "header.png") });

  // The sites page: sessions today and live visitors now, per site.
  const today = owner.locator("tr[data-testid=site-row] >> nth=0 >> [data-testid=site-today]");
  await waitFor("today's sessions counted", async () => /^\d+\+?$/.test(await today.innerText()) && Number.parseInt(await today.innerText()) >= 1);
  await owner.locator("tr[data-testid=site-row] >> nth=0 >> [data-testid=site-live-count][data-count]").waitFor();
  await shot(owner, "sites", { fullPage: true });

  // Invites a support member.
  const memberUrl = await invite(owner, "support@example.com", "member");
  await shot(owner, "invitations", { fullPage: true });

  // The member accepts in another browser and is signed in, without admin pages.
  const support = await accept(memberUrl, "Sam Support", "correct horse battery", "accept");
  assert.equal(await support.locator("[data-testid=who-role]").innerText(), "member");
  assert.equal(await support.locator("[data-testid=nav-members]").isVisible(), false, "no admin links for a member");
  const sessionId = await findAndReplay(support, "demo-user-1", "support-replay");
  assert.ok(sessionId);
  await support.context().close();

  // The owner sees the new member, and the replay in the audit log.
  await owner.goto(`${node.base}/app/#/members`);
  const row = owner.locator('tr[data-testid=member-row][data-email="support@example.com"]');
  await row.waitFor();
  assert.equal(await row.locator("[data-testid=member-role]").inputValue(), "member");
  await shot(owner, "members", { fullPage: true });

  await owner.goto(`${node.base}/app/#/audit`);
  await waitFor("the member's replay in the audit log", async () => {
    await owner.reload();
    const entry = owner.locator('tr[data-testid=audit-row][data-action=replay_viewed][data-actor="support@example.com"]');
    return (await entry.count()) > 0 && (await entry.first().innerText()).includes(sessionId);
  });
  // Times carry their zone.
  assert.match(await owner.locator("tr[data-testid=audit-row] >> nth=0 >> td >> nth=0").innerText(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+[12]$/);
  await shot(owner, "audit", { fullPage: true });

  // An API token: shown once, with a copy button, then listed.
  await owner.goto(`${node.base}/app/#/tokens`);
  await owner.fill("[data-testid=token-name]", "nightly export");
  await owner.selectOption("[data-testid=token-role]", "viewer");
  await owner.fill("[data-testid=token-expiry]", "30");
  await owner.click("[data-testid=token-create]");
  const token = await owner.locator("[data-testid=token-value]").inputValue();
  assert.ok(token.length >= 16, "the token is shown");
  await owner.locator('tr[data-testid=token-row][data-name="nightly export"]').waitFor();
  await shot(owner, "tokens", { fullPage: true });
  const viaToken = await fetch(`${node.base}/api/v1/sites`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(viaToken.status, 200, "the new token works");
  await ownerContext.close();
});

test("a viewer cannot open the admin pages", async () => {
  const ownerContext = await newContext();
  const owner = await ownerContext.newPage();
  await signIn(owner, node);
  const url = await invite(owner, "viewer@example.com", "viewer");
  await ownerContext.close();

  const viewer = await accept(url, "Vic Viewer", "another long password");
  assert.equal(await viewer.locator("[data-testid=who-role]").innerText(), "viewer");
  for (const link of ["members", "invitations", "tokens", "audit"]) {
    assert.equal(await viewer.locator(`[data-testid=nav-${link}]`).isVisible(), false, `no ${link} link`);
  }
  for (const page of ["members", "invitations", "tokens", "audit", "sites/1/settings"]) {
    await viewer.goto(`${node.base}/app/#/${page}`);
    await viewer.locator("[data-testid=no-access]").waitFor();
    if (page === "members") await shot(viewer, "no-access");
  }
  // The server refuses too: the page is not the only lock.
  const status = await viewer.evaluate(async () => (await fetch("/api/v1/members")).status);
  assert.equal(status, 403);
  // Signing out ends the sign-in: the next page asks to sign in again.
  await viewer.click("[data-testid=sign-out]");
  await viewer.locator("[data-testid=email-input]").waitFor();
  const after = await viewer.evaluate(async () => (await fetch("/api/v1/me")).status);
  assert.equal(after, 401);
  await viewer.context().close();
});

test("an admin creates a site and changes what its tracker records", async () => {
  const context = await newContext();
  const page = await context.newPage();
  await signIn(page, node);
  // Checked before sending: an origin with a path says what to write instead.
  await page.fill("[data-testid=site-name]", "Blog");
  await page.fill("[data-testid=site-origins]", "https://blog.example.com/posts");
  await page.click("[data-testid=site-create]");
  assert.match(await page.locator("[data-testid=site-create-status]").innerText(), /drop the path, keeping https:\/\/blog\.example\.com/);
  await page.fill("[data-testid=site-origins]", "https://blog.example.com");
  await page.click("[data-testid=site-create]");
  // The new site's settings page, with its snippet.
  await page.waitForURL(/#\/sites\/\d+\/settings$/);
  const siteId = Number(page.url().match(/#\/sites\/(\d+)\/settings$/)[1]);
  await waitFor("the snippet", async () => (await page.locator("[data-testid=snippet]").inputValue()).includes("data-site="));
  assert.match(await page.locator("[data-testid=snippet]").inputValue(), /^<script async src="http:\/\/127\.0\.0\.1:\d+\/t\/loader\.js" data-site="[^"]+"><\/script>$/);
  await page.fill("[data-testid=settings-sample]", "25");
  await page.uncheck("[data-testid=settings-mask-text]");
  await page.fill("[data-testid=settings-block]", ".private, [data-secret]");
  await page.fill("[data-testid=settings-retention]", "30");
  await page.fill("[data-testid=settings-origins]", "https://blog.example.com\nhttps://www.blog.example.com");
  // What it captures beside the page (PROTOCOL.md §7), lists one per line.
  assert.equal(await page.isChecked("[data-testid=settings-capture-console]"), true, "console captured by default");
  assert.equal(await page.isChecked("[data-testid=settings-capture-errors]"), true, "errors captured by default");
  assert.match(await page.inputValue("[data-testid=settings-redact-params]"), /^token\n/, "the default parameters to redact");
  await page.uncheck("[data-testid=settings-capture-console]");
  await page.uncheck("[data-testid=settings-capture-errors]");
  await page.fill("[data-testid=settings-redact-params]", "token\n  order_ref \n\ntoken");
  await page.fill("[data-testid=settings-network-body-urls]", "https://blog.example.com/api/*");
  // Over a bound the form checks: said before sending.
  const status = page.locator("[data-testid=site-save-status]");
  const tooMany = Array.from({ length: 51 }, (_, i) => `p${i}`).join("\n");
  await page.fill("[data-testid=settings-redact-params]", tooMany);
  await page.click("[data-testid=settings-save]");
  await status.filter({ hasText: "at most 50, not 51" }).waitFor();
  await page.fill("[data-testid=settings-redact-params]", "token\n  order_ref \n\ntoken");
  // Over a bound only the node checks: its 400 is shown as it words it.
  await page.fill("[data-testid=settings-retention]", "99999");
  await page.click("[data-testid=settings-save]");
  await status.filter({ hasText: "retention_days must be 1 to 3650" }).waitFor();
  await page.fill("[data-testid=settings-retention]", "30");
  await page.click("[data-testid=settings-save]");
  await page.locator("[data-testid=site-save-status]", { hasText: "Saved" }).waitFor();
  await shot(page, "site-settings", { fullPage: true });
  const { sites } = await api(node, "/api/v1/sites");
  const site = sites.find((s) => s.id === siteId);
  assert.equal(site.name, "Blog");
  assert.deepEqual(site.allowed_origins, ["https://blog.example.com", "https://www.blog.example.com"]);
  assert.equal(site.settings.sample_rate, 0.25);
  assert.equal(site.settings.mask_text, false);
  assert.equal(site.settings.mask_all_inputs, true);
  assert.equal(site.settings.block_selector, ".private, [data-secret]");
  assert.equal(site.retention_days, 30);
  assert.equal(site.settings.capture_console, false);
  assert.equal(site.settings.capture_network, true);
  assert.equal(site.settings.capture_errors, false);
  assert.deepEqual(site.settings.redact_params, ["token", "order_ref"]);
  assert.deepEqual(site.settings.network_body_urls, ["https://blog.example.com/api/*"]);
  // The audit log has it.
  await page.goto(`${node.base}/app/#/audit`);
  await page.locator(`tr[data-testid=audit-row][data-action=site_changed] >> text=site:${siteId}`).first().waitFor();
  await context.close();
});

test("the sign-in page says what to do when rate limited and when the server is gone", async () => {
  // A node of its own: the failures below rate-limit this address.
  const own = await startNode(tempDataDir(), await freePort());
  const context = await newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${own.base}/app/`);
    const error = page.locator("[data-testid=sign-in-error]");
    await page.fill("[data-testid=email-input]", own.email);
    await page.fill("[data-testid=password-input]", "wrong password");
    // More than 10 failures within 15 minutes: 429 with Retry-After.
    await waitFor("the rate limit", async () => {
      await page.click("[data-testid=sign-in]");
      await page.locator("[data-testid=sign-in]:not([disabled])").waitFor();
      return (await error.getAttribute("data-kind")) === "rate_limited";
    });
    assert.match(await error.innerText(), /Too many failed sign-ins\. Wait \d+ (minute|minutes|second|seconds), then try again\./);
    await shot(page, "sign-in-rate-limited");
    // The server goes away: the page says to check the connection.
    assert.equal(await stopNode(own), 0);
    await page.click("[data-testid=sign-in]");
    await page.locator("[data-testid=sign-in-error][data-kind=network]").waitFor();
    assert.match(await error.innerText(), /Could not reach the reel server/);
  } finally {
    await stopNode(own);
    await context.close();
  }
});
