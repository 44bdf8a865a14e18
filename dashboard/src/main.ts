import 'rrweb-player/dist/style.css';
import './style.css';
import { ApiError, getMe, logout, setUnauthorizedHandler } from './api';
import { isAdmin } from './access';
import { renderAudit } from './audit';
import { flagOn } from './flags';
import { h, setChildren } from './dom';
import { renderInvitations } from './invitations';
import { renderInvite } from './invite';
import { renderLive } from './live';
import { renderLogin } from './login';
import { renderMembers } from './members';
import { renderNoAccess } from './no-access';
import type { PageContext } from './page';
import { renderReplay } from './replay';
import { isAdminPage, isPublic, loginHash, parseRoute, type Route } from './route';
import { renderSessions } from './sessions';
import { renderSiteSettings } from './site-settings';
import { renderSites } from './sites';
import { renderTokens } from './tokens';
import type { Me } from './types';
import { renderWatch } from './watch';

/** A message for the sign-in page after a forced sign-out. */
let notice: string | null = null;
/** Who is signed in (`GET /api/v1/me`); null until known, and when signed out. */
let me: Me | null = null;
/** The current page's abort controller and cleanups. */
let current: { controller: AbortController; cleanups: (() => void)[] } | null = null;

const signOut = h(
  'button',
  {
    type: 'button',
    class: 'link',
    'data-testid': 'sign-out',
    onclick: async () => {
      me = null;
      // Revokes the server-side session; the cookie is useless after it.
      await logout();
      location.hash = '#/login';
    },
  },
  'Sign out',
);
const who = h('span', { class: 'who', 'data-testid': 'who' });
const adminLinks = [
  h('a', { href: '#/members', 'data-testid': 'nav-members' }, 'Members'),
  h('a', { href: '#/invitations', 'data-testid': 'nav-invitations' }, 'Invitations'),
  h('a', { href: '#/tokens', 'data-testid': 'nav-tokens' }, 'API tokens'),
  h('a', { href: '#/audit', 'data-testid': 'nav-audit' }, 'Audit log'),
];
const nav = h('nav', { 'data-testid': 'nav' }, h('a', { href: '#/sites', 'data-testid': 'nav-sites' }, 'Sites'), adminLinks);
const account = h('div', { class: 'account' }, who, signOut);
const main = h('main', { id: 'main' });
document.body.replaceChildren(
  h('header', { class: 'top' }, h('div', { class: 'left' }, h('a', { class: 'brand', href: '#/sites' }, 'reel'), nav), account),
  main,
);

/** The header for who is signed in: name and email, organisation and role; admin links for admins. */
function showAccount(): void {
  const signedIn = me !== null;
  nav.hidden = !signedIn;
  account.hidden = !signedIn;
  if (me === null) return;
  for (const link of adminLinks) link.hidden = !isAdmin(me.role);
  const user = me.user;
  setChildren(
    who,
    user === null
      ? h('span', { class: 'user', 'data-testid': 'who-user' }, 'API token')
      : h('span', { class: 'user', 'data-testid': 'who-user', title: user.email }, user.name || user.email),
    user?.name ? h('span', { class: 'email', 'data-testid': 'who-email' }, user.email) : null,
    h('span', { class: 'org', 'data-testid': 'who-org' }, me.org.name),
    h('span', { class: 'badge role', 'data-testid': 'who-role' }, me.role),
  );
}

setUnauthorizedHandler(() => {
  me = null;
  showAccount();
  // Several requests of one page may fail together: send the person once.
  if (isPublic(parseRoute(location.hash))) return;
  notice = 'Your sign-in has expired or was ended: sign in again.';
  location.hash = loginHash(location.hash);
});

/** Signed in (the sign-in or invitation page): remember who, then go on. */
function signedIn(who: Me, next: string | null): void {
  me = who;
  const target = next ?? '#/sites';
  // The same hash fires no hashchange: render here.
  if (location.hash === target) render();
  else location.hash = target;
}

