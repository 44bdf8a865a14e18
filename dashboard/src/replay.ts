import Player from 'rrweb-player';
import { getSession, openEvents } from './api';
import { h, setChildren, type Child } from './dom';
import { errorText } from './errors';
import { formatBytes, formatCount, formatDateTime, formatDuration } from './format';
import { readEvents, StartGate } from './ndjson';
import type { PageContext } from './page';
import { isAbort } from './page';
import { hashOf, sessionPath, sitePath, watchHash } from './route';
import { sessionActions } from './session-actions';
import { Timeline } from './timeline';
import { EventType, type RRwebEvent, type SessionInfo } from './types';

/** The event type rrweb-player's API takes. */
type PlayerEvent = Parameters<Player['addEvent']>[0];

declare global {
  interface Window {
    /** The rrweb-player of the replay page, for tests and the console. */
    __reelPlayer?: Player;
  }
}

/** Playback speeds offered by the player's controller. */
const SPEEDS = [1, 2, 4, 8, 16];
/** Widest the replay is drawn, in CSS pixels. */
const MAX_PLAYER_WIDTH = 1280;
/** Size used when the page gives no room to measure (hidden tab, tests). */
const FALLBACK_SIZE = { width: 960, height: 540 };
/** Share of the window's height the replay may take (the controller is below). */
const MAX_HEIGHT_SHARE = 0.7;

/**
 * Which events to show: one tab, or every tab merged (`tab: null`). The hash
 * says it: `?tab=ID`, or `?all=1` for merged. By default a session with one
 * tab is streamed merged (the same events), and a multi-tab session shows its
 * first tab: replaying tabs merged interleaves several documents in one frame.
 */
function selectedTab(session: SessionInfo, query: URLSearchParams): string | null {
  if (query.get('all') === '1') return null;
  const tab = query.get('tab');
  if (tab) return tab;
  return session.tabs.length > 1 ? session.tabs[0]! : null;
}

/** The replay page: player, tab switcher, timeline and the session's facts. */
export function renderReplay(ctx: PageContext, sessionId: string, query: URLSearchParams): void {
  const crumbs = h('p', { class: 'crumbs' }, h('a', { href: '#/sites' }, '← Sites'));
  const title = h('h1', { class: 'session-title' }, 'Session ', h('code', null, sessionId));
  const status = h('p', { class: 'muted', 'data-testid': 'replay-status' }, 'Loading session…');
  ctx.main.replaceChildren(crumbs, title, status);

  getSession(sessionId, { signal: ctx.signal }).then(
    (session) => {
      setChildren(crumbs, h('a', { href: hashOf(sitePath(session.site_id)) }, '← Sessions'));
      if (session.live) {
        title.append(
          ' ',
          h('span', { class: 'badge live', 'data-testid': 'live-badge' }, 'live'),
          ' ',
          h('a', { href: watchHash(session.id, session.site_id), class: 'watch', 'data-testid': 'watch-live' }, 'Watch live'),
        );
      }
      status.remove();
      showSession(ctx, session, selectedTab(session, query));
    },
    (e: unknown) => {
      if (isAbort(e)) return;
      status.className = 'error';
      status.textContent = errorText(e, 'Could not load the session');
    },
  );
}

