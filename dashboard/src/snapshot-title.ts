import { openEvents } from './api';
import { readEvents } from './ndjson';
import { EventType, type RRwebEvent } from './types';

/** rrweb-snapshot `NodeType` values read here. */
const ELEMENT = 2;
const TEXT = 3;
/** Longest tab label, characters. */
const MAX_TITLE = 40;

interface SerializedNode {
  type?: number;
  tagName?: string;
  textContent?: string;
  childNodes?: SerializedNode[];
}

/** The `<title>` text of a full snapshot event's page, '' when it has none. */
export function snapshotTitle(event: RRwebEvent): string {
  if (event.type !== EventType.FullSnapshot) return '';
  const root = (event.data as { node?: SerializedNode } | undefined)?.node;
  const stack: SerializedNode[] = root ? [root] : [];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.type === ELEMENT && node.tagName?.toLowerCase() === 'title') {
      const text = (node.childNodes ?? [])
        .filter((c) => c.type === TEXT)
        .map((c) => c.textContent ?? '')
        .join('')
        .replace(/\s+/g, ' ')
        .trim();
      return text.length > MAX_TITLE ? `${text.slice(0, MAX_TITLE - 1)}…` : text;
    }
    // Children in document order: the head (and its title) comes first.
    const children = node.childNodes ?? [];
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return '';
}

/**
 * The title of a tab's first page: streams the tab's events until its first
 * full snapshot, then stops. '' when there is none or it fails.
 */
export async function firstTitle(sessionId: string, tab: string, signal: AbortSignal): Promise<string> {
  const stop = new AbortController();
  const abort = () => stop.abort();
  signal.addEventListener('abort', abort, { once: true });
  let title: string | null = null;
  try {
    const response = await openEvents(sessionId, tab, { signal: stop.signal });
    if (!response.body) return '';
    await readEvents(response.body, (events) => {
      if (title !== null) return;
      const snapshot = events.find((e) => e.type === EventType.FullSnapshot);
      if (snapshot) {
        title = snapshotTitle(snapshot);
        stop.abort();
      }
    });
  } catch {
    // Stopped on purpose once found, or failed: the label falls back.
  } finally {
    signal.removeEventListener('abort', abort);
  }
  return title ?? '';
}
