/** Conformal calibration for the packager: the core's conformal code with errors named for the command line. */
import { CalibrationError, conformalQuantile, conformalRank as coreConformalRank, type CalibrationResult } from '../../../functions/core/quality/conformal.js';
import { PackageModelError } from './spec.js';

export const CONFORMAL_LEVEL = 0.9;
export const MIN_CALIBRATION_ROWS = 20;

/** The rank (1-based) of the split-conformal quantile: ⌈(n+1)·level⌉ (functions/core/quality/conformal.ts). */
export function conformalRank(n: number, level: number): number {
  return coreConformalRank(n, level);
}

/**
 * The split-conformal half-width at `level`: the ⌈(n+1)·level⌉-th smallest absolute residual. Refuses
 * fewer than `minRows` residuals (and ranks beyond n, which would be an infinite interval).
 */
export function conformalHalfWidth(absResiduals: ArrayLike<number>, level = 0.9, minRows = 20): number {
  try {
    return conformalQuantile(absResiduals, level, minRows);
  } catch (error) {
    if (error instanceof CalibrationError) throw new PackageModelError(error.message, '--calibration');
    throw error;
  }
}

/** Runs a core calibration; its refusal becomes a `--calibration` error. */
export function calibrationOrError(run: () => CalibrationResult): CalibrationResult {
  try {
    return run();
  } catch (error) {
    if (error instanceof CalibrationError) throw new PackageModelError(error.message, '--calibration');
    throw error;
  }
}
