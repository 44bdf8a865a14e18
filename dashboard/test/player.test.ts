/// <reference types="node" />
// The replay player's pure parts: activity rows, console and network rows,
// page-load counting, links to a moment, keyboard shortcuts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { activityOf, elementName, mergeInput } from '../src/activity';
import { consoleRowOf, isFailedRequest, networkRowOf } from '../src/devtools';
import { momentUrl, parseMoment } from '../src/moment';
import { PageLoads, RESNAPSHOT_TAG } from '../src/pageloads';
import { fitBox } from '../src/replay';
import { ReplayIndex } from '../src/replay-index';
import { KEY_SPEEDS, SEEK_STEP_MS, shortcutFor } from '../src/shortcuts';
import { snapshotTitle } from '../src/snapshot-title';
import type { RRwebEvent } from '../src/types';

const meta = (timestamp: number, href: string): RRwebEvent => ({ type: 4, timestamp, data: { href, width: 1280, height: 720 } });
const full = (timestamp: number): RRwebEvent => ({ type: 2, timestamp, data: { node: { type: 0, childNodes: [] } } });
const resnapshot = (timestamp: number): RRwebEvent => ({ type: 5, timestamp, data: { tag: RESNAPSHOT_TAG, payload: {} } });
const network = (timestamp: number, payload: Record<string, unknown>): RRwebEvent => ({
  type: 6,
  timestamp,
  data: { plugin: 'reel/network@1', payload },
});

describe('activityOf', () => {
  it('makes a page row with its URL from a Meta that is a page load, none from a re-record', () => {
    assert.deepEqual(activityOf(meta(5, 'https://a.test/x'), true), {
      kind: 'page',
      timestamp: 5,
      label: 'https://a.test/x',
      detail: '',
      nodeId: null,
    });
    assert.equal(activityOf(meta(5, 'https://a.test/x'), false), null);
  });

  it('makes click rows with the node to name, not from other mouse interactions', () => {
    const click = activityOf({ type: 3, timestamp: 7, data: { source: 2, type: 2, id: 42, x: 1, y: 1 } }, false);
    assert.equal(click?.kind, 'click');
    assert.equal(click?.nodeId, 42);
    assert.equal(activityOf({ type: 3, timestamp: 7, data: { source: 2, type: 0, id: 42 } }, false), null);
  });

  it('makes input rows with the value as recorded (masked stays masked)', () => {
    const row = activityOf({ type: 3, timestamp: 8, data: { source: 5, id: 3, text: '*****', isChecked: false } }, false);
    assert.equal(row?.kind, 'input');
    assert.equal(row?.detail, '*****');
    const box = activityOf({ type: 3, timestamp: 8, data: { source: 5, id: 4, isChecked: true } }, false);
    assert.equal(box?.detail, 'true');
  });

  it('folds consecutive typing into one field into one row', () => {
    const a = activityOf({ type: 3, timestamp: 1, data: { source: 5, id: 3, text: 'a' } }, false)!;
    const b = activityOf({ type: 3, timestamp: 2, data: { source: 5, id: 3, text: 'ab' } }, false)!;
    const c = activityOf({ type: 3, timestamp: 3, data: { source: 5, id: 9, text: 'x' } }, false)!;
    assert.equal(mergeInput(a, b), true);
    assert.equal(a.detail, 'ab');
    assert.equal(a.timestamp, 1);
    assert.equal(mergeInput(a, c), false);
  });

  it('makes error rows with message and place, and track rows with name and props', () => {
    const error = activityOf(
      { type: 5, timestamp: 9, data: { tag: 'error', payload: { message: 'boom', stack: 's', source: 'app.js', line: 3, col: 7 } } },
      false,
    );
    assert.deepEqual([error?.kind, error?.label, error?.detail], ['error', 'boom', 'app.js:3:7']);
    const track = activityOf(
      { type: 5, timestamp: 9, data: { tag: 'track', payload: { name: 'add_to_cart', props: { sku: 'lamp', quantity: 2, gift: false } } } },
      false,
    );
    assert.deepEqual([track?.kind, track?.label, track?.detail], ['track', 'add_to_cart', 'sku=lamp quantity=2 gift=false']);
    assert.equal(activityOf({ type: 5, timestamp: 9, data: { tag: 'other', payload: {} } }, false), null);
  });

  it('names an element by its text, else its label, alt or title', () => {
    const el = (tagName: string, textContent: string, attrs: Record<string, string> = {}) => ({
      nodeType: 1,
      tagName,
      textContent,
      getAttribute: (n: string) => attrs[n] ?? null,
    });
    assert.equal(elementName(el('BUTTON', '  Add   to cart ')), 'button “Add to cart”');
    assert.equal(elementName(el('A', '', { 'aria-label': 'Close' })), 'a “Close”');
    assert.equal(elementName(el('IMG', '', { alt: 'Lamp' })), 'img “Lamp”');
    assert.equal(elementName(el('DIV', '')), 'div');
    assert.equal(elementName(null), '');
  });
});

