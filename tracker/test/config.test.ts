import { describe, expect, it } from "vitest";
import { endpointFromScript, ingestUrl, readConfig } from "../src/config";
import { Batcher } from "../src/batch";
import { DEFAULT_SETTINGS, readSettings } from "../src/settings";

describe("config", () => {
  it("comes from window.__reelConfig set by the loader", () => {
    const w = { __reelConfig: { site: "K1", endpoint: "wss://reel.example/v1/ingest" } };
    expect(readConfig(w, null)).toEqual({ site: "K1", endpoint: "wss://reel.example/v1/ingest", honorDnt: false });
    const honoring = { __reelConfig: { ...w.__reelConfig, honorDnt: true } };
    expect(readConfig(honoring, null)?.honorDnt).toBe(true);
  });
  it("falls back to the bundle's own script tag", () => {
    const tag = { src: "https://reel.example/t/tracker.abc123.js", dataset: { site: "K2" } };
    expect(readConfig({}, tag)).toEqual({ site: "K2", endpoint: "wss://reel.example/v1/ingest", honorDnt: false });
    const honoring = { ...tag, dataset: { site: "K2", honorDnt: "" } };
    expect(readConfig({}, honoring)?.honorDnt).toBe(true);
    expect(endpointFromScript("http://localhost:8080/t/tracker.js")).toBe("ws://localhost:8080/v1/ingest");
    expect(readConfig({}, { src: "https://reel.example/t/tracker.js", dataset: {} })).toBe(null);
    expect(readConfig({}, null)).toBe(null);
  });
  it("builds the ingest URL with site and visitor", () => {
    expect(ingestUrl("wss://reel.example/v1/ingest", "K 1", "V1")).toBe("wss://reel.example/v1/ingest?site=K+1&visitor=V1");
  });
});

describe("settings", () => {
  it("default to the protocol crate's defaults", () => {
    expect(readSettings(undefined)).toEqual(DEFAULT_SETTINGS);
  });
  it("take known fields and keep defaults for the rest", () => {
    const s = readSettings({ sample_rate: 0.25, mask_text: false, batch_interval_ms: "x", extra: 1, batch_max_events: 0 });
    expect(s.sample_rate).toBe(0.25);
    expect(s.mask_text).toBe(false);
    expect(s.batch_interval_ms).toBe(1000);
    expect(s.batch_max_events).toBe(1);
    expect("extra" in s).toBe(false);
  });
  it("take block_selector only as a string", () => {
    expect(readSettings({ block_selector: ".secret" }).block_selector).toBe(".secret");
    expect(readSettings({ block_selector: 3 }).block_selector).toBe("");
  });
});

describe("batcher", () => {
  const limits = { batch_max_bytes: 200, batch_max_events: 3 };
  it("is full at batch_max_events events", () => {
    const b = new Batcher();
    expect(b.add("{}", limits)).toBe(false);
    expect(b.add("{}", limits)).toBe(false);
    expect(b.add("{}", limits)).toBe(true);
    expect(b.take()).toBe("{},{},{}");
    expect(b.take()).toBe(null);
  });
  it("is full once its JSON reaches batch_max_bytes", () => {
    const b = new Batcher();
    expect(b.add("x".repeat(100), limits)).toBe(false);
    expect(b.add("x".repeat(40), limits)).toBe(true);
  });
});
