import type { Principal } from '../auth/tokens.js';
import { ModelNotFoundError } from '../errors.js';
import type { StatsStore } from '../ports.js';
import { describeModel, type ModelInfo } from './answers.js';
import type { LruCache } from './cache.js';
import type { TwinModel } from './model.js';
import type { ModelRegistry } from './registry.js';

export interface TwinOverviewOptions {
  serviceName: string;
  /** The model the public health check serves. */
  defaultModel: string;
  /** When this container (or local process) started, for uptime. */
  startedAt: number;
  now?: () => number;
  defaultModelFor(principal: Principal): string;
  /** Applies a calibration added after publishing (and the recalibration factor) to a model before it is described. */
  applyWidthFactor(model: TwinModel): Promise<void>;
  /** This container's own figures: rows served and the prediction cache. */
  container(): { predictions: number; cache: ReturnType<LruCache<unknown>['stats']> };
}

/** What the twin says about itself: status, model info, metrics, health. Reads only; scoped by the principal's plant. */
export class TwinOverview {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly stats: StatsStore,
    private readonly options: TwinOverviewOptions,
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private subject(principal: Principal) {
    return { id: principal.id, ...(principal.plant ? { plant: principal.plant } : {}) };
  }

  /**
   * Every model `principal` may use, described by its active version: the models with an active version
   * that the registry serves to the principal (a model never activated, or one with no usable version, is left
   * out; the latter shows under `degraded`).
   */
  async usableModels(principal: Principal): Promise<ModelInfo[]> {
    const names = await this.registry.names();
    const infos = await Promise.all(
      names.map(async (name) => {
        try {
          return await this.describeServed((await this.registry.resolve(name, this.subject(principal), { primary: true })).model);
        } catch (error) {
          if (error instanceof ModelNotFoundError || (error instanceof Error && 'expose' in error)) return undefined;
          throw error;
        }
      }),
    );
    return infos.filter((i): i is ModelInfo => i !== undefined);
  }

  /** The principal's default model, and (`models`) every model the principal may use. */
  async modelInfo(principal: Principal): Promise<ModelInfo & { models: ModelInfo[] }> {
    const [info, models] = await Promise.all([this.defaultInfo(principal), this.usableModels(principal)]);
    return { ...info, models };
  }

  private async defaultInfo(principal: Principal): Promise<ModelInfo> {
    return this.describeServed((await this.registry.resolve(this.options.defaultModelFor(principal), this.subject(principal), { primary: true })).model);
  }

  /**
   * A model as it serves: with a calibration added after publishing. A container that only describes models
   * (the status function in Lambda) never predicts, so the overlay is applied here too, not only on predict.
   */
  private async describeServed(model: TwinModel): Promise<ModelInfo> {
    await this.options.applyWidthFactor(model);
    return describeModel(model);
  }

  async status(principal: Principal) {
    const [model_info, models] = await Promise.all([this.defaultInfo(principal), this.usableModels(principal)]);
    const degraded = this.registry.degradations(principal);
    return { status: degraded.length ? 'degraded' : 'operational', model_info, models, user: principal.username, ...(degraded.length ? { degraded } : {}) };
  }

  /** Counts of one model's serving versions (shadow copies excluded). */
  private async modelCounts(name: string, principal: Principal) {
    // The deployment's counters for a platform principal, its plant's for a plant's.
    const variants = await this.stats.read(name, principal.plant);
    const serving = variants.filter((v) => !v.shadow);
    const by_version: Record<string, { requests: number; rows: number; cache_hits: number }> = {};
    for (const v of serving) by_version[v.version] = { requests: v.requests, rows: v.rows, cache_hits: v.cacheHits };
    return {
      total_requests: serving.reduce((s, v) => s + v.requests, 0),
      total_predictions: serving.reduce((s, v) => s + v.rows, 0),
      cache_hits: serving.reduce((s, v) => s + v.cacheHits, 0),
      by_version,
    };
  }

  /** The chapter's metrics for the principal's default model, and `models`: the same per model the principal may use. */
  async metrics(principal: Principal) {
    const name = this.options.defaultModelFor(principal);
    const usable = await this.usableModels(principal);
    const [version, counts, perModel] = await Promise.all([
      this.registry.activeVersion(name, this.subject(principal)),
      this.modelCounts(name, principal),
      Promise.all(usable.map(async (m) => [m.name, { model_version: m.version, ...(await this.modelCounts(m.name, principal)) }] as const)),
    ]);
    const { total_requests: requests, cache_hits: hits, total_predictions, by_version } = counts;
    return {
      total_requests: requests,
      total_predictions,
      model_version: version,
      models: Object.fromEntries(perModel.map(([n, c]) => [n, { model_version: c.model_version, total_requests: c.total_requests, total_predictions: c.total_predictions, by_version: c.by_version }])),
      uptime_seconds: Math.max(0, (this.now() - this.options.startedAt) / 1000),
      cache_hit_rate: requests === 0 ? 0 : hits / requests,
      by_version,
      degraded: this.registry.degradations(principal),
      // Whole-container figures count every plant's traffic: platform principals only.
      ...(principal.plant ? {} : { container: this.containerFigures() }),
    };
  }

  private containerFigures() {
    const { predictions, cache } = this.options.container();
    return { predictions, started_at: new Date(this.options.startedAt).toISOString(), cache };
  }

  /** Public: healthy, degraded (serving a fallback version) or unhealthy (nothing to serve); never throws. */
  async health(): Promise<{ statusCode: number; body: Record<string, unknown> }> {
    const base = { service: this.options.serviceName, timestamp: new Date(this.now()).toISOString() };
    try {
      // Public: served as to a platform principal, showing only platform-wide models' degradations.
      const model = await this.registry.active(this.options.defaultModel, { id: '' });
      const degraded = this.registry.degradations('public');
      return {
        statusCode: 200,
        body: {
          status: degraded.length ? 'degraded' : 'healthy',
          ...base,
          model: model.manifest.name,
          model_version: model.manifest.version,
          ...(degraded.length ? { degraded } : {}),
        },
      };
    } catch (error) {
      const reason = error instanceof Error && 'expose' in error && error.expose ? error.message : 'model unavailable';
      return { statusCode: 503, body: { status: 'unhealthy', ...base, model_version: 'unknown', reason } };
    }
  }
}
