/**
 * The replay's keyboard shortcuts: space plays or pauses, ← and → move 5 s,
 * 1 to 4 set the speed to 1x, 2x, 4x and 8x. None applies while typing in a
 * field, nor with Ctrl, Alt or Meta held (the browser's own shortcuts).
 */

/** How far an arrow key moves the player, ms. */
export const SEEK_STEP_MS = 5000;
/** The speed of keys 1, 2, 3 and 4. */
export const KEY_SPEEDS = [1, 2, 4, 8] as const;

export type Shortcut = { kind: 'toggle' } | { kind: 'seek'; deltaMs: number } | { kind: 'speed'; speed: number };

/** What the key does, or null. `target` is the event's target element (or null). */
export function shortcutFor(
  key: { key: string; ctrlKey?: boolean; altKey?: boolean; metaKey?: boolean },
  target: { closest(selector: string): unknown } | null,
): Shortcut | null {
  if (key.ctrlKey || key.altKey || key.metaKey) return null;
  if (target?.closest('input, textarea, select, [contenteditable]:not([contenteditable="false"])')) return null;
  switch (key.key) {
    case ' ':
      // Space on a focused button or link presses it.
      if (target?.closest('button, a')) return null;
      return { kind: 'toggle' };
    case 'ArrowLeft':
      return { kind: 'seek', deltaMs: -SEEK_STEP_MS };
    case 'ArrowRight':
      return { kind: 'seek', deltaMs: SEEK_STEP_MS };
    case '1':
    case '2':
    case '3':
    case '4':
      return { kind: 'speed', speed: KEY_SPEEDS[Number(key.key) - 1]! };
    default:
      return null;
  }
}

/** Shortcuts as the footer of the player lists them. */
export const SHORTCUT_HELP = 'Space play/pause · ←/→ 5 s · 1–4 speed';
