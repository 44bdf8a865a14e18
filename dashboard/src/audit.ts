import { getAudit } from './api';
import { h } from './dom';
import { errorText } from './errors';
import { formatDateTime, zoneName } from './format';
import type { PageContext } from './page';
import { isAbort } from './page';
import type { AuditEntry } from './types';
import { statusLine } from './widgets';

/**
 * The audit log (admin): who did what, from where and when, newest first
 * (`GET /api/v1/audit`), a page at a time with **More**. Replays and live
 * watching are there, so an admin can tell who looked at a session.
 */
export function renderAudit(ctx: PageContext): void {
  const status = statusLine('audit-status', 'Loading the audit log…');
  const tbody = h('tbody');
  const zone = zoneName();
  const table = h(
    'table',
    { class: 'grid audit', hidden: true, 'data-testid': 'audit-table' },
    h(
      'thead',
      null,
      h('tr', null, h('th', { title: zone }, 'Time'), h('th', null, 'Actor'), h('th', null, 'IP'), h('th', null, 'Action'), h('th', null, 'Target')),
    ),
    tbody,
  );
  const more = h('button', { type: 'button', 'data-testid': 'audit-more', hidden: true }, 'More');
  ctx.main.replaceChildren(
    h('h1', null, 'Audit log'),
    h('p', { class: 'muted' }, 'Sign-ins, replays, live watching and every change, newest first.', zone ? ` Times in ${zone}.` : ''),
    status.el,
    table,
    h('p', { class: 'pager' }, more),
  );

  let cursor: string | null = null;
  const loadPage = () => {
    more.disabled = true;
    getAudit(cursor, { signal: ctx.signal }).then(
      (page) => {
        if (cursor === null && page.entries.length === 0) status.info('Nothing recorded yet.');
        else status.clear();
        table.hidden = tbody.children.length + page.entries.length === 0;
        tbody.append(...page.entries.map(auditRow));
        cursor = page.next_cursor;
        more.hidden = cursor === null;
        more.disabled = false;
      },
      (e: unknown) => {
        if (isAbort(e)) return;
        more.disabled = false;
        status.error(errorText(e, 'Could not load the audit log'));
      },
    );
  };
  more.addEventListener('click', loadPage);
  loadPage();
}

function auditRow(entry: AuditEntry): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-testid': 'audit-row', 'data-action': entry.action, 'data-actor': entry.actor },
    h('td', { class: 'nowrap' }, formatDateTime(entry.at)),
    h('td', null, entry.actor),
    h('td', null, h('code', null, entry.ip)),
    h('td', null, h('span', { class: `badge action` }, entry.action)),
    h('td', { class: 'ellipsis', title: entry.target }, entry.target),
  );
}
