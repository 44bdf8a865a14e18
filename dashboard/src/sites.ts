import { createSite, listSessions, listSites } from './api';
import { isAdmin } from './access';
import { h } from './dom';
import { errorText } from './errors';
import { EMPTY_FILTER } from './filters';
import { formatCount, startOfDay } from './format';
import { openLiveSocket } from './live-connect';
import type { PageContext } from './page';
import { isAbort } from './page';
import { initialPresence, reducePresence, type PresenceState } from './presence';
import { hashOf, liveSitePath, siteSettingsPath, sitePath } from './route';
import { MAX_PAGE_SIZE, SITES_PER_CLIENT, type Me, type SiteInfo } from './types';
import { checkName, parseOrigins } from './validate';
import { statusLine } from './widgets';

/**
 * The organisation's sites: each with its sessions since midnight (the
 * browser's) and the visitors on it now (live presence, updated as they come
 * and go); a row opens the site's sessions. Admins also get a form to create
 * a site and a **Settings** link per site.
 */
export function renderSites(ctx: PageContext, me: Me): void {
  const admin = isAdmin(me.role);
  const status = statusLine('sites-status', 'Loading sites…');
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'grid', hidden: true },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, 'Site'),
        h('th', null, 'ID'),
        h('th', null, 'Site key'),
        h('th', null, 'Allowed origins'),
        h('th', { class: 'num', title: 'Sessions started since midnight, your time' }, 'Sessions today'),
        h('th', { class: 'num' }, 'Live now'),
        h('th', null, ''),
      ),
    ),
    tbody,
  );
  ctx.main.replaceChildren(h('h1', null, 'Sites'), status.el, table);
  if (admin) ctx.main.append(createForm());

  listSites({ signal: ctx.signal }).then(
    ({ sites }) => {
      if (sites.length === 0) {
        status.info(admin ? 'No sites yet: create one below.' : 'No sites to show. Ask an admin for access to a site.');
        return;
      }
      status.clear();
      table.hidden = false;
      const rows = sites.map((site) => siteRow(site, admin));
      tbody.replaceChildren(...rows.map((r) => r.row));
      countToday(ctx, rows);
      followLive(ctx, rows);
    },
    (e: unknown) => {
      if (!isAbort(e)) status.error(errorText(e, 'Could not load the sites'));
    },
  );
}

interface SiteRow {
  site: SiteInfo;
  row: HTMLTableRowElement;
  today: HTMLElement;
  live: HTMLElement;
}

function siteRow(site: SiteInfo, admin: boolean): SiteRow {
  const href = hashOf(sitePath(site.id));
  const today = h('td', { class: 'num', 'data-testid': 'site-today' }, '…');
  const live = h('td', { class: 'num', 'data-testid': 'site-live-count' }, '…');
  const row = h(
    'tr',
    {
      class: 'clickable',
      'data-testid': 'site-row',
      'data-site-id': site.id,
      onclick: (event: Event) => {
        if ((event.target as Element).closest('a')) return;
        location.hash = href;
      },
    },
    h('td', null, h('a', { href }, site.name)),
    h('td', { class: 'num' }, site.id),
    h('td', null, h('code', null, site.site_key)),
    h('td', null, site.allowed_origins.length === 0 ? h('span', { class: 'muted' }, 'any') : site.allowed_origins.join(', ')),
    today,
    live,
    h(
      'td',
      { class: 'nowrap actions' },
      h('a', { href: hashOf(liveSitePath(site.id)), 'data-testid': 'site-live' }, 'Live now'),
      admin ? [' · ', h('a', { href: hashOf(siteSettingsPath(site.id)), 'data-testid': 'site-settings' }, 'Settings')] : null,
    ),
  );
  return { site, row, today, live };
}

/** Sessions since local midnight, per site: one page of the list, `N+` beyond it. */
function countToday(ctx: PageContext, rows: SiteRow[]): void {
  const from = startOfDay(Date.now());
  for (const { site, today } of rows) {
    listSessions(site.id, { ...EMPTY_FILTER, from }, null, { signal: ctx.signal }, MAX_PAGE_SIZE).then(
      (page) => {
        today.textContent = `${formatCount(page.sessions.length)}${page.next_cursor === null ? '' : '+'}`;
      },
      (e: unknown) => {
        if (isAbort(e)) return;
        today.textContent = '?';
        today.title = errorText(e, 'Could not count');
      },
    );
  }
}

/** Live visitors per site, from the live socket's presence (the first `SITES_PER_CLIENT` sites). */
function followLive(ctx: PageContext, rows: SiteRow[]): void {
  const followed = rows.slice(0, SITES_PER_CLIENT);
  for (const r of rows.slice(SITES_PER_CLIENT)) {
    r.live.textContent = '';
    r.live.append(h('a', { href: hashOf(liveSitePath(r.site.id)) }, 'see'));
  }
  const states = new Map<number, PresenceState>(followed.map((r) => [r.site.id, initialPresence(r.site.id)]));
  const show = () => {
    for (const r of followed) {
      const state = states.get(r.site.id)!;
      r.live.textContent = state.synced ? formatCount(state.sessions.size) : '…';
      if (state.synced) r.live.dataset.count = String(state.sessions.size);
      else delete r.live.dataset.count;
    }
  };
  const live = openLiveSocket({
    onOpen: () => {
      for (const [id, state] of states) states.set(id, { ...state, synced: false });
      show();
    },
    onState: () => {},
    onMessage: (message) => {
      if (!('site' in message)) return;
      const state = states.get(message.site);
      if (!state) return;
      const next = reducePresence(state, message);
      if (next !== state) {
        states.set(message.site, next);
        show();
      }
    },
  });
  for (const r of followed) live.socket.subscribe({ t: 'presence', site: r.site.id });
  ctx.onCleanup(() => live.close());
}

/** Admins: a new site with a name and its allowed origins; then its settings page (snippet and all). */
function createForm(): HTMLElement {
  const status = statusLine('site-create-status');
  const name = h('input', { type: 'text', placeholder: 'My shop', 'data-testid': 'site-name', required: true });
  const origins = h('input', {
    type: 'text',
    placeholder: 'https://shop.example.com (blank: any)',
    size: 40,
    'data-testid': 'site-origins',
  });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'site-create' }, 'Create site');
  const form = h(
    'form',
    {
      class: 'filters admin-form',
      novalidate: true,
      'data-testid': 'site-form',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const checkedName = checkName(name.value, 'a name for the site');
        if (!checkedName.ok) return status.error(checkedName.error);
        const checkedOrigins = parseOrigins(origins.value);
        if (!checkedOrigins.ok) return status.error(checkedOrigins.error);
        submit.disabled = true;
        try {
          const site = await createSite({ name: checkedName.value, origins: checkedOrigins.value });
          location.hash = hashOf(siteSettingsPath(site.id));
        } catch (e) {
          status.error(errorText(e, 'Could not create the site'));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('label', { class: 'field' }, h('span', null, 'Name'), name),
    h('label', { class: 'field' }, h('span', null, 'Allowed origins (space or comma separated)'), origins),
    h('div', { class: 'actions' }, submit),
  );
  return h('section', null, h('h2', null, 'New site'), form, status.el);
}
