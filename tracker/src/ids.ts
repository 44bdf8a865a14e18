// Random identifiers: visitor, tab. PROTOCOL.md: 1 to 64 characters of
// [A-Za-z0-9_-]. Sessions ids come from the server's `welcome`.

/** 64 symbols, so a random byte masked to 6 bits picks one uniformly. */
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/** 22 symbols of 6 bits: 132 random bits, more than a UUID's 122. */
export const ID_LENGTH = 22;

const ID_RULE = /^[A-Za-z0-9_-]{1,64}$/;

/** Fills an array with random bytes (crypto.getRandomValues in a browser). */
export type RandomBytes = (bytes: Uint8Array) => Uint8Array;

const cryptoBytes: RandomBytes = (bytes) => crypto.getRandomValues(bytes);

/** A new random id of `ID_LENGTH` symbols. */
export function randomId(fill: RandomBytes = cryptoBytes): string {
  const bytes = fill(new Uint8Array(ID_LENGTH));
  let id = "";
  for (let i = 0; i < ID_LENGTH; i++) id += ALPHABET[bytes[i] & 63];
  return id;
}

/** Whether a value is an id the server accepts. */
export function isId(value: unknown): value is string {
  return typeof value === "string" && ID_RULE.test(value);
}
