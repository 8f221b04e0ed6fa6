/**
 * Input drift per feature: the Population Stability Index of recent inputs against the feature's reference
 * histogram in the manifest (built from the training or calibration rows by the packager).
 *
 *   PSI = Σ (p_i − q_i) · ln(p_i / q_i)   over the reference bins, p recent, q reference
 *
 * Shares are floored at 1e-4 so an empty bin does not make it infinite. Conventional reading: < 0.1 stable,
 * 0.1–0.25 moderate shift, > 0.25 significant shift (the alert threshold by default).
 */

export interface FeatureHistogram {
  edges: number[];
  fractions: number[];
}

/** Deciles by default: bins of (about) equal reference mass, which makes PSI most sensitive. */
export function featureHistogram(values: readonly number[], bins = 10): FeatureHistogram {
  if (values.length === 0) throw new RangeError('histogram of no values');
  const sorted = Float64Array.from(values).sort();
  const edges: number[] = [sorted[0]!];
  for (let b = 1; b < bins; b++) {
    const edge = sorted[Math.floor((b * sorted.length) / bins)]!;
    if (edge > edges[edges.length - 1]!) edges.push(edge);
  }
  const last = sorted[sorted.length - 1]!;
  if (last > edges[edges.length - 1]!) edges.push(last);
  // A constant feature: one bin of zero width is not a histogram; widen it so edges ascend.
  if (edges.length < 2) edges.push(edges[0]! + 1);
  const counts = binCounts(values, edges);
  return { edges, fractions: counts.map((c) => c / values.length) };
}

/** The bin of a value: below the first edge counts in the first bin, above the last in the last. */
export function binIndex(value: number, edges: readonly number[]): number {
  const bins = edges.length - 1;
  let lo = 0;
  let hi = bins - 1;
  // The last bin includes its upper edge; every other bin is [edge_i, edge_{i+1}).
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (value >= edges[mid]!) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function binCounts(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of values) counts[binIndex(v, edges)]!++;
  return counts;
}

const floor = 1e-4;

/** PSI of `values` against `reference`; null without values. */
export function psi(values: readonly number[], reference: FeatureHistogram): number | null {
  if (values.length === 0) return null;
  const counts = binCounts(values, reference.edges);
  let sum = 0;
  counts.forEach((c, i) => {
    const p = Math.max(floor, c / values.length);
    const q = Math.max(floor, reference.fractions[i]!);
    sum += (p - q) * Math.log(p / q);
  });
  return sum;
}

export type DriftLevel = 'stable' | 'moderate' | 'significant';

export function driftLevel(value: number, threshold = 0.25): DriftLevel {
  return value > threshold ? 'significant' : value > 0.1 ? 'moderate' : 'stable';
}
