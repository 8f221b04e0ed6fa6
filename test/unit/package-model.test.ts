import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureSchema, modelManifestSchema, sha256Hex, verifyPackage } from '../../functions/core/manifest.js';
import { featureEnvelope, featureEnvelopes } from '../../models/tools/envelope.js';
import { type RandomForest, trainRandomForest } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import {
  PackageModelError,
  buildPackage,
  conformalHalfWidth,
  decodeOnnx,
  describeTreeEnsemble,
  expandTreeEnsemble,
  packageModel,
  runPackageModelCli,
} from '../../models/tools/package-model.js';
import { Prng } from '../../models/tools/prng.js';
import { REACTOR_FEATURES, reactorYield } from '../../models/tools/reactor.js';
import { exportForestSkl2onnxStyle } from '../../models/tools/skl2onnx-export.js';
import { linearOnnx } from '../support/insight.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

// ---------------------------------------------------------------------------------------------------------
// Fixtures

const features = REACTOR_FEATURES.map((f) => ({ name: f.name, unit: f.unit, min: f.min, max: f.max }));

function specFor(name: string, modelType: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    version: '1.0.0',
    description: `${name} packaged by the tests`,
    modelType,
    target: { name: 'yield', unit: '%' },
    features,
    alerts: { min: 70, max: 95 },
    ...extra,
  };
}

function smallForest(): RandomForest {
  const x = latinHypercube(400, REACTOR_FEATURES, 11);
  const noise = new Prng(12);
  const y = x.map(([t, p, f]) => reactorYield(t as number, p as number, f as number, noise));
  return trainRandomForest(x, y, { nTrees: 8, maxDepth: 8, minSamplesLeaf: 2, maxFeatures: 2, seed: 11 });
}

function uniformRows(n: number, seed: number): number[][] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, () => REACTOR_FEATURES.map((f) => rng.uniform(f.min, f.max)));
}

/** Run a graph with onnxruntime on rows; returns the one output as rows and its dims. */
async function run(bytes: Uint8Array, input: string, output: string, rows: number[][]): Promise<{ rows: number[][]; dims: readonly number[] }> {
  const session = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const nIn = rows[0]?.length ?? 0;
    const result = await session.run({ [input]: new Tensor('float32', Float32Array.from(rows.flat()), [rows.length, nIn]) });
    const tensor = result[output];
    if (!tensor) throw new Error(`no output ${output}`);
    const data = tensor.data as Float32Array;
    const k = data.length / rows.length;
    return { rows: rows.map((_, i) => Array.from(data.subarray(i * k, (i + 1) * k))), dims: tensor.dims };
  } finally {
    await session.release();
  }
}


// Weights and inputs with few significant bits: the graph's float32 output is exact, so the test can
// compute predictions and residuals independently of onnxruntime.
const W = [0.25, -0.5, 0.125];
const B = 10;
const linearExact = (row: number[]) => W[0]! * row[0]! + W[1]! * row[1]! + W[2]! * row[2]! + B;

/** Calibration rows on an exact grid (temp, pressure in steps of 0.25, flow) and a noisy target. */
function calibrationRows(n: number, seed: number): { x: number[][]; y: number[] } {
  const rng = new Prng(seed);
  const x = Array.from({ length: n }, () => [300 + rng.int(101), 1 + 0.25 * rng.int(37), 50 + rng.int(101)]);
  const y = x.map((row) => linearExact(row) + 2 * rng.normal());
  return { x, y };
}

/** CSV with the columns in another order than the spec, plus a column the packager must ignore. */
function calibrationCsv(data: { x: number[][]; y: number[] }, drop?: string): string {
  const columns = ['id', 'flow', 'yield', 'temp', 'pressure'].filter((c) => c !== drop);
  const lines = data.x.map((row, i) => {
    const cell: Record<string, number> = { id: i, temp: row[0]!, pressure: row[1]!, flow: row[2]!, yield: data.y[i]! };
    return columns.map((c) => String(cell[c])).join(',');
  });
  return `${columns.join(',')}\n${lines.join('\n')}\n`;
}

async function refusal(promise: Promise<unknown>): Promise<PackageModelError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PackageModelError);
    return error as PackageModelError;
  }
  throw new Error('expected a refusal');
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'package-model-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------

