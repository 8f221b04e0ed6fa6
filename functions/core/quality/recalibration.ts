/**
 * Online recalibration from feedback: adaptive conformal inference on the interval's width. Each observed
 * row moves log(factor) by γ·(miss − (1 − level)): a miss widens by γ·level, a hit narrows by γ·(1 − level),
 * so the factor stops moving exactly when the share of misses is 1 − level (Gibbs & Candès 2021, applied
 * to a multiplicative width instead of the quantile level, which needs no calibration scores at serving
 * time). Bounded to [minFactor, maxFactor], so a burst of bad feedback cannot blow the interval up or shut it.
 */

export interface RecalibrationOptions {
  /** Step size γ. @default 0.02 */
  gamma?: number;
  /** @default 0.5 */
  minFactor?: number;
  /** @default 3 */
  maxFactor?: number;
}

export interface RecalibrationState {
  factor: number;
  /** Rows folded in so far. */
  updates: number;
  /** Misses among them (coverage since recalibration started = 1 − misses/updates). */
  misses: number;
}

export const initialRecalibration: RecalibrationState = { factor: 1, updates: 0, misses: 0 };

/** Folds observed rows (true = the measured value fell inside the served interval) into the state. */
export function recalibrate(state: RecalibrationState, covered: readonly boolean[], level: number, options: RecalibrationOptions = {}): RecalibrationState {
  const gamma = options.gamma ?? 0.02;
  const lo = Math.log(options.minFactor ?? 0.5);
  const hi = Math.log(options.maxFactor ?? 3);
  let log = Math.log(state.factor);
  let misses = state.misses;
  for (const hit of covered) {
    const miss = hit ? 0 : 1;
    misses += miss;
    log = Math.min(hi, Math.max(lo, log + gamma * (miss - (1 - level))));
  }
  return { factor: Math.exp(log), updates: state.updates + covered.length, misses };
}
