import 'rrweb-player/dist/style.css';
import './style.css';
import { endCookieSession, getToken, setToken, setUnauthorizedHandler, startCookieSession } from './api';
import { h } from './dom';
import { renderLive } from './live';
import { renderLogin } from './login';
import type { PageContext } from './page';
import { renderReplay } from './replay';
import { loginHash, parseRoute } from './route';
import { renderSessions } from './sessions';
import { renderSites } from './sites';
import { renderWatch } from './watch';

/** A message for the sign-in page after a forced sign-out. */
let notice: string | null = null;
/** The current page's abort controller and cleanups. */
let current: { controller: AbortController; cleanups: (() => void)[] } | null = null;

const signOut = h(
  'button',
  {
    type: 'button',
    class: 'link',
    'data-testid': 'sign-out',
    onclick: () => {
      setToken(null);
      // Clears the live socket's cookie (the token itself stays valid).
      void endCookieSession();
      location.hash = '#/login';
    },
  },
  'Sign out',
);
const nav = h('nav', null, h('a', { href: '#/sites' }, 'Sites'), signOut);
const main = h('main', { id: 'main' });
document.body.replaceChildren(h('header', { class: 'top' }, h('a', { class: 'brand', href: '#/sites' }, 'reel'), nav), main);

setUnauthorizedHandler(() => {
  setToken(null);
  void endCookieSession();
  // Several requests of one page may fail together: send the person once.
  if (parseRoute(location.hash).page === 'login') return;
  notice = 'Your token is no longer accepted: sign in again.';
  location.hash = loginHash(location.hash);
});

function render(): void {
  if (current) {
    current.controller.abort();
    for (const fn of current.cleanups) fn();
  }
  const controller = new AbortController();
  const cleanups: (() => void)[] = [];
  current = { controller, cleanups };
  const ctx: PageContext = { main, signal: controller.signal, onCleanup: (fn) => cleanups.push(fn) };

  const route = parseRoute(location.hash);
  const signedIn = getToken() !== null;
  nav.hidden = !signedIn;
  if (!signedIn && route.page !== 'login') {
    location.replace(loginHash(location.hash));
    return;
  }
  if (signedIn && route.page === 'login') {
    location.replace(route.next ?? '#/sites');
    return;
  }
  main.replaceChildren();
  window.scrollTo(0, 0);
  switch (route.page) {
    case 'login':
      document.title = 'Sign in · reel';
      renderLogin(ctx, notice, route.next);
      notice = null;
      break;
    case 'sites':
      document.title = 'Sites · reel';
      renderSites(ctx);
      break;
    case 'sessions':
      document.title = 'Sessions · reel';
      renderSessions(ctx, route.siteId, route.query);
      break;
    case 'replay':
      document.title = `Session ${route.sessionId} · reel`;
      renderReplay(ctx, route.sessionId, route.query);
      break;
    case 'live':
      document.title = 'Live · reel';
      renderLive(ctx, route.siteId);
      break;
    case 'watch':
      document.title = `Live ${route.sessionId} · reel`;
      renderWatch(ctx, route.sessionId, route.siteId);
      break;
    case 'not-found':
      document.title = 'Not found · reel';
      main.append(h('h1', null, 'Not found'), h('p', null, 'No page here. ', h('a', { href: '#/sites' }, 'Go to the sites.')));
      break;
  }
}

window.addEventListener('hashchange', render);
// Signed in from an earlier visit: set the live socket's cookie once
// (`POST /api/v1/login`); the sign-in page does it on sign-in.
if (getToken() !== null) void startCookieSession();
render();
