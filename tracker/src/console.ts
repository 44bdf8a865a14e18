// Console capture through rrweb's console plugin (events of type 6, plugin
// "rrweb/console@1"), bounded: each line keeps at most MAX_CONSOLE_ARGS
// arguments of MAX_CONSOLE_ARG_CHARS characters and MAX_TRACE_FRAMES stack
// frames, and at most CONSOLE_LINES_PER_SECOND lines a second are recorded;
// the rest are counted and reported as one "reel: N console lines dropped"
// warning when the second is over. Window errors and rejections are not
// console lines here: errors.ts records them.

import { getRecordConsolePlugin, type LogData } from "@rrweb/rrweb-plugin-console-record";
import { rateCap } from "./rate";

export const CONSOLE_LINES_PER_SECOND = 50;
/** Lines rrweb's plugin records in one recording (one page load, or until settings restart it). */
export const CONSOLE_LINES_PER_RECORDING = 10_000;
export const MAX_CONSOLE_ARGS = 10;
export const MAX_CONSOLE_ARG_CHARS = 1000;
export const MAX_TRACE_FRAMES = 10;

const clip = (s: string): string => (s.length > MAX_CONSOLE_ARG_CHARS ? `${s.slice(0, MAX_CONSOLE_ARG_CHARS)}...` : s);

/** One console line within the per-line bounds. */
export function clipLine(line: LogData): LogData {
  return {
    level: line.level,
    trace: (line.trace || []).slice(0, MAX_TRACE_FRAMES).map(clip),
    payload: (line.payload || []).slice(0, MAX_CONSOLE_ARGS).map(clip),
  };
}

/** The line that stands for `n` lines dropped over the per-second cap. */
export function droppedLine(n: number): LogData {
  return { level: "warn", trace: [], payload: [JSON.stringify(`reel: ${n} console lines dropped`)] };
}

/** Timers as the console bound needs them (the window's in the browser). */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Wraps the plugin's callback: clips each line, caps lines per second and
 * reports the drops. Returns the callback and a function that stops its timer.
 */
export function boundConsole(cb: (line: LogData) => void, timers: Timers): [(line: LogData) => void, () => void] {
  const cap = rateCap(CONSOLE_LINES_PER_SECOND, timers.now);
  const report = (n: number) => cb(droppedLine(n));
  let timer: unknown = null;
  const bounded = (line: LogData) => {
    if (cap.take(report)) return cb(clipLine(line));
    if (timer === null) {
      timer = timers.setTimeout(() => {
        timer = null;
        cap.close(report);
      }, 1000);
    }
  };
  const stop = () => {
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
  };
  return [bounded, stop];
}

type Observer = (cb: (line: LogData) => void, win: Window, options: unknown) => () => void;

/** rrweb's console plugin with reel's bounds. */
export function consolePlugin(timers: Timers) {
  const plugin = getRecordConsolePlugin({
    lengthThreshold: CONSOLE_LINES_PER_RECORDING,
    stringifyOptions: { stringLengthLimit: MAX_CONSOLE_ARG_CHARS, numOfKeysLimit: 20, depthOfLimit: 2 },
  });
  const observe = plugin.observer as unknown as Observer;
  return {
    ...plugin,
    observer(cb: (line: LogData) => void, win: Window, options: unknown): () => void {
      const [bounded, stop] = boundConsole(cb, timers);
      // With "error" among its levels the plugin also turns window errors
      // and unhandled rejections into console lines; reel records each of
      // those once, as its own `error` event (errors.ts). So the plugin is
      // given the page's console and a window without events.
      const noEvents = { console: (win as Window & { console: Console }).console, addEventListener() {}, removeEventListener() {} };
      const undo = observe(bounded, noEvents as unknown as Window, options);
      return () => {
        stop();
        undo();
      };
    },
  };
}
