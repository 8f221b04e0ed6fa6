import type { ApiClient } from '../api.js';
import { windowNames } from '../../../functions/core/quality/figures.js';
import { parseQuality, polyline, type QualityView } from '../quality.js';
import { h, panel, replace } from './dom.js';
import { Poller } from './poller.js';

/**
 * Model quality from `GET /api/v1/models/{name}/quality`: error and coverage per version and window, coverage
 * and MAE over time per version (small SVG charts, each with its numbers in a table), the A/B verdict,
 * recalibration and input drift per feature. Hidden when the route is refused or missing.
 */

const svgNs = 'http://www.w3.org/2000/svg';
const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)} %`);
const dec = (v: number | null, digits = 3) => (v === null ? '–' : v.toFixed(digits));

function sparkline(label: string, values: (number | null)[], max: number, reference?: number): SVGSVGElement {
  const svg = document.createElementNS(svgNs, 'svg');
  svg.setAttribute('viewBox', '0 0 160 40');
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  if (reference !== undefined) {
    const line = document.createElementNS(svgNs, 'line');
    const y = String(40 - (reference / (max || 1)) * 40);
    for (const [k, v] of [['x1', '0'], ['x2', '160'], ['y1', y], ['y2', y], ['class', 'sparkline-reference']]) line.setAttribute(k!, v!);
    svg.append(line);
  }
  const path = document.createElementNS(svgNs, 'polyline');
  path.setAttribute('points', polyline(values, 160, 40, max));
  path.setAttribute('class', 'sparkline-line');
  svg.append(path);
  return svg;
}

export class QualityPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly poller: Poller;

  constructor(api: ApiClient, modelName: string, intervalMs = 30_000) {
    this.body = h('div', { class: 'quality-body' });
    this.element = panel('Model quality', { id: 'quality-panel' }, this.body);
    this.element.hidden = true;
    this.poller = new Poller(api, `/api/v1/models/${encodeURIComponent(modelName)}/quality`, (body) => this.render(parseQuality(body)), () => (this.element.hidden = true), intervalMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  private render(view: QualityView): void {
    const measured = view.versions.some((v) => (v.windows.all?.count ?? 0) > 0);
    this.element.hidden = false;
    if (!measured) {
      replace(this.body, h('p', { class: 'muted small', id: 'quality-empty' }, 'No measured values yet: send lab results with `twin feedback file.csv`.'));
      return;
    }
    const table = h(
      'table',
      { class: 'compact', id: 'quality-table' },
      h('caption', { class: 'visually-hidden' }, 'Error and interval coverage per version and window'),
      h('thead', {}, h('tr', {}, ...['version', 'window', 'rows', 'MAE', 'bias', 'coverage', 'level'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        ...view.versions.flatMap((v) =>
          windowNames.map((w) => {
            const s = v.windows[w];
            return h('tr', {}, h('th', { scope: 'row' }, v.version), h('td', {}, w), h('td', {}, String(s?.count ?? 0)), h('td', {}, dec(s?.mae ?? null)), h('td', {}, dec(s?.bias ?? null)), h('td', {}, pct(s?.coverage ?? null)), h('td', {}, pct(s?.level ?? null)));
          }),
        ),
      ),
    );
    // One trend per version that has measured values; the others say so in a line.
    const charts = view.versions.map((v) => {
      const points = view.series.filter((s) => s.version === v.version).slice(-48);
      if (points.length === 0) return h('p', { class: 'muted small quality-none', 'data-version': v.version }, `${v.version}: no measured values yet.`);
      const maxMae = Math.max(0, ...points.map((p) => p.mae ?? 0));
      const last = points.at(-1)!;
      return h(
        'figure',
        { class: 'quality-trend', 'data-version': v.version, 'data-points': String(points.length) },
        h('figcaption', { class: 'small' }, `${v.version}: coverage (dashed: the level ${pct(v.level)}) and MAE per hour; last hour ${pct(last.coverage)}, MAE ${dec(last.mae)}`),
        sparkline(`Coverage of ${v.version} per hour, last ${points.length} hours with measurements, latest ${pct(last.coverage)}`, points.map((p) => p.coverage), 1, v.level ?? undefined),
        sparkline(`MAE of ${v.version} per hour, latest ${dec(last.mae)}`, points.map((p) => p.mae), maxMae),
      );
    });
    const drift = h(
      'table',
      { class: 'compact', id: 'drift-table' },
      h('caption', { class: 'small' }, 'Input drift per feature (PSI of the last day against the calibration data)'),
      h('thead', {}, h('tr', {}, ...['version', 'feature', 'rows', 'PSI', 'level'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...view.drift.map((d) => h('tr', { class: d.level === 'significant' ? 'drift-significant' : '' }, h('td', {}, d.version), h('th', { scope: 'row' }, d.feature), h('td', {}, String(d.rows)), h('td', {}, dec(d.psi)), h('td', {}, d.level ?? 'no reference histogram')))),
    );
    replace(
      this.body,
      ...(view.verdict ? [h('p', { id: 'ab-verdict' }, view.verdict)] : []),
      h('div', { class: 'table-scroll', tabindex: '0', 'aria-label': 'Model quality per version' }, table),
      ...charts,
      h('p', { class: 'muted small', id: 'recalibration' }, view.recalibration.map((r) => `${r.version}: interval ×${r.factor.toFixed(2)} after ${r.updates} measured rows${r.enabled ? '' : ' (recalibration off)'}`).join('; ')),
      h('div', { class: 'table-scroll', tabindex: '0', 'aria-label': 'Input drift' }, drift),
    );
  }
}
