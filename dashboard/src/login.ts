import { ApiError, listSites, setToken, startCookieSession } from './api';
import { h } from './dom';
import type { PageContext } from './page';
import { isAbort } from './page';

/**
 * The sign-in page: a token is accepted only once `GET /api/v1/sites`
 * succeeds with it; then it is kept in localStorage, `POST /api/v1/login`
 * sets the session cookie of the live socket, and the person goes on to
 * `next` (the page that sent them here) or the sites.
 */
export function renderLogin(ctx: PageContext, notice: string | null, next: string | null): void {
  const input = h('input', {
    id: 'token',
    type: 'password',
    'data-testid': 'token-input',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'API token',
    required: true,
  });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'sign-in-error', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'sign-in' }, 'Sign in');

  const showError = (text: string) => {
    error.textContent = text;
    error.hidden = false;
  };

  const form = h(
    'form',
    {
      class: 'card login',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const token = input.value.trim();
        if (token === '') {
          showError('Enter an API token.');
          return;
        }
        error.hidden = true;
        button.disabled = true;
        button.textContent = 'Signing in…';
        try {
          await listSites({ token, signal: ctx.signal });
          setToken(token);
          // The cookie that authenticates the live socket. Not having it
          // (an older server) only affects the live pages, which retry.
          if ((await startCookieSession()) === 'unauthorized') {
            showError('This token was not accepted.');
            return;
          }
          location.hash = next ?? '#/sites';
        } catch (e) {
          if (isAbort(e)) return;
          showError(signInMessage(e));
        } finally {
          button.disabled = false;
          button.textContent = 'Sign in';
        }
      },
    },
    h('h1', null, 'Sign in to reel'),
    h('p', { class: 'muted' }, 'Paste an API token (', h('code', null, 'reel token create'), ' prints one).'),
    h('label', { for: 'token' }, 'API token'),
    input,
    button,
    error,
  );
  if (notice) showError(notice);
  ctx.main.replaceChildren(form);
  input.focus();
}

function signInMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return 'This token was not accepted.';
    if (e.status === 0) return e.message;
    return `Sign-in failed: ${e.message}`;
  }
  return 'Sign-in failed.';
}
