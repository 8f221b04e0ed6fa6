import type * as z from 'zod';
import type { Principal } from '../auth/tokens.js';
import { fieldIssuesFromZod } from '../zod-issues.js';
import { capIssues, clip, InvalidInputError, InvalidRequestError, maxMessageLength, summarizeIssues, type FieldIssue } from '../errors.js';
import type { FeatureSpec, ModelManifest } from '../manifest.js';
import { rowUnits } from '../rate-limit.js';
import type { TwinModel } from '../twin/model.js';
import type { TwinService } from '../twin/service.js';
import { chunkRows, predictRows } from './evaluate.js';
import { explainCost, explainRows, type Explanation, type ExplanationMethod } from './explain.js';
import {
  explainRequestSchema,
  optimizeRequestSchema,
  sweepRequestSchema,
  type Constraint,
  type OptimizeRequest,
  type SweepAxis,
  type SweepRequest,
  type Target,
} from './schemas.js';
import { search, type Evaluated } from './search.js';

/**
 * Process insight on a named model (docs/insight.md): explanations of rows, what-if sweeps over one or two
 * features, and a setpoint optimizer. The model is resolved exactly as the model-addressed predict route
 * resolves it (TwinService.resolveFor: routing, ownership, graph checks). Sweeps and optimizations are
 * hypothetical rows: they raise no alerts and add nothing to the model's prediction stats; their cost is
 * charged to the caller's rate limit by rows evaluated (rowUnits) BEFORE any inference runs.
 */

interface ModelRef {
  user: string;
  model: { name: string; version: string };
  model_version: string;
  timestamp: number;
}

export interface ExplainResponse extends ModelRef {
  method: ExplanationMethod;
  results: (Explanation & { index: number; input: Record<string, number>; prediction: number; confidence_interval: [number, number] | null })[];
  inference_time_ms: number;
}

export interface SweepAxisResult {
  feature: string;
  values: number[];
}

export interface SweepResponse extends ModelRef {
  x: SweepAxisResult;
  y: SweepAxisResult | null;
  fixed: Record<string, number>;
  /** `[y][x]` (one row for a 1-D sweep). */
  prediction: number[][];
  lower: number[][] | null;
  upper: number[][] | null;
  /** The model's alert band, for the heat map's contour. */
  alert_band: { min: number; max: number };
  rows: number;
  runs: number;
  inference_time_ms: number;
}

export interface OptimizePoint {
  setpoints: Record<string, number>;
  value: number;
  prediction: number;
  confidence_interval: [number, number] | null;
}

export interface OptimizeResponse extends ModelRef, OptimizePoint {
  feasible: boolean;
  /** Why no answer satisfies the constraints (then the point is the least violating one). */
  message?: string;
  goal: 'maximize' | 'minimize';
  target: Target;
  bounds: Record<string, [number, number]>;
  constraints: (Constraint & { actual: number; satisfied: boolean })[];
  search: {
    method: string;
    seed: number;
    grid: { per_axis: number; points: number } | { sampled: number };
    rounds: number;
    evaluations: number;
    runs: number;
    stopped: 'converged' | 'evaluations' | 'time';
  };
  inference_time_ms: number;
}

export interface InsightOptions {
  now?: () => number;
  /** Monotonic milliseconds for the optimizer's time budget. */
  monotonic?: () => number;
}

function invalid(field: string, rule: string, message: string): InvalidRequestError {
  return new InvalidRequestError(message, [{ field, rule, message }]);
}

export class InsightService {
  constructor(
    private readonly twin: TwinService,
    private readonly options: InsightOptions = {},
  ) {}

  private ref(principal: Principal, model: TwinModel): ModelRef {
    return {
      user: principal.username,
      model: { name: model.manifest.name, version: model.manifest.version },
      model_version: model.manifest.version,
      timestamp: (this.options.now?.() ?? Date.now()) / 1000,
    };
  }

  /** Contributions for up to 100 rows of model `name`. */
  async explain(principal: Principal, name: string, body: unknown): Promise<ExplainResponse> {
    const request = parse(explainRequestSchema, body);
    const { model } = await this.twin.resolveFor(principal, name);
    const width = model.featureCount;
    const values = new Float32Array(request.inputs.length * width);
    const issues: FieldIssue[] = [];
    let total = 0;
    request.inputs.forEach((input, r) => {
      const found = model.validator.validateInto(input, values, r * width, `inputs.${r}`);
      issues.push(...found.issues);
      total += found.total;
    });
    if (total > 0) throw new InvalidInputError(clip(summarizeIssues({ issues, total }), maxMessageLength), capIssues(issues), total);
    await this.twin.charge(principal, rowUnits(request.inputs.length + explainCost(model, request.inputs.length), model.members) - 1);
    const started = performance.now();
    const [predictions, explained] = await Promise.all([predictRows(model, values, request.inputs.length), explainRows(model, values, request.inputs.length, request.seed ?? 0)]);
    return {
      ...this.ref(principal, model),
      method: explained.method,
      results: request.inputs.map((input, index) => ({
        index,
        input,
        prediction: predictions[index]!.prediction,
        confidence_interval: predictions[index]!.interval,
        ...explained.explanations[index]!,
      })),
      inference_time_ms: performance.now() - started,
    };
  }

