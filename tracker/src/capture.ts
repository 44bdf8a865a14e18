// What the site's settings switch on besides the DOM (PROTOCOL.md §7):
// the console and network plugins given to rrweb, and error capture.

import type { Settings } from "../../protocol/ts/protocol";
import { consolePlugin, type Timers } from "./console";
import { watchErrors, type ErrorPayload, type ErrorSource } from "./errors";
import { networkPlugin } from "./network";

const pageTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (f, ms) => setTimeout(f, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

type CaptureSettings = Pick<Settings, "capture_console" | "capture_network" | "capture_errors" | "redact_params" | "network_body_urls">;

/** Capture settings that need a new recorder when they change. */
export function captureKey(s: CaptureSettings): string {
  return JSON.stringify([s.capture_console, s.capture_network, s.capture_errors, s.redact_params, s.network_body_urls]);
}

/** The rrweb plugins `settings` switch on. */
export function capturePlugins(s: CaptureSettings, serverOrigin: string | null, timers: Timers = pageTimers) {
  const plugins = [];
  if (s.capture_console) plugins.push(consolePlugin(timers));
  if (s.capture_network) {
    plugins.push(networkPlugin({ redactParams: s.redact_params, bodyUrls: s.network_body_urls, serverOrigin }));
  }
  return plugins;
}

/** Records `win`'s errors into `emit` when `settings` say so; returns what stops it. */
export function captureErrors(s: CaptureSettings, win: ErrorSource, emit: (p: ErrorPayload) => void): () => void {
  return s.capture_errors ? watchErrors(win, emit) : () => {};
}
