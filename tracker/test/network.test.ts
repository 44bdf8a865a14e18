import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_REDACT_PARAMS, NETWORK_BODY_MAX_BYTES } from "../../protocol/ts/protocol";
import {
  bodyBytes,
  cutBytes,
  isOwnRequest,
  matchesAny,
  MAX_URL_CHARS,
  NETWORK_EVENTS_PER_SECOND,
  NETWORK_PLUGIN,
  networkPlugin,
  networkRecorder,
  redactUrl,
  serverOrigin,
  type NetworkEvent,
  type NetworkOptions,
} from "../src/network";
import { startServer, type TestServer } from "./server.mjs";

describe("redactUrl", () => {
  it("replaces the values of the named parameters, whatever their case or encoding", () => {
    const names = ["token", "password"];
    expect(redactUrl("/cart?token=abc&item=3&Password=x&pass%77ord=y#frag", "https://shop.example/p", names)).toBe(
      "https://shop.example/cart?token=[redacted]&item=3&Password=[redacted]&pass%77ord=[redacted]",
    );
    expect(redactUrl("https://a.example/x?tokens=1&token", "https://b.example/", names)).toBe("https://a.example/x?tokens=1&token=[redacted]");
    expect(redactUrl("https://a.example/x?a=1&b=2", "https://a.example/", names)).toBe("https://a.example/x?a=1&b=2");
  });

  it("uses the built-in list by default and cuts long URLs", () => {
    const url = redactUrl("https://a.example/cb?code=123&state=s&access_token=t&api_key=k&session=q", "https://a.example/", DEFAULT_REDACT_PARAMS);
    expect(url).toBe("https://a.example/cb?code=[redacted]&state=s&access_token=[redacted]&api_key=[redacted]&session=[redacted]");
    expect(redactUrl(`https://a.example/${"x".repeat(5000)}`, "https://a.example/", []).length).toBe(MAX_URL_CHARS);
  });
});

describe("the reel server's own requests", () => {
  const server = "https://reel.example";
  it("are every request to its origin from another site", () => {
    expect(isOwnRequest("https://reel.example/anything", server, "https://shop.example")).toBe(true);
    expect(isOwnRequest("https://shop.example/v1/ingest", server, "https://shop.example")).toBe(false);
  });
  it("are only its own paths from a page it serves (the demo shop)", () => {
    expect(isOwnRequest("https://reel.example/v1/ingest?site=x", server, server)).toBe(true);
    expect(isOwnRequest("https://reel.example/t/tracker.abc.js", server, server)).toBe(true);
    expect(isOwnRequest("https://reel.example/demo/api/cart", server, server)).toBe(false);
  });
  it("derive from the ingest endpoint", () => {
    expect(serverOrigin("wss://reel.example/v1/ingest")).toBe("https://reel.example");
    expect(serverOrigin("ws://127.0.0.1:8080/v1/ingest")).toBe("http://127.0.0.1:8080");
    expect(serverOrigin("nonsense")).toBe(null);
  });
});

