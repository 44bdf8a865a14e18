import type { ActivityRow } from './activity';
import type { ConsoleRow, NetworkRow } from './devtools';
import { h } from './dom';
import { formatBytes, formatClock, formatCount } from './format';
import type { Additions } from './replay-index';
import { RowList } from './row-list';

/**
 * The panel beside the replay: tabs for the activity list, the console,
 * the network requests, the notes and the session's facts. Every row shows
 * its time from the start of the recording, the row at the player's moment
 * is highlighted, and clicking a row moves the player to it.
 */
export class SidePanel {
  readonly el: HTMLElement;
  readonly activity: RowList<ActivityRow>;
  readonly console: RowList<ConsoleRow>;
  readonly network: RowList<NetworkRow>;
  private readonly counts = new Map<string, HTMLElement>();
  private readonly tabs: { name: string; button: HTMLButtonElement; pane: HTMLElement }[] = [];
  private readonly tabBar: HTMLElement;
  private readonly panes: HTMLElement;

  /**
   * `origin()`: the recording's first event (ms since the epoch), which
   * row times are relative to; `seek(timestamp)` moves the player there.
   */
  constructor(
    private readonly origin: () => number,
    seek: (timestamp: number) => void,
  ) {
    const at = (ts: number) => h('span', { class: 'at', 'data-testid': 'row-time' }, formatClock(ts - this.origin()));
    this.activity = new RowList<ActivityRow>(
      'activity-list',
      'Nothing yet.',
      (row) =>
        h(
          'li',
          { class: `row act-${row.kind}`, 'data-testid': 'activity-row', 'data-kind': row.kind, title: row.detail || row.label },
          at(row.timestamp),
          h('span', { class: 'kind' }, KIND_LABEL[row.kind]),
          h('span', { class: 'what', 'data-testid': 'row-label' }, row.label),
          row.detail ? h('span', { class: 'detail' }, row.detail) : null,
        ),
      seek,
    );
    this.console = new RowList<ConsoleRow>(
      'console-list',
      'No console lines recorded.',
      (row) =>
        h(
          'li',
          { class: `row level-${row.level}`, 'data-testid': 'console-row', 'data-level': row.level, title: row.trace.join('\n') },
          at(row.timestamp),
          h('span', { class: 'kind' }, row.level),
          h('span', { class: 'what', 'data-testid': 'row-label' }, row.text),
        ),
      seek,
    );
    this.network = new RowList<NetworkRow>('network-list', 'No requests recorded.', networkRow(at), seek);
    this.tabBar = h('div', { class: 'panel-tabs', role: 'tablist' });
    this.panes = h('div', { class: 'panel-panes' });
    this.el = h('section', { class: 'side-panel', 'data-testid': 'side-panel' }, this.tabBar, this.panes);
    this.addTab('activity', 'Activity', this.activity.el, true);
    this.addTab('console', 'Console', this.console.el, true);
    this.addTab('network', 'Network', this.network.el, true);
  }

  /** Adds a tab; `counted` shows how many rows it has. */
  addTab(name: string, label: string, content: HTMLElement, counted = false): HTMLElement {
    const count = counted ? h('span', { class: 'count', 'data-testid': `count-${name}` }, '0') : null;
    if (count) this.counts.set(name, count);
    const button = h(
      'button',
      { type: 'button', role: 'tab', class: 'panel-tab', 'data-testid': `panel-tab-${name}`, 'data-tab': name },
      label,
      count ? ' ' : null,
      count,
    );
    const pane = h('div', { class: 'panel-pane', role: 'tabpanel', 'data-testid': `panel-${name}` }, content);
    button.addEventListener('click', () => this.show(name));
    this.tabBar.append(button);
    this.panes.append(pane);
    this.tabs.push({ name, button, pane });
    if (this.tabs.length === 1) this.show(name);
    else pane.hidden = true;
    return pane;
  }

  show(name: string): void {
    for (const tab of this.tabs) {
      const on = tab.name === name;
      tab.pane.hidden = !on;
      tab.button.classList.toggle('active', on);
      tab.button.setAttribute('aria-selected', String(on));
    }
  }

  /** Adds the rows of newly streamed events. */
  add(additions: Additions, lastChanged: ActivityRow | null): void {
    if (additions.changedLast && lastChanged) this.activity.refresh(lastChanged);
    this.activity.add(additions.activity);
    this.console.add(additions.console);
    this.network.add(additions.network);
    this.setCount('activity', this.activity.length);
    this.setCount('console', this.console.length);
    this.setCount('network', this.network.length);
    if (additions.network.some((r) => r.failed)) this.counts.get('network')?.classList.add('failed');
    if (additions.console.some((r) => r.level === 'error')) this.counts.get('console')?.classList.add('failed');
  }

  /** Highlights every list's row at `timestamp` (ms since the epoch). */
  setTime(timestamp: number): void {
    this.activity.setTime(timestamp);
    this.console.setTime(timestamp);
    this.network.setTime(timestamp);
  }

  private setCount(name: string, n: number): void {
    const el = this.counts.get(name);
    if (el) el.textContent = formatCount(n);
  }
}

const KIND_LABEL: Record<ActivityRow['kind'], string> = {
  page: 'Page',
  click: 'Click',
  input: 'Input',
  error: 'Error',
  track: 'Track',
};

function networkRow(at: (ts: number) => HTMLElement): (row: NetworkRow) => HTMLElement {
  return (row) => {
    const status = row.error ? 'failed' : row.status === 0 ? '—' : String(row.status);
    // Sizes as sent (↑) and received (↓), each only when known.
    const sizes = [
      row.requestBytes === null ? null : `↑ ${formatBytes(row.requestBytes)}`,
      row.responseBytes === null ? null : `↓ ${formatBytes(row.responseBytes)}`,
    ]
      .filter((p) => p !== null)
      .join(' ');
    const bodies = [
      row.requestBody !== null ? h('details', null, h('summary', null, 'Request body'), h('pre', null, row.requestBody)) : null,
      row.responseBody !== null ? h('details', null, h('summary', null, 'Response body'), h('pre', { 'data-testid': 'response-body' }, row.responseBody)) : null,
    ];
    return h(
      'li',
      {
        class: row.failed ? 'row request failed' : 'row request',
        'data-testid': 'network-row',
        'data-failed': String(row.failed),
        'data-status': String(row.status),
        title: `${row.method} ${row.url}\n${row.initiator}${row.error ? `\n${row.error}` : ''}`,
      },
      at(row.timestamp),
      h('span', { class: 'kind method' }, row.method),
      h('span', { class: 'status', 'data-testid': 'network-status' }, status),
      h('span', { class: 'what url', 'data-testid': 'row-label' }, row.url),
      h(
        'span',
        { class: 'detail' },
        [row.durationMs === null ? null : `${formatCount(Math.round(row.durationMs))} ms`, sizes, row.initiator, row.error]
          .filter((p) => p !== null && p !== '')
          .join(' · '),
      ),
      bodies,
    );
  };
}
