/** What a page gets when the router renders it. */
export interface PageContext {
  /** The element the page fills. */
  main: HTMLElement;
  /** Aborted when the person navigates away: stop fetches, drop late results. */
  signal: AbortSignal;
  /** Registers work to undo when the page goes (timers, players). */
  onCleanup(fn: () => void): void;
}

/** True for the error a fetch rejects with once its signal is aborted. */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}
