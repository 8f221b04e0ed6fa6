import { AlertFeed, deriveAlert } from '../alerts.js';
import type { ApiClient } from '../api.js';
import { ApiError, NetworkError } from '../errors.js';
import { clockTime } from '../format.js';
import { PredictionHistory, type PredictionPoint } from '../history.js';
import { chooseModel, hashForModel, modelEntries, modelFromHash, type ModelEntry } from '../models.js';
import type { Session } from '../session.js';
import type { HealthResponse, ModelInfo, PredictResponse } from '../types.js';
import { adminPanels, canAdminister } from './admin-view.js';
import { ConnectionMonitor } from './connection.js';
import { h, panel, replace } from './dom.js';
import { ModelPicker } from './model-picker.js';
import type { ModelsAdminPanel } from './models-admin.js';
import { StatusBanner } from './status-banner.js';
import { bandOf, TwinPanels } from './twin-panels.js';

export interface DashboardViewOptions {
  api: ApiClient;
  session: Session;
  container: HTMLElement;
  onSignOut: () => void;
}

/** The chapter's dcc.Interval. */
export const autoIntervalMs = 2_000;

/** Same model, same inputs: a new active version updates the panels in place (the history stays). */
function featuresKey(info: ModelInfo): string {
  return JSON.stringify([info.name, info.feature_specs.map((f) => [f.name, f.unit, f.min, f.max, f.step])]);
}

/**
 * The signed-in page: lists the models the principal may use, builds the inputs and views from the chosen
 * model's manifest (the URL's `#model=`, else the deployment's default), predicts through
 * `/api/v1/models/{name}/predict`, and runs the loops (auto predict every 2 s, health every 15 s, server
 * alerts, A/B stats, quality). Each model keeps its own history and alert feed, so charts never mix models.
 * Every loop stops in dispose().
 */
export class DashboardView {
  private readonly api: ApiClient;
  private readonly session: Session;
  private readonly banner = new StatusBanner();
  private readonly histories = new Map<string, PredictionHistory>();
  private readonly feeds = new Map<string, AlertFeed>();
  private readonly picker: ModelPicker;
  private entries: ModelEntry[] = [];
  private modelsAdmin: ModelsAdminPanel | undefined;
  private readonly abort = new AbortController();
  private readonly main: HTMLElement;
  private readonly twinView: HTMLElement;
  private readonly adminView: HTMLElement | undefined;
  private readonly connection: ConnectionMonitor;
  private readonly modelLabel: HTMLElement;
  private readonly navButtons: HTMLButtonElement[] = [];

  private model: ModelInfo | undefined;
  private panels: TwinPanels | undefined;
  private adminLoaded = false;

  private inFlight = false;
  private pending = false;
  private cooldownUntil = 0;
  private disposed = false;
  private timers = new Set<number>();
  private autoTimer: number | undefined;
  private cooldownTimer: number | undefined;
  private readonly onOnline = () => void this.connection.check();
  private readonly onHashChange = () => {
    const wanted = modelFromHash(location.hash);
    if (wanted && wanted !== this.model?.name) this.pickModel(wanted);
  };

