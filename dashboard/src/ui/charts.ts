import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { AlertBand } from '../alerts.js';
import { axisTime, clockTime, fixed, predicted, withUnit } from '../format.js';
import type { PredictionHistory } from '../history.js';
import type { InputSpec } from '../features.js';
import { h, replace } from './dom.js';

/**
 * The charts, drawn with uPlot on canvas. Canvas is invisible to screen readers, so every chart is a figure
 * with a text summary (aria-label, kept current) and a data table of its recent points; `data-points` on the
 * figure says how many points it draws.
 */

const colors = {
  prediction: '#0b6e4f',
  band: 'rgba(11, 110, 79, 0.16)',
  bandEdge: 'rgba(11, 110, 79, 0.45)',
  threshold: '#b42318',
  features: ['#1d4ed8', '#7c3aed', '#b45309', '#0e7490', '#be185d', '#4d7c0f'],
  grid: '#e4e7eb',
  axis: '#3e4c59',
};

const axis = (label: string): uPlot.Axis => ({
  label,
  stroke: colors.axis,
  grid: { stroke: colors.grid, width: 1 },
  ticks: { stroke: colors.grid, width: 1 },
  font: '12px system-ui, sans-serif',
  labelFont: '12px system-ui, sans-serif',
});

/** Tick spacings of whole seconds and minutes: the labels are HH:MM:SS, so a sub-second tick would repeat one. */
const timeIncrements = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/**
 * One line of HH:MM:SS per tick (uPlot's default two-line date labels do not fit the small charts). The labels
 * drawn are written to the figure's `data-time-labels`, so a test can read what the canvas shows.
 */
function timeAxis(figure: HTMLElement): uPlot.Axis {
  const { label: _label, ...rest } = axis('');
  return {
    ...rest,
    space: 80,
    incrs: timeIncrements,
    values: (_u, splits) => {
      const labels = splits.map((s) => axisTime(s));
      figure.setAttribute('data-time-labels', labels.join(' '));
      return labels;
    },
  };
}

/**
 * At least a minute of time axis: one point (or a burst within a second) sits in the middle of it. Read from
 * the data itself: for a single point uPlot hands the range a day-long span starting at the point.
 */
function timeRange(u: uPlot, min: number, max: number): uPlot.Range.MinMax {
  const times = u.data[0];
  if (times.length > 0) {
    min = times[0]!;
    max = times[times.length - 1]!;
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [min, max];
  const span = max - min;
  if (span >= 60) return [min, max];
  const pad = (60 - span) / 2;
  return [Math.floor(min - pad), Math.ceil(max + pad)];
}

/** Keeps a uPlot at its container's width. */
function autoSize(plot: uPlot, container: HTMLElement, height: number): ResizeObserver {
  const observer = new ResizeObserver(() => {
    const width = Math.floor(container.clientWidth);
    if (width > 0 && width !== plot.width) plot.setSize({ width, height });
  });
  observer.observe(container);
  return observer;
}

interface ChartFigure {
  figure: HTMLElement;
  canvasHost: HTMLElement;
  tableBody: HTMLElement;
}

function figure(id: string, caption: string, columns: string[]): ChartFigure {
  const canvasHost = h('div', { class: 'chart-canvas', role: 'img', 'aria-label': `${caption}: no data yet` });
  const tableBody = h('tbody');
  const fig = h(
    'figure',
    { class: 'chart', id, 'data-points': '0' },
    h('figcaption', {}, caption),
    canvasHost,
    h(
      'details',
      { class: 'chart-table' },
      h('summary', {}, 'Data table'),
      h('table', {}, h('caption', { class: 'visually-hidden' }, `${caption}, newest first`), h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c)))), tableBody),
    ),
  );
  return { figure: fig, canvasHost, tableBody };
}

const tableRows = 20;

