/// <reference types="node" />
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ApiError } from '../src/api';
import { addNote, listNotes, mountNotes, noteProblem, noteTime, sortNotes } from '../src/notes';
import type { Note } from '../src/types';
import { MAX_NOTE_T_MS, NOTE_TEXT_MAX_BYTES } from '../src/types';
import { FakeElement, fakeEvent, installFakeDocument } from './fake-dom';
import { settle } from './fakes';

interface Call {
  url: string;
  method: string;
  body: unknown;
}

/** A server of one session's notes behind a fake `fetch`; records every call. */
class FakeNotesServer {
  calls: Call[] = [];
  notes: Note[] = [];
  /** The next POST's refusal, if any. */
  refuse: { status: number; error: string; message: string } | null = null;
  private readonly realFetch = globalThis.fetch;

  install(): void {
    this.calls = [];
    this.notes = [];
    this.refuse = null;
    globalThis.fetch = (async (input: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET';
      const body = init?.body === undefined ? undefined : JSON.parse(String(init.body));
      this.calls.push({ url: input, method, body });
      if (method === 'GET') return Response.json({ notes: this.notes });
      if (this.refuse !== null) {
        const { status, error, message } = this.refuse;
        this.refuse = null;
        return Response.json({ error, message }, { status });
      }
      const { t, text } = body as { t: number; text: string };
      const note: Note = {
        id: this.notes.length + 1,
        session_id: 's1',
        t,
        text: text.trim(),
        author: 'ann@example.com',
        created_at: 1_700_000_000_000,
      };
      this.notes.push(note);
      return Response.json(note, { status: 201 });
    }) as typeof fetch;
  }

  uninstall(): void {
    globalThis.fetch = this.realFetch;
  }
}

const note = (id: number, t: number, text = `n${id}`): Note => ({
  id,
  session_id: 's1',
  t,
  text,
  author: 'bob@example.com',
  created_at: 1_700_000_000_000 + id,
});

describe('note helpers', () => {
  it('rounds and bounds a moment to the t the server takes', () => {
    assert.equal(noteTime(1234.6), 1235);
    assert.equal(noteTime(-20), 0);
    assert.equal(noteTime(MAX_NOTE_T_MS + 1), MAX_NOTE_T_MS);
    assert.equal(noteTime(Number.NaN), 0);
  });

  it('orders by t, then as added', () => {
    const sorted = sortNotes([note(3, 500), note(1, 900), note(2, 500)]);
    assert.deepEqual(
      sorted.map((n) => n.id),
      [2, 3, 1],
    );
  });

  it('says why a text cannot be a note, counting bytes after trimming', () => {
    assert.match(noteProblem('   \n') ?? '', /Write something/);
    const longest = 'é'.repeat(NOTE_TEXT_MAX_BYTES / 2);
    assert.equal(noteProblem(`  ${longest}  `), null);
    assert.match(noteProblem(`${longest}x`) ?? '', new RegExp(`at most ${NOTE_TEXT_MAX_BYTES} bytes`));
    assert.equal(noteProblem('fine'), null);
  });
});

describe('the notes API', () => {
  const server = new FakeNotesServer();
  beforeEach(() => server.install());
  afterEach(() => server.uninstall());

  it('lists by t and posts a whole-ms moment', async () => {
    server.notes = [note(1, 900), note(2, 100)];
    const listed = await listNotes('s/1');
    assert.deepEqual(
      listed.map((n) => n.t),
      [100, 900],
    );
    assert.equal(server.calls[0].url, '/api/v1/sessions/s%2F1/notes');
    const added = await addNote('s1', 4999.7, 'hi');
    assert.equal(added.t, 5000);
    assert.deepEqual(server.calls[1], { url: '/api/v1/sessions/s1/notes', method: 'POST', body: { t: 5000, text: 'hi' } });
  });

  it('rejects with the server code', async () => {
    server.refuse = { status: 409, error: 'conflict', message: 'a session holds at most 200 notes' };
    await assert.rejects(addNote('s1', 1, 'x'), (e: unknown) => e instanceof ApiError && e.status === 409 && e.code === 'conflict');
  });
});