describe('devtools rows', () => {
  it('reads console lines: level, decoded arguments, trace', () => {
    const row = consoleRowOf({
      type: 6,
      timestamp: 10,
      data: { plugin: 'rrweb/console@1', payload: { level: 'warn', trace: ['at f (a.js:1:2)'], payload: ['"low stock"', '3'] } },
    });
    assert.deepEqual(row, { timestamp: 10, level: 'warn', text: 'low stock 3', trace: ['at f (a.js:1:2)'] });
    assert.equal(consoleRowOf(network(1, {})), null);
  });

  it("shows an uncaught error (the tracker's custom error event) as an error line with its stack's frames", () => {
    const stack = 'Error: boom\n    at buy (https://shop.example/app.js:10:5)\n    at https://shop.example/app.js:3:1';
    const row = consoleRowOf({
      type: 5,
      timestamp: 20,
      data: { tag: 'error', payload: { message: 'Uncaught Error: boom', stack, source: 'https://shop.example/app.js', line: 10, col: 5 } },
    });
    assert.deepEqual(row, {
      timestamp: 20,
      level: 'error',
      text: 'Uncaught Error: boom',
      trace: ['at buy (https://shop.example/app.js:10:5)', 'at https://shop.example/app.js:3:1'],
    });
    assert.equal(consoleRowOf({ type: 5, timestamp: 1, data: { tag: 'track', payload: { name: 'x', props: {} } } }), null);
  });

  it('reads requests and classifies them: >= 500 or an error is failed, 4xx is not', () => {
    const base = { method: 'post', url: 'https://a.test/api', ok: false, start: 1000, duration_ms: 12, request_bytes: 10, response_bytes: null, initiator: 'fetch', error: null };
    const failed = networkRowOf(network(1020, { ...base, status: 500 }))!;
    assert.equal(failed.failed, true);
    assert.equal(failed.method, 'POST');
    assert.equal(failed.timestamp, 1000, 'a request is placed at its start');
    assert.equal(networkRowOf(network(1020, { ...base, status: 404 }))!.failed, false);
    const offline = networkRowOf(network(1020, { ...base, status: 0, error: 'Failed to fetch' }))!;
    assert.equal(offline.failed, true);
    assert.equal(networkRowOf(network(1020, { ...base, status: 200, ok: true, response_body: '{"a":1}' }))!.responseBody, '{"a":1}');
    assert.equal(isFailedRequest(499, null), false);
    assert.equal(isFailedRequest(500, null), true);
    assert.equal(isFailedRequest(0, 'timeout'), true);
    assert.equal(isFailedRequest(0, null), false, 'a beacon has no status and no error');
  });
});

describe('PageLoads', () => {
  it('counts navigations, not snapshots a live viewer asked for (3 pages, not 5)', () => {
    const pages = new PageLoads();
    const events = [
      meta(1, 'https://a.test/'),
      full(1),
      resnapshot(5),
      meta(5, 'https://a.test/'),
      full(5),
      meta(10, 'https://a.test/product'),
      full(10),
      resnapshot(12),
      meta(12, 'https://a.test/product'),
      meta(20, 'https://a.test/checkout'),
    ];
    const loads = events.filter((e) => pages.push(e));
    assert.deepEqual(
      loads.map((e) => e.timestamp),
      [1, 10, 20],
    );
    assert.equal(pages.count, 3);
  });

  it('counts a reload and an unmarked Meta of the same URL: only the mark makes a re-record', () => {
    const pages = new PageLoads();
    for (const e of [meta(1, 'https://a.test/'), full(1), meta(2, 'https://a.test/'), meta(3, 'https://a.test/b')]) pages.push(e);
    assert.equal(pages.count, 3);
  });

  it('takes the mark for the next Meta only', () => {
    const pages = new PageLoads();
    pages.push(meta(1, 'https://a.test/'));
    pages.push(resnapshot(2));
    assert.equal(pages.push(full(2)), false);
    assert.equal(pages.push(meta(2, 'https://a.test/?x')), false);
    assert.equal(pages.push(meta(3, 'https://a.test/next')), true);
    assert.equal(pages.count, 2);
  });

  it('is the one count the timeline markers and the index share', () => {
    const index = new ReplayIndex();
    const added = index.add([meta(1, 'https://a.test/'), full(1), resnapshot(5), meta(5, 'https://a.test/'), meta(9, 'https://a.test/b')]);
    assert.equal(index.pages.count, 2);
    assert.equal(added.markers.filter((m) => m.kind === 'page').length, 2);
    assert.equal(added.activity.filter((r) => r.kind === 'page').length, 2);
    assert.equal(index.urlAt(0), 'https://a.test/');
    assert.equal(index.urlAt(8), 'https://a.test/b');
  });
});

