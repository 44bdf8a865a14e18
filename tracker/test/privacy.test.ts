import { describe, expect, it } from "vitest";
import { maskAll, maskInput, maskSensitive, maskText, privacyKey, privacyOptions, type MaskTarget } from "../src/privacy";

/** Just enough of an Element: attributes, a parent, and `closest` for `[attr]` lists. */
class El implements MaskTarget {
  constructor(
    readonly attrs: Record<string, string> = {},
    readonly parent: El | null = null,
  ) {}
  hasAttribute(name: string): boolean {
    return name in this.attrs;
  }
  getAttribute(name: string): string | null {
    return this.attrs[name] ?? null;
  }
  closest(selector: string): El | null {
    const names = selector.split(",").map((s) => s.trim().replace(/^\[|\]$/g, ""));
    for (let e: El | null = this; e; e = e.parent) if (names.some((n) => e!.hasAttribute(n))) return e;
    return null;
  }
}

describe("text masking", () => {
  it("masks e-mail addresses with * of the same length", () => {
    expect(maskSensitive("Write to support@demo.example today")).toBe("Write to ******************** today");
    expect(maskSensitive("a.b+c@mail.co.uk, x@y.io")).toBe("**************** ******".replace(" ", ", "));
  });

  it("masks runs of 6 or more digits and keeps shorter numbers", () => {
    expect(maskSensitive("Card 4242424242424242 exp 12/29")).toBe("Card **************** exp 12/29");
    expect(maskSensitive("Order 123456, total 12345")).toBe("Order ******, total 12345");
    expect(maskSensitive("Price $19.99, 3 items")).toBe("Price $19.99, 3 items");
  });

  it("masks everything but whitespace inside data-reel-mask", () => {
    const root = new El({ "data-reel-mask": "" });
    expect(maskText("Jane Doe\n 42", new El({}, root), false)).toBe("**** ***\n **");
    expect(maskAll("a b")).toBe("* *");
  });

  it("keeps text inside data-reel-unmask as it is", () => {
    const un = new El({ "data-reel-unmask": "" });
    expect(maskText("mail me: me@example.com 1234567", new El({}, un), true)).toBe("mail me: me@example.com 1234567");
  });

  it("lets the nearest marking win", () => {
    const masked = new El({ "data-reel-mask": "" });
    const unmaskedInside = new El({ "data-reel-unmask": "" }, masked);
    expect(maskText("visible", new El({}, unmaskedInside), true)).toBe("visible");
    const maskedInside = new El({ "data-reel-mask": "" }, unmaskedInside);
    expect(maskText("hidden", maskedInside, true)).toBe("******");
  });

  it("masks e-mails and digits only when mask_text is on", () => {
    const plain = new El();
    expect(maskText("me@example.com", plain, true)).toBe("**************");
    expect(maskText("me@example.com", plain, false)).toBe("me@example.com");
    expect(maskText("me@example.com", null, true)).toBe("**************");
  });
});

describe("input masking", () => {
  it("masks every input by default", () => {
    expect(maskInput("Jane", new El({ type: "text" }), true)).toBe("****");
  });
  it("keeps inputs inside data-reel-unmask", () => {
    const form = new El({ "data-reel-unmask": "" });
    expect(maskInput("SAVE10", new El({ id: "coupon" }, form), true)).toBe("SAVE10");
    expect(maskInput("SAVE10", new El({ id: "coupon", "data-reel-unmask": "" }), true)).toBe("SAVE10");
  });
  it("records inputs when mask_all_inputs is off, except data-reel-mask and passwords", () => {
    expect(maskInput("Jane", new El({ type: "text" }), false)).toBe("Jane");
    expect(maskInput("Jane", new El({ "data-reel-mask": "" }), false)).toBe("****");
    expect(maskInput("hunter2", new El({ type: "password" }), false)).toBe("*******");
    expect(maskInput("hunter2", new El({ type: "PASSWORD", "data-reel-unmask": "" }), true)).toBe("*******");
  });
});

describe("rrweb options", () => {
  it("ask maskTextFn about all text only when mask_text is on", () => {
    expect(privacyOptions({ mask_all_inputs: true, mask_text: true, block_selector: "" }).maskTextSelector).toBe("*");
    expect(privacyOptions({ mask_all_inputs: true, mask_text: false, block_selector: "" }).maskTextSelector).toBe("[data-reel-mask]");
    const o = privacyOptions({ mask_all_inputs: false, mask_text: true, block_selector: "" });
    expect(o.blockSelector).toBe("[data-reel-block]");
    expect(o.maskAllInputs).toBe(true);
    expect(o.maskInputFn("Jane", new El())).toBe("Jane");
    expect(o.maskTextFn("id 1234567", new El())).toBe("id *******");
  });
  it("block the site's block_selector besides data-reel-block", () => {
    const o = privacyOptions({ mask_all_inputs: true, mask_text: true, block_selector: " .card-form, #ssn " });
    expect(o.blockSelector).toBe("[data-reel-block], .card-form, #ssn");
  });
  it("change key when a privacy setting changes", () => {
    const base = { mask_all_inputs: true, mask_text: true, block_selector: "" };
    expect(privacyKey(base)).not.toBe(privacyKey({ ...base, mask_text: false }));
    expect(privacyKey(base)).not.toBe(privacyKey({ ...base, block_selector: ".secret" }));
    expect(privacyKey(base)).toBe(privacyKey({ ...base, block_selector: "  " }));
  });
});
