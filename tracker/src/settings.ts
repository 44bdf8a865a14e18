// Settings the server sends in `welcome` and `settings` messages, with the
// protocol crate's defaults (protocol/src/settings.rs) until one arrives.

import { DEFAULT_REDACT_PARAMS, type Settings } from "../../protocol/ts/protocol";

export const DEFAULT_SETTINGS: Readonly<Settings> = {
  sample_rate: 1,
  mask_all_inputs: true,
  mask_text: true,
  block_selector: "",
  batch_interval_ms: 1000,
  batch_max_bytes: 512 * 1024,
  batch_max_events: 5000,
  max_frame_bytes: 4 * 1024 * 1024,
  maintenance: false,
  capture_console: true,
  capture_network: true,
  capture_errors: true,
  redact_params: [...DEFAULT_REDACT_PARAMS],
  redact_patterns: [],
  network_body_urls: [],
  honor_dnt: false,
};

/** Bounds that keep a wrong value from turning the tracker into a busy loop. */
const MIN_INTERVAL_MS = 50;
const MIN_BATCH_BYTES = 1024;

/**
 * Settings from a server message or storage: known fields of the right type
 * are taken, anything missing or malformed keeps its default.
 */
export function readSettings(raw: unknown): Settings {
  const s: Settings = { ...DEFAULT_SETTINGS };
  if (!raw || typeof raw !== "object") return s;
  const r = raw as Record<string, unknown>;
  const num = (k: keyof Settings, min: number) => {
    const v = r[k];
    if (typeof v === "number" && Number.isFinite(v)) (s[k] as number) = Math.max(min, v);
  };
  const bool = (k: keyof Settings) => {
    if (typeof r[k] === "boolean") (s[k] as boolean) = r[k] as boolean;
  };
  num("sample_rate", 0);
  num("batch_interval_ms", MIN_INTERVAL_MS);
  num("batch_max_bytes", MIN_BATCH_BYTES);
  num("batch_max_events", 1);
  num("max_frame_bytes", MIN_BATCH_BYTES);
  bool("mask_all_inputs");
  bool("mask_text");
  bool("maintenance");
  bool("capture_console");
  bool("capture_network");
  bool("capture_errors");
  bool("honor_dnt");
  if (typeof r.block_selector === "string") s.block_selector = r.block_selector;
  const strings = (v: unknown): string[] | null =>
    Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null;
  s.redact_params = strings(r.redact_params) ?? s.redact_params;
  s.network_body_urls = strings(r.network_body_urls) ?? s.network_body_urls;
  return s;
}
