import { RESNAPSHOT_TAG } from '../../protocol/ts/protocol';
import { EventType, type RRwebEvent } from './types';

/**
 * Tag of the custom event the tracker records just before a full snapshot
 * it takes again in a page it already recorded in this session (a live
 * viewer asked for one, or it re-records after lost batches): the Meta
 * event that follows is a re-record, not a navigation.
 */
export { RESNAPSHOT_TAG };

/**
 * Counts page loads from navigations only. rrweb writes a Meta event both
 * when a page starts recording and when the tracker takes a full snapshot
 * again in the same page and session; the tracker records a
 * `reel/resnapshot` custom event just before the latter, and the Meta after
 * it is not a page load. The node counts the session's `page_loads` by the
 * same rule (`reel_protocol::event::RESNAPSHOT_TAG`); the timeline legend and
 * the facts panel both read this count. Events are fed in order, once each.
 */
export class PageLoads {
  private resnapshot = false;
  count = 0;

  /** Feeds the next event; true when it is a page load. */
  push(event: RRwebEvent): boolean {
    const data = event.data as { tag?: unknown } | undefined;
    if (event.type === EventType.Custom && data?.tag === RESNAPSHOT_TAG) {
      this.resnapshot = true;
      return false;
    }
    if (event.type !== EventType.Meta) return false;
    const rerecord = this.resnapshot;
    this.resnapshot = false;
    if (!rerecord) this.count++;
    return !rerecord;
  }
}
