// The tracker bundle's entry: reads the configuration, installs
// `window.reel`, replays calls queued by the loader's stub and wires rrweb and
// the page's lifecycle to the transport.

import { readConfig, type ScriptTag } from "./config";
import { gzipper } from "./gzip";
import { randomId } from "./ids";
import { serverOrigin } from "./network";
import { rrwebRecorder } from "./recorder";
import { KEYS } from "./session";
import { webKV } from "./storage";
import { sessionUrl, trackPayload, type TrackProps } from "./track";
import { Client, type Env } from "./transport";

interface ReelApi {
  identify(userId: string, traits?: Record<string, string>): void;
  track(name: string, props?: TrackProps): void;
  /** The dashboard page of this session (live while connected, else the replay), null until the session is known. */
  sessionUrl(): string | null;
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

function timeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
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
  const recorder = rrwebRecorder((e) => client.event(e), serverOrigin(config.endpoint));
  const client = new Client(config, env, recorder);

  const track = (name: unknown, props?: unknown) => {
    const p = trackPayload(name, props);
    if (typeof p === "string") console.warn(p);
    else recorder.custom("track", p);
  };
  w.reel = {
    __reel: true,
    identify: (userId: string, traits?: Record<string, string>) => client.identify(userId, traits),
    track,
    sessionUrl: () => sessionUrl(config.endpoint, client.session, client.live),
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
    if (!Array.isArray(call)) continue;
    if (call[0] === "identify") client.identify(call[1], call[2]);
    if (call[0] === "track") track(call[1], call[2]);
  }

  addEventListener("pagehide", () => {
    recorder.flush();
    client.pagehide();
  });
  addEventListener("pageshow", (e) => {
    if (e.persisted) client.init();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") client.flush();
  });
}

main();
