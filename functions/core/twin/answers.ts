import { clip, maxMessageLength, summarizeIssues, type FieldIssue, type IssueList } from '../errors.js';
import type { ExplanationMethod } from '../insight/explain.js';
import type { ModelManifest } from '../manifest.js';
import type { RowPrediction, TwinModel } from './model.js';

/**
 * What the twin's use cases answer (functions/core/twin/service.ts), and the pure pieces of an answer: the
 * extrapolation flags, the interval facts, a model's description, a row's issues as one message.
 */

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

export interface InferRowsResult {
  manifest: ModelManifest;
  predictions: RowPrediction[];
  /** The graph's own output, row-major `[rows, columns]`. */
  raw: Float32Array;
  columns: number;
  inference_time_ms: number;
}

/** A validated row's features as sent (not float32-rounded), so feedback by inputs matches what the client has. */
export function namedInputs(model: TwinModel, row: unknown): Record<string, number> {
  const values = row as Record<string, number>;
  return Object.fromEntries(model.manifest.features.map((f) => [f.name, values[f.name]!]));
}

/** A row's issues as one message: the first few, the count of the rest, and (once) the features expected. */
export function rowMessage(model: TwinModel, check: IssueList): string {
  const text = summarizeIssues(check);
  return clip(check.issues.some((i) => i.rule === 'unknown_field') ? `${text}; expected ${model.validator.expectedFeatures()}` : text, maxMessageLength);
}

export function extrapolation(manifest: ModelManifest, values: Float32Array, offset: number): Extrapolation {
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

export function intervalFacts(model: TwinModel): { interval_calibrated: boolean; interval_level: number | null } {
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
