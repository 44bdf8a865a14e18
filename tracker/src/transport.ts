// The ingest connection and the rules of PROTOCOL.md §1 around it: hello and
// welcome, batches and acks, the resend buffer, sampling, reconnecting. It
// knows nothing of the DOM or rrweb: the browser comes in through `Env` and
// the recorder through `Recorder`, so tests drive it with fakes.

import type { ClientMessageWire, Hello, ServerMessage, Settings } from "../../protocol/ts/protocol";
import { backoffDelay, flooredDelay, reactionTo, UNAVAILABLE_FLOOR_MS } from "./backoff";
import { Batcher } from "./batch";
import { type Batch, batchBody, ResendBuffer } from "./buffer";
import { type Config, ingestUrl } from "./config";
import type { Gzip } from "./gzip";
import { isId } from "./ids";
import { Pacer } from "./pace";
import {
  claimTab,
  currentSession,
  forgetSession,
  KEYS,
  readSession,
  releaseTab,
  saveSession,
  touchSession,
  visitorId,
} from "./session";
import { type KV, parseJSON } from "./storage";
import { readSettings } from "./settings";
import { utf8Bytes } from "./utf8";

/** The recorder as the transport sees it (rrweb in the browser, a fake in tests). */
export interface Recorder {
  readonly recording: boolean;
  /**
   * Records with the privacy options of `settings`: starts (which emits a
   * full snapshot), or restarts when they changed. True when it (re)started,
   * false when it was already recording with the same options.
   */
  start(settings: Settings): boolean;
  stop(): void;
  /**
   * Emits a new full snapshot if recording. `rerecord` (the default): the
   * page is recorded again in the same session (a viewer asked, batches were
   * lost), marked so that the replay does not count it as a page load; false
   * for the first snapshot of a new session.
   */
  snapshot(rerecord?: boolean): void;
}

/** The parts of a WebSocket used here. */
export interface Socket {
  readonly readyState: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type PageInfo = Pick<Hello, "page" | "screen" | "lang" | "tz">;

export interface Env {
  connect(url: string): Socket;
  /** localStorage: visitor, session, settings. */
  local: KV;
  /** sessionStorage: tab id, resend buffer. */
  session: KV;
  now(): number;
  random(): number;
  newId(): string;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** gzip of the UTF-8 text (CompressionStream), or null to send text frames. */
  gzip: Gzip | null;
  pageInfo(): PageInfo;
  warn(message: string): void;
  /** Does the browser send Do-Not-Track or Global Privacy Control? */
  privacySignal(): boolean;
}

const OPEN = 1;
/** Held but unacknowledged characters beyond which recording pauses until acks drain them. */
export const MAX_PENDING_CHARS = 8 * 1024 * 1024;
/** One event's JSON above this is dropped (the server's default `event_bytes`). */
export const MAX_EVENT_BYTES = 8 * 1024 * 1024;
/** `identify` limits (the server's defaults `user_id_bytes`, `traits_count`, `trait_bytes`). */
export const MAX_USER_ID_BYTES = 256;
export const MAX_TRAITS = 50;
export const MAX_TRAIT_BYTES = 1024;
/** After this many batches dropped as too large, stop recording for the page. */
const MAX_OVERSIZE_DROPS = 3;
/** A connection without a welcome this long after opening is given up and retried. */
export const WELCOME_TIMEOUT_MS = 15_000;

/** One WebSocket and what is known about it. */
interface Conn {
  ws: Socket;
  /** The welcome arrived: batches may be sent. */
  welcomed: boolean;
  /** Highest seq handed to this socket. */
  sentUpTo: number;
  /** A batch is being gzipped for this socket (one at a time keeps seq order). */
  compressing: boolean;
  /** An ack arrived on this socket. */
  acked: boolean;
}

export class Client {
  private visitor = "";
  private tab = "";
  /** The session the next hello names, null for a new one. */
  private sessionId: string | null = null;
  /** The sampling decision of `sessionId`, null until known. */
  private sampled: boolean | null = null;
  /** The session recorded until `optOut`: its replay stays. */
  private optedOutOf: string | null = null;
  private settings: Settings;
  private buffer!: ResendBuffer;
  private readonly batcher = new Batcher();
  private conn: Conn | null = null;
  /** Failed connections since the last welcome. */
  private attempt = 0;
  /** Welcomed connections in a row that closed without an ack: slows a reconnect loop. */
  private strikes = 0;
  /** A 4400/4413 after a welcome: the next welcome drops the first batch it would resend. */
  private suspect = false;
  /** Recording paused because the resend buffer is full. */
  private overflow = false;
  private oversizeDrops = 0;
  /** Nothing more this page load (not sampled, refused, or the page is gone). */
  private halted = false;
  private reconnectTimer: unknown = null;
  private batchTimer: unknown = null;
  /** Pending `pump` after the pacer said wait, or the welcome timeout. */
  private pumpTimer: unknown = null;
  private welcomeTimer: unknown = null;
  private pacer: Pacer;
  /** The last identify message, sent after every welcome. */
  private identity: string | null = null;
  private readonly warned = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly env: Env,
    private readonly recorder: Recorder,
  ) {
    this.settings = readSettings(parseJSON(env.local.get(KEYS.settings)));
    this.pacer = new Pacer(env.now());
  }

