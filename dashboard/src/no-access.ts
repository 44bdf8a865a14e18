import { h } from './dom';
import type { PageContext } from './page';
import type { Me } from './types';

/** What a member or viewer sees on an admin page: that it is not theirs, and whom to ask. */
export function renderNoAccess(ctx: PageContext, me: Me): void {
  ctx.main.replaceChildren(
    h(
      'div',
      { class: 'card no-access', 'data-testid': 'no-access' },
      h('h1', null, "You don't have access to this page"),
      h(
        'p',
        null,
        `It is for the owners and admins of ${me.org.name}; you are signed in as `,
        h('strong', null, me.user?.email ?? 'an API token'),
        ` with the role `,
        h('strong', null, me.role),
        '.',
      ),
      h('p', null, 'If you need it, ask an admin of your organisation to change your role.'),
      h('p', null, h('a', { href: '#/sites' }, 'Go to the sites.')),
    ),
  );
}
