/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractMarkers, markerOf } from '../src/markers';

describe('markerOf', () => {
  it('marks a Meta event as a page load with its URL', () => {
    assert.deepEqual(markerOf({ type: 4, timestamp: 5, data: { href: 'https://a.test/x', width: 1, height: 1 } }), {
      kind: 'page',
      timestamp: 5,
      label: 'https://a.test/x',
    });
  });

  it('marks clicks, double clicks and taps, not other mouse interactions', () => {
    const mouse = (type: number) => markerOf({ type: 3, timestamp: 1, data: { source: 2, type, id: 9, x: 1, y: 1 } });
    assert.equal(mouse(2)?.kind, 'click');
    assert.equal(mouse(4)?.kind, 'click');
    assert.equal(mouse(9)?.kind, 'click');
    assert.equal(mouse(0), null); // mouseup
    assert.equal(mouse(5), null); // focus
  });

  it('ignores incremental events of other sources', () => {
    assert.equal(markerOf({ type: 3, timestamp: 1, data: { source: 1, positions: [] } }), null);
    assert.equal(markerOf({ type: 3, timestamp: 1, data: { source: 5, type: 2 } }), null);
  });

  it('marks console errors and decodes their arguments', () => {
    const m = markerOf({
      type: 6,
      timestamp: 7,
      data: { plugin: 'rrweb/console@1', payload: { level: 'error', trace: [], payload: ['"boom"', '42'] } },
    });
    assert.deepEqual(m, { kind: 'error', timestamp: 7, label: 'boom 42' });
  });

  it('does not mark console logs or warnings, nor other plugins', () => {
    const plugin = (plugin: string, level: string) =>
      markerOf({ type: 6, timestamp: 1, data: { plugin, payload: { level, payload: [] } } });
    assert.equal(plugin('rrweb/console@1', 'warn'), null);
    assert.equal(plugin('rrweb/console@1', 'log'), null);
    assert.equal(plugin('rrweb/sequential-id@1', 'error'), null);
  });

  it('marks custom events tagged error', () => {
    assert.deepEqual(markerOf({ type: 5, timestamp: 3, data: { tag: 'error', payload: { message: 'x is undefined' } } }), {
      kind: 'error',
      timestamp: 3,
      label: 'x is undefined',
    });
    assert.equal(markerOf({ type: 5, timestamp: 3, data: { tag: 'error', payload: 'plain' } })?.label, 'plain');
    assert.equal(markerOf({ type: 5, timestamp: 3, data: { tag: 'checkout', payload: {} } }), null);
  });

  it('survives odd data', () => {
    assert.equal(markerOf({ type: 3, timestamp: 1 }), null);
    assert.equal(markerOf({ type: 6, timestamp: 1, data: 'x' }), null);
    assert.deepEqual(markerOf({ type: 4, timestamp: 1, data: null }), { kind: 'page', timestamp: 1, label: '' });
    assert.equal(markerOf({ type: 6, timestamp: 1, data: { plugin: 'rrweb/console@1', payload: { level: 'error' } } })?.label, 
      'console error',
    );
  });

  it('truncates long labels', () => {
    const m = markerOf({ type: 5, timestamp: 1, data: { tag: 'error', payload: 'e'.repeat(1000) } });
    assert.equal(m!.label.length, 200);
  });
});

describe('extractMarkers', () => {
  it('keeps only markers, in order', () => {
    const markers = extractMarkers([
      { type: 4, timestamp: 1, data: { href: 'a' } },
      { type: 2, timestamp: 2, data: {} },
      { type: 3, timestamp: 3, data: { source: 2, type: 2 } },
      { type: 3, timestamp: 4, data: { source: 1 } },
      { type: 5, timestamp: 5, data: { tag: 'error', payload: 'e' } },
    ]);
    assert.deepEqual(markers.map((m) => [m.kind, m.timestamp]), [
      ['page', 1],
      ['click', 3],
      ['error', 5],
    ]);
  });
});
