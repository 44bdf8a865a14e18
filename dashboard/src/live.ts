import { listSites } from './api';
import { h } from './dom';
import { formatAgo, formatClient, formatDateTime } from './format';
import { openLiveSocket } from './live-connect';
import { backoffDelay, describeConnection, type ConnectionState } from './live-socket';
import type { PageContext } from './page';
import { initialPresence, presenceWho, reducePresence, resubscribed, sortedPresence, type PresenceState } from './presence';
import { hashOf, sitePath, watchHash } from './route';
import { isFlagged, sessionBadges } from './signals';
import type { Presence } from './types';
import { badgeList } from './widgets';

/**
 * A site's live page: who is on the site now, updated as the server says
 * (PROTOCOL.md §4 `presence`). A visitor who is rage-clicking, dead-clicking,
 * hitting failed requests or console errors is flagged from the `signals`
 * of their presence entry (§7), which every `presence_update` brings up to
 * date. The list is `presence.ts`'s state; this page
 * renders it at most once per animation frame and refreshes the relative
 * times every second.
 */
export function renderLive(ctx: PageContext, siteId: number): void {
  const title = h('h1', null, 'Live');
  listSites({ signal: ctx.signal }).then(
    ({ sites }) => {
      const site = sites.find((s) => s.id === siteId);
      if (site) title.textContent = `Live · ${site.name}`;
    },
    () => {}, // The title is a nicety.
  );

  const count = h('span', { class: 'live-count', 'data-testid': 'live-count' }, 'Loading…');
  const trouble = h('span', { class: 'trouble', 'data-testid': 'live-flagged', hidden: true });
  const connection = h('span', { class: 'muted', 'data-testid': 'live-connection', 'data-state': 'connecting' }, 'Connecting…');
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'live-error', hidden: true });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'grid presence', 'data-testid': 'presence-table', hidden: true },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, 'User'),
        h('th', null, 'Page'),
        h('th', null, 'Browser and OS'),
        h('th', null, 'Trouble now'),
        h('th', null, 'Started'),
        h('th', null, 'Last activity'),
        h('th', null, ''),
      ),
    ),
    tbody,
  );
  ctx.main.replaceChildren(
    h(
      'p',
      { class: 'crumbs' },
      h('a', { href: hashOf(sitePath(siteId)) }, '← Sessions'),
    ),
    title,
    h('p', { class: 'live-line' }, h('span', { class: 'badge live' }, 'live'), ' ', count, ' ', trouble, ' · ', connection),
    error,
    table,
  );

  let state: PresenceState = initialPresence(siteId);
  let connectionState: ConnectionState = { state: 'connecting', attempt: 0 };
  let frame = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let retries = 0;
  const subscription = { t: 'presence', site: siteId } as const;
  const cancelRetry = () => {
    if (retryTimer !== null) clearTimeout(retryTimer);
    retryTimer = null;
  };

  const render = () => {
    frame = 0;
    const list = sortedPresence(state);
    const now = Date.now();
    table.hidden = list.length === 0;
    // Out of date while disconnected, and until the fresh snapshot after.
    table.classList.toggle('stale', !state.synced || connectionState.state !== 'open');
    tbody.replaceChildren(...list.map((p) => presenceRow(p, siteId, now)));
    if (!state.synced && state.sessions.size === 0) count.textContent = 'Loading…';
    else if (list.length === 0) count.textContent = 'Nobody is on the site right now.';
    else count.textContent = `${list.length} live session${list.length === 1 ? '' : 's'}`;
    count.dataset.count = state.synced ? String(list.length) : '';
    const flagged = list.filter((p) => isFlagged(p.signals)).length;
    trouble.hidden = flagged === 0;
    trouble.textContent = `· ${flagged} having trouble now`;
    trouble.dataset.count = String(flagged);
  };
  const scheduleRender = () => {
    if (frame === 0) frame = requestAnimationFrame(render);
  };

  const showConnection = () => {
    const now = Date.now();
    connection.dataset.state = connectionState.state === 'open' ? (state.synced ? 'live' : 'syncing') : connectionState.state;
    connection.textContent =
      connectionState.state === 'open' ? (state.synced ? 'updating live' : 'loading…') : describeConnection(connectionState, now);
    connection.className = connectionState.state === 'open' ? 'muted' : 'warning';
  };

  const live = openLiveSocket({
    onOpen: () => {
      cancelRetry();
      state = resubscribed(state);
      error.hidden = true;
      scheduleRender();
      showConnection();
    },
    onState: (s) => {
      connectionState = s;
      showConnection();
      scheduleRender();
    },
    onMessage: (message) => {
      if (message.t === 'error') {
        error.textContent = `The server refused: ${message.message || message.code} (${message.code})`;
        error.hidden = false;
        // No snapshot yet (unknown site, presence unreadable for a moment):
        // ask again later, backing off; a repeated `presence` gets a snapshot.
        if (!state.synced && retryTimer === null) {
          retryTimer = setTimeout(() => {
            retryTimer = null;
            live.socket.subscribe(subscription);
          }, backoffDelay(retries++, Math.random));
        }
        return;
      }
      const next = reducePresence(state, message);
      if (next === state) return;
      const synced = next.synced && !state.synced;
      if (synced) {
        cancelRetry();
        retries = 0;
        error.hidden = true;
      }
      state = next;
      scheduleRender();
      if (synced) showConnection();
    },
  });
  live.socket.subscribe(subscription);

  // Relative times and the reconnection countdown tick every second.
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const cell of tbody.querySelectorAll<HTMLElement>('[data-ts]')) {
      cell.textContent = formatAgo(Number(cell.dataset.ts), now);
    }
    if (connectionState.state === 'retrying') showConnection();
  }, 1000);

  ctx.onCleanup(() => {
    clearInterval(ticker);
    cancelRetry();
    if (frame !== 0) cancelAnimationFrame(frame);
    live.close();
  });
}

function presenceRow(p: Presence, siteId: number, now: number): HTMLTableRowElement {
  const who = presenceWho(p);
  const watch = watchHash(p.session, siteId);
  // Badges for the signals and the track event names so far; only the
  // signals flag the visitor.
  const badges = sessionBadges(p.signals ?? {});
  const flagged = isFlagged(p.signals);
  return h(
    'tr',
    {
      class: flagged ? 'flagged' : null,
      'data-testid': 'presence-row',
      'data-session-id': p.session,
      'data-flagged': flagged ? 'true' : 'false',
    },
    h(
      'td',
      { class: 'ellipsis', title: who.label, 'data-testid': 'presence-user' },
      who.identified ? who.label : h('span', { class: 'muted' }, who.label),
    ),
    h(
      'td',
      { class: 'page' },
      p.title ? h('div', { class: 'ellipsis', title: p.title }, p.title) : null,
      h('div', { class: 'url ellipsis', title: p.url, 'data-testid': 'presence-url' }, p.url),
    ),
    h('td', { class: 'nowrap', title: p.device, 'data-testid': 'presence-client' }, formatClient(p.browser ?? '', p.os ?? '', p.device)),
    h('td', { class: 'signals', 'data-testid': 'presence-signals' }, badgeList(badges)),
    h('td', { class: 'nowrap' }, formatDateTime(p.started_at)),
    h(
      'td',
      { class: 'nowrap', title: formatDateTime(p.last_activity_at), 'data-ts': p.last_activity_at, 'data-testid': 'presence-activity' },
      formatAgo(p.last_activity_at, now),
    ),
    h('td', { class: 'nowrap' }, h('a', { href: watch, 'data-testid': 'watch-live' }, 'Watch live')),
  );
}
