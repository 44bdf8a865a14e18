// Privacy by default. Markup controls masking, the nearest marked ancestor
// (or the element itself) deciding:
//   data-reel-mask     text and input values inside are masked
//   data-reel-unmask   text and input values inside are recorded as they are
//   data-reel-block    the element is not recorded at all (an empty box of its size)
// The site's `block_selector` setting blocks more elements the same way.
// Password inputs are always masked. Masked characters are `*`.

import type { Settings } from "../../protocol/ts/protocol";

export const MASK_ATTR = "data-reel-mask";
export const UNMASK_ATTR = "data-reel-unmask";
export const BLOCK_SELECTOR = "[data-reel-block]";
const MARKED = `[${MASK_ATTR}],[${UNMASK_ATTR}]`;

/** What the mask functions need of an element (a DOM Element satisfies it). */
export interface MaskTarget {
  closest(selector: string): MaskTarget | null;
  hasAttribute(name: string): boolean;
  getAttribute?(name: string): string | null;
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
const DIGIT_RUN = /\d{6,}/g;
const stars = (s: string): string => "*".repeat(s.length);

/** Replaces e-mail addresses and runs of 6 or more digits with `*` of the same length. */
export function maskSensitive(text: string): string {
  return text.replace(EMAIL, stars).replace(DIGIT_RUN, stars);
}

/** Masks every character but whitespace, as rrweb does, so the layout keeps its shape. */
export function maskAll(text: string): string {
  return text.replace(/\S/g, "*");
}

/** "mask", "unmask" or null: the marking nearest to `el` (itself included). */
export function marking(el: MaskTarget | null | undefined): "mask" | "unmask" | null {
  let marked: MaskTarget | null = null;
  try {
    marked = el && typeof el.closest === "function" ? el.closest(MARKED) : null;
  } catch {
    return null;
  }
  if (!marked) return null;
  return marked.hasAttribute(UNMASK_ATTR) ? "unmask" : "mask";
}

/** rrweb `maskTextFn`: text of `el`, which rrweb calls for every text node `maskTextSelector` matches. */
export function maskText(text: string, el: MaskTarget | null, maskTextSetting: boolean): string {
  const m = marking(el);
  if (m === "unmask") return text;
  if (m === "mask") return maskAll(text);
  return maskTextSetting ? maskSensitive(text) : text;
}

function isPassword(el: MaskTarget | null): boolean {
  const type = el && typeof el.getAttribute === "function" ? el.getAttribute("type") : null;
  return !!type && type.toLowerCase() === "password";
}

/** rrweb `maskInputFn`: the recorded value of an input, textarea or select. */
export function maskInput(value: string, el: MaskTarget | null, maskAllInputs: boolean): string {
  if (isPassword(el)) return stars(value);
  const m = marking(el);
  const masked = m === "mask" || (maskAllInputs && m !== "unmask");
  return masked ? stars(value) : value;
}

type PrivacySettings = Pick<Settings, "mask_all_inputs" | "mask_text" | "block_selector">;

/** Elements not recorded: those marked `data-reel-block`, and the site's `block_selector`. */
export function blockSelector(settings: Pick<Settings, "block_selector">): string {
  const site = (settings.block_selector || "").trim();
  return site ? `${BLOCK_SELECTOR}, ${site}` : BLOCK_SELECTOR;
}

/** The privacy part of rrweb's record options for `settings`. */
export function privacyOptions(settings: PrivacySettings) {
  const maskAllInputs = settings.mask_all_inputs;
  const maskTextSetting = settings.mask_text;
  return {
    // rrweb asks `maskInputFn` about every input only with maskAllInputs on;
    // `maskInput` then applies mask_all_inputs and the markup.
    maskAllInputs: true,
    maskInputFn: (value: string, el: MaskTarget) => maskInput(value, el, maskAllInputs),
    // rrweb asks `maskTextFn` only about text under `maskTextSelector`:
    // every text when mask_text is on, else only marked text.
    maskTextSelector: maskTextSetting ? "*" : `[${MASK_ATTR}]`,
    maskTextFn: (text: string, el: MaskTarget | null) => maskText(text, el, maskTextSetting),
    blockSelector: blockSelector(settings),
  };
}

/** Settings that need a new recorder (and full snapshot) when they change. */
export function privacyKey(settings: PrivacySettings): string {
  return `${settings.mask_all_inputs ? 1 : 0}${settings.mask_text ? 1 : 0}${blockSelector(settings)}`;
}
