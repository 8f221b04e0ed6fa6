import { beforeAll, describe, expect, it } from 'vitest';
import { intervalSchema, modelManifestSchema } from '../../functions/core/manifest.js';
import { calibrateEnsemble, calibrateSingle, CalibrationError, conformalQuantile, conformalRank, isCalibrated, minGroupRows } from '../../functions/core/quality/conformal.js';
import { calibrateVersion } from '../../functions/core/quality/calibrate.js';
import { fitDifficultyTree, groupOf } from '../../functions/core/quality/difficulty.js';
import { recalibrate, initialRecalibration } from '../../functions/core/quality/recalibration.js';
import { TwinModel } from '../../functions/core/twin/model.js';
import { trainRandomForest, type RandomForest } from '../../models/tools/forest.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { exportForestSkl2onnxStyle } from '../../models/tools/skl2onnx-export.js';
import { buildPackage, PackageModelError, type BuiltPackage } from '../../models/tools/package-model.js';
import { Prng } from '../../models/tools/prng.js';

/**
 * Calibrated intervals on generated data with heteroscedastic noise: the noise's standard deviation grows
 * sixteen-fold across x's range, so a constant-width interval over-covers the calm third and under-covers the
 * noisy one, and the members' raw percentiles under-cover overall (the issue's 72 %).
 *
 * The bound per third of x's range: coverage ≥ level − min(5 points, 1 − level), i.e. 0.45, 0.75, 0.85 and
 * 0.98 at 0.5, 0.8, 0.9 and 0.99 (at most twice the stated miss rate at 0.99). Why that much slack: Mondrian
 * conformal guarantees each group (leaf of the difficulty tree) at least the level, but a third of the range
 * is not exactly a union of groups, each group's quantile comes from a few hundred rows (±1.5–2 points per
 * third over calibration draws), a held-out third of ~1,333 rows adds up to 1.4 points, and the worst of
 * three is about one such spread below the mean. The old method (one scale normalised by the members'
 * spread) is biased in the noisiest third, not only noisy: 0.72 at 0.8 there on these seeds (below the
 * bound), 0.86 at 0.9 and 0.982 at 0.99 (inside it). models/tools/coverage-study.ts measures both methods
 * over many calibration draws.
 */
const thirdBound = (level: number) => level - Math.min(0.05, 1 - level);

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
/**
 * At 0.5 the residuals are densest around the quantile, so a group's half-width moves coverage most: with
 * 2,000 rows (1,000 for the quantiles) overall coverage spreads ±4 points over calibration draws, with 4,000
 * ±3 (models/tools/coverage-study.ts). The 0.5 case calibrates on 4,000 rows.
 */
const calibrationLarge = generate(4000, 4);
const calibrationFor = (level: number) => (level === 0.5 ? calibrationLarge : calibration);
const heldOut = generate(4000, 3);

beforeAll(() => {
  const train = generate(1500, 1);
  forest = trainRandomForest(train.x, train.y, { nTrees: 24, maxDepth: 10, minSamplesLeaf: 5, seed: 7 });
  onnxBytes = exportForestOnnx(forest, { inputName: 'input', outputName: 'y' });
});

