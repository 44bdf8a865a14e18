import type {
  AuditPage,
  EraseAccepted,
  EraseRequest,
  ErasureReceipt,
  ErrorBody,
  InvitationCreated,
  InvitationList,
  Me,
  MemberList,
  Role,
  SessionInfo,
  SessionPage,
  SiteDetails,
  SiteList,
  SitePatch,
  SiteUsage,
  Snippet,
  TokenCreated,
  TokenList,
} from './types';
import type { ListFilter } from './filters';
import { sessionsQuery } from './filters';
import { LOGIN_PATH, LOGOUT_PATH, ME_PATH, SessionProbe, type SessionResult } from './session';

/**
 * Every call is authenticated by the HttpOnly cookie `reel_session` that
 * signing in sets (PROTOCOL.md §5); the dashboard keeps no credential of
 * its own, in `localStorage` or anywhere else.
 */

/** A failed API call: an HTTP error with the server's code, or no answer at all. */
export class ApiError extends Error {
  constructor(
    /** HTTP status, 0 when the request never got an answer. */
    readonly status: number,
    /** The server's error code (`bad_credentials`, `forbidden`, ...) or `network`. */
    readonly code: string,
    message: string,
    /** Seconds from a `Retry-After` header, null without one. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called when a call gets 401 (the sign-in expired or was revoked): the app signs out. */
let onUnauthorized: (error: ApiError) => void = () => {};
export function setUnauthorizedHandler(handler: (error: ApiError) => void): void {
  onUnauthorized = handler;
}

interface RequestOptions {
  signal?: AbortSignal;
  accept?: string;
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Sent as JSON. */
  body?: unknown;
  /** A 401 is the answer itself (sign-in, accepting an invitation), not a lost sign-in. */
  expect401?: boolean;
  keepalive?: boolean;
}

/** Sends a request; resolves with the response if it is 2xx, rejects with `ApiError` otherwise. */
export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: options.accept ?? 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      signal: options.signal,
      keepalive: options.keepalive,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Could not reach the server.');
  }
  if (response.ok) return response;
  const error = await errorOf(response);
  if (response.status === 401 && !options.expect401) onUnauthorized(error);
  throw error;
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = (await response.json()) as Partial<ErrorBody> & { error?: string };
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.message === 'string' && body.message !== '') message = body.message;
  } catch {
    // Not a JSON error body (a proxy's page, say): keep the status line.
  }
  return new ApiError(response.status, code, message, retryAfterSeconds(response.headers.get('Retry-After')));
}

/** `Retry-After` in seconds (delta-seconds or an HTTP date), null when absent or unreadable. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

async function getJson<T>(path: string, options?: RequestOptions): Promise<T> {
  const response = await request(path, options);
  return (await response.json()) as T;
}

/** Sends JSON, resolves with the JSON answer (or null for an empty one, 204). */
async function send<T>(method: 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, options?: RequestOptions): Promise<T> {
  const response = await request(path, { ...options, method, body });
  const text = await response.text();
  return (text === '' ? null : JSON.parse(text)) as T;
}

const id = (n: number) => encodeURIComponent(n);

// Sign-in.

/** `POST /api/v1/login`: sets the `reel_session` cookie. 401 `bad_credentials`, 429 `rate_limited`. */
export async function login(email: string, password: string, options?: RequestOptions): Promise<void> {
  await send<unknown>('POST', LOGIN_PATH, { email, password }, { ...options, expect401: true });
}

/** `POST /api/v1/logout`: revokes the server-side session (and the cookie with it). */
export async function logout(): Promise<void> {
  try {
    await request(LOGOUT_PATH, { method: 'POST', keepalive: true, expect401: true });
  } catch {
    // Signed out here either way; the server-side session expires on its own.
  }
}

/** `GET /api/v1/me`: who is signed in, in which organisation, with which role. */
export function getMe(options?: RequestOptions): Promise<Me> {
  return getJson<Me>(ME_PATH, options);
}

/** `POST /api/v1/invitations/{code}/accept`: creates the user and signs it in. */
export async function acceptInvitation(code: string, name: string, password: string, options?: RequestOptions): Promise<void> {
  await send<unknown>('POST', `/api/v1/invitations/${encodeURIComponent(code)}/accept`, { name, password }, { ...options, expect401: true });
}

const probe = new SessionProbe(async (path) => {
  try {
    return (await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } })).status;
  } catch {
    return 0;
  }
});

/**
 * The live socket's check before it connects (`refresh` after a failed
 * attempt: is the sign-in still good?). A 401 signs the person out like
 * any other refused call.
 */
export async function checkSession(refresh: boolean): Promise<SessionResult> {
  const result = await probe.check(refresh);
  if (result === 'unauthorized') onUnauthorized(new ApiError(401, 'unauthenticated', 'The sign-in has expired.'));
  return result;
}

// Recordings.

