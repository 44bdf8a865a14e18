import type { LiveServerMessage, Presence } from './types';

/**
 * Who is on a site now, as the live socket tells it (PROTOCOL.md §4): a
 * `presence_snapshot` first, then `presence_join`, `presence_update` and
 * `presence_leave`. A pure reducer: the live page keeps one state and
 * renders it after each message.
 */
export interface PresenceState {
  readonly site: number;
  /**
   * True once the snapshot of the current subscription has arrived. After a
   * reconnection the last list stays on screen (stale) until the fresh
   * snapshot replaces it.
   */
  readonly synced: boolean;
  /** Live sessions by id. */
  readonly sessions: ReadonlyMap<string, Presence>;
}

export function initialPresence(site: number): PresenceState {
  return { site, synced: false, sessions: new Map() };
}

/** The subscription was sent again (a new connection): wait for its snapshot. */
export function resubscribed(state: PresenceState): PresenceState {
  return state.synced ? { ...state, synced: false } : state;
}

/**
 * Applies one server message. Returns the same object when nothing changed:
 * messages of other sites or other kinds, and changes that arrive before
 * the snapshot (the snapshot comes first and supersedes them).
 */
export function reducePresence(state: PresenceState, message: LiveServerMessage): PresenceState {
  switch (message.t) {
    case 'presence_snapshot': {
      if (message.site !== state.site) return state;
      const sessions = new Map<string, Presence>();
      for (const p of message.sessions) sessions.set(p.session, p);
      return { site: state.site, synced: true, sessions };
    }
    case 'presence_join':
    case 'presence_update': {
      if (message.site !== state.site || !state.synced) return state;
      // An update of a session not in the list adds it, a join of one
      // already there replaces it: the latest word wins either way.
      const sessions = new Map(state.sessions);
      sessions.set(message.session.session, message.session);
      return { ...state, sessions };
    }
    case 'presence_leave': {
      if (message.site !== state.site || !state.synced || !state.sessions.has(message.session)) return state;
      const sessions = new Map(state.sessions);
      sessions.delete(message.session);
      return { ...state, sessions };
    }
    default:
      return state;
  }
}

/** The list in display order: newest session first, so rows do not jump as visitors act. */
export function sortedPresence(state: PresenceState): Presence[] {
  return [...state.sessions.values()].sort(
    (a, b) => b.started_at - a.started_at || (a.session < b.session ? -1 : a.session > b.session ? 1 : 0),
  );
}

/** How a row names the visitor: the site's user id when identified. */
export function presenceWho(p: Presence): { label: string; identified: boolean } {
  return p.user_id ? { label: p.user_id, identified: true } : { label: `visitor ${p.visitor}`, identified: false };
}
