import type { ApiClient } from '../api.js';
import type { ModelInfo } from '../types.js';
import { h, panel, replace } from './dom.js';

/**
 * Process insight beside the predictions (docs/insight.md): the latest prediction's contributions as a bar
 * chart, a what-if heat map of the first two features with the alert band's contour, and an optimizer that
 * moves the sliders to the best setpoints (maximise the prediction keeping the interval's lower bound at or
 * above the band's minimum).
 */

export interface Explanation {
  method: { method: string };
  expected_value: number;
  contributions: Record<string, number>;
}

interface SweepAnswer {
  x: { feature: string; values: number[] };
  y: { feature: string; values: number[] } | null;
  prediction: number[][];
  alert_band: { min: number; max: number };
}

interface OptimizeAnswer {
  feasible: boolean;
  message?: string;
  setpoints: Record<string, number>;
  value: number;
  confidence_interval: [number, number] | null;
}

export interface InsightPanelOptions {
  api: ApiClient;
  model: ModelInfo;
  /** The inputs' current values (undefined while one is invalid). */
  values: () => Record<string, number> | undefined;
  /** Moves the sliders. */
  onSetpoints: (values: Record<string, number>) => void;
  canPredict: boolean;
}

const steps = 30;

export class InsightPanel {
  readonly element: HTMLElement;
  private readonly bars: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly mapNote: HTMLElement;
  private readonly optimizeNote: HTMLElement;

  constructor(private readonly options: InsightPanelOptions) {
    this.bars = h('div', { class: 'contribution-bars', id: 'contribution-bars', role: 'list', 'aria-label': 'Contributions to the latest prediction' }, h('p', { class: 'hint' }, 'Predict to see why.'));
    this.canvas = h('canvas', { id: 'sweep-map', width: 300, height: 220, role: 'img', 'aria-label': 'What-if map: not drawn yet' });
    this.mapNote = h('p', { class: 'hint', id: 'sweep-note', 'aria-live': 'polite' });
    this.optimizeNote = h('p', { class: 'hint', id: 'optimize-note', 'aria-live': 'polite' });
    const features = options.model.feature_specs;
    const mapButton = h('button', { type: 'button', id: 'sweep-button', disabled: !options.canPredict || features.length < 2, on: { click: () => void this.sweep() } }, 'Draw what-if map');
    const optimizeButton = h('button', { type: 'button', id: 'optimize-button', disabled: !options.canPredict, on: { click: () => void this.optimize() } }, 'Find best setpoints');
    this.element = panel(
      'Why, and what if',
      { id: 'insight-panel' },
      h('h3', {}, 'Contributions'),
      this.bars,
      h('h3', {}, features.length >= 2 ? `Map: ${features[0]!.name} × ${features[1]!.name}` : 'Map'),
      this.canvas,
      h('div', { class: 'button-row' }, mapButton, optimizeButton),
      this.mapNote,
      this.optimizeNote,
    );
  }

  /** The bars of the latest prediction's explanation (predict sends `explain: true`). */
  showContributions(explanation: Explanation | undefined): void {
    if (!explanation) return;
    const entries = Object.entries(explanation.contributions);
    const scale = Math.max(1e-9, ...entries.map(([, v]) => Math.abs(v)));
    replace(
      this.bars,
      h('p', { class: 'hint' }, `Expected ${explanation.expected_value.toFixed(2)}; ${explanation.method.method}`),
      ...entries.map(([name, value]) => {
        const bar = h('span', { class: `contribution-bar ${value < 0 ? 'negative' : 'positive'}` });
        // Through the CSSOM: the page's CSP (style-src 'self') refuses inline style attributes.
        bar.style.width = `${((Math.abs(value) / scale) * 100).toFixed(1)}%`;
        return h(
          'div',
          { class: 'contribution', role: 'listitem', 'data-feature': name, 'data-value': String(value) },
          h('span', { class: 'contribution-name' }, name),
          bar,
          h('span', { class: 'contribution-value' }, `${value >= 0 ? '+' : ''}${value.toFixed(2)}`),
        );
      }),
    );
  }

