// A per-second cap on what the page can make the tracker record (console
// lines, requests): a fixed one-second window, the rest dropped and counted.

export interface RateCap {
  /**
   * May one more item through? Opening a new window first reports what the
   * last one dropped through `onDropped`.
   */
  take(onDropped?: (n: number) => void): boolean;
  /** Reports (when any) and forgets the drops counted so far. */
  close(onDropped?: (n: number) => void): void;
}

/** Lets at most `perSecond` items through in each one-second window. */
export function rateCap(perSecond: number, now: () => number): RateCap {
  let windowStart = -Infinity;
  let taken = 0;
  let dropped = 0;
  const close = (onDropped?: (n: number) => void) => {
    const n = dropped;
    dropped = 0;
    if (n > 0 && onDropped) onDropped(n);
  };
  return {
    take(onDropped) {
      const t = now();
      if (t - windowStart >= 1000) {
        close(onDropped);
        windowStart = t;
        taken = 0;
      }
      if (taken < perSecond) {
        taken++;
        return true;
      }
      dropped++;
      return false;
    },
    close,
  };
}
