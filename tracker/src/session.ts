// Who is recording: the visitor (one per browser profile), the session (shared
// by every tab of the visitor, ended by 30 minutes without a batch) and the tab
// (one per browser tab, kept across page loads of that tab).
//
// Storage keys, all JSON or plain ids:
//   localStorage   reel.visitor   visitor id
//   localStorage   reel.session   {"id", "lastActivity", "sampled"}
//   localStorage   reel.settings  the last settings a server sent
//   localStorage   reel.optout    "1": reel.optOut() was called on this browser
//   sessionStorage reel.tab       tab id
//   sessionStorage reel.live      "1" while a page of this tab runs (duplicate-tab guard)
//   sessionStorage reel.pending   the resend buffer (see buffer.ts)

import { isId } from "./ids";
import { type KV, parseJSON } from "./storage";

export const KEYS = {
  visitor: "reel.visitor",
  session: "reel.session",
  settings: "reel.settings",
  tab: "reel.tab",
  live: "reel.live",
  pending: "reel.pending",
  optOut: "reel.optout",
} as const;

/** A session ends after this long without a batch (PROTOCOL.md defaults). */
export const SESSION_IDLE_MS = 30 * 60 * 1000;

export interface SessionRecord {
  id: string;
  /** When the last batch of any tab was cut, ms since the epoch. */
  lastActivity: number;
  /** The sampling decision, taken once per session from `welcome.settings.sample_rate`. */
  sampled: boolean;
}

/** The visitor id, created and stored on first use. */
export function visitorId(local: KV, newId: () => string): string {
  const stored = local.get(KEYS.visitor);
  if (isId(stored)) return stored;
  const id = newId();
  local.set(KEYS.visitor, id);
  return id;
}

/** The stored session record, whatever its age; null when missing or malformed. */
export function readSession(local: KV): SessionRecord | null {
  const v = parseJSON(local.get(KEYS.session)) as Partial<SessionRecord> | null;
  if (!v || !isId(v.id) || typeof v.lastActivity !== "number" || typeof v.sampled !== "boolean") {
    return null;
  }
  return { id: v.id, lastActivity: v.lastActivity, sampled: v.sampled };
}

/**
 * The session a page load continues: the stored one if it was active within
 * `SESSION_IDLE_MS`, else null (the `hello` then says `session: null`).
 */
export function currentSession(local: KV, now: number): SessionRecord | null {
  const s = readSession(local);
  return s && now - s.lastActivity <= SESSION_IDLE_MS ? s : null;
}

export function saveSession(local: KV, session: SessionRecord): void {
  local.set(KEYS.session, JSON.stringify(session));
}

/** Forgets the stored session if it is `id` (another tab may have moved on). */
export function forgetSession(local: KV, id: string): void {
  if (readSession(local)?.id === id) local.remove(KEYS.session);
}

export type Touch = "ok" | "expired" | "replaced";

/**
 * Records activity of session `id` at `now` (a batch was cut). "expired": it
 * was idle longer than `SESSION_IDLE_MS`, so it is over and a new one must
 * start. "replaced": another tab started a newer session; the record is left
 * alone so that tabs do not overwrite each other, and this tab keeps its own
 * session until its next page load.
 */
export function touchSession(local: KV, id: string, now: number): Touch {
  const s = readSession(local);
  if (s && s.id !== id) return now - s.lastActivity <= SESSION_IDLE_MS ? "replaced" : "expired";
  if (s && now - s.lastActivity > SESSION_IDLE_MS) return "expired";
  saveSession(local, { id, lastActivity: Math.max(now, s?.lastActivity ?? 0), sampled: s?.sampled ?? true });
  return "ok";
}

/**
 * The id of this tab, kept in sessionStorage so that it survives page loads
 * of the tab but not new tabs. Browsers copy sessionStorage into a
 * duplicated tab, so a page that finds the `reel.live` mark of a page that
 * never went away (its `pagehide` removes the mark) takes a new tab id:
 * `fresh` then tells the caller to drop the copied resend buffer.
 */
export function claimTab(session: KV, newId: () => string): { id: string; fresh: boolean } {
  const stored = session.get(KEYS.tab);
  const duplicate = session.get(KEYS.live) !== null;
  let id: string;
  let fresh = false;
  if (isId(stored) && !duplicate) {
    id = stored;
  } else {
    id = newId();
    fresh = true;
    session.set(KEYS.tab, id);
  }
  session.set(KEYS.live, "1");
  return { id, fresh };
}

/** The page is going away (pagehide): the next page of this tab may keep its id. */
export function releaseTab(session: KV): void {
  session.remove(KEYS.live);
}
