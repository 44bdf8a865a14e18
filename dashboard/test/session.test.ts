/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ME_PATH, SessionProbe } from '../src/session';

/** A GET whose answers the test releases one by one. */
function fakeGet() {
  const calls: string[] = [];
  const pending: ((status: number) => void)[] = [];
  const get = (path: string) => {
    calls.push(path);
    return new Promise<number>((resolve) => pending.push(resolve));
  };
  const answer = (status: number) => pending.shift()!(status);
  return { get, calls, answer };
}

describe('SessionProbe', () => {
  it('trusts the sign-in unless asked to refresh', async () => {
    const f = fakeGet();
    const probe = new SessionProbe(f.get);
    assert.equal(await probe.check(false), 'ok');
    assert.deepEqual(f.calls, []);
  });

  it('asks /api/v1/me once for concurrent refreshes', async () => {
    const f = fakeGet();
    const probe = new SessionProbe(f.get);
    const a = probe.check(true);
    const b = probe.check(true);
    assert.deepEqual(f.calls, [ME_PATH]);
    f.answer(200);
    assert.equal(await a, 'ok');
    assert.equal(await b, 'ok');
    // A later refresh asks again: the cookie may have expired since.
    const c = probe.check(true);
    assert.deepEqual(f.calls, [ME_PATH, ME_PATH]);
    f.answer(401);
    assert.equal(await c, 'unauthorized');
  });

  it('reports no answer and server errors as failed', async () => {
    const f = fakeGet();
    const probe = new SessionProbe(f.get);
    const a = probe.check(true);
    f.answer(0);
    assert.equal(await a, 'failed');
    const b = probe.check(true);
    f.answer(503);
    assert.equal(await b, 'failed');
    const rejecting = new SessionProbe(() => Promise.reject(new Error('boom')));
    assert.equal(await rejecting.check(true), 'failed');
  });
});
