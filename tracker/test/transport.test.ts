import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { gzipper } from "../src/gzip";
import { KEYS, readSession, SESSION_IDLE_MS } from "../src/session";
import { DEFAULT_SETTINGS } from "../src/settings";
import { memoryKV } from "../src/storage";
import { copyKV, page } from "./helpers";

const T0 = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

const types = (batch: any) => batch.events.map((e: any) => e.type);

describe("connecting", () => {
  it("sends hello with the visitor, a new session, the tab and the page", () => {
    const p = page();
    const visitor = p.env.local.get(KEYS.visitor)!;
    const url = new URL(p.ws.url);
    expect(url.origin + url.pathname).toBe("ws://reel.test/v1/ingest");
    expect(url.searchParams.get("site")).toBe("site_key");
    expect(url.searchParams.get("visitor")).toBe(visitor);
    p.ws.open();
    expect(p.ws.messages()).toEqual([
      {
        t: "hello",
        v: 1,
        visitor,
        session: null,
        tab: p.env.session.get(KEYS.tab),
        acked: null,
        page: { url: "https://shop.example/cart", referrer: "https://search.example/", title: "Cart" },
        screen: { w: 1280, h: 800 },
        lang: "en-GB",
        tz: "Europe/Paris",
      },
    ]);
    // A new session waits for its welcome: sampling decides whether to record.
    expect(p.recorder.recording).toBe(false);
  });

  it("records after welcome, sends its full snapshot at once and other events every batch_interval_ms until acked", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0);
    expect(p.recorder.starts).toBe(1);
    expect(readSession(p.env.local)).toEqual({ id: "S1", lastActivity: T0, sampled: true });
    const [b0] = p.ws.batches();
    expect(b0.seq).toBe(0);
    expect(types(b0)).toEqual([4, 2]);
    p.recorder.emit(2);
    vi.advanceTimersByTime(999);
    expect(p.ws.batches().map((b) => b.seq)).toEqual([0]);
    vi.advanceTimersByTime(1);
    expect(p.ws.batches().map((b) => b.seq)).toEqual([0, 1]);
    expect(JSON.parse(p.env.session.get(KEYS.pending)!).batches.map((b: any) => b[0])).toEqual([0, 1]);
    p.ws.receive({ t: "ack", seq: 1 });
    expect(JSON.parse(p.env.session.get(KEYS.pending)!)).toMatchObject({ acked: 1, next: 2, batches: [] });
  });

  it("never puts more than batch_max_events events in a batch", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0, { batch_max_events: 3 });
    p.recorder.emit(7); // after the 2 snapshot events, cut at once
    vi.advanceTimersByTime(1000);
    expect(p.ws.batches().map((b) => [b.seq, b.events.length])).toEqual([
      [0, 2],
      [1, 3],
      [2, 3],
      [3, 1],
    ]);
  });

  it("sends gzip binary frames when CompressionStream is there", async () => {
    const gzip = gzipper();
    expect(gzip).not.toBe(null);
    const p = page({ gzip });
    p.ws.open();
    p.ws.welcome("S1", 0);
    await vi.advanceTimersByTimeAsync(1000);
    p.recorder.emit(1);
    await vi.advanceTimersByTimeAsync(1000);
    await vi.waitFor(() => expect(p.ws.sent).toHaveLength(3));
    const frames = p.ws.sent.slice(1) as Uint8Array[];
    expect(frames.every((f) => f instanceof Uint8Array && f[0] === 0x1f && f[1] === 0x8b)).toBe(true);
    const decoded = await Promise.all(frames.map(gunzip));
    expect(decoded.map((m) => m.seq)).toEqual([0, 1]);
    expect(types(decoded[0])).toEqual([4, 2]);
  });

  it("keeps seq order while gzip runs, and sends the rest as text on pagehide", async () => {
    const p = page({ gzip: gzipper() });
    p.ws.open();
    p.ws.welcome("S1", 0, { batch_max_events: 2 });
    p.recorder.emit(4); // seq 0 (snapshot) 1, 2 cut at once, one compression at a time
    p.client.pagehide();
    await vi.advanceTimersByTimeAsync(100);
    const sent = p.ws.sent.slice(1);
    expect(sent.every((s) => typeof s === "string")).toBe(true);
    expect(sent.map((s) => JSON.parse(s as string)).map((m) => m.seq ?? m.t)).toEqual([0, 1, 2, "end"]);
  });
});