describe('links to a moment', () => {
  it('parses ?t= as whole ms, nothing else', () => {
    assert.equal(parseMoment(new URLSearchParams('t=12500')), 12500);
    assert.equal(parseMoment(new URLSearchParams('t=0')), 0);
    for (const bad of ['', 't=', 't=-5', 't=1.5', 't=abc', 't=1e3', 't=9999999999999']) {
      assert.equal(parseMoment(new URLSearchParams(bad)), null, bad);
    }
  });

  it('builds the full URL at the moment, keeping the tab', () => {
    const loc = { origin: 'https://reel.example', pathname: '/app/' };
    assert.equal(momentUrl(loc, 'abc', 12_345.6), 'https://reel.example/app/#/sessions/abc?t=12346');
    assert.equal(
      momentUrl(loc, 'abc', 5, new URLSearchParams('tab=t2&user_id=x')),
      'https://reel.example/app/#/sessions/abc?tab=t2&t=5',
    );
    assert.equal(momentUrl(loc, 'a/b', -3, new URLSearchParams('all=1')), 'https://reel.example/app/#/sessions/a%2Fb?all=1&t=0');
    assert.equal(parseMoment(new URLSearchParams(momentUrl(loc, 'abc', 777).split('?')[1])), 777);
  });
});

describe('shortcuts', () => {
  const at = (selector: string | null) => ({ closest: (s: string) => (selector !== null && s.split(', ').some((p) => p.startsWith(selector)) ? {} : null) });
  it('maps space, arrows and 1 to 4', () => {
    assert.deepEqual(shortcutFor({ key: ' ' }, at(null)), { kind: 'toggle' });
    assert.deepEqual(shortcutFor({ key: 'ArrowLeft' }, at(null)), { kind: 'seek', deltaMs: -SEEK_STEP_MS });
    assert.deepEqual(shortcutFor({ key: 'ArrowRight' }, null), { kind: 'seek', deltaMs: SEEK_STEP_MS });
    assert.deepEqual(
      ['1', '2', '3', '4'].map((key) => shortcutFor({ key }, null)),
      KEY_SPEEDS.map((speed) => ({ kind: 'speed', speed })),
    );
    assert.deepEqual(KEY_SPEEDS, [1, 2, 4, 8]);
    assert.equal(shortcutFor({ key: '5' }, null), null);
  });

  it('does nothing while typing, with modifiers, or space on a button', () => {
    for (const field of ['input', 'textarea', 'select', '[contenteditable]']) {
      assert.equal(shortcutFor({ key: ' ' }, at(field)), null, field);
      assert.equal(shortcutFor({ key: '2' }, at(field)), null, field);
    }
    assert.equal(shortcutFor({ key: 'ArrowLeft', altKey: true }, null), null);
    assert.equal(shortcutFor({ key: '1', ctrlKey: true }, null), null);
    assert.equal(shortcutFor({ key: ' ' }, at('button')), null);
    assert.deepEqual(shortcutFor({ key: 'ArrowRight' }, at('button')), { kind: 'seek', deltaMs: SEEK_STEP_MS });
  });
});

describe('replay fidelity', () => {
  it('labels a tab with its first page title', () => {
    const snapshot: RRwebEvent = {
      type: 2,
      timestamp: 1,
      data: {
        node: {
          type: 0,
          childNodes: [
            {
              type: 2,
              tagName: 'html',
              childNodes: [
                { type: 2, tagName: 'head', childNodes: [{ type: 2, tagName: 'title', childNodes: [{ type: 3, textContent: ' Checkout —  Shop ' }] }] },
                { type: 2, tagName: 'body', childNodes: [{ type: 2, tagName: 'title', childNodes: [{ type: 3, textContent: 'svg' }] }] },
              ],
            },
          ],
        },
      },
    };
    assert.equal(snapshotTitle(snapshot), 'Checkout — Shop');
    assert.equal(snapshotTitle(full(1)), '');
    assert.equal(snapshotTitle(meta(1, 'x')), '');
  });

  it('fits the replay in the room left, keeping its shape', () => {
    assert.deepEqual(fitBox(1000, 600, 9 / 16), { width: 1000, height: 563 });
    assert.deepEqual(fitBox(1000, 400, 9 / 16), { width: 711, height: 400 });
  });
});
