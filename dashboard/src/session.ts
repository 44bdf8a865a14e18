/**
 * The dashboard's session cookie. A browser WebSocket cannot send an
 * `Authorization` header, so the live socket (`/v1/live`) is authenticated by
 * the HttpOnly cookie `reel_session` that `POST /api/v1/login` sets for the
 * bearer token; `POST /api/v1/logout` clears it. The dashboard keeps using the
 * bearer token for every other call.
 */

/** How setting the cookie went: `unauthorized` when the token is refused (401). */
export type SessionResult = 'ok' | 'unauthorized' | 'failed';

/** Sends a POST; resolves with the HTTP status, 0 when there was no answer. */
export type PostStatus = (path: string) => Promise<number>;

export const LOGIN_PATH = '/api/v1/login';
export const LOGOUT_PATH = '/api/v1/logout';

/**
 * Sets the cookie once per sign-in: concurrent and later callers share the
 * answer. A failure (no answer, 5xx) is not kept, so the next caller tries
 * again; `start(true)` asks again even after success (the live socket does so
 * when it could not connect: the cookie may have expired).
 */
export class CookieSession {
  private current: Promise<SessionResult> | null = null;

  constructor(private readonly post: PostStatus) {}

  start(refresh = false): Promise<SessionResult> {
    if (this.current && !refresh) return this.current;
    const attempt: Promise<SessionResult> = this.post(LOGIN_PATH).then(
      (status) => (status >= 200 && status < 300 ? 'ok' : status === 401 ? 'unauthorized' : 'failed'),
      () => 'failed' as const,
    );
    this.current = attempt;
    void attempt.then((result) => {
      if (result !== 'ok' && this.current === attempt) this.current = null;
    });
    return attempt;
  }

  /** Clears the cookie (after a login still in flight, so that it cannot set it again). */
  async end(): Promise<void> {
    const pending = this.current;
    this.current = null;
    if (pending) await pending;
    try {
      await this.post(LOGOUT_PATH);
    } catch {
      // Signed out here either way; the cookie expires on its own.
    }
  }
}
