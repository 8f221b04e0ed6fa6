import type { FeatureSpec, ModelManifest } from '../manifest.js';
import type { TwinModel } from '../twin/model.js';
import { predictRows } from './evaluate.js';
import { SeededRandom } from './random.js';
import { readTreeEnsemble } from './tree-graph.js';
import { TreeShapExplainer, type Box } from './tree-shap.js';

/**
 * Per-feature contributions to a prediction (Shapley values): `expected_value + Σ contributions = prediction`.
 *
 * - Tree ensembles (a TreeEnsembleRegressor writes the served output): exact interventional TreeSHAP
 *   against the uniform box over each feature's training envelope (its valid range when the manifest has
 *   no envelope); see tree-shap.ts. No inference runs.
 * - Any other model: interventional Shapley values against a seeded background sample of
 *   {@link backgroundRows} rows (Latin-hypercube over the same box), exact over all 2^M coalitions when
 *   2^M × rows ≤ {@link maxEvaluationsPerRow}, else by antithetic permutation sampling with that many model
 *   evaluations per explained row. Local accuracy holds exactly for both (against the background's mean).
 */

export const backgroundRows = 32;
export const maxEvaluationsPerRow = 4096;

export type ExplanationMethodName = 'tree-shap-interventional' | 'shapley-exact' | 'shapley-sampling';

export interface ExplanationMethod {
  method: ExplanationMethodName;
  /** The background the contributions are measured against (raw units). */
  background: { kind: 'uniform-box' | 'sample'; ranges: Record<string, [number, number]>; rows?: number; seed?: number };
  /** Model rows evaluated per explained row (0 for TreeSHAP, which reads the trees). */
  evaluations_per_row: number;
  /** Why a model is not explained by TreeSHAP. */
  reason?: string;
}

export interface Explanation {
  expected_value: number;
  contributions: Record<string, number>;
}

export interface ExplainedRows {
  method: ExplanationMethod;
  explanations: Explanation[];
  /** Model rows evaluated in all (the rate-limit weight of model-agnostic explanations). */
  evaluations: number;
}

interface Prepared {
  tree?: TreeShapExplainer;
  reason?: string;
  ranges: Record<string, [number, number]>;
}

const prepared = new WeakMap<TwinModel, Prepared>();

/** The background box in raw units: per feature its training envelope, else its valid range. */
export function backgroundRanges(features: readonly FeatureSpec[]): [number, number][] {
  return features.map((f) => (f.envelope ? [f.envelope.min, f.envelope.max] : [f.min, f.max]));
}

/** A raw value as the graph sees it: float32, then the manifest's scaler in float32 (as TwinModel.run). */
export function graphValue(manifest: ModelManifest, feature: number, raw: number): number {
  const x = Math.fround(raw);
  const s = manifest.scaler;
  return s ? Math.fround((x - s.mean[feature]!) / s.scale[feature]!) : x;
}

function prepare(model: TwinModel): Prepared {
  const cached = prepared.get(model);
  if (cached) return cached;
  const manifest = model.manifest;
  const raw = backgroundRanges(manifest.features);
  const ranges = Object.fromEntries(manifest.features.map((f, i) => [f.name, raw[i]!]));
  const reading = readTreeEnsemble(model.graph, manifest);
  let result: Prepared;
  if (reading.ok) {
    // The box in the graph's input space: an affine scaler maps a uniform interval to a uniform interval.
    const s = manifest.scaler;
    const ends = raw.map(([a, b], f) => (s ? [(a - s.mean[f]!) / s.scale[f]!, (b - s.mean[f]!) / s.scale[f]!] : [a, b]).sort((p, q) => p - q));
    const box: Box = { lo: Float64Array.from(ends, (e) => e[0]!), hi: Float64Array.from(ends, (e) => e[1]!) };
    result = { tree: new TreeShapExplainer(reading.ensemble, box), ranges };
  } else {
    result = { reason: reading.reason, ranges };
  }
  prepared.set(model, result);
  return result;
}

/** Whether and why not a model is explained by TreeSHAP. */
export function explanationKind(model: TwinModel): { tree: boolean; reason?: string } {
  const p = prepare(model);
  return p.tree ? { tree: true } : { tree: false, ...(p.reason ? { reason: p.reason } : {}) };
}

/** Model rows an explanation of `rows` rows evaluates (0 for TreeSHAP): its rate-limit weight, known before running. */
export function explainCost(model: TwinModel, rows: number): number {
  if (prepare(model).tree) return 0;
  const m = model.featureCount;
  return rows * (isExact(m) ? 2 ** m * backgroundRows : samplingPairs(m) * 2 * (m + 1));
}

function isExact(m: number): boolean {
  return m <= 12 && 2 ** m * backgroundRows <= maxEvaluationsPerRow;
}

function samplingPairs(m: number): number {
  return Math.max(1, Math.floor(maxEvaluationsPerRow / (2 * (m + 1))));
}

/**
 * Explains `rows` validated rows (raw units, feature order, row-major in `values`). `seed` drives the
 * model-agnostic background and permutations (TreeSHAP needs none).
 */
