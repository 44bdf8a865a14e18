/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryAfterSeconds } from '../src/api';

describe('retryAfterSeconds', () => {
  it('reads delta-seconds and HTTP dates', () => {
    assert.equal(retryAfterSeconds(null), null);
    assert.equal(retryAfterSeconds(''), null);
    assert.equal(retryAfterSeconds('120'), 120);
    const now = Date.UTC(2024, 4, 1, 12, 0, 0);
    assert.equal(retryAfterSeconds('Wed, 01 May 2024 12:01:30 GMT', now), 90);
    assert.equal(retryAfterSeconds('Wed, 01 May 2024 11:00:00 GMT', now), 0, 'a date past is now');
    assert.equal(retryAfterSeconds('soon'), null);
  });
});
