import { z } from 'zod';
import type { Principal } from '../auth/tokens.js';
import { AppError, BatchTooLargeError, InvalidInputError, InvalidRequestError, type FieldIssue } from '../errors.js';
import type { ModelManifest } from '../manifest.js';
import type { StatsStore } from '../ports.js';
import type { TwinModel } from './model.js';
import type { ModelRegistry } from './registry.js';

/** The chapter's batch limit, kept. */
export const maxBatchSize = 100;

export const batchRequestSchema = z.object({ inputs: z.array(z.unknown()) });

export interface PredictResponse {
  user: string;
  prediction: number;
  confidence_interval: [number, number] | null;
  inference_time_ms: number;
  /** Seconds since the epoch, as the chapter's `time.time()`. */
  timestamp: number;
  model: { name: string; version: string };
  model_version: string;
}

export interface BatchResult {
  index: number;
  input: Record<string, number>;
  prediction: number;
  confidence_interval: [number, number] | null;
}

export interface BatchError {
  index: number;
  error: string;
  issues: FieldIssue[];
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
  interval: ModelManifest['interval'] | null;
  alert_thresholds: ModelManifest['alerts'];
  sha256: string;
}

export interface TwinServiceOptions {
  serviceName: string;
  defaultModel: string;
  /** When this container (or local process) started, for uptime. */
  startedAt: number;
  now?: () => number;
}

/** The twin's use cases: predict, batch, status, model info, metrics, health. No HTTP, no AWS. */
export class TwinService {
  private containerPredictions = 0;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly stats: StatsStore,
    private readonly options: TwinServiceOptions,
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  async predict(principal: Principal, body: unknown): Promise<PredictResponse> {
    const model = await this.registry.active(this.options.defaultModel);
    // Timed as the chapter's edge twin: from feature extraction to the interval, model loading excluded.
    const started = performance.now();
    const values = new Float32Array(model.featureCount);
    const issues = model.validator.validateInto(body, values, 0);
    if (issues.length > 0) throw new InvalidInputError(issues.map((i) => i.message).join('; '), issues);
    const [row] = await model.infer(values, 1);
    const elapsed = performance.now() - started;
    await this.record(model, 1, 1);
    return {
      user: principal.username,
      prediction: row!.prediction,
      confidence_interval: row!.interval,
      inference_time_ms: elapsed,
      timestamp: this.now() / 1000,
      model: { name: model.manifest.name, version: model.manifest.version },
      model_version: model.manifest.version,
    };
  }

  async batch(principal: Principal, body: unknown): Promise<BatchResponse> {
    const parsed = batchRequestSchema.safeParse(body);
    if (!parsed.success) {
      throw new InvalidRequestError('inputs must be an array of feature objects', [
        { field: 'inputs', rule: 'required_array', message: 'inputs must be an array of feature objects' },
      ]);
    }
    const inputs = parsed.data.inputs;
    if (inputs.length > maxBatchSize) throw new BatchTooLargeError(inputs.length, maxBatchSize);
    const model = await this.registry.active(this.options.defaultModel);
    const started = performance.now();
    const width = model.featureCount;
    const values = new Float32Array(Math.max(1, inputs.length) * width);
    const accepted: number[] = [];
    const errors: BatchError[] = [];
    inputs.forEach((input, index) => {
      const issues = model.validator.validateInto(input, values, accepted.length * width, `inputs.${index}`);
      if (issues.length === 0) accepted.push(index);
      else errors.push({ index, error: issues.map((i) => i.message).join('; '), issues });
    });
    const rows = accepted.length > 0 ? await model.infer(values, accepted.length) : [];
    const results: BatchResult[] = accepted.map((index, r) => ({
      index,
      input: inputs[index] as Record<string, number>,
      prediction: rows[r]!.prediction,
      confidence_interval: rows[r]!.interval,
    }));
    const elapsed = performance.now() - started;
    await this.record(model, 1, results.length);
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
    };
  }

  async modelInfo(): Promise<ModelInfo> {
    return describeModel(await this.registry.active(this.options.defaultModel));
  }

  async status(principal: Principal) {
    return { status: 'operational', model_info: await this.modelInfo(), user: principal.username };
  }

  async metrics() {
    const name = this.options.defaultModel;
    const [version, counts] = await Promise.all([this.registry.activeVersion(name), this.stats.getPredictions(name)]);
    return {
      total_requests: counts.requests,
      total_predictions: counts.rows,
      model_version: version,
      uptime_seconds: Math.max(0, (this.now() - this.options.startedAt) / 1000),
      by_version: counts.byVersion,
      container: { predictions: this.containerPredictions, started_at: new Date(this.options.startedAt).toISOString() },
    };
  }

  /** Public: says whether the active model loads, and which version serves; never throws. */
  async health(): Promise<{ statusCode: number; body: Record<string, unknown> }> {
    const base = { service: this.options.serviceName, timestamp: new Date(this.now()).toISOString() };
    try {
      const model = await this.registry.active(this.options.defaultModel);
      return { statusCode: 200, body: { status: 'healthy', ...base, model: model.manifest.name, model_version: model.manifest.version } };
    } catch (error) {
      const reason = error instanceof AppError && error.expose ? error.message : 'model unavailable';
      return { statusCode: 503, body: { status: 'unhealthy', ...base, model_version: 'unknown', reason } };
    }
  }

  private async record(model: TwinModel, requests: number, rows: number): Promise<void> {
    this.containerPredictions += rows;
    await this.stats.addPredictions(model.manifest.name, model.manifest.version, requests, rows);
  }
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
    interval: m.interval ?? null,
    alert_thresholds: m.alerts,
    sha256: m.sha256,
  };
}
