import { listSites } from './api';
import { h } from './dom';
import { errorText } from './errors';
import type { PageContext } from './page';
import { isAbort } from './page';
import { hashOf, liveSitePath, sitePath } from './route';
import type { SiteInfo } from './types';

/** The list of the organisation's sites; a row opens the site's sessions. */
export function renderSites(ctx: PageContext): void {
  const status = h('p', { class: 'muted', 'data-testid': 'sites-status' }, 'Loading sites…');
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
        h('th', null, ''),
      ),
    ),
    tbody,
  );
  ctx.main.replaceChildren(h('h1', null, 'Sites'), status, table);

  listSites({ signal: ctx.signal }).then(
    ({ sites }) => {
      if (sites.length === 0) {
        status.textContent = 'No sites yet. Create one with `reel site create --name NAME`.';
        return;
      }
      status.hidden = true;
      table.hidden = false;
      tbody.replaceChildren(...sites.map(siteRow));
    },
    (e: unknown) => {
      if (isAbort(e)) return;
      status.className = 'error';
      status.textContent = errorText(e, 'Could not load the sites');
    },
  );
}

function siteRow(site: SiteInfo): HTMLTableRowElement {
  const href = hashOf(sitePath(site.id));
  return h(
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
    h('td', { class: 'nowrap' }, h('a', { href: hashOf(liveSitePath(site.id)), 'data-testid': 'site-live' }, 'Live now')),
  );
}
