import type { SessionResult } from './session';
import type { LiveClientMessage, LiveServerMessage, Presence } from './types';

/**
 * The live socket (PROTOCOL.md §4): `GET /v1/live` upgraded to a WebSocket,
 * authenticated by the `reel_session` cookie. One text frame holds one JSON
 * message. The client subscribes (`presence`, `watch`); the subscriptions are
 * sent again on every (re)connection, and the server answers each with a
 * fresh start (a `presence_snapshot`, a watch's first `events`).
 *
 * This module knows nothing of the DOM: the WebSocket, the clock and the
 * cookie are passed in, so it runs under node:test with fakes.
 */

/** The part of a browser `WebSocket` the client uses. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

/** `WebSocket.OPEN`. */
const OPEN = 1;

/** The page's URL of the live socket: same host, `wss:` under https. */
export function liveUrl(location: { protocol: string; host: string }): string {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/live';
}

/** Timers and time, passed in so tests can drive them. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Reconnection delays. */
export interface Backoff {
  /** Ceiling of the first retry's delay. */
  initialMs: number;
  /** Largest ceiling. */
  maxMs: number;
  /** A connection open at least this long counts as healthy: the next retry starts from the first delay again. */
  stableMs: number;
}

export const BACKOFF: Backoff = { initialMs: 1_000, maxMs: 30_000, stableMs: 10_000 };

/**
 * The delay before retry number `attempt` (0 first): the ceiling doubles from
 * `initialMs` up to `maxMs`, and the delay is drawn between half the ceiling
 * and the ceiling, so that many dashboards cut off together do not come back
 * together.
 */
export function backoffDelay(attempt: number, random: () => number, backoff: Backoff = BACKOFF): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Where the connection is, for the page's status line. */
export type ConnectionState =
  | { state: 'connecting'; attempt: number }
  | { state: 'open' }
  | { state: 'retrying'; attempt: number; retryAt: number }
  | { state: 'unauthorized' }
  | { state: 'closed' };

export interface LiveSocketOptions {
  url: string;
  /** Opens a socket (`url => new WebSocket(url)` in the browser). */
  connect(url: string): SocketLike;
  /**
   * Checks the sign-in before a connection; `refresh` after a connection
   * failed to open (the sign-in may have expired: ask `GET /api/v1/me`). `unauthorized` stops the client for good.
   */
  authorize(refresh: boolean): Promise<SessionResult>;
  onMessage(message: LiveServerMessage): void;
  onState?(state: ConnectionState): void;
  /**
   * Called on every open, before the subscriptions go out again: the page
   * marks what it shows as stale until the server's fresh answers arrive.
   * `reconnected` is false the first time.
   */
  onOpen?(reconnected: boolean): void;
  clock?: Clock;
  random?: () => number;
  backoff?: Backoff;
}

/** One subscription per site or session. */
function subscriptionKey(message: LiveClientMessage): string {
  switch (message.t) {
    case 'presence':
      return `presence:${message.site}`;
    case 'watch':
    case 'unwatch':
      return `watch:${message.session}`;
  }
}

/** The live socket with reconnection and subscriptions that survive it. */
export class LiveSocket {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: Backoff;
  private readonly subscriptions = new Map<string, LiveClientMessage>();
  private socket: SocketLike | null = null;
  private timer: unknown = null;
  private started = false;
  private stopped = false;
  /** Retries since the last healthy connection. */
  private attempt = 0;
  private everOpened = false;
  /** The last connection never opened: ask for the cookie again first. */
  private refreshAuth = false;
  private stateNow: ConnectionState = { state: 'closed' };

  constructor(private readonly options: LiveSocketOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? BACKOFF;
  }

  get state(): ConnectionState {
    return this.stateNow;
  }

