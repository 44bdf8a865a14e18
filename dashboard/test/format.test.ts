/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatAgo,
  formatBytes,
  formatClient,
  formatClock,
  formatDateTime,
  formatDuration,
  formatOffset,
  formatWait,
  fromDateTimeLocal,
  startOfDay,
  toDateTimeLocal,
  zoneAt,
} from '../src/format';

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

  it('writes UTC offsets', () => {
    assert.equal(formatOffset(0), 'UTC');
    assert.equal(formatOffset(120), 'UTC+2');
    assert.equal(formatOffset(-300), 'UTC-5');
    assert.equal(formatOffset(330), 'UTC+5:30');
    assert.equal(formatOffset(-570), 'UTC-9:30');
  });

  it('shows every time with its zone', () => {
    // test/run.mjs runs the tests in Asia/Kolkata (UTC+5:30).
    assert.equal(formatDateTime(Date.UTC(2024, 4, 1, 8, 33, 9)), '2024-05-01 14:03:09 UTC+5:30');
    const ms = new Date(2024, 4, 1, 14, 3, 9).getTime();
    assert.equal(formatDateTime(ms), `2024-05-01 14:03:09 ${zoneAt(ms)}`);
    assert.match(formatDateTime(ms), / UTC([+-]\d{1,2}(:\d{2})?)?$/);
    assert.equal(zoneAt(ms), formatOffset(-new Date(ms).getTimezoneOffset()));
  });

  it('finds the start of the local day', () => {
    const ms = new Date(2024, 4, 1, 14, 3, 9).getTime();
    assert.equal(startOfDay(ms), new Date(2024, 4, 1).getTime());
    assert.equal(startOfDay(startOfDay(ms)), startOfDay(ms));
  });

  it('names the browser and OS, leaving out what is unknown', () => {
    assert.equal(formatClient('Chrome', 'Linux', 'desktop'), 'Chrome · Linux');
    assert.equal(formatClient('Safari', 'UNKNOWN', 'mobile'), 'Safari');
    assert.equal(formatClient('UNKNOWN', 'UNKNOWN', 'mobile'), 'mobile');
    assert.equal(formatClient('', '', 'unknown'), 'unknown');
    assert.equal(formatClient('', ''), 'unknown');
  });

  it('says how long to wait', () => {
    assert.equal(formatWait(1), '1 second');
    assert.equal(formatWait(30), '30 seconds');
    assert.equal(formatWait(60), '1 minute');
    assert.equal(formatWait(61), '2 minutes');
    assert.equal(formatWait(900), '15 minutes');
    assert.equal(formatWait(7200), '2 hours');
    assert.equal(formatWait(0), '1 second');
  });
});
