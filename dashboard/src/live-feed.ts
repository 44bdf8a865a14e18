import { EventType, type LiveServerMessage, type RRwebEvent } from './types';

/**
 * The live player's logic, without the DOM: it takes the live socket's
 * messages for one watched session and says what the player must do
 * (`LiveAction`s). The page applies them to rrweb-player in live mode.
 *
 * Per tab it keeps what a new player needs to start: the tab's latest Meta
 * and FullSnapshot and every event after them. The first `events` message
 * of a tab after `watch` begins with exactly that (PROTOCOL.md §4).
 *
 * Time. rrweb's live mode (`replayer.startLive(baseline)`) plays an event of
 * timestamp T at `T - baseline` ms after `startLive`, and at once if T is
 * before `baseline`. Timestamps are the visitor's clock, so the feed never
 * compares them with ours directly: it estimates the visitor's "now" from
 * the newest timestamp seen and how long ago it arrived (a lower bound, as
 * events arrive after they happen), starts the player `LIVE_BUFFER_MS`
 * behind that estimate, so that events batched by the tracker (one batch a
 * second) play at their own pace rather than in bursts, and the Meta and
 * FullSnapshot are always applied at once. If events then turn out to be
 * due further ahead than the buffer (the estimate was low: the tab had been
 * idle), it moves the player's clock forward (`advance`) instead of
 * lagging.
 */

/** How far the player runs behind the visitor: about one tracker batch. */
export const LIVE_BUFFER_MS = 1_000;
/** Lead beyond the buffer tolerated before moving the player's clock forward. */
export const CATCH_UP_SLACK_MS = 1_000;
/** Events kept for a tab that has sent no full snapshot yet. */
export const MAX_WAITING_EVENTS = 5_000;

/** What the page does with the player. */
export type LiveAction =
  /** Create the player for `tab` (replacing any): `events` begin with the Meta and FullSnapshot; call `startLive(baseline)` and add them. */
  | { kind: 'start'; tab: string; events: RRwebEvent[]; baseline: number }
  /** Add events to the running player. */
  | { kind: 'add'; tab: string; events: RRwebEvent[] }
  /** Move the running player's clock forward by `ms`. */
  | { kind: 'advance'; ms: number }
  /** Remove the player: the shown tab has no page to show yet. */
  | { kind: 'stop' }
  /** The tab list or the shown tab changed. */
  | { kind: 'tabs' }
  /** A tab's page changed (a Meta event). */
  | { kind: 'url'; tab: string; href: string }
  /** The server ended the watch: `session_ended`, `too_slow`, `node_lost`, ... */
  | { kind: 'ended'; reason: string }
  /** The server refused a request. */
  | { kind: 'error'; code: string; message: string };

/** A tab as the tab switcher shows it. */
export interface TabView {
  id: string;
  /** 1, 2, ... in the order the tabs were first seen. */
  index: number;
  /** The tab's current page (latest Meta's `href`), null before one. */
  href: string | null;
  /** The tab has a full snapshot: it can be shown. */
  ready: boolean;
  shown: boolean;
}

interface TabFeed {
  id: string;
  index: number;
  /** What a new player starts from: [Meta,] FullSnapshot, later events. */
  events: RRwebEvent[];
  ready: boolean;
  href: string | null;
  /** Newest event timestamp (the visitor's clock). */
  lastTs: number;
  /** Newest user interaction or page load (the visitor's clock): what "the active tab" means. */
  activeTs: number;
  /** Local time the tab's last events arrived. */
  lastArrival: number | null;
  /** The next message is the tab's first since `watch`: it starts over. */
  fresh: boolean;
}

interface PlayerClock {
  tab: string;
  /** Local time `startLive` was called. */
  startedAt: number;
  baseline: number;
  /** Total `advance` so far. */
  advance: number;
}

/** `IncrementalSnapshot` sources that only a person at the tab makes. */
const INTERACTION_SOURCES = new Set([
  1, // MouseMove
  2, // MouseInteraction
  5, // Input
  6, // TouchMove
  12, // Drag
]);

function isInteraction(event: RRwebEvent): boolean {
  if (event.type !== EventType.IncrementalSnapshot) return false;
  const source = (event.data as { source?: unknown } | undefined)?.source;
  return typeof source === 'number' && INTERACTION_SOURCES.has(source);
}

