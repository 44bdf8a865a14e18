// Network capture (PROTOCOL.md §7): fetch, XMLHttpRequest and
// navigator.sendBeacon, recorded as rrweb plugin events (type 6) of plugin
// "reel/network@1". The URL's query parameters named in `redact_params`
// read `[redacted]`; no headers; bodies only of URLs matching one of
// `network_body_urls`, cut to NETWORK_BODY_MAX_BYTES. Requests to the reel
// server's own paths are never recorded.

import { NETWORK_BODY_MAX_BYTES } from "../../protocol/ts/protocol";
import { rateCap } from "./rate";
import { utf8, utf8Bytes } from "./utf8";

export const NETWORK_PLUGIN = "reel/network@1";
/** Most requests recorded per second; the rest are dropped (a page in a request loop). */
export const NETWORK_EVENTS_PER_SECOND = 100;
/** A recorded URL is cut to this many characters. */
export const MAX_URL_CHARS = 2048;
/** An error message is cut to this many characters. */
const MAX_ERROR_CHARS = 256;
/** Paths of the reel server that the tracker or its loader may request. */
export const REEL_PATHS = ["/v1/", "/t/"];
export const REDACTED = "[redacted]";

/** The payload of a `reel/network@1` event. */
export interface NetworkEvent {
  method: string;
  url: string;
  /** HTTP status; 0 when there was none (network error, beacon). */
  status: number;
  ok: boolean;
  /** When the request started, ms since the epoch. */
  start: number;
  duration_ms: number;
  request_bytes: number | null;
  response_bytes: number | null;
  initiator: "fetch" | "xhr" | "beacon";
  error: string | null;
  request_body?: string;
  response_body?: string;
}

export interface NetworkOptions {
  /** Query parameter names to redact (compared without regard to case). */
  redactParams: readonly string[];
  /** URL patterns whose bodies are recorded (`*`: any run of characters). */
  bodyUrls: readonly string[];
  /** Origin of the reel server (`https://reel.example`), or null if unknown. */
  serverOrigin: string | null;
}


function decodeName(raw: string): string {
  try {
    raw = decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    // kept as written
  }
  return raw.toLowerCase();
}

/**
 * `raw` resolved against `base`, without its fragment, the values of the
 * query parameters in `names` replaced by `[redacted]` (the rest of the
 * query kept as written), cut to MAX_URL_CHARS.
 */
export function redactUrl(raw: string, base: string, names: readonly string[]): string {
  let u: URL;
  try {
    u = new URL(raw, base);
  } catch {
    return raw.slice(0, MAX_URL_CHARS);
  }
  u.hash = "";
  const redact = new Set(names.map((n) => n.toLowerCase()));
  const search = u.search.slice(1);
  const query = search
    ? "?" +
      search
        .split("&")
        .map((part) => {
          const eq = part.indexOf("=");
          const name = eq === -1 ? part : part.slice(0, eq);
          return redact.has(decodeName(name)) ? `${name}=${REDACTED}` : part;
        })
        .join("&")
    : "";
  return (u.origin + u.pathname + query).slice(0, MAX_URL_CHARS);
}

/** The origin of the http(s) server behind a ws(s) endpoint. */
export function serverOrigin(endpoint: string): string | null {
  try {
    const u = new URL(endpoint);
    return `${u.protocol === "wss:" ? "https:" : "http:"}//${u.host}`;
  } catch {
    return null;
  }
}

/**
 * Is `url` (absolute) a request to the reel server itself? Any URL of its
 * origin is, except when the page is served from that origin too (the demo
 * shop): then only its own paths (REEL_PATHS) are.
 */
export function isOwnRequest(url: string, server: string | null, pageOrigin: string): boolean {
  if (!server) return false;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.origin !== server) return false;
  return pageOrigin !== server || REEL_PATHS.some((p) => u.pathname.startsWith(p));
}

