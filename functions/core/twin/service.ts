import * as z from 'zod';
import type { AlertService } from '../alerts/service.js';
import type { Principal } from '../auth/tokens.js';
import { BatchTooLargeError, capIssues, clip, InvalidInputError, InvalidRequestError, maxIssues, maxMessageLength, ModelNotFoundError, summarizeIssues, type FieldIssue, type IssueList } from '../errors.js';
import { modelNameSchema, type ModelManifest } from '../manifest.js';
import { metricNames } from '../metric-names.js';
import type { ModelRouting, StatsStore, Telemetry, VariantSample } from '../ports.js';
import { cacheKey, LruCache } from './cache.js';
import type { RowPrediction, TwinModel } from './model.js';
import type { ModelRegistry, Resolved } from './registry.js';
import { explainCost, explainRows, type ExplanationMethod } from '../insight/explain.js';
import { rowUnits, type PrincipalRateLimit } from '../rate-limit.js';
import type { InferTarget } from './target.js';
import type { ServedRow } from '../quality/service.js';
import type { StoredCalibration } from '../quality/ports.js';

/** The chapter's batch limit, kept. */
export const maxBatchSize = 100;

export const batchRequestSchema = z.object({ inputs: z.array(z.unknown()) });

/** Per feature, when the input lies outside the training data (`outside_training_range`) or in its 1 % tails. */
export type Extrapolation = Record<string, 'outside_training_range' | 'training_tail'>;

export interface PredictResponse {
  user: string;
  prediction: number;
  confidence_interval: [number, number] | null;
  inference_time_ms: number;
  /** Seconds since the epoch, as the chapter's `time.time()`. */
  timestamp: number;
  model: { name: string; version: string };
  model_version: string;
  from_cache: boolean;
  extrapolation: Extrapolation;
  /** True when the interval is conformally calibrated to `interval_level`. */
  interval_calibrated: boolean;
  interval_level: number | null;
  /** With `explain: true`: per-feature contributions; expected_value + Σ contributions = prediction. */
  explanation?: PredictExplanation;
}

export interface PredictExplanation {
  method: ExplanationMethod;
  expected_value: number;
  contributions: Record<string, number>;
}

export interface BatchResult {
  index: number;
  input: Record<string, number>;
  prediction: number;
  confidence_interval: [number, number] | null;
  extrapolation: Extrapolation;
}

export interface BatchError {
  index: number;
  error: string;
  /** The row's first issues (every failing row has at least one; at most maxIssues over the whole batch). */
  issues: FieldIssue[];
  /** How many issues the row had, when more than `issues` shows. */
  issues_total?: number;
}

export interface BatchResponse {
  user: string;
  total: number;
  successful: number;
  failed: number;
  results: BatchResult[];
  errors: BatchError[];
  inference_time_ms: number;
  timestamp: number;
  model: { name: string; version: string };
  model_version: string;
  interval_calibrated: boolean;
  interval_level: number | null;
}

export interface ModelInfo {
  name: string;
  type: string;
  version: string;
  features: string[];
  trained_date: string;
  description?: string;
  target: ModelManifest['target'];
  feature_specs: ModelManifest['features'];
  output: ModelManifest['output'];
  interval: NonNullable<ModelManifest['interval']> | null;
  interval_calibrated: boolean;
  calibration: NonNullable<ModelManifest['calibration']> | null;
  alert_thresholds: ModelManifest['alerts'];
  sha256: string;
}

export type { InferTarget } from './target.js';

export interface InferRowsResult {
  manifest: ModelManifest;
  predictions: RowPrediction[];
  /** The graph's own output, row-major `[rows, columns]`. */
  raw: Float32Array;
  columns: number;
  inference_time_ms: number;
}

export interface TwinServiceOptions {
  serviceName: string;
  /** The model the chapter's routes serve when a request names none. */
  defaultModel: string;
  /** Per plant, a default model replacing {@link defaultModel} for the plant's principals. */
  plantDefaultModels?: Record<string, string>;
  /** When this container (or local process) started, for uptime. */
  startedAt: number;
  cacheSize: number;
  now?: () => number;
  telemetry?: Telemetry;
  onStatsError?: (error: unknown) => void;
  /** Charges work beyond one request (a model-agnostic `explain: true`) to the caller's rate limit. */
  rateLimit?: PrincipalRateLimit;
  /** Model quality: keeps served rows for feedback and supplies the interval's recalibration factor. */
  quality?: QualityHook;
}

