import { ROLE_HELP } from './access';
import { h, setChildren } from './dom';
import type { Badge } from './signals';
import type { Role, SiteInfo } from './types';

/**
 * Controls the admin pages share: a copy button, a role picker, a site
 * scope picker, a button that asks again before it acts, and a status line.
 */

/** Copies `text()` to the clipboard; says "Copied" for a moment. */
export function copyButton(text: () => string, testid: string, label = 'Copy'): HTMLButtonElement {
  const button = h('button', { type: 'button', 'data-testid': testid }, label);
  button.addEventListener('click', async () => {
    const done = (word: string) => {
      button.textContent = word;
      setTimeout(() => (button.textContent = label), 1500);
    };
    try {
      await navigator.clipboard.writeText(text());
      done('Copied');
    } catch {
      // No clipboard (an http page not on localhost, or refused): select
      // the text next to the button for the person to copy.
      const field = button.parentElement?.querySelector<HTMLInputElement | HTMLTextAreaElement>('input, textarea');
      field?.select();
      done('Press Ctrl+C');
    }
  });
  return button;
}

/** A `<select>` of `roles`, each with what it may do as its title. */
export function roleSelect(roles: readonly Role[], selected: Role, testid: string): HTMLSelectElement {
  const select = h('select', { 'data-testid': testid });
  for (const role of roles) {
    select.append(h('option', { value: role, title: ROLE_HELP[role], selected: role === selected }, role));
  }
  return select;
}

/**
 * "All sites" or a chosen few: a checkbox for all, and one per site shown
 * when it is unchecked. `value()` is null for all sites.
 */
export function sitesPicker(
  sites: readonly SiteInfo[],
  selected: number[] | null,
  testid: string,
): { el: HTMLElement; value(): number[] | null } {
  const all = h('input', { type: 'checkbox', checked: selected === null, 'data-testid': `${testid}-all` });
  const boxes = sites.map((site) =>
    h('input', {
      type: 'checkbox',
      value: site.id,
      'data-site-id': site.id,
      checked: selected !== null && selected.includes(site.id),
    }),
  );
  const list = h(
    'span',
    { class: 'site-choices' },
    sites.map((site, i) => h('label', { class: 'check' }, boxes[i], site.name)),
  );
  list.hidden = selected === null;
  all.addEventListener('change', () => (list.hidden = all.checked));
  return {
    el: h('span', { class: 'sites-picker', 'data-testid': testid }, h('label', { class: 'check' }, all, 'All sites'), list),
    value: () => (all.checked ? null : boxes.filter((b) => b.checked).map((b) => Number(b.value))),
  };
}

/** A button that asks "Sure?" in place before it runs `action`. */
export function confirmButton(label: string, question: string, action: () => Promise<void> | void, testid: string): HTMLElement {
  const holder = h('span', { class: 'confirm' });
  const first = h('button', { type: 'button', class: 'danger', 'data-testid': testid }, label);
  const ask = () => {
    const yes = h('button', { type: 'button', class: 'danger', 'data-testid': `${testid}-confirm` }, 'Yes');
    const no = h('button', { type: 'button', class: 'link' }, 'Cancel');
    no.addEventListener('click', () => setChildren(holder, first));
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        await action();
      } finally {
        yes.disabled = false;
        setChildren(holder, first);
      }
    });
    setChildren(holder, h('span', { class: 'question' }, question), ' ', yes, ' ', no);
  };
  first.addEventListener('click', ask);
  setChildren(holder, first);
  return holder;
}

/** A line for loading, done and error messages of a page or a form. */
export function statusLine(testid: string, text = ''): { el: HTMLElement; info(t: string): void; error(t: string): void; clear(): void } {
  const el = h('p', { class: 'muted', role: 'status', 'data-testid': testid, hidden: text === '' }, text);
  return {
    el,
    info: (t) => {
      el.className = 'muted';
      el.textContent = t;
      el.hidden = false;
    },
    error: (t) => {
      el.className = 'error';
      el.textContent = t;
      el.hidden = false;
    },
    clear: () => {
      el.hidden = true;
    },
  };
}

/**
 * Signal badges (`signals.ts`): `3 rage clicks`, `1 failed request`, ...;
 * each carries `data-signal` and `data-count` for tests and styles. A muted
 * dash when there are none.
 */
export function badgeList(badges: readonly Badge[]): HTMLElement {
  if (badges.length === 0) return h('span', { class: 'muted' }, '—');
  return h(
    'span',
    { class: 'badges' },
    ...badges.map((b) =>
      h(
        'span',
        { class: `badge signal ${b.kind}`, title: b.title, 'data-testid': 'signal-badge', 'data-signal': b.kind, 'data-count': b.count },
        b.label,
      ),
    ),
  );
}
