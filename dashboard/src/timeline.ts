import { h } from './dom';
import { formatClock, formatCount } from './format';
import type { Marker, MarkerKind } from './markers';

const KIND_NAMES: Record<MarkerKind, [string, string]> = {
  page: ['page load', 'page loads'],
  click: ['click', 'clicks'],
  error: ['error', 'errors'],
  note: ['note', 'notes'],
};

/**
 * The replay's markers (page loads, clicks, errors, notes) laid on
 * rrweb-player's own progress bar, so there is one scrubber; the player
 * shades inactive stretches on it. A legend below counts each kind.
 * Positions are CSS: each marker holds its offset from the first event
 * (`--t`, ms) and the layer the recording's length (`--d`, ms), as the
 * player's bar measures them (first to last event).
 */
export class Timeline {
  /** The legend, placed under the player. */
  readonly el: HTMLElement;
  /** The marker layer, mounted inside the player's progress bar. */
  readonly layer: HTMLElement;
  private readonly markers: { marker: Marker; el: HTMLButtonElement }[] = [];
  private readonly counts: Record<MarkerKind, number> = { page: 0, click: 0, error: 0, note: 0 };
  private start = Number.POSITIVE_INFINITY;
  private notes: readonly { t: number; text: string }[] = [];

  /** `pageLoads()`: the count of page loads (the one the facts panel shows too). */
  constructor(
    private readonly seek: (offsetMs: number) => void,
    private readonly pageLoads: () => number,
  ) {
    this.layer = h('div', { class: 'reel-markers', 'data-testid': 'timeline-markers' });
    this.el = h('div', { class: 'timeline legend', 'data-testid': 'timeline' });
    this.renderLegend();
  }

  /** Mounts the markers on the player's progress bar (`.rr-progress`). */
  attach(progress: Element | null): void {
    progress?.append(this.layer);
  }

  /** Adds markers; `start` is the first event's time and `durationMs` the recording's length so far. */
  add(markers: readonly Marker[], start: number, durationMs: number): void {
    if (start !== this.start) {
      this.start = start;
      // An event earlier than all before it moves time zero: re-place all.
      for (const { marker, el } of this.markers) this.place(el, marker);
      // Notes are placed from the start: place them again.
      if (this.notes.length > 0) this.setNotes(this.notes);
    }
    for (const marker of markers) this.addMarker(marker);
    this.layer.style.setProperty('--d', String(Math.max(1, durationMs)));
    this.renderLegend();
  }

  /** Replaces the note markers: `notes` with `t` in ms from the start. */
  setNotes(notes: readonly { t: number; text: string }[]): void {
    this.notes = notes;
    for (let i = this.markers.length - 1; i >= 0; i--) {
      if (this.markers[i]!.marker.kind === 'note') {
        this.markers[i]!.el.remove();
        this.markers.splice(i, 1);
      }
    }
    this.counts.note = 0;
    const base = Number.isFinite(this.start) ? this.start : 0;
    for (const note of notes) this.addMarker({ kind: 'note', timestamp: base + note.t, label: note.text });
    this.renderLegend();
  }

  private addMarker(marker: Marker): void {
    const kind = KIND_NAMES[marker.kind][0];
    const el = h('button', {
      type: 'button',
      tabindex: -1,
      class: `marker marker-${marker.kind}`,
      'data-testid': 'marker',
      'data-kind': marker.kind,
    });
    el.addEventListener('click', (event) => {
      // The bar under it would seek to the pointer: seek to the marker.
      event.stopPropagation();
      this.seek(marker.timestamp - this.start);
    });
    this.place(el, marker);
    const text = `${kind} at ${formatClock(marker.timestamp - this.start)}${marker.label && marker.kind !== 'click' ? `: ${marker.label}` : ''}`;
    el.title = text;
    el.setAttribute('aria-label', text);
    // The many clicks go underneath, so page loads, errors and notes stay on top.
    if (marker.kind === 'click') this.layer.prepend(el);
    else this.layer.append(el);
    this.markers.push({ marker, el });
    this.counts[marker.kind]++;
  }

  private place(el: HTMLElement, marker: Marker): void {
    const offset = marker.timestamp - this.start;
    el.style.setProperty('--t', String(offset));
    el.dataset.offsetMs = String(offset);
  }

  private renderLegend(): void {
    this.el.replaceChildren(
      ...(Object.keys(KIND_NAMES) as MarkerKind[]).map((kind) => {
        const n = kind === 'page' ? this.pageLoads() : this.counts[kind];
        const [one, many] = KIND_NAMES[kind];
        return h(
          'span',
          { class: `key key-${kind}`, 'data-testid': `legend-${kind}` },
          h('i', { 'aria-hidden': 'true' }),
          `${formatCount(n)} ${n === 1 ? one : many}`,
        );
      }),
      h('span', { class: 'key key-inactive' }, h('i', { 'aria-hidden': 'true' }), 'inactive'),
    );
  }
}