async function gunzip(bytes: Uint8Array): Promise<any> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

describe("sampling", () => {
  it("decides once per session and keeps the decision with it", () => {
    const local = memoryKV();
    const p = page({ local, random: () => 0.9 });
    p.ws.open();
    p.ws.welcome("S1", 0, { sample_rate: 0.5 });
    expect(p.recorder.recording).toBe(false);
    expect(p.ws.closedWith).toBe(1000);
    expect(readSession(local)).toMatchObject({ id: "S1", sampled: false });
    // The next page load of the session does not even connect, whatever the dice say.
    const next = page({ local, random: () => 0 });
    expect(next.sockets).toHaveLength(0);
    expect(next.recorder.recording).toBe(false);
  });

  it("records a sampled session", () => {
    const p = page({ random: () => 0.2 });
    p.ws.open();
    p.ws.welcome("S1", 0, { sample_rate: 0.5 });
    expect(p.recorder.recording).toBe(true);
  });
});

describe("page loads and tabs", () => {
  it("continue the tab's seq, resend what was not acked, and send end on pagehide", () => {
    const local = memoryKV();
    const ss = memoryKV();
    const first = page({ local, session: ss });
    first.ws.open();
    first.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000); // seq 0
    first.ws.receive({ t: "ack", seq: 0 });
    first.recorder.emit(2);
    vi.advanceTimersByTime(1000); // seq 1, not acked
    first.recorder.emit(1);
    first.client.pagehide(); // seq 2 cut and sent at once, then end
    const sent = first.ws.messages();
    expect(sent.filter((m) => m.t === "events").map((m) => m.seq)).toEqual([0, 1, 2]);
    expect(sent[sent.length - 1]).toEqual({ t: "end" });
    expect(first.ws.closedWith).toBe(1000);
    expect(first.recorder.recording).toBe(false);

    vi.advanceTimersByTime(500);
    const second = page({ local, session: ss });
    // A sampled session in progress records from the start of the page.
    expect(second.recorder.recording).toBe(true);
    second.ws.open();
    expect(second.ws.messages()[0]).toMatchObject({ session: "S1", tab: first.ws.messages()[0].tab, acked: 0 });
    second.ws.welcome("S1", 2); // seq 1 arrived, seq 2 did not
    // Seq 2 again, then the new page's full snapshot, cut as the page started.
    expect(second.ws.batches().map((b) => [b.seq, b.events.length])).toEqual([
      [2, 1],
      [3, 2],
    ]);
    expect(types(second.ws.batches()[1])).toEqual([4, 2]);
  });

  it("sends a page's full snapshot, and one a viewer asks for, without waiting for the batch timer", () => {
    // The page's recording must not wait for batch_interval_ms: a page left
    // sooner would have only its pagehide to send it, which browsers drop
    // with the page (a visitor who watched live then navigated and left).
    const local = memoryKV();
    const ss = memoryKV();
    const first = page({ local, session: ss });
    first.ws.open();
    first.ws.welcome("S1", 0);
    first.ws.receive({ t: "ack", seq: 0 });
    first.client.pagehide();
    const second = page({ local, session: ss });
    second.ws.open();
    second.ws.welcome("S1", 1);
    second.ws.receive({ t: "snapshot" });
    expect(second.recorder.rerecords).toEqual([true]);
    expect(second.ws.batches().map((b) => [b.seq, types(b)])).toEqual([
      [1, [4, 2]],
      [2, [4, 2]],
    ]);
    second.ws.receive({ t: "ack", seq: 2 });
    // Acked with no timer run: nothing of the page waits for pagehide.
    expect(JSON.parse(ss.get(KEYS.pending)!)).toMatchObject({ acked: 2, next: 3, batches: [] });
  });

  it("shares the session with a new tab, which gets its own tab id and seq", () => {
    const local = memoryKV();
    const a = page({ local });
    a.ws.open();
    a.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000);
    const b = page({ local });
    b.ws.open();
    const hello = b.ws.messages()[0];
    expect(hello).toMatchObject({ session: "S1", acked: null });
    expect(hello.tab).not.toBe(a.ws.messages()[0].tab);
    b.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000);
    expect(b.ws.batches().map((x) => x.seq)).toEqual([0]);
  });

  it("gives a duplicated tab a new tab id and none of the original's batches", () => {
    const local = memoryKV();
    const ss = memoryKV();
    const original = page({ local, session: ss });
    original.ws.open();
    original.ws.welcome("S1", 0);
    original.recorder.emit(2);
    vi.advanceTimersByTime(1000); // seq 0 the snapshot, seq 1 two events: not acked
    const dup = page({ local, session: copyKV(ss) });
    dup.ws.open();
    expect(dup.ws.messages()[0].tab).not.toBe(original.ws.messages()[0].tab);
    expect(dup.ws.messages()[0].acked).toBe(null);
    dup.ws.welcome("S1", 0);
    // Only its own page's snapshot.
    expect(dup.ws.batches().map((b) => [b.seq, types(b)])).toEqual([[0, [4, 2]]]);
  });

  it("adopts the session of a welcome that differs, dropping the old session's batches", () => {
    const local = memoryKV();
    const ss = memoryKV();
    const first = page({ local, session: ss });
    first.ws.open();
    first.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000);
    first.client.pagehide();
    const second = page({ local, session: ss });
    second.recorder.emit(3);
    second.ws.open();
    second.ws.welcome("S2", 0); // S1 ended on the server
    expect(readSession(local)).toMatchObject({ id: "S2", sampled: true });
    expect(second.recorder.snapshots).toBe(1);
    expect(second.recorder.rerecords).toEqual([false]); // a new session's first page load, not a re-record
    vi.advanceTimersByTime(1000);
    const batches = second.ws.batches();
    expect(batches.map((b) => b.seq)).toEqual([0]);
    expect(types(batches[0])).toEqual([4, 2]); // the new session starts with a full snapshot
    expect(JSON.parse(ss.get(KEYS.pending)!).session).toBe("S2");
  });

  it("starts a new session after 30 minutes without activity", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000);
    p.ws.receive({ t: "ack", seq: 0 });
    vi.advanceTimersByTime(SESSION_IDLE_MS);
    p.recorder.emit(1);
    vi.advanceTimersByTime(1000);
    expect(p.sockets).toHaveLength(2);
    expect(p.sockets[0].closedWith).toBe(1000);
    p.ws.open();
    expect(p.ws.messages()[0]).toMatchObject({ session: null, acked: null });
    p.ws.welcome("S2", 0);
    vi.advanceTimersByTime(1000);
    expect(p.ws.batches().map((b) => [b.seq, types(b)])).toEqual([[0, [4, 2]]]);
  });
});

