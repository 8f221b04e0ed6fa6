import * as z from 'zod';
import type { AlertService } from '../alerts/service.js';
import type { Principal } from '../auth/tokens.js';
import { BatchTooLargeError, capIssues, clip, InvalidInputError, InvalidRequestError, maxIssues, type FieldIssue } from '../errors.js';
import { explainCost, explainRows } from '../insight/explain.js';
import { modelNameSchema } from '../manifest.js';
import type { PendingWrites } from '../pending-writes.js';
import type { ModelRouting, StatsStore, Telemetry } from '../ports.js';
import { rowUnits, type PrincipalRateLimit } from '../rate-limit.js';
import {
  extrapolation,
  intervalFacts,
  namedInputs,
  rowMessage,
  type BatchError,
  type BatchResponse,
  type BatchResult,
  type InferRowsResult,
  type ModelInfo,
  type PredictExplanation,
  type PredictResponse,
} from './answers.js';
import { ServingBookkeeping, type QualityHook } from './bookkeeping.js';
import { cacheKey, LruCache } from './cache.js';
import { maxBatchSize } from './limits.js';
import type { RowPrediction, TwinModel } from './model.js';
import { TwinOverview } from './overview.js';
import type { ModelRegistry, Resolved } from './registry.js';
import type { InferTarget } from './target.js';

export const batchRequestSchema = z.object({ inputs: z.array(z.unknown()) });

export type { BatchError, BatchResponse, BatchResult, Extrapolation, InferRowsResult, ModelInfo, PredictExplanation, PredictResponse } from './answers.js';
export { describeModel } from './answers.js';
export type { InferTarget } from './target.js';
export type { QualityHook } from './bookkeeping.js';

/** How a use case is asked, beside its principal and body. */
export interface ServeOptions {
  /** The request's id: served rows are kept under it for feedback. */
  requestId?: string;
  /** The model (and version) to serve; default: the principal's default model. */
  target?: InferTarget;
  /**
   * Where the writes after the work go (stats, served rows, shadow copy) for the caller to await before it
   * answers (the HTTP middleware, with the audit record); without it the use case awaits them itself.
   */
  writes?: PendingWrites;
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

interface CachedRow {
  prediction: number;
  interval: [number, number] | null;
}

type ServingState = Awaited<ReturnType<QualityHook['serving']>>;

/** The model that answers a request, and model quality's state of the version routing chose for it. */
interface Picked {
  model: TwinModel;
  routing: ModelRouting | undefined;
  /** Read while the chosen version's package loaded (on a cold start, one round to the store fewer). */
  serving?: { version: string; state: Promise<ServingState> };
}

/**
 * The twin's use cases: predict, batch, tensor inference; status, model info, metrics and health are described by
 * {@link TwinOverview} (functions/core/twin/overview.ts), the writes after a prediction by
 * {@link ServingBookkeeping} (functions/core/twin/bookkeeping.ts). No HTTP, no AWS.
 */
export class TwinService {
  private readonly cache: LruCache<CachedRow>;
  private readonly bookkeeping: ServingBookkeeping;
  private readonly overview: TwinOverview;

