import { EventType, type RRwebEvent } from './types';

export type MarkerKind = 'page' | 'click' | 'error' | 'note';

/** A point of interest on the replay timeline. */
export interface Marker {
  kind: MarkerKind;
  /** The event's timestamp, ms since the epoch. */
  timestamp: number;
  /** A short description: the URL of a page load, the text of an error. */
  label: string;
}

/** rrweb `IncrementalSource.MouseInteraction`. */
const MOUSE_INTERACTION = 2;
/** rrweb `MouseInteractions` that count as a click, as the server counts them. */
const CLICK_TYPES = new Set([2 /* Click */, 4 /* DblClick */, 9 /* TouchEnd */]);
/** Longest marker label, in characters. */
const MAX_LABEL = 200;

/**
 * The marker an event makes, or null. A Meta event is a page load when
 * `pageLoad` says so (see `PageLoads`: a re-recorded page is not one); a
 * mouse interaction that is a click, double click or tap is a click; a
 * console-plugin event at level "error", or a custom event tagged "error", is
 * an error.
 */
export function markerOf(event: RRwebEvent, pageLoad = true): Marker | null {
  const data = asRecord(event.data);
  switch (event.type) {
    case EventType.Meta:
      if (!pageLoad) return null;
      return { kind: 'page', timestamp: event.timestamp, label: str(data?.href) ?? '' };
    case EventType.IncrementalSnapshot:
      if (data?.source === MOUSE_INTERACTION && CLICK_TYPES.has(data.type as number)) {
        return { kind: 'click', timestamp: event.timestamp, label: 'click' };
      }
      return null;
    case EventType.Plugin: {
      const plugin = str(data?.plugin);
      const payload = asRecord(data?.payload);
      if (plugin?.endsWith('console@1') && payload?.level === 'error') {
        return { kind: 'error', timestamp: event.timestamp, label: consoleText(payload.payload) };
      }
      return null;
    }
    case EventType.Custom:
      if (data?.tag === 'error') {
        return { kind: 'error', timestamp: event.timestamp, label: customText(data.payload) };
      }
      return null;
    default:
      return null;
  }
}

/** Every marker of a list of events, in the events' order. */
export function extractMarkers(events: readonly RRwebEvent[]): Marker[] {
  const markers: Marker[] = [];
  for (const event of events) {
    const marker = markerOf(event);
    if (marker) markers.push(marker);
  }
  return markers;
}

/**
 * The console plugin records each argument of `console.error` as a string
 * that is itself JSON (`"\"boom\""`); show the decoded strings.
 */
function consoleText(args: unknown): string {
  if (!Array.isArray(args)) return 'console error';
  return truncate(decodeConsoleArgs(args).join(' ') || 'console error');
}

/** The console plugin's arguments (each JSON text) as people read them. */
export function decodeConsoleArgs(args: readonly unknown[]): string[] {
  return args.map((arg) => {
    if (typeof arg !== 'string') return JSON.stringify(arg);
    try {
      const decoded: unknown = JSON.parse(arg);
      return typeof decoded === 'string' ? decoded : arg;
    } catch {
      return arg;
    }
  });
}

export function customText(payload: unknown): string {
  if (typeof payload === 'string') return truncate(payload);
  const record = asRecord(payload);
  const message = str(record?.message);
  if (message) return truncate(message);
  return payload === undefined ? 'error' : truncate(JSON.stringify(payload) ?? 'error');
}

export function truncate(text: string, max = MAX_LABEL): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
