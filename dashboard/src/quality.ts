import { addInto, emptyAggregate, errorStats, windowNames, type QualityAggregate } from '../../functions/core/quality/figures.js';

/**
 * The quality view's data as the dashboard shows it (GET /api/v1/models/{name}/quality), read defensively:
 * the panel must not break on a server that answers an older or newer shape.
 */

export interface WindowStats {
  count: number;
  mae: number | null;
  rmse: number | null;
  bias: number | null;
  coverage: number | null;
  level: number | null;
}

export interface QualityView {
  versions: { version: string; level: number | null; windows: Record<string, WindowStats> }[];
  series: { version: string; hour: string; mae: number | null; coverage: number | null; count: number }[];
  verdict: string | null;
  recalibration: { version: string; enabled: boolean; factor: number; updates: number }[];
  drift: { version: string; feature: string; psi: number | null; level: string | null; rows: number }[];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const arr = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Record<string, unknown>[]) : []);

function stats(raw: unknown): WindowStats {
  const s = (raw ?? {}) as Record<string, unknown>;
  return { count: num(s.count) ?? 0, mae: num(s.mae), rmse: num(s.rmse), bias: num(s.bias), coverage: num(s.coverage), level: num(s.level) };
}

/** The A/B verdict in one sentence, from the widest window that has one. */
export function verdictText(ab: unknown): string | null {
  if (!ab || typeof ab !== 'object') return null;
  const a = ab as { versions?: unknown; test?: unknown; windows?: Record<string, unknown> };
  const versions = Array.isArray(a.versions) ? a.versions.map(String) : [];
  // The widest window first: the most rows, the strongest test.
  for (const w of [...windowNames].reverse()) {
    const v = a.windows?.[w] as { better?: unknown; p_value?: unknown; mae?: unknown } | null | undefined;
    if (!v) continue;
    const p = num(v.p_value);
    const pText = p === null ? '' : `p = ${p < 0.001 ? p.toExponential(1) : p.toFixed(3)}`;
    return typeof v.better === 'string'
      ? `${v.better} is better (lower absolute error; ${String(a.test ?? 'significance test')}, ${pText}, window ${w})`
      : `No significant difference between ${versions.join(' and ')} (${String(a.test ?? 'significance test')}, ${pText}, window ${w})`;
  }
  return versions.length >= 2 ? `A/B ${versions.join(' vs ')}: not enough feedback on both variants yet` : null;
}

export function parseQuality(body: unknown): QualityView {
  const b = (body ?? {}) as Record<string, unknown>;
  return {
    versions: arr(b.versions).map((v) => ({
      version: String(v.version),
      level: num(v.level),
      windows: Object.fromEntries(Object.entries((v.windows ?? {}) as Record<string, unknown>).map(([w, s]) => [w, stats(s)])),
    })),
    // Hour buckets of every plant the caller sees, summed per version and hour.
    series: mergeSeries(arr(b.series)),
    verdict: verdictText(b.ab),
    recalibration: arr(b.recalibration).map((r) => ({ version: String(r.version), enabled: r.enabled === true, factor: num(r.factor) ?? 1, updates: num(r.updates) ?? 0 })),
    drift: arr(b.drift).flatMap((d) => arr(d.features).map((f) => ({ version: String(d.version), feature: String(f.feature), psi: num(f.psi), level: typeof f.level === 'string' ? f.level : null, rows: num(f.rows) ?? 0 }))),
  };
}

/**
 * The series comes per version, plant and hour; the panel draws one line per version, so the plants the
 * caller sees are summed per version and hour with the core's own arithmetic (additive aggregates, then
 * errorStats): each row's figures turned back into sums. A version either serves intervals or not, so a row
 * with a coverage had an interval on every measured row.
 */
function mergeSeries(rows: Record<string, unknown>[]): QualityView['series'] {
  const byKey = new Map<string, { version: string; hour: string; aggregate: QualityAggregate }>();
  for (const r of rows) {
    const count = num(r.count) ?? 0;
    const coverage = num(r.coverage);
    const rmse = num(r.rmse) ?? 0;
    const row: QualityAggregate = {
      count,
      sumAbs: (num(r.mae) ?? 0) * count,
      sumSq: rmse * rmse * count,
      sumErr: (num(r.bias) ?? 0) * count,
      withInterval: coverage === null ? 0 : count,
      covered: (coverage ?? 0) * count,
    };
    const key = `${String(r.version)}|${String(r.hour)}`;
    const entry = byKey.get(key) ?? { version: String(r.version), hour: String(r.hour), aggregate: emptyAggregate() };
    addInto(entry.aggregate, row);
    byKey.set(key, entry);
  }
  return [...byKey.values()]
    .sort((a, b) => a.hour.localeCompare(b.hour))
    .map(({ version, hour, aggregate }) => {
      const stats = errorStats(aggregate, null);
      return { version, hour, count: stats.count, mae: stats.mae, coverage: stats.coverage };
    });
}

/** Points of one version's series scaled into a width × height box (for an SVG polyline); null values skipped. */
export function polyline(values: readonly (number | null)[], width: number, height: number, max: number): string {
  const n = values.length;
  return values
    .map((v, i) => (v === null ? null : `${(n <= 1 ? width / 2 : (i / (n - 1)) * width).toFixed(1)},${(height - (Math.min(v, max) / (max || 1)) * height).toFixed(1)}`))
    .filter((p): p is string => p !== null)
    .join(' ');
}