export function listSites(options?: RequestOptions): Promise<SiteList> {
  return getJson<SiteList>('/api/v1/sites', options);
}

export function listSessions(
  siteId: number,
  filter: ListFilter,
  cursor: string | null,
  options?: RequestOptions,
  limit?: number,
): Promise<SessionPage> {
  const query = sessionsQuery(filter, cursor, limit);
  return getJson<SessionPage>(`/api/v1/sites/${id(siteId)}/sessions?${query}`, options);
}

export function getSession(sessionId: string, options?: RequestOptions): Promise<SessionInfo> {
  return getJson<SessionInfo>(`/api/v1/sessions/${encodeURIComponent(sessionId)}`, options);
}

/** Starts the NDJSON event stream of a session: one tab, or all merged when `tab` is null. */
export function openEvents(sessionId: string, tab: string | null, options?: RequestOptions): Promise<Response> {
  const query = tab === null ? '' : `?tab=${encodeURIComponent(tab)}`;
  return request(`/api/v1/sessions/${encodeURIComponent(sessionId)}/events${query}`, {
    ...options,
    accept: 'application/x-ndjson',
  });
}

// Administration (owner and admin).

export function listMembers(options?: RequestOptions): Promise<MemberList> {
  return getJson<MemberList>('/api/v1/members', options);
}

export function updateMember(userId: number, change: { role: Role; sites: number[] | null }): Promise<unknown> {
  return send('PATCH', `/api/v1/members/${id(userId)}`, change);
}

export function removeMember(userId: number): Promise<unknown> {
  return send('DELETE', `/api/v1/members/${id(userId)}`);
}

export function listInvitations(options?: RequestOptions): Promise<InvitationList> {
  return getJson<InvitationList>('/api/v1/invitations', options);
}

export function createInvitation(invitation: { email: string; role: Role; sites: number[] | null }): Promise<InvitationCreated> {
  return send<InvitationCreated>('POST', '/api/v1/invitations', invitation);
}

export function revokeInvitation(invitationId: number): Promise<unknown> {
  return send('DELETE', `/api/v1/invitations/${id(invitationId)}`);
}

export function listTokens(options?: RequestOptions): Promise<TokenList> {
  return getJson<TokenList>('/api/v1/tokens', options);
}

export function createToken(token: { name: string; role: Role; expires_in_days: number | null }): Promise<TokenCreated> {
  return send<TokenCreated>('POST', '/api/v1/tokens', token);
}

export function revokeToken(tokenId: number): Promise<unknown> {
  return send('DELETE', `/api/v1/tokens/${id(tokenId)}`);
}

export function createSite(site: { name: string; origins: string[] }): Promise<SiteDetails> {
  return send<SiteDetails>('POST', '/api/v1/sites', site);
}

export function updateSite(siteId: number, patch: SitePatch): Promise<unknown> {
  return send('PATCH', `/api/v1/sites/${id(siteId)}`, patch);
}

export function getSnippet(siteId: number, options?: RequestOptions): Promise<Snippet> {
  return getJson<Snippet>(`/api/v1/sites/${id(siteId)}/snippet`, options);
}

export function getAudit(cursor: string | null, options?: RequestOptions): Promise<AuditPage> {
  const query = cursor === null ? '' : `?${new URLSearchParams({ cursor })}`;
  return getJson<AuditPage>(`/api/v1/audit${query}`, options);
}

// The data lifecycle (PROTOCOL.md §6).

/** `DELETE /api/v1/sessions/{id}` (admin): the session, its objects and rows. */
export function deleteSession(sessionId: string): Promise<unknown> {
  return send('DELETE', `/api/v1/sessions/${encodeURIComponent(sessionId)}`);
}

/** `POST|DELETE /api/v1/sessions/{id}/pin` (member): keep it past the site's retention, or not. */
export function setPinned(sessionId: string, pinned: boolean): Promise<unknown> {
  return send(pinned ? 'POST' : 'DELETE', `/api/v1/sessions/${encodeURIComponent(sessionId)}/pin`);
}

/** `POST /api/v1/sites/{id}/erase` (admin): starts erasing a person; the job's id. */
export function erasePerson(siteId: number, person: EraseRequest): Promise<EraseAccepted> {
  return send<EraseAccepted>('POST', `/api/v1/sites/${id(siteId)}/erase`, person);
}

/** `GET /api/v1/erasures/{id}` (admin): the receipt. */
export function getErasure(erasureId: string, options?: RequestOptions): Promise<ErasureReceipt> {
  return getJson<ErasureReceipt>(`/api/v1/erasures/${encodeURIComponent(erasureId)}`, options);
}

/** `GET /api/v1/sites/{id}/usage`. */
export function getUsage(siteId: number, options?: RequestOptions): Promise<SiteUsage> {
  return getJson<SiteUsage>(`/api/v1/sites/${id(siteId)}/usage`, options);
}