export async function explainRows(model: TwinModel, values: Float32Array, rows: number, seed = 0): Promise<ExplainedRows> {
  const p = prepare(model);
  const names = model.manifest.features.map((f) => f.name);
  const width = names.length;
  if (p.tree) {
    const x = new Float64Array(width);
    const phi = new Float64Array(width);
    const explanations: Explanation[] = [];
    for (let r = 0; r < rows; r++) {
      for (let f = 0; f < width; f++) x[f] = graphValue(model.manifest, f, values[r * width + f]!);
      p.tree.explain(x, phi);
      explanations.push({ expected_value: p.tree.expectedValue, contributions: Object.fromEntries(names.map((n, f) => [n, phi[f]!])) });
    }
    return {
      method: { method: 'tree-shap-interventional', background: { kind: 'uniform-box', ranges: p.ranges }, evaluations_per_row: 0 },
      explanations,
      evaluations: 0,
    };
  }
  return sampledShapley(model, values, rows, seed, p);
}

/** Latin-hypercube background rows inside the box, seeded. */
function backgroundSample(ranges: [number, number][], n: number, random: SeededRandom): number[][] {
  const strata = ranges.map(() => random.permutation(n));
  return Array.from({ length: n }, (_, i) => ranges.map(([a, b], f) => a + ((strata[f]![i]! + random.next()) / n) * (b - a)));
}

function factorial(n: number): number {
  let r = 1;
  for (let i = 2; i <= n; i++) r *= i;
  return r;
}

async function sampledShapley(model: TwinModel, values: Float32Array, rows: number, seed: number, p: Prepared): Promise<ExplainedRows> {
  const names = model.manifest.features.map((f) => f.name);
  const m = names.length;
  const random = new SeededRandom(seed);
  const background = backgroundSample(Object.values(p.ranges), backgroundRows, random);
  const exact = isExact(m);
  const explanations: Explanation[] = [];
  let evaluations = 0;
  const method: ExplanationMethod = {
    method: exact ? 'shapley-exact' : 'shapley-sampling',
    background: { kind: 'sample', ranges: p.ranges, rows: backgroundRows, seed },
    evaluations_per_row: 0,
    ...(p.reason ? { reason: p.reason } : {}),
  };
  for (let r = 0; r < rows; r++) {
    const x = Array.from(values.subarray(r * m, (r + 1) * m));
    const result = exact ? await exactShapley(model, x, background) : await permutationShapley(model, x, background, random);
    evaluations += result.evaluations;
    method.evaluations_per_row = result.evaluations;
    explanations.push({ expected_value: result.expected, contributions: Object.fromEntries(names.map((n, f) => [n, result.phi[f]!])) });
  }
  return { method, explanations, evaluations };
}

/** v(S) = mean over the background of f(x_S, b_rest), for every coalition S; then the Shapley formula. */
async function exactShapley(model: TwinModel, x: number[], background: number[][]) {
  const m = x.length;
  const coalitions = 2 ** m;
  const n = background.length;
  const values = new Float32Array(coalitions * n * m);
  for (let s = 0; s < coalitions; s++) {
    for (let b = 0; b < n; b++) {
      const at = (s * n + b) * m;
      for (let f = 0; f < m; f++) values[at + f] = s & (1 << f) ? x[f]! : background[b]![f]!;
    }
  }
  const predictions = await predictRows(model, values, coalitions * n);
  const v = new Float64Array(coalitions);
  for (let s = 0; s < coalitions; s++) {
    let sum = 0;
    for (let b = 0; b < n; b++) sum += predictions[s * n + b]!.prediction;
    v[s] = sum / n;
  }
  const weight = Array.from({ length: m }, (_, size) => (factorial(size) * factorial(m - size - 1)) / factorial(m));
  const phi = new Float64Array(m);
  for (let s = 0; s < coalitions; s++) {
    let size = 0;
    for (let f = 0; f < m; f++) if (s & (1 << f)) size++;
    for (let f = 0; f < m; f++) if (!(s & (1 << f))) phi[f] = phi[f]! + weight[size]! * (v[s | (1 << f)]! - v[s]!);
  }
  return { phi, expected: v[0]!, evaluations: coalitions * n };
}

/**
 * Antithetic permutation sampling: each permutation (and its reverse) walks from a background row to x one
 * feature at a time; a feature's contribution is the mean change when it switches. The walks telescope, so
 * Σ contributions = f(x) − mean f(b) exactly.
 */
async function permutationShapley(model: TwinModel, x: number[], background: number[][], random: SeededRandom) {
  const m = x.length;
  const pairs = samplingPairs(m);
  const walks: number[][] = [];
  for (let p = 0; p < pairs; p++) {
    const order = random.permutation(m);
    walks.push(order, [...order].reverse());
  }
  const values = new Float32Array(walks.length * (m + 1) * m);
  walks.forEach((order, w) => {
    const b = background[w % background.length]!;
    const row = [...b];
    let at = w * (m + 1) * m;
    values.set(row, at);
    for (const f of order) {
      row[f] = x[f]!;
      at += m;
      values.set(row, at);
    }
  });
  const predictions = await predictRows(model, values, walks.length * (m + 1));
  const phi = new Float64Array(m);
  let expected = 0;
  walks.forEach((order, w) => {
    const start = w * (m + 1);
    expected += predictions[start]!.prediction;
    order.forEach((f, step) => (phi[f] = phi[f]! + predictions[start + step + 1]!.prediction - predictions[start + step]!.prediction));
  });
  for (let f = 0; f < m; f++) phi[f] = phi[f]! / walks.length;
  return { phi, expected: expected / walks.length, evaluations: walks.length * (m + 1) };
}