/** Predictions over time: the interval as a band, the alert thresholds as dashed lines. */
export class PredictionChart {
  readonly element: HTMLElement;
  private readonly parts: ChartFigure;
  private plot: uPlot | undefined;
  private observer: ResizeObserver | undefined;
  private readonly height = 260;

  constructor(
    private readonly target: { name: string; unit?: string | undefined },
    private readonly intervalLabel: string,
    private band: AlertBand | null,
  ) {
    const unit = target.unit ? ` (${target.unit})` : '';
    this.parts = figure('prediction-chart', `Predicted ${target.name} over time${unit}, with the ${intervalLabel} and the alert band`, [
      'Time',
      `Predicted ${target.name}`,
      'Interval',
    ]);
    this.element = this.parts.figure;
  }

  setBand(band: AlertBand | null): void {
    this.band = band;
  }

  /** Creates the plot once the figure is in the document (uPlot measures its container). */
  mount(): void {
    const unit = this.target.unit ?? '';
    const options: uPlot.Options = {
      width: Math.max(300, this.parts.canvasHost.clientWidth),
      height: this.height,
      scales: {
        x: { time: true, range: timeRange },
        y: {
          range: (_u, min, max) => {
            const band = this.band;
            const lows = [min, band?.min].filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
            const highs = [max, band?.max].filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
            const lo = Math.min(...lows);
            const hi = Math.max(...highs);
            // Scaled to the target's own size: a purity of 0.85..0.99 needs no integer-padded axis.
            const pad = hi > lo ? (hi - lo) * 0.08 : Math.max(Math.abs(hi) * 0.05, 1e-6);
            return [lo - pad, hi + pad];
          },
        },
      },
      series: [
        { value: (_u, v) => (v == null ? '–' : clockTime(v * 1000)) },
        {
          label: `Predicted ${this.target.name}`,
          stroke: colors.prediction,
          width: 2,
          points: { show: true, size: 6, fill: colors.prediction },
          value: (_u, v) => (v == null ? '–' : withUnit(predicted(v), unit)),
        },
        { label: `${this.intervalLabel} low`, stroke: colors.bandEdge, width: 1, value: (_u, v) => (v == null ? '–' : predicted(v)) },
        { label: `${this.intervalLabel} high`, stroke: colors.bandEdge, width: 1, value: (_u, v) => (v == null ? '–' : predicted(v)) },
      ],
      bands: [{ series: [3, 2], fill: colors.band }],
      axes: [timeAxis(this.parts.figure), axis(`${this.target.name}${unit ? ` (${unit})` : ''}`)],
      // The alert thresholds as dashed lines across the whole plot, drawn by hand: as series they would be
      // lines between points, invisible while there is only one.
      hooks: { draw: [(u) => this.drawBand(u)] },
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
    };
    this.plot = new uPlot(options, [[], [], [], []], this.parts.canvasHost);
    this.observer = autoSize(this.plot, this.parts.canvasHost, this.height);
  }

