import { describe, expect, it } from "vitest";
import { Bucket, BYTES_BURST, MESSAGES_BURST, MESSAGES_PER_SEC, Pacer } from "../src/pace";

describe("pacing", () => {
  it("lets a burst through, then the sustained rate", () => {
    const b = new Bucket(10, 5, 0);
    for (let i = 0; i < 5; i++) {
      expect(b.wait(1, 0)).toBe(0);
      b.take(1, 0);
    }
    expect(b.wait(1, 0)).toBe(100);
    expect(b.wait(1, 100)).toBe(0);
  });

  it("lets a cost above the burst through once the bucket is full, and makes the next wait", () => {
    const b = new Bucket(1000, 100, 0);
    expect(b.wait(250, 0)).toBe(0);
    b.take(250, 0);
    expect(b.wait(1, 0)).toBe(151);
  });

  it("keeps a backlog within the server's default buckets (50/s, burst 200)", () => {
    const p = new Pacer(0);
    let now = 0;
    const sentAt: number[] = [];
    while (sentAt.length < 1000) {
      const wait = p.admit(2000, now);
      if (wait === 0) sentAt.push(now);
      else now += wait;
    }
    expect(sentAt.filter((t) => t === 0)).toHaveLength(MESSAGES_BURST);
    // Any one-second window holds at most the burst plus a second's worth.
    for (const t of sentAt) {
      const inWindow = sentAt.filter((u) => u >= t && u < t + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(MESSAGES_BURST + MESSAGES_PER_SEC);
    }
    expect(now).toBeGreaterThan(((1000 - MESSAGES_BURST) / MESSAGES_PER_SEC - 1) * 1000);
  });

  it("paces bytes too", () => {
    const p = new Pacer(0);
    expect(p.admit(BYTES_BURST, 0)).toBe(0);
    expect(p.admit(1024, 0)).toBeGreaterThan(0);
  });
});
