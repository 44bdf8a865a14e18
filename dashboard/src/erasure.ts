import { erasePerson, getErasure } from './api';
import { h, setChildren } from './dom';
import { errorText } from './errors';
import { formatCount, formatDateTime } from './format';
import type { EraseRequest } from './types';
import { confirmButton, statusLine } from './widgets';

/** How often a pending erasure's receipt is read again. */
const RECEIPT_POLL_MS = 1000;

/**
 * An erasure's receipt (PROTOCOL.md §6), read until the job is done: the
 * sessions and objects deleted, and when it finished.
 */
export function erasureReceipt(erasureId: string, signal: AbortSignal): HTMLElement {
  const box = h('p', { class: 'receipt', role: 'status', 'data-testid': 'erasure-receipt' }, 'Erasing…');
  const poll = async () => {
    while (!signal.aborted) {
      try {
        const r = await getErasure(erasureId, { signal });
        const counts = `${formatCount(r.sessions)} sessions, ${formatCount(r.objects)} stored objects deleted`;
        if (r.state === 'done') {
          box.dataset.state = 'done';
          box.textContent = `Erased: ${counts}, finished ${r.finished_at === null ? '' : formatDateTime(r.finished_at)} (receipt ${erasureId}).`;
          return;
        }
        box.textContent = `Erasing… ${counts} so far (receipt ${erasureId}).`;
      } catch (e) {
        if (signal.aborted) return;
        box.className = 'error';
        box.textContent = errorText(e, 'Could not read the receipt');
        return;
      }
      await new Promise((r) => setTimeout(r, RECEIPT_POLL_MS));
    }
  };
  void poll();
  return box;
}

/** A confirmed "erase this person" button that shows the receipt once started. */
export function eraseButton(siteId: number, person: EraseRequest, who: string, signal: AbortSignal, testid: string): HTMLElement {
  const holder = h('div', { class: 'erase' });
  const status = statusLine(`${testid}-status`);
  const start = async () => {
    try {
      const { id } = await erasePerson(siteId, person);
      setChildren(holder, erasureReceipt(id, signal));
    } catch (e) {
      status.error(errorText(e, 'Could not start the erasure'));
    }
  };
  setChildren(
    holder,
    confirmButton(`Erase ${who}`, `Delete every recording of ${who} on this site? This cannot be undone.`, start, testid),
    status.el,
  );
  return holder;
}
