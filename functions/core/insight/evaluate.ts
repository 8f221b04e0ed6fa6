import type { RowPrediction, TwinModel } from '../twin/model.js';

/** Rows per session.run: large enough to amortise the call, small enough for steady memory (~40 kB of input). */
export const chunkRows = 1024;

/**
 * Predicts `rows` feature-ordered rows (raw units, row-major) in chunks of {@link chunkRows}, one
 * session.run each. `values` is not modified (the model scales a copy).
 */
export async function predictRows(model: TwinModel, values: Float32Array, rows: number): Promise<RowPrediction[]> {
  const width = model.featureCount;
  const out: RowPrediction[] = [];
  for (let start = 0; start < rows; start += chunkRows) {
    const n = Math.min(chunkRows, rows - start);
    const part = await model.infer(values.slice(start * width, (start + n) * width), n);
    for (const p of part) out.push(p);
  }
  return out;
}
