/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CATCH_UP_SLACK_MS, LIVE_BUFFER_MS, LiveFeed, type LiveAction } from '../src/live-feed';
import type { LiveServerMessage, RRwebEvent } from '../src/types';

const meta = (ts: number, href = 'https://shop.test/'): RRwebEvent => ({ type: 4, timestamp: ts, data: { href, width: 1280, height: 720 } });
const full = (ts: number): RRwebEvent => ({ type: 2, timestamp: ts, data: { node: { type: 0, childNodes: [], id: 1 }, initialOffset: { top: 0, left: 0 } } });
const move = (ts: number): RRwebEvent => ({ type: 3, timestamp: ts, data: { source: 1, positions: [{ x: 1, y: 2, id: 3, timeOffset: 0 }] } });
const click = (ts: number): RRwebEvent => ({ type: 3, timestamp: ts, data: { source: 2, type: 2, id: 5, x: 1, y: 1 } });
const mutation = (ts: number): RRwebEvent => ({ type: 3, timestamp: ts, data: { source: 0, texts: [], attributes: [], removes: [], adds: [] } });

const events = (tab: string, list: unknown[], session = 's1'): LiveServerMessage => ({ t: 'events', session, tab, events: list });
const kinds = (actions: LiveAction[]) => actions.map((a) => a.kind);
function only<K extends LiveAction['kind']>(actions: LiveAction[], kind: K): Extract<LiveAction, { kind: K }> {
  const found = actions.filter((a) => a.kind === kind);
  assert.equal(found.length, 1, `one ${kind} in ${JSON.stringify(kinds(actions))}`);
  return found[0] as Extract<LiveAction, { kind: K }>;
}

describe('LiveFeed: one tab', () => {
  it('starts the player on the first message, Meta and FullSnapshot applied at once', () => {
    const feed = new LiveFeed('s1');
    const first = [meta(10_000, 'https://shop.test/product'), full(10_001), move(10_500), move(11_000)];
    const actions = feed.receive(events('t1', first), 50_000);
    assert.deepEqual(kinds(actions), ['tabs', 'url', 'tabs', 'start']);
    assert.deepEqual(only(actions, 'url'), { kind: 'url', tab: 't1', href: 'https://shop.test/product' });
    const start = only(actions, 'start');
    assert.equal(start.tab, 't1');
    assert.deepEqual(start.events, first);
    // A buffer behind the newest event, but never before the snapshot.
    assert.equal(start.baseline, Math.max(10_002, 11_000 - LIVE_BUFFER_MS));
    assert.ok(start.baseline > 10_001, 'the snapshot is before the baseline: applied at once');
    assert.equal(feed.shown, 't1');
    assert.equal(feed.href, 'https://shop.test/product');
    assert.equal(feed.playing, true);
    assert.equal(feed.lastArrival, 50_000);
  });

  it('adds later events for the player to play at their pace', () => {
    const feed = new LiveFeed('s1');
    const start = only(feed.receive(events('t1', [meta(10_000), full(10_001)]), 50_000), 'start');
    // Arrives a second later, events a second newer: no correction.
    const actions = feed.receive(events('t1', [move(10_900), click(11_000)]), 51_000);
    assert.deepEqual(actions, [{ kind: 'add', tab: 't1', events: [move(10_900), click(11_000)] }]);
    assert.equal(start.baseline, 10_002);
  });

  it('moves the player clock forward when the tab had been idle (an old snapshot)', () => {
    const feed = new LiveFeed('s1');
    const start = only(feed.receive(events('t1', [meta(10_000), full(10_001)]), 50_000), 'start');
    // The visitor was idle for a minute before the watch began: their next
    // click is a minute past the snapshot, which the player would otherwise
    // play a minute late.
    const actions = feed.receive(events('t1', [click(70_000)]), 51_000);
    const due = 50_000 + (70_000 - start.baseline);
    assert.deepEqual(actions, [
      { kind: 'advance', ms: due - 51_000 - LIVE_BUFFER_MS },
      { kind: 'add', tab: 't1', events: [click(70_000)] },
    ]);
    // From then on the events are within the buffer: no more corrections.
    assert.deepEqual(kinds(feed.receive(events('t1', [move(71_000)]), 52_000)), ['add']);
    assert.deepEqual(kinds(feed.receive(events('t1', [move(72_000 + CATCH_UP_SLACK_MS)]), 53_000)), ['add']);
  });

  it('follows the visitor to a new page of the same tab without a new player', () => {
    const feed = new LiveFeed('s1');
    feed.receive(events('t1', [meta(10_000, 'https://shop.test/'), full(10_001)]), 50_000);
    const next = [meta(12_000, 'https://shop.test/checkout'), full(12_001), move(12_100)];
    const actions = feed.receive(events('t1', next), 52_000);
    assert.deepEqual(kinds(actions), ['url', 'add']);
    assert.equal(feed.href, 'https://shop.test/checkout');
    // A new player (tab switched away and back) starts from the new page.
    feed.receive(events('t2', [meta(12_500, 'https://shop.test/other'), full(12_501)]), 52_100);
    feed.select('t2', 52_200);
    const start = only(feed.select('t1', 52_300), 'start');
    assert.deepEqual(start.events, next);
  });

  it('waits for a full snapshot before it starts', () => {
    const feed = new LiveFeed('s1');
    assert.deepEqual(kinds(feed.receive(events('t1', [mutation(5), move(6)]), 100)), ['tabs']);
    assert.equal(feed.playing, false);
    assert.equal(feed.shown, null);
    assert.deepEqual(feed.tabList(), [{ id: 't1', index: 1, href: null, ready: false, shown: false }]);
    const start = only(feed.receive(events('t1', [meta(7), full(8), move(9)]), 200), 'start');
    assert.deepEqual(start.events, [meta(7), full(8), move(9)], 'what came before the snapshot is dropped');
  });

  it('keeps only rrweb events of a message', () => {
    const feed = new LiveFeed('s1');
    const start = only(feed.receive(events('t1', [null, 3, { type: 'x', timestamp: 1 }, meta(10), full(11)]), 100), 'start');
    assert.deepEqual(start.events, [meta(10), full(11)]);
  });
});