  get isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === OPEN && this.stateNow.state === 'open';
  }

  /** Connects (once; later calls do nothing). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    void this.connect();
  }

  /**
   * Adds a subscription (`presence` or `watch`): sent now if the socket is
   * open, and again on every reconnection until `unsubscribe`.
   */
  subscribe(message: LiveClientMessage): void {
    this.subscriptions.set(subscriptionKey(message), message);
    this.send(message);
  }

  /**
   * Drops a subscription so that reconnections no longer send it; `farewell`
   * (an `unwatch`) is sent if the socket is open.
   */
  unsubscribe(message: LiveClientMessage, farewell?: LiveClientMessage): void {
    this.subscriptions.delete(subscriptionKey(message));
    if (farewell) this.send(farewell);
  }

  /** Sends a message if the socket is open; false otherwise. */
  send(message: LiveClientMessage): boolean {
    if (!this.isOpen) return false;
    try {
      this.socket!.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  /** Skips the wait before the next retry (the browser is back online, say). */
  retryNow(): void {
    if (this.stopped || this.stateNow.state !== 'retrying') return;
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    void this.connect();
  }

  /** Closes for good: no more reconnections. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      try {
        socket.close(1000, 'page closed');
      } catch {
        // Closing a socket that never opened may throw in some browsers.
      }
    }
    this.setState({ state: 'closed' });
  }

  private setState(state: ConnectionState): void {
    this.stateNow = state;
    this.options.onState?.(state);
  }

  private async connect(): Promise<void> {
    this.setState({ state: 'connecting', attempt: this.attempt });
    const auth = await this.options.authorize(this.refreshAuth).catch((): SessionResult => 'failed');
    if (this.stopped) return;
    if (auth === 'unauthorized') {
      this.stopped = true;
      this.setState({ state: 'unauthorized' });
      return;
    }
    // 'failed' (no answer): try the socket anyway; if it does not open
    // either, the next attempt asks for the cookie again.
    this.refreshAuth = false;
    let socket: SocketLike;
    try {
      socket = this.options.connect(this.options.url);
    } catch {
      this.refreshAuth = true;
      this.retryLater();
      return;
    }
    this.socket = socket;
    let openedAt: number | null = null;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      openedAt = this.clock.now();
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.setState({ state: 'open' });
      this.options.onOpen?.(reconnected);
      for (const message of [...this.subscriptions.values()]) this.send(message);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      const message = parseLiveMessage(event.data);
      if (message) this.options.onMessage(message);
    };
    socket.onerror = () => {
      // A close event follows; it decides.
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (openedAt === null) this.refreshAuth = true;
      else if (this.clock.now() - openedAt >= this.backoff.stableMs) this.attempt = 0;
      this.retryLater();
    };
  }

  private retryLater(): void {
    const delay = backoffDelay(this.attempt, this.random, this.backoff);
    this.attempt++;
    this.setState({ state: 'retrying', attempt: this.attempt, retryAt: this.clock.now() + delay });
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (!this.stopped) void this.connect();
    }, delay);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for a `P` of the protocol (the fields the dashboard relies on). */
export function isPresence(value: unknown): value is Presence {
  return (
    isObject(value) &&
    typeof value.session === 'string' &&
    typeof value.visitor === 'string' &&
    typeof value.started_at === 'number' &&
    typeof value.last_activity_at === 'number'
  );
}

/**
 * Parses one frame; null for what is not a server message of §4 (a binary
 * frame, bad JSON, an unknown `t`, missing fields), which the client ignores.
 * Presences in a snapshot that lack the needed fields are left out.
 */
export function parseLiveMessage(data: unknown): LiveServerMessage | null {
  if (typeof data !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isObject(value)) return null;
  const v = value;
  switch (v.t) {
    case 'presence_snapshot':
      if (typeof v.site !== 'number' || !Array.isArray(v.sessions)) return null;
      return { t: 'presence_snapshot', site: v.site, sessions: v.sessions.filter(isPresence) };
    case 'presence_join':
    case 'presence_update':
      if (typeof v.site !== 'number' || !isPresence(v.session)) return null;
      return { t: v.t, site: v.site, session: v.session };
    case 'presence_leave':
      if (typeof v.site !== 'number' || typeof v.session !== 'string') return null;
      return { t: 'presence_leave', site: v.site, session: v.session };
    case 'events':
      if (typeof v.session !== 'string' || typeof v.tab !== 'string' || !Array.isArray(v.events)) return null;
      return { t: 'events', session: v.session, tab: v.tab, events: v.events };
    case 'watch_ended':
      if (typeof v.session !== 'string') return null;
      return { t: 'watch_ended', session: v.session, reason: typeof v.reason === 'string' ? v.reason : '' };
    case 'error':
      return {
        t: 'error',
        code: typeof v.code === 'string' ? v.code : 'error',
        message: typeof v.message === 'string' ? v.message : '',
      };
    default:
      return null;
  }
}

/** The connection in a few words, for the live pages' status lines. */
export function describeConnection(state: ConnectionState, now: number): string {
  switch (state.state) {
    case 'connecting':
      return state.attempt === 0 ? 'Connecting…' : 'Reconnecting…';
    case 'open':
      return 'Connected';
    case 'retrying': {
      const s = Math.max(1, Math.ceil((state.retryAt - now) / 1000));
      return `Connection lost; reconnecting in ${s}s…`;
    }
    case 'unauthorized':
      return 'Signed out: sign in again.';
    case 'closed':
      return 'Disconnected.';
  }
}