  constructor(
    private readonly registry: ModelRegistry,
    stats: StatsStore,
    private readonly alerts: AlertService,
    private readonly options: TwinServiceOptions,
  ) {
    this.cache = new LruCache(options.cacheSize);
    this.bookkeeping = new ServingBookkeeping(registry, stats, options);
    this.overview = new TwinOverview(registry, stats, {
      ...options,
      defaultModelFor: (principal) => this.defaultModelFor(principal),
      applyWidthFactor: (model) => this.applyWidthFactor(model),
      container: () => ({ predictions: this.bookkeeping.predictions, cache: this.cache.stats() }),
    });
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
  private async pick(principal: Principal, target?: InferTarget): Promise<Picked> {
    const name = target?.name ?? this.defaultModelFor(principal);
    if (target?.version) return { model: await this.registry.version(name, target.version, this.subject(principal)), routing: undefined };
    const quality = this.options.quality;
    let serving: Picked['serving'];
    // The version is chosen after the owner check: nobody the model is hidden from costs a quality read.
    const chosen = (version: string) => {
      if (quality) serving = { version, state: quality.serving(name, version) };
    };
    const resolved = await this.registry.resolve(name, this.subject(principal), { chosen });
    return serving ? { ...resolved, serving } : resolved;
  }

  /** One prediction with `target`'s model (default: the principal's default model), in the chapter's shape. */
  async predict(principal: Principal, body: unknown, { requestId = '', target, writes }: ServeOptions = {}): Promise<PredictResponse> {
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
    const { model, routing, serving } = await this.pick(principal, target);
    // Timed as the chapter's edge twin: from feature extraction to the interval; model loading excluded.
    const started = performance.now();
    const values = new Float32Array(model.featureCount);
    const check = model.validator.validateInto(body, values, 0);
    if (check.total > 0) {
      await this.bookkeeping.refused(model, principal, performance.now() - started, writes);
      throw new InvalidInputError(rowMessage(model, check), check.issues, check.total);
    }
    await this.applyWidthFactor(model, serving);
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
    await this.bookkeeping.served(
      {
        model,
        principal,
        requestId,
        sample: { requests: 1, errors: 0, rows: 1, predictionSum: row.prediction, latencyMs: elapsed, cacheHits: cached ? 1 : 0, alerts: alert.sent },
        shadow: { version: routing?.shadow, values, rows: 1 },
        rows: [{ row: 0, inputs: namedInputs(model, body), prediction: row.prediction, interval: row.interval }],
      },
      writes,
    );
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
  async batch(principal: Principal, body: unknown, { requestId = '', target, writes }: ServeOptions = {}): Promise<BatchResponse> {
    const parsed = batchRequestSchema.safeParse(body);
    if (!parsed.success) {
      throw new InvalidRequestError('inputs must be an array of feature objects', [
        { field: 'inputs', rule: 'required_array', message: 'inputs must be an array of feature objects' },
      ]);
    }
    // The envelope is as strict as its contract (functions/contracts.ts): a misspelt option is not ignored.
    const extra = Object.keys(body as object).find((key) => key !== 'inputs');
    if (extra !== undefined) {
      const field = clip(extra, 128);
      throw new InvalidRequestError(`${field} is not a field of a batch`, [{ field, rule: 'unknown_field', message: 'a batch holds only inputs' }]);
    }
    const inputs = parsed.data.inputs;
    if (inputs.length > maxBatchSize) throw new BatchTooLargeError(inputs.length, maxBatchSize);
    const { model, routing, serving } = await this.pick(principal, target);
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
    await this.applyWidthFactor(model, serving);
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
    await this.bookkeeping.served(
      {
        model,
        principal,
        requestId,
        sample: {
          requests: 1,
          errors: errors.length > 0 ? 1 : 0,
          rows: results.length,
          predictionSum: results.reduce((s, r) => s + r.prediction, 0),
          latencyMs: elapsed,
          cacheHits: 0,
          alerts: alert.sent,
        },
        shadow: { version: routing?.shadow, values, rows: accepted.length },
        rows: results.map((r) => ({ row: r.index, inputs: namedInputs(model, r.input), prediction: r.prediction, interval: r.confidence_interval })),
      },
      writes,
    );
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
  async inferRows(principal: Principal, target: InferTarget, rows: readonly (readonly unknown[])[], { requestId = '', writes }: Omit<ServeOptions, 'target'> = {}): Promise<InferRowsResult> {
    if (rows.length > maxBatchSize) throw new BatchTooLargeError(rows.length, maxBatchSize);
    const { model, routing, serving } = await this.pick(principal, target);
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
      await this.bookkeeping.refused(model, principal, performance.now() - started, writes);
      const shown = issues.slice(0, 10).map((i) => `${i.field}: ${i.message}`);
      if (total > shown.length) shown.push(`and ${total - shown.length} more`);
      throw new InvalidInputError(shown.join('; '), issues, total);
    }
    await this.charge(principal, rowUnits(rows.length, model.members) - 1);
    await this.applyWidthFactor(model, serving);
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
    await this.bookkeeping.served(
      {
        model,
        principal,
        requestId,
        sample: { requests: 1, errors: 0, rows: rows.length, predictionSum: out.predictions.reduce((s, p) => s + p.prediction, 0), latencyMs: elapsed, cacheHits: 0, alerts: alert.sent },
        shadow: { version: routing?.shadow, values, rows: rows.length },
        rows: out.predictions.map((p, r) => ({ row: r, inputs: Object.fromEntries(names.map((name, i) => [name, rows[r]![i] as number])), prediction: p.prediction, interval: p.interval })),
      },
      writes,
    );
    return {
      manifest: model.manifest,
      predictions: out.predictions,
      raw: out.raw,
      columns: out.columns,
      inference_time_ms: elapsed,
    };
  }

  /** Every model `principal` may use, described by its active version (see {@link TwinOverview.usableModels}). */
  usableModels(principal: Principal): Promise<ModelInfo[]> {
    return this.overview.usableModels(principal);
  }

  /** The principal's default model, and (`models`) every model the principal may use. */
  modelInfo(principal: Principal): Promise<ModelInfo & { models: ModelInfo[] }> {
    return this.overview.modelInfo(principal);
  }

  status(principal: Principal) {
    return this.overview.status(principal);
  }

  /** The chapter's metrics for the principal's default model, and `models`: the same per model the principal may use. */
  metrics(principal: Principal) {
    return this.overview.metrics(principal);
  }

  /** Public: healthy, degraded (serving a fallback version) or unhealthy (nothing to serve); never throws. */
  health(): Promise<{ statusCode: number; body: Record<string, unknown> }> {
    return this.overview.health();
  }

  /** A calibration added after publishing, and the online recalibration factor (cached by the quality service). */
  private async applyWidthFactor(model: TwinModel, started?: Picked['serving']): Promise<void> {
    if (!this.options.quality) return;
    const { name, version } = model.manifest;
    // The state read while the package loaded, unless a fallback version answers instead of the chosen one.
    const state = await (started?.version === version ? started.state : this.options.quality.serving(name, version));
    model.applyCalibration(state.calibration);
    model.widthFactor = model.intervalCalibrated ? state.factor : 1;
  }
}
