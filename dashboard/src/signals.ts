import type { FlagFilter } from './filters';
import type { LiveSignals, SessionInfo } from './types';

/**
 * What went wrong for a visitor (PROTOCOL.md §7), as badges: on a session
 * row (from the session's counters) and on a live row (from its presence
 * entry's `signals`, updated while it happens). Pure: the pages turn a
 * `Badge` into an element with `badgeElement` in `signal-badges.ts`.
 */

export type SignalKind = 'console_errors' | 'failed_requests' | 'rage_clicks' | 'dead_clicks';

export interface Badge {
  kind: SignalKind | 'track';
  /** What the badge says: `3 rage clicks`. */
  label: string;
  /** The count, or the number of distinct track names. */
  count: number;
  /** A longer word for the tooltip. */
  title: string;
  /** The list filter that finds sessions like this one, when there is one. */
  filter: FlagFilter | null;
}

/** Every signal in the order the badges show them, with its words. */
export const SIGNALS: readonly { kind: SignalKind; one: string; many: string; title: string; filter: FlagFilter }[] = [
  { kind: 'rage_clicks', one: 'rage click', many: 'rage clicks', title: '3 or more clicks within 1 s in one spot', filter: 'has_rage_clicks' },
  {
    kind: 'dead_clicks',
    one: 'dead click',
    many: 'dead clicks',
    title: 'clicks that changed nothing: no page change, navigation or request within 1 s',
    filter: 'has_dead_clicks',
  },
  {
    kind: 'failed_requests',
    one: 'failed request',
    many: 'failed requests',
    title: 'requests answered with 500 or more, or that got no answer',
    filter: 'has_failed_requests',
  },
  { kind: 'console_errors', one: 'error', many: 'errors', title: 'console errors and uncaught errors', filter: 'has_errors' },
];

/** Badges for the signals that are not zero, in `SIGNALS` order. */
export function signalBadges(signals: Partial<LiveSignals> | null | undefined): Badge[] {
  const out: Badge[] = [];
  for (const s of SIGNALS) {
    const count = signals?.[s.kind] ?? 0;
    if (typeof count !== 'number' || !(count > 0)) continue;
    out.push({ kind: s.kind, count, label: `${count} ${count === 1 ? s.one : s.many}`, title: s.title, filter: s.filter });
  }
  return out;
}

/**
 * A session row's or a live row's badges: its signals, then its track event
 * names (one badge for all). A live row passes its presence entry's
 * `signals`, which carry the names too (from nodes that send them).
 */
export function sessionBadges(
  s: Partial<Pick<SessionInfo, 'console_errors' | 'failed_requests' | 'rage_clicks' | 'dead_clicks' | 'track_events'>>,
): Badge[] {
  const badges = signalBadges(s);
  const names = Array.isArray(s.track_events) ? s.track_events.filter((n) => typeof n === 'string') : [];
  if (names.length > 0) {
    badges.push({
      kind: 'track',
      count: names.length,
      label: names.length === 1 ? names[0]! : `${names.length} events`,
      title: `reel.track events: ${names.join(', ')}`,
      filter: null,
    });
  }
  return badges;
}

/** True when the visitor is having trouble: something a live row should flag. */
export function isFlagged(signals: Partial<LiveSignals> | null | undefined): boolean {
  return signalBadges(signals).length > 0;
}
