// Fakes for driving the transport without a browser: a WebSocket the test
// plays the server on, a recorder that emits rrweb-shaped events, storages.

import type { Settings } from "../../protocol/ts/protocol";
import { randomId } from "../src/ids";
import { memoryKV } from "../src/storage";
import { Client, type Env, type Recorder, type Socket } from "../src/transport";
import { privacyKey } from "../src/privacy";
import { DEFAULT_SETTINGS } from "../src/settings";

export class FakeSocket implements Socket {
  readyState = 0;
  binaryType = "blob";
  sent: (string | Uint8Array)[] = [];
  closedWith: number | null = null;
  onopen: Socket["onopen"] = null;
  onmessage: Socket["onmessage"] = null;
  onclose: Socket["onclose"] = null;
  onerror: Socket["onerror"] = null;
  constructor(readonly url: string) {}
  send(data: string | Uint8Array): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }
  close(code = 1000): void {
    this.closedWith = code;
    this.readyState = 3;
  }
  /** The server accepted the upgrade. */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(msg: object): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  /** The server closed the connection (or the upgrade failed: 1006). */
  serverClose(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  /** Text frames sent, parsed. */
  messages(): any[] {
    return this.sent.filter((s): s is string => typeof s === "string").map((s) => JSON.parse(s));
  }
  batches(): any[] {
    return this.messages().filter((m) => m.t === "events");
  }
  welcome(session: string, nextSeq: number, settings: Partial<Settings> = {}): void {
    this.receive({ t: "welcome", session, tab: "x", next_seq: nextSeq, settings: { ...DEFAULT_SETTINGS, ...settings } });
  }
}

export class FakeRecorder implements Recorder {
  recording = false;
  starts = 0;
  stops = 0;
  snapshots = 0;
  /** The `rerecord` of each snapshot asked for. */
  rerecords: boolean[] = [];
  key = "";
  client: Client | null = null;
  private ts = 1_700_000_000_000;
  start(settings: Settings): boolean {
    const key = privacyKey(settings);
    if (this.recording && key === this.key) return false;
    this.key = key;
    this.recording = true;
    this.starts++;
    this.fullSnapshot();
    return true;
  }
  stop(): void {
    if (this.recording) this.stops++;
    this.recording = false;
  }
  snapshot(rerecord = true): void {
    if (!this.recording) return;
    this.snapshots++;
    this.rerecords.push(rerecord);
    this.fullSnapshot();
  }
  /** n incremental events. */
  emit(n = 1): void {
    for (let i = 0; i < n; i++) this.client!.event({ type: 3, timestamp: this.ts++, data: { source: 1, i } });
  }
  private fullSnapshot(): void {
    this.client!.event({ type: 4, timestamp: this.ts++, data: { href: "https://shop.example/" } });
    this.client!.event({ type: 2, timestamp: this.ts++, data: { node: {} } });
  }
}

export interface Harness {
  client: Client;
  env: Env;
  recorder: FakeRecorder;
  sockets: FakeSocket[];
  warnings: string[];
  /** The newest socket. */
  ws: FakeSocket;
}

export interface HarnessOptions {
  local?: ReturnType<typeof memoryKV>;
  session?: ReturnType<typeof memoryKV>;
  gzip?: Env["gzip"];
  random?: () => number;
  /** The browser sends Do-Not-Track or Global Privacy Control. */
  dnt?: boolean;
  /** The snippet says the site honours it. */
  honorDnt?: boolean;
}

/** A page load: a client over (possibly shared) storages, initialised. */
export function page(opts: HarnessOptions = {}): Harness {
  const sockets: FakeSocket[] = [];
  const warnings: string[] = [];
  const env: Env = {
    connect: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    local: opts.local ?? memoryKV(),
    session: opts.session ?? memoryKV(),
    now: () => Date.now(),
    random: opts.random ?? (() => 0.5),
    newId: () => randomId(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    gzip: opts.gzip ?? null,
    pageInfo: () => ({
      page: { url: "https://shop.example/cart", referrer: "https://search.example/", title: "Cart" },
      screen: { w: 1280, h: 800 },
      lang: "en-GB",
      tz: "Europe/Paris",
    }),
    warn: (m) => warnings.push(m),
    privacySignal: () => opts.dnt === true,
  };
  const recorder = new FakeRecorder();
  const client = new Client(
    { site: "site_key", endpoint: "ws://reel.test/v1/ingest", honorDnt: opts.honorDnt },
    env,
    recorder,
  );
  recorder.client = client;
  client.init();
  return {
    client,
    env,
    recorder,
    sockets,
    warnings,
    get ws() {
      return sockets[sockets.length - 1];
    },
  };
}

/** The first sessionStorage-like copy a duplicated tab would get. */
export function copyKV(kv: ReturnType<typeof memoryKV>): ReturnType<typeof memoryKV> {
  const c = memoryKV();
  kv.data.forEach((v, k) => c.data.set(k, v));
  return c;
}