function metaHref(event: RRwebEvent): string | null {
  const href = (event.data as { href?: unknown } | undefined)?.href;
  return typeof href === 'string' ? href : null;
}

/** The rrweb events of a message (objects with a numeric `type` and `timestamp`). */
function asEvents(values: unknown[]): RRwebEvent[] {
  return values.filter(
    (v): v is RRwebEvent =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as RRwebEvent).type === 'number' &&
      typeof (v as RRwebEvent).timestamp === 'number',
  );
}

export class LiveFeed {
  private readonly tabs = new Map<string, TabFeed>();
  private shownId: string | null = null;
  private follow = true;
  private player: PlayerClock | null = null;
  /** Largest (event timestamp - local arrival time) seen: the visitor's clock minus ours, at least. */
  private offset: number | null = null;
  private endedReason: string | null = null;

  constructor(readonly session: string) {}

  /** The tab on screen, null before any. */
  get shown(): string | null {
    return this.shownId;
  }

  /** True while the shown tab follows the visitor (the default), false once a tab was picked. */
  get following(): boolean {
    return this.follow;
  }

  /** Why the watch ended, null while it runs. */
  get ended(): string | null {
    return this.endedReason;
  }

  /** True while a player runs for the shown tab on this watch's events. */
  get playing(): boolean {
    return this.player !== null;
  }

  /** The shown tab's current page. */
  get href(): string | null {
    return this.shownId === null ? null : (this.tabs.get(this.shownId)?.href ?? null);
  }

  /** Local time the shown tab's last events arrived. */
  get lastArrival(): number | null {
    return this.shownId === null ? null : (this.tabs.get(this.shownId)?.lastArrival ?? null);
  }

  tabList(): TabView[] {
    return [...this.tabs.values()]
      .sort((a, b) => a.index - b.index)
      .map((t) => ({ id: t.id, index: t.index, href: t.href, ready: t.ready, shown: t.id === this.shownId }));
  }

  /**
   * The watch was (re)sent: a new connection or "watch again". Each tab's
   * next message starts it over. The page keeps the old player on screen
   * until then, but `playing` is false: it is not live any more.
   */
  rewatch(): void {
    this.endedReason = null;
    this.player = null;
    for (const tab of this.tabs.values()) tab.fresh = true;
  }

  /** One message of the live socket, at local time `now`. */
  receive(message: LiveServerMessage, now: number): LiveAction[] {
    switch (message.t) {
      case 'events':
        if (message.session !== this.session || this.endedReason !== null) return [];
        return this.onEvents(message.tab, asEvents(message.events), now);
      case 'watch_ended':
        if (message.session !== this.session) return [];
        this.endedReason = message.reason;
        return [{ kind: 'ended', reason: message.reason }];
      case 'error':
        return [{ kind: 'error', code: message.code, message: message.message }];
      default:
        return [];
    }
  }

  /** Shows a tab the person picked, or (null) goes back to following the visitor. */
  select(tabId: string | null, now: number): LiveAction[] {
    if (tabId === null) {
      this.follow = true;
      let best: TabFeed | null = null;
      for (const t of this.tabs.values()) if (t.ready && (!best || t.activeTs > best.activeTs)) best = t;
      if (!best || best.id === this.shownId) return [{ kind: 'tabs' }];
      return this.show(best, now);
    }
    const tab = this.tabs.get(tabId);
    if (!tab) return [];
    this.follow = false;
    if (tab.id === this.shownId) return [{ kind: 'tabs' }];
    return this.show(tab, now);
  }

  private show(tab: TabFeed, now: number): LiveAction[] {
    this.shownId = tab.id;
    this.player = null;
    if (tab.ready) return [{ kind: 'tabs' }, this.start(tab, now)];
    return [{ kind: 'tabs' }, { kind: 'stop' }];
  }

