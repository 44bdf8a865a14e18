// Where to send: the loader (`/t/loader.js`) sets `window.__reelConfig`; a
// bundle included directly reads its own script tag instead:
//   <script async src="https://REEL_HOST/t/tracker.HASH.js" data-site="SITE_KEY"></script>

export interface Config {
  site: string;
  /** ws: or wss: URL of `/v1/ingest`. */
  endpoint: string;
  /**
   * The site honours Do-Not-Track (`data-honor-dnt` on the snippet): known
   * before any connection, so that such a browser sends nothing at all.
   */
  honorDnt?: boolean;
}

/** The parts of a <script> element read here. */
export interface ScriptTag {
  src: string;
  dataset: { site?: string; honorDnt?: string };
}

export const INGEST_PATH = "/v1/ingest";

/** ws(s)://host/v1/ingest for a script served from http(s)://host/... */
export function endpointFromScript(src: string): string | null {
  try {
    const u = new URL(src);
    if (u.protocol !== "https:" && u.protocol !== "http:") return null;
    return `${u.protocol === "https:" ? "wss:" : "ws:"}//${u.host}${INGEST_PATH}`;
  } catch {
    return null;
  }
}

export function readConfig(global: unknown, script: ScriptTag | null): Config | null {
  const c = (global as { __reelConfig?: Partial<Config> } | null)?.__reelConfig;
  if (c && typeof c.site === "string" && c.site && typeof c.endpoint === "string" && c.endpoint) {
    return { site: c.site, endpoint: c.endpoint, honorDnt: c.honorDnt === true };
  }
  const site = script?.dataset?.site;
  const endpoint = script ? endpointFromScript(script.src) : null;
  return site && endpoint ? { site, endpoint, honorDnt: script?.dataset?.honorDnt !== undefined } : null;
}

/** The ingest URL: `endpoint?site=...&visitor=...` (PROTOCOL.md §1). */
export function ingestUrl(endpoint: string, site: string, visitor: string): string {
  const u = new URL(endpoint);
  u.searchParams.set("site", site);
  u.searchParams.set("visitor", visitor);
  return u.toString();
}
