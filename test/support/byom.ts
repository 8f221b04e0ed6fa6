import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { trainRandomForest, type RandomForest } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { Prng } from '../../models/tools/prng.js';
import { exportForestSkl2onnxStyle } from '../../models/tools/skl2onnx-export.js';

/**
 * Bring-your-own-model fixture: a distillation column's purity twin as a plant ML engineer would hand it
 * over: a scikit-learn-style random forest on 4 features exported the way skl2onnx exports it (one
 * TreeEnsembleRegressor target that already is the mean, input `X`, output `variable`), and the packager's
 * spec. The purity is a fraction (0.85..0.99), so float32 rounding stays far below the tests' 1e-4.
 */

export const columnModelName = 'column-purity';

export const columnFeatures = [
  { name: 'feed_rate', unit: 'kg/h', min: 100, max: 500, description: 'Feed flow' },
  { name: 'reflux_ratio', unit: '1', min: 1, max: 5, description: 'Reflux ratio' },
  { name: 'reboiler_duty', unit: 'kW', min: 200, max: 800, description: 'Reboiler duty' },
  { name: 'top_pressure', unit: 'bar', min: 1, max: 3, description: 'Column top pressure' },
] as const;

export type ColumnRow = Record<(typeof columnFeatures)[number]['name'], number>;

/** A smooth purity surface: more reflux and duty help, more feed and pressure hurt. */
function purity(feed: number, reflux: number, duty: number, pressure: number, noise: Prng): number {
  const separation = 0.6 * Math.tanh((reflux - 1) / 2) + 0.4 * Math.tanh((duty - 200) / 300) - 0.15 * ((feed - 100) / 400) - 0.05 * (pressure - 1);
  return Math.min(0.99, Math.max(0.85, 0.85 + 0.14 * separation + 0.002 * noise.normal()));
}

export interface ColumnModel {
  forest: RandomForest;
  /** The skl2onnx-layout graph. */
  onnx: Uint8Array;
  /** The packager's --spec. */
  spec: Record<string, unknown>;
  /** The forest's prediction (mean of its trees) for a row. */
  mean(row: ColumnRow): number;
}

export function columnModel(version = '1.0.0', seed = 21): ColumnModel {
  const x = latinHypercube(400, columnFeatures, seed);
  const noise = new Prng(seed + 1);
  const y = x.map(([f, r, d, p]) => purity(f!, r!, d!, p!, noise));
  const forest = trainRandomForest(x, y, { nTrees: 6, maxDepth: 7, minSamplesLeaf: 3, maxFeatures: 2, seed });
  const onnx = exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' });
  const spec = {
    name: columnModelName,
    version,
    description: 'Top-product purity of a distillation column (scikit-learn RandomForestRegressor via skl2onnx)',
    modelType: 'RandomForestRegressor',
    target: { name: 'purity', unit: 'fraction' },
    features: columnFeatures.map((f) => ({ ...f })),
    alerts: { min: 0.8, max: 1 },
  };
  return { forest, onnx, spec, mean: (row) => forest.predict([columnFeatures.map((f) => row[f.name])])[0]! };
}

/** Rows inside every range, seeded. */
export function columnRows(n: number, seed = 5): ColumnRow[] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, () => Object.fromEntries(columnFeatures.map((f) => [f.name, Math.round(rng.uniform(f.min, f.max) * 100) / 100])) as ColumnRow);
}

/** Writes model.onnx (skl2onnx layout) and spec.json into `dir`; returns their paths. */
export async function writeColumnInputs(dir: string, model: ColumnModel): Promise<{ onnx: string; spec: string }> {
  await mkdir(dir, { recursive: true });
  const paths = { onnx: join(dir, 'column.onnx'), spec: join(dir, 'spec.json') };
  await writeFile(paths.onnx, model.onnx);
  await writeFile(paths.spec, JSON.stringify(model.spec, null, 2));
  return paths;
}