function showSession(ctx: PageContext, session: SessionInfo, tab: string | null): void {
  const playerBox = h('div', { class: 'player', 'data-testid': 'player' });
  const loading = h('p', { class: 'loading', 'data-testid': 'loading', role: 'status' }, 'Loading events…');
  const notices = h('div', { class: 'notices' });
  let player: Player | null = null;
  const timeline = new Timeline((offset) => player?.goto(offset));

  const switcher = tabSwitcher(session, tab);
  if (switcher) ctx.main.append(switcher);
  ctx.main.append(
    h(
      'div',
      { class: 'replay' },
      h('section', { class: 'stage' }, playerBox, loading, notices, timeline.el),
      h('div', { class: 'side' }, facts(session), sessionActions(ctx, session)),
    ),
  );

  const createPlayer = (events: RRwebEvent[]) => {
    const size = playerSize(playerBox, events);
    player = new Player({
      target: playerBox,
      props: {
        events: events as unknown as PlayerEvent[],
        width: size.width,
        height: size.height,
        autoPlay: true,
        skipInactive: true,
        speedOption: SPEEDS,
        showController: true,
      },
    });
    player.addEventListener('ui-update-current-time', (detail) => {
      const payload = (detail as { payload?: unknown } | undefined)?.payload;
      if (typeof payload === 'number') timeline.setPlayhead(payload);
    });
    window.__reelPlayer = player;
    playerBox.dataset.ready = 'true';
  };

  const onKey = (event: KeyboardEvent) => {
    if (event.key !== ' ' || !player) return;
    const target = event.target as Element | null;
    if (target?.closest('input, textarea, select, button, a, [contenteditable]')) return;
    event.preventDefault();
    player.toggle();
  };
  document.addEventListener('keydown', onKey);

  ctx.onCleanup(() => {
    document.removeEventListener('keydown', onKey);
    if (player) {
      try {
        player.pause();
        // rrweb-player is a Svelte component; its typings import Svelte's,
        // which are not installed, so `$destroy` is not in the type.
        (player as unknown as { $destroy(): void }).$destroy();
      } catch {
        // The page is going away either way.
      }
      if (window.__reelPlayer === player) window.__reelPlayer = undefined;
      player = null;
    }
  });

  void stream(ctx, session.id, tab, {
    onLive: () =>
      notices.append(
        h(
          'p',
          { class: 'notice', 'data-testid': 'live-notice' },
          'This session is still being recorded: this is what it has so far. Reload the page for newer events.',
        ),
      ),
    onProgress: (n) => {
      loading.textContent = `Loading ${formatCount(n)} events…`;
    },
    onEvents: (events, gate) => {
      timeline.addEvents(events);
      const step = gate.push(events);
      if (step === null) return;
      if ('start' in step) createPlayer(step.start);
      else for (const event of step.more) player?.addEvent(event as unknown as PlayerEvent);
    },
    onEnd: (result, gate) => {
      loading.remove();
      if (!gate.isOpen) {
        const start = gate.finish();
        if (start) createPlayer(start);
      }
      if (!player) {
        notices.append(
          h(
            'p',
            { class: 'error', 'data-testid': 'replay-error' },
            result.events === 0
              ? 'This recording has no events yet.'
              : 'Nothing to replay: the recording has no full snapshot of the page.',
          ),
        );
      }
      if (result.skipped > 0) {
        notices.append(h('p', { class: 'notice' }, `${formatCount(result.skipped)} malformed lines were skipped.`));
      }
      playerBox.dataset.complete = 'true';
    },
    onError: (e) => {
      loading.remove();
      notices.append(h('p', { class: 'error', 'data-testid': 'replay-error' }, errorText(e, 'Could not load the recording')));
      playerBox.dataset.error = 'true';
    },
  });
}

interface StreamHandlers {
  onLive(): void;
  onProgress(events: number): void;
  onEvents(events: RRwebEvent[], gate: StartGate): void;
  onEnd(result: { events: number; skipped: number }, gate: StartGate): void;
  onError(e: unknown): void;
}

/**
 * Streams the recording: events are handed over chunk by chunk, so the
 * player starts once the first Meta and FullSnapshot have arrived and the
 * rest is added while it plays.
 */
async function stream(ctx: PageContext, sessionId: string, tab: string | null, on: StreamHandlers): Promise<void> {
  const gate = new StartGate();
  let count = 0;
  let progressFrame = 0;
  try {
    const response = await openEvents(sessionId, tab, { signal: ctx.signal });
    if (response.headers.get('X-Reel-Session-Live') === 'true') on.onLive();
    if (!response.body) throw new Error('the browser gave no response body');
    const result = await readEvents(response.body, (events) => {
      if (ctx.signal.aborted) return;
      count += events.length;
      if (progressFrame === 0) {
        progressFrame = requestAnimationFrame(() => {
          progressFrame = 0;
          on.onProgress(count);
        });
      }
      on.onEvents(events, gate);
    });
    if (progressFrame !== 0) cancelAnimationFrame(progressFrame);
    if (!ctx.signal.aborted) on.onEnd(result, gate);
  } catch (e) {
    if (progressFrame !== 0) cancelAnimationFrame(progressFrame);
    if (isAbort(e) || ctx.signal.aborted) return;
    on.onError(e);
  }
}