  /**
   * Must this browser not be recorded (PROTOCOL.md §6)? It opted out, or it
   * sends Do-Not-Track or Global Privacy Control to a site that honours them
   * (as the snippet says, or the last settings the server sent).
   */
  private unrecorded(): boolean {
    if (this.env.local.get(KEYS.optOut) === "1") return true;
    return (this.config.honorDnt === true || this.settings.honor_dnt) && this.env.privacySignal();
  }

  /** Stops recording for this page load and drops what is unsent. */
  private stopUnrecorded(): void {
    this.teardown();
    this.env.session.remove(KEYS.pending);
    this.halted = true;
  }

  /** `reel.optOut()`: this browser is not recorded any more (remembered); what is unsent is dropped. */
  optOut(): void {
    this.env.local.set(KEYS.optOut, "1");
    if (this.sessionId) forgetSession(this.env.local, this.sessionId);
    this.optedOutOf = this.sessionId;
    this.sessionId = null;
    this.stopUnrecorded();
  }

  /** `reel.optIn()`: undoes `optOut`; recording starts again on this page. */
  optIn(): void {
    const was = this.env.local.get(KEYS.optOut) === "1";
    this.env.local.remove(KEYS.optOut);
    if (was) this.init();
  }

  /** A page load (or a page restored from the back-forward cache): claim the tab and connect. */
  init(): void {
    this.teardown();
    if (this.unrecorded()) {
      // Nothing is sent, not even hello.
      this.stopUnrecorded();
      return;
    }
    this.halted = this.suspect = this.overflow = false;
    this.attempt = this.strikes = this.oversizeDrops = 0;
    this.visitor = visitorId(this.env.local, this.env.newId);
    const tab = claimTab(this.env.session, this.env.newId);
    this.tab = tab.id;
    this.begin(tab.fresh);
  }

  /** Picks up the stored session; records at once when it is known to be sampled. */
  private begin(freshTab: boolean): void {
    const now = this.env.now();
    const s = currentSession(this.env.local, now);
    this.sessionId = s ? s.id : null;
    this.sampled = s ? s.sampled : null;
    this.buffer = ResendBuffer.load(this.env.session, this.sessionId);
    if (freshTab) this.buffer.reset(this.sessionId);
    if (s) {
      // A page load is activity: an unsampled session stays unsampled while the visit goes on.
      saveSession(this.env.local, { ...s, lastActivity: now });
      if (!s.sampled) {
        this.halted = true;
        return;
      }
      if (!this.settings.maintenance) this.recorder.start(this.settings);
    }
    // A new session waits for its welcome: sampling and settings decide whether to record.
    this.connect();
  }

