import { asRecord, customText, str, truncate } from './markers';
import { EventType, type RRwebEvent } from './types';

/**
 * The activity list beside the replay: page loads (with their URL), clicks
 * (with the clicked element's text, resolved later against the replayer's
 * mirror), inputs, errors and track events, one row each.
 */

export type ActivityKind = 'page' | 'click' | 'input' | 'error' | 'track';

export interface ActivityRow {
  kind: ActivityKind;
  /** When it happened, ms since the epoch. */
  timestamp: number;
  /** What happened, for people: a URL, an error message, a track event's name. */
  label: string;
  /** More: an error's source and line, a track event's props, a typed value. */
  detail: string;
  /** The node clicked or typed in (rrweb id), to name it from the replayer's mirror. */
  nodeId: number | null;
}

/** rrweb `IncrementalSource` values read here. */
const MOUSE_INTERACTION = 2;
const INPUT = 5;
/** rrweb `MouseInteractions` that count as a click. */
const CLICK_TYPES = new Set([2 /* Click */, 4 /* DblClick */, 9 /* TouchEnd */]);
/** Longest detail shown, characters. */
const MAX_DETAIL = 300;

/** The activity row of an event, or null. `pageLoad`: a Meta that is a page load (see `PageLoads`). */
export function activityOf(event: RRwebEvent, pageLoad: boolean): ActivityRow | null {
  const data = asRecord(event.data);
  const row = (kind: ActivityKind, label: string, detail = '', nodeId: number | null = null): ActivityRow => ({
    kind,
    timestamp: event.timestamp,
    label,
    detail,
    nodeId,
  });
  switch (event.type) {
    case EventType.Meta:
      return pageLoad ? row('page', str(data?.href) ?? '') : null;
    case EventType.IncrementalSnapshot: {
      const id = typeof data?.id === 'number' ? data.id : null;
      if (data?.source === MOUSE_INTERACTION && CLICK_TYPES.has(data.type as number)) return row('click', 'Click', '', id);
      if (data?.source === INPUT) {
        const value = typeof data.isChecked === 'boolean' && data.text === undefined ? String(data.isChecked) : (str(data.text) ?? '');
        return row('input', 'Input', truncate(value, MAX_DETAIL), id);
      }
      return null;
    }
    case EventType.Custom: {
      const payload = asRecord(data?.payload);
      if (data?.tag === 'error') {
        const where = [str(payload?.source), payload?.line, payload?.col].filter((p) => p !== undefined && p !== '').join(':');
        return row('error', customText(data.payload), where);
      }
      if (data?.tag === 'track') {
        const props = asRecord(payload?.props);
        const detail = props
          ? Object.entries(props)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ')
          : '';
        return row('track', truncate(str(payload?.name) ?? 'track'), truncate(detail, MAX_DETAIL));
      }
      return null;
    }
    default:
      return null;
  }
}

/**
 * Typing makes an input event per throttled keystroke; consecutive inputs
 * into one field are one row (the first one's time, the last value).
 * Returns true when `next` was folded into `last`.
 */
export function mergeInput(last: ActivityRow | undefined, next: ActivityRow): boolean {
  if (!last || last.kind !== 'input' || next.kind !== 'input' || last.nodeId !== next.nodeId) return false;
  last.detail = next.detail;
  return true;
}

/** A short name of a DOM element for a click row: its text, label, alt or title. */
export function elementName(node: { nodeType: number; textContent: string | null } | null | undefined): string {
  if (!node) return '';
  const el = node as unknown as {
    tagName?: string;
    getAttribute?(name: string): string | null;
    value?: unknown;
  };
  const attr = (name: string) => el.getAttribute?.(name)?.trim() || '';
  // A large container's text is cut before it is tidied.
  const text = (node.textContent ?? '').slice(0, 400).replace(/\s+/g, ' ').trim();
  const name =
    text ||
    attr('aria-label') ||
    attr('alt') ||
    attr('title') ||
    attr('placeholder') ||
    attr('name') ||
    (typeof el.value === 'string' ? el.value.trim() : '');
  const tag = (el.tagName ?? '').toLowerCase();
  return truncate(name ? (tag ? `${tag} “${name}”` : `“${name}”`) : tag, 80);
}
