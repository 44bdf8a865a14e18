import type { SessionFilter } from './types';

/**
 * The filters a person sets on the session list: `SessionFilter` without the
 * paging fields, which the list manages itself.
 */
export type ListFilter = Omit<SessionFilter, 'limit' | 'cursor'>;

/** Sessions per page the list asks for. */
export const PAGE_SIZE = 50;

export const EMPTY_FILTER: ListFilter = {
  from: null,
  to: null,
  min_duration_ms: null,
  url: null,
  user_id: null,
  has_errors: null,
};

/**
 * Reads filters from a query string. The names and units are the API's
 * (`from`/`to` in ms since the epoch, `min_duration_ms`), so a dashboard link
 * and an API call read alike. Values that do not parse are dropped.
 */
export function filterFromQuery(query: URLSearchParams): ListFilter {
  return {
    from: intParam(query.get('from')),
    to: intParam(query.get('to')),
    min_duration_ms: intParam(query.get('min_duration_ms')),
    url: textParam(query.get('url')),
    user_id: textParam(query.get('user_id')),
    has_errors: boolParam(query.get('has_errors')),
  };
}

/** Writes filters as a query string, leaving out the unset ones. */
export function filterToQuery(filter: ListFilter): URLSearchParams {
  const query = new URLSearchParams();
  if (filter.from !== null) query.set('from', String(filter.from));
  if (filter.to !== null) query.set('to', String(filter.to));
  if (filter.min_duration_ms !== null) query.set('min_duration_ms', String(filter.min_duration_ms));
  if (filter.url !== null) query.set('url', filter.url);
  if (filter.user_id !== null) query.set('user_id', filter.user_id);
  if (filter.has_errors !== null) query.set('has_errors', String(filter.has_errors));
  return query;
}

/** The query of one `GET /api/v1/sites/{id}/sessions` call. */
export function sessionsQuery(filter: ListFilter, cursor: string | null, limit = PAGE_SIZE): URLSearchParams {
  const query = filterToQuery(filter);
  query.set('limit', String(limit));
  if (cursor !== null) query.set('cursor', cursor);
  return query;
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