describe('LiveFeed: several tabs', () => {
  it('shows the tab the visitor uses, not a background tab that only changes', () => {
    const feed = new LiveFeed('s1');
    feed.receive(events('A', [meta(10_000, 'https://shop.test/a'), full(10_001), click(30_000)]), 50_000);
    assert.equal(feed.shown, 'A');

    // B's catch-up: last used before A's click: A stays.
    let actions = feed.receive(events('B', [meta(20_000, 'https://shop.test/b'), full(20_001), mutation(40_000)]), 50_010);
    assert.deepEqual(kinds(actions), ['tabs', 'url']);
    assert.equal(feed.shown, 'A');
    // B's page changes on its own (a ticker): A stays.
    assert.deepEqual(feed.receive(events('B', [mutation(41_000)]), 51_000), []);
    // The visitor moves the mouse in B: B is shown.
    actions = feed.receive(events('B', [move(42_000)]), 52_000);
    assert.deepEqual(kinds(actions), ['tabs', 'start']);
    assert.equal(feed.shown, 'B');
    assert.deepEqual(only(actions, 'start').events, [meta(20_000, 'https://shop.test/b'), full(20_001), mutation(40_000), mutation(41_000), move(42_000)]);
    assert.equal(feed.href, 'https://shop.test/b');

    // A loads a page: A is shown again.
    actions = feed.receive(events('A', [meta(43_000, 'https://shop.test/a2'), full(43_001)]), 53_000);
    assert.deepEqual(kinds(actions), ['url', 'tabs', 'start']);
    assert.equal(feed.shown, 'A');

    // A new tab whose catch-up is newer than A's activity takes the screen.
    actions = feed.receive(events('C', [meta(50_000, 'https://shop.test/c'), full(50_001)]), 54_000);
    assert.equal(feed.shown, 'C');
    assert.deepEqual(
      feed.tabList().map((t) => [t.id, t.index, t.shown]),
      [
        ['A', 1, false],
        ['B', 2, false],
        ['C', 3, true],
      ],
    );
  });

  it('keeps a tab picked by hand until the person follows the visitor again', () => {
    const feed = new LiveFeed('s1');
    feed.receive(events('A', [meta(1_000), full(1_001)]), 10_000);
    feed.receive(events('B', [meta(2_000), full(2_001)]), 10_001);
    assert.equal(feed.shown, 'B');
    let actions = feed.select('A', 10_002);
    assert.deepEqual(kinds(actions), ['tabs', 'start']);
    assert.equal(feed.following, false);
    // Activity in B does not take the screen now.
    assert.deepEqual(feed.receive(events('B', [click(3_000)]), 11_000), []);
    assert.equal(feed.shown, 'A');
    // Following again shows the tab used last.
    actions = feed.select(null, 11_001);
    assert.equal(feed.following, true);
    assert.deepEqual(kinds(actions), ['tabs', 'start']);
    assert.equal(feed.shown, 'B');
    // Picking the shown tab changes nothing but the mode.
    assert.deepEqual(feed.select('B', 11_002), [{ kind: 'tabs' }]);
    assert.equal(feed.following, false);
    assert.deepEqual(feed.select('nope', 11_003), []);
  });

  it('clears the player when the picked tab has no page yet', () => {
    const feed = new LiveFeed('s1');
    feed.receive(events('A', [meta(1_000), full(1_001)]), 10_000);
    feed.receive(events('B', [mutation(2_000)]), 10_001);
    assert.deepEqual(feed.select('B', 10_002), [{ kind: 'tabs' }, { kind: 'stop' }]);
    assert.equal(feed.playing, false);
    const actions = feed.receive(events('B', [meta(3_000), full(3_001)]), 11_000);
    assert.deepEqual(kinds(actions), ['url', 'start']);
  });
});

