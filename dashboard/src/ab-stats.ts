/**
 * A/B statistics from `GET /api/v1/models/{name}/stats`: `{ name, routing, variants: VariantStats[] }`, one
 * entry per version with counters (`version, role: active|variant|shadow|inactive, weight, requests, errors,
 * rows, mean_latency_ms, p95_latency_ms, mean_prediction, cache_hit_rate, alerts`, plus a histogram). Read
 * leniently: each variant becomes a row of its scalar fields; versions no longer routed (`inactive`) are left
 * out. `variants` may also be an object keyed by variant.
 */

export type Variant = Record<string, string | number | boolean | null>;

/** Routed versions (`routing.variants`, or just `routing.active`) with their weights. */
function routedVersions(routing: unknown): { version: string; weight: number; active: boolean }[] {
  if (typeof routing !== 'object' || routing === null) return [];
  const r = routing as Record<string, unknown>;
  const active = typeof r.active === 'string' ? r.active : undefined;
  if (!Array.isArray(r.variants)) return active ? [{ version: active, weight: 1, active: true }] : [];
  return r.variants
    .filter((v): v is { version: string; weight?: unknown } => typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>).version === 'string')
    .map((v) => ({ version: v.version, weight: typeof v.weight === 'number' ? v.weight : 0, active: v.version === active }));
}

export function statsVariants(body: unknown): Variant[] {
  if (typeof body !== 'object' || body === null) return [];
  const rows = counterRows((body as Record<string, unknown>).variants);
  // A routed variant that has not served a request yet has no counters; it is still part of the test.
  for (const routed of routedVersions((body as Record<string, unknown>).routing)) {
    if (!rows.some((row) => row.version === routed.version)) {
      rows.push({ version: routed.version, role: routed.active ? 'active' : 'variant', weight: routed.weight, requests: 0 });
    }
  }
  return rows.filter((row) => row.role !== 'inactive');
}

function counterRows(raw: unknown): Variant[] {
  const entries: [string | undefined, unknown][] = Array.isArray(raw)
    ? raw.map((v) => [undefined, v])
    : typeof raw === 'object' && raw !== null
      ? Object.entries(raw)
      : [];
  return entries
    .filter((e): e is [string | undefined, Record<string, unknown>] => typeof e[1] === 'object' && e[1] !== null)
    .map(([key, value]) => {
      const scalars = Object.entries(value).filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v));
      const row = Object.fromEntries(scalars) as Variant;
      return key !== undefined && !('variant' in row) && !('version' in row) ? { variant: key, ...row } : row;
    });
}

/** The panel shows when routing splits traffic: at least two live variants (active, variant or shadow). */
export function showsAbTest(variants: readonly Variant[]): boolean {
  return variants.length >= 2;
}

/** The columns that compare variants at a glance, when the API sends them; otherwise every field. */
const preferred = ['version', 'role', 'weight', 'requests', 'errors', 'mean_prediction', 'p95_latency_ms', 'alerts'];

export function statsColumns(variants: readonly Variant[]): string[] {
  const present = [...new Set(variants.flatMap((v) => Object.keys(v)))];
  const known = preferred.filter((c) => present.includes(c));
  return known.includes('version') ? known : present;
}

const percent = (v: number) => `${(v * 100).toFixed(v * 100 >= 10 || v === 0 ? 0 : 1)} %`;
const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`;

/** Known columns get units; anything else is shown as is. */
const formats: Record<string, (v: number) => string> = {
  weight: percent,
  cache_hit_rate: percent,
  mean_latency_ms: ms,
  p95_latency_ms: ms,
  mean_prediction: (v) => v.toFixed(2),
};

export function formatStat(column: string, value: Variant[string] | undefined): string {
  if (value === undefined || value === null) return '–';
  if (typeof value === 'number') {
    const format = formats[column];
    if (format) return format(value);
    return Number.isInteger(value) ? String(value) : value.toFixed(3);
  }
  return String(value);
}

export function columnLabel(column: string): string {
  const label = column.replace(/^p95_latency_ms$/, 'p95 latency').replace(/_ms$/, '').replace(/^mean_prediction$/, 'mean').replace(/_/g, ' ');
  return label.charAt(0).toUpperCase() + label.slice(1);
}
