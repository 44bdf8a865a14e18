/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  hashOf,
  isAdminPage,
  isPublic,
  liveSitePath,
  loginHash,
  parseRoute,
  sessionPath,
  siteSettingsPath,
  sitePath,
  watchHash,
} from '../src/route';

describe('parseRoute', () => {
  it('knows every page', () => {
    assert.deepEqual(parseRoute(''), { page: 'sites' });
    assert.deepEqual(parseRoute('#/login'), { page: 'login', next: null });
    assert.deepEqual(parseRoute('#/sites'), { page: 'sites' });
    const sessions = parseRoute('#/sites/12?user_id=u1&has_errors=true');
    assert.equal(sessions.page, 'sessions');
    if (sessions.page === 'sessions') {
      assert.equal(sessions.siteId, 12);
      assert.equal(sessions.query.get('user_id'), 'u1');
    }
    const replay = parseRoute('#/sessions/abc_-1?tab=t2');
    assert.equal(replay.page === 'replay' && replay.sessionId, 'abc_-1');
    assert.equal(replay.page === 'replay' && replay.query.get('tab'), 't2');
  });

  it('knows the account and admin pages', () => {
    assert.deepEqual(parseRoute('#/invite/Ab-9_x'), { page: 'invite', code: 'Ab-9_x' });
    for (const page of ['members', 'invitations', 'tokens', 'audit'] as const) {
      assert.deepEqual(parseRoute(`#/${page}`), { page });
      assert.ok(isAdminPage(parseRoute(`#/${page}`)));
    }
    assert.deepEqual(parseRoute(`#${siteSettingsPath(3)}`), { page: 'site-settings', siteId: 3 });
    assert.ok(isAdminPage(parseRoute('#/sites/3/settings')));
    assert.ok(!isAdminPage(parseRoute('#/sites')));
    assert.ok(isPublic(parseRoute('#/login')) && isPublic(parseRoute('#/invite/x')));
    assert.ok(!isPublic(parseRoute('#/sites')));
    assert.equal(parseRoute('#/invite').page, 'not-found');
    assert.equal(loginHash('#/invite/abc'), '#/login', 'sign-in does not lead back to a used invitation');
  });

  it('knows the live pages', () => {
    assert.deepEqual(parseRoute('#/sites/12/live'), { page: 'live', siteId: 12 });
    assert.deepEqual(parseRoute('#/live/abc_-1?site=12'), { page: 'watch', sessionId: 'abc_-1', siteId: 12 });
    assert.deepEqual(parseRoute('#/live/abc'), { page: 'watch', sessionId: 'abc', siteId: null });
    assert.deepEqual(parseRoute('#/live/abc?site=x'), { page: 'watch', sessionId: 'abc', siteId: null });
    assert.equal(parseRoute('#/sites/x/live').page, 'not-found');
    assert.equal(parseRoute('#/sites/1/nope').page, 'not-found');
    assert.equal(hashOf(liveSitePath(4)), '#/sites/4/live');
    assert.equal(watchHash('s 1', 4), '#/live/s%201?site=4');
    assert.equal(watchHash('s1'), '#/live/s1');
    assert.deepEqual(parseRoute(watchHash('s 1', 4)), { page: 'watch', sessionId: 's 1', siteId: 4 });
  });

  it('refuses unknown paths', () => {
    assert.equal(parseRoute('#/sites/x').page, 'not-found');
    assert.equal(parseRoute('#/nope').page, 'not-found');
  });

  it('builds hashes that parse back', () => {
    const hash = hashOf(sitePath(3), new URLSearchParams({ url: '/a b' }));
    assert.equal(hash, '#/sites/3?url=%2Fa+b');
    const r = parseRoute(hash);
    assert.equal(r.page === 'sessions' && r.query.get('url'), '/a b');
    assert.equal(hashOf(sessionPath('s1')), '#/sessions/s1');
  });
});

describe('sign-in return path', () => {
  it('comes back to the page that needed a sign-in', () => {
    const hash = loginHash('#/sessions/s1?tab=t2');
    assert.equal(hash, '#/login?next=%23%2Fsessions%2Fs1%3Ftab%3Dt2');
    assert.deepEqual(parseRoute(hash), { page: 'login', next: '#/sessions/s1?tab=t2' });
  });

  it('ignores a return path that is not one of our pages', () => {
    assert.equal(loginHash(''), '#/login');
    assert.equal(loginHash('#/login?next=x'), '#/login');
    assert.deepEqual(parseRoute('#/login?next=https://evil.test/'), { page: 'login', next: null });
  });
});
