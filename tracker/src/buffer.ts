// The resend buffer of one tab: every batch not yet acknowledged, in seq
// order, persisted in sessionStorage so that it survives page loads of the tab.
//
// Stored under `reel.pending` as
//   {"session": ID|null, "next": N, "acked": N|null, "batches": [[seq, events], ...]}
// where `events` is the batch's events as JSON array items joined by commas.
// When sessionStorage is full the batches stay in memory only and the stored
// copy keeps the counters without them: a reload then loses those batches,
// which `welcome` detects (`lost`) and repairs by renumbering.

import type { KV } from "./storage";
import { parseJSON } from "./storage";
import { KEYS } from "./session";
import { isId } from "./ids";

export interface Batch {
  seq: number;
  /** The events as JSON array items, joined by commas (without brackets). */
  events: string;
}

/** The `events` message of a batch, as sent on the wire. */
export function batchBody(b: Batch): string {
  return `{"t":"events","seq":${b.seq},"events":[${b.events}]}`;
}

interface Stored {
  session: string | null;
  next: number;
  acked: number | null;
  batches: [number, string][];
}

const isSeq = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

export class ResendBuffer {
  /** The session the counters and batches belong to (null: not yet known). */
  session: string | null = null;
  /** The seq the next batch gets. */
  next = 0;
  /** Highest seq of this (session, tab) acknowledged by a server, or null. */
  acked: number | null = null;
  /** Un-acknowledged batches, ascending and contiguous in seq. */
  batches: Batch[] = [];
  /** Characters held in `batches`. */
  size = 0;
  /** False when the last write to storage failed (quota): batches are in memory only. */
  persisted = true;

  private constructor(private readonly store: KV) {}

  /**
   * The buffer of this tab for `session`, as left by the previous page load.
   * A buffer of another session is dropped: its tab counters start over.
   */
  static load(store: KV, session: string | null): ResendBuffer {
    const b = new ResendBuffer(store);
    const s = parseJSON(store.get(KEYS.pending)) as Partial<Stored> | null;
    if (
      s &&
      (s.session === null || isId(s.session)) &&
      s.session === session &&
      isSeq(s.next) &&
      (s.acked === null || isSeq(s.acked)) &&
      Array.isArray(s.batches)
    ) {
      b.session = s.session;
      b.next = s.next;
      b.acked = s.acked;
      let expect = -1;
      for (const item of s.batches) {
        if (!Array.isArray(item) || !isSeq(item[0]) || typeof item[1] !== "string") break;
        if (expect !== -1 && item[0] !== expect) break;
        if (item[0] >= b.next) break;
        b.batches.push({ seq: item[0], events: item[1] });
        b.size += item[1].length;
        expect = item[0] + 1;
      }
    } else {
      b.session = session;
    }
    return b;
  }

  /** Starts over for `session` from `next` (a new session, or the tab became another tab). */
  reset(session: string | null, next = 0): void {
    this.session = session;
    this.next = next;
    this.acked = null;
    this.batches = [];
    this.size = 0;
    this.save();
  }

  /** Adds a batch of events (JSON items joined by commas) with the next seq. */
  push(events: string): Batch {
    const b = { seq: this.next++, events };
    this.batches.push(b);
    this.size += events.length;
    this.save();
    return b;
  }

  /** `ack N`: every batch with seq <= N is durable. */
  ack(seq: number): void {
    if (this.acked !== null && seq <= this.acked) return;
    this.acked = seq;
    this.dropBelow(seq + 1);
    this.save();
  }

  /**
   * `welcome` for this buffer's session: batches below `nextSeq` are durable
   * and dropped, the rest are to be resent in order starting at `nextSeq`.
   * If batches between `nextSeq` and the first one held are missing (lost in
   * a reload while storage was full, or dropped as too large), the held ones
   * are renumbered from `nextSeq` so the server sees no gap, and `lost` is
   * true: events were lost, so a new full snapshot should follow.
   */
  welcome(nextSeq: number): { resend: Batch[]; lost: boolean } {
    this.dropBelow(nextSeq);
    if (nextSeq > 0 && (this.acked === null || this.acked < nextSeq - 1)) this.acked = nextSeq - 1;
    const first = this.batches.length ? this.batches[0].seq : this.next;
    const lost = first > nextSeq;
    this.renumberFrom(0, nextSeq);
    this.save();
    return { resend: this.batches.slice(), lost };
  }

  /**
   * Drops one held batch that must never be sent (too large), renumbering the
   * later ones down by one. Only for batches no server has received: the
   * later ones must not have been sent either.
   */
  drop(seq: number): boolean {
    const i = this.batches.findIndex((b) => b.seq === seq);
    if (i < 0) return false;
    this.size -= this.batches[i].events.length;
    this.batches.splice(i, 1);
    this.renumberFrom(i, seq);
    this.save();
    return true;
  }

  private renumberFrom(index: number, seq: number): void {
    for (let i = index; i < this.batches.length; i++) this.batches[i].seq = seq + i - index;
    this.next = seq + this.batches.length - index;
  }

  private dropBelow(seq: number): void {
    let n = 0;
    while (n < this.batches.length && this.batches[n].seq < seq) this.size -= this.batches[n++].events.length;
    if (n) this.batches = this.batches.slice(n);
  }

  private save(): void {
    const state = (batches: [number, string][]): string =>
      JSON.stringify({ session: this.session, next: this.next, acked: this.acked, batches } satisfies Stored);
    this.persisted = this.store.set(KEYS.pending, state(this.batches.map((b) => [b.seq, b.events])));
    if (!this.persisted && !this.store.set(KEYS.pending, state([]))) this.store.remove(KEYS.pending);
  }
}
