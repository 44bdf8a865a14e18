import { describe, expect, it } from "vitest";
import { ID_LENGTH, isId, randomId } from "../src/ids";

describe("ids", () => {
  it("are random ids the server accepts", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = randomId();
      expect(id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(id).toHaveLength(ID_LENGTH);
      seen.add(id);
    }
    expect(seen.size).toBe(1000);
  });

  it("use every symbol of the alphabet", () => {
    const bytes = Uint8Array.from({ length: ID_LENGTH }, (_, i) => i * 3);
    expect(randomId((b) => (b.set(bytes), b))).toBe("ADGJMPSVYbehknqtwz258-");
    expect(randomId((b) => b.fill(255))).toBe("-".repeat(ID_LENGTH));
  });

  it("are checked against the id rule", () => {
    expect(isId("abc_DEF-123")).toBe(true);
    expect(isId("a".repeat(64))).toBe(true);
    expect(isId("a".repeat(65))).toBe(false);
    expect(isId("")).toBe(false);
    expect(isId("a b")).toBe(false);
    expect(isId("é")).toBe(false);
    expect(isId(null)).toBe(false);
    expect(isId(42)).toBe(false);
  });
});
