/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EMPTY_FILTER,
  activeFilters,
  filterFromQuery,
  filterToQuery,
  flagFromValue,
  flagValue,
  parseTrait,
  secondsToMs,
  sessionsQuery,
  type ListFilter,
} from '../src/filters';
import { hashOf, parseRoute, sitePath } from '../src/route';

describe('filters in the hash query', () => {
  it('round-trips every filter, combined', () => {
    const filter: ListFilter = {
      from: 1700000000000,
      to: 1700003600000,
      min_duration_ms: 30000,
      url: '/checkout?step=2&x=ü',
      user_id: 'user 42',
      has_errors: true,
      has_failed_requests: false,
      has_rage_clicks: true,
      has_dead_clicks: true,
      track: 'signup completed',
      error_contains: "TypeError: x is 'undefined' & more",
      visitor_id: 'v-1#2',
      trait: 'plan:pro:annual',
      browser: 'Chrome',
      os: 'Mac OSX',
      device: 'tablet',
      live: true,
    };
    // Every field of the API's filter is set here, so a new one cannot be forgotten.
    assert.deepEqual(Object.keys(filter).sort(), Object.keys(EMPTY_FILTER).sort());
    assert.ok(Object.values(filter).every((v) => v !== null));
    const query = filterToQuery(filter);
    assert.deepEqual(filterFromQuery(query), filter);
    // ... and through the hash of the list page, as a shared link is.
    const route = parseRoute(hashOf(sitePath(3), query));
    assert.equal(route.page, 'sessions');
    assert.deepEqual(filterFromQuery((route as { query: URLSearchParams }).query), filter);
    assert.equal(activeFilters(filter), Object.keys(EMPTY_FILTER).length);
  });

  it('uses the API names and units', () => {
    const q = filterToQuery({ ...EMPTY_FILTER, trait: 'plan:pro', has_rage_clicks: true, has_dead_clicks: false, live: true });
    assert.equal(q.toString(), 'trait=plan%3Apro&has_rage_clicks=true&has_dead_clicks=false&live=true');
  });

  it('drops a trait without KEY: and a device the node does not know', () => {
    assert.equal(filterFromQuery(new URLSearchParams('trait=plan')).trait, null);
    assert.equal(filterFromQuery(new URLSearchParams('trait=:pro')).trait, null);
    assert.equal(filterFromQuery(new URLSearchParams('trait=plan:')).trait, 'plan:');
    assert.equal(filterFromQuery(new URLSearchParams('device=phone')).device, null);
    assert.equal(filterFromQuery(new URLSearchParams('device=mobile')).device, 'mobile');
    assert.deepEqual(parseTrait('a:b:c'), { key: 'a', value: 'b:c' });
  });

  it('maps a yes/no filter to its select and back', () => {
    for (const v of [true, false, null]) assert.equal(flagFromValue(flagValue(v)), v);
  });

  it('leaves unset filters out', () => {
    assert.equal(filterToQuery(EMPTY_FILTER).toString(), '');
    assert.equal(filterToQuery({ ...EMPTY_FILTER, has_errors: false }).toString(), 'has_errors=false');
  });

  it('drops values that do not parse', () => {
    const f = filterFromQuery(
      new URLSearchParams('from=abc&to=1.5&min_duration_ms=&url=%20%20&has_errors=yes&user_id=u&live=1&has_rage_clicks=TRUE'),
    );
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