  /** Dashed threshold lines over the plot area; their canvas rows go to `data-band-rows` for the tests. */
  private drawBand(u: uPlot): void {
    const { ctx, bbox } = u;
    const rows: number[] = [];
    ctx.save();
    ctx.strokeStyle = colors.threshold;
    ctx.lineWidth = 1.5 * uPlot.pxRatio;
    ctx.setLineDash([6 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
    for (const value of [this.band?.min, this.band?.max]) {
      if (typeof value !== 'number') continue;
      const y = Math.round(u.valToPos(value, 'y', true));
      if (y < bbox.top || y > bbox.top + bbox.height) continue;
      ctx.beginPath();
      ctx.moveTo(bbox.left, y);
      ctx.lineTo(bbox.left + bbox.width, y);
      ctx.stroke();
      rows.push(y);
    }
    ctx.restore();
    this.parts.figure.setAttribute('data-band-rows', rows.join(' '));
  }

  update(history: PredictionHistory): void {
    const [times, predictions, lows, highs] = history.columns();
    this.plot?.setData([times, predictions, lows, highs]);
    this.parts.figure.setAttribute('data-points', String(times.length));
    const latest = history.latest();
    this.parts.canvasHost.setAttribute(
      'aria-label',
      latest
        ? `Predicted ${this.target.name} over time: ${times.length} points, latest ${withUnit(predicted(latest.prediction), this.target.unit)}` +
            (latest.lo !== null && latest.hi !== null ? `, interval ${predicted(latest.lo)} to ${predicted(latest.hi)}` : '') +
            (this.band ? `; alert band ${this.band.min ?? 'none'} to ${this.band.max ?? 'none'}` : '')
        : `Predicted ${this.target.name} over time: no data yet`,
    );
    const rows = [...history.all()].slice(-tableRows).reverse();
    replace(
      this.parts.tableBody,
      ...rows.map((p) =>
        h('tr', {}, h('td', {}, clockTime(p.time * 1000)), h('td', {}, predicted(p.prediction)), h('td', {}, p.lo === null || p.hi === null ? '–' : `${predicted(p.lo)} – ${predicted(p.hi)}`)),
      ),
    );
  }

  destroy(): void {
    this.observer?.disconnect();
    this.plot?.destroy();
  }
}

/** Process conditions: each input feature over time in its own small chart, on its own axis and valid range. */
export class ConditionCharts {
  readonly element: HTMLElement;
  private readonly charts: { spec: InputSpec; parts: ChartFigure; plot?: uPlot; observer?: ResizeObserver }[];
  private readonly height = 120;

  constructor(specs: InputSpec[]) {
    this.charts = specs.map((spec) => ({
      spec,
      parts: figure(`condition-${spec.name}`, `${spec.label}${spec.unit ? ` (${spec.unit})` : ''}`, ['Time', spec.label]),
    }));
    this.element = h('div', { class: 'condition-charts' }, ...this.charts.map((c) => c.parts.figure));
  }

  mount(): void {
    this.charts.forEach((chart, i) => {
      const { spec } = chart;
      const color = colors.features[i % colors.features.length]!;
      const options: uPlot.Options = {
        width: Math.max(200, chart.parts.canvasHost.clientWidth),
        height: this.height,
        scales: { x: { time: true, range: timeRange }, y: { range: [spec.min, spec.max] } },
        series: [
          { value: (_u, v) => (v == null ? '–' : clockTime(v * 1000)) },
          { label: spec.label, stroke: color, width: 2, points: { show: true, size: 5, fill: color }, value: (_u, v) => (v == null ? '–' : withUnit(fixed(v, spec.decimals), spec.unit)) },
        ],
        axes: [timeAxis(chart.parts.figure), { ...axis(spec.unit || spec.name), size: 56 }],
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
      };
      chart.plot = new uPlot(options, [[], []], chart.parts.canvasHost);
      chart.observer = autoSize(chart.plot, chart.parts.canvasHost, this.height);
    });
  }

  update(history: PredictionHistory): void {
    for (const chart of this.charts) {
      const [times, values] = history.feature(chart.spec.name);
      chart.plot?.setData([times, values]);
      chart.parts.figure.setAttribute('data-points', String(times.length));
      const last = values.at(-1);
      chart.parts.canvasHost.setAttribute(
        'aria-label',
        last == null ? `${chart.spec.label} over time: no data yet` : `${chart.spec.label} over time: ${times.length} points, latest ${withUnit(fixed(last, chart.spec.decimals), chart.spec.unit)}`,
      );
      const rows = times.map((t, i) => [t, values[i]] as const).slice(-tableRows).reverse();
      replace(chart.parts.tableBody, ...rows.map(([t, v]) => h('tr', {}, h('td', {}, clockTime(t * 1000)), h('td', {}, fixed(v, chart.spec.decimals)))));
    }
  }

  destroy(): void {
    for (const chart of this.charts) {
      chart.observer?.disconnect();
      chart.plot?.destroy();
    }
  }
}
