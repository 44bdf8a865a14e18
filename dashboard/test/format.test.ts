/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAgo, formatBytes, formatClock, formatDuration, fromDateTimeLocal, toDateTimeLocal } from '../src/format';

describe('format', () => {
  it('formats times relative to now', () => {
    const now = 1_000_000_000;
    assert.equal(formatAgo(now, now), 'now');
    assert.equal(formatAgo(now + 5_000, now), 'now', 'a clock ahead of ours');
    assert.equal(formatAgo(now - 999, now), 'now');
    assert.equal(formatAgo(now - 12_400, now), '12s ago');
    assert.equal(formatAgo(now - 3 * 60_000 - 59_000, now), '3m ago');
    assert.equal(formatAgo(now - 2 * 3_600_000, now), '2h ago');
    assert.equal(formatAgo(now - 4 * 86_400_000, now), '4d ago');
  });

  it('formats durations', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(42_400), '42s');
    assert.equal(formatDuration(185_000), '3m 05s');
    assert.equal(formatDuration(3_720_000), '1h 02m');
  });

  it('formats player offsets', () => {
    assert.equal(formatClock(7_900), '0:07');
    assert.equal(formatClock(750_000), '12:30');
    assert.equal(formatClock(3_723_000), '1:02:03');
  });

  it('formats bytes', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 * 1024), '3.0 MiB');
  });

  it('round-trips datetime-local values in local time', () => {
    const ms = new Date(2024, 4, 1, 14, 3).getTime();
    assert.equal(toDateTimeLocal(ms), '2024-05-01T14:03');
    assert.equal(fromDateTimeLocal('2024-05-01T14:03'), ms);
    assert.equal(fromDateTimeLocal('2024-05-01T14:03:30'), ms + 30_000);
    assert.equal(fromDateTimeLocal(''), null);
    assert.equal(fromDateTimeLocal('yesterday'), null);
  });
});
