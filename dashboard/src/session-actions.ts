import { deleteSession, setPinned } from './api';
import { h, setChildren } from './dom';
import { eraseButton } from './erasure';
import { errorText } from './errors';
import type { PageContext } from './page';
import { hashOf, sitePath } from './route';
import type { SessionInfo } from './types';
import { confirmButton, statusLine } from './widgets';

/**
 * What may be done to a recording (PROTOCOL.md §6): pin it past the site's
 * retention (members), delete it, or erase everything of its person on the
 * site (admins). The server decides who may; a refusal shows here.
 */
export function sessionActions(ctx: PageContext, s: SessionInfo): HTMLElement {
  const status = statusLine('session-action-status');
  let pinned = s.pinned;
  const pin = h('button', { type: 'button', 'data-testid': 'session-pin' });
  const label = () => {
    pin.textContent = pinned ? 'Unpin' : 'Pin (keep past retention)';
    pin.dataset.pinned = String(pinned);
  };
  label();
  pin.addEventListener('click', async () => {
    pin.disabled = true;
    try {
      await setPinned(s.id, !pinned);
      pinned = !pinned;
      label();
      status.clear();
    } catch (e) {
      status.error(errorText(e, 'Could not change the pin'));
    } finally {
      pin.disabled = false;
    }
  });
  const remove = confirmButton(
    'Delete recording',
    'Delete this recording for good?',
    async () => {
      try {
        await deleteSession(s.id);
        location.hash = hashOf(sitePath(s.site_id));
      } catch (e) {
        status.error(errorText(e, 'Could not delete the recording'));
      }
    },
    'session-delete',
  );
  const person = s.user_id ? { user_id: s.user_id } : { visitor_id: s.visitor_id };
  const who = s.user_id ? `user ${s.user_id}` : 'this visitor';
  const box = h('section', { class: 'session-actions', 'data-testid': 'session-actions' });
  setChildren(
    box,
    h('h2', null, 'Recording'),
    h('div', { class: 'actions' }, pin, ' ', remove),
    eraseButton(s.site_id, person, who, ctx.signal, 'session-erase'),
    status.el,
  );
  return box;
}