function startPage(): PageContext {
  if (current) {
    current.controller.abort();
    for (const fn of current.cleanups) fn();
  }
  const controller = new AbortController();
  const cleanups: (() => void)[] = [];
  current = { controller, cleanups };
  main.replaceChildren();
  return { main, signal: controller.signal, onCleanup: (fn) => cleanups.push(fn) };
}

function render(): void {
  const route = parseRoute(location.hash);
  const ctx = startPage();
  showAccount();
  if (isPublic(route)) {
    if (route.page === 'login' && me !== null) {
      location.replace(route.next ?? '#/sites');
      return;
    }
    renderPage(ctx, route);
    return;
  }
  if (me === null) {
    // Not known yet (a page load) or signed out: ask who is signed in.
    const status = h('p', { class: 'muted', 'data-testid': 'app-status' }, 'Loading…');
    main.replaceChildren(status);
    getMe({ signal: ctx.signal, expect401: true }).then(
      (who) => {
        me = who;
        render();
      },
      (e: unknown) => {
        if (ctx.signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) {
          location.replace(loginHash(location.hash));
          return;
        }
        status.className = 'error';
        setChildren(
          status,
          e instanceof ApiError && e.status === 0
            ? 'Could not reach the reel server. Check your connection, then '
            : `The server could not say who is signed in (${e instanceof Error ? e.message : String(e)}). `,
          h('button', { type: 'button', class: 'link', onclick: render }, 'try again'),
          '.',
        );
      },
    );
    return;
  }
  if (isAdminPage(route) && !isAdmin(me.role)) {
    document.title = 'No access · reel';
    renderNoAccess(ctx, me);
    return;
  }
  window.scrollTo(0, 0);
  renderPage(ctx, route);
}

function renderPage(ctx: PageContext, route: Route): void {
  switch (route.page) {
    case 'login':
      document.title = 'Sign in · reel';
      renderLogin(ctx, notice, (who) => signedIn(who, route.next));
      notice = null;
      break;
    case 'invite':
      document.title = 'Join · reel';
      renderInvite(ctx, route.code, (who) => signedIn(who, null));
      break;
    case 'sites':
      document.title = 'Sites · reel';
      renderSites(ctx, me!);
      break;
    case 'sessions':
      document.title = 'Sessions · reel';
      renderSessions(ctx, route.siteId, route.query);
      break;
    case 'replay':
      document.title = 'Session · reel';
      renderReplay(ctx, route.sessionId, route.query, me!.role, flagOn(me!.flags, 'notes'));
      break;
    case 'live':
      document.title = 'Live · reel';
      renderLive(ctx, route.siteId);
      break;
    case 'watch':
      document.title = `Live ${route.sessionId} · reel`;
      renderWatch(ctx, route.sessionId, route.siteId, me!.role);
      break;
    case 'members':
      document.title = 'Members · reel';
      renderMembers(ctx, me!);
      break;
    case 'invitations':
      document.title = 'Invitations · reel';
      renderInvitations(ctx, me!);
      break;
    case 'tokens':
      document.title = 'API tokens · reel';
      renderTokens(ctx, me!);
      break;
    case 'site-settings':
      document.title = 'Site settings · reel';
      renderSiteSettings(ctx, route.siteId);
      break;
    case 'audit':
      document.title = 'Audit log · reel';
      renderAudit(ctx);
      break;
    case 'not-found':
      document.title = 'Not found · reel';
      main.append(h('h1', null, 'Not found'), h('p', null, 'No page here. ', h('a', { href: '#/sites' }, 'Go to the sites.')));
      break;
  }
}

// Earlier versions kept an API token in localStorage: forget it.
try {
  localStorage.removeItem('reel.token');
} catch {
  // Storage refused: there is nothing in it either.
}

window.addEventListener('hashchange', render);
render();
