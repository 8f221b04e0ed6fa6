import type { FeatureSpec } from '../../functions/core/manifest.js';
import { percentileSorted } from '../../functions/core/twin/statistics.js';

export type FeatureEnvelope = NonNullable<FeatureSpec['envelope']>;

/**
 * A feature's training envelope, for extrapolation flags: the range and the 1st / 99th percentiles of the
 * values the model saw, after rounding to float32 (as the graph sees them). Percentiles interpolate
 * linearly between closest ranks (numpy's default).
 */
export function featureEnvelope(values: ArrayLike<number>): FeatureEnvelope {
  if (values.length === 0) throw new RangeError('envelope of no values');
  const sorted = Float64Array.from(values, (v) => Math.fround(v)).sort();
  if (!Number.isFinite(sorted[0] as number) || !Number.isFinite(sorted[sorted.length - 1] as number)) {
    throw new RangeError('envelope of non-finite values');
  }
  return {
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    q01: percentileSorted(sorted, 1),
    q99: percentileSorted(sorted, 99),
  };
}

/** One envelope per column of row-major `rows` ([N][features]). */
export function featureEnvelopes(rows: readonly ArrayLike<number>[], nFeatures: number): FeatureEnvelope[] {
  return Array.from({ length: nFeatures }, (_, f) => featureEnvelope(rows.map((r) => r[f] as number)));
}
