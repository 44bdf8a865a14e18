/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BACKOFF,
  LiveSocket,
  backoffDelay,
  describeConnection,
  liveUrl,
  parseLiveMessage,
  type ConnectionState,
  type LiveSocketOptions,
} from '../src/live-socket';
import { initialPresence, reducePresence, resubscribed, sortedPresence, type PresenceState } from '../src/presence';
import type { SessionResult } from '../src/session';
import type { LiveServerMessage, Presence } from '../src/types';
import { FakeClock, FakeSocket, settle } from './fakes';

const presence = (session: string, extra: Partial<Presence> = {}): Presence => ({
  session,
  visitor: `v-${session}`,
  user_id: null,
  url: `https://shop.test/${session}`,
  title: session,
  device: 'desktop',
  browser: 'Chrome',
  os: 'Linux',
  started_at: 1000,
  last_activity_at: 2000,
  node: 'n1',
  signals: { console_errors: 0, failed_requests: 0, rage_clicks: 0, dead_clicks: 0 },
  ...extra,
});

/** A LiveSocket on fakes, recording what it does. */
function harness(options: { auth?: SessionResult[]; random?: number } = {}) {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const messages: LiveServerMessage[] = [];
  const states: ConnectionState[] = [];
  const opens: boolean[] = [];
  const authCalls: boolean[] = [];
  const auth = [...(options.auth ?? [])];
  const opts: LiveSocketOptions = {
    url: 'ws://dash.test/v1/live',
    connect: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    authorize: async (refresh) => {
      authCalls.push(refresh);
      return auth.shift() ?? 'ok';
    },
    onMessage: (m) => messages.push(m),
    onState: (s) => states.push(s),
    onOpen: (reconnected) => opens.push(reconnected),
    clock,
    random: () => options.random ?? 1,
  };
  const live = new LiveSocket(opts);
  return { live, clock, sockets, messages, states, opens, authCalls, last: () => sockets[sockets.length - 1]! };
}

