import type { ApiClient } from '../api.js';
import { columnLabel, formatStat, showsAbTest, statsColumns, statsVariants, type Variant } from '../ab-stats.js';
import { h, panel, replace } from './dom.js';
import { Poller } from './poller.js';

/**
 * A/B statistics per variant, from `GET /api/v1/models/{name}/stats`. The panel stays hidden unless the route
 * exists and routing has at least two live variants; a 404 or 403 stops the polling quietly (./poller.ts).
 */

export class AbPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly poller: Poller;

  constructor(api: ApiClient, modelName: string, intervalMs = 10_000) {
    this.body = h('div', { class: 'ab-body' });
    this.element = panel('A/B test', { id: 'ab-panel' }, this.body);
    this.element.hidden = true;
    this.poller = new Poller(api, `/api/v1/models/${encodeURIComponent(modelName)}/stats`, (body) => this.render(statsVariants(body)), () => (this.element.hidden = true), intervalMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  /** After a prediction: the counters follow the traffic. */
  nudge(): void {
    this.poller.nudge();
  }

  /** Variants as columns, metrics as rows: two or three variants side by side fit a narrow panel. */
  private render(variants: Variant[]): void {
    this.element.hidden = !showsAbTest(variants);
    if (this.element.hidden) return;
    const [key = 'version', ...metrics] = statsColumns(variants);
    const table = h(
      'table',
      { class: 'compact', id: 'ab-table' },
      h('caption', { class: 'visually-hidden' }, 'Statistics per model variant'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, columnLabel(key)), ...variants.map((v) => h('th', { scope: 'col' }, formatStat(key, v[key]))))),
      h('tbody', {}, ...metrics.map((m) => h('tr', {}, h('th', { scope: 'row' }, columnLabel(m)), ...variants.map((v) => h('td', {}, formatStat(m, v[m])))))),
    );
    replace(
      this.body,
      // Scrolls sideways when there are many variants: focusable so keyboard users can scroll it too.
      h('div', { class: 'table-scroll', tabindex: '0', 'aria-label': 'A/B statistics' }, table),
      h('p', { class: 'muted small' }, 'Mean: mean predicted value. p95 latency: upper bound of the 95th-percentile bucket.'),
    );
  }
}
