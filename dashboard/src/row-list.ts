import { h } from './dom';

/**
 * A list of timed rows beside the replay, kept in time order while rows
 * stream in. The row at the player's moment (the last one at or before it)
 * is highlighted and kept in view; clicking a row moves the player there.
 */
export class RowList<T extends { timestamp: number }> {
  readonly el: HTMLOListElement;
  private readonly items: { row: T; el: HTMLElement }[] = [];
  private current: HTMLElement | null = null;
  private readonly empty: HTMLElement;

  constructor(
    testid: string,
    emptyText: string,
    private readonly render: (row: T) => HTMLElement,
    private readonly seek: (timestamp: number) => void,
  ) {
    this.empty = h('li', { class: 'muted empty' }, emptyText);
    this.el = h('ol', { class: 'rows', 'data-testid': testid }, this.empty);
  }

  get length(): number {
    return this.items.length;
  }

  add(rows: readonly T[]): void {
    for (const row of rows) {
      const el = this.build(row);
      // Rows come nearly in order (a request arrives when it ends, after
      // its start): walk back from the end to its place.
      let i = this.items.length;
      while (i > 0 && this.items[i - 1]!.row.timestamp > row.timestamp) i--;
      const before = this.items[i]?.el ?? null;
      this.el.insertBefore(el, before);
      this.items.splice(i, 0, { row, el });
    }
    this.empty.hidden = this.items.length > 0;
  }

  /** Re-renders a row whose content changed (typing folded into an input row). */
  refresh(row: T): void {
    const item = this.items.find((it) => it.row === row);
    if (!item) return;
    const el = this.build(row);
    if (item.el === this.current) this.mark(el);
    item.el.replaceWith(el);
    item.el = el;
  }

  private build(row: T): HTMLElement {
    const el = this.render(row);
    el.dataset.ts = String(row.timestamp);
    el.addEventListener('click', (event) => {
      // A click in a request's body (a details element) is not a seek.
      if ((event.target as Element | null)?.closest('details')) return;
      this.seek(row.timestamp);
    });
    return el;
  }

  /** Highlights the row at `timestamp` (ms since the epoch). */
  setTime(timestamp: number): void {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[mid]!.row.timestamp <= timestamp) lo = mid + 1;
      else hi = mid;
    }
    const el = lo > 0 ? this.items[lo - 1]!.el : null;
    if (el === this.current) return;
    if (this.current) {
      this.current.classList.remove('current');
      this.current.removeAttribute('aria-current');
    }
    this.current = el;
    if (el) {
      this.mark(el);
      this.reveal(el);
    }
  }

  private mark(el: HTMLElement): void {
    el.classList.add('current');
    el.setAttribute('aria-current', 'true');
  }

  /** Scrolls the list (not the page) so that `el` is in view. */
  private reveal(el: HTMLElement): void {
    const list = this.el;
    if (list.clientHeight === 0) return;
    const top = el.offsetTop; // the list is positioned: its rows' offsetParent
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + el.offsetHeight > list.scrollTop + list.clientHeight) list.scrollTop = top + el.offsetHeight - list.clientHeight;
  }
}
