import { startServerAlerts } from '../alert-sources.js';
import { HeldBackFeed } from '../held-back.js';
import type { AlertBand, AlertFeed } from '../alerts.js';
import type { ApiClient } from '../api.js';
import { inputSpec } from '../features.js';
import type { PredictionHistory, PredictionPoint } from '../history.js';
import type { ModelInfo, PredictResponse } from '../types.js';
import { AbPanel } from './ab-panel.js';
import { AlertsPanel } from './alerts-panel.js';
import { ConditionCharts, PredictionChart } from './charts.js';
import { h, panel } from './dom.js';
import { InputsPanel, type InputsPanelOptions } from './inputs-panel.js';
import { InsightPanel } from './insight-panel.js';
import { LatestPanel } from './latest-panel.js';
import { ModelPanel } from './model-panel.js';
import { QualityPanel } from './quality-panel.js';

export function bandOf(info: ModelInfo): AlertBand | null {
  const t = info.alert_thresholds;
  return t && (typeof t.min === 'number' || typeof t.max === 'number') ? { min: t.min, max: t.max } : null;
}

function intervalLabel(info: ModelInfo): string {
  return info.interval ? `${info.interval.upper - info.interval.lower} % interval` : 'interval';
}

export interface TwinPanelsOptions {
  api: ApiClient;
  info: ModelInfo;
  canPredict: boolean;
  /** The chosen model's own history and alert feed. */
  history: PredictionHistory;
  feed: AlertFeed;
  inputs: Pick<InputsPanelOptions, 'onChange' | 'onPredict' | 'onAutoChange'>;
}

/**
 * Everything the Twin view shows for one model, built from its manifest: inputs, latest prediction, insight,
 * history and condition charts, alerts, A/B statistics, quality and the model facts, with the loops they run
 * (server alerts, A/B stats, quality). Picking another model disposes of them and builds the next model's.
 */
export class TwinPanels {
  readonly element: HTMLElement;
  readonly inputs: InputsPanel;
  private readonly latest: LatestPanel;
  private readonly insight: InsightPanel;
  private readonly chart: PredictionChart;
  private readonly conditions: ConditionCharts;
  private readonly alerts: AlertsPanel;
  private readonly model: ModelPanel;
  private readonly ab: AbPanel;
  private readonly quality: QualityPanel;
  private stopServerAlerts: (() => void) | undefined;
  /** The alert cap's held-back windows (the plant's; every plant's for a platform principal). */
  private readonly heldBack = new HeldBackFeed();

  constructor(private readonly options: TwinPanelsOptions) {
    const { api, info } = options;
    const band = bandOf(info);
    const label = intervalLabel(info);
    this.inputs = new InputsPanel({ features: info.feature_specs, canPredict: options.canPredict, ...options.inputs });
    this.latest = new LatestPanel(info.target, label, band);
    this.insight = new InsightPanel({ api, model: info, values: () => this.inputs.values(), onSetpoints: (v) => this.inputs.setValues(v), canPredict: options.canPredict });
    this.chart = new PredictionChart(info.target, label, band);
    this.conditions = new ConditionCharts(info.feature_specs.map(inputSpec));
    this.alerts = new AlertsPanel(options.feed, info.target.unit, this.heldBack);
    this.model = new ModelPanel(info);
    this.ab = new AbPanel(api, info.name);
    this.quality = new QualityPanel(api, info.name);
    this.element = h(
      'div',
      { class: 'twin-grid' },
      h('div', { class: 'col-left' }, this.inputs.element, this.latest.element, this.insight.element),
      h('div', { class: 'col-main' }, panel('Prediction history', { id: 'history-panel' }, this.chart.element), panel('Process conditions', { id: 'conditions-panel' }, this.conditions.element)),
      h('div', { class: 'col-right' }, this.alerts.element, this.ab.element, this.quality.element, this.model.element),
    );
  }

  /** Once the element is in the document: draws the history so far and starts the loops. */
  mount(): void {
    const { history, info, api, feed } = this.options;
    this.chart.mount();
    this.conditions.mount();
    this.chart.update(history);
    this.conditions.update(history);
    const latest = history.latest();
    if (latest) this.latest.update(latest);
    this.stopServerAlerts = startServerAlerts(api, feed, { model: info.name, onState: (s) => this.alerts.setSourceState(s), heldBack: this.heldBack });
    this.ab.start();
    this.quality.start();
  }

  /** A new active version with the same features: facts and band follow, the panels stay. */
  update(info: ModelInfo): void {
    const band = bandOf(info);
    this.model.update(info);
    this.latest.setBand(band);
    this.chart.setBand(band);
    this.chart.update(this.options.history);
  }

  /** A prediction of this model (already in its history). */
  show(point: PredictionPoint, explanation: PredictResponse['explanation']): void {
    this.insight.showContributions(explanation);
    this.latest.update(point);
    this.chart.update(this.options.history);
    this.conditions.update(this.options.history);
    this.ab.nudge();
  }

  dispose(): void {
    this.stopServerAlerts?.();
    this.ab.stop();
    this.quality.stop();
    this.alerts.destroy();
    this.chart.destroy();
    this.conditions.destroy();
  }
}