describe('skl2onnx-style forests are expanded into one column per tree', () => {
  const forest = smallForest();
  const T = forest.trees.length;
  const rows = uniformRows(1000, 5);
  const perTree = forest.predictMembers(rows);

  const variants = [
    { label: 'SUM of leaf/T (skl2onnx)', aggregate: 'SUM' as const, baseValue: undefined },
    { label: 'AVERAGE', aggregate: 'AVERAGE' as const, baseValue: undefined },
    { label: 'AVERAGE with base_values', aggregate: 'AVERAGE' as const, baseValue: 0.5 },
    { label: 'SUM with base_values', aggregate: 'SUM' as const, baseValue: -1.25 },
  ];

  it.each(variants)('$label: the members are the trees and their mean is the original prediction', async ({ aggregate, baseValue }) => {
    // Prepare
    const original = exportForestSkl2onnxStyle(forest, { aggregate, ...(baseValue === undefined ? {} : { baseValue }) });
    expect(describeTreeEnsemble(decodeOnnx(original))).toMatchObject({ form: 'single-target', trees: T, aggregate });

    // Act
    const expanded = expandTreeEnsemble(original);
    const single = await run(original, 'X', 'variable', rows);
    const members = await run(expanded, 'X', 'variable', rows);

    // Assess: shapes
    expect(single.dims).toEqual([1000, 1]);
    expect(members.dims).toEqual([1000, T]);
    // The members' mean agrees with the single output. Both are float32 sums in a different order, so the
    // bound is relative (1e-5 of the value; the observed gap is about one float32 step, ~1e-7 relative).
    let worst = 0;
    members.rows.forEach((m, i) => {
      const mean = m.reduce((s, v) => s + v, 0) / T;
      const y = single.rows[i]![0]!;
      worst = Math.max(worst, Math.abs(mean - y) / Math.max(1, Math.abs(y)));
    });
    expect(worst).toBeLessThan(1e-5);
    // Each member is its tree's own prediction (plus the base value): exactly the float32 that the rewritten
    // weight yields, and within one float32 step of the tree's leaf value.
    const b = baseValue ?? 0;
    members.rows.forEach((m, i) => {
      m.forEach((v, t) => {
        const leaf = perTree[i]![t]!;
        const weight = aggregate === 'SUM' ? Math.fround(Math.fround(leaf / T) * T) : leaf;
        expect(v).toBe(Math.fround(weight + b));
        expect(Math.abs(v - (leaf + b))).toBeLessThanOrEqual(Math.max(1, Math.abs(leaf + b)) * 2 ** -22);
      });
    });
  });

  it('expands weights and base values given as float tensors (target_weights_as_tensor, base_values_as_tensor)', async () => {
    // Prepare: the SUM form with its weights and base value moved into `_as_tensor` attributes.
    const model = decodeOnnx(exportForestSkl2onnxStyle(forest, { aggregate: 'SUM', baseValue: 2 }));
    const node = (model.graph as OnnxTypes.GraphProto).node[0] as OnnxTypes.NodeProto;
    node.attribute = node.attribute.map((a) =>
      a.name === 'target_weights' || a.name === 'base_values'
        ? onnx.AttributeProto.create({
            name: `${a.name}_as_tensor`,
            type: onnx.AttributeProto.AttributeType.TENSOR,
            t: { dataType: FLOAT, dims: [a.floats?.length ?? 0], floatData: a.floats ?? [] },
          })
        : a,
    );
    const original = new Uint8Array(onnx.ModelProto.encode(model).finish());

    // Act
    const expanded = expandTreeEnsemble(original);
    const some = rows.slice(0, 100);
    const single = await run(original, 'X', 'variable', some);
    const members = await run(expanded, 'X', 'variable', some);

    // Assess
    const attrs = decodeOnnx(expanded).graph!.node![0]!.attribute!.map((a) => a.name);
    expect(attrs).toContain('target_weights_as_tensor');
    expect(attrs).toContain('base_values_as_tensor');
    expect(attrs).not.toContain('target_weights');
    members.rows.forEach((m, i) => {
      expect(m).toHaveLength(T);
      const y = single.rows[i]![0]!;
      expect(Math.abs(m.reduce((s, v) => s + v, 0) / T - y)).toBeLessThan(1e-5 * Math.max(1, Math.abs(y)));
      m.forEach((v, t) => expect(v).toBe(Math.fround(Math.fround(Math.fround(perTree[i]![t]! / T) * T) + 2)));
    });
  });

  it('packages the forest: ensemble manifest that validates, digest of the rewritten bytes, files written', async () => {
    // Prepare
    const original = exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' });
    const onnxPath = join(tmp, 'rf.onnx');
    const specPath = join(tmp, 'rf-spec.json');
    writeFileSync(onnxPath, original);
    writeFileSync(specPath, JSON.stringify(specFor('rf-yield', 'RandomForestRegressor')));
    const outDir = join(tmp, 'models', 'rf-yield', '1.0.0');

    // Act
    const result = await packageModel({ onnxPath, specPath, outDir, created: '2026-12-01' });

    // Assess
    expect(result.form).toBe('expanded');
    const manifestText = readFileSync(join(outDir, 'manifest.json'), 'utf8');
    const model = new Uint8Array(readFileSync(join(outDir, 'model.onnx')));
    expect(manifestText).toBe(`${JSON.stringify(JSON.parse(manifestText), null, 2)}\n`);
    const manifest = verifyPackage('rf-yield@1.0.0', JSON.parse(manifestText), model);
    expect(manifest).toEqual(modelManifestSchema.parse(JSON.parse(manifestText)));
    expect(manifest.sha256).toBe(sha256Hex(model));
    expect(model).toEqual(expandTreeEnsemble(original));
    expect(manifest).toMatchObject({
      name: 'rf-yield',
      version: '1.0.0',
      created: '2026-12-01',
      onnx: { input: 'X', output: 'variable' },
      output: { kind: 'ensemble', members: T },
      interval: { method: 'ensemble-percentile', lower: 5, upper: 95 },
      training: { packaging: { sourceSha256: sha256Hex(original) } },
    });
    // No calibration data: no envelope.
    for (const f of manifest.features) expect(f.envelope).toBeUndefined();

    // A second run does not overwrite the published version unless forced.
    const again = await refusal(packageModel({ onnxPath, specPath, outDir, created: '2026-12-01' }));
    expect(again.message).toMatch(/^--out: .*already exist.*--force/);
    await packageModel({ onnxPath, specPath, outDir, created: '2026-12-01', force: true });
    expect(readFileSync(join(outDir, 'manifest.json'), 'utf8')).toBe(manifestText);
  });

  it('keeps a forest that already writes one column per tree byte-identical', async () => {
    const bytes = exportForestOnnx(forest);
    const built = await buildPackage({ onnx: bytes, spec: specFor('rf-members', 'RandomForestRegressor'), created: '2026-12-01' });
    expect(built.form).toBe('per-tree');
    expect(built.model).toEqual(bytes);
    expect(built.manifest).toMatchObject({ onnx: { input: 'input', output: 'members' }, output: { kind: 'ensemble', members: T } });
  });

  it('computes each feature envelope from the calibration data when given', async () => {
    const calib = { x: uniformRows(50, 9), y: Array.from({ length: 50 }, () => 80) };
    const built = await buildPackage({
      onnx: exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' }),
      spec: specFor('rf-yield', 'RandomForestRegressor'),
      calibration: calibrationCsv(calib),
      created: '2026-12-01',
    });
    // With calibration data an ensemble's interval is calibrated too (issue 17): normalised conformal.
    expect(built.manifest.interval).toMatchObject({ method: 'conformal-normalized', level: 0.9 });
    expect(built.manifest.calibration).toMatchObject({ method: 'normalized-conformal', level: 0.9, rows: 50, source: 'package' });
    expect(built.manifest.features.map((f) => f.envelope)).toEqual(featureEnvelopes(calib.x, 3));
  });

  it('refuses a graph with a node after the ensemble, and packages it as single-output with --single', async () => {
    // Prepare: the skl2onnx forest followed by a Mul (×1) that consumes the ensemble's output.
    const model = decodeOnnx(exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' }));
    const graph = model.graph as OnnxTypes.GraphProto;
    graph.node[0]!.output = ['raw'];
    graph.node.push(onnx.NodeProto.create({ name: 'scale', opType: 'Mul', input: ['raw', 'one'], output: ['variable'] }));
    graph.initializer.push(onnx.TensorProto.create({ name: 'one', dataType: FLOAT, dims: [1], floatData: [1] }));
    const bytes = new Uint8Array(onnx.ModelProto.encode(model).finish());

    // Act / Assess
    const error = await refusal(buildPackage({ onnx: bytes, spec: specFor('rf-mul', 'RandomForestRegressor'), created: '2026-12-01' }));
    expect(error.message).toMatch(/^--onnx: the graph has nodes after the TreeEnsembleRegressor \(Mul scale\)/);
    expect(error.message).toContain('--single');
    const calib = { x: uniformRows(40, 3), y: uniformRows(40, 4).map((r) => r[0]! / 5) };
    const built = await buildPackage({
      onnx: bytes,
      spec: specFor('rf-mul', 'RandomForestRegressor'),
      calibration: calibrationCsv(calib),
      single: true,
      created: '2026-12-01',
    });
    expect(built.form).toBe('single');
    expect(built.model).toEqual(bytes);
    expect(built.manifest.output).toEqual({ kind: 'single' });
    expect(built.manifest.interval?.method).toBe('conformal');
  });

  it('refuses an ai.onnx.ml opset 5 TreeEnsemble as unsupported', async () => {
    const model: OnnxTypes.IModelProto = {
      irVersion: 10,
      opsetImport: [
        { domain: '', version: 21 },
        { domain: 'ai.onnx.ml', version: 5 },
      ],
      graph: {
        name: 'v5',
        node: [{ name: 'trees', opType: 'TreeEnsemble', domain: 'ai.onnx.ml', input: ['X'], output: ['variable'] }],
        input: [{ name: 'X', type: { tensorType: { elemType: FLOAT, shape: { dim: [{}, { dimValue: 3 }] } } } }],
        output: [{ name: 'variable', type: { tensorType: { elemType: FLOAT, shape: { dim: [{}, { dimValue: 1 }] } } } }],
      },
    };
    const bytes = new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
    const error = await refusal(buildPackage({ onnx: bytes, spec: specFor('v5', 'RandomForestRegressor') }));
    expect(error.message).toMatch(/opset 5 TreeEnsemble, which is unsupported/);
    expect(error.message).toContain("'ai.onnx.ml': 3");
  });

  it('refuses to expand boosted trees (their trees are not members)', async () => {
    const error = await refusal(
      buildPackage({ onnx: exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' }), spec: specFor('gb', 'GradientBoostingRegressor') }),
    );
    expect(error.field).toBe('--spec');
    expect(error.message).toMatch(/boosted trees.*--single and --calibration/);
  });
});

describe('single-output regressors get a split-conformal interval from calibration data', () => {
  const bytes = linearOnnx(W, B);
  const spec = specFor('linear-yield', 'LinearRegression');

  it('half-width is the ⌈0.9(n+1)⌉-th smallest absolute residual (computed independently)', async () => {
    // Prepare: n = 69, where (n + 1) · 0.9 = 63 is a whole number: the rank is 63, not 64.
    const data = calibrationRows(69, 21);
    const residuals = data.x.map((row, i) => Math.abs(data.y[i]! - linearExact(row)));
    // The smallest r with #{residuals <= r} >= 0.9 (n + 1), in integers: 10·count >= 9·(n + 1).
    const expected = [...residuals].sort((a, b) => a - b).find((r) => 10 * residuals.filter((s) => s <= r).length >= 9 * 70);

    // Act
    const built = await buildPackage({ onnx: bytes, spec, calibration: calibrationCsv(data), created: '2026-12-01' });

    // Assess
    expect(expected).toBeDefined();
    expect(built.form).toBe('single');
    expect(built.calibration).toEqual({ rows: 69, rank: 63, halfWidth: expected });
    expect(built.manifest).toMatchObject({
      onnx: { input: 'input', output: 'yield' },
      output: { kind: 'single' },
      interval: { method: 'conformal', level: 0.9, halfWidth: expected },
    });
    expect(built.model).toEqual(bytes);
    expect(verifyPackage('linear-yield@1.0.0', JSON.parse(built.manifestText), built.model).sha256).toBe(sha256Hex(bytes));
    // The envelope of each feature comes from the calibration inputs.
    built.manifest.features.forEach((f, i) => {
      const column = data.x.map((r) => r[i]!).sort((a, b) => a - b);
      expect(f.envelope).toEqual(featureEnvelope(column));
      expect(f.envelope!.min).toBe(column[0]);
      expect(f.envelope!.max).toBe(column[68]);
    });
  });

  it('applies the spec scaler before inference, as the server does', async () => {
    // The graph expects standardised inputs z = (x - mean) / scale; with weights W·scale it is the same model.
    const scaler = { kind: 'standard', mean: [300, 1, 50], scale: [4, 0.5, 8] };
    const scaled = linearOnnx(
      W.map((w, i) => w * scaler.scale[i]!),
      B + W.reduce((s, w, i) => s + w * scaler.mean[i]!, 0),
    );
    const data = calibrationRows(40, 22);
    const plain = await buildPackage({ onnx: bytes, spec, calibration: calibrationCsv(data), created: '2026-12-01' });
    const withScaler = await buildPackage({ onnx: scaled, spec: { ...spec, scaler }, calibration: calibrationCsv(data), created: '2026-12-01' });
    expect(withScaler.manifest.interval).toEqual(plain.manifest.interval);
    expect(withScaler.manifest.scaler).toEqual(scaler);
  });

  it('refuses without calibration data, saying the interval needs it', async () => {
    const error = await refusal(buildPackage({ onnx: bytes, spec }));
    expect(error.field).toBe('--calibration');
    expect(error.message).toMatch(/needs calibration data/);
  });

  it('refuses a calibration CSV missing a feature column, naming the column', async () => {
    const error = await refusal(buildPackage({ onnx: bytes, spec, calibration: calibrationCsv(calibrationRows(30, 1), 'pressure') }));
    expect(error.message).toMatch(/^--calibration: missing feature column pressure/);
    const noTarget = await refusal(buildPackage({ onnx: bytes, spec, calibration: calibrationCsv(calibrationRows(30, 1), 'yield') }));
    expect(noTarget.message).toMatch(/missing target column yield/);
  });

  it('refuses fewer than 20 calibration rows and accepts 20 (rank 19)', async () => {
    const error = await refusal(buildPackage({ onnx: bytes, spec, calibration: calibrationCsv(calibrationRows(19, 2)) }));
    expect(error.message).toMatch(/^--calibration: 19 calibration rows; a conformal interval needs at least 20/);
    const built = await buildPackage({ onnx: bytes, spec, calibration: calibrationCsv(calibrationRows(20, 2)), created: '2026-12-01' });
    expect(built.calibration?.rank).toBe(19);
  });

  it('refuses a non-numeric cell naming the line and column, and a graph whose input width differs from the spec', async () => {
    const csv = calibrationCsv(calibrationRows(25, 3)).replace(/\n(\d+),(\d+),/, '\n$1,abc,');
    const error = await refusal(buildPackage({ onnx: bytes, spec, calibration: csv }));
    expect(error.message).toMatch(/^--calibration: line 2, column flow: "abc" is not a finite number/);
    const narrow = await refusal(buildPackage({ onnx: linearOnnx([1, 2], 0), spec, calibration: calibrationCsv(calibrationRows(25, 3)) }));
    expect(narrow.message).toBe('--onnx: input input has 2 columns but the spec lists 3 features');
  });

  it('conformalHalfWidth picks the rank-th smallest value', () => {
    const values = Array.from({ length: 20 }, (_, i) => 20 - i); // 20..1
    expect(conformalHalfWidth(values)).toBe(19); // ⌈21 · 0.9⌉ = 19
    expect(conformalHalfWidth(Array.from({ length: 99 }, (_, i) => i + 1))).toBe(90); // ⌈100 · 0.9⌉ = 90
    expect(() => conformalHalfWidth([1, 2, 3])).toThrow(/3 calibration rows/);
  });
});

describe('package-model command', () => {
  const lines: string[] = [];
  const io = { log: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };

  it('exits 2 naming the flag or field on bad input', async () => {
    lines.length = 0;
    expect(await runPackageModelCli(['--onnx', 'x.onnx', '--out', 'models/a/1.0.0'], io)).toBe(2);
    expect(lines.join('\n')).toMatch(/missing --spec/);

    lines.length = 0;
    expect(await runPackageModelCli(['--onnx', 'x', '--spec', 'y', '--out', 'z', '--bogus'], io)).toBe(2);
    expect(lines.join('\n')).toMatch(/--bogus/);

    lines.length = 0;
    const specPath = join(tmp, 'bad-spec.json');
    writeFileSync(specPath, JSON.stringify(specFor('bad', 'LinearRegression', { features: [{ ...features[0], max: 100, min: 200 }] })));
    const onnxPath = join(tmp, 'linear.onnx');
    writeFileSync(onnxPath, linearOnnx(W, B));
    expect(await runPackageModelCli(['--onnx', onnxPath, '--spec', specPath, '--out', join(tmp, 'bad', '1.0.0')], io)).toBe(2);
    expect(lines.join('\n')).toMatch(/package-model: --spec: features\.0\.max: min must be below max/);

    lines.length = 0;
    writeFileSync(specPath, JSON.stringify(specFor('linear-yield', 'LinearRegression')));
    expect(await runPackageModelCli(['--onnx', onnxPath, '--spec', specPath, '--out', join(tmp, 'linear-yield', '2.0.0')], io)).toBe(2);
    expect(lines.join('\n')).toMatch(/--out: expected a folder ending in linear-yield\/1\.0\.0/);

    lines.length = 0;
    expect(
      await runPackageModelCli(['--onnx', onnxPath, '--spec', specPath, '--out', join(tmp, 'linear-yield', '1.0.0'), '--created', '2026-13-01'], io),
    ).toBe(2);
    expect(lines.join('\n')).toMatch(/package-model: --created: "2026-13-01" is not a date \(YYYY-MM-DD\)/);
  });

  it('writes a package and reports it', async () => {
    lines.length = 0;
    const onnxPath = join(tmp, 'linear.onnx');
    const specPath = join(tmp, 'linear-spec.json');
    const calibPath = join(tmp, 'calib.csv');
    writeFileSync(onnxPath, linearOnnx(W, B));
    writeFileSync(specPath, JSON.stringify(specFor('linear-yield', 'LinearRegression')));
    writeFileSync(calibPath, calibrationCsv(calibrationRows(100, 4)));
    const out = join(tmp, 'cli', 'linear-yield', '1.0.0');
    const args = ['--onnx', onnxPath, '--spec', specPath, '--calibration', calibPath, '--out', out, '--created', '2026-12-02'];
    expect(await runPackageModelCli(args, io)).toBe(0);
    const text = lines.join('\n');
    expect(text).toMatch(/linear-yield@1\.0\.0: input \[N, 3\] -> yield \[N, 1\] \(single\), interval conformal ±[\d.]+ \(level 0\.9, rank 91 of 100\)/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { created: string; sha256: string };
    expect(manifest.created).toBe('2026-12-02');
    expect(manifest.sha256).toBe(sha256Hex(readFileSync(join(out, 'model.onnx'))));
    expect(text).toContain(`sha256 ${manifest.sha256}`);
  });
});

describe('training envelope', () => {
  it('is the float32 range and the linearly interpolated 1st / 99th percentiles', () => {
    const values = Array.from({ length: 101 }, (_, i) => 101 - i); // 101..1
    expect(featureEnvelope(values)).toEqual({ min: 1, max: 101, q01: 2, q99: 100 });
    expect(featureEnvelope([0.1, 0.2])).toEqual({
      min: Math.fround(0.1),
      max: Math.fround(0.2),
      q01: Math.fround(0.1) + 0.01 * (Math.fround(0.2) - Math.fround(0.1)),
      q99: Math.fround(0.1) + 0.99 * (Math.fround(0.2) - Math.fround(0.1)),
    });
  });

  it('is an optional, numeric feature field', () => {
    const base = { name: 'temp', unit: '°C', min: 300, max: 400 };
    expect(featureSchema.safeParse(base).success).toBe(true);
    expect(featureSchema.safeParse({ ...base, envelope: { min: 301, max: 399, q01: 302, q99: 398 } }).success).toBe(true);
    const bad = featureSchema.safeParse({ ...base, envelope: { min: 301, max: 399, q01: '302' } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['envelope.q01', 'envelope.q99']);
  });
});
