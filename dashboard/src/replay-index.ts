import { activityOf, mergeInput, type ActivityRow } from './activity';
import { consoleRowOf, networkRowOf, type ConsoleRow, type NetworkRow } from './devtools';
import { markerOf, str, type Marker } from './markers';
import { PageLoads } from './pageloads';
import { EventType, type RRwebEvent } from './types';

/** What a batch of streamed events adds to the replay's panels and timeline. */
export interface Additions {
  markers: Marker[];
  activity: ActivityRow[];
  console: ConsoleRow[];
  network: NetworkRow[];
  /** True when the last activity row before this batch took a later input's value. */
  changedLast: boolean;
}

/**
 * Reads the replay's events once, as they stream in: the recording's time
 * range, the page loads (one count for the legend and the facts), the URL
 * at each moment, and the rows of the side panel and markers of the timeline.
 */
export class ReplayIndex {
  readonly pages = new PageLoads();
  /** The time of the first event, ms since the epoch: the player's 0:00. */
  start = Number.POSITIVE_INFINITY;
  end = Number.NEGATIVE_INFINITY;
  /** Meta events in order: the page's URL from each timestamp on. */
  private readonly hrefs: { timestamp: number; href: string }[] = [];
  private lastActivity: ActivityRow | undefined;

  add(events: readonly RRwebEvent[]): Additions {
    const out: Additions = { markers: [], activity: [], console: [], network: [], changedLast: false };
    for (const event of events) {
      if (event.timestamp < this.start) this.start = event.timestamp;
      if (event.timestamp > this.end) this.end = event.timestamp;
      const pageLoad = this.pages.push(event);
      if (event.type === EventType.Meta) {
        this.hrefs.push({ timestamp: event.timestamp, href: str((event.data as { href?: unknown } | undefined)?.href) ?? '' });
      }
      const marker = markerOf(event, pageLoad);
      if (marker) out.markers.push(marker);
      const row = activityOf(event, pageLoad);
      if (row) {
        if (mergeInput(this.lastActivity, row)) {
          if (!out.activity.includes(this.lastActivity!)) out.changedLast = true;
        } else {
          out.activity.push(row);
          this.lastActivity = row;
        }
      }
      const line = consoleRowOf(event);
      if (line) out.console.push(line);
      const request = networkRowOf(event);
      if (request) out.network.push(request);
    }
    return out;
  }

  /** Length of the recording so far, ms. */
  get duration(): number {
    return Number.isFinite(this.start) ? Math.max(0, this.end - this.start) : 0;
  }

  /** The time of the Meta event that began the page shown at `timestamp` (ms since the epoch), or -Infinity. */
  pageStart(timestamp: number): number {
    let at = Number.NEGATIVE_INFINITY;
    for (const entry of this.hrefs) {
      if (entry.timestamp > timestamp) break;
      at = entry.timestamp;
    }
    return at;
  }

  /** The page's URL at player offset `offsetMs` ('' before the first Meta). */
  urlAt(offsetMs: number): string {
    const t = this.start + offsetMs;
    let href = '';
    for (const entry of this.hrefs) {
      if (entry.timestamp > t) break;
      href = entry.href;
    }
    return href;
  }
}
