import { beforeAll, describe, expect, it } from 'vitest';
import { modelManifestSchema } from '../../functions/core/manifest.js';
import { calibrateEnsemble, calibrateSingle, CalibrationError, conformalQuantile, conformalRank, isCalibrated } from '../../functions/core/quality/conformal.js';
import { TwinModel } from '../../functions/core/twin/model.js';
import { trainRandomForest, type RandomForest } from '../../models/tools/forest.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { exportForestSkl2onnxStyle } from '../../models/tools/skl2onnx-export.js';
import { buildPackage, PackageModelError, type BuiltPackage } from '../../models/tools/package-model.js';
import { Prng } from '../../models/tools/prng.js';

/**
 * Calibrated intervals on generated data with heteroscedastic noise: the noise's standard deviation grows
 * ten-fold across x's range, so a constant-width interval over-covers the calm third and under-covers the
 * noisy one, and the members' raw percentiles under-cover overall (the issue's 72 %).
 */

const X_MIN = 0;
const X_MAX = 10;
const noiseSd = (x: number) => 0.2 + 0.3 * x;
const signal = (x: number, z: number) => 3 * Math.sin(x) + 2 * z;

function generate(n: number, seed: number): { x: number[][]; y: number[] } {
  const rng = new Prng(seed);
  const x = Array.from({ length: n }, () => [rng.uniform(X_MIN, X_MAX), rng.uniform(0, 1)]);
  const y = x.map(([a, b]) => signal(a!, b!) + noiseSd(a!) * rng.normal());
  return { x, y };
}

function csv(data: { x: number[][]; y: number[] }): string {
  return `x,z,y\n${data.x.map((r, i) => `${r[0]},${r[1]},${data.y[i]}`).join('\n')}\n`;
}

const spec = {
  name: 'hetero',
  version: '1.0.0',
  modelType: 'RandomForestRegressor',
  target: { name: 'y', unit: '1' },
  features: [
    { name: 'x', unit: '1', min: X_MIN, max: X_MAX },
    { name: 'z', unit: '1', min: 0, max: 1 },
  ],
  alerts: { min: -100, max: 100 },
};

let forest: RandomForest;
let onnxBytes: Uint8Array;
const calibration = generate(2000, 2);
const heldOut = generate(4000, 3);

beforeAll(() => {
  const train = generate(1500, 1);
  forest = trainRandomForest(train.x, train.y, { nTrees: 24, maxDepth: 10, minSamplesLeaf: 5, seed: 7 });
  onnxBytes = exportForestOnnx(forest, { inputName: 'input', outputName: 'y' });
});

/** Coverage of the served intervals on held-out rows: overall and per third of x's range. */
async function coverage(built: BuiltPackage): Promise<{ overall: number; thirds: number[]; meanWidth: number[] }> {
  const model = await TwinModel.load({ manifest: built.manifest, bytes: built.model });
  try {
    const values = Float32Array.from(heldOut.x.flat());
    const rows = await model.infer(values, heldOut.x.length);
    const hits = [0, 0, 0];
    const counts = [0, 0, 0];
    const widths = [0, 0, 0];
    rows.forEach((r, i) => {
      const third = Math.min(2, Math.floor(((heldOut.x[i]![0]! - X_MIN) / (X_MAX - X_MIN)) * 3));
      const [lo, hi] = r.interval!;
      counts[third]!++;
      widths[third]! += hi - lo;
      if (heldOut.y[i]! >= lo && heldOut.y[i]! <= hi) hits[third]!++;
    });
    const total = hits.reduce((a, b) => a + b, 0);
    return { overall: total / heldOut.x.length, thirds: hits.map((h, t) => h / counts[t]!), meanWidth: widths.map((w, t) => w / counts[t]!) };
  } finally {
    await model.release();
  }
}

