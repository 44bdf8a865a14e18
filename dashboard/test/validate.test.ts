/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MIN_PASSWORD_CHARS,
  checkEmail,
  checkName,
  checkNewPassword,
  parseLines,
  checkSelector,
  parseDays,
  parseOrigins,
  parseSamplePercent,
} from '../src/validate';

describe('validate', () => {
  it('takes emails and says what is wrong with others', () => {
    assert.deepEqual(checkEmail('  ann@example.com '), { ok: true, value: 'ann@example.com' });
    assert.deepEqual(checkEmail(''), { ok: false, error: 'Enter an email address.' });
    assert.equal(checkEmail('ann').ok, false);
    assert.equal(checkEmail('ann @example.com').ok, false);
  });

  it('wants passwords of at least 10 characters, typed the same twice', () => {
    assert.equal(MIN_PASSWORD_CHARS, 10);
    const nine = 'a'.repeat(MIN_PASSWORD_CHARS - 1);
    const ten = 'a'.repeat(MIN_PASSWORD_CHARS);
    const short = checkNewPassword(nine);
    assert.ok(!short.ok && /at least 10 characters/.test(short.error));
    assert.deepEqual(checkNewPassword(ten), { ok: true, value: ten });
    assert.deepEqual(checkNewPassword(ten, ten), { ok: true, value: ten });
    assert.equal(checkNewPassword(ten, `${ten}x`).ok, false);
    // Characters, not UTF-16 units: nine emoji are nine characters.
    assert.equal(checkNewPassword('😀'.repeat(9)).ok, false);
    assert.equal(checkNewPassword('😀'.repeat(10)).ok, true);
  });

  it('wants a name', () => {
    assert.deepEqual(checkName(' Ann '), { ok: true, value: 'Ann' });
    assert.equal(checkName('   ').ok, false);
  });

  it('parses origins one per line, refusing paths and other schemes', () => {
    assert.deepEqual(parseOrigins(''), { ok: true, value: [] });
    assert.deepEqual(parseOrigins('https://shop.example.com\nhttp://localhost:8080/, https://shop.example.com'), {
      ok: true,
      value: ['https://shop.example.com', 'http://localhost:8080'],
    });
    assert.deepEqual(parseOrigins('HTTPS://Shop.Example.com:443'), { ok: true, value: ['https://shop.example.com'] });
    const path = parseOrigins('https://shop.example.com/cart');
    assert.ok(!path.ok && path.error.includes('https://shop.example.com'));
    assert.equal(parseOrigins('shop.example.com').ok, false);
    assert.equal(parseOrigins('ftp://shop.example.com').ok, false);
    assert.equal(parseOrigins('https://shop.example.com?x=1').ok, false);
  });

  it('parses days: blank is null, whole numbers from 1', () => {
    assert.deepEqual(parseDays('', 'Retention'), { ok: true, value: null });
    assert.deepEqual(parseDays(' 30 ', 'Retention'), { ok: true, value: 30 });
    assert.deepEqual(parseDays('1', 'Retention'), { ok: true, value: 1 });
    assert.equal(parseDays('0', 'Retention').ok, false);
    assert.equal(parseDays('1.5', 'Retention').ok, false);
    assert.equal(parseDays('-3', 'Retention').ok, false);
  });

  it('parses a sampling percentage into a fraction', () => {
    assert.deepEqual(parseSamplePercent('100'), { ok: true, value: 1 });
    assert.deepEqual(parseSamplePercent('0'), { ok: true, value: 0 });
    assert.deepEqual(parseSamplePercent('12.5'), { ok: true, value: 0.125 });
    assert.equal(parseSamplePercent('100.1').ok, false);
    assert.equal(parseSamplePercent('-1').ok, false);
    assert.equal(parseSamplePercent('half').ok, false);
  });

  it('checks selectors with the given parser', () => {
    const parse = (s: string) => {
      if (s.includes('[[')) throw new Error('bad');
    };
    assert.deepEqual(checkSelector('  ', parse), { ok: true, value: '' });
    assert.deepEqual(checkSelector('.secret, #card', parse), { ok: true, value: '.secret, #card' });
    assert.equal(checkSelector('div[[', parse).ok, false);
  });
});

describe('parseLines', () => {
  it('takes one item per line, trimmed, without blanks or duplicates', () => {
    assert.deepEqual(parseLines(' token \n\npassword\r\ntoken\n', 'x'), { ok: true, value: ['token', 'password'] });
    assert.deepEqual(parseLines('', 'x'), { ok: true, value: [] });
  });

  it('refuses more items than allowed, and says how many', () => {
    const r = parseLines('a\nb\nc', 'Query parameters', { maxItems: 2 });
    assert.deepEqual(r, { ok: false, error: 'Query parameters: at most 2, not 3.' });
    assert.equal(parseLines('a\nb', 'x', { maxItems: 2 }).ok, true);
  });

  it('counts bytes, not characters, against the bound', () => {
    assert.equal(parseLines('éé', 'x', { maxBytes: 4 }).ok, true);
    assert.equal(parseLines('ééé', 'x', { maxBytes: 4 }).ok, false);
  });

  it('refuses control characters', () => {
    assert.equal(parseLines('a\tb', 'x').ok, false);
  });
});
