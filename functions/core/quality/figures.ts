/**
 * The error figures of model quality and its windows, free of imports: the API computes them
 * (./view.ts) and the dashboard sums the per-plant hour series it receives with the very same arithmetic.
 */

export const windows = { hour: 3_600_000, day: 86_400_000, '7d': 7 * 86_400_000 } as const;
export type WindowName = keyof typeof windows | 'all';
export const windowNames: readonly WindowName[] = ['hour', 'day', '7d', 'all'];

export function hourOf(iso: string | number): string {
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  return new Date(Math.floor(t / 3_600_000) * 3_600_000).toISOString();
}

export function windowStart(window: keyof typeof windows, now: number): string {
  return hourOf(now - windows[window]);
}

export interface ErrorStats {
  count: number;
  mae: number | null;
  rmse: number | null;
  /** Mean of prediction − measured: positive when the model over-predicts. */
  bias: number | null;
  /** Share of measured values inside the served interval; null without intervals. */
  coverage: number | null;
  level: number | null;
  /** coverage − level. */
  coverage_gap: number | null;
}

export function errorStats(a: QualityAggregate, level: number | null): ErrorStats {
  const n = a.count;
  const coverage = a.withInterval ? a.covered / a.withInterval : null;
  return {
    count: n,
    mae: n ? a.sumAbs / n : null,
    rmse: n ? Math.sqrt(a.sumSq / n) : null,
    bias: n ? a.sumErr / n : null,
    coverage,
    level,
    coverage_gap: coverage !== null && level !== null ? coverage - level : null,
  };
}


/** Additive error figures of a set of observed rows. */
export interface QualityAggregate {
  count: number;
  /** Σ(prediction − actual) */
  sumErr: number;
  sumAbs: number;
  sumSq: number;
  /** Rows that had an interval, and those whose measured value fell inside it. */
  withInterval: number;
  covered: number;
}

export function emptyAggregate(): QualityAggregate {
  return { count: 0, sumErr: 0, sumAbs: 0, sumSq: 0, withInterval: 0, covered: 0 };
}

export function addInto(target: QualityAggregate, source: QualityAggregate): QualityAggregate {
  target.count += source.count;
  target.sumErr += source.sumErr;
  target.sumAbs += source.sumAbs;
  target.sumSq += source.sumSq;
  target.withInterval += source.withInterval;
  target.covered += source.covered;
  return target;
}
