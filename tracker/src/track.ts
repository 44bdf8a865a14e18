// `reel.track(name, props)` (PROTOCOL.md §7): a custom event (type 5)
// tagged "track", `{"name","props"}`, checked here so that a wrong call is
// dropped with a console warning instead of reaching the server.

import { serverOrigin } from "./network";
import { utf8Bytes } from "./utf8";

export const MAX_TRACK_NAME_BYTES = 128;
export const MAX_TRACK_PROPS = 50;
/** One property name, in bytes. */
export const MAX_TRACK_KEY_BYTES = 128;
/** One string property value, in bytes. */
export const MAX_TRACK_VALUE_BYTES = 1024;

export type TrackProps = Record<string, string | number | boolean>;

export interface TrackPayload {
  name: string;
  props: TrackProps;
}


/** The event's payload, or why the call is refused (the warning's text). */
export function trackPayload(name: unknown, props?: unknown): TrackPayload | string {
  if (typeof name !== "string" || name.length === 0 || utf8Bytes(name) > MAX_TRACK_NAME_BYTES) {
    return `reel: track: the name must be 1 to ${MAX_TRACK_NAME_BYTES} bytes`;
  }
  if (props === undefined || props === null) return { name, props: {} };
  const entries = typeof props === "object" && !Array.isArray(props) ? Object.entries(props as Record<string, unknown>) : null;
  if (!entries || entries.length > MAX_TRACK_PROPS) return `reel: track ${name}: props must be an object of at most ${MAX_TRACK_PROPS}`;
  const out: TrackProps = {};
  for (const [k, v] of entries) {
    const ok =
      k.length > 0 &&
      utf8Bytes(k) <= MAX_TRACK_KEY_BYTES &&
      (typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)) || (typeof v === "string" && utf8Bytes(v) <= MAX_TRACK_VALUE_BYTES));
    if (!ok) return `reel: track ${name}: bad prop ${k}`;
    out[k] = v as string | number | boolean;
  }
  return { name, props: out };
}

/**
 * The dashboard page of `session` on the reel server behind the ws(s)
 * `endpoint` (PROTOCOL.md §7): its live view while `live` (this page's
 * tracker is connected), its replay otherwise.
 */
export function sessionUrl(endpoint: string, session: string | null, live: boolean): string | null {
  const origin = serverOrigin(endpoint);
  return session && origin ? `${origin}/app/#/${live ? "live" : "sessions"}/${session}` : null;
}
