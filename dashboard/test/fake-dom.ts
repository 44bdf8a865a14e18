/// <reference types="node" />
// The little of the DOM that `dom.ts` and the panels built with it use:
// elements with attributes, children, text, listeners and the properties
// forms read (value, disabled, hidden). Enough to mount a panel in node and
// click through it; not a browser (no layout, no CSS, no bubbling). Not a
// test file itself (run.mjs only runs *.test.ts).

export class FakeText {
  parentNode: FakeElement | null = null;
  constructor(public data: string) {}
  get textContent(): string {
    return this.data;
  }
}

type Listener = (event: FakeEvent) => void;

export interface FakeEvent {
  type: string;
  key?: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  defaultPrevented: boolean;
  propagationStopped: boolean;
  preventDefault(): void;
  stopPropagation(): void;
}

export function fakeEvent(type: string, init: Partial<FakeEvent> = {}): FakeEvent {
  const event: FakeEvent = {
    type,
    defaultPrevented: false,
    propagationStopped: false,
    preventDefault() {
      event.defaultPrevented = true;
    },
    stopPropagation() {
      event.propagationStopped = true;
    },
    ...init,
  };
  return event;
}

export class FakeElement {
  parentNode: FakeElement | null = null;
  childNodes: (FakeElement | FakeText)[] = [];
  readonly attributes = new Map<string, string>();
  private readonly listeners = new Map<string, Listener[]>();
  value = '';
  disabled = false;
  hidden = false;
  /** Whether the element is in the page; a test sets it false to "replace" a panel. */
  connected = true;

  constructor(readonly tagName: string) {}

  get isConnected(): boolean {
    return this.parentNode === null ? this.connected : this.parentNode.isConnected;
  }

  get className(): string {
    return this.attributes.get('class') ?? '';
  }

  set className(value: string) {
    this.attributes.set('class', value);
  }

  get textContent(): string {
    return this.childNodes.map((c) => c.textContent).join('');
  }

  set textContent(value: string) {
    this.replaceChildren(new FakeText(value));
  }

  setAttribute(name: string, value: string): void {
    if (name === 'hidden') this.hidden = true;
    else if (name === 'disabled') this.disabled = true;
    this.attributes.set(name, value);
  }

  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }

  appendChild<T extends FakeElement | FakeText>(child: T): T {
    child.parentNode = this;
    this.childNodes.push(child);
    return child;
  }

  replaceChildren(...children: (FakeElement | FakeText)[]): void {
    for (const c of this.childNodes) c.parentNode = null;
    this.childNodes = [];
    for (const c of children) this.appendChild(c);
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  /** Runs the element's listeners of the event's type; returns the event. */
  dispatch(event: FakeEvent): FakeEvent {
    for (const l of this.listeners.get(event.type) ?? []) l(event);
    return event;
  }

  click(): void {
    this.dispatch(fakeEvent('click'));
  }

  /** Every element below this one (depth first) whose `data-testid` is `id`. */
  byTestId(id: string): FakeElement[] {
    const out: FakeElement[] = [];
    const walk = (e: FakeElement) => {
      for (const c of e.childNodes) {
        if (c instanceof FakeElement) {
          if (c.getAttribute('data-testid') === id) out.push(c);
          walk(c);
        }
      }
    };
    walk(this);
    return out;
  }

  /** The one element with `data-testid` `id`; throws unless exactly one. */
  one(id: string): FakeElement {
    const found = this.byTestId(id);
    if (found.length !== 1) throw new Error(`${found.length} elements with data-testid=${id}`);
    return found[0];
  }
}

/** Installs a `document` that makes fake elements; returns a fresh root. */
export function installFakeDocument(): FakeElement {
  (globalThis as unknown as { document: unknown }).document = {
    createElement: (tag: string) => new FakeElement(tag),
    createTextNode: (text: string) => new FakeText(text),
  };
  return new FakeElement('div');
}