  constructor(options: DashboardViewOptions) {
    this.api = options.api;
    this.session = options.session;
    const { session } = options;
    this.connection = new ConnectionMonitor(this.api, this.banner, this.abort.signal, (body) => this.onHealthy(body));
    this.modelLabel = h('span', { class: 'model-label', id: 'header-model' }, '');
    const canAdmin = canAdminister(session);
    this.picker = new ModelPicker((name) => this.pickModel(name));
    const signOut = h('button', { type: 'button', id: 'sign-out', on: { click: () => options.onSignOut() } }, 'Sign out');
    const nav = canAdmin
      ? h('nav', { 'aria-label': 'Views', class: 'views-nav' }, this.navButton('twin-view', 'Twin', true), this.navButton('admin-view', 'Administration', false))
      : null;
    const header = h(
      'header',
      { class: 'app-header' },
      h('div', { class: 'brand' }, h('h1', {}, 'Twinserve'), this.modelLabel),
      this.picker.element,
      nav,
      h(
        'div',
        { class: 'header-right' },
        this.connection.pill,
        h('span', { class: 'user', id: 'signed-in-user' }, `${session.username} (${session.role})`),
        h('span', { class: 'muted small', id: 'session-ends' }, `session ends ${clockTime(session.expiresAt)}`),
        signOut,
      ),
    );
    this.twinView = h('div', { id: 'twin-view', class: 'view' }, panel('Loading', { id: 'loading-panel' }, h('p', { 'aria-busy': 'true' }, 'Loading the models…')));
    this.adminView = canAdmin ? h('div', { id: 'admin-view', class: 'view admin-view', hidden: true }) : undefined;
    this.main = h('main', { id: 'main', class: 'app-main', tabindex: '-1' }, this.banner.element, this.twinView, this.adminView);
    replace(options.container, header, this.main);
    options.container.removeAttribute('aria-busy');
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOnline);
    window.addEventListener('hashchange', this.onHashChange);
    this.scheduleExpiryWarning();
  }

  async start(): Promise<void> {
    await Promise.all([this.connection.check(), this.loadModel()]);
  }

  dispose(): void {
    this.disposed = true;
    this.abort.abort();
    for (const t of this.timers) window.clearTimeout(t);
    window.clearTimeout(this.autoTimer);
    this.connection.dispose();
    window.clearTimeout(this.cooldownTimer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOnline);
    window.removeEventListener('hashchange', this.onHashChange);
    this.panels?.dispose();
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
    const { parts, models } = adminPanels(this.api, this.session, this.entries, () => this.refreshModels());
    this.modelsAdmin = models;
    replace(this.adminView, ...parts);
  }

  /** The history and alert feed of one model (each model keeps its own). */
  private historyOf(name: string): PredictionHistory {
    let history = this.histories.get(name);
    if (!history) this.histories.set(name, (history = new PredictionHistory(100)));
    return history;
  }

  private feedOf(name: string): AlertFeed {
    let feed = this.feeds.get(name);
    if (!feed) this.feeds.set(name, (feed = new AlertFeed(50)));
    return feed;
  }

  /**
   * The models the principal may use: `GET /model/info` describes the default and every servable model
   * (`models`), `GET /api/v1/models` lists them all, activated or not (a role without models:read gets the
   * servable ones only). Updates the picker; resolves with the list.
   */
  private async fetchModels(): Promise<{ info: ModelInfo & { models?: ModelInfo[] }; entries: ModelEntry[] }> {
    const [info, list] = await Promise.all([
      this.api.get<ModelInfo & { models?: ModelInfo[] }>('/model/info', { signal: this.abort.signal }),
      // The list only adds what cannot be served yet: without it (no models:read, or a store that fails) the
      // servable models still come from /model/info.
      this.api.get<unknown>('/api/v1/models', { signal: this.abort.signal }).catch((error: unknown) => {
        if (error instanceof ApiError && error.status !== 401) return undefined;
        throw error;
      }),
    ]);
    const entries = modelEntries(list, info.models ?? [info]);
    this.entries = entries;
    this.picker.setEntries(entries, this.model?.name);
    return { info, entries };
  }

  private async loadModel(): Promise<void> {
    try {
      const { info, entries } = await this.fetchModels();
      if (this.disposed) return;
      const chosen = chooseModel(entries, modelFromHash(location.hash), info.name);
      if (!chosen?.info) {
        replace(this.twinView, panel('No model', { id: 'model-error' }, h('p', { role: 'alert' }, 'No model is active for you yet: an admin activates one under Administration.')));
        return;
      }
      this.picker.setEntries(entries, chosen.name);
      void this.modelsAdmin?.setModels(entries);
      this.setModel(chosen.info);
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

  /** The picker (or the URL) chose a model: its own inputs, history, charts and panels; the URL remembers it. */
  private pickModel(name: string): void {
    const entry = this.entries.find((e) => e.name === name);
    if (!entry?.info) {
      this.picker.setEntries(this.entries, this.model?.name);
      return;
    }
    if (location.hash !== hashForModel(name)) history.replaceState(null, '', hashForModel(name));
    if (name !== this.model?.name) this.setModel(entry.info);
  }

  /**
   * Reloads the list (after an admin action, or when the health check sees a new version) and follows it. The
   * models panel shows the list it is handed (its own actions hand it this one).
   */
  private async refreshModels(): Promise<ModelEntry[]> {
    const { entries } = await this.fetchModels();
    const current = entries.find((e) => e.name === this.model?.name);
    if (!this.disposed && current?.info && current.info.version !== this.model?.version) this.setModel(current.info);
    return entries;
  }

  private setModel(info: ModelInfo): void {
    const previous = this.model;
    this.model = info;
    this.modelLabel.textContent = `${info.name} ${info.version}`;
    this.picker.setEntries(this.entries, info.name);
    if (previous && this.panels && featuresKey(previous) === featuresKey(info)) {
      this.panels.update(info);
    } else {
      this.buildTwinView(info);
    }
    if (previous && previous.name === info.name && previous.version !== info.version) this.banner.set('info', 'info', `The active model changed to ${info.name} ${info.version}.`);
  }

  private buildTwinView(info: ModelInfo): void {
    const wasAuto = this.panels?.inputs.auto ?? false;
    this.panels?.dispose();
    const panels = new TwinPanels({
      api: this.api,
      info,
      canPredict: this.session.scopes.has('twin:predict'),
      history: this.historyOf(info.name),
      feed: this.feedOf(info.name),
      inputs: {
        onChange: () => {
          if (this.panels?.inputs.auto) void this.predict();
        },
        onPredict: () => void this.predict(),
        onAutoChange: (on) => {
          window.clearTimeout(this.autoTimer);
          if (on) void this.autoTick();
        },
      },
    });
    this.panels = panels;
    replace(this.twinView, panels.element);
    panels.mount();
    if (this.cooldownUntil > Date.now()) this.startCooldown(Math.ceil((this.cooldownUntil - Date.now()) / 1000));
    if (wasAuto) panels.inputs.setAuto(true);
  }

  // ----- predictions -------------------------------------------------------------------------------------

  /** One prediction; concurrent calls coalesce into at most one more after the one in flight. */
  private async predict(): Promise<void> {
    const model = this.model;
    const inputs = this.panels?.inputs;
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
      const { data, headers } = await this.api.call<PredictResponse>('POST', `/api/v1/models/${encodeURIComponent(model.name)}/predict`, {
        body: { ...values, explain: true },
        signal: this.abort.signal,
      });
      if (this.disposed) return;
      // Another model was picked while this one was in flight: its point joins its own history only.
      const current = this.model?.name === model.name;
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
      const history = this.historyOf(model.name);
      history.push(point);
      const alert = deriveAlert(point, bandOf(model), model.name);
      if (alert) this.feedOf(model.name).add(alert);
      if (current) this.panels?.show(point, data.explanation);
      this.banner.clear('request');
      this.connection.online();
      // A prediction's version may be an A/B variant's; the health check reports the active version.
      if (this.banner.get('model')) void this.connection.check();
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
    if (this.disposed || !this.panels?.inputs.auto) return;
    await this.predict();
    if (this.disposed || !this.panels?.inputs.auto) return;
    const wait = Math.max(autoIntervalMs, this.cooldownUntil - Date.now());
    this.autoTimer = window.setTimeout(() => void this.autoTick(), wait);
  }

  private showError(error: unknown): void {
    if (error instanceof NetworkError) {
      this.connection.offline(error.url);
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
      this.connection.degraded(error.message);
      return;
    }
    if (error.issues.length) this.panels?.inputs.showIssues(error.issues);
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
        this.panels?.inputs.unblock();
        return;
      }
      this.panels?.inputs.block(`Rate limited: you can predict again in ${left} s.`);
      this.cooldownTimer = window.setTimeout(tick, Math.min(1_000, this.cooldownUntil - Date.now()));
    };
    window.clearTimeout(this.cooldownTimer);
    tick();
  }

  /** A healthy answer names the default model: a new active version of it reloads the list. */
  private onHealthy(body: HealthResponse): void {
    if (!this.model) void this.loadModel();
    else if (body.model === this.model.name && body.model_version && body.model_version !== this.model.version) {
      void this.refreshModels()
        .then((entries) => this.modelsAdmin?.setModels(entries))
        .catch(() => undefined);
    }
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
