import { Prng } from './prng.js';

export interface Range {
  min: number;
  max: number;
}

/**
 * Latin hypercube sample: n points in the box given by `ranges` (one per dimension). Each dimension's range
 * is cut into n equal strata and every stratum holds exactly one point; the strata are paired across
 * dimensions by independent random permutations, and each point sits uniformly at random in its stratum.
 * Returns n rows of ranges.length values. Deterministic for a given seed.
 */
export function latinHypercube(n: number, ranges: readonly Range[], seed: number): number[][] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  ranges.forEach((r, i) => {
    if (!(r.min < r.max)) throw new RangeError(`range ${i}: min must be below max`);
  });
  const rng = new Prng(seed);
  const rows: number[][] = Array.from({ length: n }, () => new Array<number>(ranges.length).fill(0));
  ranges.forEach((range, dim) => {
    const strata = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    const width = range.max - range.min;
    for (let i = 0; i < n; i++) {
      const u = ((strata[i] as number) + rng.next()) / n; // in [stratum/n, (stratum+1)/n)
      (rows[i] as number[])[dim] = range.min + u * width;
    }
  });
  return rows;
}

/** The stratum (0..n-1) a value falls in for an n-point hypercube over `range`. */
export function stratumOf(value: number, range: Range, n: number): number {
  const s = Math.floor(((value - range.min) / (range.max - range.min)) * n);
  return Math.min(n - 1, Math.max(0, s));
}
