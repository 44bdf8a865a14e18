/**
 * Notes on a session (PROTOCOL.md §7): the API calls and a panel that lists
 * a session's notes (each jumping the player to its moment) and, for members
 * and above, adds one at the player's current moment.
 *
 * A note's `t` is ms from the session's `started_at`: the unit of the player's
 * offset and of the replay link `#/sessions/{id}?t=MS`. The panel knows no
 * player: the page that mounts it gives `now()` and `seek()`, and hears of
 * every change of the list through `onChange` (to draw timeline markers).
 */
import { ApiError, request } from './api';
import { h, setChildren } from './dom';
import { formatClock } from './format';
import type { Note, NoteList } from './types';
import { MAX_NOTE_T_MS, NOTE_TEXT_MAX_BYTES } from './types';

const notesPath = (sessionId: string) => `/api/v1/sessions/${encodeURIComponent(sessionId)}/notes`;

/** `GET /api/v1/sessions/{id}/notes`: the session's notes, by `t`. */
export async function listNotes(sessionId: string, options?: { signal?: AbortSignal }): Promise<Note[]> {
  const response = await request(notesPath(sessionId), options);
  return sortNotes(((await response.json()) as NoteList).notes);
}

/**
 * `POST /api/v1/sessions/{id}/notes` (member and above): adds a note at `t`
 * (ms from the session's start; rounded, and kept within the bounds the
 * server takes). 400 `bad_request` for a text out of bounds, 409 `conflict`
 * when the session holds its most notes, 403 `forbidden` for a viewer.
 */
export async function addNote(sessionId: string, t: number, text: string): Promise<Note> {
  const response = await request(notesPath(sessionId), { method: 'POST', body: { t: noteTime(t), text } });
  return (await response.json()) as Note;
}

/** A player offset as a note's `t`: whole ms, 0 to `MAX_NOTE_T_MS`. */
export function noteTime(ms: number): number {
  if (!Number.isFinite(ms)) return 0;
  return Math.min(MAX_NOTE_T_MS, Math.max(0, Math.round(ms)));
}

/** By `t`, then in the order they were added (the server's order too). */
export function sortNotes(notes: readonly Note[]): Note[] {
  return [...notes].sort((a, b) => a.t - b.t || a.id - b.id);
}

/** Why `text` cannot be a note, said for people; null when it can. The server checks again. */
export function noteProblem(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === '') return 'Write something first.';
  const bytes = new TextEncoder().encode(trimmed).length;
  if (bytes > NOTE_TEXT_MAX_BYTES) return `A note is at most ${NOTE_TEXT_MAX_BYTES} bytes (this one is ${bytes}).`;
  return null;
}

/** What the page that mounts the panel gives it. */
export interface NotesOptions {
  sessionId: string;
  /** The player's current moment, ms from the session's start. */
  now(): number;
  /** Moves the player to `t`, ms from the session's start. */
  seek(t: number): void;
  /** Every time the list changes (loaded, a note added), by `t`. */
  onChange(notes: Note[]): void;
  /** Members and above add notes; viewers only read them. */
  canWrite: boolean;
}

/** How often the "Add note at m:ss" label follows the player while nothing is typed (ms). */
export const LABEL_REFRESH_MS = 500;

/**
 * Renders the session's notes into `el` and, when `canWrite`, a form that
 * adds one. The moment of a new note is taken when the person starts typing
 * (the player may go on meanwhile) and shown on the button; with nothing
 * typed, the button follows the player. Resolves once the list is loaded
 * (or its failure shown).
 */
