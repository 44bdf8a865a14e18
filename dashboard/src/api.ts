import type { ErrorBody, SessionInfo, SessionPage, SiteList } from './types';
import type { ListFilter } from './filters';
import { sessionsQuery } from './filters';
import { CookieSession, type SessionResult } from './session';

/** localStorage key of the API token. */
export const TOKEN_KEY = 'reel.token';

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  try {
    if (token === null) localStorage.removeItem(TOKEN_KEY);
    else localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage refused (private mode, quota): the token lasts for this page only.
  }
}

/** A failed API call: an HTTP error with the server's code, or no answer at all. */
export class ApiError extends Error {
  constructor(
    /** HTTP status, 0 when the request never got an answer. */
    readonly status: number,
    /** The server's error code (`unauthorized`, `not_found`, ...) or `network`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called when a request with the stored token gets 401: the app signs out. */
let onUnauthorized: (error: ApiError) => void = () => {};
export function setUnauthorizedHandler(handler: (error: ApiError) => void): void {
  onUnauthorized = handler;
}

interface RequestOptions {
  signal?: AbortSignal;
  /** Use this token instead of the stored one, and do not sign out on 401. */
  token?: string;
  accept?: string;
}

/** Sends a GET; resolves with the response if it is 2xx, rejects with `ApiError` otherwise. */
export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const token = options.token ?? getToken() ?? '';
  let response: Response;
  try {
    response = await fetch(path, {
      headers: { Authorization: `Bearer ${token}`, Accept: options.accept ?? 'application/json' },
      signal: options.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Could not reach the server.');
  }
  if (response.ok) return response;
  const error = await errorOf(response);
  if (response.status === 401 && options.token === undefined) onUnauthorized(error);
  throw error;
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = (await response.json()) as Partial<ErrorBody>;
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.message === 'string' && body.message !== '') message = body.message;
  } catch {
    // Not a JSON error body (a proxy's page, say): keep the status line.
  }
  return new ApiError(response.status, code, message);
}

async function getJson<T>(path: string, options?: RequestOptions): Promise<T> {
  const response = await request(path, options);
  return (await response.json()) as T;
}

export function listSites(options?: RequestOptions): Promise<SiteList> {
  return getJson<SiteList>('/api/v1/sites', options);
}

export function listSessions(
  siteId: number,
  filter: ListFilter,
  cursor: string | null,
  options?: RequestOptions,
): Promise<SessionPage> {
  const query = sessionsQuery(filter, cursor);
  return getJson<SessionPage>(`/api/v1/sites/${encodeURIComponent(siteId)}/sessions?${query}`, options);
}

export function getSession(id: string, options?: RequestOptions): Promise<SessionInfo> {
  return getJson<SessionInfo>(`/api/v1/sessions/${encodeURIComponent(id)}`, options);
}

/** Starts the NDJSON event stream of a session: one tab, or all merged when `tab` is null. */
export function openEvents(id: string, tab: string | null, options?: RequestOptions): Promise<Response> {
  const query = tab === null ? '' : `?tab=${encodeURIComponent(tab)}`;
  return request(`/api/v1/sessions/${encodeURIComponent(id)}/events${query}`, {
    ...options,
    accept: 'application/x-ndjson',
  });
}

/**
 * POSTs with the stored token (or none); resolves with the HTTP status, 0
 * when the request got no answer. `keepalive` lets a sign-out's request
 * finish while the page moves on.
 */
async function postStatus(path: string): Promise<number> {
  const token = getToken();
  try {
    const response = await fetch(path, {
      method: 'POST',
      headers: token === null ? {} : { Authorization: `Bearer ${token}` },
      credentials: 'same-origin',
      keepalive: true,
    });
    return response.status;
  } catch {
    return 0;
  }
}

const cookieSession = new CookieSession(postStatus);

/**
 * `POST /api/v1/login` with the stored token, once per sign-in (see
 * `CookieSession`): sets the `reel_session` cookie the live socket needs.
 * A 401 signs the person out like any other refused call.
 */
export async function startCookieSession(refresh = false): Promise<SessionResult> {
  const result = await cookieSession.start(refresh);
  if (result === 'unauthorized' && getToken() !== null) {
    onUnauthorized(new ApiError(401, 'unauthorized', 'The token is no longer accepted.'));
  }
  return result;
}

/** `POST /api/v1/logout`: clears the cookie. */
export function endCookieSession(): Promise<void> {
  return cookieSession.end();
}