describe("close codes", () => {
  it("4413: drops the refused batch, warns once, re-records", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000); // seq 0
    p.recorder.emit(1);
    vi.advanceTimersByTime(1000); // seq 1, refused
    p.ws.serverClose(4413);
    vi.advanceTimersByTime(500);
    expect(p.sockets).toHaveLength(2);
    p.ws.open();
    p.ws.welcome("S1", 1);
    expect(p.warnings.filter((w) => w.includes("refused"))).toHaveLength(1);
    expect(p.recorder.snapshots).toBe(1);
    vi.advanceTimersByTime(1000);
    const batches = p.ws.batches();
    expect(batches.map((b) => [b.seq, types(b)])).toEqual([[1, [4, 2]]]);
  });

  it("4413 with every sent batch acknowledged drops nothing", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000);
    p.ws.receive({ t: "ack", seq: 0 });
    p.recorder.emit(1); // held, not yet sent when the socket closes
    p.ws.serverClose(4413);
    vi.advanceTimersByTime(500);
    p.ws.open();
    p.ws.welcome("S1", 1);
    expect(p.warnings).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(p.ws.batches().map((b) => [b.seq, types(b)])).toEqual([[1, [3]]]);
  });

  it("4400 before welcome: the hello is refused, no retry on this page", () => {
    const p = page();
    p.ws.open();
    p.ws.serverClose(4400);
    vi.advanceTimersByTime(60_000);
    expect(p.sockets).toHaveLength(1);
    expect(p.warnings).toHaveLength(1);
  });

  it("4409: reconnects and resends from next_seq", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000);
    p.recorder.emit(1);
    vi.advanceTimersByTime(1000);
    p.ws.receive({ t: "ack", seq: 0 });
    p.ws.serverClose(4409);
    vi.advanceTimersByTime(500);
    p.ws.open();
    expect(p.ws.messages()[0].acked).toBe(0);
    p.ws.welcome("S1", 1);
    expect(p.ws.batches().map((b) => [b.seq, types(b)])).toEqual([[1, [3]]]);
  });

  it("4410: starts a new session with seq 0 and drops what was held", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000);
    p.ws.serverClose(4410);
    expect(p.recorder.recording).toBe(false);
    expect(readSession(p.env.local)).toBe(null);
    vi.advanceTimersByTime(500);
    p.ws.open();
    expect(p.ws.messages()[0]).toMatchObject({ session: null, acked: null });
    p.ws.welcome("S2", 0);
    expect(p.recorder.starts).toBe(2);
    vi.advanceTimersByTime(1000);
    expect(p.ws.batches().map((b) => b.seq)).toEqual([0]);
  });

  it("4429 waits at least 5 s, 4503 at least 30 s", () => {
    for (const [code, floor] of [
      [4429, 5_000],
      [4503, 30_000],
    ]) {
      const p = page({ random: () => 0 });
      p.ws.open();
      p.ws.welcome("S1", 0);
      p.ws.serverClose(code);
      vi.advanceTimersByTime(floor - 1);
      expect(p.sockets).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(p.sockets).toHaveLength(2);
    }
  });

  it("backs off exponentially with full jitter and resets after a welcome", () => {
    const p = page({ random: () => 0.999999 });
    for (const ceiling of [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]) {
      p.ws.serverClose(1006); // the upgrade failed
      const n = p.sockets.length;
      vi.advanceTimersByTime(ceiling - 2);
      expect(p.sockets).toHaveLength(n);
      vi.advanceTimersByTime(2);
      expect(p.sockets).toHaveLength(n + 1);
    }
    p.ws.open();
    p.ws.welcome("S1", 0);
    vi.advanceTimersByTime(1000);
    p.ws.receive({ t: "ack", seq: 0 });
    p.ws.serverClose(1006);
    vi.advanceTimersByTime(499);
    expect(p.sockets).toHaveLength(10);
  });

  it("goaway: closes and reconnects after retry_after_ms plus jitter", () => {
    const p = page({ random: () => 0.5 });
    p.ws.open();
    p.ws.welcome("S1", 0);
    p.ws.receive({ t: "goaway", retry_after_ms: 2000 });
    expect(p.ws.closedWith).toBe(1000);
    vi.advanceTimersByTime(2999);
    expect(p.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(p.sockets).toHaveLength(2);
  });
});

