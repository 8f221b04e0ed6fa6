import * as z from 'zod';
import { fitDifficultyTree, groupOf, type DifficultyNode } from './difficulty.js';

/**
 * Conformal calibration of prediction intervals (docs/models.md, "Model quality"). Pure arithmetic, shared by
 * the packager (`--calibration`) and the calibration route (calibration data added to a published version).
 *
 * - Single-output models: split conformal. Score |y − ŷ|; the interval is ŷ ± q̂.
 * - Ensembles with enough rows: Mondrian (group-conditional) conformal over the leaves of a difficulty tree
 *   (./difficulty.ts) fitted on every other calibration row to |y − mean| from the inputs and the members'
 *   spread; each leaf's half-width is the conformal quantile of |y − mean| over the remaining rows that fall
 *   in it. Fitting and quantiles use disjoint rows, so every group covers at least `level` of new rows from
 *   its region, and the interval follows the noise where it is, which the spread alone does not.
 * - Ensembles with too few rows for groups (or no split worth making): normalised split conformal. Score
 *   |y − mean| / (spread + eps), spread the members' standard deviation; the interval is mean ± q̂·(spread + eps).
 *
 * q̂ is the ⌈(n+1)·level⌉-th smallest score: with exchangeable rows the interval covers a new row with
 * probability at least `level` (and below level + 1/(n+1)).
 */

/** The stated coverage of an interval. */
export const intervalLevelSchema = z.number().min(0.5, 'must be at least 0.5').max(0.99, 'must be at most 0.99');
export const defaultIntervalLevel = 0.9;
/** Fewer rows than this give a quantile too coarse to be worth calling calibrated. */
export const minCalibrationRows = 20;

export class CalibrationError extends Error {
  override readonly name = 'CalibrationError';
}

/** The rank (1-based) of the split-conformal quantile: ⌈(n+1)·level⌉. */
export function conformalRank(n: number, level: number): number {
  // The epsilon keeps (n+1)·level that is an integer in exact arithmetic from rounding up one rank.
  return Math.ceil((n + 1) * level - 1e-9);
}

/** The ⌈(n+1)·level⌉-th smallest score. Throws CalibrationError when there are too few scores for the level. */
export function conformalQuantile(scores: ArrayLike<number>, level: number, minRows = minCalibrationRows): number {
  const n = scores.length;
  if (n < minRows) throw new CalibrationError(`${n} calibration rows; a conformal interval needs at least ${minRows}`);
  const k = conformalRank(n, level);
  if (k > n) throw new CalibrationError(`${n} calibration rows are too few for level ${level} (needs at least ${Math.ceil(level / (1 - level))})`);
  const sorted = Float64Array.from(scores).sort();
  return sorted[k - 1]!;
}

/** Mean and (population) standard deviation of an ensemble's members in one pass. */
export function memberMoments(members: ArrayLike<number>): { mean: number; spread: number } {
  const n = members.length;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const v = members[i]!;
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / n;
  return { mean, spread: Math.sqrt(Math.max(0, sumSq / n - mean * mean)) };
}

export interface CalibrationRecord {
  method: 'split-conformal' | 'normalized-conformal' | 'mondrian-conformal';
  level: number;
  /** Calibration rows used. */
  rows: number;
  /**
   * The share of the calibration rows the calibrated interval covers (at least `level` by construction): for
   * Mondrian conformal, of the rows the quantiles came from (the other half fitted the tree).
   */
  coverage: number;
  /** Mondrian conformal: how many groups (leaves of the difficulty tree). */
  groups?: number;
}

export type CalibratedInterval =
  | { method: 'conformal'; level: number; halfWidth: number }
  | { method: 'conformal-normalized'; level: number; scale: number; eps: number }
  | { method: 'conformal-mondrian'; level: number; tree: DifficultyNode[]; halfWidth: number[] };

/**
 * Rows per group, at least: enough that a group's quantile is not one or two extreme rows (100), and twice
 * the rows the level needs (99 at 0.99). Mondrian calibration needs two such groups in each half.
 */
export function minGroupRows(level: number): number {
  let need = 1;
  while (conformalRank(need, level) > need) need++;
  return Math.max(100, 2 * need);
}

export interface CalibrationResult {
  interval: CalibratedInterval;
  calibration: CalibrationRecord;
}

function checkTargets(predictions: number, targets: readonly number[]): void {
  if (predictions !== targets.length) throw new CalibrationError(`${predictions} predictions for ${targets.length} targets`);
  if (!targets.every(Number.isFinite)) throw new CalibrationError('every calibration target must be a finite number');
}

/** Split conformal for a single-output model from its predictions on the calibration rows. */
export function calibrateSingle(predictions: ArrayLike<number>, targets: readonly number[], level = defaultIntervalLevel): CalibrationResult {
  checkTargets(predictions.length, targets);
  const scores = targets.map((y, i) => Math.abs(y - predictions[i]!));
  const halfWidth = conformalQuantile(scores, level);
  const covered = scores.filter((s) => s <= halfWidth).length;
  return {
    interval: { method: 'conformal', level, halfWidth },
    calibration: { method: 'split-conformal', level, rows: scores.length, coverage: covered / scores.length },
  };
}

