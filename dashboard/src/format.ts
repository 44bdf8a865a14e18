/**
 * Formatting helpers. Times are shown in the browser's time zone, and every
 * time shown says which zone that is (`UTC+2`).
 */

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/**
 * A UTC offset in minutes east of Greenwich as people read it: `UTC`,
 * `UTC+2`, `UTC-5`, `UTC+5:30`.
 */
export function formatOffset(minutesEast: number): string {
  if (minutesEast === 0) return 'UTC';
  const sign = minutesEast > 0 ? '+' : '-';
  const abs = Math.abs(minutesEast);
  const m = abs % 60;
  return `UTC${sign}${Math.floor(abs / 60)}${m === 0 ? '' : `:${pad(m)}`}`;
}

/** The browser's zone at `ms` as an offset (`UTC+2`): it changes with daylight saving time. */
export function zoneAt(ms: number): string {
  return formatOffset(-new Date(ms).getTimezoneOffset());
}

/** The browser's IANA time zone (`Europe/Paris`), '' when the browser does not say. */
export function zoneName(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone ?? '';
  } catch {
    return '';
  }
}

/** `2024-05-01 14:03:09 UTC+2`: local time with its zone. */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zoneAt(ms)}`
  );
}

/** Midnight that began the local day of `now` (ms). */
export function startOfDay(now: number): number {
  const d = new Date(now);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/**
 * A visitor's browser and OS as the server named them from the user agent
 * (`Chrome · Linux`); woothee's `UNKNOWN` and empty names are left out, and
 * with neither known the device class stands in.
 */
export function formatClient(browser: string, os: string, device = ''): string {
  const known = (s: string) => s.trim() !== '' && s.trim().toUpperCase() !== 'UNKNOWN';
  const parts = [browser, os].filter(known).map((s) => s.trim());
  if (parts.length > 0) return parts.join(' · ');
  return known(device) ? device.trim() : 'unknown';
}

/** A duration for people: `0s`, `42s`, `3m 05s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

/** A player offset as a clock: `0:07`, `12:30`, `1:02:03`. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** Bytes with a binary unit: `512 B`, `1.5 KiB`, `3.2 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `1,234` (grouping as the browser's locale does). */
export function formatCount(n: number): string {
  return n.toLocaleString();
}

/** The value of an `<input type="datetime-local">` for a time, in local time. */
export function toDateTimeLocal(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}`
  );
}

/**
 * Parses an `<input type="datetime-local">` value (`YYYY-MM-DDTHH:mm`, with
 * optional seconds) as local time; null when empty or malformed.
 */
export function fromDateTimeLocal(value: string): number | null {
  const m = /^(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s = '0', frac = '0'] = m;
  const ms = Number(frac.padEnd(3, '0'));
  const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const time = date.getTime();
  return Number.isNaN(time) ? null : time;
}

/**
 * How long ago `ms` was, for people: `now`, `12s ago`, `3m ago`, `2h ago`,
 * `4d ago`. A time ahead of `now` (another clock) reads as `now`.
 */
export function formatAgo(ms: number, now: number): string {
  const s = Math.floor((now - ms) / 1000);
  if (s < 1) return 'now';
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ago`;
  return `${Math.floor(h / 24)}d ago`;
}

/** A wait in seconds for people: `30 seconds`, `1 minute`, `15 minutes`, `2 hours`. */
export function formatWait(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.ceil(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  const hours = Math.ceil(m / 60);
  return `${hours} hour${hours === 1 ? '' : 's'}`;
}
