import { listSessions, listSites } from './api';
import { h } from './dom';
import { errorText } from './errors';
import {
  DEVICES,
  EMPTY_FILTER,
  FLAG_FILTERS,
  activeFilters,
  filterFromQuery,
  filterToQuery,
  flagFromValue,
  flagValue,
  parseTrait,
  secondsToMs,
  type FlagFilter,
  type ListFilter,
  type TextFilter,
} from './filters';
import { formatDateTime, formatDuration, fromDateTimeLocal, toDateTimeLocal, zoneAt } from './format';
import type { PageContext } from './page';
import { isAbort } from './page';
import { hashOf, liveSitePath, sessionPath, sitePath, watchHash } from './route';
import { sessionBadges } from './signals';
import type { SessionInfo } from './types';
import { badgeList } from './widgets';

/**
 * A site's sessions, newest first, with filters: every filter of PROTOCOL.md
 * §7, combinable. The filters live in the hash query
 * (`#/sites/3?user_id=u1&has_rage_clicks=true`) so a filtered list is a
 * link; Apply writes them there and the router renders the page again.
 * Each row carries badges for its signals (errors, failed requests, rage
 * and dead clicks, track events), and a live badge with "Watch live" only
 * while a tracker of the session is connected (`live`, from presence).
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
  const text = (name: TextFilter, placeholder: string) =>
    h('input', { type: 'search', placeholder, 'data-testid': `filter-${name}`, value: filter[name] ?? '' });
  const url = text('url', '/checkout');
  // `filter-user` is what the browser tests' harness types into.
  const user = h('input', { type: 'search', placeholder: 'user id', 'data-testid': 'filter-user', value: filter.user_id ?? '' });
  const visitor = text('visitor_id', 'visitor id');
  const track = text('track', 'signup_completed');
  const errorContains = text('error_contains', 'TypeError');
  const userTrait = text('trait', 'plan:pro');
  const browser = text('browser', 'Chrome');
  const os = text('os', 'Windows 10');
  const device = h(
    'select',
    { 'data-testid': 'filter-device' },
    h('option', { value: '' }, 'any'),
    ...DEVICES.map((d) => h('option', { value: d }, d)),
  );
  device.value = filter.device ?? '';
  const flags = Object.fromEntries(
    FLAG_FILTERS.map((name) => {
      const [anyLabel, yes, no] = FLAG_WORDS[name];
      const select = h(
        'select',
        { 'data-testid': `filter-${name}` },
        h('option', { value: '' }, anyLabel),
        h('option', { value: 'true' }, yes),
        h('option', { value: 'false' }, no),
      );
      select.value = flagValue(filter[name]);
      return [name, select];
    }),
  ) as Record<FlagFilter, HTMLSelectElement>;

  const readForm = (): ListFilter => {
    const next: ListFilter = {
      ...EMPTY_FILTER,
      from: fromDateTimeLocal(from.value),
      to: fromDateTimeLocal(to.value),
      min_duration_ms: secondsToMs(minDuration.value),
      url: url.value.trim() || null,
      user_id: user.value.trim() || null,
      visitor_id: visitor.value.trim() || null,
      track: track.value.trim() || null,
      error_contains: errorContains.value.trim() || null,
      trait: userTrait.value.trim() || null,
      browser: browser.value.trim() || null,
      os: os.value.trim() || null,
      device: device.value || null,
    };
    for (const name of FLAG_FILTERS) next[name] = flagFromValue(flags[name].value);
    return next;
  };

  const go = (next: ListFilter) => {
    const hash = hashOf(sitePath(siteId), filterToQuery(next));
    if (hash === location.hash) load(null, true);
    else location.hash = hash;
  };

  const traitHint = h('small', { class: 'error', 'data-testid': 'filter-trait-error', hidden: true }, 'Write it as KEY:VALUE, e.g. plan:pro.');
  const advanced = activeFilters({ ...filter, from: null, to: null, min_duration_ms: null, url: null, user_id: null }) > 0;
  const more = h(
    'details',
    { class: 'more-filters', 'data-testid': 'more-filters', open: advanced },
    h('summary', null, 'More filters'),
    h(
      'div',
      { class: 'filter-grid' },
      field('Visitor id', visitor),
      field('Track event', track),
      field('Error text contains', errorContains),
      h('label', { class: 'field' }, h('span', null, 'User trait'), userTrait, traitHint),
      field('Browser', browser),
      field('OS', os),
      field('Device', device),
    ),
  );

  const form = h(
    'form',
    {
      class: 'filters',
      'data-testid': 'filters',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const t = userTrait.value.trim();
        traitHint.hidden = t === '' || parseTrait(t) !== null;
        if (!traitHint.hidden) {
          more.open = true;
          userTrait.focus();
          return;
        }
        go(readForm());
      },
    },
    field(`From (${zoneAt(Date.now())})`, from),
    field(`To (${zoneAt(Date.now())})`, to),
    field('Min duration (s)', minDuration),
    field('URL contains', url),
    field('User id', user),
    ...FLAG_FILTERS.map((name) => field(FLAG_WORDS[name][3], flags[name])),
    more,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'apply-filters' }, 'Apply'),
      h('button', { type: 'button', 'data-testid': 'clear-filters', onclick: () => go(EMPTY_FILTER) }, 'Clear'),
    ),
  );

  // What the status reports, for anyone waiting on the list (the browser
  // tests): `data-state` is loading, done or error, `data-query` the filter
  // it holds, as it is written in the address.
  const status = h('p', {
    class: 'muted',
    'data-testid': 'sessions-status',
    'data-state': 'loading',
    'data-query': filterToQuery(filter).toString(),
  });
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
        h('th', null, 'Signals'),
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
    status.dataset.state = 'loading';
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
        status.dataset.state = 'done';
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
        status.dataset.state = 'error';
      },
    );
  };
  load(null, true);
}

/** Per yes/no filter: the "any" choice, "with", "without", and the field's label. */
const FLAG_WORDS: Record<FlagFilter, [string, string, string, string]> = {
  live: ['any', 'live now', 'not live', 'Live'],
  has_errors: ['any', 'with errors', 'without', 'Errors'],
  has_failed_requests: ['any', 'with failed requests', 'without', 'Failed requests'],
  has_rage_clicks: ['any', 'with rage clicks', 'without', 'Rage clicks'],
  has_dead_clicks: ['any', 'with dead clicks', 'without', 'Dead clicks'],
};

function field(label: string, input: HTMLInputElement | HTMLSelectElement): HTMLLabelElement {
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
    h('td', { class: 'signals', 'data-testid': 'session-signals' }, badgeList(sessionBadges(s))),
    h('td', { class: 'ellipsis' }, device || h('span', { class: 'muted' }, '—')),
  );
}
