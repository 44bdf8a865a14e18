import { describe, expect, it } from "vitest";
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffDelay, flooredDelay, reactionTo } from "../src/backoff";

describe("backoff", () => {
  it("grows exponentially from 500 ms and stops at 30 s", () => {
    const top = () => 0.999999999;
    expect(backoffDelay(0, top)).toBe(BACKOFF_BASE_MS - 1);
    expect(backoffDelay(1, top)).toBe(2 * BACKOFF_BASE_MS - 1);
    expect(backoffDelay(5, top)).toBe(32 * BACKOFF_BASE_MS - 1);
    expect(backoffDelay(6, top)).toBe(BACKOFF_CAP_MS - 1);
    expect(backoffDelay(1000, top)).toBe(BACKOFF_CAP_MS - 1);
  });

  it("is fully jittered: anywhere from 0 to the ceiling", () => {
    expect(backoffDelay(3, () => 0)).toBe(0);
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
      const delays = Array.from({ length: 500 }, () => backoffDelay(attempt));
      expect(delays.every((d) => Number.isInteger(d) && d >= 0 && d < ceiling)).toBe(true);
      // Spread over the range, not bunched at one end.
      expect(Math.min(...delays)).toBeLessThan(ceiling * 0.2);
      expect(Math.max(...delays)).toBeGreaterThan(ceiling * 0.8);
    }
  });

  it("floors long waits and spreads them", () => {
    expect(flooredDelay(30_000, () => 0)).toBe(30_000);
    expect(flooredDelay(30_000, () => 0.999999)).toBeLessThan(60_000);
  });
});

describe("close codes", () => {
  it("map to the reactions of PROTOCOL.md", () => {
    expect(reactionTo(4413, true)).toMatchObject({ dropSuspect: true, stop: false });
    expect(reactionTo(4400, true)).toMatchObject({ dropSuspect: true, stop: false });
    expect(reactionTo(4400, false)).toMatchObject({ dropSuspect: false, stop: true });
    expect(reactionTo(4410, true)).toMatchObject({ newSession: true });
    expect(reactionTo(4429, true).floor).toBe(5_000);
    expect(reactionTo(4503, true).floor).toBeGreaterThanOrEqual(30_000);
    for (const code of [1006, 1011, 4408, 4409, 1000]) {
      expect(reactionTo(code, true)).toEqual({ floor: 0, newSession: false, dropSuspect: false, stop: false });
    }
  });
});