describe("bodies", () => {
  it("match glob patterns on the whole URL", () => {
    const p = ["https://shop.example/api/*", "*/search?q=*"];
    expect(matchesAny("https://shop.example/api/cart", p)).toBe(true);
    expect(matchesAny("https://other.example/search?q=x#f", p)).toBe(true);
    expect(matchesAny("https://shop.example/apix", p)).toBe(false);
    expect(matchesAny("https://shop.example/api.cart", ["https://shop.example/api.c*"])).toBe(true);
    expect(matchesAny("https://shop.example/apiXcart", ["https://shop.example/api.c*"])).toBe(false);
    expect(matchesAny("https://shop.example/api/cart", [])).toBe(false);
  });

  it("are cut to NETWORK_BODY_MAX_BYTES of UTF-8 at a character boundary", () => {
    expect(NETWORK_BODY_MAX_BYTES).toBe(16 * 1024);
    const exact = "a".repeat(NETWORK_BODY_MAX_BYTES);
    expect(cutBytes(exact)).toBe(exact);
    expect(cutBytes(exact + "b")).toBe(exact);
    const euros = "€".repeat(NETWORK_BODY_MAX_BYTES); // 3 bytes each
    const cut = cutBytes(euros);
    expect(new TextEncoder().encode(cut).length).toBeLessThanOrEqual(NETWORK_BODY_MAX_BYTES);
    expect(cut).toBe("€".repeat(Math.floor(NETWORK_BODY_MAX_BYTES / 3)));
  });

  it("are measured without reading streams", () => {
    expect(bodyBytes(undefined)).toBe(0);
    expect(bodyBytes("é")).toBe(2);
    expect(bodyBytes(new URLSearchParams({ a: "b" }))).toBe(3);
    expect(bodyBytes(new Blob(["abcd"]))).toBe(4);
    expect(bodyBytes(new Uint8Array(5))).toBe(5);
    expect(bodyBytes(new FormData())).toBe(null);
  });
});

describe("networkRecorder", () => {
  const opts: NetworkOptions = { redactParams: ["token"], bodyUrls: [], serverOrigin: "https://reel.example" };
  const base = { method: "get", status: 200, ok: true, start: 1, duration_ms: 1.6, request_bytes: 0, response_bytes: 2, initiator: "fetch" as const, error: null };

  it("records at most NETWORK_EVENTS_PER_SECOND requests a second", () => {
    let now = 0;
    const out: NetworkEvent[] = [];
    const net = networkRecorder(opts, (e) => out.push(e), () => "https://shop.example/", () => now);
    for (let i = 0; i < NETWORK_EVENTS_PER_SECOND + 5; i++) net.record({ ...base, url: `https://shop.example/${i}?token=t` });
    expect(out.length).toBe(NETWORK_EVENTS_PER_SECOND);
    expect(out[0]).toEqual({ ...base, method: "GET", duration_ms: 2, url: "https://shop.example/0?token=[redacted]" });
    now += 1000;
    net.record({ ...base, url: "https://shop.example/next" });
    expect(out.length).toBe(NETWORK_EVENTS_PER_SECOND + 1);
  });

  it("resolves targets against the page and skips the reel server", () => {
    const net = networkRecorder(opts, () => {}, () => "https://shop.example/a/b", () => 0);
    expect(net.target("c?x=1")).toBe("https://shop.example/a/c?x=1");
    expect(net.target("https://reel.example/v1/ingest")).toBe(null);
  });
});

/** A real HTTP server: /ok answers 200 "ok", /fail 500, /big a body over the cap. */
let http: TestServer;
let origin = "";
let closedPort = 0;
beforeAll(async () => {
  http = await startServer({
    "/ok": { status: 200, body: "ok" },
    "/fail": { status: 500, body: "boom" },
    "/big": { status: 200, body: "x".repeat(NETWORK_BODY_MAX_BYTES + 100) },
  });
  ({ origin, closedPort } = http);
});
afterAll(() => http.close());

/** A window with Node's real fetch, a sendBeacon that queues, and no XMLHttpRequest (Node has none). */
function fakeWindow(page: string) {
  const beacons: unknown[] = [];
  const win = {
    fetch: globalThis.fetch,
    location: { href: page },
    navigator: {
      sendBeacon(url: string, data?: unknown) {
        beacons.push([url, data]);
        return true;
      },
    },
  };
  return { win, beacons };
}

