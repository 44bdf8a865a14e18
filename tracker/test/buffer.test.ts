import { describe, expect, it } from "vitest";
import { batchBody, ResendBuffer } from "../src/buffer";
import { KEYS } from "../src/session";
import { memoryKV } from "../src/storage";

const seqs = (b: ResendBuffer) => b.batches.map((x) => x.seq);

describe("resend buffer", () => {
  it("numbers batches from 0 and writes them as events messages", () => {
    const b = ResendBuffer.load(memoryKV(), "S1");
    expect(b.push('{"type":4,"timestamp":1}').seq).toBe(0);
    const second = b.push('{"type":3,"timestamp":2},{"type":3,"timestamp":3}');
    expect(second.seq).toBe(1);
    expect(JSON.parse(batchBody(second))).toEqual({
      t: "events",
      seq: 1,
      events: [
        { type: 3, timestamp: 2 },
        { type: 3, timestamp: 3 },
      ],
    });
    expect(b.next).toBe(2);
  });

  it("drops every batch with seq <= N on ack N", () => {
    const b = ResendBuffer.load(memoryKV(), "S1");
    for (let i = 0; i < 5; i++) b.push(`{"i":${i}}`);
    b.ack(2);
    expect(seqs(b)).toEqual([3, 4]);
    expect(b.acked).toBe(2);
    b.ack(1); // an old ack changes nothing
    expect(seqs(b)).toEqual([3, 4]);
    expect(b.acked).toBe(2);
    b.ack(4);
    expect(seqs(b)).toEqual([]);
    expect(b.size).toBe(0);
    expect(b.next).toBe(5);
  });

  it("drops batches below next_seq on welcome and returns the rest in order", () => {
    const b = ResendBuffer.load(memoryKV(), "S1");
    for (let i = 0; i < 6; i++) b.push(`{"i":${i}}`);
    b.ack(1);
    const { resend, lost } = b.welcome(4);
    expect(resend.map((x) => [x.seq, x.events])).toEqual([
      [4, '{"i":4}'],
      [5, '{"i":5}'],
    ]);
    expect(lost).toBe(false);
    expect(b.acked).toBe(3); // below next_seq is durable
    expect(b.next).toBe(6);
  });

  it("resends everything held when the server has none of it", () => {
    const b = ResendBuffer.load(memoryKV(), "S1");
    for (let i = 0; i < 3; i++) b.push(`{"i":${i}}`);
    const { resend, lost } = b.welcome(0);
    expect(resend.map((x) => x.seq)).toEqual([0, 1, 2]);
    expect(lost).toBe(false);
    expect(b.acked).toBe(null);
  });

  it("moves its counter up when the server is ahead", () => {
    const b = ResendBuffer.load(memoryKV(), "S1");
    b.push("{}");
    expect(b.welcome(7)).toEqual({ resend: [], lost: false });
    expect(b.next).toBe(7);
    expect(b.push("{}").seq).toBe(7);
  });

  it("renumbers held batches over a gap and reports the loss", () => {
    const b = ResendBuffer.load(memoryKV(), "S1");
    for (let i = 0; i < 4; i++) b.push(`{"i":${i}}`);
    b.drop(1); // refused as too large before it was sent
    expect(seqs(b)).toEqual([0, 1, 2]);
    expect(b.batches.map((x) => x.events)).toEqual(['{"i":0}', '{"i":2}', '{"i":3}']);
    expect(b.next).toBe(3);

    const c = ResendBuffer.load(memoryKV(), "S1");
    for (let i = 0; i < 4; i++) c.push(`{"i":${i}}`);
    c.batches.splice(0, 2); // lost, e.g. in memory only across a reload
    const { resend, lost } = c.welcome(0);
    expect(lost).toBe(true);
    expect(resend.map((x) => [x.seq, x.events])).toEqual([
      [0, '{"i":2}'],
      [1, '{"i":3}'],
    ]);
    expect(c.next).toBe(2);
  });

  it("round-trips through storage and survives a reload", () => {
    const store = memoryKV();
    const b = ResendBuffer.load(store, "S1");
    for (let i = 0; i < 4; i++) b.push(`{"i":${i}}`);
    b.ack(1);
    const reloaded = ResendBuffer.load(store, "S1");
    expect(reloaded.session).toBe("S1");
    expect(reloaded.next).toBe(4);
    expect(reloaded.acked).toBe(1);
    expect(reloaded.batches).toEqual(b.batches);
    expect(reloaded.size).toBe(b.size);
    expect(JSON.parse(store.get(KEYS.pending)!)).toEqual({
      session: "S1",
      next: 4,
      acked: 1,
      batches: [
        [2, '{"i":2}'],
        [3, '{"i":3}'],
      ],
    });
    expect(reloaded.push("{}").seq).toBe(4);
  });

  it("starts over for another session", () => {
    const store = memoryKV();
    const b = ResendBuffer.load(store, "S1");
    b.push("{}");
    b.ack(0);
    const other = ResendBuffer.load(store, "S2");
    expect([other.session, other.next, other.acked, other.batches.length]).toEqual(["S2", 0, null, 0]);
  });

  it("ignores a malformed stored buffer", () => {
    for (const junk of ["not json", "[]", '{"session":"S1","next":-1,"acked":null,"batches":[]}', '{"session":"S1"}']) {
      const store = memoryKV();
      store.set(KEYS.pending, junk);
      const b = ResendBuffer.load(store, "S1");
      expect([b.next, b.acked, b.batches.length]).toEqual([0, null, 0]);
    }
  });

  it("keeps batches in memory when storage is full, and the counters in storage", () => {
    const store = memoryKV(400);
    const b = ResendBuffer.load(store, "S1");
    b.push("x".repeat(100));
    expect(b.persisted).toBe(true);
    b.push("y".repeat(500)); // over the quota
    expect(b.persisted).toBe(false);
    expect(seqs(b)).toEqual([0, 1]);
    const stored = JSON.parse(store.get(KEYS.pending)!);
    expect(stored).toEqual({ session: "S1", next: 2, acked: null, batches: [] });
    b.ack(1);
    expect(b.persisted).toBe(true);
    // A reload then lost the batches; the welcome renumbers and says so.
    const reloaded = ResendBuffer.load(store, "S1");
    expect(reloaded.next).toBe(2);
  });
});