  /** An rrweb event. */
  event(e: unknown): void {
    if (this.halted || this.overflow) return;
    let json: string;
    try {
      json = JSON.stringify(e);
    } catch {
      return;
    }
    if (json.length * 3 > MAX_EVENT_BYTES && utf8Bytes(json) > MAX_EVENT_BYTES) {
      this.warnOnce("event", `reel: dropped an event of ${json.length} characters, over the server's limit`);
      return;
    }
    const first = this.batcher.count === 0;
    // A full snapshot is cut at once rather than after batch_interval_ms:
    // a page left within that interval would otherwise have only its
    // pagehide to send its recording, which browsers drop with the page.
    if (this.batcher.add(json, this.settings) || isFullSnapshot(e)) this.cut();
    else if (first) this.batchTimer = this.env.setTimeout(() => this.cut(), this.settings.batch_interval_ms);
  }

  /**
   * The session this page records (or recorded, before `optOut`), null
   * while none is known or when it is not sampled (nothing to show).
   */
  get session(): string | null {
    return this.sampled === false ? null : (this.sessionId ?? this.optedOutOf);
  }

  /** Connected now and recording: the dashboard shows this session live. */
  get live(): boolean {
    const conn = this.conn;
    return !!conn && conn.welcomed && conn.ws.readyState === OPEN && this.sampled === true && !this.halted;
  }

  /** `window.reel.identify`: links the session to a user of the site. */
  identify(userId: unknown, traits?: unknown): void {
    if (typeof userId !== "string" || !userId || utf8Bytes(userId) > MAX_USER_ID_BYTES) {
      this.env.warn(`reel: identify needs a user id of 1 to ${MAX_USER_ID_BYTES} bytes`);
      return;
    }
    const clean: Record<string, string> = {};
    let n = 0;
    if (traits && typeof traits === "object") {
      for (const [k, v] of Object.entries(traits as Record<string, unknown>)) {
        if (v === undefined || v === null) continue;
        const value = typeof v === "string" ? v : String(v);
        if (n >= MAX_TRAITS || utf8Bytes(k) > MAX_TRAIT_BYTES || utf8Bytes(value) > MAX_TRAIT_BYTES) {
          this.warnOnce("trait", `reel: identify keeps at most ${MAX_TRAITS} traits of ${MAX_TRAIT_BYTES} bytes`);
          continue;
        }
        clean[k] = value;
        n++;
      }
    }
    const msg: ClientMessageWire = { t: "identify", user_id: userId, traits: clean };
    this.identity = JSON.stringify(msg);
    if (this.conn?.welcomed && this.sampled) this.conn.ws.send(this.identity);
  }

  /** The page is hidden: send what is buffered now, it may never come back. */
  flush(): void {
    this.cut(false);
  }

  /**
   * The page is going away: cut the batch, send everything not yet sent as
   * text frames (synchronously: there is no time for gzip), then `end`.
   * Unacknowledged batches stay in sessionStorage for the tab's next page.
   */
  pagehide(): void {
    this.cut(false);
    const conn = this.conn;
    if (conn && conn.welcomed && conn.ws.readyState === OPEN) {
      for (const b of this.buffer.batches) {
        if (b.seq <= conn.sentUpTo) continue;
        const body = batchBody(b);
        if (utf8Bytes(body) > this.settings.max_frame_bytes) break;
        conn.ws.send(body);
        conn.sentUpTo = b.seq;
      }
      conn.ws.send(JSON.stringify({ t: "end" } satisfies ClientMessageWire));
    }
    this.teardown();
    this.halted = true;
    releaseTab(this.env.session);
  }

