/**
 * A tiny element builder. Text always goes in as text nodes and attributes through setAttribute, never
 * through innerHTML: the page works under Trusted Types, and nothing the API returns can become markup.
 */

type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined;
type Listeners = Partial<{ [K in keyof HTMLElementEventMap]: (event: HTMLElementEventMap[K]) => void }>;
/** Attributes (`false`, null and undefined leave one out, `true` sets it empty) and `on`: event listeners. */
type Attrs = { on?: Listeners; [name: string]: AttrValue | Listeners };

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'on' || value === null || value === undefined || value === false || typeof value === 'object') continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [type, listener] of Object.entries(attrs.on ?? {})) element.addEventListener(type, listener as EventListener);
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

let idCounter = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix: string): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A titled panel (a labelled region). */
export function panel(title: string, options: { id?: string; className?: string; actions?: Child[] } = {}, ...body: Child[]): HTMLElement {
  const headingId = uid('panel');
  return h(
    'section',
    { class: `panel ${options.className ?? ''}`.trim(), 'aria-labelledby': headingId, id: options.id },
    h('header', { class: 'panel-header' }, h('h2', { id: headingId }, title), ...(options.actions ?? [])),
    ...body,
  );
}