async function until<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("the network plugin over real fetch", () => {
  const observe = (bodyUrls: string[], server: string | null = "https://reel.example", page = `${origin}/shop`) => {
    const { win, beacons } = fakeWindow(page);
    const out: NetworkEvent[] = [];
    const plugin = networkPlugin({ redactParams: ["token"], bodyUrls, serverOrigin: server });
    expect(plugin.name).toBe(NETWORK_PLUGIN);
    const stop = plugin.observer((e) => out.push(e), win as never, plugin.options);
    return { win, out, stop, beacons };
  };

  it("records 200, 500 and a network error with status, timing and sizes, no bodies by default", async () => {
    const original = globalThis.fetch;
    const { win, out, stop } = observe([]);
    expect(win.fetch).not.toBe(original);
    const ok = await win.fetch(`${origin}/ok?token=secret&q=1`, { method: "POST", body: "hello" });
    expect(await ok.text()).toBe("ok");
    const fail = await win.fetch(`${origin}/fail`);
    expect(fail.status).toBe(500);
    await expect(win.fetch(`http://127.0.0.1:${closedPort}/down`)).rejects.toThrow();
    const [a, b, c] = await until(() => (out.length === 3 ? out : undefined));
    expect(a).toMatchObject({ method: "POST", url: `${origin}/ok?token=[redacted]&q=1`, status: 200, ok: true, request_bytes: 5, response_bytes: 2, initiator: "fetch", error: null });
    expect(a!.start).toBeGreaterThan(Date.now() - 10_000);
    expect(a!.duration_ms).toBeGreaterThanOrEqual(0);
    expect(a).not.toHaveProperty("request_body");
    expect(a).not.toHaveProperty("response_body");
    expect(b).toMatchObject({ method: "GET", url: `${origin}/fail`, status: 500, ok: false, request_bytes: 0, error: null });
    expect(c).toMatchObject({ url: `http://127.0.0.1:${closedPort}/down`, status: 0, ok: false, response_bytes: null });
    expect(typeof c!.error).toBe("string");
    stop();
    expect(win.fetch).toBe(original);
  });

  it("records bodies of the allowed URLs only, cut to 16 KiB", async () => {
    const { win, out, stop } = observe([`${origin}/big*`, `${origin}/ok`]);
    await (await win.fetch(`${origin}/ok`, { method: "POST", body: "x".repeat(NETWORK_BODY_MAX_BYTES + 1) })).text();
    await (await win.fetch(`${origin}/big`)).text();
    await (await win.fetch(`${origin}/fail`, { method: "POST", body: "not recorded" })).text();
    await until(() => (out.length === 3 ? out : undefined));
    const byUrl = (p: string) => out.find((e) => e.url === `${origin}${p}`)!;
    expect(byUrl("/ok").request_body!.length).toBe(NETWORK_BODY_MAX_BYTES);
    expect(byUrl("/ok").request_bytes).toBe(NETWORK_BODY_MAX_BYTES + 1);
    expect(byUrl("/ok").response_body).toBe("ok");
    expect(byUrl("/big").response_body!.length).toBe(NETWORK_BODY_MAX_BYTES);
    expect(byUrl("/big").response_bytes).toBe(NETWORK_BODY_MAX_BYTES + 100);
    expect(byUrl("/fail")).not.toHaveProperty("request_body");
    expect(byUrl("/fail")).not.toHaveProperty("response_body");
    stop();
  });

  it("never records requests to the reel server, and records beacons", async () => {
    // The page is on another origin than the reel server (here `origin`).
    const { win, out, stop, beacons } = observe([], origin, "https://shop.example/");
    await (await win.fetch(`${origin}/ok`)).text();
    expect(win.navigator.sendBeacon("https://shop.example/collect?token=t", "abc")).toBe(true);
    expect(win.navigator.sendBeacon(`${origin}/v1/whatever`, "x")).toBe(true);
    expect(beacons.length).toBe(2);
    expect(out).toEqual([
      {
        method: "POST",
        url: "https://shop.example/collect?token=[redacted]",
        start: out[0]!.start,
        status: 0,
        ok: true,
        duration_ms: 0,
        request_bytes: 3,
        response_bytes: null,
        initiator: "beacon",
        error: null,
      },
    ]);
    stop();
  });
});
