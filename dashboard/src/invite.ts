import { ApiError, acceptInvitation, getMe } from './api';
import { h } from './dom';
import type { PageContext } from './page';
import { isAbort } from './page';
import type { Me } from './types';
import { MIN_PASSWORD_CHARS, checkName, checkNewPassword } from './validate';

/**
 * The invitation page (`#/invite/{code}`, the link an admin sent): the
 * person picks their name and a password, `POST
 * /api/v1/invitations/{code}/accept` creates the account and signs it in.
 */
export function renderInvite(ctx: PageContext, code: string, onSignedIn: (me: Me) => void): void {
  const name = h('input', { id: 'name', type: 'text', 'data-testid': 'invite-name', autocomplete: 'name', required: true });
  const password = h('input', {
    id: 'new-password',
    type: 'password',
    'data-testid': 'invite-password',
    autocomplete: 'new-password',
    minlength: MIN_PASSWORD_CHARS,
    required: true,
  });
  const repeat = h('input', {
    id: 'repeat-password',
    type: 'password',
    'data-testid': 'invite-repeat',
    autocomplete: 'new-password',
    required: true,
  });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'invite-error', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'invite-accept' }, 'Join');
  const showError = (text: string) => {
    error.textContent = text;
    error.hidden = false;
  };

  const form = h(
    'form',
    {
      class: 'card login',
      novalidate: true,
      'data-testid': 'invite-form',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const checkedName = checkName(name.value, 'your name');
        if (!checkedName.ok) {
          showError(checkedName.error);
          name.focus();
          return;
        }
        const checkedPassword = checkNewPassword(password.value, repeat.value);
        if (!checkedPassword.ok) {
          showError(checkedPassword.error);
          password.focus();
          return;
        }
        error.hidden = true;
        button.disabled = true;
        button.textContent = 'Joining…';
        try {
          await acceptInvitation(code, checkedName.value, checkedPassword.value, { signal: ctx.signal });
          const me = await getMe({ signal: ctx.signal, expect401: true });
          onSignedIn(me);
        } catch (e) {
          if (isAbort(e)) return;
          showError(acceptMessage(e));
        } finally {
          button.disabled = false;
          button.textContent = 'Join';
        }
      },
    },
    h('h1', null, 'Join your team on reel'),
    h('p', { class: 'muted' }, 'You were invited to an organisation. Choose the name your team sees and a password.'),
    h('label', { for: 'name' }, 'Your name'),
    name,
    h('label', { for: 'new-password' }, 'Password'),
    password,
    h('p', { class: 'muted small hint' }, `At least ${MIN_PASSWORD_CHARS} characters.`),
    h('label', { for: 'repeat-password' }, 'Password again'),
    repeat,
    button,
    error,
  );
  ctx.main.replaceChildren(form);
  name.focus();
}

function acceptMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 404 || e.status === 410 || e.status === 401) {
      return 'This invitation link is not valid any more: it was used, revoked or has expired (links last 7 days). Ask your admin for a new one.';
    }
    if (e.status === 409) return `${e.message}. If you already have an account, sign in instead.`;
    if (e.status === 400) return `${e.message}.`;
    if (e.status === 0) return 'Could not reach the reel server. Check your connection and try again.';
    return `Could not join: ${e.message}.`;
  }
  return 'Could not join. Try again.';
}
