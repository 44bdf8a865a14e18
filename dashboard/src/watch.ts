import Player from 'rrweb-player';
import { getSession } from './api';
import { h } from './dom';
import { formatAgo } from './format';
import { LiveFeed, type LiveAction } from './live-feed';
import { mountNotes } from './notes';
import { openLiveSocket } from './live-connect';
import { backoffDelay, describeConnection, type ConnectionState } from './live-socket';
import type { PageContext } from './page';
import { playerSize } from './replay';
import { hashOf, liveSitePath, sessionPath, sitePath } from './route';
import type { LiveClientMessage, Role, RRwebEvent } from './types';
import { refusalVerdict } from './watch-failure';

/** The event type rrweb-player's API takes. */
type PlayerEvent = Parameters<Player['addEvent']>[0];

declare global {
  interface Window {
    /** The rrweb-player of the live player page, for tests and the console. */
    __reelLivePlayer?: Player;
  }
}

/** What `watch_ended` reasons mean, for people. */
const ENDED: Record<string, string> = {
  session_ended: 'The session ended: the visitor left or was idle too long.',
  not_allowed: 'You may no longer watch this session: your access to its site changed.',
  too_slow: 'The live view fell too far behind the visitor (a slow connection, or this tab was busy), so the server stopped it.',
  node_lost: 'The server node recording this session went away. The session may go on on another node: watch again.',
};

export function endedText(reason: string): string {
  return ENDED[reason] ?? `The live view ended (${reason || 'no reason given'}).`;
}

/** `watch_ended` reasons after which watching again cannot work: the page offers only the replay. */
const FINAL_ENDINGS = new Set(['session_ended', 'not_allowed']);

/**
 * The live player: watches one session (PROTOCOL.md §4 `watch`) and plays
 * its events in rrweb-player's live mode as they arrive. `live-feed.ts`
 * decides what to do with each message; this page applies it. A refused
 * watch is given up or asked again as `watch-failure.ts` says; given up,
 * the page says why once and offers the replay.
 */
