/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMPTY_FILTER, filterFromQuery, filterToQuery, secondsToMs, sessionsQuery } from '../src/filters';

describe('filters in the hash query', () => {
  it('round-trips every filter', () => {
    const filter = {
      from: 1700000000000,
      to: 1700003600000,
      min_duration_ms: 30000,
      url: '/checkout?step=2&x=ü',
      user_id: 'user 42',
      has_errors: true,
    };
    assert.deepEqual(filterFromQuery(filterToQuery(filter)), filter);
  });

  it('leaves unset filters out', () => {
    assert.equal(filterToQuery(EMPTY_FILTER).toString(), '');
    assert.equal(filterToQuery({ ...EMPTY_FILTER, has_errors: false }).toString(), 'has_errors=false');
  });

  it('drops values that do not parse', () => {
    const f = filterFromQuery(new URLSearchParams('from=abc&to=1.5&min_duration_ms=&url=%20%20&has_errors=yes&user_id=u'));
    assert.deepEqual(f, { ...EMPTY_FILTER, user_id: 'u' });
  });

  it('builds the API query with limit and cursor', () => {
    const q = sessionsQuery({ ...EMPTY_FILTER, user_id: 'u1' }, 'abc==', 25);
    assert.equal(q.toString(), 'user_id=u1&limit=25&cursor=abc%3D%3D');
    assert.equal(sessionsQuery(EMPTY_FILTER, null).get('limit'), '50');
    assert.equal(sessionsQuery(EMPTY_FILTER, null).has('cursor'), false);
  });
});

describe('secondsToMs', () => {
  it('converts seconds typed in the form', () => {
    assert.equal(secondsToMs('30'), 30000);
    assert.equal(secondsToMs(' 1.5 '), 1500);
    assert.equal(secondsToMs(''), null);
    assert.equal(secondsToMs('-1'), null);
    assert.equal(secondsToMs('x'), null);
  });
});