describe('LiveFeed: end, errors, re-watch', () => {
  it('reports watch_ended and ignores events after it', () => {
    const feed = new LiveFeed('s1');
    feed.receive(events('t1', [meta(1_000), full(1_001)]), 10_000);
    assert.deepEqual(feed.receive({ t: 'watch_ended', session: 's1', reason: 'too_slow' }, 10_100), [
      { kind: 'ended', reason: 'too_slow' },
    ]);
    assert.equal(feed.ended, 'too_slow');
    assert.deepEqual(feed.receive(events('t1', [move(1_200)]), 10_200), []);
    assert.deepEqual(feed.receive({ t: 'watch_ended', session: 'other', reason: 'session_ended' }, 10_300), []);
  });

  it('starts over from the fresh snapshot after a re-watch, without replaying twice', () => {
    const feed = new LiveFeed('s1');
    feed.receive(events('A', [meta(1_000), full(1_001), move(1_100)]), 10_000);
    // B was last used before A.
    feed.receive(events('B', [meta(500), full(501)]), 10_001);
    assert.equal(feed.shown, 'A');
    feed.receive({ t: 'watch_ended', session: 's1', reason: 'node_lost' }, 10_500);
    feed.rewatch();
    assert.equal(feed.ended, null);
    assert.equal(feed.playing, false, 'not live until the fresh snapshot');
    // The server's first message of each tab again: Meta, snapshot, after.
    const fresh = [meta(5_000), full(5_001), move(5_100)];
    const actions = feed.receive(events('A', fresh), 20_000);
    assert.deepEqual(kinds(actions), ['start']);
    assert.deepEqual(only(actions, 'start').events, fresh);
    assert.equal(feed.playing, true);
    // Then events continue as usual.
    assert.deepEqual(kinds(feed.receive(events('A', [move(5_200)]), 20_100)), ['add']);
    // A hidden tab's buffer is replaced, not appended to.
    const freshB = [meta(4_000), full(4_001)];
    feed.receive(events('B', freshB), 20_200);
    assert.deepEqual(only(feed.select('B', 20_300), 'start').events, freshB);
  });

  it('passes errors on and ignores other sessions and presence messages', () => {
    const feed = new LiveFeed('s1');
    assert.deepEqual(feed.receive({ t: 'error', code: 'not_found', message: 'no such session' }, 1), [
      { kind: 'error', code: 'not_found', message: 'no such session' },
    ]);
    assert.deepEqual(feed.receive(events('t1', [meta(1), full(2)], 's2'), 2), []);
    assert.deepEqual(feed.receive({ t: 'presence_leave', site: 1, session: 's1' }, 3), []);
    assert.equal(feed.shown, null);
  });
});