describe('liveUrl', () => {
  it('uses the page host, wss under https', () => {
    assert.equal(liveUrl({ protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/v1/live');
    assert.equal(liveUrl({ protocol: 'https:', host: 'reel.example.com' }), 'wss://reel.example.com/v1/live');
  });
});

describe('backoffDelay', () => {
  it('doubles from the first delay up to the largest, with jitter in the upper half', () => {
    assert.equal(backoffDelay(0, () => 1), BACKOFF.initialMs);
    assert.equal(backoffDelay(0, () => 0), BACKOFF.initialMs / 2);
    assert.equal(backoffDelay(1, () => 1), BACKOFF.initialMs * 2);
    assert.equal(backoffDelay(3, () => 1), BACKOFF.initialMs * 8);
    assert.equal(backoffDelay(50, () => 1), BACKOFF.maxMs);
    assert.equal(backoffDelay(50, () => 0), BACKOFF.maxMs / 2);
  });
});

describe('LiveSocket', () => {
  it('sets the cookie, connects, and sends the subscriptions once open', async () => {
    const t = harness();
    t.live.subscribe({ t: 'presence', site: 3 });
    t.live.start();
    assert.deepEqual(t.states[0], { state: 'connecting', attempt: 0 });
    await settle();
    assert.deepEqual(t.authCalls, [false]);
    assert.equal(t.sockets.length, 1);
    assert.equal(t.last().url, 'ws://dash.test/v1/live');
    assert.deepEqual(t.last().sent, [], 'nothing is sent before the socket opens');
    t.last().open();
    assert.deepEqual(t.opens, [false]);
    assert.equal(t.live.isOpen, true);
    assert.deepEqual(t.last().sent, [{ t: 'presence', site: 3 }]);
    // A subscription added while open goes out at once.
    t.live.subscribe({ t: 'watch', session: 's1' });
    assert.deepEqual(t.last().sent, [{ t: 'presence', site: 3 }, { t: 'watch', session: 's1' }]);
  });

  it('hands over parsed messages and ignores what is not one', async () => {
    const t = harness();
    t.live.start();
    await settle();
    t.last().open();
    t.last().receive({ t: 'presence_leave', site: 3, session: 's1' });
    t.last().receive('not json');
    t.last().receive({ t: 'mystery' });
    t.last().onmessage?.({ data: new ArrayBuffer(4) });
    assert.deepEqual(t.messages, [{ t: 'presence_leave', site: 3, session: 's1' }]);
  });

  it('reconnects with growing delays and sends the subscriptions again', async () => {
    const t = harness();
    t.live.subscribe({ t: 'presence', site: 3 });
    t.live.start();
    await settle();
    t.last().open();
    t.last().drop();
    assert.equal(t.live.isOpen, false);
    let state = t.states[t.states.length - 1]!;
    assert.equal(state.state, 'retrying');
    assert.deepEqual(t.clock.pendingDelays(), [BACKOFF.initialMs]);

    // Not yet.
    t.clock.advance(BACKOFF.initialMs - 1);
    await settle();
    assert.equal(t.sockets.length, 1);
    t.clock.advance(1);
    await settle();
    assert.equal(t.sockets.length, 2);
    // The first connection opened, so the cookie is not asked for again.
    assert.deepEqual(t.authCalls, [false, false]);

    // This one never opens (refused upgrade: maybe the cookie expired).
    t.last().drop();
    assert.deepEqual(t.clock.pendingDelays(), [BACKOFF.initialMs * 2]);
    t.clock.advance(BACKOFF.initialMs * 2);
    await settle();
    assert.deepEqual(t.authCalls, [false, false, true], 'asks for the cookie again after a failed open');
    t.last().drop();
    assert.deepEqual(t.clock.pendingDelays(), [BACKOFF.initialMs * 4]);
    t.clock.advance(BACKOFF.initialMs * 4);
    await settle();

    t.last().open();
    assert.deepEqual(t.opens, [false, true]);
    assert.deepEqual(t.last().sent, [{ t: 'presence', site: 3 }], 'the subscription is sent on the new socket');
    state = t.states[t.states.length - 1]!;
    assert.deepEqual(state, { state: 'open' });
  });

  it('starts the delays over after a connection that stayed up', async () => {
    const t = harness();
    t.live.start();
    await settle();
    t.last().drop();
    t.clock.advance(BACKOFF.initialMs);
    await settle();
    t.last().drop();
    assert.deepEqual(t.clock.pendingDelays(), [BACKOFF.initialMs * 2]);
    t.clock.advance(BACKOFF.initialMs * 2);
    await settle();
    t.last().open();
    t.clock.advance(BACKOFF.stableMs);
    t.last().drop();
    assert.deepEqual(t.clock.pendingDelays(), [BACKOFF.initialMs]);
  });

  it('stops for good when the token is refused', async () => {
    const t = harness({ auth: ['unauthorized'] });
    t.live.start();
    await settle();
    assert.equal(t.sockets.length, 0);
    assert.deepEqual(t.states[t.states.length - 1], { state: 'unauthorized' });
    assert.deepEqual(t.clock.pendingDelays(), []);
  });

  it('still tries the socket when the cookie could not be set (no answer)', async () => {
    const t = harness({ auth: ['failed'] });
    t.live.start();
    await settle();
    assert.equal(t.sockets.length, 1);
  });

  it('drops a subscription with a farewell, and does not send it again', async () => {
    const t = harness();
    t.live.subscribe({ t: 'watch', session: 's1' });
    t.live.start();
    await settle();
    t.last().open();
    t.live.unsubscribe({ t: 'watch', session: 's1' }, { t: 'unwatch', session: 's1' });
    assert.deepEqual(t.last().sent, [
      { t: 'watch', session: 's1' },
      { t: 'unwatch', session: 's1' },
    ]);
    t.last().drop();
    t.clock.advance(BACKOFF.initialMs);
    await settle();
    t.last().open();
    assert.deepEqual(t.last().sent, []);
  });

  it('closes for good: no reconnection, late frames of the old socket ignored', async () => {
    const t = harness();
    t.live.start();
    await settle();
    const socket = t.last();
    socket.open();
    t.live.close();
    assert.deepEqual(socket.closed, { code: 1000, reason: 'page closed' });
    socket.receive({ t: 'presence_leave', site: 1, session: 'x' });
    socket.drop();
    t.clock.advance(60_000);
    await settle();
    assert.equal(t.sockets.length, 1);
    assert.deepEqual(t.messages, []);
    assert.deepEqual(t.states[t.states.length - 1], { state: 'closed' });
    assert.equal(t.live.send({ t: 'presence', site: 1 }), false);
  });

  it('closing while the cookie is being set opens nothing', async () => {
    const t = harness();
    t.live.start();
    t.live.close();
    await settle();
    assert.equal(t.sockets.length, 0);
  });

  it('retries at once when asked (the browser is back online)', async () => {
    const t = harness();
    t.live.start();
    await settle();
    t.last().drop();
    t.live.retryNow();
    await settle();
    assert.equal(t.sockets.length, 2);
    assert.deepEqual(t.clock.pendingDelays(), []);
  });

  it('feeds a presence list that a fresh snapshot replaces after a reconnection', async () => {
    let state: PresenceState = initialPresence(3);
    const clock = new FakeClock();
    const sockets: FakeSocket[] = [];
    const live = new LiveSocket({
      url: 'ws://x/v1/live',
      connect: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s;
      },
      authorize: async () => 'ok',
      onOpen: () => {
        state = resubscribed(state);
      },
      onMessage: (m) => {
        state = reducePresence(state, m);
      },
      clock,
      random: () => 1,
    });
    live.subscribe({ t: 'presence', site: 3 });
    live.start();
    await settle();
    sockets[0]!.open();
    sockets[0]!.receive({ t: 'presence_snapshot', site: 3, sessions: [presence('a'), presence('b')] });
    sockets[0]!.receive({ t: 'presence_join', site: 3, session: presence('c', { started_at: 5000 }) });
    assert.deepEqual(sortedPresence(state).map((p) => p.session), ['c', 'a', 'b']);

    sockets[0]!.drop();
    clock.advance(BACKOFF.initialMs);
    await settle();
    sockets[1]!.open();
    assert.equal(state.synced, false, 'stale until the fresh snapshot');
    assert.equal(state.sessions.size, 3, 'the last list stays on screen meanwhile');
    assert.deepEqual(sockets[1]!.sent, [{ t: 'presence', site: 3 }]);
    sockets[1]!.receive({ t: 'presence_snapshot', site: 3, sessions: [presence('b'), presence('d')] });
    assert.equal(state.synced, true);
    assert.deepEqual(sortedPresence(state).map((p) => p.session), ['b', 'd']);
  });
});

describe('parseLiveMessage', () => {
  it('accepts every server message of the protocol', () => {
    const p = presence('s1');
    const all: LiveServerMessage[] = [
      { t: 'presence_snapshot', site: 1, sessions: [p] },
      { t: 'presence_join', site: 1, session: p },
      { t: 'presence_update', site: 1, session: p },
      { t: 'presence_leave', site: 1, session: 's1' },
      { t: 'events', session: 's1', tab: 't1', events: [{ type: 4, timestamp: 1, data: {} }] },
      { t: 'watch_ended', session: 's1', reason: 'too_slow' },
      { t: 'error', code: 'not_found', message: 'no such session' },
    ];
    for (const m of all) assert.deepEqual(parseLiveMessage(JSON.stringify(m)), m);
  });

  it('ignores unknown optional fields', () => {
    assert.deepEqual(parseLiveMessage('{"t":"presence_leave","site":1,"session":"s","extra":true}'), {
      t: 'presence_leave',
      site: 1,
      session: 's',
    });
  });

  it('refuses what is not a server message', () => {
    for (const bad of [
      'nope',
      '[]',
      'null',
      '{"t":"hello"}',
      '{"site":1}',
      '{"t":"presence_snapshot","site":"1","sessions":[]}',
      '{"t":"presence_join","site":1,"session":{"session":"x"}}',
      '{"t":"events","session":"s","events":[]}',
      '{"t":"watch_ended"}',
    ]) {
      assert.equal(parseLiveMessage(bad), null, bad);
    }
    assert.equal(parseLiveMessage(new Uint8Array([123, 125])), null, 'binary frames');
  });

  it('leaves malformed presences out of a snapshot', () => {
    const m = parseLiveMessage(JSON.stringify({ t: 'presence_snapshot', site: 1, sessions: [presence('a'), { session: 'b' }, 7] }));
    assert.deepEqual(m, { t: 'presence_snapshot', site: 1, sessions: [presence('a')] });
  });
});

describe('describeConnection', () => {
  it('says where the connection is', () => {
    assert.equal(describeConnection({ state: 'connecting', attempt: 0 }, 0), 'Connecting…');
    assert.equal(describeConnection({ state: 'connecting', attempt: 2 }, 0), 'Reconnecting…');
    assert.equal(describeConnection({ state: 'retrying', attempt: 1, retryAt: 4_200 }, 1_000), 'Connection lost; reconnecting in 4s…');
    assert.match(describeConnection({ state: 'unauthorized' }, 0), /Signed out/);
  });
});
