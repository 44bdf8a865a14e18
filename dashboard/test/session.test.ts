/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CookieSession, LOGIN_PATH, LOGOUT_PATH } from '../src/session';

/** A POST whose answers the test releases one by one. */
function fakePost() {
  const calls: string[] = [];
  const pending: ((status: number) => void)[] = [];
  const post = (path: string) => {
    calls.push(path);
    return new Promise<number>((resolve) => pending.push(resolve));
  };
  const answer = (status: number) => pending.shift()!(status);
  return { post, calls, answer };
}

describe('CookieSession', () => {
  it('logs in once: concurrent and later callers share the answer', async () => {
    const f = fakePost();
    const session = new CookieSession(f.post);
    const a = session.start();
    const b = session.start();
    assert.deepEqual(f.calls, [LOGIN_PATH]);
    f.answer(204);
    assert.equal(await a, 'ok');
    assert.equal(await b, 'ok');
    assert.equal(await session.start(), 'ok');
    assert.deepEqual(f.calls, [LOGIN_PATH]);
  });

  it('asks again when told to (the socket could not open)', async () => {
    const f = fakePost();
    const session = new CookieSession(f.post);
    const first = session.start();
    f.answer(204);
    await first;
    const again = session.start(true);
    f.answer(204);
    assert.equal(await again, 'ok');
    assert.deepEqual(f.calls, [LOGIN_PATH, LOGIN_PATH]);
  });

  it('reports a refused token, and does not keep failures', async () => {
    const f = fakePost();
    const session = new CookieSession(f.post);
    const refused = session.start();
    f.answer(401);
    assert.equal(await refused, 'unauthorized');
    const down = session.start();
    f.answer(503);
    assert.equal(await down, 'failed');
    const offline = session.start();
    f.answer(0);
    assert.equal(await offline, 'failed');
    const ok = session.start();
    f.answer(204);
    assert.equal(await ok, 'ok');
    assert.deepEqual(f.calls, [LOGIN_PATH, LOGIN_PATH, LOGIN_PATH, LOGIN_PATH]);
  });

  it('treats a rejected request as a failure', async () => {
    const session = new CookieSession(() => Promise.reject(new Error('boom')));
    assert.equal(await session.start(), 'failed');
  });

  it('logs out after a login still in flight, then logs in afresh', async () => {
    const f = fakePost();
    const session = new CookieSession(f.post);
    const login = session.start();
    const logout = session.end();
    assert.deepEqual(f.calls, [LOGIN_PATH], 'logout waits for the login');
    f.answer(204);
    await login;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(f.calls, [LOGIN_PATH, LOGOUT_PATH]);
    f.answer(204);
    await logout;
    const again = session.start();
    assert.deepEqual(f.calls, [LOGIN_PATH, LOGOUT_PATH, LOGIN_PATH]);
    f.answer(204);
    assert.equal(await again, 'ok');
  });
});
