import type { RRwebEvent } from './types';

/**
 * Splits text that arrives in arbitrary chunks into lines. A line may span
 * many chunks (a full snapshot can be megabytes), so pieces of the unfinished
 * line are kept in a list and joined once, when its newline arrives.
 */
export class LineSplitter {
  private pending: string[] = [];

  /** Feeds one chunk; returns the lines it completed (blank lines dropped). */
  push(chunk: string): string[] {
    const lines: string[] = [];
    let start = 0;
    let nl = chunk.indexOf('\n');
    while (nl !== -1) {
      let line = chunk.slice(start, nl);
      if (this.pending.length > 0) {
        this.pending.push(line);
        line = this.pending.join('');
        this.pending = [];
      }
      addLine(lines, line);
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    if (start < chunk.length) this.pending.push(chunk.slice(start));
    return lines;
  }

  /** Ends the input; returns the last line if it had no trailing newline. */
  end(): string[] {
    const lines: string[] = [];
    addLine(lines, this.pending.join(''));
    this.pending = [];
    return lines;
  }
}

function addLine(lines: string[], line: string): void {
  const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (trimmed.trim() !== '') lines.push(trimmed);
}

/** Parses one NDJSON line as an rrweb event; null if it is not one. */
export function parseEvent(line: string): RRwebEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { type, timestamp } = value as { type?: unknown; timestamp?: unknown };
  if (typeof type !== 'number' || typeof timestamp !== 'number') return null;
  return value as RRwebEvent;
}

export interface ReadResult {
  /** Events delivered. */
  events: number;
  /** Lines that were not an rrweb event and were skipped. */
  skipped: number;
}

/**
 * Reads an NDJSON byte stream to its end, handing over the events of each
 * chunk as soon as the chunk has arrived. `onEvents` is called only with a
 * non-empty batch. Rejects if the stream fails (network error, abort).
 */
export async function readEvents(
  body: ReadableStream<Uint8Array>,
  onEvents: (events: RRwebEvent[]) => void,
): Promise<ReadResult> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  const splitter = new LineSplitter();
  const result: ReadResult = { events: 0, skipped: 0 };
  const deliver = (lines: string[]) => {
    const events: RRwebEvent[] = [];
    for (const line of lines) {
      const event = parseEvent(line);
      if (event) events.push(event);
      else result.skipped++;
    }
    if (events.length > 0) {
      result.events += events.length;
      onEvents(events);
    }
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      deliver(splitter.push(decoder.decode(value, { stream: true })));
    }
    deliver(splitter.push(decoder.decode()));
    deliver(splitter.end());
  } finally {
    reader.releaseLock();
  }
  return result;
}

/**
 * Holds events back until a replay can start: the player needs a Meta event
 * (page size) and a FullSnapshot (the DOM) before anything else makes sense.
 */
export class StartGate {
  private buffered: RRwebEvent[] = [];
  private sawMeta = false;
  private sawSnapshot = false;
  private opened = false;

  /**
   * Feeds events. Returns null while the gate stays shut; once it opens, the
   * first call returns every event so far (to create the player with) and
   * later calls return just the new events (to add to it).
   */
  push(events: RRwebEvent[]): { start: RRwebEvent[] } | { more: RRwebEvent[] } | null {
    if (this.opened) return { more: events };
    for (const event of events) {
      if (event.type === 4) this.sawMeta = true;
      else if (event.type === 2) this.sawSnapshot = true;
      this.buffered.push(event);
    }
    if (this.sawMeta && this.sawSnapshot) return this.open();
    return null;
  }

  /**
   * At the end of the stream: opens the gate if there is at least a full
   * snapshot and a second event to replay (no Meta, the player still copes),
   * else returns null (nothing replayable).
   */
  finish(): RRwebEvent[] | null {
    if (this.opened) return null;
    if (this.sawSnapshot && this.buffered.length >= 2) return this.open().start;
    return null;
  }

  get isOpen(): boolean {
    return this.opened;
  }

  private open(): { start: RRwebEvent[] } {
    this.opened = true;
    const start = this.buffered;
    this.buffered = [];
    return { start };
  }
}
