import { h, replace } from './dom.js';

/**
 * The page's status messages, one slot per concern so that clearing one (the API is back) never hides another
 * (the rate limit still holds): `connection` (offline), `model` (degraded), `rate` (429 countdown), `request`
 * (the last call's error), `info`. Errors are announced assertively (role=alert), the rest politely.
 */

export type StatusSlot = 'connection' | 'model' | 'rate' | 'request' | 'info';
export type StatusKind = 'error' | 'warning' | 'info';

interface Message {
  kind: StatusKind;
  text: string;
}

const order: StatusSlot[] = ['connection', 'model', 'rate', 'request', 'info'];

export class StatusBanner {
  readonly element: HTMLElement;
  private readonly alertRegion: HTMLElement;
  private readonly politeRegion: HTMLElement;
  private readonly messages = new Map<StatusSlot, Message>();

  constructor() {
    this.alertRegion = h('div', { role: 'alert', class: 'banner-region' });
    this.politeRegion = h('div', { role: 'status', class: 'banner-region' });
    this.element = h('div', { class: 'banners' }, this.alertRegion, this.politeRegion);
  }

  set(slot: StatusSlot, kind: StatusKind, text: string): void {
    const current = this.messages.get(slot);
    if (current?.kind === kind && current.text === text) return;
    this.messages.set(slot, { kind, text });
    this.render();
  }

  clear(slot: StatusSlot): void {
    if (this.messages.delete(slot)) this.render();
  }

  get(slot: StatusSlot): Message | undefined {
    return this.messages.get(slot);
  }

  private render(): void {
    const item = (slot: StatusSlot, message: Message) =>
      h('p', { class: `banner banner-${message.kind}`, 'data-slot': slot }, h('span', { class: 'banner-label' }, label(message.kind)), ' ', message.text);
    const errors = order.filter((s) => this.messages.get(s)?.kind === 'error');
    const others = order.filter((s) => this.messages.has(s) && this.messages.get(s)!.kind !== 'error');
    replace(this.alertRegion, ...errors.map((s) => item(s, this.messages.get(s)!)));
    replace(this.politeRegion, ...others.map((s) => item(s, this.messages.get(s)!)));
  }
}

function label(kind: StatusKind): string {
  return kind === 'error' ? 'Error:' : kind === 'warning' ? 'Warning:' : 'Note:';
}
