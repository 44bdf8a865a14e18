// Reconnect timing: exponential backoff with full jitter, and what each close
// code of PROTOCOL.md §1 means for the tracker.

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30_000;
/** 4429 rate_limited: wait at least this long. */
export const RATE_LIMITED_FLOOR_MS = 5_000;
/** 4503 unavailable (maintenance, shutdown) and maintenance settings: wait at least this long. */
export const UNAVAILABLE_FLOOR_MS = 30_000;

/**
 * Full jitter: a uniform delay in [0, min(cap, base * 2^attempt)).
 * `attempt` counts failed connections since the last `welcome`, from 0.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, Math.max(0, attempt)));
  return Math.floor(random() * ceiling);
}

/** A wait of at least `floor`, spread over [floor, 2 * floor) so clients do not return together. */
export function flooredDelay(floor: number, random: () => number = Math.random): number {
  return floor + Math.floor(random() * floor);
}

/** What the tracker does after a connection closed. */
export interface Reaction {
  /** Least wait before reconnecting, ms (0: the backoff alone decides). */
  floor: number;
  /** The session is over: start a new one (4410). */
  newSession: boolean;
  /** The first batch not yet stored is refused: drop it after the next welcome (4400, 4413). */
  dropSuspect: boolean;
  /** Do not reconnect during this page load (a refused hello: our bug, retrying cannot help). */
  stop: boolean;
}

/** Close codes the server uses (PROTOCOL.md §1). */
export const CLOSE = {
  badMessage: 4400,
  idle: 4408,
  seqGap: 4409,
  sessionOver: 4410,
  tooLarge: 4413,
  rateLimited: 4429,
  unavailable: 4503,
} as const;

/**
 * The reaction to close `code`. `welcomed`: the connection got its welcome,
 * so a 4400 or 4413 refers to a batch (or identify) rather than the hello.
 */
export function reactionTo(code: number, welcomed: boolean): Reaction {
  const r: Reaction = { floor: 0, newSession: false, dropSuspect: false, stop: false };
  switch (code) {
    case CLOSE.badMessage:
    case CLOSE.tooLarge:
      if (welcomed) r.dropSuspect = true;
      else r.stop = true;
      break;
    case CLOSE.sessionOver:
      r.newSession = true;
      break;
    case CLOSE.rateLimited:
      r.floor = RATE_LIMITED_FLOOR_MS;
      break;
    case CLOSE.unavailable:
      r.floor = UNAVAILABLE_FLOOR_MS;
      break;
    // 4408 idle, 4409 seq_gap (the next welcome gives next_seq), 1011 internal,
    // 1006 (a failed upgrade: 401, 403, 429 or 503 look alike to a browser)
    // and anything else: reconnect after the backoff.
  }
  return r;
}
