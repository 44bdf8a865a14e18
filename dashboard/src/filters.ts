import type { SessionFilter } from './types';

/**
 * The filters a person sets on the session list: `SessionFilter` without the
 * paging fields, which the list manages itself.
 */
export type ListFilter = Omit<SessionFilter, 'limit' | 'cursor'>;

/** Sessions per page the list asks for. */
export const PAGE_SIZE = 50;

/** The devices the node tells apart (`SessionInfo.device`, `device=`). */
export const DEVICES = ['desktop', 'mobile', 'tablet', 'unknown'] as const;

/** The yes/no filters (PROTOCOL.md §7): `true` finds sessions with it, `false` without. */
export const FLAG_FILTERS = ['has_errors', 'has_failed_requests', 'has_rage_clicks', 'has_dead_clicks', 'live'] as const;
export type FlagFilter = (typeof FLAG_FILTERS)[number];

/** The text filters, by their API name. */
export const TEXT_FILTERS = ['url', 'user_id', 'visitor_id', 'track', 'error_contains', 'trait', 'browser', 'os', 'device'] as const;
export type TextFilter = (typeof TEXT_FILTERS)[number];

export const EMPTY_FILTER: ListFilter = {
  from: null,
  to: null,
  min_duration_ms: null,
  url: null,
  user_id: null,
  has_errors: null,
  has_failed_requests: null,
  has_rage_clicks: null,
  has_dead_clicks: null,
  track: null,
  error_contains: null,
  visitor_id: null,
  trait: null,
  browser: null,
  os: null,
  device: null,
  live: null,
};

/**
 * Reads filters from a query string. The names and units are the API's
 * (`from`/`to` in ms since the epoch, `min_duration_ms`, `trait=KEY:VALUE`),
 * so a dashboard link and an API call read alike. Values that do not parse
 * are dropped: a `trait` without a `:` or with an empty key, a `device`
 * the node does not know.
 */
export function filterFromQuery(query: URLSearchParams): ListFilter {
  const filter: ListFilter = {
    ...EMPTY_FILTER,
    from: intParam(query.get('from')),
    to: intParam(query.get('to')),
    min_duration_ms: intParam(query.get('min_duration_ms')),
  };
  for (const name of FLAG_FILTERS) filter[name] = boolParam(query.get(name));
  for (const name of TEXT_FILTERS) filter[name] = textParam(query.get(name));
  if (filter.trait !== null && parseTrait(filter.trait) === null) filter.trait = null;
  if (filter.device !== null && !(DEVICES as readonly string[]).includes(filter.device)) filter.device = null;
  return filter;
}

/** Writes filters as a query string, leaving out the unset ones, in one fixed order. */
export function filterToQuery(filter: ListFilter): URLSearchParams {
  const query = new URLSearchParams();
  if (filter.from !== null) query.set('from', String(filter.from));
  if (filter.to !== null) query.set('to', String(filter.to));
  if (filter.min_duration_ms !== null) query.set('min_duration_ms', String(filter.min_duration_ms));
  for (const name of TEXT_FILTERS) {
    const value = filter[name];
    if (value != null) query.set(name, value);
  }
  for (const name of FLAG_FILTERS) {
    const value = filter[name];
    if (value != null) query.set(name, String(value));
  }
  return query;
}

/** How many filters are set (the list says "3 filters" when folded). */
export function activeFilters(filter: ListFilter): number {
  return Object.values(filter).filter((v) => v !== null).length;
}

/** The query of one `GET /api/v1/sites/{id}/sessions` call. */
export function sessionsQuery(filter: ListFilter, cursor: string | null, limit = PAGE_SIZE): URLSearchParams {
  const query = filterToQuery(filter);
  query.set('limit', String(limit));
  if (cursor !== null) query.set('cursor', cursor);
  return query;
}

/**
 * `KEY:VALUE` split at the first `:` (a value may hold more); null without
 * one or with an empty key. The key and value are kept as typed apart from
 * the whitespace around the whole.
 */
export function parseTrait(text: string): { key: string; value: string } | null {
  const at = text.indexOf(':');
  if (at <= 0) return null;
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

/**
 * A yes/no filter's select value: '' (any), 'true' or 'false'. The list's
 * selects use these, so a link's `has_rage_clicks=false` shows as "without".
 */
export function flagValue(value: boolean | null): '' | 'true' | 'false' {
  return value === null ? '' : value ? 'true' : 'false';
}

export function flagFromValue(value: string): boolean | null {
  return boolParam(value);
}

function intParam(value: string | null): number | null {
  if (value === null || !/^-?\d+$/.test(value.trim())) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

function textParam(value: string | null): string | null {
  if (value === null) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

function boolParam(value: string | null): boolean | null {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return null;
}

/** Minimum duration in seconds, as typed, to ms; null when empty or invalid. */
export function secondsToMs(value: string): number | null {
  const trimmed = value.trim();
  if (trimmed === '') return null;
  const seconds = Number(trimmed);
  if (!Number.isFinite(seconds) || seconds < 0) return null;
  return Math.round(seconds * 1000);
}
