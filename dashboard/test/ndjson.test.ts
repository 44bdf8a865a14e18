/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter, parseEvent, readEvents, StartGate } from '../src/ndjson';
import type { RRwebEvent } from '../src/types';

const ev = (type: number, timestamp: number, data: unknown = {}): RRwebEvent => ({ type, timestamp, data });

/** A byte stream that yields the given chunks one by one. */
function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
}

/** Cuts bytes at every given offset. */
function cut(bytes: Uint8Array, sizes: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += sizes) chunks.push(bytes.slice(i, i + sizes));
  return chunks;
}

describe('LineSplitter', () => {
  it('returns complete lines and keeps the rest', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('a\nb'), ['a']);
    assert.deepEqual(s.push('c\n'), ['bc']);
    assert.deepEqual(s.end(), []);
  });

  it('joins a line split over many chunks', () => {
    const s = new LineSplitter();
    const line = '{"type":2,"timestamp":1,"data":"' + 'x'.repeat(1000) + '"}';
    const out: string[] = [];
    for (let i = 0; i < line.length; i += 7) out.push(...s.push(line.slice(i, i + 7)));
    out.push(...s.push('\n'));
    assert.deepEqual(out, [line]);
  });

  it('yields the last line without a trailing newline at the end', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('one\ntwo'), ['one']);
    assert.deepEqual(s.end(), ['two']);
  });

  it('drops blank lines and CR of CRLF', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('a\r\n\n  \nb\r\n'), ['a', 'b']);
  });

  it('handles a newline as the first and only character of a chunk', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('abc'), []);
    assert.deepEqual(s.push('\n'), ['abc']);
    assert.deepEqual(s.push('\n'), []);
  });
});

describe('parseEvent', () => {
  it('accepts an rrweb event', () => {
    assert.deepEqual(parseEvent('{"type":4,"timestamp":10,"data":{"href":"h"}}'), ev(4, 10, { href: 'h' }));
  });
  it('refuses what is not one', () => {
    assert.equal(parseEvent('not json'), null);
    assert.equal(parseEvent('[1,2]'), null);
    assert.equal(parseEvent('{"type":"4","timestamp":1}'), null);
    assert.equal(parseEvent('null'), null);
  });
});

describe('readEvents', () => {
  const events = [
    ev(4, 1, { href: 'https://example.com/ü', width: 800, height: 600 }),
    ev(2, 2, { node: { text: '日本語 ✓ émoji 🎉' } }),
    ev(3, 3, { source: 2, type: 2, id: 5 }),
  ];
  const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  const bytes = new TextEncoder().encode(text);

  for (const size of [1, 2, 3, 5, 13, bytes.length]) {
    it(`parses the stream cut into ${size}-byte chunks, multi-byte characters included`, async () => {
      const got: RRwebEvent[] = [];
      const result = await readEvents(streamOf(cut(bytes, size)), (batch) => {
        assert.ok(batch.length > 0);
        got.push(...batch);
      });
      assert.deepEqual(got, events);
      assert.deepEqual(result, { events: 3, skipped: 0 });
    });
  }

  it('hands over events chunk by chunk, before the stream ends', async () => {
    const enc = new TextEncoder();
    const batches: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (step === 0) controller.enqueue(enc.encode(JSON.stringify(events[0]) + '\n' + JSON.stringify(events[1])));
        else if (step === 1) {
          await gate; // the second chunk waits until the first batch was seen
          controller.enqueue(enc.encode('\n' + JSON.stringify(events[2])));
        } else controller.close();
        step++;
      },
    });
    const result = await readEvents(body, (batch) => {
      batches.push(batch.length);
      release();
    });
    assert.deepEqual(batches, [1, 1, 1]);
    assert.equal(result.events, 3);
  });

  it('counts and skips malformed lines', async () => {
    const body = streamOf([new TextEncoder().encode('{"type":4,"timestamp":1}\n{oops\n{"type":2,"timestamp":2}')]);
    const got: RRwebEvent[] = [];
    const result = await readEvents(body, (b) => got.push(...b));
    assert.deepEqual(got.map((e) => e.type), [4, 2]);
    assert.deepEqual(result, { events: 2, skipped: 1 });
  });

  it('rejects when the stream fails', async () => {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error('connection reset'));
      },
    });
    await assert.rejects(readEvents(body, () => {}), /connection reset/);
  });
});

describe('StartGate', () => {
  it('opens once a Meta and a FullSnapshot have arrived, in either order', () => {
    const gate = new StartGate();
    assert.equal(gate.push([ev(0, 1), ev(2, 2)]), null);
    assert.equal(gate.isOpen, false);
    assert.deepEqual(gate.push([ev(3, 3), ev(4, 4), ev(3, 5)]), { start: [ev(0, 1), ev(2, 2), ev(3, 3), ev(4, 4), ev(3, 5)] });
    assert.equal(gate.isOpen, true);
    assert.deepEqual(gate.push([ev(3, 6)]), { more: [ev(3, 6)] });
  });

  it('opens at the end with a snapshot but no Meta', () => {
    const gate = new StartGate();
    assert.equal(gate.push([ev(2, 1), ev(3, 2)]), null);
    assert.deepEqual(gate.finish(), [ev(2, 1), ev(3, 2)]);
  });

  it('stays shut at the end without a snapshot', () => {
    const gate = new StartGate();
    gate.push([ev(4, 1), ev(3, 2)]);
    assert.equal(gate.finish(), null);
  });
});
