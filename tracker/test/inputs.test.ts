import { describe, expect, it } from "vitest";
import { INPUT_THROTTLE_MS, inputThrottle } from "../src/inputs";

const input = (id: number, t: number, text: string) => ({ type: 3, timestamp: t, data: { source: 5, id, text } });

describe("input as typed", () => {
  it("passes one input event per field every INPUT_THROTTLE_MS and always the last of a burst", () => {
    const out: unknown[] = [];
    const timers: (() => void)[] = [];
    const t = inputThrottle(
      (e) => out.push(e),
      (fn) => timers.push(fn),
      () => {},
    );
    t.push(input(1, 0, "*"));
    t.push(input(1, 30, "**"));
    t.push(input(2, 40, "*")); // another field is not held back
    t.push(input(1, 60, "***"));
    t.push({ type: 3, timestamp: 70, data: { source: 2 } }); // not an input
    expect(out).toEqual([input(1, 0, "*"), input(2, 40, "*"), { type: 3, timestamp: 70, data: { source: 2 } }]);
    expect(timers.length).toBe(1);
    timers[0]!();
    expect(out[out.length - 1]).toEqual(input(1, 60, "***"));
    expect(out.length).toBe(4);
    t.push(input(1, 60 + INPUT_THROTTLE_MS, "****"));
    expect(out[out.length - 1]).toEqual(input(1, 60 + INPUT_THROTTLE_MS, "****"));
  });

  it("flushes what it holds before the page is left", () => {
    const out: unknown[] = [];
    const t = inputThrottle(
      (e) => out.push(e),
      () => 1,
      () => {},
    );
    t.push(input(1, 0, "a"));
    t.push(input(1, 10, "ab"));
    t.flush();
    expect(out).toEqual([input(1, 0, "a"), input(1, 10, "ab")]);
    t.reset();
    t.push(input(1, 20, "abc"));
    expect(out.length).toBe(3);
  });
});
