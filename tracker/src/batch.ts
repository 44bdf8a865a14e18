// The batch being filled: events are serialised as they are emitted, and the
// batch is cut when its JSON reaches `batch_max_bytes` or it holds
// `batch_max_events` events (and, by a timer, every `batch_interval_ms`).

/** Bytes of `{"t":"events","seq":9007199254740991,"events":[]}`, rounded up. */
const ENVELOPE = 64;

export interface BatchLimits {
  batch_max_bytes: number;
  batch_max_events: number;
}

export class Batcher {
  private items: string[] = [];
  private chars = ENVELOPE;

  get count(): number {
    return this.items.length;
  }

  /** Adds one event's JSON; true when the batch is full and should be cut now. */
  add(json: string, limits: BatchLimits): boolean {
    this.items.push(json);
    this.chars += json.length + 1;
    return this.full(limits);
  }

  full(limits: BatchLimits): boolean {
    return this.items.length >= limits.batch_max_events || this.chars >= limits.batch_max_bytes;
  }

  /** The events as JSON array items joined by commas, or null when empty; empties the batch. */
  take(): string | null {
    if (!this.items.length) return null;
    const events = this.items.join(",");
    this.clear();
    return events;
  }

  clear(): void {
    this.items = [];
    this.chars = ENVELOPE;
  }
}
