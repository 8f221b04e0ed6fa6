import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { trainRandomForest } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { packageModel } from '../../models/tools/package-model.js';
import { Prng } from '../../models/tools/prng.js';
import { exportForestSkl2onnxStyle } from '../../models/tools/skl2onnx-export.js';
import { columnModel, writeColumnInputs, type ColumnModel } from './byom.js';

/**
 * Models for the dashboard's browser tests: the 4-feature column-purity forest of the bring-your-own-model
 * test, and a wider one (8 features, long labels, mixed units and scales) to prove the layout holds. Both go
 * through the real packager (`twin models package`'s code), so the dashboard publishes true packages.
 */

export interface FeatureDef {
  name: string;
  unit: string;
  min: number;
  max: number;
  description: string;
}

/** A compressor train's discharge temperature from 8 inputs: mixed units and scales, long descriptions. */
export const compressorFeatures: FeatureDef[] = [
  { name: 'suction_pressure', unit: 'bar', min: 1, max: 6, description: 'Suction pressure at the first stage inlet' },
  { name: 'discharge_pressure', unit: 'bar', min: 8, max: 40, description: 'Discharge pressure after the last stage' },
  { name: 'suction_temp', unit: '°C', min: 5, max: 45, description: 'Suction gas temperature' },
  { name: 'speed', unit: 'rpm', min: 6000, max: 12000, description: 'Shaft speed' },
  { name: 'mass_flow', unit: 'kg/s', min: 2, max: 18, description: 'Mass flow through the train' },
  { name: 'cooler_duty', unit: 'kW', min: 100, max: 900, description: 'Intercooler duty' },
  { name: 'molar_mass', unit: 'g/mol', min: 16, max: 30, description: 'Gas molar mass' },
  { name: 'recycle', unit: '%', min: 0, max: 40, description: 'Anti-surge recycle valve opening' },
];

export interface SyntheticModel {
  name: string;
  features: FeatureDef[];
  onnx: Uint8Array;
  spec: Record<string, unknown>;
  mean(row: Record<string, number>): number;
  /** The surface without noise: what the "lab" measures. */
  truth(row: Record<string, number>): number;
  /** Held-out rows with measured values (the packager's --calibration CSV). */
  calibrationCsv(rows: number): string;
}

/** A seeded forest on a smooth surface of the features (scaled to 0..1), in skl2onnx layout. */
export function syntheticModel(name: string, features: FeatureDef[], options: { version?: string; seed?: number; target?: { name: string; unit: string }; alerts?: { min: number; max: number } } = {}): SyntheticModel {
  const seed = options.seed ?? 31;
  const x = latinHypercube(300, features, seed);
  const noise = new Prng(seed + 1);
  const truth = (row: number[]) => {
    const s = row.map((v, i) => (v - features[i]!.min) / (features[i]!.max - features[i]!.min));
    return 100 + 40 * s.reduce((sum, v, i) => sum + (i % 2 ? -v : v) / features.length, 0) + 8 * Math.sin(3 * (s[0] ?? 0));
  };
  const y = x.map((row) => truth(row) + 0.3 * noise.normal());
  const forest = trainRandomForest(x, y, { nTrees: 5, maxDepth: 6, minSamplesLeaf: 3, maxFeatures: Math.max(2, Math.floor(features.length / 2)), seed });
  const spec = {
    name,
    version: options.version ?? '1.0.0',
    description: `A ${features.length}-feature test forest`,
    modelType: 'RandomForestRegressor',
    target: options.target ?? { name: 'discharge_temp', unit: '°C' },
    features: features.map((f) => ({ ...f })),
    alerts: options.alerts ?? { min: 90, max: 130 },
  };
  return {
    name,
    features,
    onnx: exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' }),
    spec,
    mean: (row) => forest.predict([features.map((f) => row[f.name]!)])[0]!,
    truth: (row) => truth(features.map((f) => row[f.name]!)),
    calibrationCsv: (rows) => {
      const held = new Prng(seed + 2);
      const lines = latinHypercube(rows, features, seed + 3).map((r) => [...r.map((v) => v.toFixed(4)), (truth(r) + 0.3 * held.normal()).toFixed(4)].join(','));
      return [[...features.map((f) => f.name), spec.target.name].join(','), ...lines].join('\n') + '\n';
    },
  };
}

/** Packages a model (skl2onnx graph + spec) with the real packager into `<root>/<name>/<version>`; returns that folder. */
export async function packageInto(root: string, model: { onnx: Uint8Array; spec: Record<string, unknown> }, calibrationCsv?: string): Promise<string> {
  const name = String(model.spec.name);
  const version = String(model.spec.version);
  const dir = join(root, 'inputs', name, version);
  const inputs = await writeColumnInputs(dir, { onnx: model.onnx, spec: model.spec } as ColumnModel);
  let calibrationPath: string | undefined;
  if (calibrationCsv) {
    calibrationPath = join(dir, 'calibration.csv');
    await writeFile(calibrationPath, calibrationCsv);
  }
  const out = join(root, 'packages', name, version);
  await packageModel({ onnxPath: inputs.onnx, specPath: inputs.spec, outDir: out, created: '2026-12-01', ...(calibrationPath ? { calibrationPath } : {}) }); // date-inert: a package's created date
  return out;
}

export { columnModel };
