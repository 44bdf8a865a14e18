import { listMembers, listSites, removeMember, updateMember } from './api';
import { assignableRoles, canManage, describeScope } from './access';
import { h } from './dom';
import { errorText } from './errors';
import { formatDateTime } from './format';
import type { PageContext } from './page';
import { isAbort } from './page';
import type { Me, Member, Role, SiteInfo } from './types';
import { confirmButton, roleSelect, sitesPicker, statusLine } from './widgets';

/**
 * Members of the organisation (admin): each person's role and site scope,
 * which an admin may change (`PATCH /api/v1/members/{id}`) or end
 * (`DELETE`: their sign-ins end at once, live sockets within 10 s). Admins
 * change members and viewers; owners anyone.
 */
export function renderMembers(ctx: PageContext, me: Me): void {
  const status = statusLine('members-status', 'Loading members…');
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'grid', hidden: true, 'data-testid': 'members-table' },
    h(
      'thead',
      null,
      h('tr', null, h('th', null, 'Name'), h('th', null, 'Email'), h('th', null, 'Role'), h('th', null, 'Sites'), h('th', null, 'Joined'), h('th', null, '')),
    ),
    tbody,
  );
  ctx.main.replaceChildren(
    h('h1', null, 'Members'),
    h('p', { class: 'muted' }, 'People of ', me.org.name, '. Invite more on the ', h('a', { href: '#/invitations' }, 'invitations'), ' page.'),
    status.el,
    table,
  );

  const load = () =>
    Promise.all([listMembers({ signal: ctx.signal }), listSites({ signal: ctx.signal })]).then(
      ([{ members }, { sites }]) => {
        status.clear();
        table.hidden = false;
        tbody.replaceChildren(...members.map((m) => memberRow(m, me, sites, load, status)));
      },
      (e: unknown) => {
        if (!isAbort(e)) status.error(errorText(e, 'Could not load the members'));
      },
    );
  void load();
}

function memberRow(
  member: Member,
  me: Me,
  sites: SiteInfo[],
  reload: () => Promise<void>,
  status: ReturnType<typeof statusLine>,
): HTMLTableRowElement {
  const names = new Map(sites.map((s) => [s.id, s.name]));
  const self = member.user_id === me.user?.id;
  const editable = !self && canManage(me.role, member.role);
  const base = [
    h('td', null, member.name, self ? h('span', { class: 'muted' }, ' (you)') : null),
    h('td', null, member.email),
  ];
  const joined = h('td', { class: 'nowrap' }, formatDateTime(member.created_at));
  if (!editable) {
    return h(
      'tr',
      { 'data-testid': 'member-row', 'data-user-id': member.user_id, 'data-email': member.email },
      base,
      h('td', { 'data-testid': 'member-role' }, member.role),
      h('td', null, describeScope(member.sites, names)),
      joined,
      h('td', { class: 'muted small' }, self ? '' : 'only owners change admins and owners'),
    );
  }
  const role = roleSelect(assignableRoles(me.role), member.role, 'member-role');
  const scope = sitesPicker(sites, member.sites, 'member-sites');
  const save = h('button', { type: 'button', 'data-testid': 'member-save' }, 'Save');
  save.addEventListener('click', async () => {
    save.disabled = true;
    try {
      await updateMember(member.user_id, { role: role.value as Role, sites: scope.value() });
      status.info(`Saved: ${member.email} is now ${role.value} on ${describeScope(scope.value(), names)}.`);
      await reload();
    } catch (e) {
      status.error(errorText(e, `Could not change ${member.email}`));
    } finally {
      save.disabled = false;
    }
  });
  const remove = confirmButton(
    'Remove',
    `Remove ${member.email}?`,
    async () => {
      try {
        await removeMember(member.user_id);
        status.info(`Removed ${member.email}: their sign-ins have ended.`);
        await reload();
      } catch (e) {
        status.error(errorText(e, `Could not remove ${member.email}`));
      }
    },
    'member-remove',
  );
  return h(
    'tr',
    { 'data-testid': 'member-row', 'data-user-id': member.user_id, 'data-email': member.email },
    base,
    h('td', null, role),
    h('td', null, scope.el),
    joined,
    h('td', { class: 'nowrap actions' }, save, ' ', remove),
  );
}
