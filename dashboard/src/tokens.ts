import { createToken, listTokens, revokeToken } from './api';
import { assignableRoles } from './access';
import { h, setChildren } from './dom';
import { errorText } from './errors';
import { formatDateTime } from './format';
import type { PageContext } from './page';
import { isAbort } from './page';
import type { Me, Role, TokenInfo } from './types';
import { checkName, parseDays } from './validate';
import { confirmButton, copyButton, roleSelect, statusLine } from './widgets';

/**
 * API tokens (admin), for scripts: create one with a name, a role and an
 * optional lifetime; the token is shown once, with a copy button, and
 * never again (the server keeps only its hash). Tokens are listed and can
 * be revoked (at once; their live sockets close within 10 s).
 */
export function renderTokens(ctx: PageContext, me: Me): void {
  const status = statusLine('tokens-status', 'Loading tokens…');
  const formStatus = statusLine('token-form-status');
  const created = h('div', { class: 'created', 'data-testid': 'token-created', hidden: true });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'grid', hidden: true, 'data-testid': 'tokens-table' },
    h(
      'thead',
      null,
      h('tr', null, h('th', null, 'Name'), h('th', null, 'Role'), h('th', null, 'Created'), h('th', null, 'Expires'), h('th', null, 'State'), h('th', null, '')),
    ),
    tbody,
  );
  const name = h('input', { type: 'text', placeholder: 'nightly export', 'data-testid': 'token-name', required: true });
  const role = roleSelect(assignableRoles(me.role), 'viewer', 'token-role');
  const expires = h('input', { type: 'number', min: 1, step: 1, placeholder: 'never', 'data-testid': 'token-expiry' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'token-create' }, 'Create token');
  const form = h(
    'form',
    {
      class: 'filters admin-form',
      novalidate: true,
      'data-testid': 'token-form',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const checkedName = checkName(name.value, 'a name for the token');
        if (!checkedName.ok) return formStatus.error(checkedName.error);
        const days = parseDays(expires.value, 'Expires after');
        if (!days.ok) return formStatus.error(days.error);
        submit.disabled = true;
        try {
          const { token } = await createToken({ name: checkedName.value, role: role.value as Role, expires_in_days: days.value });
          formStatus.clear();
          showCreated(checkedName.value, token);
          name.value = '';
          expires.value = '';
          void load();
        } catch (e) {
          formStatus.error(errorText(e, 'Could not create the token'));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('label', { class: 'field' }, h('span', null, 'Name'), name),
    h('label', { class: 'field' }, h('span', null, 'Role'), role),
    h('label', { class: 'field' }, h('span', null, 'Expires after (days)'), expires),
    h('div', { class: 'actions' }, submit),
  );

  const showCreated = (label: string, token: string) => {
    const field = h('input', { type: 'text', readonly: true, value: token, class: 'copy-field', 'data-testid': 'token-value' });
    const hide = h('button', { type: 'button', class: 'link', 'data-testid': 'token-done' }, 'Done, hide it');
    hide.addEventListener('click', () => {
      created.replaceChildren();
      created.hidden = true;
    });
    setChildren(
      created,
      h('p', null, 'The token ', h('strong', null, label), ': copy it now, it is not shown again. Scripts send it as ', h('code', null, 'Authorization: Bearer …'), '.'),
      h('div', { class: 'copy-row' }, field, copyButton(() => field.value, 'token-copy'), ' ', hide),
    );
    created.hidden = false;
    field.select();
  };

  ctx.main.replaceChildren(
    h('h1', null, 'API tokens'),
    h('p', { class: 'muted' }, 'For scripts and the API. People sign in with their own account instead.'),
    h('h2', null, 'New token'),
    form,
    formStatus.el,
    created,
    h('h2', null, 'Tokens'),
    status.el,
    table,
  );

  const load = () =>
    listTokens({ signal: ctx.signal }).then(
      ({ tokens }) => {
        table.hidden = tokens.length === 0;
        if (tokens.length === 0) status.info('No tokens.');
        else status.clear();
        tbody.replaceChildren(...tokens.map((t) => tokenRow(t, load, status)));
      },
      (e: unknown) => {
        if (!isAbort(e)) status.error(errorText(e, 'Could not load the tokens'));
      },
    );
  void load();
}

function tokenRow(token: TokenInfo, reload: () => Promise<void>, status: ReturnType<typeof statusLine>): HTMLTableRowElement {
  const revoked = token.revoked_at !== null;
  const expired = !revoked && token.expires_at !== null && token.expires_at <= Date.now();
  return h(
    'tr',
    { 'data-testid': 'token-row', 'data-token-id': token.id, 'data-name': token.name, class: revoked || expired ? 'inactive' : null },
    h('td', null, token.name),
    h('td', null, token.role),
    h('td', { class: 'nowrap' }, formatDateTime(token.created_at)),
    h('td', { class: 'nowrap' }, token.expires_at === null ? h('span', { class: 'muted' }, 'never') : formatDateTime(token.expires_at)),
    h('td', { class: 'nowrap', 'data-testid': 'token-state' }, revoked ? `revoked ${formatDateTime(token.revoked_at!)}` : expired ? 'expired' : 'active'),
    h(
      'td',
      { class: 'nowrap actions' },
      revoked || expired ? null : confirmButton(
        'Revoke',
        `Revoke ${token.name}?`,
        async () => {
          try {
            await revokeToken(token.id);
            status.info(`Revoked ${token.name}.`);
            await reload();
          } catch (e) {
            status.error(errorText(e, 'Could not revoke the token'));
          }
        },
        'token-revoke',
      ),
    ),
  );
}
