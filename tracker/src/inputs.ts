// Input is recorded as it is typed (rrweb `sampling.input: "all"`), at most
// one input event per field every INPUT_THROTTLE_MS: a later one within the
// window is held, replaced by newer ones, and emitted when the window ends,
// so the last value of a burst is always recorded. Values are masked by
// rrweb before they get here.

export const INPUT_THROTTLE_MS = 100;
/** rrweb: incremental snapshot event, input source. */
const INCREMENTAL = 3;
const INPUT_SOURCE = 5;

interface RrwebEvent {
  type: number;
  timestamp: number;
  data?: { source?: number; id?: number };
}

function inputId(e: unknown): number | null {
  const ev = e as RrwebEvent;
  return ev && ev.type === INCREMENTAL && ev.data && ev.data.source === INPUT_SOURCE && typeof ev.data.id === "number" ? ev.data.id : null;
}

export interface InputThrottle {
  /** Passes `e` on, or holds it when it is an input event of a field within its window. */
  push(e: unknown): void;
  /** Emits every held event now (before the page is left or recording stops). */
  flush(): void;
  /** Flushes, then forgets every field (a new recording numbers nodes anew). */
  reset(): void;
}

export function inputThrottle(
  emit: (e: unknown) => void,
  setTimer: (fn: () => void, ms: number) => unknown,
  clearTimer: (h: unknown) => void,
): InputThrottle {
  /** When the last input event of each field was emitted. */
  const last = new Map<number, number>();
  /** The newest input event of each field waiting for its window to end. */
  const held = new Map<number, unknown>();
  let timer: unknown = null;
  const flush = () => {
    if (timer !== null) clearTimer(timer);
    timer = null;
    const events = [...held.entries()];
    held.clear();
    for (const [id, e] of events) {
      last.set(id, (e as RrwebEvent).timestamp);
      emit(e);
    }
  };
  return {
    push(e) {
      const id = inputId(e);
      if (id === null) return emit(e);
      const t = (e as RrwebEvent).timestamp;
      const prev = last.get(id);
      if (prev === undefined || t - prev >= INPUT_THROTTLE_MS) {
        held.delete(id);
        last.set(id, t);
        return emit(e);
      }
      held.set(id, e);
      if (timer === null) timer = setTimer(flush, INPUT_THROTTLE_MS);
    },
    flush,
    reset() {
      flush();
      last.clear();
    },
  };
}
