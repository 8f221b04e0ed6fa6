/** Calibration data (CSV) and split-conformal intervals for single-output models. */
import { parse as parseCsv } from 'csv-parse/sync';
import { PackageModelError, type PackageSpec } from './spec.js';

export interface CalibrationData {
  /** Feature values in the spec's feature order. */
  x: number[][];
  y: number[];
}

/**
 * Parse a calibration CSV: a header row naming the feature columns (any order) and the target column
 * (`spec.target.name`); other columns are ignored. Every used cell must be a finite number.
 */
export function parseCalibrationCsv(text: string, spec: Pick<PackageSpec, 'features' | 'target'>): CalibrationData {
  const field = '--calibration';
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // RFC 4180 with csv-parse: quoted fields (commas, quotes, newlines inside), a BOM, CRLF or LF.
    records = parseCsv(text, { bom: true, info: true, skip_empty_lines: true, trim: true, relax_column_count: true }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    throw new PackageModelError(`not valid CSV: ${(error as Error).message}`, field);
  }
  const [first, ...rows] = records;
  if (!first) throw new PackageModelError('the CSV is empty; it needs a header row and data rows', field);
  const header = first.record;
  const seen = new Set<string>();
  for (const h of header) {
    if (h && seen.has(h)) throw new PackageModelError(`the header names column ${h} twice`, field);
    seen.add(h);
  }
  const wanted = [...spec.features.map((f) => f.name), spec.target.name];
  const missing = wanted.filter((name) => !header.includes(name));
  if (missing.length) {
    const kinds = missing.map((m) => (m === spec.target.name ? `target column ${m}` : `feature column ${m}`));
    throw new PackageModelError(`missing ${kinds.join(', ')} (header: ${header.join(', ')})`, field);
  }
  const index = wanted.map((name) => header.indexOf(name));
  const x: number[][] = [];
  const y: number[] = [];
  for (const { record: cells, info } of rows) {
    const values = index.map((i, k) => {
      const cell = cells[i] ?? '';
      const v = cell === '' ? Number.NaN : Number(cell);
      if (!Number.isFinite(v)) {
        throw new PackageModelError(`line ${info.lines}, column ${wanted[k]}: ${JSON.stringify(cell)} is not a finite number`, field);
      }
      return v;
    });
    y.push(values.pop() as number);
    x.push(values);
  }
  return { x, y };
}

/** The rank (1-based) of the split-conformal quantile: ⌈(n+1)·level⌉. */
export function conformalRank(n: number, level: number): number {
  return Math.ceil((n + 1) * level);
}

/**
 * The split-conformal half-width at `level`: the ⌈(n+1)·level⌉-th smallest absolute residual. Refuses
 * fewer than `minRows` residuals (and ranks beyond n, which would be an infinite interval).
 */
export function conformalHalfWidth(absResiduals: ArrayLike<number>, level = 0.9, minRows = 20): number {
  const n = absResiduals.length;
  if (n < minRows) {
    throw new PackageModelError(`${n} calibration rows; a conformal interval needs at least ${minRows}`, '--calibration');
  }
  const k = conformalRank(n, level);
  if (k > n) throw new PackageModelError(`${n} calibration rows are too few for level ${level}`, '--calibration');
  const sorted = Float64Array.from(absResiduals).sort();
  return sorted[k - 1] as number;
}