describe("server messages", () => {
  it("snapshot asks the recorder for a full snapshot", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0);
    p.ws.receive({ t: "snapshot" });
    expect(p.recorder.snapshots).toBe(1);
    expect(p.recorder.rerecords).toEqual([true]); // marked: the same page again
  });

  it("settings: new privacy options restart the recorder; maintenance stops it", () => {
    const p = page({ random: () => 0 });
    p.ws.open();
    p.ws.welcome("S1", 0);
    p.ws.receive({ t: "settings", mask_all_inputs: true, mask_text: false });
    expect(p.recorder.starts).toBe(2);
    p.ws.receive({ t: "settings", mask_all_inputs: true, mask_text: false, maintenance: true });
    expect(p.recorder.recording).toBe(false);
    expect(p.ws.closedWith).toBe(1000);
    vi.advanceTimersByTime(29_999);
    expect(p.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    p.ws.open();
    p.ws.welcome("S1", 1);
    expect(p.recorder.recording).toBe(true);
  });

  it("settings: a new block_selector restarts the recorder; the same settings again do not", () => {
    const p = page({ random: () => 0 });
    p.ws.open();
    p.ws.welcome("S1", 0);
    p.ws.receive({ t: "settings", ...DEFAULT_SETTINGS, block_selector: ".secret" });
    expect(p.recorder.starts).toBe(2);
    p.ws.receive({ t: "settings", ...DEFAULT_SETTINGS, block_selector: ".secret" });
    expect(p.recorder.starts).toBe(2);
    expect(p.recorder.recording).toBe(true);
  });

  it("settings: a new sample rate keeps this session's decision, but 0 stops recording it", () => {
    const local = memoryKV();
    const p = page({ local, random: () => 0.5 });
    p.ws.open();
    p.ws.welcome("S1", 0, { sample_rate: 1 });
    p.recorder.emit(3);
    p.ws.receive({ t: "settings", ...DEFAULT_SETTINGS, sample_rate: 0.1 });
    expect(p.recorder.recording).toBe(true);
    p.ws.receive({ t: "settings", ...DEFAULT_SETTINGS, sample_rate: 0 });
    expect(p.recorder.recording).toBe(false);
    expect(p.ws.closedWith).toBe(1000);
    expect(JSON.parse(local.get(KEYS.session)!)).toMatchObject({ id: "S1", sampled: false });
    // Nothing more this page load: no reconnect.
    vi.advanceTimersByTime(120_000);
    expect(p.sockets).toHaveLength(1);
  });

  it("caches settings for the next page load", () => {
    const local = memoryKV();
    const p = page({ local });
    p.ws.open();
    p.ws.welcome("S1", 0, { mask_text: false, batch_interval_ms: 250 });
    expect(JSON.parse(local.get(KEYS.settings)!)).toMatchObject({ mask_text: false, batch_interval_ms: 250 });
  });
});

