import { h } from './dom';
import { formatClock, formatCount } from './format';
import { markerOf, type Marker, type MarkerKind } from './markers';
import type { RRwebEvent } from './types';

const KIND_NAMES: Record<MarkerKind, [string, string]> = {
  page: ['page load', 'page loads'],
  click: ['click', 'clicks'],
  error: ['error', 'errors'],
};

/**
 * The strip under the player: a marker per page load, click and error, and a
 * playhead. It grows while events stream in. Positions are CSS: each marker
 * holds its offset from the first event (`--t`, ms) and the track holds the
 * recording's length (`--d`, ms), so a longer recording only updates `--d`.
 */
export class Timeline {
  readonly el: HTMLElement;
  private readonly track: HTMLElement;
  private readonly playhead: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly markers: { marker: Marker; el: HTMLButtonElement }[] = [];
  private readonly counts: Record<MarkerKind, number> = { page: 0, click: 0, error: 0 };
  private start = Number.POSITIVE_INFINITY;
  private end = Number.NEGATIVE_INFINITY;

  constructor(private readonly seek: (offsetMs: number) => void) {
    this.playhead = h('div', { class: 'playhead', 'aria-hidden': 'true' });
    this.track = h('div', { class: 'track' }, this.playhead);
    this.legend = h('div', { class: 'legend' });
    this.el = h('div', { class: 'timeline', 'data-testid': 'timeline' }, this.track, this.legend);
    this.renderLegend();
  }

  /** Adds streamed events: extends the time range and places their markers. */
  addEvents(events: readonly RRwebEvent[]): void {
    const previousStart = this.start;
    const fresh: Marker[] = [];
    for (const event of events) {
      if (event.timestamp < this.start) this.start = event.timestamp;
      if (event.timestamp > this.end) this.end = event.timestamp;
      const marker = markerOf(event);
      if (marker) fresh.push(marker);
    }
    if (this.start !== previousStart) {
      // An event earlier than all before it moves time zero (rare: merged tabs
      // arrive sorted, one tab nearly so); shift every marker placed so far.
      for (const { marker, el } of this.markers) this.place(el, marker);
    }
    for (const marker of fresh) this.addMarker(marker);
    this.track.style.setProperty('--d', String(Math.max(1, this.end - this.start)));
    if (fresh.length > 0) this.renderLegend();
  }

  /** Moves the playhead to a player offset (ms since the first event). */
  setPlayhead(offsetMs: number): void {
    this.playhead.style.setProperty('--t', String(Math.max(0, offsetMs)));
  }

  /** The time of the first event, ms since the epoch (player offset 0). */
  get startTime(): number {
    return this.start;
  }

  private addMarker(marker: Marker): void {
    const kind = KIND_NAMES[marker.kind][0];
    const el = h('button', {
      type: 'button',
      class: `marker marker-${marker.kind}`,
      'data-testid': 'marker',
      'data-kind': marker.kind,
      onclick: () => this.seek(marker.timestamp - this.start),
    });
    this.place(el, marker);
    const text = `${kind} at ${formatClock(marker.timestamp - this.start)}${marker.label && marker.kind !== 'click' ? `: ${marker.label}` : ''}`;
    el.title = text;
    el.setAttribute('aria-label', text);
    // The many clicks go underneath, so page loads and errors stay on top.
    this.track.insertBefore(el, marker.kind === 'click' ? this.track.firstChild : this.playhead);
    this.markers.push({ marker, el });
    this.counts[marker.kind]++;
  }

  private place(el: HTMLElement, marker: Marker): void {
    const offset = marker.timestamp - this.start;
    el.style.setProperty('--t', String(offset));
    el.dataset.offsetMs = String(offset);
  }

  private renderLegend(): void {
    this.legend.replaceChildren(
      ...(Object.keys(KIND_NAMES) as MarkerKind[]).map((kind) => {
        const n = this.counts[kind];
        const [one, many] = KIND_NAMES[kind];
        return h('span', { class: `key key-${kind}` }, h('i', { 'aria-hidden': 'true' }), `${formatCount(n)} ${n === 1 ? one : many}`);
      }),
    );
  }
}
