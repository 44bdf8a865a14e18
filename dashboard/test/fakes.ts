/// <reference types="node" />
// Fakes shared by the live tests: a WebSocket the test drives and a clock
// whose timers run when the test moves time on. Not a test file itself
// (run.mjs only runs *.test.ts).
import type { Clock, SocketLike } from '../src/live-socket';

export class FakeSocket implements SocketLike {
  readyState = 0;
  readonly sent: unknown[] = [];
  closed: { code?: number; reason?: string } | null = null;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
    this.readyState = 3;
  }

  /** The server accepts the upgrade. */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The server sends a text frame with this JSON. */
  receive(message: unknown): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) });
  }

  /** The connection goes away (server restart, network), or the upgrade is refused. */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code, reason: '' });
  }
}

export class FakeClock implements Clock {
  private t = 1_000_000;
  private nextId = 1;
  private timers: { id: number; at: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ id, at: this.t + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Delay of the one pending timer (for backoff checks). */
  pendingDelays(): number[] {
    return this.timers.map((t) => t.at - this.t);
  }

  /** Moves time on, running the timers that come due in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

/** Lets pending promise callbacks run (the client awaits the cookie before it connects). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