/** What the twin needs of model quality (functions/core/quality/service.ts). */
export interface QualityHook {
  /** The version's recalibration factor and any calibration added after publishing (cached by the service). */
  serving(name: string, version: string): Promise<{ factor: number; calibration?: StoredCalibration }>;
  capture(principal: Principal, model: TwinModel, requestId: string, rows: readonly ServedRow[]): Promise<void>;
}

interface CachedRow {
  prediction: number;
  interval: [number, number] | null;
}

/** The twin's use cases: predict, batch, status, model info, metrics, health. No HTTP, no AWS. */
export class TwinService {
  private containerPredictions = 0;
  private readonly cache: LruCache<CachedRow>;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly stats: StatsStore,
    private readonly alerts: AlertService,
    private readonly options: TwinServiceOptions,
  ) {
    this.cache = new LruCache(options.cacheSize);
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private subject(principal: Principal) {
    return { id: principal.id, ...(principal.plant ? { plant: principal.plant } : {}) };
  }

  /**
   * The version of model `name` that answers this principal (routing, A/B, fail-safe): the one path every
   * model-addressed route resolves through, so ownership and graph checks made there cover them all.
   */
  async resolveFor(principal: Principal, name: string): Promise<Resolved> {
    // Path parameters are checked before any lookup (a bad name never reaches the store).
    if (!modelNameSchema.safeParse(name).success) {
      throw new InvalidRequestError('model name must be lower-case letters, digits and dashes', [{ field: 'name', rule: 'format', message: 'lower-case letters, digits and dashes' }]);
    }
    return this.registry.resolve(name, this.subject(principal));
  }

  /** Charges `units` beyond the request's own to the principal's rate limit (no-op without a limiter). */
  async charge(principal: Principal, units: number): Promise<void> {
    await this.options.rateLimit?.charge(principal, units);
  }

  /** The model a request that names none gets: the principal's plant's default, else the deployment's. */
  defaultModelFor(principal: Principal): string {
    return (principal.plant ? this.options.plantDefaultModels?.[principal.plant] : undefined) ?? this.options.defaultModel;
  }

  /**
   * The model that answers `principal` for `target` (default: {@link defaultModelFor}): the version its routing
   * picks, or exactly `target.version`. Every serving path goes through here, so the registry's checks cover all.
   */
  private async pick(principal: Principal, target?: InferTarget): Promise<{ model: TwinModel; routing: ModelRouting | undefined }> {
    const name = target?.name ?? this.defaultModelFor(principal);
    if (target?.version) return { model: await this.registry.version(name, target.version, this.subject(principal)), routing: undefined };
    return this.registry.resolve(name, this.subject(principal));
  }

  /** One prediction with `target`'s model (default: the principal's default model), in the chapter's shape. */
  async predict(principal: Principal, body: unknown, requestId = '', target?: InferTarget): Promise<PredictResponse> {
    // `explain: true` asks for contributions beside the prediction; it is not a feature.
    let explain = false;
    if (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.hasOwn(body, 'explain')) {
      const { explain: flag, ...row } = body as Record<string, unknown>;
      if (typeof flag !== 'boolean') {
        throw new InvalidRequestError('explain must be true or false', [{ field: 'explain', rule: 'type', message: 'explain must be true or false' }]);
      }
      explain = flag;
      body = row;
    }
    const { model, routing } = await this.pick(principal, target);
    // Timed as the chapter's edge twin: from feature extraction to the interval; model loading excluded.
    const started = performance.now();
    const values = new Float32Array(model.featureCount);
    const check = model.validator.validateInto(body, values, 0);
    if (check.total > 0) {
      await this.record(model, principal, { requests: 1, errors: 1, rows: 0, predictionSum: 0, latencyMs: performance.now() - started, cacheHits: 0, alerts: 0 });
      throw new InvalidInputError(rowMessage(model, check), check.issues, check.total);
    }
    await this.applyWidthFactor(model);
    // The factor is part of the key: a recalibrated interval is never answered from an older cached one. So is
    // the plant: `from_cache` must not tell one plant which inputs another plant sent.
    const key = cacheKey(`${principal.plant ?? '-'}~${model.ref}~${model.widthFactor}~${model.calibration?.calibrated ?? ''}`, values);
    const cached = this.cache.get(key);
    const row: CachedRow = cached ?? (await model.infer(values.slice(), 1))[0]!;
    if (!cached) this.cache.set(key, { prediction: row.prediction, interval: row.interval });
    const elapsed = performance.now() - started;
    const alert = await this.alerts.check({
      manifest: model.manifest,
      principal,
      rows: [{ inputs: body as Record<string, number>, prediction: row.prediction, interval: row.interval }],
      requestId,
    });
    await Promise.all([
      this.record(model, principal, { requests: 1, errors: 0, rows: 1, predictionSum: row.prediction, latencyMs: elapsed, cacheHits: cached ? 1 : 0, alerts: alert.sent }),
      routing?.shadow && routing.shadow !== model.manifest.version ? this.shadow(principal, routing.shadow, values, 1, model.manifest.name) : undefined,
      this.options.quality?.capture(principal, model, requestId, [{ row: 0, inputs: namedInputs(model, body), prediction: row.prediction, interval: row.interval }]),
    ]);
    return {
      user: principal.username,
      prediction: row.prediction,
      confidence_interval: row.interval,
      inference_time_ms: elapsed,
      timestamp: this.now() / 1000,
      model: { name: model.manifest.name, version: model.manifest.version },
      model_version: model.manifest.version,
      from_cache: cached !== undefined,
      extrapolation: extrapolation(model.manifest, values, 0),
      ...intervalFacts(model),
      ...(explain ? { explanation: await this.explainOne(principal, model, values) } : {}),
    };
  }

  /** One row's contributions (see functions/core/insight/explain.ts); model-agnostic ones are charged by rows evaluated. */
  async explainOne(principal: Principal, model: TwinModel, values: Float32Array, seed = 0): Promise<PredictExplanation> {
    await this.charge(principal, rowUnits(explainCost(model, 1), model.members));
    const { method, explanations } = await explainRows(model, values, 1, seed);
    return { method, ...explanations[0]! };
  }

  /** Up to {@link maxBatchSize} predictions in one run with `target`'s model (default: the principal's default model). */
  async batch(principal: Principal, body: unknown, requestId = '', target?: InferTarget): Promise<BatchResponse> {
    const parsed = batchRequestSchema.safeParse(body);
    if (!parsed.success) {
      throw new InvalidRequestError('inputs must be an array of feature objects', [
        { field: 'inputs', rule: 'required_array', message: 'inputs must be an array of feature objects' },
      ]);
    }
    const inputs = parsed.data.inputs;
    if (inputs.length > maxBatchSize) throw new BatchTooLargeError(inputs.length, maxBatchSize);
    const { model, routing } = await this.pick(principal, target);
    const started = performance.now();
    const width = model.featureCount;
    const values = new Float32Array(Math.max(1, inputs.length) * width);
    const accepted: number[] = [];
    const errors: BatchError[] = [];
    // Every failing row is reported with its first issue; the answer holds at most maxIssues issues in all,
    // so a batch of bad rows cannot make the answer (or the work) grow past that.
    let budget = maxIssues;
    inputs.forEach((input, index) => {
      const check = model.validator.validateInto(input, values, accepted.length * width, `inputs.${index}`, Math.max(1, budget));
      if (check.total === 0) {
        accepted.push(index);
        return;
      }
      const issues = check.issues.slice(0, Math.max(1, budget));
      budget -= issues.length;
      errors.push({ index, error: rowMessage(model, { issues, total: check.total }), issues: capIssues(issues), ...(check.total > issues.length ? { issues_total: check.total } : {}) });
    });
    // Rows beyond one unit's worth (a wide ensemble) are charged before the run; the gateway took one unit.
    await this.charge(principal, rowUnits(accepted.length, model.members) - 1);
    await this.applyWidthFactor(model);
    // One session.run for every valid row.
    const rows: RowPrediction[] = accepted.length > 0 ? await model.infer(values.slice(0, accepted.length * width), accepted.length) : [];
    const results: BatchResult[] = accepted.map((index, r) => ({
      index,
      input: inputs[index] as Record<string, number>,
      prediction: rows[r]!.prediction,
      confidence_interval: rows[r]!.interval,
      extrapolation: extrapolation(model.manifest, values, r * width),
    }));
    const elapsed = performance.now() - started;
    const alert = await this.alerts.check({
      manifest: model.manifest,
      principal,
      rows: results.map((r) => ({ inputs: r.input, prediction: r.prediction, interval: r.confidence_interval })),
      requestId,
    });
    await Promise.all([
      this.record(model, principal, {
        requests: 1,
        errors: errors.length > 0 ? 1 : 0,
        rows: results.length,
        predictionSum: results.reduce((s, r) => s + r.prediction, 0),
        latencyMs: elapsed,
        cacheHits: 0,
        alerts: alert.sent,
      }),
      routing?.shadow && routing.shadow !== model.manifest.version && accepted.length > 0 ? this.shadow(principal, routing.shadow, values, accepted.length, model.manifest.name) : undefined,
      this.options.quality?.capture(
        principal,
        model,
        requestId,
        results.map((r) => ({ row: r.index, inputs: namedInputs(model, r.input), prediction: r.prediction, interval: r.confidence_interval })),
      ),
    ]);
    return {
      user: principal.username,
      total: inputs.length,
      successful: results.length,
      failed: errors.length,
      results,
      errors,
      inference_time_ms: elapsed,
      timestamp: this.now() / 1000,
      model: { name: model.manifest.name, version: model.manifest.version },
      model_version: model.manifest.version,
      ...intervalFacts(model),
    };
  }

  /**
   * Predicts rows given as feature-ordered value arrays (the rows of a row-major `[N, features]` tensor) with
   * `target`'s model: the version its routing picks for this principal, or exactly `target.version`. A
   * tensor has no per-row errors, so one bad row refuses the request (INVALID_INPUT naming each row and
   * rule). Then as a batch: one session.run, stats, alerts, and a copy to the shadow version.
   */
  async inferRows(principal: Principal, target: InferTarget, rows: readonly (readonly unknown[])[], requestId = ''): Promise<InferRowsResult> {
    if (rows.length > maxBatchSize) throw new BatchTooLargeError(rows.length, maxBatchSize);
    const { model, routing } = await this.pick(principal, target);
    const started = performance.now();
    const width = model.featureCount;
    const names = model.manifest.features.map((f) => f.name);
    const values = new Float32Array(Math.max(1, rows.length) * width);
    const issues: FieldIssue[] = [];
    let total = 0;
    rows.forEach((row, r) => {
      if (row.length !== width) {
        total += 1;
        if (issues.length < maxIssues) issues.push({ field: `rows.${r}`, rule: 'shape', message: `row ${r} has ${row.length} values; the model takes ${width} (${names.join(', ')})` });
        return;
      }
      const named = Object.fromEntries(names.map((name, i) => [name, row[i]]));
      const check = model.validator.validateInto(named, values, r * width, `rows.${r}`, Math.max(1, maxIssues - issues.length));
      total += check.total;
      if (issues.length < maxIssues) issues.push(...check.issues.slice(0, maxIssues - issues.length));
    });
    if (total > 0) {
      await this.record(model, principal, { requests: 1, errors: 1, rows: 0, predictionSum: 0, latencyMs: performance.now() - started, cacheHits: 0, alerts: 0 });
      const shown = issues.slice(0, 10).map((i) => `${i.field}: ${i.message}`);
      if (total > shown.length) shown.push(`and ${total - shown.length} more`);
      throw new InvalidInputError(shown.join('; '), issues, total);
    }
    await this.charge(principal, rowUnits(rows.length, model.members) - 1);
    await this.applyWidthFactor(model);
    const out = await model.run(values.slice(0, rows.length * width), rows.length);
    const elapsed = performance.now() - started;
    const alert = await this.alerts.check({
      manifest: model.manifest,
      principal,
      rows: out.predictions.map((p, r) => ({
        inputs: Object.fromEntries(names.map((name, i) => [name, rows[r]![i] as number])),
        prediction: p.prediction,
        interval: p.interval,
      })),
      requestId,
    });
    await Promise.all([
      this.record(model, principal, {
        requests: 1,
        errors: 0,
        rows: rows.length,
        predictionSum: out.predictions.reduce((s, p) => s + p.prediction, 0),
        latencyMs: elapsed,
        cacheHits: 0,
        alerts: alert.sent,
      }),
      routing?.shadow && routing.shadow !== model.manifest.version && rows.length > 0 ? this.shadow(principal, routing.shadow, values, rows.length, target.name) : undefined,
      this.options.quality?.capture(
        principal,
        model,
        requestId,
        out.predictions.map((p, r) => ({ row: r, inputs: Object.fromEntries(names.map((name, i) => [name, rows[r]![i] as number])), prediction: p.prediction, interval: p.interval })),
      ),
    ]);
    return {
      manifest: model.manifest,
      predictions: out.predictions,
      raw: out.raw,
      columns: out.columns,
      inference_time_ms: elapsed,
    };
  }

  /** A copy of the traffic for the shadow version: recorded in its stats, never returned; its failures never fail the request. */
  private async shadow(principal: Principal, version: string, values: Float32Array, rows: number, name: string): Promise<void> {
    try {
      const model = await this.registry.version(name, version, this.subject(principal));
      const started = performance.now();
      const out = await model.infer(values.slice(0, rows * model.featureCount), rows);
      await this.stats.record(model.manifest.name, version, {
        requests: 1,
        errors: 0,
        rows,
        predictionSum: out.reduce((s, r) => s + r.prediction, 0),
        latencyMs: performance.now() - started,
        cacheHits: 0,
        alerts: 0,
        shadow: true,
      }, principal.plant);
    } catch {
      this.options.telemetry?.count('ShadowErrors', 1, { model: name, modelVersion: version });
    }
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
    return this.describeServed((await this.registry.resolve(this.defaultModelFor(principal), this.subject(principal), { primary: true })).model);
  }

  /**
   * A model as it serves: with a calibration added after publishing. A container that only describes models
   * (the status function in Lambda) never predicts, so the overlay is applied here too, not only on predict.
   */
  private async describeServed(model: TwinModel): Promise<ModelInfo> {
    await this.applyWidthFactor(model);
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
    const name = this.defaultModelFor(principal);
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
      ...(principal.plant
        ? {}
        : {
            container: {
              predictions: this.containerPredictions,
              started_at: new Date(this.options.startedAt).toISOString(),
              cache: this.cache.stats(),
            },
          }),
    };
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

  /** A calibration added after publishing, and the online recalibration factor (cached by the quality service). */
  private async applyWidthFactor(model: TwinModel): Promise<void> {
    if (!this.options.quality) return;
    const state = await this.options.quality.serving(model.manifest.name, model.manifest.version);
    model.applyCalibration(state.calibration);
    model.widthFactor = model.intervalCalibrated ? state.factor : 1;
  }

  /** Stats are bookkeeping: a failing counter store is logged and counted, never fails the prediction. */
  private async record(model: TwinModel, principal: Principal, sample: VariantSample): Promise<void> {
    this.containerPredictions += sample.rows;
    try {
      await this.stats.record(model.manifest.name, model.manifest.version, sample, principal.plant);
    } catch (error) {
      this.options.telemetry?.count(metricNames.statsWriteFailures, 1, { model: model.manifest.name });
      this.options.onStatsError?.(error);
    }
  }
}

