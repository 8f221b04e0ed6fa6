import { routes } from '../../../infra/routes.js';
import { startServerAlerts } from '../alert-sources.js';
import { AlertFeed, deriveAlert, type AlertBand } from '../alerts.js';
import type { ApiClient } from '../api.js';
import { ApiError, NetworkError } from '../errors.js';
import { inputSpec } from '../features.js';
import { clockTime } from '../format.js';
import { PredictionHistory, type PredictionPoint } from '../history.js';
import type { Session } from '../session.js';
import type { HealthResponse, ModelInfo, PredictResponse } from '../types.js';
import { AbPanel } from './ab-panel.js';
import { QualityPanel } from './quality-panel.js';
import { AuditPanel } from './admin-audit.js';
import { KeysPanel } from './admin-keys.js';
import { AlertsPanel } from './alerts-panel.js';
import { ConditionCharts, PredictionChart } from './charts.js';
import { h, panel, replace } from './dom.js';
import { InputsPanel } from './inputs-panel.js';
import { LatestPanel } from './latest-panel.js';
import { ModelPanel } from './model-panel.js';
import { StatusBanner } from './status-banner.js';

export interface DashboardViewOptions {
  api: ApiClient;
  session: Session;
  container: HTMLElement;
  onSignOut: () => void;
}

/** The chapter's dcc.Interval. */
export const autoIntervalMs = 2_000;
const healthIntervalMs = 15_000;
const offlineRetryMs = 5_000;

type Connection = 'checking' | 'online' | 'degraded' | 'offline';

const auditActions = [...new Set(routes.map((r) => r.action))].sort();

function bandOf(info: ModelInfo): AlertBand | null {
  const t = info.alert_thresholds;
  return t && (typeof t.min === 'number' || typeof t.max === 'number') ? { min: t.min, max: t.max } : null;
}

function intervalLabel(info: ModelInfo): string {
  return info.interval ? `${info.interval.upper - info.interval.lower} % interval` : 'interval';
}

function featuresKey(info: ModelInfo): string {
  return JSON.stringify(info.feature_specs.map((f) => [f.name, f.unit, f.min, f.max, f.step]));
}

/**
 * The signed-in page: loads the active model's manifest, builds the inputs and views from it, and runs the
 * loops (auto predict every 2 s, health every 15 s, server alerts, A/B stats). Every loop stops in dispose().
 */
export class DashboardView {
  private readonly api: ApiClient;
  private readonly session: Session;
  private readonly banner = new StatusBanner();
  private readonly history = new PredictionHistory(100);
  private readonly feed = new AlertFeed(50);
  private readonly abort = new AbortController();
  private readonly main: HTMLElement;
  private readonly twinView: HTMLElement;
  private readonly adminView: HTMLElement | undefined;
  private readonly connectionPill: HTMLElement;
  private readonly modelLabel: HTMLElement;
  private readonly navButtons: HTMLButtonElement[] = [];

  private model: ModelInfo | undefined;
  private inputs: InputsPanel | undefined;
  private latest: LatestPanel | undefined;
  private chart: PredictionChart | undefined;
  private conditions: ConditionCharts | undefined;
  private alertsPanel: AlertsPanel | undefined;
  private modelPanel: ModelPanel | undefined;
  private abPanel: AbPanel | undefined;
  private qualityPanel: QualityPanel | undefined;
  private stopServerAlerts: (() => void) | undefined;
  private adminLoaded = false;

  private connection: Connection = 'checking';
  private inFlight = false;
  private pending = false;
  private cooldownUntil = 0;
  private disposed = false;
  private timers = new Set<number>();
  private autoTimer: number | undefined;
  private healthTimer: number | undefined;
  private cooldownTimer: number | undefined;
  private readonly onOnline = () => void this.checkHealth();

