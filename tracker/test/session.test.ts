import { describe, expect, it } from "vitest";
import {
  claimTab,
  currentSession,
  KEYS,
  readSession,
  releaseTab,
  saveSession,
  SESSION_IDLE_MS,
  touchSession,
  visitorId,
} from "../src/session";
import { memoryKV } from "../src/storage";
import { randomId } from "../src/ids";

const T0 = 1_700_000_000_000;

describe("visitor", () => {
  it("is created once and kept", () => {
    const local = memoryKV();
    const id = visitorId(local, randomId);
    expect(local.get(KEYS.visitor)).toBe(id);
    expect(visitorId(local, () => "other")).toBe(id);
  });
  it("is replaced when the stored one is not a valid id", () => {
    const local = memoryKV();
    local.set(KEYS.visitor, "not valid!");
    expect(visitorId(local, () => "fresh")).toBe("fresh");
  });
});

describe("session", () => {
  it("is new (null) for a new visitor", () => {
    expect(currentSession(memoryKV(), T0)).toBe(null);
  });

  it("continues within 30 minutes of the last activity", () => {
    const local = memoryKV();
    saveSession(local, { id: "S1", lastActivity: T0, sampled: true });
    expect(currentSession(local, T0 + SESSION_IDLE_MS)?.id).toBe("S1");
    expect(touchSession(local, "S1", T0 + 20 * 60_000)).toBe("ok");
    // Activity moves the 30 minutes on.
    expect(currentSession(local, T0 + 45 * 60_000)?.id).toBe("S1");
  });

  it("is over after 30 minutes of inactivity", () => {
    const local = memoryKV();
    saveSession(local, { id: "S1", lastActivity: T0, sampled: true });
    expect(currentSession(local, T0 + SESSION_IDLE_MS + 1)).toBe(null);
    expect(touchSession(local, "S1", T0 + SESSION_IDLE_MS + 1)).toBe("expired");
  });

  it("keeps the sampling decision with the session", () => {
    const local = memoryKV();
    saveSession(local, { id: "S1", lastActivity: T0, sampled: false });
    touchSession(local, "S1", T0 + 1000);
    expect(readSession(local)).toEqual({ id: "S1", lastActivity: T0 + 1000, sampled: false });
  });

  it("is not overwritten by a tab still on an older session", () => {
    const local = memoryKV();
    saveSession(local, { id: "S2", lastActivity: T0, sampled: true });
    expect(touchSession(local, "S1", T0 + 1000)).toBe("replaced");
    expect(readSession(local)?.id).toBe("S2");
  });

  it("ignores a malformed record", () => {
    const local = memoryKV();
    local.set(KEYS.session, '{"id":"S 1","lastActivity":1,"sampled":true}');
    expect(readSession(local)).toBe(null);
    local.set(KEYS.session, "{");
    expect(readSession(local)).toBe(null);
  });
});

describe("tab", () => {
  it("keeps its id across page loads of the tab", () => {
    const ss = memoryKV();
    const first = claimTab(ss, randomId);
    expect(first.fresh).toBe(true);
    releaseTab(ss); // pagehide
    const second = claimTab(ss, randomId);
    expect(second).toEqual({ id: first.id, fresh: false });
  });

  it("is new in a new tab (empty sessionStorage)", () => {
    const a = claimTab(memoryKV(), randomId);
    const b = claimTab(memoryKV(), randomId);
    expect(a.id).not.toBe(b.id);
  });

  it("is new in a duplicated tab, whose sessionStorage is a copy of a live page's", () => {
    const ss = memoryKV();
    const original = claimTab(ss, randomId);
    const copy = memoryKV();
    ss.data.forEach((v, k) => copy.data.set(k, v));
    const duplicate = claimTab(copy, randomId);
    expect(duplicate.fresh).toBe(true);
    expect(duplicate.id).not.toBe(original.id);
  });
});
