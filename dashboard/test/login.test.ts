/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../src/api';
import { signInMessage } from '../src/login';

describe('signInMessage', () => {
  it('says what to do for each failure', () => {
    const [wrong, wrongKind] = signInMessage(new ApiError(401, 'bad_credentials', 'no'));
    assert.equal(wrongKind, 'bad_credentials');
    assert.match(wrong, /Wrong email or password/);
    const [limited, limitedKind] = signInMessage(new ApiError(429, 'rate_limited', 'slow down', 840));
    assert.equal(limitedKind, 'rate_limited');
    assert.match(limited, /Wait 14 minutes, then try again/);
    assert.match(signInMessage(new ApiError(429, 'rate_limited', 'slow down'))[0], /Wait a few minutes/);
    const [down, downKind] = signInMessage(new ApiError(0, 'network', 'Could not reach the server.'));
    assert.equal(downKind, 'network');
    assert.match(down, /Could not reach the reel server/);
    assert.match(signInMessage(new ApiError(500, 'internal', 'boom'))[0], /boom/);
  });
});