  /** Predictions and intervals over a 1-D or 2-D grid of one or two features, the others fixed. */
  async sweep(principal: Principal, name: string, body: unknown): Promise<SweepResponse> {
    const request = parse(sweepRequestSchema, body);
    const { model } = await this.twin.resolveFor(principal, name);
    const m = model.manifest;
    const axes = [resolveAxis(m, request.x, 'x'), ...(request.y ? [resolveAxis(m, request.y, 'y')] : [])];
    if (axes[1] && axes[1].index === axes[0]!.index) throw invalid('y.feature', 'distinct', 'x and y must be different features');
    const base = baseRow(model, request.fixed, new Map(axes.map((a) => [a.index, a.lo])), 'fixed');
    const nx = axes[0]!.values.length;
    const ny = axes[1]?.values.length ?? 1;
    const rows = nx * ny;
    await this.twin.charge(principal, rowUnits(rows, model.members) - 1);
    const width = model.featureCount;
    const values = new Float32Array(rows * width);
    for (let iy = 0; iy < ny; iy++) {
      for (let ix = 0; ix < nx; ix++) {
        const at = (iy * nx + ix) * width;
        values.set(base, at);
        values[at + axes[0]!.index] = axes[0]!.values[ix]!;
        if (axes[1]) values[at + axes[1].index] = axes[1].values[iy]!;
      }
    }
    const started = performance.now();
    const predictions = await predictRows(model, values, rows);
    const grid = (pick: (k: number) => number) => Array.from({ length: ny }, (_, iy) => Array.from({ length: nx }, (_, ix) => pick(iy * nx + ix)));
    const hasInterval = predictions[0]?.interval !== null;
    return {
      ...this.ref(principal, model),
      x: { feature: axes[0]!.feature, values: axes[0]!.values },
      y: axes[1] ? { feature: axes[1].feature, values: axes[1].values } : null,
      fixed: Object.fromEntries(m.features.flatMap((f, i) => (axes.some((a) => a.index === i) ? [] : [[f.name, base[i]!]]))),
      prediction: grid((k) => predictions[k]!.prediction),
      lower: hasInterval ? grid((k) => predictions[k]!.interval![0]) : null,
      upper: hasInterval ? grid((k) => predictions[k]!.interval![1]) : null,
      alert_band: { min: m.alerts.min, max: m.alerts.max },
      rows,
      runs: Math.ceil(rows / chunkRows),
      inference_time_ms: performance.now() - started,
    };
  }

  /** The best setpoints for a goal on the prediction or an interval bound, under constraints (search.ts). */
  async optimize(principal: Principal, name: string, body: unknown): Promise<OptimizeResponse> {
    const request = parse(optimizeRequestSchema, body);
    const { model } = await this.twin.resolveFor(principal, name);
    const m = model.manifest;
    const varied = resolveBounds(m, request);
    const usesInterval = request.target !== 'prediction' || request.constraints.some((c) => c.target !== 'prediction');
    if (usesInterval && !m.interval) throw invalid('target', 'interval', `model ${m.name}@${m.version} has no interval; optimise and constrain the prediction`);
    const base = baseRow(model, request.fixed, new Map(varied.map((v) => [v.index, v.lo])), 'fixed');
    await this.twin.charge(principal, rowUnits(request.max_evaluations, model.members) - 1);

    const width = model.featureCount;
    const sign = request.goal === 'maximize' ? 1 : -1;
    const read = (p: { prediction: number; interval: [number, number] | null }, t: Target) => (t === 'prediction' ? p.prediction : t === 'lower' ? p.interval![0] : p.interval![1]);
    let runs = 0;
    const started = performance.now();
    const evaluate = async (points: number[][]): Promise<Evaluated<{ prediction: number; interval: [number, number] | null }>[]> => {
      const values = new Float32Array(points.length * width);
      points.forEach((p, r) => {
        values.set(base, r * width);
        varied.forEach((v, i) => (values[r * width + v.index] = p[i]!));
      });
      runs += Math.ceil(points.length / chunkRows);
      const predictions = await predictRows(model, values, points.length);
      return predictions.map((p, r) => ({
        point: points[r]!,
        score: sign * read(p, request.target),
        violation: request.constraints.reduce((s, c) => {
          const actual = read(p, c.target);
          return s + Math.max(0, c.op === '>=' ? c.value - actual : actual - c.value);
        }, 0),
        detail: p,
      }));
    };
    const result = await search(
      {
        lo: varied.map((v) => v.lo),
        hi: varied.map((v) => v.hi),
        seed: request.seed,
        maxEvaluations: request.max_evaluations,
        maxTimeMs: request.max_time_ms,
        now: this.options.monotonic ?? (() => performance.now()),
      },
      evaluate,
    );
    const best = result.best;
    const setpoints = Object.fromEntries(m.features.map((f, i) => [f.name, base[i]!]));
    varied.forEach((v, i) => (setpoints[v.feature] = best.point[i]!));
    const feasible = best.violation === 0;
    return {
      ...this.ref(principal, model),
      feasible,
      ...(feasible ? {} : { message: `no point searched satisfies the constraints; the setpoints are the least violating (by ${best.violation})` }),
      goal: request.goal,
      target: request.target,
      setpoints,
      value: read(best.detail, request.target),
      prediction: best.detail.prediction,
      confidence_interval: best.detail.interval,
      bounds: Object.fromEntries(varied.map((v) => [v.feature, [v.lo, v.hi]])),
      constraints: request.constraints.map((c) => {
        const actual = read(best.detail, c.target);
        return { ...c, actual, satisfied: c.op === '>=' ? actual >= c.value : actual <= c.value };
      }),
      search: {
        method: 'grid then compass pattern search (seeded random probes, step halving) from the best grid points',
        seed: request.seed,
        grid: result.grid,
        rounds: result.rounds,
        evaluations: result.evaluations,
        runs,
        stopped: result.stopped,
      },
      inference_time_ms: performance.now() - started,
    };
  }
}

