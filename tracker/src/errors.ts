// Page errors as rrweb custom events (type 5) tagged "error"
// (PROTOCOL.md §7): `{"message","stack","source","line","col"}` from window
// `error` events and unhandled promise rejections, while the site's
// `capture_errors` is on (capture.ts).

export const MAX_ERROR_MESSAGE_CHARS = 1000;
export const MAX_ERROR_STACK_CHARS = 4000;

export interface ErrorPayload {
  message: string;
  stack: string;
  source: string;
  line: number;
  col: number;
}

/** What is read of an `ErrorEvent`. */
export interface ErrorLike {
  message?: string;
  error?: unknown;
  filename?: string;
  lineno?: number;
  colno?: number;
}

const FRAME = /(\w+:\/\/[^\s()]+?):(\d+):(\d+)/;

function text(v: unknown): string {
  try {
    return v instanceof Error ? v.message : String(v);
  } catch {
    return ""; // an object without toString
  }
}

function stackOf(v: unknown): string {
  const s = v && typeof v === "object" ? (v as { stack?: unknown }).stack : undefined;
  return typeof s === "string" ? s.slice(0, MAX_ERROR_STACK_CHARS) : "";
}

function payload(message: string, stack: string, source: string, line: number, col: number): ErrorPayload {
  if (!source) {
    // No location given (a rejection): the first frame of the stack.
    const m = FRAME.exec(stack);
    if (m) [source, line, col] = [m[1]!, Number(m[2]), Number(m[3])];
  }
  return { message: message.slice(0, MAX_ERROR_MESSAGE_CHARS), stack, source: source.slice(0, 2048), line, col };
}

/** The payload of a window `error` event. */
export function fromErrorEvent(e: ErrorLike): ErrorPayload {
  return payload(e.message || text(e.error), stackOf(e.error), e.filename || "", e.lineno || 0, e.colno || 0);
}

/** The payload of an `unhandledrejection` with this reason. */
export function fromRejection(reason: unknown): ErrorPayload {
  const name = reason instanceof Error ? reason.name : "";
  return payload(`Unhandled rejection: ${name ? `${name}: ` : ""}${text(reason)}`, stackOf(reason), "", 0, 0);
}

/** What `watchErrors` needs of a window. */
export type ErrorSource = Pick<EventTarget, "addEventListener" | "removeEventListener">;

/**
 * Turns `win`'s `error` and `unhandledrejection` events into payloads for
 * `emit` until the returned function is called.
 */
export function watchErrors(win: ErrorSource, emit: (p: ErrorPayload) => void): () => void {
  const onError = (e: Event) => emit(fromErrorEvent(e as ErrorLike));
  const onRejection = (e: Event) => emit(fromRejection((e as { reason?: unknown }).reason));
  win.addEventListener("error", onError);
  win.addEventListener("unhandledrejection", onRejection);
  return () => {
    win.removeEventListener("error", onError);
    win.removeEventListener("unhandledrejection", onRejection);
  };
}
