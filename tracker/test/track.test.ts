import { describe, expect, it } from "vitest";
import { MAX_TRACK_NAME_BYTES, MAX_TRACK_PROPS, MAX_TRACK_VALUE_BYTES, sessionUrl, trackPayload } from "../src/track";

describe("reel.track", () => {
  it("takes a name of 1 to 128 bytes and props of strings, numbers and booleans", () => {
    expect(trackPayload("checkout", { plan: "pro", items: 3, gift: false })).toEqual({ name: "checkout", props: { plan: "pro", items: 3, gift: false } });
    expect(trackPayload("signup")).toEqual({ name: "signup", props: {} });
    expect(trackPayload("n".repeat(MAX_TRACK_NAME_BYTES))).toMatchObject({ name: "n".repeat(MAX_TRACK_NAME_BYTES) });
  });

  it("refuses what crosses a bound, with the warning to print", () => {
    const refused = (v: unknown) => expect(typeof v).toBe("string");
    refused(trackPayload(""));
    refused(trackPayload("n".repeat(MAX_TRACK_NAME_BYTES + 1)));
    refused(trackPayload("é".repeat(MAX_TRACK_NAME_BYTES / 2 + 1))); // bytes, not characters
    refused(trackPayload(42));
    const props = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    expect(trackPayload("e", props(MAX_TRACK_PROPS))).toMatchObject({ name: "e" });
    refused(trackPayload("e", props(MAX_TRACK_PROPS + 1)));
    refused(trackPayload("e", { nested: { a: 1 } }));
    refused(trackPayload("e", { n: NaN }));
    refused(trackPayload("e", { n: null }));
    refused(trackPayload("e", ["a"]));
    refused(trackPayload("e", "a"));
    expect(trackPayload("e", { v: "v".repeat(MAX_TRACK_VALUE_BYTES) })).toMatchObject({ name: "e" });
    refused(trackPayload("e", { v: "v".repeat(MAX_TRACK_VALUE_BYTES + 1) }));
    expect(trackPayload("", {})).toBe("reel: track: the name must be 1 to 128 bytes");
  });
});

describe("reel.sessionUrl", () => {
  it("is the dashboard's live view of the session while live, its replay otherwise, on the reel server", () => {
    expect(sessionUrl("wss://reel.example/v1/ingest", "s1", true)).toBe("https://reel.example/app/#/live/s1");
    expect(sessionUrl("wss://reel.example/v1/ingest", "s1", false)).toBe("https://reel.example/app/#/sessions/s1");
    expect(sessionUrl("ws://127.0.0.1:8080/v1/ingest", "s1", false)).toBe("http://127.0.0.1:8080/app/#/sessions/s1");
    expect(sessionUrl("wss://reel.example/v1/ingest", null, true)).toBe(null);
  });
});