/** Zod at the core's boundary too (the handler's contract validates the same schema): defaults applied. */
function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const list = body === undefined ? { issues: [{ field: 'body', rule: 'required', message: 'a JSON body is required' }], total: 1 } : fieldIssuesFromZod(parsed.error);
  throw new InvalidRequestError(clip(summarizeIssues(list), maxMessageLength), capIssues(list.issues), list.total);
}

function featureIndex(m: ModelManifest, name: string, field: string): { index: number; spec: FeatureSpec } {
  const index = m.features.findIndex((f) => f.name === name);
  if (index < 0) throw invalid(field, 'unknown_feature', `unknown feature ${name}; expected one of ${m.features.map((f) => f.name).join(', ')}`);
  return { index, spec: m.features[index]! };
}

/** Checks a sub-range against the feature's valid range: `lo < hi`, both inside it. */
function checkRange(spec: FeatureSpec, lo: number, hi: number, field: string): void {
  if (lo < spec.min || hi > spec.max) throw invalid(field, 'range', `${spec.name} range [${lo}, ${hi}] must lie within its valid range [${spec.min}, ${spec.max}]`);
  if (!(lo < hi)) throw invalid(field, 'range', `${spec.name}: min must be below max (got [${lo}, ${hi}])`);
}

function resolveAxis(m: ModelManifest, axis: SweepAxis, field: string) {
  const { index, spec } = featureIndex(m, axis.feature, `${field}.feature`);
  const lo = axis.min ?? spec.min;
  const hi = axis.max ?? spec.max;
  checkRange(spec, lo, hi, field);
  const values = Array.from({ length: axis.steps }, (_, k) => (k === axis.steps - 1 ? hi : lo + ((hi - lo) * k) / (axis.steps - 1)));
  return { index, feature: spec.name, lo, values };
}

function resolveBounds(m: ModelManifest, request: OptimizeRequest) {
  const entries = Object.entries(request.vary);
  if (entries.length === 0) throw invalid('vary', 'required', 'vary needs at least one feature to search over');
  return entries.map(([name, b]) => {
    const { index, spec } = featureIndex(m, name, `vary.${name}`);
    let lo = b.min ?? spec.min;
    let hi = b.max ?? spec.max;
    checkRange(spec, lo, hi, `vary.${name}`);
    if (request.within_envelope && spec.envelope) {
      lo = Math.max(lo, spec.envelope.min);
      hi = Math.min(hi, spec.envelope.max);
      if (!(lo < hi)) throw invalid(`vary.${name}`, 'envelope', `${name}: the bounds do not overlap the training envelope [${spec.envelope.min}, ${spec.envelope.max}]`);
    }
    return { index, feature: spec.name, lo, hi };
  });
}

/**
 * The fixed part of every row, validated as a predict row (every other feature present, known, in range):
 * the varied features take `placeholders` (a valid value) and are overwritten per point.
 */
function baseRow(model: TwinModel, fixed: Record<string, number>, placeholders: Map<number, number>, field: string): Float32Array {
  const row: Record<string, number> = { ...fixed };
  model.manifest.features.forEach((f, i) => {
    const placeholder = placeholders.get(i);
    if (placeholder !== undefined) row[f.name] = placeholder;
  });
  const values = new Float32Array(model.featureCount);
  const found = model.validator.validateInto(row, values, 0, field);
  if (found.total > 0) throw new InvalidInputError(clip(summarizeIssues(found), maxMessageLength), capIssues(found.issues), found.total);
  return values;
}
