/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FLAG_FILTERS } from '../src/filters';
import { initialPresence, reducePresence } from '../src/presence';
import { SIGNALS, isFlagged, sessionBadges, signalBadges } from '../src/signals';
import type { Presence } from '../src/types';

const none = { console_errors: 0, failed_requests: 0, rage_clicks: 0, dead_clicks: 0 };

describe('signal badges', () => {
  it('shows nothing for a session without trouble', () => {
    assert.deepEqual(sessionBadges({ ...none, track_events: [] }), []);
    assert.equal(isFlagged(none), false);
  });

  it('shows each signal that is not zero, with its count, in a fixed order', () => {
    const badges = sessionBadges({ console_errors: 2, failed_requests: 1, rage_clicks: 3, dead_clicks: 1, track_events: [] });
    assert.deepEqual(
      badges.map((b) => [b.kind, b.label, b.count]),
      [
        ['rage_clicks', '3 rage clicks', 3],
        ['dead_clicks', '1 dead click', 1],
        ['failed_requests', '1 failed request', 1],
        ['console_errors', '2 errors', 2],
      ],
    );
  });

  it('names the track events', () => {
    assert.deepEqual(
      sessionBadges({ ...none, track_events: ['signup'] }).map((b) => [b.kind, b.label]),
      [['track', 'signup']],
    );
    const two = sessionBadges({ ...none, track_events: ['signup', 'checkout'] });
    assert.equal(two[0]!.label, '2 events');
    assert.match(two[0]!.title, /signup, checkout/);
  });

  it('names the track events of a live visitor without flagging them', () => {
    const live = { ...none, track_events: ['add_to_cart'] };
    assert.deepEqual(
      sessionBadges(live).map((b) => [b.kind, b.label]),
      [['track', 'add_to_cart']],
    );
    assert.equal(isFlagged(live), false);
    // From a node that sends no names.
    assert.deepEqual(sessionBadges({ ...none, rage_clicks: 1 }).map((b) => b.kind), ['rage_clicks']);
  });

  it('links every signal to the list filter that finds it', () => {
    for (const s of SIGNALS) assert.ok((FLAG_FILTERS as readonly string[]).includes(s.filter), s.kind);
    assert.deepEqual(
      signalBadges({ ...none, rage_clicks: 1, dead_clicks: 1 }).map((b) => b.filter),
      ['has_rage_clicks', 'has_dead_clicks'],
    );
  });

  it('takes a presence from a node without signals, or with odd values, as no trouble', () => {
    assert.deepEqual(signalBadges(undefined), []);
    assert.deepEqual(signalBadges({ rage_clicks: -1, dead_clicks: Number.NaN, failed_requests: '2' as unknown as number }), []);
  });

  it('flags a live visitor as presence updates bring signals, and unflags on a fresh snapshot', () => {
    const p = (signals: typeof none): Presence =>
      ({
        session: 's1',
        visitor: 'v1',
        user_id: null,
        url: 'https://shop.test/',
        title: 'Shop',
        device: 'desktop',
        browser: 'Chrome',
        os: 'Linux',
        started_at: 1,
        last_activity_at: 2,
        node: 'n',
        signals,
      }) as Presence;
    let state = reducePresence(initialPresence(7), { t: 'presence_snapshot', site: 7, sessions: [p(none)] });
    assert.equal(isFlagged(state.sessions.get('s1')!.signals), false);
    state = reducePresence(state, { t: 'presence_update', site: 7, session: p({ ...none, rage_clicks: 1 }) });
    assert.deepEqual(signalBadges(state.sessions.get('s1')!.signals).map((b) => b.label), ['1 rage click']);
    state = reducePresence(state, { t: 'presence_update', site: 7, session: p({ ...none, rage_clicks: 2, dead_clicks: 1 }) });
    assert.deepEqual(signalBadges(state.sessions.get('s1')!.signals).map((b) => b.label), ['2 rage clicks', '1 dead click']);
  });
});