  /** Closes the socket, stops recording and timers; the resend buffer stays. */
  private teardown(): void {
    for (const t of [this.reconnectTimer, this.batchTimer, this.pumpTimer, this.welcomeTimer]) this.env.clearTimeout(t);
    this.reconnectTimer = this.batchTimer = this.pumpTimer = this.welcomeTimer = null;
    this.closeConn();
    this.recorder.stop();
    this.batcher.clear();
  }

  /** Moves the filled batch into the resend buffer and sends it. */
  private cut(mayRollOver = true): void {
    this.env.clearTimeout(this.batchTimer);
    this.batchTimer = null;
    const events = this.batcher.take();
    if (events === null || this.sessionId === null) return;
    if (touchSession(this.env.local, this.sessionId, this.env.now()) === "expired" && mayRollOver) {
      // Idle for longer than a session lives: these events open a new session,
      // which starts with its own full snapshot once welcomed.
      this.newSession();
      this.closeConn();
      this.connect();
      return;
    }
    this.buffer.push(events);
    if (this.buffer.size > MAX_PENDING_CHARS) {
      this.overflow = true;
      this.recorder.stop();
      this.batcher.clear();
      this.warnOnce("overflow", "reel: too much unacknowledged data, recording pauses");
    }
    this.pump();
  }

  /** Sends held batches the socket has not had, in seq order, paced. */
  private pump(): void {
    const conn = this.conn;
    while (conn && conn === this.conn && conn.welcomed && !conn.compressing && !this.pumpTimer && conn.ws.readyState === OPEN) {
      const batch = this.buffer.batches.find((b) => b.seq > conn.sentUpTo);
      if (!batch) return;
      const body = batchBody(batch);
      const wait = this.pacer.admit(body.length, this.env.now());
      if (wait > 0) {
        this.pumpTimer = this.env.setTimeout(() => {
          this.pumpTimer = null;
          this.pump();
        }, wait);
        return;
      }
      const gzip = this.env.gzip;
      if (!gzip) {
        this.sendBatch(conn, batch, body);
        continue;
      }
      conn.compressing = true;
      gzip(body).then(
        (bytes) => this.compressed(conn, batch, bytes),
        () => this.compressed(conn, batch, body),
      );
      return;
    }
  }

  private compressed(conn: Conn, batch: Batch, data: Uint8Array | string): void {
    conn.compressing = false;
    if (conn !== this.conn) return;
    // Still the next one to send? (An ack may have dropped it meanwhile.)
    if (batch.seq > conn.sentUpTo && this.buffer.batches.indexOf(batch) >= 0) this.sendBatch(conn, batch, data);
    this.pump();
  }

  private sendBatch(conn: Conn, batch: Batch, data: Uint8Array | string): void {
    const size = typeof data === "string" ? utf8Bytes(data) : data.byteLength;
    if (size > this.settings.max_frame_bytes) {
      // Never sendable: drop it (the later ones, not sent yet, move down a
      // seq) and re-record the page so the replay stays whole.
      this.warnOnce("too_large", `reel: dropped a batch of ${size} bytes, over the server's frame limit`);
      this.buffer.drop(batch.seq);
      this.recoverFromDrop();
      return;
    }
    conn.ws.send(data);
    conn.sentUpTo = batch.seq;
  }

  private recoverFromDrop(): void {
    if (++this.oversizeDrops > MAX_OVERSIZE_DROPS) {
      this.recorder.stop();
      this.batcher.clear();
    } else {
      this.recorder.snapshot();
    }
  }

