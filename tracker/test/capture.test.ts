import { describe, expect, it } from "vitest";
import { DEFAULT_REDACT_PARAMS } from "../../protocol/ts/protocol";
import { captureErrors, captureKey, capturePlugins } from "../src/capture";
import { NETWORK_PLUGIN } from "../src/network";
import { DEFAULT_SETTINGS, readSettings } from "../src/settings";

describe("capture settings", () => {
  it("default to console and network on, the built-in redaction list, no bodies", () => {
    expect(DEFAULT_SETTINGS.capture_console).toBe(true);
    expect(DEFAULT_SETTINGS.capture_network).toBe(true);
    expect(DEFAULT_SETTINGS.capture_errors).toBe(true);
    expect(DEFAULT_SETTINGS.redact_params).toEqual(DEFAULT_REDACT_PARAMS);
    expect(DEFAULT_SETTINGS.redact_params).toContain("token");
    expect(DEFAULT_SETTINGS.network_body_urls).toEqual([]);
    expect(capturePlugins(DEFAULT_SETTINGS, null).map((p) => p.name)).toEqual(["rrweb/console@1", NETWORK_PLUGIN]);
  });

  it("switch each capture off", () => {
    const off = (patch: object) => capturePlugins(readSettings({ ...DEFAULT_SETTINGS, ...patch }), null).map((p) => p.name);
    expect(off({ capture_console: false })).toEqual([NETWORK_PLUGIN]);
    expect(off({ capture_network: false })).toEqual(["rrweb/console@1"]);
    expect(off({ capture_console: false, capture_network: false })).toEqual([]);
  });

  it("are read from the server, malformed ones keeping their defaults", () => {
    const s = readSettings({ capture_console: false, redact_params: ["sid"], network_body_urls: ["https://a.example/*"] });
    expect(s.capture_console).toBe(false);
    expect(readSettings({ capture_errors: false }).capture_errors).toBe(false);
    expect(readSettings({ capture_errors: "no" }).capture_errors).toBe(true);
    expect(s.redact_params).toEqual(["sid"]);
    expect(s.network_body_urls).toEqual(["https://a.example/*"]);
    const bad = readSettings({ capture_network: "no", redact_params: [1], network_body_urls: "x" });
    expect(bad.capture_network).toBe(true);
    expect(bad.redact_params).toEqual(DEFAULT_REDACT_PARAMS);
    expect(bad.network_body_urls).toEqual([]);
  });

  it("restart the recorder when they change", () => {
    const a = captureKey(DEFAULT_SETTINGS);
    expect(captureKey({ ...DEFAULT_SETTINGS })).toBe(a);
    expect(captureKey({ ...DEFAULT_SETTINGS, capture_console: false })).not.toBe(a);
    expect(captureKey({ ...DEFAULT_SETTINGS, capture_errors: false })).not.toBe(a);
    expect(captureKey({ ...DEFAULT_SETTINGS, redact_params: ["x"] })).not.toBe(a);
    expect(captureKey({ ...DEFAULT_SETTINGS, network_body_urls: ["x"] })).not.toBe(a);
  });
});

describe("error capture", () => {
  /** A window error as the browser dispatches it (Node has no ErrorEvent). */
  const thrown = () => Object.assign(new Event("error"), { message: "Uncaught Error: boom", error: new Error("boom"), filename: "https://shop.example/a.js", lineno: 3, colno: 7 });
  const rejected = () => Object.assign(new Event("unhandledrejection"), { reason: new Error("nope") });

  it("records window errors and rejections while capture_errors is on, and stops when told", () => {
    const win = new EventTarget();
    const out: { message: string; line: number }[] = [];
    const stop = captureErrors(DEFAULT_SETTINGS, win, (p) => out.push(p));
    win.dispatchEvent(thrown());
    win.dispatchEvent(rejected());
    expect(out.map((p) => p.message)).toEqual(["Uncaught Error: boom", "Unhandled rejection: Error: nope"]);
    expect(out[0]!.line).toBe(3);
    stop();
    win.dispatchEvent(thrown());
    expect(out).toHaveLength(2);
  });

  it("records nothing with capture_errors off", () => {
    const win = new EventTarget();
    const out: unknown[] = [];
    captureErrors(readSettings({ capture_errors: false }), win, (p) => out.push(p));
    win.dispatchEvent(thrown());
    win.dispatchEvent(rejected());
    expect(out).toEqual([]);
  });
});
