import type { ApiClient } from '../api.js';
import { ApiError } from '../errors.js';
import { columnLabel, formatStat, showsAbTest, statsColumns, statsVariants, type Variant } from '../ab-stats.js';
import { h, panel, replace } from './dom.js';

/**
 * A/B statistics per variant, from `GET /api/v1/models/{name}/stats`. The panel stays hidden unless the route
 * exists and routing has at least two live variants; a 404 or 403 stops the polling quietly.
 */

export class AbPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private timer: number | undefined;
  private stopped = false;
  private lastRefresh = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly modelName: string,
    private readonly intervalMs = 10_000,
  ) {
    this.body = h('div', { class: 'ab-body' });
    this.element = panel('A/B test', { id: 'ab-panel' }, this.body);
    this.element.hidden = true;
  }

  start(): void {
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
  }

  /** After a prediction: refresh so the counters follow the traffic, at most every 2 s, the last one trailing. */
  nudge(): void {
    if (this.stopped) return;
    window.clearTimeout(this.timer);
    const due = Math.max(0, this.lastRefresh + 2_000 - Date.now());
    this.timer = window.setTimeout(() => void this.refresh(), due);
  }

  async refresh(): Promise<void> {
    if (this.stopped) return;
    this.lastRefresh = Date.now();
    window.clearTimeout(this.timer);
    try {
      const body = await this.api.get<unknown>(`/api/v1/models/${encodeURIComponent(this.modelName)}/stats`);
      this.render(statsVariants(body));
    } catch (error) {
      if (error instanceof ApiError && [403, 404, 405, 501].includes(error.status)) {
        this.element.hidden = true;
        this.stop();
        return;
      }
      // Offline or 5xx: keep what is shown; the banners say what is wrong.
    }
    if (!this.stopped) this.timer = window.setTimeout(() => void this.refresh(), this.intervalMs);
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
