import { describe, expect, it } from "vitest";
import {
  boundConsole,
  clipLine,
  CONSOLE_LINES_PER_SECOND,
  consolePlugin,
  droppedLine,
  MAX_CONSOLE_ARG_CHARS,
  MAX_CONSOLE_ARGS,
  MAX_TRACE_FRAMES,
  type Timers,
} from "../src/console";

/** Timers whose clock and pending callbacks the test moves by hand. */
function manualTimers() {
  let now = 0;
  const pending: { at: number; fn: () => void }[] = [];
  const timers: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const t = { at: now + ms, fn };
      pending.push(t);
      return t;
    },
    clearTimeout: (h) => {
      const i = pending.indexOf(h as never);
      if (i >= 0) pending.splice(i, 1);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const t of pending.filter((p) => p.at <= now)) {
      pending.splice(pending.indexOf(t), 1);
      t.fn();
    }
  };
  return { timers, advance, pending };
}

const line = (i: number) => ({ level: "log" as const, trace: [], payload: [JSON.stringify(`line ${i}`)] });

describe("console bounds", () => {
  it("clip each line's arguments, their length and its stack", () => {
    const long = "y".repeat(MAX_CONSOLE_ARG_CHARS + 1);
    const c = clipLine({
      level: "log",
      trace: Array.from({ length: MAX_TRACE_FRAMES + 3 }, (_, i) => `f${i}`),
      payload: [long, ...Array.from({ length: MAX_CONSOLE_ARGS + 2 }, () => "a")],
    });
    expect(c.payload.length).toBe(MAX_CONSOLE_ARGS);
    expect(c.payload[0]).toBe(`${"y".repeat(MAX_CONSOLE_ARG_CHARS)}...`);
    expect(c.payload[1]).toBe("a");
    expect(c.trace.length).toBe(MAX_TRACE_FRAMES);
  });

  it("let CONSOLE_LINES_PER_SECOND lines a second through, then one dropped line when the second is over", () => {
    const { timers, advance, pending } = manualTimers();
    const out: unknown[] = [];
    const [bounded, stop] = boundConsole((l) => out.push(l), timers);
    for (let i = 0; i < CONSOLE_LINES_PER_SECOND + 7; i++) bounded(line(i));
    expect(out.length).toBe(CONSOLE_LINES_PER_SECOND);
    advance(999);
    expect(out.length).toBe(CONSOLE_LINES_PER_SECOND);
    advance(1);
    expect(out.length).toBe(CONSOLE_LINES_PER_SECOND + 1);
    expect(out[out.length - 1]).toEqual(droppedLine(7));
    expect(droppedLine(7).payload).toEqual(['"reel: 7 console lines dropped"']);
    // A new second: lines pass again, and a drop report is not repeated.
    bounded(line(100));
    expect(out[out.length - 1]).toEqual(line(100));
    advance(5000);
    expect(out.length).toBe(CONSOLE_LINES_PER_SECOND + 2);
    // Drops pending when recording stops are not reported later.
    for (let i = 0; i < CONSOLE_LINES_PER_SECOND + 1; i++) bounded(line(i));
    expect(pending.length).toBe(1);
    stop();
    expect(pending.length).toBe(0);
  });

  it("apply to rrweb's console plugin", () => {
    // The plugin's stringify asks `instanceof Node`; Node.js has no DOM.
    const g = globalThis as { Node?: unknown };
    g.Node ??= class {};
    const { timers } = manualTimers();
    const calls: unknown[][] = [];
    const fakeConsole = {
      log: (...a: unknown[]) => calls.push(a),
      error: (...a: unknown[]) => calls.push(a),
    };
    const win = { console: fakeConsole, addEventListener() {}, removeEventListener() {} };
    const out: { level: string; payload: string[] }[] = [];
    const plugin = consolePlugin(timers);
    expect(plugin.name).toBe("rrweb/console@1");
    const undo = plugin.observer((l) => out.push(l), win as never, plugin.options);
    for (let i = 0; i < CONSOLE_LINES_PER_SECOND + 3; i++) win.console.log("n", i, "z".repeat(5000));
    win.console.error("x");
    // The page's console still gets every line.
    expect(calls.length).toBe(CONSOLE_LINES_PER_SECOND + 4);
    expect(out.length).toBe(CONSOLE_LINES_PER_SECOND);
    expect(out[0]!.payload[0]).toBe('"n"');
    expect(out[0]!.payload[2]!.length).toBeLessThanOrEqual(MAX_CONSOLE_ARG_CHARS + 5);
    undo();
    expect(win.console).toBe(fakeConsole);
    expect(win.console.log).toBe(fakeConsole.log);
  });
  it("leave window errors and rejections to reel's error events: console.error stays a line, a thrown error is none", () => {
    const g = globalThis as { Node?: unknown };
    g.Node ??= class {};
    const { timers } = manualTimers();
    const fakeConsole = { log: (..._: unknown[]) => {}, error: (..._: unknown[]) => {} };
    // A window with events: the plugin would listen for "error" and "unhandledrejection" on it.
    const win = Object.assign(new EventTarget(), { console: fakeConsole });
    const out: { level: string; payload: string[] }[] = [];
    const plugin = consolePlugin(timers);
    const undo = plugin.observer((l) => out.push(l), win as never, plugin.options);
    win.dispatchEvent(Object.assign(new Event("error"), { message: "Uncaught Error: boom", error: new Error("boom") }));
    win.dispatchEvent(Object.assign(new Event("unhandledrejection"), { reason: new Error("nope") }));
    expect(out).toEqual([]);
    win.console.error("logged");
    expect(out.map((l) => [l.level, l.payload])).toEqual([["error", ['"logged"']]]);
    undo();
  });
});