describe("identify", () => {
  it("is sent after the welcome, and again after a reconnect", () => {
    const p = page();
    p.client.identify("user-1", { plan: "pro", seats: 3 as unknown as string });
    p.ws.open();
    expect(p.ws.messages().map((m) => m.t)).toEqual(["hello"]);
    p.ws.welcome("S1", 0);
    expect(p.ws.messages()[1]).toEqual({ t: "identify", user_id: "user-1", traits: { plan: "pro", seats: "3" } });
    p.ws.serverClose(1006);
    vi.advanceTimersByTime(1000);
    p.ws.open();
    p.ws.welcome("S1", 0);
    expect(p.ws.messages().filter((m) => m.t === "identify")).toHaveLength(1);
  });

  it("refuses what the server would refuse", () => {
    const p = page();
    p.client.identify("");
    p.client.identify("x".repeat(257));
    p.client.identify("ok", { k: "v".repeat(2000), fine: "yes" });
    p.ws.open();
    p.ws.welcome("S1", 0);
    expect(p.ws.messages().filter((m) => m.t === "identify")).toEqual([{ t: "identify", user_id: "ok", traits: { fine: "yes" } }]);
    expect(p.warnings.length).toBe(3);
  });
});

describe("limits", () => {
  it("drops a batch over max_frame_bytes instead of sending it, and re-records", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0, { max_frame_bytes: 1024 });
    p.client.event({ type: 3, timestamp: 1, data: { text: "x".repeat(2000) } });
    vi.advanceTimersByTime(1000);
    expect(p.warnings.some((w) => w.includes("frame limit"))).toBe(true);
    vi.advanceTimersByTime(1000);
    // Seq 1 was dropped; the page's new snapshot took its seq.
    expect(p.ws.batches().map((b) => [b.seq, types(b)])).toEqual([
      [0, [4, 2]],
      [1, [4, 2]],
    ]);
  });

  it("paces a backlog instead of tripping the server's rate limit", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0, { batch_max_events: 1 });
    vi.advanceTimersByTime(10_000); // the 2 snapshot events went out, the buckets refilled
    p.ws.serverClose(1006);
    p.recorder.emit(300); // offline: 300 one-event batches held
    vi.advanceTimersByTime(60_000);
    p.ws.open();
    p.ws.welcome("S1", 2, { batch_max_events: 1 });
    expect(p.ws.batches()).toHaveLength(100);
    vi.advanceTimersByTime(1000);
    expect(p.ws.batches().length).toBeLessThanOrEqual(126);
    vi.advanceTimersByTime(10_000);
    expect(p.ws.batches().map((b) => b.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 2));
  });

  it("gives up on a connection without a welcome after 15 s", () => {
    const p = page({ random: () => 0 });
    p.ws.open();
    vi.advanceTimersByTime(14_999);
    expect(p.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(p.sockets[0].closedWith).toBe(1000);
    vi.advanceTimersByTime(1); // the backoff (0 with this random) starts a new timer
    expect(p.sockets).toHaveLength(2);
  });
});

