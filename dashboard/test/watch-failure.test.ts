/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_WATCH_RETRIES, refusalText, refusalVerdict } from '../src/watch-failure';

describe('a refused watch', () => {
  it('gives up at once on not_live for a page that just opened (regression: it retried forever)', () => {
    const v = refusalVerdict('not_live', 'the session is not live', 0, false);
    assert.equal(v.retry, false);
    assert.match((v as { text: string }).text, /not live/);
  });

  it('gives up at once on not_found and unknown codes', () => {
    assert.equal(refusalVerdict('not_found', '', 0, false).retry, false);
    assert.equal(refusalVerdict('bad_message', 'x', 0, true).retry, false);
  });

  it('asks again a bounded number of times while the visitor may come back after a reconnection', () => {
    for (let i = 0; i < MAX_WATCH_RETRIES; i++) assert.equal(refusalVerdict('not_live', '', i, true).retry, true, `attempt ${i}`);
    assert.equal(refusalVerdict('not_live', '', MAX_WATCH_RETRIES, true).retry, false);
  });

  it('asks again a bounded number of times when the server is busy', () => {
    for (const code of ['unavailable', 'rate_limited']) {
      assert.equal(refusalVerdict(code, '', 0, false).retry, true);
      assert.equal(refusalVerdict(code, '', MAX_WATCH_RETRIES - 1, false).retry, true);
      assert.equal(refusalVerdict(code, '', MAX_WATCH_RETRIES, false).retry, false);
    }
  });

  it('words an unknown refusal with the server’s message and code', () => {
    assert.equal(refusalText('teapot', 'short and stout'), 'The server refused to show this session: short and stout (teapot).');
  });
});