/** A validated row's features as sent (not float32-rounded), so feedback by inputs matches what the client has. */
function namedInputs(model: TwinModel, row: unknown): Record<string, number> {
  const values = row as Record<string, number>;
  return Object.fromEntries(model.manifest.features.map((f) => [f.name, values[f.name]!]));
}

/** A row's issues as one message: the first few, the count of the rest, and (once) the features expected. */
function rowMessage(model: TwinModel, check: IssueList): string {
  const text = summarizeIssues(check);
  return clip(check.issues.some((i) => i.rule === 'unknown_field') ? `${text}; expected ${model.validator.expectedFeatures()}` : text, maxMessageLength);
}

function extrapolation(manifest: ModelManifest, values: Float32Array, offset: number): Extrapolation {
  const flags: Extrapolation = {};
  manifest.features.forEach((f, i) => {
    const envelope = f.envelope;
    if (!envelope) return;
    const v = values[offset + i]!;
    if (v < envelope.min || v > envelope.max) flags[f.name] = 'outside_training_range';
    else if (v < envelope.q01 || v > envelope.q99) flags[f.name] = 'training_tail';
  });
  return flags;
}

function intervalFacts(model: TwinModel): { interval_calibrated: boolean; interval_level: number | null } {
  const interval = model.interval;
  return { interval_calibrated: model.intervalCalibrated, interval_level: interval && 'level' in interval ? interval.level : null };
}

export function describeModel(model: TwinModel): ModelInfo {
  const m = model.manifest;
  return {
    name: m.name,
    type: m.modelType,
    version: m.version,
    features: m.features.map((f) => f.name),
    trained_date: m.created,
    ...(m.description ? { description: m.description } : {}),
    target: m.target,
    feature_specs: m.features,
    output: m.output,
    interval: model.interval ?? null,
    interval_calibrated: model.intervalCalibrated,
    calibration: model.calibration ?? null,
    alert_thresholds: m.alerts,
    sha256: m.sha256,
  };
}