  constructor(options: DashboardViewOptions) {
    this.api = options.api;
    this.session = options.session;
    const { session } = options;
    this.connectionPill = h('span', { class: 'pill pill-checking', id: 'api-state' }, 'API: checking…');
    this.modelLabel = h('span', { class: 'model-label', id: 'header-model' }, '');
    const canAdmin = session.scopes.has('keys:manage') || session.scopes.has('audit:read');
    const signOut = h('button', { type: 'button', id: 'sign-out', on: { click: () => options.onSignOut() } }, 'Sign out');
    const nav = canAdmin
      ? h('nav', { 'aria-label': 'Views', class: 'views-nav' }, this.navButton('twin-view', 'Twin', true), this.navButton('admin-view', 'Administration', false))
      : null;
    const header = h(
      'header',
      { class: 'app-header' },
      h('div', { class: 'brand' }, h('h1', {}, 'Twinserve'), this.modelLabel),
      nav,
      h(
        'div',
        { class: 'header-right' },
        this.connectionPill,
        h('span', { class: 'user', id: 'signed-in-user' }, `${session.username} (${session.role})`),
        h('span', { class: 'muted small', id: 'session-ends' }, `session ends ${clockTime(session.expiresAt)}`),
        signOut,
      ),
    );
    this.twinView = h('div', { id: 'twin-view', class: 'view' }, panel('Loading', { id: 'loading-panel' }, h('p', { 'aria-busy': 'true' }, 'Loading the active model…')));
    this.adminView = canAdmin ? h('div', { id: 'admin-view', class: 'view admin-view', hidden: true }) : undefined;
    this.main = h('main', { id: 'main', class: 'app-main', tabindex: '-1' }, this.banner.element, this.twinView, this.adminView);
    replace(options.container, header, this.main);
    options.container.removeAttribute('aria-busy');
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOnline);
    this.scheduleExpiryWarning();
  }

  async start(): Promise<void> {
    await Promise.all([this.checkHealth(), this.loadModel()]);
  }

  dispose(): void {
    this.disposed = true;
    this.abort.abort();
    for (const t of this.timers) window.clearTimeout(t);
    window.clearTimeout(this.autoTimer);
    window.clearTimeout(this.healthTimer);
    window.clearTimeout(this.cooldownTimer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOnline);
    this.stopServerAlerts?.();
    this.abPanel?.stop();
    this.qualityPanel?.stop();
    this.alertsPanel?.destroy();
    this.chart?.destroy();
    this.conditions?.destroy();
  }

  // ----- views -----------------------------------------------------------------------------------------

  private navButton(viewId: string, label: string, current: boolean): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'nav-button', 'aria-controls': viewId, 'aria-current': current ? 'page' : null }, label);
    button.addEventListener('click', () => this.showView(viewId));
    this.navButtons.push(button);
    return button;
  }

  private showView(viewId: string): void {
    for (const button of this.navButtons) {
      const current = button.getAttribute('aria-controls') === viewId;
      if (current) button.setAttribute('aria-current', 'page');
      else button.removeAttribute('aria-current');
    }
    this.twinView.hidden = viewId !== 'twin-view';
    if (this.adminView) this.adminView.hidden = viewId !== 'admin-view';
    if (viewId === 'admin-view' && !this.adminLoaded) this.buildAdmin();
    this.main.focus();
  }

  private buildAdmin(): void {
    if (!this.adminView) return;
    this.adminLoaded = true;
    const parts: HTMLElement[] = [];
    if (this.session.scopes.has('keys:manage')) {
      const keys = new KeysPanel(this.api, this.session.scopes);
      parts.push(keys.element);
      void keys.load();
    }
    if (this.session.scopes.has('audit:read')) {
      const audit = new AuditPanel(this.api, auditActions);
      parts.push(audit.element);
      void audit.load(false);
    }
    replace(this.adminView, ...parts);
  }

  private async loadModel(): Promise<void> {
    try {
      const info = await this.api.get<ModelInfo>('/model/info', { signal: this.abort.signal });
      if (this.disposed) return;
      this.setModel(info);
    } catch (error) {
      if (this.disposed) return;
      const retry = h('button', { type: 'button', on: { click: () => void this.loadModel() } }, 'Try again');
      const message =
        error instanceof NetworkError
          ? `Cannot reach the API at ${error.url}. The dashboard loads the model as soon as the API answers.`
          : error instanceof ApiError && error.status === 503
            ? `The API is up but has no usable model: ${error.message}. The dashboard loads it as soon as it is available.`
            : error instanceof ApiError && error.status === 403
              ? 'Your role may not read the model.'
              : `Could not load the model: ${(error as Error).message}`;
      replace(this.twinView, panel('Model unavailable', { id: 'model-error' }, h('p', { role: 'alert' }, message), retry));
    }
  }

  private setModel(info: ModelInfo): void {
    const previous = this.model;
    this.model = info;
    this.modelLabel.textContent = `${info.name} ${info.version}`;
    if (previous && featuresKey(previous) === featuresKey(info)) {
      const band = bandOf(info);
      this.modelPanel?.update(info);
      this.latest?.setBand(band);
      this.chart?.setBand(band);
      this.chart?.update(this.history);
    } else {
      this.buildTwinView(info);
    }
    if (previous && previous.version !== info.version) this.banner.set('info', 'info', `The active model changed to ${info.name} ${info.version}.`);
  }

  private buildTwinView(info: ModelInfo): void {
    const wasAuto = this.inputs?.auto ?? false;
    this.chart?.destroy();
    this.conditions?.destroy();
    this.alertsPanel?.destroy();
    this.abPanel?.stop();
    this.qualityPanel?.stop();
    this.stopServerAlerts?.();
    const band = bandOf(info);
    const label = intervalLabel(info);
    this.inputs = new InputsPanel({
      features: info.feature_specs,
      canPredict: this.session.scopes.has('twin:predict'),
      onChange: () => {
        if (this.inputs?.auto) void this.predict();
      },
      onPredict: () => void this.predict(),
      onAutoChange: (on) => {
        window.clearTimeout(this.autoTimer);
        if (on) void this.autoTick();
      },
    });
    this.latest = new LatestPanel(info.target, label, band);
    this.chart = new PredictionChart(info.target, label, band);
    this.conditions = new ConditionCharts(info.feature_specs.map(inputSpec));
    this.alertsPanel = new AlertsPanel(this.feed, info.target.unit);
    this.modelPanel = new ModelPanel(info);
    this.abPanel = new AbPanel(this.api, info.name);
    this.qualityPanel = new QualityPanel(this.api, info.name);
    replace(
      this.twinView,
      h(
        'div',
        { class: 'twin-grid' },
        h('div', { class: 'col-left' }, this.inputs.element, this.latest.element),
        h(
          'div',
          { class: 'col-main' },
          panel('Prediction history', { id: 'history-panel' }, this.chart.element),
          panel('Process conditions', { id: 'conditions-panel' }, this.conditions.element),
        ),
        h('div', { class: 'col-right' }, this.alertsPanel.element, this.abPanel.element, this.qualityPanel.element, this.modelPanel.element),
      ),
    );
    this.chart.mount();
    this.conditions.mount();
    this.chart.update(this.history);
    this.conditions.update(this.history);
    const latest = this.history.latest();
    if (latest) this.latest.update(latest);
    this.stopServerAlerts = startServerAlerts(this.api, this.feed, { model: info.name, onState: (s) => this.alertsPanel?.setSourceState(s) });
    this.abPanel.start();
    this.qualityPanel.start();
    if (this.cooldownUntil > Date.now()) this.startCooldown(Math.ceil((this.cooldownUntil - Date.now()) / 1000));
    if (wasAuto) this.inputs.setAuto(true);
  }

  // ----- predictions -------------------------------------------------------------------------------------

  /** One prediction; concurrent calls coalesce into at most one more after the one in flight. */
  private async predict(): Promise<void> {
    const model = this.model;
    const inputs = this.inputs;
    if (!model || !inputs || this.disposed) return;
    if (this.inFlight) {
      this.pending = true;
      return;
    }
    if (Date.now() < this.cooldownUntil) return;
    const values = inputs.values();
    if (!values) {
      this.banner.set('request', 'error', 'Fix the highlighted input before predicting.');
      return;
    }
    this.inFlight = true;
    inputs.setBusy(true);
    try {
      const { data, headers } = await this.api.call<PredictResponse>('POST', '/api/v1/twin/predict', { body: values, signal: this.abort.signal });
      if (this.disposed) return;
      const [lo, hi] = data.confidence_interval ?? [null, null];
      const requestId = headers.get('x-request-id') ?? undefined;
      const point: PredictionPoint = {
        time: data.timestamp,
        prediction: data.prediction,
        lo,
        hi,
        inputs: values,
        modelVersion: data.model_version,
        ...(requestId ? { requestId } : {}),
        ...(data.extrapolation && Object.keys(data.extrapolation).length ? { extrapolation: data.extrapolation } : {}),
        ...(data.from_cache ? { fromCache: true } : {}),
      };
      this.history.push(point);
      this.latest?.update(point);
      this.chart?.update(this.history);
      this.conditions?.update(this.history);
      const alert = deriveAlert(point, bandOf(model), model.name);
      if (alert) this.feed.add(alert);
      this.abPanel?.nudge();
      this.banner.clear('request');
      this.banner.clear('connection');
      this.setConnection('online');
      // A prediction's version may be an A/B variant's; the health check reports the active version.
      if (this.banner.get('model')) void this.checkHealth();
    } catch (error) {
      if (!this.disposed) this.showError(error);
    } finally {
      this.inFlight = false;
      inputs.setBusy(false);
      if (this.pending && !this.disposed) {
        this.pending = false;
        void this.predict();
      }
    }
  }

  private async autoTick(): Promise<void> {
    window.clearTimeout(this.autoTimer);
    if (this.disposed || !this.inputs?.auto) return;
    await this.predict();
    if (this.disposed || !this.inputs?.auto) return;
    const wait = Math.max(autoIntervalMs, this.cooldownUntil - Date.now());
    this.autoTimer = window.setTimeout(() => void this.autoTick(), wait);
  }

  private async reloadModel(): Promise<void> {
    try {
      const info = await this.api.get<ModelInfo>('/model/info', { signal: this.abort.signal });
      if (!this.disposed && info.version !== this.model?.version) this.setModel(info);
    } catch {
      // The health check reports what is wrong.
    }
  }

  private showError(error: unknown): void {
    if (error instanceof NetworkError) {
      this.setConnection('offline');
      this.banner.set('connection', 'error', `Offline: cannot reach the API at ${error.url}. Retrying every ${offlineRetryMs / 1000} s.`);
      this.scheduleHealth(offlineRetryMs);
      return;
    }
    if (!(error instanceof ApiError)) {
      if ((error as Error)?.name === 'AbortError') return;
      this.banner.set('request', 'error', 'The prediction failed unexpectedly.');
      return;
    }
    if (error.status === 401) return; // the session ends; the sign-in page says why
    if (error.status === 429) {
      this.startCooldown(error.retryAfterSeconds ?? 60);
      return;
    }
    if (error.status === 503 && error.code === 'MODEL_UNAVAILABLE') {
      this.markDegraded(error.message);
      return;
    }
    if (error.issues.length) this.inputs?.showIssues(error.issues);
    const ref = error.requestId ? ` (request ${error.requestId})` : '';
    this.banner.set('request', 'error', `${error.message}${ref}`);
  }

  /** 429: say when to retry, block Predict until then, and let auto mode wait it out. */
  private startCooldown(seconds: number): void {
    this.cooldownUntil = Date.now() + seconds * 1000;
    this.banner.set('rate', 'warning', `Rate limit exceeded. Retry in ${seconds} s (at ${clockTime(this.cooldownUntil)}).`);
    const tick = () => {
      const left = Math.ceil((this.cooldownUntil - Date.now()) / 1000);
      if (left <= 0 || this.disposed) {
        this.banner.clear('rate');
        this.inputs?.unblock();
        return;
      }
      this.inputs?.block(`Rate limited: you can predict again in ${left} s.`);
      this.cooldownTimer = window.setTimeout(tick, Math.min(1_000, this.cooldownUntil - Date.now()));
    };
    window.clearTimeout(this.cooldownTimer);
    tick();
  }

  // ----- health -----------------------------------------------------------------------------------------

  private scheduleHealth(ms: number): void {
    window.clearTimeout(this.healthTimer);
    if (!this.disposed) this.healthTimer = window.setTimeout(() => void this.checkHealth(), ms);
  }

  private async checkHealth(): Promise<void> {
    window.clearTimeout(this.healthTimer);
    try {
      const response = await this.api.raw('GET', '/health', { auth: false, signal: this.abort.signal });
      const body = (await response.json().catch(() => ({}))) as HealthResponse;
      if (this.disposed) return;
      this.banner.clear('connection');
      if (response.status === 503 || body.status !== 'healthy') {
        this.markDegraded(body.reason ?? `health answered ${response.status}`);
      } else {
        this.banner.clear('model');
        this.setConnection('online');
        if (!this.model) void this.loadModel();
        else if (body.model_version && body.model_version !== this.model.version) void this.reloadModel();
      }
      this.scheduleHealth(healthIntervalMs);
    } catch (error) {
      if (this.disposed || (error as Error).name === 'AbortError') return;
      this.setConnection('offline');
      const url = error instanceof NetworkError ? error.url : 'the API';
      this.banner.set('connection', 'error', `Offline: cannot reach the API at ${url}. Retrying every ${offlineRetryMs / 1000} s.`);
      this.scheduleHealth(offlineRetryMs);
    }
  }

  private markDegraded(reason: string): void {
    this.setConnection('degraded');
    this.banner.set('model', 'warning', `Degraded: the API is up but the model cannot serve predictions (${reason}). Predictions resume when it loads.`);
  }

  private setConnection(state: Connection): void {
    if (this.connection === state) return;
    this.connection = state;
    const text: Record<Connection, string> = { checking: 'API: checking…', online: 'API: online', degraded: 'API: degraded', offline: 'API: offline' };
    this.connectionPill.textContent = text[state];
    this.connectionPill.className = `pill pill-${state}`;
  }

  private scheduleExpiryWarning(): void {
    const warnAt = this.session.expiresAt - 60_000 - Date.now();
    if (warnAt <= 0) return;
    const timer = window.setTimeout(() => {
      this.banner.set('info', 'info', `Your session ends at ${clockTime(this.session.expiresAt)}. Sign in again then to continue.`);
    }, Math.min(warnAt, 2 ** 31 - 1));
    this.timers.add(timer);
  }
}
