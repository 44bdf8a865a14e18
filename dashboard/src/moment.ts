import { hashOf, sessionPath } from './route';

/**
 * Links to a moment of a replay: `#/sessions/{id}?t=MS`, MS being
 * milliseconds from the start of the recording (the player's 0:00).
 */

/** The `t` of a replay's query: a whole number of ms, null when absent or malformed. */
export function parseMoment(query: URLSearchParams): number | null {
  const t = query.get('t');
  if (t === null || !/^\d{1,12}$/.test(t)) return null;
  return Number(t);
}

/**
 * The full URL of the replay at `offsetMs`, keeping the tab choice of
 * `query` (`tab` or `all`) and dropping the rest.
 */
export function momentUrl(
  location: { origin: string; pathname: string; search?: string },
  sessionId: string,
  offsetMs: number,
  query: URLSearchParams = new URLSearchParams(),
): string {
  const q = new URLSearchParams();
  const tab = query.get('tab');
  if (tab) q.set('tab', tab);
  else if (query.get('all') === '1') q.set('all', '1');
  q.set('t', String(Math.max(0, Math.round(offsetMs))));
  return `${location.origin}${location.pathname}${location.search ?? ''}${hashOf(sessionPath(sessionId), q)}`;
}