describe('mountNotes', () => {
  const server = new FakeNotesServer();
  let root: FakeElement;
  let now: number;
  let seeks: number[];
  let changes: Note[][];
  beforeEach(() => {
    server.install();
    root = installFakeDocument();
    now = 0;
    seeks = [];
    changes = [];
  });
  afterEach(() => {
    server.uninstall();
    // Stops the label's timer.
    root.connected = false;
  });

  const mount = (canWrite: boolean) =>
    mountNotes(root as unknown as HTMLElement, {
      sessionId: 's1',
      now: () => now,
      seek: (t) => seeks.push(t),
      onChange: (notes) => changes.push(notes),
      canWrite,
    });

  const rows = () =>
    root.byTestId('note').map((row) => [
      row.one('note-time').textContent,
      row.one('note-author').textContent,
      row.one('note-text').textContent,
    ]);

  it('lists the notes by time, and a click seeks to the note', async () => {
    server.notes = [note(1, 125_000, 'checkout fails'), note(2, 7_000, 'arrives')];
    await mount(false);
    assert.deepEqual(rows(), [
      ['0:07', 'bob@example.com', 'arrives'],
      ['2:05', 'bob@example.com', 'checkout fails'],
    ]);
    assert.equal(root.one('notes-count').textContent, '(2)');
    assert.deepEqual(
      changes.map((c) => c.map((n) => n.id)),
      [[2, 1]],
    );
    root.byTestId('note')[1].click();
    assert.deepEqual(seeks, [125_000]);
    // A viewer gets no form.
    assert.equal(root.byTestId('note-form').length, 0);
  });

  it('says when there are none', async () => {
    await mount(true);
    assert.equal(root.one('notes-empty').textContent, 'No notes yet.');
    assert.deepEqual(changes, [[]]);
  });

  it('adds a note at the moment typing started, and tells the page', async () => {
    server.notes = [note(1, 60_000)];
    now = 3_000;
    await mount(true);
    const input = root.one('note-input');
    const add = root.one('note-add');
    assert.equal(add.textContent, 'Add note at 0:03');
    now = 65_400;
    input.value = 'the button does nothing';
    input.dispatch(fakeEvent('input'));
    assert.equal(add.textContent, 'Add note at 1:05');
    // The player goes on while the person types: the moment stays.
    now = 80_000;
    input.value += '!';
    input.dispatch(fakeEvent('input'));
    assert.equal(add.textContent, 'Add note at 1:05');
    const submit = root.one('note-form').dispatch(fakeEvent('submit'));
    assert.ok(submit.defaultPrevented);
    await settle();
    await settle();
    assert.deepEqual(server.calls.at(-1), {
      url: '/api/v1/sessions/s1/notes',
      method: 'POST',
      body: { t: 65_400, text: 'the button does nothing!' },
    });
    assert.deepEqual(
      rows().map((r) => r[0]),
      ['1:00', '1:05'],
    );
    assert.equal(input.value, '', 'the box is emptied');
    assert.equal(add.textContent, 'Add note at 1:20', 'and follows the player again');
    assert.deepEqual(
      changes.map((c) => c.map((n) => n.t)),
      [[60_000], [60_000, 65_400]],
    );
  });

  it('keeps the player shortcuts out of the box and adds on Ctrl+Enter', async () => {
    await mount(true);
    const input = root.one('note-input');
    const space = input.dispatch(fakeEvent('keydown', { key: ' ' }));
    assert.ok(space.propagationStopped);
    assert.ok(!space.defaultPrevented, 'a space is typed');
    input.value = 'quick';
    input.dispatch(fakeEvent('input'));
    input.dispatch(fakeEvent('keydown', { key: 'Enter', ctrlKey: true }));
    await settle();
    await settle();
    assert.equal(server.notes.length, 1);
    assert.equal(root.byTestId('note').length, 1);
  });

  it('refuses an empty note without asking the server, and shows the server refusal', async () => {
    await mount(true);
    const calls = server.calls.length;
    root.one('note-input').value = '   ';
    root.one('note-form').dispatch(fakeEvent('submit'));
    await settle();
    assert.equal(server.calls.length, calls);
    assert.match(root.one('notes-status').textContent, /Write something/);
    assert.equal(root.one('notes-status').className, 'error');

    server.refuse = { status: 409, error: 'conflict', message: 'a session holds at most 200 notes' };
    root.one('note-input').value = 'one more';
    root.one('note-form').dispatch(fakeEvent('submit'));
    await settle();
    await settle();
    assert.match(root.one('notes-status').textContent, /at most 200 notes/);
    assert.equal(root.one('note-input').value, 'one more', 'the text is kept to try again');
    assert.equal(root.one('note-add').disabled, false);
    assert.equal(root.byTestId('note').length, 0);
  });
});
