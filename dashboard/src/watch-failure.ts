/**
 * What the live player does when the server refuses its `watch`
 * (PROTOCOL.md §4 `error`): give up and say so once, offering the replay,
 * or ask again a bounded number of times.
 *
 * `live` means a tracker of the session is connected now (presence), so a
 * `not_live` answer to a page that just opened is the truth about the
 * session: it is over, or the visitor is gone. Asking again would only
 * repeat it (the page used to, forever). The one exception is a page
 * that was watching when its connection dropped (the node restarted, say):
 * the visitor's tracker reconnects on its own a little later, so for a
 * few attempts `not_live` means "not back yet".
 */

/** Attempts after a refusal that may pass (`unavailable`, `rate_limited`, `not_live` while recovering). */
export const MAX_WATCH_RETRIES = 6;

/** Codes that a later attempt may not get. */
const TRANSIENT = new Set(['unavailable', 'rate_limited']);

export type RefusalVerdict =
  /** Ask again after a backoff delay. */
  | { retry: true }
  /** Stop: say `text` once and offer the replay. */
  | { retry: false; text: string };

/**
 * The verdict on a refusal of code `code`; `retries` is how many attempts
 * were already made since the last successful start, `recovering` whether
 * the watch was playing before the connection dropped.
 */
export function refusalVerdict(code: string, message: string, retries: number, recovering: boolean): RefusalVerdict {
  const mayPass = TRANSIENT.has(code) || (code === 'not_live' && recovering);
  if (mayPass && retries < MAX_WATCH_RETRIES) return { retry: true };
  return { retry: false, text: refusalText(code, message) };
}

/** A refusal, for people. */
export function refusalText(code: string, message: string): string {
  switch (code) {
    case 'not_live':
      return 'This session is not live: no page of it is open now (the visitor left, or the session ended).';
    case 'not_found':
      return 'No such session here: it does not exist, it was deleted, or it is not one of your sites’.';
    case 'forbidden':
      return 'You may not watch this session.';
    case 'unavailable':
      return `The server could not start the live view (${message || code}); try again in a moment.`;
    case 'rate_limited':
      return `Too many live views at once (${message || code}): close one and try again.`;
    default:
      return `The server refused to show this session: ${message || code} (${code}).`;
  }
}