export async function mountNotes(el: HTMLElement, opts: NotesOptions): Promise<void> {
  let notes: Note[] = [];
  /** The moment being written about, once typing started; null: follow `now()`. */
  let pinned: number | null = null;
  const list = h('ol', { class: 'notes-list', 'data-testid': 'notes-list' });
  const count = h('span', { class: 'muted', 'data-testid': 'notes-count' });
  const status = h('p', { class: 'muted', role: 'status', 'data-testid': 'notes-status' });
  status.hidden = true;
  const say = (text: string, kind: 'muted' | 'error') => {
    status.className = kind;
    status.textContent = text;
    status.hidden = text === '';
  };

  const render = () => {
    count.textContent = notes.length === 0 ? '' : `(${notes.length})`;
    if (notes.length === 0) {
      setChildren(list, h('li', { class: 'muted', 'data-testid': 'notes-empty' }, 'No notes yet.'));
      return;
    }
    setChildren(
      list,
      notes.map((note) =>
        h(
          'li',
          null,
          h(
            'button',
            {
              type: 'button',
              class: 'note',
              'data-testid': 'note',
              'data-t': note.t,
              title: `Go to ${formatClock(note.t)}`,
              onclick: () => opts.seek(note.t),
            },
            h('span', { class: 'note-time', 'data-testid': 'note-time' }, formatClock(note.t)),
            h('span', { class: 'note-author muted', 'data-testid': 'note-author' }, note.author),
            h('span', { class: 'note-text', 'data-testid': 'note-text' }, note.text),
          ),
        ),
      ),
    );
  };

  const changed = (next: Note[]) => {
    notes = sortNotes(next);
    render();
    opts.onChange([...notes]);
  };

  const children: HTMLElement[] = [h('h3', null, 'Notes ', count), list];
  if (opts.canWrite) children.push(noteForm());
  children.push(status);
  setChildren(el, children);
  render();

  function noteForm(): HTMLElement {
    const text = h('textarea', {
      class: 'note-input',
      rows: 2,
      maxlength: NOTE_TEXT_MAX_BYTES,
      placeholder: 'What happens here?',
      'aria-label': 'Note',
      'data-testid': 'note-input',
    });
    const submit = h('button', { type: 'submit', 'data-testid': 'note-add' });
    const moment = () => noteTime(pinned ?? opts.now());
    const label = () => {
      submit.textContent = `Add note at ${formatClock(moment())}`;
    };
    const timer = setInterval(() => {
      // The page replaced the panel: stop following the player.
      if (!el.isConnected) clearInterval(timer);
      else if (pinned === null) label();
    }, LABEL_REFRESH_MS);
    text.addEventListener('input', () => {
      if (text.value.trim() === '') pinned = null;
      else if (pinned === null) pinned = noteTime(opts.now());
      label();
    });
    text.addEventListener('keydown', (event) => {
      const key = event as KeyboardEvent;
      // The player's shortcuts (space, arrows, digits) are not for this box.
      key.stopPropagation();
      if (key.key === 'Enter' && (key.ctrlKey || key.metaKey)) {
        key.preventDefault();
        void save();
      }
    });
    const save = async () => {
      if (submit.disabled) return;
      const problem = noteProblem(text.value);
      if (problem !== null) {
        say(problem, 'error');
        return;
      }
      const t = moment();
      submit.disabled = true;
      say('Saving…', 'muted');
      try {
        const note = await addNote(opts.sessionId, t, text.value);
        text.value = '';
        pinned = null;
        say('', 'muted');
        changed([...notes, note]);
      } catch (e) {
        say(e instanceof ApiError ? `Could not add the note: ${e.message}` : 'Could not add the note.', 'error');
      } finally {
        submit.disabled = false;
        label();
      }
    };
    label();
    return h(
      'form',
      {
        class: 'note-form',
        'data-testid': 'note-form',
        onsubmit: (event: Event) => {
          event.preventDefault();
          void save();
        },
      },
      text,
      submit,
    );
  }

  say('Loading notes…', 'muted');
  try {
    const loaded = await listNotes(opts.sessionId);
    say('', 'muted');
    changed(loaded);
  } catch (e) {
    say(e instanceof ApiError ? `Could not load the notes: ${e.message}` : 'Could not load the notes.', 'error');
  }
}