/** Does `url` (its fragment dropped) match one of the glob `patterns`? */
export function matchesAny(url: string, patterns: readonly string[]): boolean {
  const bare = url.split("#")[0]!;
  return patterns.some((p) => {
    const re = new RegExp("^" + p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
    return re.test(bare);
  });
}

/** `s` cut to at most `max` bytes of UTF-8, at a character boundary. */
export function cutBytes(s: string, max: number = NETWORK_BODY_MAX_BYTES): string {
  if (s.length <= max / 3) return s;
  const bytes = utf8(s);
  if (bytes.length <= max) return s;
  return new TextDecoder().decode(bytes.subarray(0, max)).replace(/\uFFFD$/, "");
}

/** Bytes of a request body, 0 without one, null when it cannot be known cheaply (FormData, streams). */
export function bodyBytes(body: unknown): number | null {
  if (body === undefined || body === null) return 0;
  if (typeof body === "string") return utf8Bytes(body);
  if (body instanceof URLSearchParams) return utf8Bytes(body.toString());
  if (body instanceof Blob) return body.size;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  return null;
}

/** A request body as text for recording: strings and URLSearchParams only. */
export function bodyText(body: unknown): string | null {
  if (typeof body === "string") return body;
  if (body instanceof URLSearchParams) return body.toString();
  return null;
}

/** What the patched fetch, XMLHttpRequest and sendBeacon ask. */
export interface NetworkRecorder {
  /** The absolute URL of a request the page makes, or null if it is not recorded. */
  target(raw: string): string | null;
  /** Are bodies of `url` recorded? */
  bodies(url: string): boolean;
  /** Records a finished request (`url` absolute, as `target` returned it) and the bodies given. */
  record(e: Omit<NetworkEvent, "request_body" | "response_body">, requestBody?: string | null, responseBody?: string | null): void;
}

/** Decides what is recorded of the requests of the page at `pageUrl()`, and emits it. */
export function networkRecorder(opts: NetworkOptions, emit: (e: NetworkEvent) => void, pageUrl: () => string, now: () => number): NetworkRecorder {
  const cap = rateCap(NETWORK_EVENTS_PER_SECOND, now);
  return {
    target(raw) {
      const page = pageUrl();
      let abs = raw;
      let pageOrigin = "";
      try {
        abs = new URL(raw, page).href;
        pageOrigin = new URL(page).origin;
      } catch {
        // kept as written
      }
      return isOwnRequest(abs, opts.serverOrigin, pageOrigin) ? null : abs;
    },
    bodies: (url) => opts.bodyUrls.length > 0 && matchesAny(url, opts.bodyUrls),
    record(e, requestBody, responseBody) {
      if (!cap.take()) return;
      const out: NetworkEvent = {
        ...e,
        url: redactUrl(e.url, e.url, opts.redactParams),
        method: e.method.toUpperCase().slice(0, 16),
        duration_ms: Math.max(0, Math.round(e.duration_ms)),
        error: e.error === null ? null : e.error.slice(0, MAX_ERROR_CHARS),
      };
      if (typeof requestBody === "string") out.request_body = cutBytes(requestBody);
      if (typeof responseBody === "string") out.response_body = cutBytes(responseBody);
      emit(out);
    },
  };
}

function errorText(err: unknown): string {
  return (err instanceof Error ? (err.name === "AbortError" ? "aborted" : err.message) : String(err)) || "network error";
}

function contentLength(get: (name: string) => string | null): number | null {
  const v = get("content-length");
  const n = v === null ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

type Win = Window & typeof globalThis;

function patchFetch(win: Win, net: NetworkRecorder): () => void {
  const original = win.fetch;
  if (typeof original !== "function") return () => {};
  const wrapped = function (this: unknown, input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const result = original.call(this ?? win, input, init);
    try {
      const isRequest = input instanceof Request;
      const raw = typeof input === "string" ? input : isRequest ? (input as Request).url : String(input);
      const url = net.target(raw);
      if (url === null) return result;
      const method = (init && init.method) || (isRequest ? (input as Request).method : "GET");
      const body = init && "body" in init ? init.body : isRequest ? undefined : null;
      const start = Date.now();
      const t0 = performance.now();
      const bodies = net.bodies(url);
      const base = {
        method,
        url,
        start,
        request_bytes: body === undefined ? null : bodyBytes(body),
        initiator: "fetch" as const,
      };
      const requestBody = bodies ? bodyText(body) : null;
      result.then(
        (res) => {
          const done = (responseBytes: number | null, responseBody: string | null) =>
            net.record(
              { ...base, status: res.status, ok: res.ok, duration_ms: performance.now() - t0, response_bytes: responseBytes, error: null },
              requestBody,
              responseBody,
            );
          if (!bodies) return done(contentLength((n) => res.headers.get(n)), null);
          res
            .clone()
            .text()
            .then(
              (text) => done(utf8Bytes(text), text),
              () => done(contentLength((n) => res.headers.get(n)), null),
            );
        },
        (err) =>
          net.record({ ...base, status: 0, ok: false, duration_ms: performance.now() - t0, response_bytes: null, error: errorText(err) }, requestBody),
      );
    } catch {
      // never let recording break the page's request
    }
    return result;
  };
  win.fetch = wrapped as typeof win.fetch;
  return () => {
    if (win.fetch === wrapped) win.fetch = original;
  };
}

interface XhrInfo {
  method: string;
  url: string | null;
}

function patchXhr(win: Win, net: NetworkRecorder): () => void {
  const proto = win.XMLHttpRequest && win.XMLHttpRequest.prototype;
  if (!proto) return () => {};
  const open = proto.open;
  const send = proto.send;
  const info = new WeakMap<XMLHttpRequest, XhrInfo>();
  const wrappedOpen = function (this: XMLHttpRequest, method: string, url: string | URL, ...rest: unknown[]) {
    try {
      info.set(this, { method: String(method), url: net.target(String(url)) });
    } catch {
      info.delete(this);
    }
    return (open as (...a: unknown[]) => void).call(this, method, url, ...rest);
  };
  const wrappedSend = function (this: XMLHttpRequest, body?: Document | XMLHttpRequestBodyInit | null) {
    const xhr = this;
    const i = info.get(xhr);
    if (i && i.url !== null) {
      const url = i.url;
      const start = Date.now();
      const t0 = performance.now();
      const bodies = net.bodies(url);
      let error: string | null = null;
      // The error is the event's name: "error" (network), "abort" or "timeout".
      const fails = ["error", "abort", "timeout"];
      const onFail = (ev: Event) => {
        error = ev.type;
      };
      for (const f of fails) xhr.addEventListener(f, onFail);
      // Once, and without leaving listeners behind: an XHR may be opened and sent again.
      const onEnd = () => {
        for (const f of fails) xhr.removeEventListener(f, onFail);
        xhr.removeEventListener("loadend", onEnd);
        let text: string | null = null;
        let responseBytes: number | null = null;
        try {
          const type = xhr.responseType;
          if (type === "" || type === "text") text = xhr.responseText;
          else if (type === "json" && bodies) text = JSON.stringify(xhr.response);
          responseBytes = contentLength((n) => xhr.getResponseHeader(n)) ?? (text === null ? null : utf8Bytes(text));
        } catch {
          // the response is not readable
        }
        net.record(
          {
            method: i.method,
            url,
            start,
            status: xhr.status,
            ok: error === null && xhr.status >= 200 && xhr.status < 300,
            duration_ms: performance.now() - t0,
            request_bytes: bodyBytes(body),
            response_bytes: responseBytes,
            initiator: "xhr",
            error,
          },
          bodies ? bodyText(body) : null,
          bodies && error === null ? text : null,
        );
      };
      xhr.addEventListener("loadend", onEnd);
    }
    return send.call(this, body);
  };
  proto.open = wrappedOpen as typeof proto.open;
  proto.send = wrappedSend;
  return () => {
    if (proto.open === (wrappedOpen as typeof proto.open)) proto.open = open;
    if (proto.send === wrappedSend) proto.send = send;
  };
}

function patchBeacon(win: Win, net: NetworkRecorder): () => void {
  const nav = win.navigator;
  const original = nav && nav.sendBeacon;
  if (typeof original !== "function") return () => {};
  const wrapped = function (this: Navigator, url: string | URL, data?: BodyInit | null): boolean {
    const queued = original.call(this ?? nav, url, data);
    try {
      const target = net.target(String(url));
      if (target !== null) {
        net.record(
          {
            method: "POST",
            url: target,
            start: Date.now(),
            status: 0,
            ok: queued,
            duration_ms: 0,
            request_bytes: bodyBytes(data),
            response_bytes: null,
            initiator: "beacon",
            error: queued ? null : "not queued",
          },
          net.bodies(target) ? bodyText(data) : null,
        );
      }
    } catch {
      // never let recording break the beacon
    }
    return queued;
  };
  nav.sendBeacon = wrapped;
  return () => {
    if (nav.sendBeacon === wrapped) nav.sendBeacon = original;
  };
}

/** An rrweb record plugin recording the requests of the window it observes. */
export function networkPlugin(opts: NetworkOptions) {
  return {
    name: NETWORK_PLUGIN,
    options: opts,
    observer(cb: (payload: NetworkEvent) => void, win: Win, o: NetworkOptions): () => void {
      const net = networkRecorder(o, cb, () => win.location.href, () => Date.now());
      const undo = [patchFetch(win, net), patchXhr(win, net), patchBeacon(win, net)];
      return () => undo.forEach((f) => f());
    },
  };
}
