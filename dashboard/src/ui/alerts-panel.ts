import type { ServerAlertsState } from '../alert-sources.js';
import type { Alert, AlertFeed } from '../alerts.js';
import { heldBackMeta, heldBackText, type HeldBackFeed, type HeldBackWindow } from '../held-back.js';
import { clockTime, predicted, withUnit } from '../format.js';
import { h, panel, replace } from './dom.js';

const sourceNotes: Record<ServerAlertsState, string> = {
  connecting: 'Connecting to the server’s alert stream…',
  stream: 'Live: server alerts stream in, plus alerts raised by predictions made here.',
  polling: 'Server alerts are checked every 10 s, plus alerts raised by predictions made here.',
  unavailable: 'Alerts raised by predictions made here (this API has no alert stream).',
};

/** Recent alerts, newest first; a polite live region announces each new one. */
export class AlertsPanel {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly empty: HTMLElement;
  private readonly note: HTMLElement;
  private readonly count: HTMLElement;
  private readonly announcer: HTMLElement;
  private readonly unsubscribe: () => void;
  private seen = new Set<string>();
  private readonly heldBack: HTMLElement;
  private readonly unsubscribeHeld: () => void;

  constructor(
    private readonly feed: AlertFeed,
    private readonly unit: string | undefined,
    held: HeldBackFeed,
  ) {
    // What the plant's alert cap held back: a silent feed is not an all-clear. Announced politely as it changes.
    this.heldBack = h('div', { class: 'held-back', id: 'alerts-held-back', role: 'status', 'aria-live': 'polite', hidden: true });
    // Scrolls when long: focusable so keyboard users can scroll it too.
    this.list = h('ol', { class: 'alert-list', id: 'alert-list', tabindex: '0', 'aria-label': 'Alerts, newest first' });
    this.empty = h('p', { class: 'muted', id: 'alerts-empty' }, 'No alerts. Predictions outside the alert band appear here.');
    this.note = h('p', { class: 'muted small', id: 'alerts-source' }, sourceNotes.connecting);
    this.count = h('span', { class: 'count', id: 'alert-count', 'aria-label': '0 alerts' }, '0');
    this.announcer = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
    const clear = h('button', { type: 'button', class: 'small-button', on: { click: () => this.feed.clear() } }, 'Clear');
    this.element = panel('Recent alerts', { id: 'alerts-panel', actions: [this.count, clear] }, this.note, this.heldBack, this.empty, this.list, this.announcer);
    this.unsubscribe = feed.subscribe((alerts) => this.render(alerts));
    this.unsubscribeHeld = held.subscribe((windows) => this.renderHeldBack(windows));
  }

  private renderHeldBack(windows: readonly HeldBackWindow[]): void {
    // The newest five: two days of 15-minute windows would fill the panel.
    const shown = windows.slice(0, 5);
    this.heldBack.hidden = shown.length === 0;
    replace(
      this.heldBack,
      ...shown.map((w) =>
        h(
          'div',
          { class: `cap-notice${w.current ? ' cap-current' : ''}`, 'data-plant': w.plant ?? '', 'data-start': new Date(w.start).toISOString(), 'data-held': w.held ?? '' },
          h('p', { class: 'cap-text' }, h('strong', {}, 'Held back: '), heldBackText(w)),
          h('p', { class: 'alert-meta' }, heldBackMeta(w)),
        ),
      ),
      windows.length > shown.length ? h('p', { class: 'muted small' }, `and ${windows.length - shown.length} earlier window${windows.length - shown.length === 1 ? '' : 's'}`) : null,
    );
  }

  setSourceState(state: ServerAlertsState): void {
    this.note.textContent = sourceNotes[state];
  }

  destroy(): void {
    this.unsubscribe();
    this.unsubscribeHeld();
  }

  private render(alerts: readonly Alert[]): void {
    this.empty.hidden = alerts.length > 0;
    this.count.textContent = String(alerts.length);
    this.count.setAttribute('aria-label', `${alerts.length} alert${alerts.length === 1 ? '' : 's'}`);
    replace(this.list, ...alerts.map((a) => this.item(a)));
    const fresh = alerts.filter((a) => !this.seen.has(a.id));
    for (const a of alerts) this.seen.add(a.id);
    if (fresh[0]) this.announcer.textContent = `New alert: ${this.summary(fresh[0])}`;
  }

  private summary(alert: Alert): string {
    const value = withUnit(predicted(alert.prediction), this.unit);
    if (alert.kind === 'resolved') return `back inside the alert band (prediction ${value})`;
    const threshold = Number.isFinite(alert.threshold)
      ? ` the alert ${alert.direction === 'below' ? 'minimum' : 'maximum'} ${withUnit(String(alert.threshold), this.unit)}`
      : ' the alert band';
    return `prediction ${value} is ${alert.direction}${threshold}`;
  }

  private item(alert: Alert): HTMLElement {
    const inputs = alert.inputs ? Object.entries(alert.inputs).map(([k, v]) => `${k} ${v}`).join(', ') : '';
    const title = alert.kind === 'resolved' ? 'Resolved' : alert.direction === 'below' ? 'Low' : 'High';
    return h(
      'li',
      { class: `alert-item alert-${alert.kind === 'resolved' ? 'resolved' : alert.direction}`, 'data-source': alert.source, 'data-kind': alert.kind, 'data-id': alert.id },
      h('p', { class: 'alert-title' }, h('strong', {}, title), alert.severity && alert.kind === 'alert' ? ` (${alert.severity})` : '', ': ', this.summary(alert)),
      h(
        'p',
        { class: 'alert-meta' },
        h('time', { datetime: new Date(alert.time).toISOString() }, clockTime(alert.time)),
        alert.version ? ` · model ${alert.version}` : '',
        inputs ? ` · ${inputs}` : '',
        alert.user ? ` · ${alert.user}` : '',
        ` · ${alert.source === 'server' ? 'server' : 'this browser'}`,
      ),
    );
  }
}
