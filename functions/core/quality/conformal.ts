import * as z from 'zod';

/**
 * Conformal calibration of prediction intervals (docs/models.md, "Model quality"). Pure arithmetic, shared by
 * the packager (`--calibration`) and the calibration route (calibration data added to a published version).
 *
 * - Single-output models: split conformal. Score |y − ŷ|; the interval is ŷ ± q̂.
 * - Ensembles: normalised split conformal. Score |y − mean| / (spread + eps), spread the members' standard
 *   deviation; the interval is mean ± q̂·(spread + eps). It keeps the ensemble's adaptivity (wide where the
 *   members disagree) while the marginal coverage holds at the level, which raw member percentiles do not.
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
  method: 'split-conformal' | 'normalized-conformal';
  level: number;
  /** Calibration rows used. */
  rows: number;
  /** The share of the calibration rows the calibrated interval covers (at least `level` by construction). */
  coverage: number;
}

export type CalibratedInterval =
  | { method: 'conformal'; level: number; halfWidth: number }
  | { method: 'conformal-normalized'; level: number; scale: number; eps: number; bins?: SpreadBins };
// Spread bins (Mondrian conformal by spread) are read when present; the packager does not write them: on
// generated heteroscedastic data they covered the noisiest third worse than one normalised scale, because
// a forest's spread also grows with the signal's curvature, not only with the noise.

/** Mondrian bins by spread: rows whose spread is at most `upper[i]` (and above the previous) use `scale[i]`. */
export interface SpreadBins {
  upper: number[];
  scale: number[];
}

/** The scale for a row of this spread: its bin's, or the overall one. */
export function scaleFor(interval: { scale: number; bins?: SpreadBins | undefined }, spread: number): number {
  const bins = interval.bins;
  if (!bins) return interval.scale;
  for (let i = 0; i < bins.upper.length - 1; i++) if (spread <= bins.upper[i]!) return bins.scale[i]!;
  return bins.scale[bins.scale.length - 1]!;
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
 * Normalised split conformal for an ensemble from its members on the calibration rows (`members` row-major,
 * `columns` per row). eps is a tenth of the median spread, so rows where every member agrees still get an
 * interval, and a model whose members always agree degrades to a constant half-width.

 */
export function calibrateEnsemble(members: ArrayLike<number>, columns: number, targets: readonly number[], level = defaultIntervalLevel): CalibrationResult {
  const rows = Math.floor(members.length / columns);
  checkTargets(rows, targets);
  const means = new Float64Array(rows);
  const spreads = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const m = memberMoments(Array.prototype.slice.call(members, r * columns, (r + 1) * columns) as number[]);
    means[r] = m.mean;
    spreads[r] = m.spread;
  }
  const sortedSpreads = Float64Array.from(spreads).sort();
  const median = rows ? sortedSpreads[Math.floor(rows / 2)]! : 0;
  const eps = median > 0 ? median / 10 : 1e-9;
  const scores = targets.map((y, r) => Math.abs(y - means[r]!) / (spreads[r]! + eps));
  const scale = conformalQuantile(scores, level);
  const interval = { method: 'conformal-normalized' as const, level, scale, eps };
  const covered = scores.filter((s, r) => s <= scaleFor(interval, spreads[r]!)).length;
  return {
    interval,
    calibration: { method: 'normalized-conformal', level, rows, coverage: covered / rows },
  };
}

/** Whether an interval (manifest `interval`) has been conformally calibrated to its level. */
export function isCalibrated(interval: { method: string } | undefined | null): boolean {
  return interval?.method === 'conformal' || interval?.method === 'conformal-normalized';
}