/** Fits the replay in the page, keeping the recorded viewport's shape. */
export function playerSize(box: HTMLElement, events: readonly RRwebEvent[]): { width: number; height: number } {
  const measured = box.clientWidth;
  if (measured <= 0) return FALLBACK_SIZE;
  const width = Math.min(measured, MAX_PLAYER_WIDTH);
  const meta = events.find((e) => e.type === EventType.Meta)?.data as { width?: unknown; height?: unknown } | undefined;
  const ratio =
    typeof meta?.width === 'number' && typeof meta.height === 'number' && meta.width > 0 && meta.height > 0
      ? meta.height / meta.width
      : 9 / 16;
  const maxHeight = Math.max(240, Math.round(window.innerHeight * MAX_HEIGHT_SHARE));
  const height = Math.min(Math.round(width * ratio), maxHeight);
  return { width, height };
}

function tabSwitcher(session: SessionInfo, selected: string | null): HTMLElement | null {
  if (session.tabs.length < 2) return null;
  const button = (label: string, tab: string | null, index: number) => {
    const query = new URLSearchParams(tab === null ? { all: '1' } : { tab });
    const active = tab === selected;
    return h(
      'button',
      {
        type: 'button',
        class: active ? 'tab active' : 'tab',
        'data-testid': 'tab-switch',
        'data-tab': tab ?? undefined,
        'data-all': tab === null ? 'true' : undefined,
        'aria-pressed': active ? 'true' : 'false',
        title: tab === null ? 'Every tab, merged by time' : `Tab ${index} (${tab})`,
        onclick: () => {
          if (!active) location.hash = hashOf(sessionPath(session.id), query);
        },
      },
      label,
    );
  };
  return h(
    'div',
    { class: 'tabs', role: 'group', 'aria-label': 'Browser tabs' },
    h('span', { class: 'muted' }, `${session.tabs.length} tabs:`),
    session.tabs.map((tab, i) => button(`Tab ${i + 1}`, tab, i + 1)),
    button('All tabs', null, 0),
  );
}

/** The facts panel: who, where, on what, for how long. */
function facts(s: SessionInfo): HTMLElement {
  const traits = Object.entries(s.user_traits).filter((e): e is [string, string] => typeof e[1] === 'string');
  const row = (label: string, ...value: Child[]) => [h('dt', null, label), h('dd', null, ...value)];
  const none = () => h('span', { class: 'muted' }, '—');
  return h(
    'aside',
    { class: 'facts', 'data-testid': 'facts' },
    h('h2', null, 'Session'),
    h(
      'dl',
      null,
      row('User', s.user_id ? h('span', { 'data-testid': 'fact-user' }, s.user_id) : h('span', { class: 'muted' }, 'anonymous')),
      traits.length > 0
        ? row(
            'Traits',
            h(
              'dl',
              { class: 'traits', 'data-testid': 'fact-traits' },
              traits.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
            ),
          )
        : null,
      row('Visitor', h('code', null, s.visitor_id)),
      row('Started', formatDateTime(s.started_at)),
      row('Ended', s.ended_at === null ? (s.live ? 'still live' : none()) : formatDateTime(s.ended_at)),
      row('Duration', formatDuration(s.duration_ms)),
      row('Active time', formatDuration(s.active_ms)),
      row('Device', s.device || none()),
      row('Browser', s.browser || none()),
      row('OS', s.os || none()),
      row('Screen', s.screen_w > 0 && s.screen_h > 0 ? `${s.screen_w} × ${s.screen_h}` : none()),
      row('Language', [s.lang, s.tz].filter(Boolean).join(' · ') || none()),
      row('Referrer', s.referrer ? h('span', { class: 'url' }, s.referrer) : none()),
      row(
        'Activity',
        `${formatCount(s.page_loads)} page loads, ${formatCount(s.clicks)} clicks, ` +
          `${formatCount(s.keypresses)} key presses, ${formatCount(s.console_errors)} errors`,
      ),
      row('Recording', `${formatCount(s.events)} events, ${formatBytes(s.raw_bytes)} (${formatBytes(s.stored_bytes)} stored)`),
      row('Tabs', String(s.tabs.length)),
    ),
    h('h2', null, `Pages visited (${s.urls.length})`),
    s.urls.length > 0
      ? h(
          'ol',
          { class: 'urls', 'data-testid': 'fact-urls' },
          s.urls.map((url) => h('li', { class: 'url', title: url }, url)),
        )
      : h('p', { class: 'muted' }, 'None recorded.'),
  );
}
