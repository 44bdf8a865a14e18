// One UTF-8 byte count for every bound the tracker checks.

const encoder = new TextEncoder();

/** `s`'s length in UTF-8 bytes; Infinity for a string too long to encode at once. */
export const utf8Bytes = (s: string): number => (s.length * 3 <= 0x7fffffff ? encoder.encode(s).length : Infinity);

/** `s` as UTF-8. */
export const utf8 = (s: string): Uint8Array => encoder.encode(s);
