// Client-side pacing of batches, so that a backlog (a tab offline for a
// while, then resending everything held) stays under the server's per-session
// token buckets instead of tripping 4429. The server's defaults
// (PROTOCOL.md §1) are 50 messages/s with a burst of 200, and 1 MiB/s with a
// burst of 16 MiB; the tracker keeps to half of each.

export const MESSAGES_PER_SEC = 25;
export const MESSAGES_BURST = 100;
export const BYTES_PER_SEC = 512 * 1024;
export const BYTES_BURST = 8 * 1024 * 1024;

/** A token bucket: `rate` tokens per second, at most `burst` held. */
export class Bucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }

  /**
   * Ms to wait until `cost` can be taken (0: now). A cost above the burst
   * waits for a full bucket and then drives it negative, so what follows waits.
   */
  wait(cost: number, now: number): number {
    this.refill(now);
    const need = Math.min(cost, this.burst);
    return this.tokens >= need ? 0 : Math.ceil(((need - this.tokens) * 1000) / this.rate);
  }

  take(cost: number, now: number): void {
    this.refill(now);
    this.tokens -= cost;
  }
}

/** Both buckets of a session: messages and bytes. */
export class Pacer {
  private readonly messages: Bucket;
  private readonly bytes: Bucket;

  constructor(now: number) {
    this.messages = new Bucket(MESSAGES_PER_SEC, MESSAGES_BURST, now);
    this.bytes = new Bucket(BYTES_PER_SEC, BYTES_BURST, now);
  }

  /** Ms to wait before a message of `size` bytes may go; 0 takes its tokens. */
  admit(size: number, now: number): number {
    const wait = Math.max(this.messages.wait(1, now), this.bytes.wait(size, now));
    if (wait === 0) {
      this.messages.take(1, now);
      this.bytes.take(size, now);
    }
    return wait;
  }
}
