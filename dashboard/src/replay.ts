import Player from 'rrweb-player';
import { elementName, type ActivityRow } from './activity';
import { getSession, openEvents } from './api';
import { h, setChildren, type Child } from './dom';
import { errorText } from './errors';
import { formatBytes, formatCount, formatDateTime, formatDuration } from './format';
import { momentUrl, parseMoment } from './moment';
import { readEvents, StartGate } from './ndjson';
import { mountNotes } from './notes';
import type { PageContext } from './page';
import { isAbort } from './page';
import { ReplayIndex } from './replay-index';
import { hashOf, sessionPath, sitePath, watchHash } from './route';
import { sessionActions } from './session-actions';
import { SHORTCUT_HELP, shortcutFor } from './shortcuts';
import { SidePanel } from './side-panel';
import { firstTitle, snapshotTitle } from './snapshot-title';
import { Timeline } from './timeline';
import { EventType, type Role, type RRwebEvent, type SessionInfo } from './types';

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
/** Height of rrweb-player's controller under the replay, CSS pixels. */
const CONTROLLER_HEIGHT = 80;
/** Room kept under the controller for the legend and the link button, CSS pixels. */
const BELOW_PLAYER = 80;
/** Room kept under the side panel (the page's bottom padding), CSS pixels. */
const PAGE_BOTTOM = 24;
/** The least height the replay is drawn at, CSS pixels. */
const MIN_PLAYER_HEIGHT = 200;
/** How the player's bar shades stretches where the visitor did nothing. */
const INACTIVE_COLOR = '#d0d7de';
/** INACTIVE_COLOR spelled another way, to have the bar shaded anew (`reshade`). */
const INACTIVE_COLOR_AGAIN = '#D0D7DE';
/**
 * Drawn in the replay's frame: an element the tracker blocked (rrweb's block
 * class or the site's block selector, `data-reel-block`) is recorded as an
 * empty box of its size; show it hatched and labelled "hidden".
 */
const HIDDEN_BOX_CSS = [
  '.rr-block, [data-reel-hidden] { background: repeating-linear-gradient(45deg, #eaeef2 0 6px, #d0d7de 6px 12px) !important; outline: 1px dashed #8c959f; position: relative; overflow: hidden; }',
  '.rr-block::after, [data-reel-hidden]::after { content: "hidden"; position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; font: 12px/1 system-ui, sans-serif; color: #57606a; }',
];

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

/** The replay page: player, tab switcher, side panel, timeline and the session's facts. */
export function renderReplay(ctx: PageContext, sessionId: string, query: URLSearchParams, role: Role, notes = true): void {
  const crumbs = h('p', { class: 'crumbs' }, h('a', { href: '#/sites' }, '← Sites'));
  const title = h('h1', { class: 'session-title', 'data-testid': 'session-title' }, 'Session');
  const status = h('p', { class: 'muted', 'data-testid': 'replay-status' }, 'Loading session…');
  ctx.main.replaceChildren(crumbs, title, status);

  getSession(sessionId, { signal: ctx.signal }).then(
    (session) => {
      setChildren(crumbs, h('a', { href: hashOf(sitePath(session.site_id)) }, '← Sessions'));
      const who = sessionWho(session);
      setChildren(title, h('span', { class: 'who' }, who), ' ', h('span', { class: 'when muted' }, formatDateTime(session.started_at)));
      title.title = `Session ${session.id}`;
      document.title = `${who} · ${formatDateTime(session.started_at)} · reel`;
      if (session.live) {
        title.append(
          ' ',
          h('span', { class: 'badge live', 'data-testid': 'live-badge' }, 'live'),
          ' ',
          h('a', { href: watchHash(session.id, session.site_id), class: 'watch', 'data-testid': 'watch-live' }, 'Watch live'),
        );
      }
      status.remove();
      showSession(ctx, session, selectedTab(session, query), query, role !== 'viewer', notes);
    },
    (e: unknown) => {
      if (isAbort(e)) return;
      status.className = 'error';
      status.textContent = errorText(e, 'Could not load the session');
    },
  );
}

/** Who the session is: the user id the site gave, else the visitor. */
export function sessionWho(s: Pick<SessionInfo, 'user_id' | 'visitor_id'>): string {
  return s.user_id ? s.user_id : `Visitor ${s.visitor_id.slice(0, 8)}`;
}

