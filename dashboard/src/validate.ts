/**
 * Checks of what people type in the dashboard's forms, before anything is
 * sent: each says what to fix. The server checks again; these only save a
 * round trip and word the problem better.
 */

import { MIN_PASSWORD_CHARS } from './types';

export { MIN_PASSWORD_CHARS };

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = <T>(error: string): Checked<T> => ({ ok: false, error });

/** Characters as people count them (code points, so an emoji is one). */
function chars(s: string): number {
  return [...s].length;
}

/** An email address: something@something, no spaces. */
export function checkEmail(input: string): Checked<string> {
  const email = input.trim();
  if (email === '') return fail('Enter an email address.');
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) return fail(`"${email}" is not an email address.`);
  return ok(email);
}

/** A new password, and its repetition when the form asks for one. */
export function checkNewPassword(password: string, repeat?: string): Checked<string> {
  if (chars(password) < MIN_PASSWORD_CHARS) {
    return fail(`Choose a password of at least ${MIN_PASSWORD_CHARS} characters.`);
  }
  if (repeat !== undefined && repeat !== password) return fail('The two passwords differ: type the same one twice.');
  return ok(password);
}

/** A name: not blank (how long it may be is the server's to say). */
export function checkName(input: string, what = 'a name'): Checked<string> {
  const name = input.trim();
  if (name === '') return fail(`Enter ${what}.`);
  return ok(name);
}

/**
 * Allowed origins, one per line (or separated by spaces or commas):
 * `https://shop.example.com`, with a port if not the default, no path.
 * Empty: any origin. Duplicates collapse.
 */
export function parseOrigins(input: string): Checked<string[]> {
  const out: string[] = [];
  for (const item of input.split(/[\s,]+/).filter((s) => s !== '')) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      return fail(`"${item}" is not an origin: write it as https://example.com.`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      return fail(`"${item}" is not an origin: it must start with https:// or http://.`);
    }
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
      return fail(`"${item}" has more than an origin: drop the path, keeping ${url.origin}.`);
    }
    if (!out.includes(url.origin)) out.push(url.origin);
  }
  return ok(out);
}

/** A whole number of days, at least 1; blank is `null` (the caller says what that means). The server says how many at most. */
export function parseDays(input: string, what: string): Checked<number | null> {
  const text = input.trim();
  if (text === '') return ok(null);
  if (!/^\d+$/.test(text) || Number(text) < 1) return fail(`${what}: enter a whole number of days, 1 or more.`);
  return ok(Number(text));
}

/** A sampling rate typed as a percentage (0 to 100, decimals allowed), as the fraction the tracker takes. */
export function parseSamplePercent(input: string): Checked<number> {
  const text = input.trim();
  if (!/^\d+(\.\d+)?$/.test(text)) return fail('Sampling: enter a percentage from 0 to 100.');
  const percent = Number(text);
  if (percent > 100) return fail('Sampling: enter a percentage from 0 to 100.');
  return ok(Math.round(percent * 100) / 10_000);
}

/** A CSS selector of elements not to record; blank for none. Checked with the browser's parser when there is one. */
export function checkSelector(input: string, parse?: (selector: string) => void): Checked<string> {
  const selector = input.trim();
  if (selector === '' || parse === undefined) return ok(selector);
  try {
    parse(selector);
  } catch {
    return fail(`"${selector}" is not a CSS selector.`);
  }
  return ok(selector);
}

/**
 * A list typed one item per line (`redact_params`, `network_body_urls`,
 * `redact_patterns`): lines trimmed, blank ones skipped, duplicates
 * dropped. At most `maxItems` items of at most `maxBytes` bytes (UTF-8)
 * each when given; no control characters. The node checks again (and
 * says why in its 400).
 */
export function parseLines(
  input: string,
  what: string,
  bounds: { maxItems?: number; maxBytes?: number } = {},
): Checked<string[]> {
  const out: string[] = [];
  const encoder = new TextEncoder();
  for (const line of input.split(/\r?\n/)) {
    const item = line.trim();
    if (item === '') continue;
    if (/\p{Cc}/u.test(item)) return fail(`${what}: "${item}" holds a control character.`);
    if (bounds.maxBytes !== undefined && encoder.encode(item).length > bounds.maxBytes) {
      return fail(`${what}: "${item.slice(0, 40)}…" is longer than ${bounds.maxBytes} bytes.`);
    }
    if (!out.includes(item)) out.push(item);
  }
  if (bounds.maxItems !== undefined && out.length > bounds.maxItems) {
    return fail(`${what}: at most ${bounds.maxItems}, not ${out.length}.`);
  }
  return ok(out);
}
