import { ABORTED_ERRORS, FAILED_STATUS } from '../../protocol/ts/protocol';
import { asRecord, customText, decodeConsoleArgs, str, truncate } from './markers';
import { EventType, type RRwebEvent } from './types';

/**
 * The devtools tabs beside the replay: console lines (rrweb's console
 * plugin, `rrweb/console@1`, and the page's uncaught errors, custom
 * `error` events, as a browser's console shows them) and network requests
 * (`reel/network@1`, PROTOCOL.md §7), one row each.
 */

export const CONSOLE_PLUGIN = 'rrweb/console@1';
export const NETWORK_PLUGIN = 'reel/network@1';

/** Longest console line shown, characters. */
const MAX_LINE = 2000;

export interface ConsoleRow {
  timestamp: number;
  /** `log`, `info`, `warn`, `error`, `debug`, … as the plugin recorded it. */
  level: string;
  /** The arguments, decoded and joined with spaces. */
  text: string;
  /** The call's stack, when recorded. */
  trace: string[];
}

export interface NetworkRow {
  /** When the request started, ms since the epoch. */
  timestamp: number;
  method: string;
  url: string;
  /** HTTP status; 0 for none (network error, beacon). */
  status: number;
  durationMs: number | null;
  requestBytes: number | null;
  responseBytes: number | null;
  initiator: string;
  error: string | null;
  /** Failed: status >= 500 or a network error (as the session's `failed_requests`). */
  failed: boolean;
  requestBody: string | null;
  responseBody: string | null;
}

/** The console row of an event, or null. */
export function consoleRowOf(event: RRwebEvent): ConsoleRow | null {
  if (event.type === EventType.Custom) return uncaughtRowOf(event);
  if (event.type !== EventType.Plugin) return null;
  const data = asRecord(event.data);
  if (data?.plugin !== CONSOLE_PLUGIN) return null;
  const payload = asRecord(data.payload);
  if (!payload) return null;
  const args = Array.isArray(payload.payload) ? decodeConsoleArgs(payload.payload) : [];
  return {
    timestamp: event.timestamp,
    level: str(payload.level) ?? 'log',
    text: truncate(args.join(' '), MAX_LINE),
    trace: Array.isArray(payload.trace) ? payload.trace.filter((t): t is string => typeof t === 'string') : [],
  };
}

/**
 * An uncaught error or unhandled rejection (a custom `error` event,
 * `{"message","stack",...}`) as an `error` line: its message, its stack's
 * frames as the trace. The tracker records these once, here, not also as
 * console plugin lines.
 */
function uncaughtRowOf(event: RRwebEvent): ConsoleRow | null {
  const data = asRecord(event.data);
  if (data?.tag !== 'error') return null;
  const p = asRecord(data.payload);
  const stack = str(p?.stack) ?? '';
  return {
    timestamp: event.timestamp,
    level: 'error',
    text: truncate(str(p?.message) ?? customText(data.payload), MAX_LINE),
    trace: stack
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('at ') || l.includes('@')),
  };
}

/**
 * A request failed: a status of 500 or more, or a network error that the
 * page did not cause by cancelling it (as the session's `failed_requests`).
 */
export function isFailedRequest(status: number, error: string | null): boolean {
  return status >= FAILED_STATUS || (error !== null && error !== '' && !ABORTED_ERRORS.includes(error));
}

/** The network row of an event, or null. */
export function networkRowOf(event: RRwebEvent): NetworkRow | null {
  if (event.type !== EventType.Plugin) return null;
  const data = asRecord(event.data);
  if (data?.plugin !== NETWORK_PLUGIN) return null;
  const p = asRecord(data.payload);
  if (!p) return null;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const status = num(p.status) ?? 0;
  const error = str(p.error) ?? null;
  return {
    timestamp: num(p.start) ?? event.timestamp,
    method: (str(p.method) ?? 'GET').toUpperCase(),
    url: str(p.url) ?? '',
    status,
    durationMs: num(p.duration_ms),
    requestBytes: num(p.request_bytes),
    responseBytes: num(p.response_bytes),
    initiator: str(p.initiator) ?? '',
    error,
    failed: isFailedRequest(status, error),
    requestBody: str(p.request_body) ?? null,
    responseBody: str(p.response_body) ?? null,
  };
}