export function renderWatch(ctx: PageContext, sessionId: string, siteId: number | null, role: Role): void {
  const back = h('a', { href: siteId === null ? '#/sites' : hashOf(liveSitePath(siteId)) }, siteId === null ? '← Sites' : '← Live');
  const replayLink = h('a', { href: hashOf(sessionPath(sessionId)), 'data-testid': 'replay-link' }, 'Replay the recording');
  const status = h('p', { class: 'live-status', 'data-testid': 'live-status', 'data-state': 'connecting', role: 'status' }, 'Connecting…');
  const url = h('p', { class: 'live-url url', 'data-testid': 'live-url', hidden: true });
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Browser tabs', 'data-testid': 'live-tabs', hidden: true });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'live-error', hidden: true });
  const endedLine = h('span');
  const rewatchButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'rewatch' }, 'Watch again');
  const ended = h(
    'div',
    { class: 'notice ended', 'data-testid': 'watch-ended', hidden: true },
    endedLine,
    ' ',
    h('a', { href: hashOf(sessionPath(sessionId)), 'data-testid': 'ended-replay' }, 'Replay the recording'),
    ' ',
    rewatchButton,
  );
  const failedLine = h('span', { 'data-testid': 'watch-failed-text' });
  const retryButton = h('button', { type: 'button', 'data-testid': 'watch-retry' }, 'Try again');
  const failed = h(
    'div',
    { class: 'notice ended', 'data-testid': 'watch-failed', role: 'alert', hidden: true },
    failedLine,
    ' ',
    h('a', { href: hashOf(sessionPath(sessionId)), class: 'primary', 'data-testid': 'failed-replay' }, 'Replay the recording'),
    ' ',
    retryButton,
  );
  const playerBox = h('div', { class: 'player live-player', 'data-testid': 'live-player' });
  const notesBox = h('section', { class: 'notes live-notes', 'data-testid': 'notes' });
  const badge = h('span', { class: 'badge live', 'data-testid': 'live-badge' }, 'live');
  ctx.main.replaceChildren(
    h('p', { class: 'crumbs' }, back, ' · ', replayLink),
    h('h1', { class: 'session-title' }, 'Live ', badge, ' Session ', h('code', null, sessionId)),
    status,
    url,
    tabs,
    error,
    ended,
    failed,
    playerBox,
    notesBox,
  );
  getSession(sessionId, { signal: ctx.signal }).then(
    (s) => {
      if (siteId === null) {
        // Linked without the site (from a replay, say): the way back.
        back.href = hashOf(sitePath(s.site_id));
        back.textContent = '← Sessions';
      }
      // Notes at the moment being watched: live, that is now, in ms from
      // the session's start (PROTOCOL.md §7), as the replay places them.
      void mountNotes(notesBox, {
        sessionId,
        now: () => Math.max(0, Date.now() - s.started_at),
        seek: () => {},
        onChange: () => {},
        canWrite: role !== 'viewer',
      });
    },
    () => {},
  );

  const feed = new LiveFeed(sessionId);
  const watch: LiveClientMessage = { t: 'watch', session: sessionId };
  let connection: ConnectionState = { state: 'connecting', attempt: 0 };
  let player: Player | null = null;
  /** The server's last `error` since the watch was sent, and when the watch is sent again. */
  let refused: { text: string; retryAt: number | null } | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let retries = 0;
  /** The watch was given up (`refusalVerdict`): nothing is asked again until the person does. */
  let failure: { code: string; text: string } | null = null;
  /** A player started since this page opened: a `not_live` after a reconnection may mean "not back yet". */
  let started = false;
  /** The connection dropped while watching; cleared by the next start. */
  let recovering = false;

  const destroyPlayer = () => {
    if (!player) return;
    const p = player;
    player = null;
    try {
      const replayer = p.getReplayer();
      replayer.timer.clear();
      replayer.destroy();
    } catch {
      // Going away either way.
    }
    try {
      // rrweb-player is a Svelte component; `$destroy` is not in its typings.
      (p as unknown as { $destroy(): void }).$destroy();
    } catch {
      // As above.
    }
    if (window.__reelLivePlayer === p) window.__reelLivePlayer = undefined;
    playerBox.replaceChildren();
    delete playerBox.dataset.ready;
    delete playerBox.dataset.tab;
  };

  const startPlayer = (tab: string, events: RRwebEvent[], baseline: number) => {
    destroyPlayer();
    const size = playerSize(playerBox, events);
    // Created with its first event only: rrweb-player needs one to exist,
    // and live mode plays nothing it was created with. Every event then
    // goes through addEvent after startLive, in order, so the Meta and
    // FullSnapshot (before `baseline`) are applied at once.
    const p = new Player({
      target: playerBox,
      props: {
        events: events.slice(0, 1) as unknown as PlayerEvent[],
        width: size.width,
        height: size.height,
        autoPlay: false,
        showController: false,
        skipInactive: false,
        liveMode: true,
      },
    });
    p.getReplayer().startLive(baseline);
    for (const event of events) p.addEvent(event as unknown as PlayerEvent);
    player = p;
    window.__reelLivePlayer = p;
    playerBox.dataset.ready = 'true';
    playerBox.dataset.tab = tab;
  };

  const renderTabs = () => {
    const list = feed.tabList();
    tabs.hidden = list.length < 2;
    if (list.length < 2) {
      tabs.replaceChildren();
      return;
    }
    tabs.replaceChildren(
      h('span', { class: 'muted' }, `${list.length} tabs:`),
      ...list.map((t) =>
        h(
          'button',
          {
            type: 'button',
            class: t.shown ? 'tab active' : 'tab',
            'data-testid': 'live-tab',
            'data-tab': t.id,
            'aria-pressed': t.shown ? 'true' : 'false',
            disabled: !t.ready && !t.shown,
            title: t.href ?? `Tab ${t.index} (${t.id}): no page yet`,
            onclick: () => apply(feed.select(t.id, Date.now())),
          },
          `Tab ${t.index}`,
        ),
      ),
      h(
        'button',
        {
          type: 'button',
          class: feed.following ? 'tab active' : 'tab',
          'data-testid': 'live-follow',
          'aria-pressed': feed.following ? 'true' : 'false',
          title: 'Show the tab the visitor is using',
          onclick: () => apply(feed.select(null, Date.now())),
        },
        'Follow the visitor',
      ),
    );
  };

  const showUrl = () => {
    const href = feed.href;
    url.hidden = href === null;
    url.textContent = href ?? '';
    url.title = href ?? '';
  };

  const showStatus = () => {
    const now = Date.now();
    let state: string;
    let text: string;
    if (feed.ended !== null) {
      state = 'ended';
      text = 'The live view has ended.';
    } else if (failure !== null) {
      // The notice below says why, once.
      state = 'failed';
      text = 'Not watching.';
    } else if (connection.state !== 'open') {
      state = connection.state;
      text = describeConnection(connection, now);
      if (feed.playing) text += ' The view shows the last events received.';
    } else if (refused !== null && !feed.playing) {
      state = 'error';
      text = `The server refused to show this session: ${refused.text}.`;
      if (refused.retryAt !== null) text += ` Trying again in ${Math.max(1, Math.ceil((refused.retryAt - now) / 1000))}s…`;
    } else if (!feed.playing) {
      state = 'waiting';
      text = feed.shown === null ? 'Waiting for the visitor’s page…' : 'Waiting for this tab’s page…';
    } else {
      state = 'live';
      const last = feed.lastArrival;
      const tab = feed.tabList().find((t) => t.shown);
      const tabs = feed.tabList().length;
      text =
        `Watching live${tabs > 1 && tab ? ` · tab ${tab.index} of ${tabs}${feed.following ? ' (following the visitor)' : ''}` : ''}` +
        (last === null ? '' : ` · last event received ${formatAgo(last, now)}`);
    }
    status.dataset.state = state;
    status.textContent = text;
    badge.hidden = state !== 'live';
  };

  const apply = (actions: LiveAction[]) => {
    for (const action of actions) {
      switch (action.kind) {
        case 'start':
          startPlayer(action.tab, action.events, action.baseline);
          started = true;
          recovering = false;
          retries = 0;
          refused = null;
          error.hidden = true;
          break;
        case 'add':
          if (player) for (const event of action.events) player.addEvent(event as unknown as PlayerEvent);
          break;
        case 'advance':
          if (player) player.getReplayer().timer.timeOffset += action.ms;
          break;
        case 'stop':
          destroyPlayer();
          break;
        case 'tabs':
          renderTabs();
          break;
        case 'url':
          break;
        case 'ended':
          // The server dropped the watch: do not send it again on reconnect.
          live.socket.unsubscribe(watch);
          cancelRetry();
          endedLine.textContent = endedText(action.reason);
          ended.dataset.reason = action.reason;
          rewatchButton.hidden = FINAL_ENDINGS.has(action.reason);
          ended.hidden = false;
          break;
        case 'error': {
          if (feed.ended !== null || failure !== null) break;
          if (feed.playing) {
            // The watch is running: the refusal was of something else.
            error.textContent = `The server refused: ${action.message || action.code} (${action.code}).`;
            error.hidden = false;
            break;
          }
          const verdict = refusalVerdict(action.code, action.message, retries, recovering);
          if (verdict.retry) {
            refused = { text: action.message || action.code, retryAt: null };
            retryLater();
          } else {
            fail(action.code, verdict.text);
          }
          break;
        }
      }
    }
    showUrl();
    showStatus();
  };

  /** Gives the watch up: said once, with the replay; reconnections no longer send it. */
  const fail = (code: string, text: string) => {
    cancelRetry();
    live.socket.unsubscribe(watch);
    failure = { code, text };
    refused = null;
    error.hidden = true;
    failedLine.textContent = text;
    failed.dataset.code = code;
    failed.hidden = false;
  };

  const cancelRetry = () => {
    if (retryTimer !== null) clearTimeout(retryTimer);
    retryTimer = null;
  };
  const rewatch = () => {
    cancelRetry();
    feed.rewatch();
    live.socket.subscribe(watch);
  };
  const retryLater = () => {
    cancelRetry();
    const delay = backoffDelay(retries++, Math.random);
    if (refused) refused.retryAt = Date.now() + delay;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      rewatch();
      showStatus();
    }, delay);
  };

  const live = openLiveSocket({
    onOpen: (reconnected) => {
      // The socket sends the watch again itself (unless it was given up).
      if (reconnected && started) recovering = true;
      cancelRetry();
      feed.rewatch();
      refused = null;
      error.hidden = true;
    },
    onState: (s) => {
      connection = s;
      showStatus();
    },
    onMessage: (message) => apply(feed.receive(message, Date.now())),
  });
  live.socket.subscribe(watch);

  retryButton.addEventListener('click', () => {
    failed.hidden = true;
    failure = null;
    retries = 0;
    recovering = false;
    rewatch();
    showStatus();
  });

  rewatchButton.addEventListener('click', () => {
    ended.hidden = true;
    refused = null;
    error.hidden = true;
    retries = 0;
    rewatch();
    showStatus();
  });

  const ticker = setInterval(showStatus, 1000);
  ctx.onCleanup(() => {
    clearInterval(ticker);
    cancelRetry();
    // Leaving the page: stop the watch, then the socket.
    live.socket.unsubscribe(watch, { t: 'unwatch', session: sessionId });
    live.close();
    destroyPlayer();
  });
}
