import type { ModelManifest } from '../manifest.js';
import { driftLevel, psi, type DriftLevel } from './drift.js';
import { windowStart, type WindowName } from './figures.js';
import { addInto, emptyAggregate, type QualityAggregate, type QualityBucket, type StoredPrediction } from './ports.js';
import { welchAbsoluteError, type WelchResult } from './stats.js';

/**
 * The quality view's arithmetic, pure: windows over hour buckets, error figures, the A/B verdict and drift.
 * Windows are hour-granular and by prediction time: `day` is every hour bucket starting at or after the top
 * of the hour 24 h before now. A lab result that arrives days late still counts in the hour its prediction
 * was made, so a window says how right the model was on what it predicted then.
 */

export { errorStats, hourOf, windowNames, windows, windowStart, type ErrorStats, type WindowName } from './figures.js';

/** Sums the buckets of each window, per key (`version` or `version|plant`). */
export function windowAggregates(buckets: readonly QualityBucket[], now: number, keyOf: (b: QualityBucket) => string): Map<string, Record<WindowName, QualityAggregate>> {
  const out = new Map<string, Record<WindowName, QualityAggregate>>();
  const starts = { hour: windowStart('hour', now), day: windowStart('day', now), '7d': windowStart('7d', now) };
  for (const b of buckets) {
    const key = keyOf(b);
    let entry = out.get(key);
    if (!entry) {
      entry = { hour: emptyAggregate(), day: emptyAggregate(), '7d': emptyAggregate(), all: emptyAggregate() };
      out.set(key, entry);
    }
    if (b.hour === 'all') {
      addInto(entry.all, b);
      continue;
    }
    for (const w of ['hour', 'day', '7d'] as const) if (b.hour >= starts[w]) addInto(entry[w], b);
  }
  return out;
}

export interface AbVerdict {
  versions: [string, string];
  window: WindowName;
  test: WelchResult['test'];
  mae: [number, number];
  t: number;
  df: number;
  p_value: number;
  /** The version with the lower MAE when p < alpha; null when the difference is not significant. */
  better: string | null;
  alpha: number;
}

/** The A/B verdict over one window: Welch on |error| between the first two variants, when both have rows. */
export function abVerdict(a: string, b: string, aggA: QualityAggregate, aggB: QualityAggregate, window: WindowName, alpha = 0.05): AbVerdict | null {
  const result = welchAbsoluteError({ n: aggA.count, sumAbs: aggA.sumAbs, sumSq: aggA.sumSq }, { n: aggB.count, sumAbs: aggB.sumAbs, sumSq: aggB.sumSq });
  if (!result) return null;
  return {
    versions: [a, b],
    window,
    test: result.test,
    mae: [result.meanA, result.meanB],
    t: result.t,
    df: result.df,
    p_value: result.pValue,
    better: result.pValue < alpha ? (result.meanA < result.meanB ? a : b) : null,
    alpha,
  };
}

export interface FeatureDrift {
  feature: string;
  rows: number;
  /** PSI against the manifest's histogram; null without one (older packages) or without rows. */
  psi: number | null;
  level: DriftLevel | null;
  /** Share of rows outside the training envelope (always available when the manifest has envelopes). */
  outside_envelope: number | null;
}

export function featureDrift(manifest: ModelManifest, rows: readonly StoredPrediction[], threshold: number): FeatureDrift[] {
  return manifest.features.map((f) => {
    const values = rows.map((r) => r.inputs[f.name]).filter((v): v is number => typeof v === 'number');
    const value = f.histogram ? psi(values, f.histogram) : null;
    const envelope = f.envelope;
    return {
      feature: f.name,
      rows: values.length,
      psi: value,
      level: value === null ? null : driftLevel(value, threshold),
      outside_envelope: envelope && values.length ? values.filter((v) => v < envelope.min || v > envelope.max).length / values.length : null,
    };
  });
}

/** The stated level of a manifest's interval: its calibrated level, or the percentiles' nominal span. */
export function statedLevel(interval: ModelManifest['interval'] | undefined): number | null {
  if (!interval) return null;
  if (interval.method === 'ensemble-percentile') return (interval.upper - interval.lower) / 100;
  return interval.level;
}
