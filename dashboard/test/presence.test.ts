/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialPresence, presenceWho, reducePresence, resubscribed, sortedPresence } from '../src/presence';
import type { Presence } from '../src/types';

const p = (session: string, extra: Partial<Presence> = {}): Presence => ({
  session,
  visitor: `v-${session}`,
  user_id: null,
  url: `https://shop.test/${session}`,
  title: `Page ${session}`,
  device: 'desktop',
  browser: 'Chrome',
  os: 'Linux',
  started_at: 1_000,
  last_activity_at: 2_000,
  node: 'node-a',
  signals: { console_errors: 0, failed_requests: 0, rage_clicks: 0, dead_clicks: 0 },
  ...extra,
});

const ids = (state: ReturnType<typeof initialPresence>) => sortedPresence(state).map((x) => x.session);

describe('presence reducer', () => {
  it('starts empty and waits for the snapshot', () => {
    const s = initialPresence(7);
    assert.equal(s.synced, false);
    assert.equal(s.sessions.size, 0);
  });

  it('renders the snapshot, then applies join, update and leave', () => {
    let s = initialPresence(7);
    s = reducePresence(s, { t: 'presence_snapshot', site: 7, sessions: [p('a', { started_at: 1 }), p('b', { started_at: 2 })] });
    assert.equal(s.synced, true);
    assert.deepEqual(ids(s), ['b', 'a']);

    s = reducePresence(s, { t: 'presence_join', site: 7, session: p('c', { started_at: 3 }) });
    assert.deepEqual(ids(s), ['c', 'b', 'a']);

    s = reducePresence(s, {
      t: 'presence_update',
      site: 7,
      session: p('a', { started_at: 1, url: 'https://shop.test/checkout', title: 'Checkout', user_id: 'u1', last_activity_at: 9_000 }),
    });
    const a = s.sessions.get('a')!;
    assert.equal(a.url, 'https://shop.test/checkout');
    assert.equal(a.title, 'Checkout');
    assert.equal(a.user_id, 'u1');
    assert.equal(a.last_activity_at, 9_000);
    assert.deepEqual(ids(s), ['c', 'b', 'a'], 'activity does not reorder the rows');

    s = reducePresence(s, { t: 'presence_leave', site: 7, session: 'b' });
    assert.deepEqual(ids(s), ['c', 'a']);
  });

  it('does not change the state it is given', () => {
    const s0 = reducePresence(initialPresence(7), { t: 'presence_snapshot', site: 7, sessions: [p('a')] });
    const s1 = reducePresence(s0, { t: 'presence_join', site: 7, session: p('b') });
    const s2 = reducePresence(s1, { t: 'presence_leave', site: 7, session: 'a' });
    assert.deepEqual([...s0.sessions.keys()], ['a']);
    assert.deepEqual([...s1.sessions.keys()], ['a', 'b']);
    assert.deepEqual([...s2.sessions.keys()], ['b']);
  });

  it('treats an update of an unknown session as a join and a second join as an update', () => {
    let s = reducePresence(initialPresence(7), { t: 'presence_snapshot', site: 7, sessions: [] });
    s = reducePresence(s, { t: 'presence_update', site: 7, session: p('x') });
    assert.deepEqual(ids(s), ['x']);
    s = reducePresence(s, { t: 'presence_join', site: 7, session: p('x', { url: 'https://shop.test/2' }) });
    assert.equal(s.sessions.size, 1);
    assert.equal(s.sessions.get('x')!.url, 'https://shop.test/2');
  });

  it('returns the same state for what does not change it', () => {
    const s = reducePresence(initialPresence(7), { t: 'presence_snapshot', site: 7, sessions: [p('a')] });
    assert.equal(reducePresence(s, { t: 'presence_leave', site: 7, session: 'nobody' }), s);
    assert.equal(reducePresence(s, { t: 'presence_join', site: 8, session: p('z') }), s, 'another site');
    assert.equal(reducePresence(s, { t: 'presence_snapshot', site: 8, sessions: [] }), s, 'another site');
    assert.equal(reducePresence(s, { t: 'events', session: 'a', tab: 't', events: [] }), s);
    assert.equal(reducePresence(s, { t: 'error', code: 'not_found', message: '' }), s);
  });

  it('ignores changes before the snapshot', () => {
    const s = initialPresence(7);
    assert.equal(reducePresence(s, { t: 'presence_join', site: 7, session: p('a') }), s);
    assert.equal(reducePresence(s, { t: 'presence_update', site: 7, session: p('a') }), s);
  });

  it('keeps the list while resubscribing, and lets the fresh snapshot replace it', () => {
    let s = reducePresence(initialPresence(7), { t: 'presence_snapshot', site: 7, sessions: [p('a'), p('b')] });
    s = resubscribed(s);
    assert.equal(s.synced, false);
    assert.equal(s.sessions.size, 2, 'still shown, as stale');
    // Changes from before the new snapshot are superseded by it.
    assert.equal(reducePresence(s, { t: 'presence_leave', site: 7, session: 'a' }), s);
    s = reducePresence(s, { t: 'presence_snapshot', site: 7, sessions: [p('b'), p('c')] });
    assert.equal(s.synced, true);
    assert.deepEqual([...s.sessions.keys()].sort(), ['b', 'c']);
    assert.equal(resubscribed(initialPresence(7)).synced, false);
  });

  it('names a visitor by user id when identified', () => {
    assert.deepEqual(presenceWho(p('a', { user_id: 'alice' })), { label: 'alice', identified: true });
    assert.deepEqual(presenceWho(p('a', { visitor: 'v9' })), { label: 'visitor v9', identified: false });
  });
});