describe("opting out and Do-Not-Track (PROTOCOL.md §6)", () => {
  it("an opted-out browser sends nothing, not even hello, on later pages", () => {
    const p = page();
    p.ws.open();
    p.ws.welcome("S1", 0);
    p.recorder.emit(3);
    p.client.optOut();
    expect(p.ws.closedWith).not.toBeNull();
    expect(p.recorder.recording).toBe(false);
    // What was unsent is dropped.
    expect(p.env.session.get(KEYS.pending)).toBeNull();
    expect(p.env.local.get(KEYS.optOut)).toBe("1");
    const next = page({ local: p.env.local as ReturnType<typeof memoryKV> });
    expect(next.sockets).toHaveLength(0);
    next.recorder.emit(5);
    vi.advanceTimersByTime(60_000);
    expect(next.sockets).toHaveLength(0);
  });

  it("opting in again records from the same page on", () => {
    const local = memoryKV();
    local.set(KEYS.optOut, "1");
    const p = page({ local });
    expect(p.sockets).toHaveLength(0);
    p.client.optIn();
    expect(local.get(KEYS.optOut)).toBeNull();
    expect(p.sockets).toHaveLength(1);
    p.ws.open();
    expect(p.ws.messages()[0].t).toBe("hello");
    // Opting in when not opted out changes nothing.
    p.client.optIn();
    expect(p.sockets).toHaveLength(1);
  });

  it("a DNT/GPC browser on a site whose snippet honours it sends nothing", () => {
    const p = page({ dnt: true, honorDnt: true });
    expect(p.sockets).toHaveLength(0);
    p.recorder.emit(2);
    vi.advanceTimersByTime(60_000);
    expect(p.sockets).toHaveLength(0);
    // Without the signal, the same site is recorded.
    expect(page({ honorDnt: true }).sockets).toHaveLength(1);
    // With the signal, a site that does not honour it is recorded.
    expect(page({ dnt: true }).sockets).toHaveLength(1);
  });

  it("honor_dnt learnt from the server stops this page and keeps later ones silent", () => {
    const p = page({ dnt: true });
    p.ws.open();
    p.ws.welcome("S1", 0, { honor_dnt: true });
    expect(p.recorder.recording).toBe(false);
    expect(p.ws.closedWith).not.toBeNull();
    expect(p.ws.batches()).toHaveLength(0);
    const next = page({ dnt: true, local: p.env.local as ReturnType<typeof memoryKV> });
    expect(next.sockets).toHaveLength(0);
  });
});

describe("reel.sessionUrl's session (PROTOCOL.md §7)", () => {
  it("is live while the tracker is connected, and the replay's once it is not or the browser opted out", () => {
    const p = page();
    expect([p.client.session, p.client.live]).toEqual([null, false]);
    p.ws.open();
    expect(p.client.live).toBe(false); // no welcome yet
    p.ws.welcome("S1", 0);
    expect([p.client.session, p.client.live]).toEqual(["S1", true]);
    p.ws.serverClose(1006);
    expect([p.client.session, p.client.live]).toEqual(["S1", false]);
    vi.advanceTimersByTime(60_000);
    p.ws.open();
    p.ws.welcome("S1", 1);
    expect(p.client.live).toBe(true);
    p.client.optOut();
    expect([p.client.session, p.client.live]).toEqual(["S1", false]);
  });

  it("is none for a session that is not sampled", () => {
    const p = page({ random: () => 0.9 });
    p.ws.open();
    p.ws.welcome("S1", 0, { sample_rate: 0.5 });
    expect([p.client.session, p.client.live]).toEqual([null, false]);
  });
});
