/**
 * Whether the dashboard's sign-in still holds. Signing in
 * (`POST /api/v1/login` with email and password) sets the HttpOnly cookie
 * `reel_session`, which authenticates every API call and the live socket
 * (`/v1/live`); the dashboard itself keeps no credential. A browser
 * cannot tell why a WebSocket failed to open, so when it does the live
 * socket asks `GET /api/v1/me` whether the cookie is still accepted.
 */

/** How the check went: `unauthorized` when the sign-in is gone (401). */
export type SessionResult = 'ok' | 'unauthorized' | 'failed';

/** Sends a GET; resolves with the HTTP status, 0 when there was no answer. */
export type GetStatus = (path: string) => Promise<number>;

export const LOGIN_PATH = '/api/v1/login';
export const LOGOUT_PATH = '/api/v1/logout';
export const ME_PATH = '/api/v1/me';

/**
 * Checks the sign-in. `check(false)` trusts it (the app checked it when it
 * loaded or signed in); `check(true)` asks the server, concurrent callers
 * sharing one request.
 */
export class SessionProbe {
  private pending: Promise<SessionResult> | null = null;

  constructor(private readonly get: GetStatus) {}

  check(refresh: boolean): Promise<SessionResult> {
    if (!refresh) return Promise.resolve('ok');
    if (this.pending) return this.pending;
    const attempt: Promise<SessionResult> = this.get(ME_PATH).then(
      (status) => (status >= 200 && status < 300 ? 'ok' : status === 401 ? 'unauthorized' : 'failed'),
      () => 'failed' as const,
    );
    this.pending = attempt;
    void attempt.then(() => {
      if (this.pending === attempt) this.pending = null;
    });
    return attempt;
  }
}