/** Coverage of the served intervals on held-out rows: overall and per third of x's range. */
async function coverage(built: BuiltPackage, prepare?: (model: TwinModel) => Promise<void>): Promise<{ overall: number; thirds: number[]; meanWidth: number[] }> {
  const model = await TwinModel.load({ manifest: built.manifest, bytes: built.model });
  try {
    await prepare?.(model);
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

describe('difficulty tree and Mondrian groups', () => {
  it('splits where the residuals change scale, and serving walks to the same group', () => {
    // Residuals 1 for x ≤ 0.5, 10 above; a second input is pure noise.
    const rng = new Prng(21);
    const n = 1000;
    const x = Float64Array.from({ length: n }, () => rng.uniform(0, 1));
    const z = Float64Array.from({ length: n }, () => rng.uniform(0, 1));
    const target = Float64Array.from(x, (v) => (v <= 0.5 ? 1 : 10) * Math.abs(rng.normal()));
    const rows = Array.from({ length: n }, (_, i) => i);
    const { tree, groups } = fitDifficultyTree([x, z], target, rows.filter((r) => r % 2 === 0), rows.filter((r) => r % 2 === 1), 100);
    expect(groups).toBeGreaterThanOrEqual(2);
    expect(tree[0]).toMatchObject({ input: 0 });
    expect((tree[0] as { at: number }).at).toBeGreaterThan(0.4);
    expect((tree[0] as { at: number }).at).toBeLessThan(0.6);
    expect(groupOf(tree, [0.1, 0.5], 0, 2, 0)).not.toBe(groupOf(tree, [0.9, 0.5], 0, 2, 0));
  });

  it('makes no groups from residuals that do not change with the inputs, and no group under the minimum', () => {
    const rng = new Prng(22);
    const n = 600;
    const x = Float64Array.from({ length: n }, () => rng.uniform(0, 1));
    const target = Float64Array.from({ length: n }, () => 1);
    const rows = Array.from({ length: n }, (_, i) => i);
    expect(fitDifficultyTree([x], target, rows.filter((r) => r % 2 === 0), rows.filter((r) => r % 2 === 1), 100).groups).toBe(1);
    // Varying residuals, but a minimum group as large as the halves: no split.
    const varying = Float64Array.from(x, (v) => v);
    expect(fitDifficultyTree([varying], varying, rows.filter((r) => r % 2 === 0), rows.filter((r) => r % 2 === 1), 300).groups).toBe(1);
  });

  it('needs two groups of max(100, 2 × the rows the level needs) per half, else falls back to normalised conformal', () => {
    expect(minGroupRows(0.9)).toBe(100);
    expect(minGroupRows(0.99)).toBe(198);
    const rng = new Prng(23);
    const few = 399;
    const members = Array.from({ length: few * 2 }, () => rng.normal());
    const targets = Array.from({ length: few }, () => rng.normal());
    const inputs = { values: Array.from({ length: few }, () => rng.uniform(0, 1)), features: 1 };
    expect(calibrateEnsemble(members, 2, targets, 0.9, inputs).interval.method).toBe('conformal-normalized');
    expect(() => calibrateEnsemble(members, 2, targets, 0.9, { values: [1, 2], features: 1 })).toThrow(CalibrationError);
  });

  it('the manifest refuses a tree whose walk would not end or names what does not exist', () => {
    const base = { method: 'conformal-mondrian', level: 0.9, halfWidth: [1, 2] };
    const parse = (interval: unknown) => intervalSchema.safeParse(interval).success;
    expect(parse({ ...base, tree: [{ input: 0, at: 1, lo: 1, hi: 2 }, { group: 0 }, { group: 1 }] })).toBe(true);
    expect(parse({ ...base, tree: [{ input: 0, at: 1, lo: 0, hi: 2 }, { group: 0 }, { group: 1 }] })).toBe(false);
    expect(parse({ ...base, tree: [{ input: 0, at: 1, lo: 1, hi: 3 }, { group: 0 }, { group: 1 }] })).toBe(false);
    expect(parse({ ...base, tree: [{ input: 0, at: 1, lo: 1, hi: 2 }, { group: 0 }, { group: 2 }] })).toBe(false);
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

  it.each([0.9, 0.8, 0.5, 0.99])('an ensemble calibrated at level %s covers it within ±2.5 points, and every third of the range within the bound', async (level) => {
    // Act
    const built = await buildPackage({ onnx: onnxBytes, spec, calibration: csv(calibrationFor(level)), level, created: '2026-01-01' });
    // Assess: the manifest records the method, level, size, groups and coverage on the calibration rows.
    expect(modelManifestSchema.parse(built.manifest)).toBeTruthy();
    expect(built.manifest.interval).toMatchObject({ method: 'conformal-mondrian', level });
    expect(built.manifest.calibration).toMatchObject({ method: 'mondrian-conformal', level, rows: calibrationFor(level).y.length, source: 'package' });
    expect(built.manifest.calibration!.coverage).toBeGreaterThanOrEqual(level);
    expect(built.manifest.calibration!.groups).toBeGreaterThanOrEqual(2);
    // Small: a tree of at most 15 nodes and one half-width per group, not data.
    expect(JSON.stringify(built.manifest.interval).length).toBeLessThan(1500);
    // A split on an input the model does not have (2 features: 0, 1, and 2 the spread) is refused.
    const bad = structuredClone(built.manifest) as { interval: { tree: { input?: number }[] } };
    bad.interval.tree.find((n) => n.input !== undefined)!.input = 3;
    expect(modelManifestSchema.safeParse(bad).success).toBe(false);
    expect(built.manifest.features[0]!.histogram?.fractions.length).toBeGreaterThan(5);
    const cov = await coverage(built);
    expect(Math.abs(cov.overall - level)).toBeLessThanOrEqual(0.025);
    for (const third of cov.thirds) expect(third).toBeGreaterThanOrEqual(thirdBound(level));
    // Adaptive: wider where noisier.
    expect(cov.meanWidth[2]!).toBeGreaterThan(2 * cov.meanWidth[0]!);
    // A constant half-width at the same level under-covers the noisy third worse.
    const constant = await coverage(await buildPackage({ onnx: exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' }), spec, calibration: csv(calibrationFor(level)), single: true, level, created: '2026-01-01' }));
    expect(Math.min(...cov.thirds)).toBeGreaterThan(Math.min(...constant.thirds));
  });

  it('the old method (one scale normalised by the spread) breaks the per-third bound the new one holds at 0.8', async () => {
    const level = 0.8;
    const built = await buildPackage({ onnx: onnxBytes, spec, calibration: csv(calibration), level, created: '2026-01-01' });
    // Without the inputs calibrateEnsemble falls back to normalised conformal: the method served before.
    const old = await coverage(built, async (model) => {
      const { raw, columns } = await model.run(Float32Array.from(calibration.x.flat()), calibration.x.length);
      const result = calibrateEnsemble(raw, columns, calibration.y, level);
      expect(result.interval.method).toBe('conformal-normalized');
      model.applyCalibration({ interval: result.interval, calibration: result.calibration });
    });
    expect(Math.abs(old.overall - level)).toBeLessThanOrEqual(0.025);
    expect(Math.min(...old.thirds)).toBeLessThan(thirdBound(level));
    expect(Math.min(...(await coverage(built)).thirds)).toBeGreaterThanOrEqual(thirdBound(level));
  });

  it('online recalibration composes with the groups: after the noise grows by half, feedback brings coverage back to the level', async () => {
    const level = 0.9;
    const built = await buildPackage({ onnx: onnxBytes, spec, calibration: csv(calibration), level, created: '2026-01-01' });
    const model = await TwinModel.load({ manifest: built.manifest, bytes: built.model });
    try {
      // The plant drifts: the same inputs, 1.5× the noise. Feedback arrives row by row; the factor follows it.
      const rng = new Prng(11);
      const stream = generate(6000, 12).x;
      const y = stream.map(([a, b]) => signal(a!, b!) + 1.5 * noiseSd(a!) * rng.normal());
      const rows = await model.infer(Float32Array.from(stream.flat()), stream.length);
      let state = initialRecalibration;
      const hits: boolean[] = [];
      rows.forEach((r, i) => {
        const [lo, hi] = r.interval!;
        const centre = (lo + hi) / 2;
        const half = ((hi - lo) / 2) * state.factor;
        const hit = Math.abs(y[i]! - centre) <= half;
        hits.push(hit);
        state = recalibrate(state, [hit], level);
      });
      // Without recalibration (factor 1) the drifted plant is under-covered.
      const before = rows.filter((r, i) => y[i]! >= r.interval![0] && y[i]! <= r.interval![1]).length / rows.length;
      const after = hits.slice(2000).filter(Boolean).length / (hits.length - 2000);
      expect(before).toBeLessThan(level - 0.05);
      expect(Math.abs(after - level)).toBeLessThanOrEqual(0.025);
      expect(state.factor).toBeGreaterThan(1.2);
      // Served × the factor: every group's half-width scales alike.
      model.widthFactor = 2;
      const doubled = await model.infer(Float32Array.from(stream.slice(0, 50).flat()), 50);
      doubled.forEach((r, i) => expect(r.interval![1] - r.interval![0]).toBeCloseTo(2 * (rows[i]!.interval![1] - rows[i]!.interval![0]), 4));
    } finally {
      await model.release();
    }
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

describe('calibration added to a published version (the route\'s path), with a scaler', () => {
  it('fits the groups on the rows as the graph sees them (scaled), and serving finds the same groups', async () => {
    // Prepare: a forest trained on standard-scaled inputs, packaged uncalibrated with the scaler in its manifest.
    const scaler = { kind: 'standard' as const, mean: [5, 0.5], scale: [2, 0.25] };
    const scale = (x: number[][]) => x.map(([a, b]) => [(a! - 5) / 2, (b! - 0.5) / 0.25]);
    const train = generate(1500, 1);
    const scaledForest = trainRandomForest(scale(train.x), train.y, { nTrees: 24, maxDepth: 10, minSamplesLeaf: 5, seed: 7 });
    const built = await buildPackage({ onnx: exportForestOnnx(scaledForest, { inputName: 'input', outputName: 'y' }), spec: { ...spec, scaler }, created: '2026-01-01' });
    expect(built.manifest.interval?.method).toBe('ensemble-percentile');
    const model = await TwinModel.load({ manifest: built.manifest, bytes: built.model });
    try {
      // Act: labelled rows in the features' own units, as PUT .../calibration takes them.
      const rows = calibration.x.map(([x, z], i) => ({ inputs: { x: x!, z: z! }, value: calibration.y[i]! }));
      const stored = await calibrateVersion(model, { level: 0.9, rows }, '2026-01-02T00:00:00.000Z', 'f'.repeat(64));
      model.applyCalibration(stored);
      // Assess: Mondrian groups whose split points on x lie in the scaled range (−2.5..2.5), not in 0..10.
      expect(stored.interval.method).toBe('conformal-mondrian');
      expect(stored.calibration).toMatchObject({ method: 'mondrian-conformal', level: 0.9, rows: 2000, source: 'route' });
      const tree = (stored.interval as { tree: { input?: number; at?: number }[] }).tree;
      const onX = tree.filter((n) => n.input === 0);
      expect(onX.length).toBeGreaterThan(0);
      for (const n of onX) expect(Math.abs(n.at!)).toBeLessThanOrEqual(2.5);
      const served = await model.infer(Float32Array.from(heldOut.x.flat()), heldOut.x.length);
      const hits = [0, 0, 0];
      const counts = [0, 0, 0];
      served.forEach((r, i) => {
        const third = Math.min(2, Math.floor((heldOut.x[i]![0]! / 10) * 3));
        counts[third]!++;
        if (heldOut.y[i]! >= r.interval![0] && heldOut.y[i]! <= r.interval![1]) hits[third]!++;
      });
      const overall = hits.reduce((a, b) => a + b, 0) / heldOut.x.length;
      expect(Math.abs(overall - 0.9)).toBeLessThanOrEqual(0.025);
      for (const [t, h] of hits.entries()) expect(h / counts[t]!).toBeGreaterThanOrEqual(thirdBound(0.9));
    } finally {
      await model.release();
    }
  });
});