  private connect(): void {
    if (this.conn || this.halted) return;
    this.env.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    let ws: Socket;
    try {
      ws = this.env.connect(ingestUrl(this.config.endpoint, this.config.site, this.visitor));
    } catch {
      // A malformed endpoint or a Content-Security-Policy refusal: retrying cannot help.
      this.warnOnce("connect", "reel: cannot open the ingest connection");
      this.halted = true;
      return;
    }
    const conn: Conn = { ws, welcomed: false, sentUpTo: -1, compressing: false, acked: false };
    this.conn = conn;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      if (conn !== this.conn) return;
      ws.send(JSON.stringify(this.hello()));
      this.welcomeTimer = this.env.setTimeout(() => {
        this.welcomeTimer = null;
        if (conn !== this.conn || conn.welcomed) return;
        this.closeConn();
        this.onClose(conn, 1006);
      }, WELCOME_TIMEOUT_MS);
    };
    ws.onmessage = (ev) => {
      if (conn === this.conn && typeof ev.data === "string") this.onMessage(conn, ev.data);
    };
    ws.onclose = (ev) => {
      if (conn === this.conn) this.onClose(conn, ev.code);
    };
    ws.onerror = null;
  }

  private hello(): ClientMessageWire {
    const info = this.env.pageInfo();
    return {
      t: "hello",
      v: 1,
      visitor: this.visitor,
      session: this.sessionId,
      tab: this.tab,
      acked: this.buffer.acked,
      page: info.page,
      screen: info.screen,
      lang: info.lang,
      tz: info.tz,
    };
  }

  /** Closes the current socket without reacting to its close. */
  private closeConn(): void {
    const conn = this.conn;
    this.env.clearTimeout(this.pumpTimer);
    this.env.clearTimeout(this.welcomeTimer);
    this.pumpTimer = this.welcomeTimer = null;
    if (!conn) return;
    this.conn = null;
    conn.ws.onopen = conn.ws.onmessage = conn.ws.onclose = null;
    try {
      conn.ws.close(1000);
    } catch {
      // already closed
    }
  }

  private scheduleReconnect(ms: number): void {
    this.env.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = this.env.setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, ms);
  }

  private onMessage(conn: Conn, text: string): void {
    const m = parseJSON(text) as ServerMessage | null;
    if (!m || typeof m !== "object") return;
    switch (m.t) {
      case "welcome":
        if (isId(m.session) && isSeq(m.next_seq)) this.onWelcome(conn, m.session, m.next_seq, m.settings);
        break;
      case "ack":
        if (conn.welcomed && isSeq(m.seq)) this.onAck(conn, m.seq);
        break;
      case "snapshot":
        this.recorder.snapshot();
        break;
      case "settings":
        this.onSettings(conn, m);
        break;
      case "goaway": {
        const wait = isSeq(m.retry_after_ms) ? m.retry_after_ms : 0;
        this.closeConn();
        this.scheduleReconnect(wait + Math.floor(this.env.random() * Math.max(1000, wait)));
        break;
      }
      // "error" is followed by the close, which decides.
    }
  }

  private onWelcome(conn: Conn, session: string, nextSeq: number, raw: unknown): void {
    conn.welcomed = true;
    this.env.clearTimeout(this.welcomeTimer);
    this.welcomeTimer = null;
    this.attempt = 0;
    this.applySettings(raw);
    // The site honours Do-Not-Track, which the tracker learns only now.
    if (this.unrecorded()) return this.stopUnrecorded();
    const local = this.env.local;
    let snapshot = false;
    let fresh = false;
    if (session !== this.sessionId || this.buffer.session !== session) {
      // A new session (we asked for one, or ours was over): what is held
      // belongs to the old one and is dropped.
      this.sessionId = session;
      this.buffer.reset(session, nextSeq);
      this.batcher.clear();
      this.sampled = null;
      this.suspect = false;
      snapshot = true;
      fresh = true;
    } else {
      snapshot = this.buffer.welcome(nextSeq).lost;
      if (this.suspect) {
        this.suspect = false;
        const refused = this.buffer.batches[0];
        if (refused) {
          this.warnOnce("refused", `reel: the server refused batch ${refused.seq}; it is dropped`);
          this.buffer.drop(refused.seq);
          snapshot = true;
        }
      }
    }
    if (this.sampled === null) {
      const stored = readSession(local);
      this.sampled = stored && stored.id === session ? stored.sampled : this.env.random() < this.settings.sample_rate;
    }
    saveSession(local, { id: session, lastActivity: this.env.now(), sampled: this.sampled });
    conn.sentUpTo = nextSeq - 1;
    if (this.settings.maintenance) return this.pauseForMaintenance();
    if (!this.sampled) return this.unsampled(session);
    if (this.identity) conn.ws.send(this.identity);
    if (!this.overflow && !this.recorder.start(this.settings) && snapshot) this.recorder.snapshot(!fresh);
    this.pump();
  }

  private onAck(conn: Conn, seq: number): void {
    conn.acked = true;
    this.strikes = 0;
    this.buffer.ack(seq);
    this.pump();
    if (this.overflow && this.buffer.size < MAX_PENDING_CHARS / 2) {
      this.overflow = false;
      this.recorder.start(this.settings);
    }
  }

  private onSettings(conn: Conn, raw: unknown): void {
    this.applySettings(raw);
    if (this.unrecorded()) return this.stopUnrecorded();
    if (this.settings.maintenance) return this.pauseForMaintenance();
    // Sampling is decided once per session: a new rate applies to sessions
    // that start later, but 0 stops recording this one too (the site wants none).
    if (conn.welcomed && this.settings.sample_rate <= 0 && this.sessionId) {
      this.sampled = false;
      saveSession(this.env.local, { id: this.sessionId, lastActivity: this.env.now(), sampled: false });
      return this.unsampled(this.sessionId);
    }
    // New privacy options restart the recorder (and its full snapshot).
    if (conn.welcomed && this.recorder.recording) this.recorder.start(this.settings);
  }

  /** The session is not recorded: nothing more for this page load, and what is unsent is dropped. */
  private unsampled(session: string): void {
    this.teardown();
    this.buffer.reset(session, this.buffer.next);
    this.halted = true;
  }

  private applySettings(raw: unknown): void {
    this.settings = readSettings(raw);
    this.env.local.set(KEYS.settings, JSON.stringify(this.settings));
  }

  /** Maintenance: keep what is held, stop recording, come back later. */
  private pauseForMaintenance(): void {
    this.cut(false);
    this.recorder.stop();
    this.closeConn();
    this.scheduleReconnect(flooredDelay(UNAVAILABLE_FLOOR_MS, this.env.random));
  }

  /** Forgets the session: the next hello asks for a new one, and its welcome decides sampling. */
  private newSession(): void {
    this.recorder.stop();
    this.batcher.clear();
    if (this.sessionId) forgetSession(this.env.local, this.sessionId);
    this.sessionId = null;
    this.sampled = null;
    this.overflow = false;
    this.buffer.reset(null);
  }

  private onClose(conn: Conn, code: number): void {
    this.closeConn();
    this.conn = null;
    const r = reactionTo(code, conn.welcomed);
    // Batches went out on this socket and none was acknowledged: one of them
    // is the likely cause, and a loop of such connections slows down.
    const unacked = conn.welcomed && conn.sentUpTo > (this.buffer.acked ?? -1);
    if (unacked && !conn.acked) this.strikes++;
    if (r.stop) {
      this.warnOnce("stop", `reel: the server refused this tracker (close ${code}); recording stops`);
      this.teardown();
      this.halted = true;
      return;
    }
    if (r.dropSuspect && unacked) this.suspect = true;
    if (r.newSession) this.newSession();
    const backoff = backoffDelay(Math.max(this.attempt, this.strikes), this.env.random);
    this.attempt++;
    this.scheduleReconnect(r.floor ? Math.max(backoff, flooredDelay(r.floor, this.env.random)) : backoff);
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.env.warn(message);
  }
}

/** rrweb's FullSnapshot event (type 2), which ends a (re-)recording's Meta, full snapshot pair. */
const isFullSnapshot = (e: unknown): boolean => (e as { type?: unknown } | null)?.type === 2;

const isSeq = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
