// The tracker bundle's entry: reads the configuration, installs
// `window.reel`, replays calls queued by the loader's stub and wires rrweb and
// the page's lifecycle to the transport.

import { readConfig, type ScriptTag } from "./config";
import { gzipper } from "./gzip";
import { randomId } from "./ids";
import { rrwebRecorder } from "./recorder";
import { KEYS } from "./session";
import { webKV } from "./storage";
import { Client, type Env } from "./transport";

interface ReelApi {
  identify(userId: string, traits?: Record<string, string>): void;
  /** Stops recording this browser (remembered in localStorage). */
  optOut(): void;
  /** Undoes `optOut`. */
  optIn(): void;
}

type QueuedCall = [string, ...unknown[]];

declare global {
  interface Window {
    __reelConfig?: { site: string; endpoint: string; honorDnt?: boolean };
    reel?: Partial<ReelApi> & { q?: QueuedCall[]; __reel?: true };
  }
}

/** Longest error message kept in a custom "error" event. */
const MAX_ERROR_CHARS = 1000;

function timeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

function errorMessage(value: unknown): string {
  const m = value instanceof Error ? value.message : typeof value === "string" ? value : String(value);
  return m.slice(0, MAX_ERROR_CHARS);
}

function main(): void {
  const w = window;
  if (w.reel && w.reel.__reel) return; // the bundle ran twice
  const config = readConfig(w, document.currentScript as unknown as ScriptTag | null);
  if (!config) {
    console.warn("reel: no site key (window.__reelConfig or data-site on the script tag)");
    return;
  }
  const queued = w.reel && Array.isArray(w.reel.q) ? w.reel.q : [];

  const env: Env = {
    connect: (url) => new WebSocket(url) as unknown as ReturnType<Env["connect"]>,
    local: webKV(() => localStorage),
    session: webKV(() => sessionStorage),
    now: () => Date.now(),
    random: () => Math.random(),
    newId: () => randomId(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    gzip: gzipper(),
    pageInfo: () => ({
      page: { url: location.href, referrer: document.referrer, title: document.title },
      screen: { w: screen.width, h: screen.height },
      lang: navigator.language || "",
      tz: timeZone(),
    }),
    warn: (m) => console.warn(m),
    privacySignal: () => {
      const n = navigator as Navigator & { globalPrivacyControl?: boolean };
      const dnt = n.doNotTrack ?? (w as unknown as { doNotTrack?: string }).doNotTrack;
      return dnt === "1" || dnt === "yes" || n.globalPrivacyControl === true;
    },
  };
  const recorder = rrwebRecorder((e) => client.event(e));
  const client = new Client(config, env, recorder);

  w.reel = {
    __reel: true,
    identify: (userId: string, traits?: Record<string, string>) => client.identify(userId, traits),
    optOut: () => client.optOut(),
    optIn: () => client.optIn(),
  };
  // An opt-out queued before the bundle ran applies before anything is sent.
  for (const call of queued) {
    if (Array.isArray(call) && call[0] === "optOut") env.local.set(KEYS.optOut, "1");
    if (Array.isArray(call) && call[0] === "optIn") env.local.remove(KEYS.optOut);
  }
  client.init();
  for (const call of queued) {
    if (Array.isArray(call) && call[0] === "identify") client.identify(call[1], call[2]);
  }

  addEventListener("pagehide", () => client.pagehide());
  addEventListener("pageshow", (e) => {
    if (e.persisted) client.init();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") client.flush();
  });
  // The server counts custom events tagged "error" as console errors.
  addEventListener("error", (e) => recorder.custom("error", { message: errorMessage(e.message || e.error) }));
  addEventListener("unhandledrejection", (e) => recorder.custom("error", { message: errorMessage(e.reason) }));
}

main();
