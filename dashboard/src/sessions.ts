import { listSessions, listSites } from './api';
import { h } from './dom';
import { errorText } from './errors';
import { filterFromQuery, filterToQuery, secondsToMs, type ListFilter } from './filters';
import { formatDateTime, formatDuration, fromDateTimeLocal, toDateTimeLocal, zoneAt } from './format';
import type { PageContext } from './page';
import { isAbort } from './page';
import { hashOf, liveSitePath, sessionPath, sitePath, watchHash } from './route';
import type { SessionInfo } from './types';

/**
 * A site's sessions, newest first, with filters. The filters live in the hash
 * query (`#/sites/3?user_id=u1&has_errors=true`) so a filtered list is a link;
 * Apply writes them there and the router renders the page again.
 */
export function renderSessions(ctx: PageContext, siteId: number, query: URLSearchParams): void {
  const filter = filterFromQuery(query);

  const title = h('h1', null, 'Sessions');
  listSites({ signal: ctx.signal }).then(
    ({ sites }) => {
      const site = sites.find((s) => s.id === siteId);
      if (site) title.textContent = `Sessions · ${site.name}`;
    },
    () => {}, // The title is a nicety; the list reports errors itself.
  );

  const from = h('input', {
    type: 'datetime-local',
    'data-testid': 'filter-from',
    value: filter.from === null ? '' : toDateTimeLocal(filter.from),
  });
  const to = h('input', {
    type: 'datetime-local',
    'data-testid': 'filter-to',
    value: filter.to === null ? '' : toDateTimeLocal(filter.to),
  });
  const minDuration = h('input', {
    type: 'number',
    min: 0,
    step: 1,
    inputmode: 'numeric',
    placeholder: '0',
    'data-testid': 'filter-min-duration',
    value: filter.min_duration_ms === null ? '' : String(filter.min_duration_ms / 1000),
  });
  const url = h('input', { type: 'search', placeholder: '/checkout', 'data-testid': 'filter-url', value: filter.url ?? '' });
  const user = h('input', { type: 'search', placeholder: 'user id', 'data-testid': 'filter-user', value: filter.user_id ?? '' });
  const errors = h('input', { type: 'checkbox', 'data-testid': 'filter-errors', checked: filter.has_errors === true });

  const readForm = (): ListFilter => ({
    from: fromDateTimeLocal(from.value),
    to: fromDateTimeLocal(to.value),
    min_duration_ms: secondsToMs(minDuration.value),
    url: url.value.trim() || null,
    user_id: user.value.trim() || null,
    // Unchecked means "any", not "without errors"; a link may still say
    // has_errors=false, which is kept as long as the box stays unchecked.
    has_errors: errors.checked ? true : filter.has_errors === false ? false : null,
  });

  const go = (next: ListFilter) => {
    const hash = hashOf(sitePath(siteId), filterToQuery(next));
    if (hash === location.hash) load(null, true);
    else location.hash = hash;
  };

  const form = h(
    'form',
    {
      class: 'filters',
      'data-testid': 'filters',
      onsubmit: (event: Event) => {
        event.preventDefault();
        go(readForm());
      },
    },
    field(`From (${zoneAt(Date.now())})`, from),
    field(`To (${zoneAt(Date.now())})`, to),
    field('Min duration (s)', minDuration),
    field('URL contains', url),
    field('User id', user),
    h('label', { class: 'check' }, errors, ' Has errors'),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'apply-filters' }, 'Apply'),
      h(
        'button',
        {
          type: 'button',
          'data-testid': 'clear-filters',
          onclick: () => go({ from: null, to: null, min_duration_ms: null, url: null, user_id: null, has_errors: null }),
        },
        'Clear',
      ),
    ),
  );

  const status = h('p', { class: 'muted', 'data-testid': 'sessions-status' });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'grid sessions', 'data-testid': 'sessions-table', hidden: true },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, 'Started'),
        h('th', { class: 'num' }, 'Duration'),
        h('th', null, 'User'),
        h('th', null, 'First URL'),
        h('th', { class: 'num' }, 'Pages'),
        h('th', { class: 'num' }, 'Clicks'),
        h('th', { class: 'num' }, 'Errors'),
        h('th', null, 'Device / browser'),
      ),
    ),
    tbody,
  );
  const pager = h('div', { class: 'pager' });

  ctx.main.replaceChildren(
    h(
      'p',
      { class: 'crumbs' },
      h('a', { href: '#/sites' }, '← Sites'),
      ' · ',
      h('a', { href: hashOf(liveSitePath(siteId)), 'data-testid': 'site-live' }, 'Who is on the site now'),
    ),
    title,
    form,
    status,
    table,
    pager,
  );

  let generation = 0;
  const load = (cursor: string | null, reset: boolean) => {
    const mine = ++generation;
    if (reset) {
      tbody.replaceChildren();
      table.hidden = true;
    }
    pager.replaceChildren();
    status.className = 'muted';
    status.textContent = 'Loading sessions…';
    status.hidden = false;
    listSessions(siteId, filter, cursor, { signal: ctx.signal }).then(
      (page) => {
        if (mine !== generation) return;
        tbody.append(...page.sessions.map(sessionRow));
        const shown = tbody.rows.length;
        table.hidden = shown === 0;
        if (shown === 0) {
          status.textContent = 'No sessions match these filters.';
        } else {
          status.textContent = `${shown} session${shown === 1 ? '' : 's'}${page.next_cursor ? ' (more available)' : ''}`;
        }
        if (page.next_cursor !== null) {
          const next = page.next_cursor;
          pager.replaceChildren(
            h('button', { type: 'button', 'data-testid': 'more', onclick: () => load(next, false) }, 'More'),
          );
        }
      },
      (e: unknown) => {
        if (isAbort(e) || mine !== generation) return;
        status.className = 'error';
        status.textContent = errorText(e, 'Could not load the sessions');
      },
    );
  };
  load(null, true);
}

function field(label: string, input: HTMLInputElement): HTMLLabelElement {
  return h('label', { class: 'field' }, h('span', null, label), input);
}

function sessionRow(s: SessionInfo): HTMLTableRowElement {
  const href = hashOf(sessionPath(s.id));
  const device = [s.device, [s.browser, s.os].filter(Boolean).join(' / ')].filter(Boolean).join(' · ');
  return h(
    'tr',
    {
      class: 'clickable',
      'data-testid': 'session-row',
      'data-session-id': s.id,
      onclick: (event: Event) => {
        if ((event.target as Element).closest('a')) return;
        location.hash = href;
      },
    },
    h(
      'td',
      { class: 'nowrap' },
      h('a', { href }, formatDateTime(s.started_at)),
      s.live
        ? [
            ' ',
            h('span', { class: 'badge live', 'data-testid': 'live-badge' }, 'live'),
            ' ',
            h('a', { href: watchHash(s.id, s.site_id), class: 'watch', 'data-testid': 'watch-live' }, 'Watch live'),
          ]
        : null,
    ),
    h('td', { class: 'num' }, formatDuration(s.duration_ms)),
    h('td', { class: 'ellipsis', title: s.user_id ?? '' }, s.user_id ?? h('span', { class: 'muted' }, '—')),
    h('td', { class: 'ellipsis url', title: s.first_url }, s.first_url),
    h('td', { class: 'num' }, s.page_loads),
    h('td', { class: 'num' }, s.clicks),
    h('td', { class: s.console_errors > 0 ? 'num has-errors' : 'num' }, s.console_errors),
    h('td', { class: 'ellipsis' }, device || h('span', { class: 'muted' }, '—')),
  );
}