/** `notes`: the `notes` feature flag (off: no notes tab, none on the timeline). */
function showSession(ctx: PageContext, session: SessionInfo, tab: string | null, query: URLSearchParams, canWrite: boolean, notes: boolean): void {
  const playerBox = h('div', { class: 'player', 'data-testid': 'player' });
  const loading = h('p', { class: 'loading', 'data-testid': 'loading', role: 'status' }, 'Loading events…');
  const notices = h('div', { class: 'notices' });
  const urlBar = h('p', { class: 'replay-url url', 'data-testid': 'replay-url' });
  const index = new ReplayIndex();
  const moment = parseMoment(query);
  let player: Player | null = null;
  let playing = false;
  let lastActivity: ActivityRow | null = null;

  const seekTo = (offsetMs: number) => {
    if (!player) return;
    player.goto(Math.max(0, Math.min(offsetMs, index.duration)), playing);
  };
  const now = () => (player ? player.getReplayer().getCurrentTime() : 0);
  const timeline = new Timeline(seekTo, () => index.pages.count);
  const panel = new SidePanel(
    () => index.start,
    (ts) => seekTo(ts - index.start),
  );
  const notesPane = notes ? panel.addTab('notes', 'Notes', h('div', { class: 'notes', 'data-testid': 'notes' })) : null;
  const pageLoads = h('span', { 'data-testid': 'fact-page-loads' }, '…');
  panel.addTab('session', 'Session', h('div', { class: 'session-pane' }, facts(session, pageLoads), sessionActions(ctx, session)));
  if (notesPane) {
    mountNotes(notesPane.firstElementChild as HTMLElement, {
      sessionId: session.id,
      now,
      seek: seekTo,
      onChange: (list) => timeline.setNotes(list),
      canWrite,
    });
  }

  const link = momentLink(session.id, query, now);
  const toolbar = h(
    'div',
    { class: 'replay-toolbar' },
    timeline.el,
    link,
    h('span', { class: 'shortcuts muted', 'data-testid': 'shortcuts-help', title: 'Keyboard: Space plays or pauses, ← and → go 5 s back or on, 1 2 3 4 set the speed to 1x 2x 4x 8x (not while typing in a field)' }, SHORTCUT_HELP),
  );

  const switcher = tabSwitcher(session, tab, ctx.signal);
  ctx.main.append(
    h(
      'div',
      { class: 'replay' },
      h('section', { class: 'stage' }, switcher?.el, notices, loading, urlBar, playerBox, toolbar),
      h('div', { class: 'side' }, panel.el),
    ),
  );

  // The side panel reaches the bottom of the window; its lists scroll.
  const fitPanel = () => {
    const top = panel.el.getBoundingClientRect().top + window.scrollY;
    panel.el.style.height = `${Math.max(320, Math.floor(window.innerHeight - top - PAGE_BOTTOM))}px`;
  };
  fitPanel();
  window.addEventListener('resize', fitPanel);
  ctx.onCleanup(() => window.removeEventListener('resize', fitPanel));

  const pending: ActivityRow[] = [];
  let lastResolve = 0;
  /** Names clicked and typed-in elements from the replayer's mirror (the page shown now). */
  const resolveNames = (offsetMs: number) => {
    if (!player || pending.length === 0) return;
    const page = index.pageStart(index.start + offsetMs);
    const mirror = player.getMirror();
    for (let i = pending.length - 1; i >= 0; i--) {
      const row = pending[i]!;
      if (index.pageStart(row.timestamp) !== page) continue;
      const node = mirror.getNode(row.nodeId!);
      if (!node) continue;
      const name = elementName(node as unknown as Parameters<typeof elementName>[0]);
      if (name) {
        row.label = name;
        panel.activity.refresh(row);
      }
      pending.splice(i, 1);
    }
  };
  const onTime = (offsetMs: number) => {
    panel.setTime(index.start + offsetMs);
    const href = index.urlAt(offsetMs);
    if (urlBar.textContent !== href) {
      urlBar.textContent = href;
      urlBar.title = href;
    }
    const t = performance.now();
    if (t - lastResolve > 250) {
      lastResolve = t;
      resolveNames(offsetMs);
    }
  };

  let seekedToMoment = moment === null;
  const seekToMoment = (complete: boolean) => {
    if (seekedToMoment || !player || moment === null) return;
    if (!complete && index.duration < moment) return;
    seekedToMoment = true;
    player.goto(Math.min(moment, index.duration), false);
  };

  const createPlayer = (events: RRwebEvent[]) => {
    const size = playerSize(playerBox, events);
    player = new Player({
      target: playerBox,
      props: {
        events: events as unknown as PlayerEvent[],
        width: size.width,
        height: size.height,
        autoPlay: moment === null,
        skipInactive: true,
        speedOption: SPEEDS,
        showController: true,
        inactiveColor: INACTIVE_COLOR,
        insertStyleRules: HIDDEN_BOX_CSS,
      },
    });
    player.addEventListener('ui-update-current-time', (detail) => {
      const payload = (detail as { payload?: unknown } | undefined)?.payload;
      if (typeof payload === 'number') onTime(payload);
    });
    player.addEventListener('ui-update-player-state', (detail) => {
      playing = (detail as { payload?: unknown } | undefined)?.payload === 'playing';
    });
    const p = player;
    markHidden(p);
    p.addEventListener('fullsnapshot-rebuilded', () => markHidden(p));
    p.addEventListener('event-cast', (event) => markAddedHidden(p, event));
    timeline.attach(playerBox.querySelector('.rr-progress'));
    window.__reelPlayer = player;
    playerBox.dataset.ready = 'true';
    onTime(0);
    seekToMoment(false);
  };

  /**
   * rrweb-player finds the inactive stretches when it is created, from the
   * events it was given then (its controller looks again only when
   * `inactiveColor` changes): a stretch in events added as the recording
   * streamed in would not be shaded. Once every event is in, the colour is
   * set again, spelled another way, and the bar shaded from all of them.
   */
  const reshade = () => {
    (player as unknown as { $set(props: { inactiveColor: string }): void } | null)?.$set({ inactiveColor: INACTIVE_COLOR_AGAIN });
  };

  const onKey = (event: KeyboardEvent) => {
    if (!player) return;
    const action = shortcutFor(event, event.target instanceof Element ? event.target : null);
    if (!action) return;
    event.preventDefault();
    if (action.kind === 'toggle') player.toggle();
    else if (action.kind === 'seek') seekTo(now() + action.deltaMs);
    else player.setSpeed(action.speed);
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

  let titled = false;
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
      const added = index.add(events);
      panel.add(added, lastActivity);
      if (added.activity.length > 0) lastActivity = added.activity[added.activity.length - 1]!;
      for (const row of added.activity) if (row.nodeId !== null) pending.push(row);
      timeline.add(added.markers, index.start, index.duration);
      pageLoads.textContent = formatCount(index.pages.count);
      if (!titled && tab !== null && switcher) {
        const snapshot = events.find((e) => e.type === EventType.FullSnapshot);
        if (snapshot) {
          titled = true;
          switcher.label(tab, snapshotTitle(snapshot));
        }
      }
      const step = gate.push(events);
      if (step !== null) {
        if ('start' in step) createPlayer(step.start);
        else for (const event of step.more) player?.addEvent(event as unknown as PlayerEvent);
      }
      seekToMoment(false);
    },
    onEnd: (result, gate) => {
      loading.remove();
      if (!gate.isOpen) {
        const start = gate.finish();
        if (start) createPlayer(start);
      } else {
        reshade();
      }
      seekToMoment(true);
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

/** "Copy link at this moment": copies the replay's URL at the player's time and shows it. */
function momentLink(sessionId: string, query: URLSearchParams, now: () => number): HTMLElement {
  const field = h('input', {
    type: 'text',
    readonly: true,
    class: 'moment-url',
    'data-testid': 'moment-link',
    'aria-label': 'Link to this moment',
    hidden: true,
  });
  const button = h('button', { type: 'button', 'data-testid': 'copy-moment' }, 'Copy link at this moment');
  button.addEventListener('click', async () => {
    const url = momentUrl(location, sessionId, now(), query);
    field.value = url;
    field.hidden = false;
    try {
      await navigator.clipboard.writeText(url);
      button.textContent = 'Copied';
    } catch {
      // No clipboard (plain http, or refused): the link is selected to copy by hand.
      field.select();
      button.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => (button.textContent = 'Copy link at this moment'), 1500);
  });
  return h('span', { class: 'moment' }, button, field);
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

/**
 * Fits the replay in the page, keeping the recorded viewport's shape: as
 * wide as the stage, and short enough that the controller and the legend
 * under it are in the window without scrolling.
 */
export function playerSize(box: HTMLElement, events: readonly RRwebEvent[]): { width: number; height: number } {
  const measured = box.clientWidth;
  if (measured <= 0) return FALLBACK_SIZE;
  const meta = events.find((e) => e.type === EventType.Meta)?.data as { width?: unknown; height?: unknown } | undefined;
  const ratio =
    typeof meta?.width === 'number' && typeof meta.height === 'number' && meta.width > 0 && meta.height > 0
      ? meta.height / meta.width
      : 9 / 16;
  const top = box.getBoundingClientRect().top + window.scrollY;
  const room = Math.max(MIN_PLAYER_HEIGHT, Math.floor(window.innerHeight - top - CONTROLLER_HEIGHT - BELOW_PLAYER));
  return fitBox(Math.min(measured, MAX_PLAYER_WIDTH), room, ratio);
}

/** The largest box of shape `ratio` (height / width) within `width` × `height`. */
export function fitBox(width: number, height: number, ratio: number): { width: number; height: number } {
  const h = Math.round(width * ratio);
  if (h <= height) return { width, height: h };
  return { width: Math.round(height / ratio), height };
}

/** Marks the replay's blocked boxes (recorded with `rr_width`) to be drawn as "hidden". */
function markHidden(player: Player): void {
  const mirror = player.getMirror();
  for (const id of mirror.getIds()) markIfBlocked(mirror, id);
}

/** After a mutation is applied, marks the blocked boxes it added. */
function markAddedHidden(player: Player, event: unknown): void {
  const e = event as { type?: number; data?: { source?: number; adds?: { node?: { id?: number; attributes?: Record<string, unknown> } }[] } };
  if (e.type !== EventType.IncrementalSnapshot || e.data?.source !== 0 || !e.data.adds) return;
  const ids = e.data.adds.filter((a) => a.node?.attributes?.rr_width !== undefined).map((a) => a.node!.id!);
  if (ids.length === 0) return;
  // `event-cast` comes before the replayer applies the event.
  setTimeout(() => {
    const mirror = player.getMirror();
    for (const id of ids) markIfBlocked(mirror, id);
  }, 0);
}

function markIfBlocked(mirror: ReturnType<Player['getMirror']>, id: number): void {
  const node = mirror.getNode(id);
  const meta = node ? mirror.getMeta(node) : null;
  const attributes = meta && 'attributes' in meta ? (meta.attributes as Record<string, unknown>) : null;
  if (attributes?.rr_width !== undefined && node && 'setAttribute' in node) {
    (node as Element).setAttribute('data-reel-hidden', '');
  }
}

/**
 * Buttons for a multi-tab session's tabs, each labelled with its first
 * page's title (from its first full snapshot) once known, `Tab N` until then.
 */
function tabSwitcher(
  session: SessionInfo,
  selected: string | null,
  signal: AbortSignal,
): { el: HTMLElement; label(tab: string, title: string): void } | null {
  if (session.tabs.length < 2) return null;
  const buttons = new Map<string, HTMLButtonElement>();
  const button = (label: string, tab: string | null, index: number) => {
    const query = new URLSearchParams(tab === null ? { all: '1' } : { tab });
    const active = tab === selected;
    const el = h(
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
    if (tab !== null) buttons.set(tab, el);
    return el;
  };
  const label = (tab: string, title: string) => {
    const el = buttons.get(tab);
    if (el && title) el.textContent = title;
  };
  const el = h(
    'div',
    { class: 'tabs', role: 'group', 'aria-label': 'Browser tabs' },
    h('span', { class: 'muted' }, `${session.tabs.length} tabs:`),
    session.tabs.map((tab, i) => button(`Tab ${i + 1}`, tab, i + 1)),
    button('All tabs', null, 0),
  );
  for (const tab of session.tabs) {
    if (tab !== selected) void firstTitle(session.id, tab, signal).then((title) => label(tab, title));
  }
  return { el, label };
}

/** The facts panel: who, where, on what, for how long. */
function facts(s: SessionInfo, pageLoads: HTMLElement): HTMLElement {
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
        pageLoads,
        ` page loads, ${formatCount(s.clicks)} clicks, ` +
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
