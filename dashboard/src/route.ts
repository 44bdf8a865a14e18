/** Hash routes of the dashboard. */
export type Route =
  | { page: 'login'; next: string | null }
  | { page: 'sites' }
  | { page: 'sessions'; siteId: number; query: URLSearchParams }
  | { page: 'replay'; sessionId: string; query: URLSearchParams }
  | { page: 'live'; siteId: number }
  | { page: 'watch'; sessionId: string; siteId: number | null }
  | { page: 'invite'; code: string }
  | { page: 'members' }
  | { page: 'invitations' }
  | { page: 'tokens' }
  | { page: 'site-settings'; siteId: number }
  | { page: 'audit' }
  | { page: 'not-found'; path: string };

/** Pages anyone may open, signed in or not. */
export function isPublic(route: Route): boolean {
  return route.page === 'login' || route.page === 'invite';
}

/** Pages for owners and admins only. */
export function isAdminPage(route: Route): boolean {
  return (
    route.page === 'members' ||
    route.page === 'invitations' ||
    route.page === 'tokens' ||
    route.page === 'site-settings' ||
    route.page === 'audit'
  );
}

/**
 * Parses `location.hash`: `#/login`, `#/sites`, `#/sites/{id}?...`,
 * `#/sites/{id}/live`, `#/sites/{id}/settings`, `#/sessions/{id}?...`,
 * `#/live/{session}?site={id}`, `#/invite/{code}`, `#/members`,
 * `#/invitations`, `#/tokens`, `#/audit`.
 */
export function parseRoute(hash: string): Route {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0) return { page: 'sites' };
  const [head, id] = parts;
  if (parts.length === 1 && head === 'login') return { page: 'login', next: safeNext(query.get('next')) };
  if (parts.length === 1 && head === 'sites') return { page: 'sites' };
  if (parts.length === 1 && (head === 'members' || head === 'invitations' || head === 'tokens' || head === 'audit')) {
    return { page: head };
  }
  if (parts.length === 2 && head === 'invite') return { page: 'invite', code: safeDecode(id!) };
  if (parts.length === 3 && head === 'sites' && /^\d+$/.test(id!) && parts[2] === 'settings') {
    return { page: 'site-settings', siteId: Number(id) };
  }
  if (parts.length === 2 && head === 'sites' && /^\d+$/.test(id!)) {
    return { page: 'sessions', siteId: Number(id), query };
  }
  if (parts.length === 3 && head === 'sites' && /^\d+$/.test(id!) && parts[2] === 'live') {
    return { page: 'live', siteId: Number(id) };
  }
  if (parts.length === 2 && head === 'sessions') {
    return { page: 'replay', sessionId: safeDecode(id!), query };
  }
  if (parts.length === 2 && head === 'live') {
    const site = query.get('site');
    return { page: 'watch', sessionId: safeDecode(id!), siteId: site !== null && /^\d+$/.test(site) ? Number(site) : null };
  }
  return { page: 'not-found', path };
}

/** The hash of a route, e.g. `#/sites/3?user_id=u1`. */
export function hashOf(path: string, query?: URLSearchParams): string {
  const qs = query ? query.toString() : '';
  return `#${path}${qs === '' ? '' : `?${qs}`}`;
}

export function sitePath(siteId: number): string {
  return `/sites/${siteId}`;
}

export function sessionPath(sessionId: string): string {
  return `/sessions/${encodeURIComponent(sessionId)}`;
}

/** A site's live page: who is on the site now. */
export function liveSitePath(siteId: number): string {
  return `/sites/${siteId}/live`;
}

/** The live player of a session; `siteId` (when known) links back to the site's live page. */
export function watchHash(sessionId: string, siteId?: number | null): string {
  const query = siteId === undefined || siteId === null ? undefined : new URLSearchParams({ site: String(siteId) });
  return hashOf(`/live/${encodeURIComponent(sessionId)}`, query);
}

/** A site's administration page: name, origins, tracker settings, snippet. */
export function siteSettingsPath(siteId: number): string {
  return `/sites/${siteId}/settings`;
}

/** The sign-in page's link, coming back to `hash` once signed in. */
export function loginHash(next?: string): string {
  const back = next === undefined ? null : safeNext(next);
  return back === null ? '#/login' : `#/login?${new URLSearchParams({ next: back })}`;
}

/** A hash to return to after sign-in: one of our own pages, never the sign-in page itself. */
function safeNext(next: string | null): string | null {
  if (next === null || !next.startsWith('#/') || next.startsWith('#/login') || next.startsWith('#/invite/')) return null;
  return next;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