describe('conformal arithmetic', () => {
  it('ranks the quantile at ⌈(n+1)·level⌉, exact when (n+1)·level is whole', () => {
    expect(conformalRank(99, 0.9)).toBe(90);
    expect(conformalRank(100, 0.9)).toBe(91);
    expect(conformalRank(69, 0.9)).toBe(63);
    expect(conformalQuantile(Array.from({ length: 99 }, (_, i) => 99 - i), 0.9)).toBe(90);
  });

  it('refuses too few rows for the level, naming the need', () => {
    expect(() => conformalQuantile([1, 2, 3], 0.9)).toThrow(CalibrationError);
    expect(() => conformalQuantile(Array.from({ length: 30 }, (_, i) => i), 0.99)).toThrow(/too few for level 0.99/);
  });

  it('split conformal covers at least the level of its own calibration rows', () => {
    const rng = new Prng(5);
    const predictions = Array.from({ length: 500 }, () => rng.uniform(0, 1));
    const targets = predictions.map((p) => p + rng.normal());
    const result = calibrateSingle(predictions, targets, 0.8);
    expect(result.calibration).toMatchObject({ method: 'split-conformal', level: 0.8, rows: 500 });
    expect(result.calibration.coverage).toBeGreaterThanOrEqual(0.8);
    expect(result.calibration.coverage).toBeLessThan(0.8 + 2 / 501);
  });

  it('normalised conformal scales with the members spread', () => {
    // Two rows: members agree (spread 0.1) and disagree (spread 1): the same score gives 10× the residual.
    const members = [1, 1.2, 1, 1.2, 0, 2, 0, 2];
    const targets = Array.from({ length: 40 }, (_, i) => (i % 2 ? 1.1 + 0.1 : 1 + 1));
    const rows = Array.from({ length: 40 }, (_, i) => members.slice((i % 2) * 4, (i % 2) * 4 + 4)).flat();
    const result = calibrateEnsemble(rows, 4, targets, 0.9);
    expect(result.interval.method).toBe('conformal-normalized');
    expect(result.calibration.coverage).toBeGreaterThanOrEqual(0.9);
    expect(isCalibrated(result.interval)).toBe(true);
    expect(isCalibrated({ method: 'ensemble-percentile' })).toBe(false);
  });
});

describe('calibrated intervals on heteroscedastic data (held-out rows)', () => {
  it('raw member percentiles, uncalibrated, miss the 90 % they suggest', async () => {
    const built = await buildPackage({ onnx: onnxBytes, spec, created: '2026-01-01' });
    expect(built.manifest.interval?.method).toBe('ensemble-percentile');
    expect(built.manifest.calibration).toBeUndefined();
    const cov = await coverage(built);
    expect(Math.abs(cov.overall - 0.9)).toBeGreaterThan(0.025);
  });

  it.each([0.9, 0.8])('an ensemble calibrated at level %s covers it within ±2.5 points, and every third of the range', async (level) => {
    // Act
    const built = await buildPackage({ onnx: onnxBytes, spec, calibration: csv(calibration), level, created: '2026-01-01' });
    // Assess: the manifest records the method, level, size and coverage on the calibration rows.
    expect(modelManifestSchema.parse(built.manifest)).toBeTruthy();
    expect(built.manifest.interval).toMatchObject({ method: 'conformal-normalized', level });
    expect(built.manifest.calibration).toMatchObject({ method: 'normalized-conformal', level, rows: 2000, source: 'package' });
    expect(built.manifest.calibration!.coverage).toBeGreaterThanOrEqual(level);
    expect(built.manifest.features[0]!.histogram?.fractions.length).toBeGreaterThan(5);
    const cov = await coverage(built);
    expect(Math.abs(cov.overall - level)).toBeLessThanOrEqual(0.025);
    // Adaptive: no third badly under-covered (more than 10 points below the level), and wider where noisier.
    for (const third of cov.thirds) expect(third).toBeGreaterThanOrEqual(level - 0.1);
    expect(cov.meanWidth[2]!).toBeGreaterThan(2 * cov.meanWidth[0]!);
    // A constant half-width at the same level under-covers the noisy third worse.
    const constant = await coverage(await buildPackage({ onnx: exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' }), spec, calibration: csv(calibration), single: true, level, created: '2026-01-01' }));
    expect(Math.min(...cov.thirds)).toBeGreaterThan(Math.min(...constant.thirds) + 0.02);
  });

  it('a single-output model gets split conformal at the level, marginally within ±2.5 points', async () => {
    const sklearn = exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' });
    const built = await buildPackage({ onnx: sklearn, spec, calibration: csv(calibration), single: true, level: 0.9, created: '2026-01-01' });
    expect(built.manifest.interval).toMatchObject({ method: 'conformal', level: 0.9 });
    expect(built.manifest.calibration).toMatchObject({ method: 'split-conformal', rows: 2000 });
    const cov = await coverage(built);
    expect(Math.abs(cov.overall - 0.9)).toBeLessThanOrEqual(0.025);
  });

  it('refuses a level outside 0.5..0.99, naming --level', async () => {
    const error = await buildPackage({ onnx: onnxBytes, spec, calibration: csv(calibration), level: 0.995 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackageModelError);
    expect((error as Error).message).toMatch(/^--level: .*at most 0.99/);
  });
});