  private onEvents(tabId: string, events: RRwebEvent[], now: number): LiveAction[] {
    const actions: LiveAction[] = [];
    let tab = this.tabs.get(tabId);
    if (!tab) {
      tab = {
        id: tabId,
        index: this.tabs.size + 1,
        events: [],
        ready: false,
        href: null,
        lastTs: -Infinity,
        activeTs: -Infinity,
        lastArrival: null,
        fresh: true,
      };
      this.tabs.set(tabId, tab);
      actions.push({ kind: 'tabs' });
    }
    if (events.length === 0) return actions;

    const first = tab.fresh;
    tab.fresh = false;
    if (first) {
      tab.events = [];
      tab.ready = false;
    }
    const wasReady = tab.ready;
    let maxTs = -Infinity;
    for (const e of events) if (e.timestamp > maxTs) maxTs = e.timestamp;
    this.offset = this.offset === null ? maxTs - now : Math.max(this.offset, maxTs - now);
    tab.lastTs = Math.max(tab.lastTs, maxTs);
    tab.lastArrival = now;

    const hrefBefore = tab.href;
    let pageLoad = false;
    let interaction = false;
    for (const e of events) {
      if (e.type === EventType.Meta) {
        tab.href = metaHref(e) ?? tab.href;
        tab.activeTs = Math.max(tab.activeTs, e.timestamp);
        if (!first) pageLoad = true;
      } else if (isInteraction(e)) {
        tab.activeTs = Math.max(tab.activeTs, e.timestamp);
        interaction = true;
      }
      this.keep(tab, e);
    }
    if (tab.href !== null && tab.href !== hrefBefore) actions.push({ kind: 'url', tab: tab.id, href: tab.href });
    if (!tab.ready) return actions;

    if (tab.id === this.shownId) {
      if (first || !this.player || !wasReady) actions.push(this.start(tab, now));
      else actions.push(...this.catchUp(maxTs, now), { kind: 'add', tab: tab.id, events });
    } else if (this.follow && this.shouldFollow(tab, first, pageLoad, interaction)) {
      this.shownId = tab.id;
      actions.push({ kind: 'tabs' }, this.start(tab, now));
    }
    return actions;
  }

  /**
   * Following the visitor: show `tab` (which just sent events) if nothing
   * is shown, or the visitor acts or loads a page in it, or (its first
   * message, a catch-up) it was active more recently than the shown tab.
   * Background tabs that only change their DOM do not take the screen.
   */
  private shouldFollow(tab: TabFeed, first: boolean, pageLoad: boolean, interaction: boolean): boolean {
    const shown = this.shownId === null ? undefined : this.tabs.get(this.shownId);
    if (!shown || !shown.ready) return true;
    if (first) return tab.activeTs > shown.activeTs;
    return pageLoad || interaction;
  }

  /** Adds an event to what a new player would start from. */
  private keep(tab: TabFeed, event: RRwebEvent): void {
    if (event.type === EventType.FullSnapshot) {
      // A new start point: the Meta that announced this page (if it came
      // since the previous snapshot) and the snapshot.
      let meta: RRwebEvent | null = null;
      for (let i = tab.events.length - 1; i >= 0; i--) {
        const type = tab.events[i]!.type;
        if (type === EventType.Meta) {
          meta = tab.events[i]!;
          break;
        }
        if (type === EventType.FullSnapshot) break;
      }
      tab.events = meta ? [meta, event] : [event];
      tab.ready = true;
      return;
    }
    tab.events.push(event);
    if (!tab.ready && tab.events.length > MAX_WAITING_EVENTS) {
      tab.events.splice(0, tab.events.length - MAX_WAITING_EVENTS);
    }
  }

  private start(tab: TabFeed, now: number): LiveAction {
    const snapshot = tab.events.find((e) => e.type === EventType.FullSnapshot)!;
    const estimate = now + (this.offset ?? tab.lastTs - now);
    const baseline = Math.max(snapshot.timestamp + 1, estimate - LIVE_BUFFER_MS);
    this.player = { tab: tab.id, startedAt: now, baseline, advance: 0 };
    return { kind: 'start', tab: tab.id, events: [...tab.events], baseline };
  }

  /** Moves the player's clock forward if events of time `maxTs` would play later than the buffer allows. */
  private catchUp(maxTs: number, now: number): LiveAction[] {
    const p = this.player;
    if (!p) return [];
    const due = p.startedAt + (maxTs - p.baseline) - p.advance;
    const lead = due - now;
    if (lead <= LIVE_BUFFER_MS + CATCH_UP_SLACK_MS) return [];
    const ms = lead - LIVE_BUFFER_MS;
    p.advance += ms;
    return [{ kind: 'advance', ms }];
  }
}
