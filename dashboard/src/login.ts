import { ApiError, getMe, login } from './api';
import { h } from './dom';
import { formatWait } from './format';
import type { PageContext } from './page';
import { isAbort } from './page';
import type { Me } from './types';
import { checkEmail } from './validate';

/**
 * The sign-in page: email and password (`POST /api/v1/login`, which sets
 * the `reel_session` cookie), then `GET /api/v1/me` for the header, then
 * `onSignedIn`. Each error says what to do next.
 */
export function renderLogin(ctx: PageContext, notice: string | null, onSignedIn: (me: Me) => void): void {
  const email = h('input', {
    id: 'email',
    type: 'email',
    'data-testid': 'email-input',
    autocomplete: 'username',
    spellcheck: 'false',
    placeholder: 'you@example.com',
    required: true,
  });
  const password = h('input', {
    id: 'password',
    type: 'password',
    'data-testid': 'password-input',
    autocomplete: 'current-password',
    required: true,
  });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'sign-in-error', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'sign-in' }, 'Sign in');

  const showError = (text: string, kind: string) => {
    error.textContent = text;
    error.dataset.kind = kind;
    error.hidden = false;
  };

  const form = h(
    'form',
    {
      class: 'card login',
      novalidate: true,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const checked = checkEmail(email.value);
        if (!checked.ok) {
          showError(checked.error, 'invalid');
          email.focus();
          return;
        }
        if (password.value === '') {
          showError('Enter your password.', 'invalid');
          password.focus();
          return;
        }
        error.hidden = true;
        button.disabled = true;
        button.textContent = 'Signing in…';
        try {
          await login(checked.value, password.value, { signal: ctx.signal });
          const me = await getMe({ signal: ctx.signal, expect401: true });
          password.value = '';
          onSignedIn(me);
        } catch (e) {
          if (isAbort(e)) return;
          const [text, kind] = signInMessage(e);
          showError(text, kind);
          if (kind === 'bad_credentials') password.select();
        } finally {
          button.disabled = false;
          button.textContent = 'Sign in';
        }
      },
    },
    h('h1', null, 'Sign in to reel'),
    h('label', { for: 'email' }, 'Email'),
    email,
    h('label', { for: 'password' }, 'Password'),
    password,
    button,
    error,
    h(
      'p',
      { class: 'muted small' },
      'No account yet? Ask an admin of your organisation for an invitation. Scripts use API tokens instead.',
    ),
  );
  if (notice) showError(notice, 'notice');
  ctx.main.replaceChildren(form);
  email.focus();
}

/** What went wrong, as what to do about it, and its kind (`data-kind` of the error line). */
export function signInMessage(e: unknown): [string, string] {
  if (e instanceof ApiError) {
    if (e.status === 401) {
      return ['Wrong email or password. Check both and try again; if you forgot your password, ask an admin.', 'bad_credentials'];
    }
    if (e.status === 429) {
      const wait = e.retryAfter === null ? 'a few minutes' : formatWait(e.retryAfter);
      return [`Too many failed sign-ins. Wait ${wait}, then try again.`, 'rate_limited'];
    }
    if (e.status === 0) {
      return ['Could not reach the reel server. Check your connection (or that reel is running) and try again.', 'network'];
    }
    if (e.status === 503) return ['The server is in maintenance. Try again in a few minutes.', 'unavailable'];
    return [`Sign-in failed: ${e.message}. Try again; if it keeps failing, tell your admin.`, e.code];
  }
  return ['Sign-in failed. Try again.', 'unknown'];
}
