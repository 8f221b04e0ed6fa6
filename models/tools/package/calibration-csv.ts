/** Reading calibration data: a CSV file parsed with csv-parse (the CLI's parser), checked against the spec. */
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
