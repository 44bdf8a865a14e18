import { createInvitation, listInvitations, listSites, revokeInvitation } from './api';
import { assignableRoles, describeScope } from './access';
import { h, setChildren } from './dom';
import { errorText } from './errors';
import { formatDateTime } from './format';
import type { PageContext } from './page';
import { isAbort } from './page';
import type { Invitation, Me, Role, SiteInfo } from './types';
import { checkEmail } from './validate';
import { confirmButton, copyButton, roleSelect, sitesPicker, statusLine } from './widgets';

/**
 * Invitations (admin): invite someone by email with a role and a site
 * scope; the server answers a single-use link (valid 7 days) to send them,
 * shown here with a copy button. Pending invitations are listed and can
 * be revoked.
 */
export function renderInvitations(ctx: PageContext, me: Me): void {
  const status = statusLine('invitations-status', 'Loading invitations…');
  const formStatus = statusLine('invite-status');
  const created = h('div', { class: 'created', 'data-testid': 'invite-created', hidden: true });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'grid', hidden: true, 'data-testid': 'invitations-table' },
    h('thead', null, h('tr', null, h('th', null, 'Email'), h('th', null, 'Role'), h('th', null, 'Sites'), h('th', null, 'Sent'), h('th', null, 'Expires'), h('th', null, 'State'), h('th', null, ''))),
    tbody,
  );
  const email = h('input', { type: 'email', placeholder: 'name@example.com', 'data-testid': 'invite-email', required: true });
  const roles = assignableRoles(me.role);
  const role = roleSelect(roles, 'member', 'invite-role');
  const scopeHolder = h('span', { class: 'muted' }, 'Loading sites…');
  let scope: ReturnType<typeof sitesPicker> | null = null;
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'invite-create' }, 'Create invitation');
  const form = h(
    'form',
    {
      class: 'filters admin-form',
      'data-testid': 'invite-form',
      novalidate: true,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const checked = checkEmail(email.value);
        if (!checked.ok) {
          formStatus.error(checked.error);
          return;
        }
        submit.disabled = true;
        try {
          const sites = scope?.value() ?? null;
          const { url } = await createInvitation({ email: checked.value, role: role.value as Role, sites });
          formStatus.clear();
          showCreated(checked.value, absoluteUrl(url));
          email.value = '';
          void load();
        } catch (e) {
          formStatus.error(errorText(e, 'Could not create the invitation'));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('label', { class: 'field' }, h('span', null, 'Email'), email),
    h('label', { class: 'field' }, h('span', null, 'Role'), role),
    h('div', { class: 'field' }, h('span', null, 'Sites'), scopeHolder),
    h('div', { class: 'actions' }, submit),
  );

  const showCreated = (to: string, url: string) => {
    const field = h('input', { type: 'text', readonly: true, value: url, class: 'copy-field', 'data-testid': 'invite-url' });
    setChildren(
      created,
      h('p', null, 'Send this link to ', h('strong', null, to), '. It works once, for 7 days:'),
      h('div', { class: 'copy-row' }, field, copyButton(() => field.value, 'invite-copy', 'Copy link')),
    );
    created.hidden = false;
    field.select();
  };

  ctx.main.replaceChildren(
    h('h1', null, 'Invitations'),
    h('h2', null, 'Invite someone'),
    form,
    formStatus.el,
    created,
    h('h2', null, 'Sent'),
    status.el,
    table,
  );

  let sites: SiteInfo[] = [];
  const load = () =>
    listInvitations({ signal: ctx.signal }).then(
      ({ invitations }) => {
        table.hidden = invitations.length === 0;
        if (invitations.length === 0) status.info('No invitations yet.');
        else status.clear();
        tbody.replaceChildren(...invitations.map((i) => invitationRow(i, sites, load, status)));
      },
      (e: unknown) => {
        if (!isAbort(e)) status.error(errorText(e, 'Could not load the invitations'));
      },
    );
  listSites({ signal: ctx.signal }).then(
    (list) => {
      sites = list.sites;
      scope = sitesPicker(sites, null, 'invite-sites');
      scopeHolder.replaceWith(scope.el);
      void load();
    },
    (e: unknown) => {
      if (!isAbort(e)) status.error(errorText(e, 'Could not load the sites'));
    },
  );
}

/** The server's link may be a path: make it one to send. */
function absoluteUrl(url: string): string {
  try {
    return new URL(url, location.href).href;
  } catch {
    return url;
  }
}

/** Where an invitation stands: `pending` until it is used, revoked or past its expiry. */
export function invitationState(invitation: Invitation, now: number): 'pending' | 'used' | 'revoked' | 'expired' {
  if (invitation.used_at !== null) return 'used';
  if (invitation.revoked_at !== null) return 'revoked';
  if (invitation.expires_at <= now) return 'expired';
  return 'pending';
}

function invitationRow(invitation: Invitation, sites: SiteInfo[], reload: () => Promise<void>, status: ReturnType<typeof statusLine>): HTMLTableRowElement {
  const names = new Map(sites.map((s) => [s.id, s.name]));
  const state = invitationState(invitation, Date.now());
  return h(
    'tr',
    { 'data-testid': 'invitation-row', 'data-invitation-id': invitation.id, 'data-email': invitation.email, class: state === 'pending' ? null : 'inactive' },
    h('td', null, invitation.email),
    h('td', null, invitation.role),
    h('td', null, describeScope(invitation.sites, names)),
    h('td', { class: 'nowrap' }, formatDateTime(invitation.created_at)),
    h('td', { class: 'nowrap' }, formatDateTime(invitation.expires_at)),
    h('td', { 'data-testid': 'invitation-state' }, state),
    h(
      'td',
      { class: 'nowrap actions' },
      state !== 'pending' ? null : confirmButton(
        'Revoke',
        `Revoke the invitation of ${invitation.email}?`,
        async () => {
          try {
            await revokeInvitation(invitation.id);
            status.info(`Revoked the invitation of ${invitation.email}.`);
            await reload();
          } catch (e) {
            status.error(errorText(e, 'Could not revoke the invitation'));
          }
        },
        'invitation-revoke',
      ),
    ),
  );
}
