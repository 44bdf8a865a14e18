/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flagOn } from '../src/flags';
import { FLAGS } from '../../protocol/ts/protocol';

describe('flagOn', () => {
  it('reads what the node evaluated', () => {
    assert.equal(flagOn({ notes: false }, 'notes'), false);
    assert.equal(flagOn({ notes: true }, 'notes'), true);
  });

  it('takes the generated default of a flag the node did not send', () => {
    const notes = FLAGS.find((f) => f.name === 'notes');
    assert.ok(notes, 'notes is a flag');
    assert.equal(flagOn({}, 'notes'), notes.default);
    assert.equal(flagOn(undefined, 'notes'), notes.default);
    assert.equal(flagOn(null, 'compaction'), true);
  });

  it('ignores flags it does not know and other flags', () => {
    assert.equal(flagOn({ from_a_newer_node: false, capture_console: false }, 'notes'), true);
  });
});