/**
 * Calibrates an ensemble from its members on the calibration rows (`members` row-major, `columns` per row)
 * and the rows' graph inputs (`inputs` row-major, `features` per row, as the graph sees them: after the
 * manifest's scaler, which is what serving has at hand). Mondrian conformal when the rows allow two groups
 * of {@link minGroupRows} in each half and the difficulty tree finds a split; else normalised conformal.
 */
export function calibrateEnsemble(
  members: ArrayLike<number>,
  columns: number,
  targets: readonly number[],
  level = defaultIntervalLevel,
  inputs?: { values: ArrayLike<number>; features: number },
): CalibrationResult {
  const rows = Math.floor(members.length / columns);
  checkTargets(rows, targets);
  const means = new Float64Array(rows);
  const spreads = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const m = memberMoments(subarray(members, r * columns, (r + 1) * columns));
    means[r] = m.mean;
    spreads[r] = m.spread;
  }
  const residuals = Float64Array.from(targets, (y, r) => Math.abs(y - means[r]!));
  if (inputs && inputs.values.length !== rows * inputs.features) throw new CalibrationError(`${inputs.values.length / inputs.features} input rows for ${rows} targets`);
  const grouped = inputs && rows >= 4 * minGroupRows(level) ? calibrateGroups(residuals, spreads, inputs, level) : undefined;
  return grouped ?? calibrateNormalized(residuals, spreads, level);
}

/** A row's members without copying them when they are a typed array (a wide ensemble's rows add up). */
function subarray(members: ArrayLike<number>, from: number, to: number): ArrayLike<number> {
  return ArrayBuffer.isView(members) ? (members as Float32Array).subarray(from, to) : Array.prototype.slice.call(members, from, to);
}

/**
 * Mondrian conformal: even rows fit the difficulty tree, odd rows give each leaf its quantile. Alternating
 * rather than halving keeps a file sorted by time or by an input from handing the halves different regions.
 */
function calibrateGroups(residuals: Float64Array, spreads: Float64Array, inputs: { values: ArrayLike<number>; features: number }, level: number): CalibrationResult | undefined {
  const rows = residuals.length;
  const { values, features } = inputs;
  const variables: Float64Array[] = Array.from({ length: features }, (_, f) => Float64Array.from({ length: rows }, (_, r) => values[r * features + f]!));
  variables.push(spreads);
  const fit: number[] = [];
  const hold: number[] = [];
  for (let r = 0; r < rows; r++) (r % 2 ? hold : fit).push(r);
  const { tree, groups } = fitDifficultyTree(variables, residuals, fit, hold, minGroupRows(level));
  if (groups < 2) return undefined;
  const scores: number[][] = Array.from({ length: groups }, () => []);
  const groupOfRow = (r: number) => groupOf(tree, values, r * features, features, spreads[r]!);
  for (const r of hold) scores[groupOfRow(r)]!.push(residuals[r]!);
  const halfWidth = scores.map((s) => conformalQuantile(s, level));
  const covered = hold.filter((r) => residuals[r]! <= halfWidth[groupOfRow(r)]!).length;
  return {
    interval: { method: 'conformal-mondrian', level, tree, halfWidth },
    calibration: { method: 'mondrian-conformal', level, rows, coverage: covered / hold.length, groups },
  };
}

/**
 * Normalised split conformal. eps is a tenth of the median spread, so rows where every member agrees still
 * get an interval, and a model whose members always agree degrades to a constant half-width.
 */
function calibrateNormalized(residuals: Float64Array, spreads: Float64Array, level: number): CalibrationResult {
  const rows = residuals.length;
  const sortedSpreads = Float64Array.from(spreads).sort();
  const median = rows ? sortedSpreads[Math.floor(rows / 2)]! : 0;
  const eps = median > 0 ? median / 10 : 1e-9;
  const scores = Array.from(residuals, (e, r) => e / (spreads[r]! + eps));
  const scale = conformalQuantile(scores, level);
  const covered = scores.filter((s) => s <= scale).length;
  return {
    interval: { method: 'conformal-normalized', level, scale, eps },
    calibration: { method: 'normalized-conformal', level, rows, coverage: covered / rows },
  };
}

/** The half-width of a calibrated ensemble interval for one row (before online recalibration's factor). */
export function ensembleHalfWidth(
  interval: Extract<CalibratedInterval, { method: 'conformal-normalized' | 'conformal-mondrian' }>,
  row: ArrayLike<number>,
  offset: number,
  features: number,
  spread: number,
): number {
  return interval.method === 'conformal-normalized'
    ? interval.scale * (spread + interval.eps)
    : interval.halfWidth[groupOf(interval.tree, row, offset, features, spread)]!;
}

/** Whether an interval (manifest `interval`) has been conformally calibrated to its level. */
export function isCalibrated(interval: { method: string } | undefined | null): boolean {
  return interval?.method === 'conformal' || interval?.method === 'conformal-normalized' || interval?.method === 'conformal-mondrian';
}