  private async sweep(): Promise<void> {
    const values = this.options.values();
    const [fx, fy] = this.options.model.feature_specs;
    if (!values || !fx || !fy) return;
    this.mapNote.textContent = 'Computing…';
    try {
      const answer = await this.options.api.post<SweepAnswer>(`/api/v1/models/${this.options.model.name}/sweep`, {
        x: { feature: fx.name, steps },
        y: { feature: fy.name, steps },
        fixed: values,
      });
      this.draw(answer);
      this.mapNote.textContent = `${steps} × ${steps} predictions; the line is the alert band [${answer.alert_band.min}, ${answer.alert_band.max}].`;
    } catch (error) {
      this.mapNote.textContent = `The map failed: ${(error as Error).message}`;
    }
  }

  /** Cells coloured by prediction; the band's contour drawn where neighbouring cells fall on different sides of a limit. */
  private draw(answer: SweepAnswer): void {
    const ctx = this.canvas.getContext('2d');
    const grid = answer.prediction;
    if (!ctx || !answer.y) return;
    const ny = grid.length;
    const nx = grid[0]?.length ?? 0;
    const w = this.canvas.width / nx;
    const hgt = this.canvas.height / ny;
    const all = grid.flat();
    const lo = Math.min(...all);
    const hi = Math.max(...all);
    for (let iy = 0; iy < ny; iy++) {
      for (let ix = 0; ix < nx; ix++) {
        const t = hi > lo ? (grid[iy]![ix]! - lo) / (hi - lo) : 0.5;
        ctx.fillStyle = `hsl(${Math.round(240 - 240 * t)}, 70%, 50%)`;
        // y grows upwards on the map.
        ctx.fillRect(ix * w, (ny - 1 - iy) * hgt, w + 0.5, hgt + 0.5);
      }
    }
    const inside = (v: number) => v >= answer.alert_band.min && v <= answer.alert_band.max;
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (let iy = 0; iy < ny; iy++) {
      for (let ix = 0; ix < nx; ix++) {
        const here = inside(grid[iy]![ix]!);
        const top = (ny - 1 - iy) * hgt;
        if (ix + 1 < nx && inside(grid[iy]![ix + 1]!) !== here) {
          ctx.moveTo((ix + 1) * w, top);
          ctx.lineTo((ix + 1) * w, top + hgt);
        }
        if (iy + 1 < ny && inside(grid[iy + 1]![ix]!) !== here) {
          ctx.moveTo(ix * w, top);
          ctx.lineTo((ix + 1) * w, top);
        }
      }
    }
    ctx.stroke();
    this.canvas.setAttribute('aria-label', `What-if map of ${answer.x.feature} and ${answer.y.feature}: predictions from ${lo.toFixed(1)} to ${hi.toFixed(1)}`);
  }

  private async optimize(): Promise<void> {
    const values = this.options.values();
    if (!values) return;
    const band = this.options.model.alert_thresholds;
    this.optimizeNote.textContent = 'Searching…';
    try {
      const answer = await this.options.api.post<OptimizeAnswer>(`/api/v1/models/${this.options.model.name}/optimize`, {
        vary: Object.fromEntries(this.options.model.feature_specs.map((f) => [f.name, {}])),
        fixed: {},
        ...(typeof band?.min === 'number' && this.options.model.interval ? { constraints: [{ target: 'lower', op: '>=', value: band.min }] } : {}),
      });
      this.optimizeNote.textContent = answer.feasible
        ? `Best: ${answer.value.toFixed(2)} at ${Object.entries(answer.setpoints).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`
        : (answer.message ?? 'No setpoints satisfy the constraints.');
      if (answer.feasible) this.options.onSetpoints(answer.setpoints);
    } catch (error) {
      this.optimizeNote.textContent = `The optimizer failed: ${(error as Error).message}`;
    }
  }
}
