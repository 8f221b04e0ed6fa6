import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { sha256Hex, type ModelManifest } from '../../functions/core/manifest.js';
import { TwinModel } from '../../functions/core/twin/model.js';
import { trainRandomForest, type RandomForest, type Tree } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { buildPackage } from '../../models/tools/package-model.js';
import { Prng } from '../../models/tools/prng.js';
import { REACTOR_FEATURES, reactorYield } from '../../models/tools/reactor.js';
import { exportForestSkl2onnxStyle } from '../../models/tools/skl2onnx-export.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/**
 * Models for the insight tests (issue 18): a hand-built two-tree ensemble whose Shapley values are worked
 * out by hand, a linear graph (not a tree: explained model-agnostically), and a scikit-learn-layout forest
 * packaged by models/tools/package-model.ts.
 */

/**
 * Two features on [0, 1], two trees:
 *   tree A: x0 <= 0.5 ? 10 : 20
 *   tree B: x0 <= 0.5 ? (x1 <= 0.5 ? 0 : 4) : 8
 * The prediction is their mean. Against the uniform box, for x = (0.2, 0.7):
 *   tree A: E = 15, φ0 = 10 − 15 = −5, φ1 = 0;
 *   tree B: v(∅) = 5, v({0}) = 2, v({1}) = 6, v({0,1}) = 4 → φ0 = ½[(2−5)+(4−6)] = −2.5, φ1 = ½[(6−5)+(4−2)] = 1.5;
 *   mean:   E = 10, φ0 = −3.75, φ1 = 0.75, prediction 7.
 */
export const handTrees: Tree[] = [
  { feature: [0, -1, -1], threshold: [0.5, 0, 0], left: [1, -1, -1], right: [2, -1, -1], value: [0, 10, 20] },
  { feature: [0, 1, -1, -1, -1], threshold: [0.5, 0.5, 0, 0, 0], left: [1, 2, -1, -1, -1], right: [4, 3, -1, -1, -1], value: [0, 0, 0, 4, 8] },
];
export const handForest = { trees: handTrees, nFeatures: 2 } as unknown as RandomForest;

export function handManifest(bytes: Uint8Array, layout: 'per-tree' | 'skl2onnx', extra: Partial<ModelManifest> = {}): ModelManifest {
  return {
    schemaVersion: 1,
    name: 'hand-trees',
    version: '1.0.0',
    created: '2026-12-01', // date-inert: a package's created date
    modelType: 'RandomForestRegressor',
    target: { name: 'y', unit: '' },
    features: [
      { name: 'a', unit: '', min: 0, max: 1 },
      { name: 'b', unit: '', min: 0, max: 1 },
    ],
    onnx: layout === 'per-tree' ? { input: 'input', output: 'members' } : { input: 'X', output: 'variable' },
    output: layout === 'per-tree' ? { kind: 'ensemble', members: 2 } : { kind: 'single' },
    ...(layout === 'per-tree' ? { interval: { method: 'ensemble-percentile' as const, lower: 5, upper: 95 } } : {}),
    alerts: { min: 0, max: 100 },
    sha256: sha256Hex(bytes),
    ...extra,
  };
}

export async function handModel(layout: 'per-tree' | 'skl2onnx', options: { baseValue?: number; aggregate?: 'SUM' | 'AVERAGE' } = {}): Promise<TwinModel> {
  const bytes =
    layout === 'per-tree'
      ? exportForestOnnx(handForest)
      : exportForestSkl2onnxStyle(handForest, { aggregate: options.aggregate ?? 'SUM', ...(options.baseValue === undefined ? {} : { baseValue: options.baseValue }) });
  return TwinModel.load({ manifest: handManifest(bytes, layout), bytes });
}

/** y = Σ w·x + b as MatMul + Add (a single-output regressor that is not a tree ensemble). */
export function linearOnnx(weights: number[], bias: number): Uint8Array {
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'test',
    graph: {
      name: 'linear',
      node: [
        { name: 'matmul', opType: 'MatMul', input: ['input', 'W'], output: ['xw'] },
        { name: 'add', opType: 'Add', input: ['xw', 'B'], output: ['yield'] },
      ],
      initializer: [
        { name: 'W', dataType: FLOAT, dims: [weights.length, 1], floatData: weights },
        { name: 'B', dataType: FLOAT, dims: [1], floatData: [bias] },
      ],
      input: [{ name: 'input', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: weights.length }] } } } }],
      output: [{ name: 'yield', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 1 }] } } } }],
    },
  };
  return new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
}

export function linearManifest(bytes: Uint8Array, features: number): ModelManifest {
  return {
    schemaVersion: 1,
    name: 'linear',
    version: '1.0.0',
    created: '2026-12-01', // date-inert: a package's created date
    modelType: 'LinearRegression',
    target: { name: 'yield', unit: '%' },
    features: Array.from({ length: features }, (_, i) => ({ name: `x${i}`, unit: '', min: 0, max: 10 })),
    onnx: { input: 'input', output: 'yield' },
    output: { kind: 'single' },
    interval: { method: 'conformal', level: 0.9, halfWidth: 2 },
    alerts: { min: 0, max: 100 },
    sha256: sha256Hex(bytes),
  };
}

export async function linearModel(weights: number[], bias: number): Promise<TwinModel> {
  const bytes = linearOnnx(weights, bias);
  return TwinModel.load({ manifest: linearManifest(bytes, weights.length), bytes });
}

/**
 * A scikit-learn RandomForestRegressor as skl2onnx exports it (one aggregated column, leaf/T, SUM), packaged
 * by package-model (expanded to one column per tree) with calibration data for the envelopes. `name`
 * defaults to `sk-forest`.
 */
export async function packagedSklearnForest(name = 'sk-forest', version = '1.0.0'): Promise<{ manifest: ModelManifest; bytes: Uint8Array }> {
  const x = latinHypercube(400, REACTOR_FEATURES, 21);
  const noise = new Prng(22);
  const y = x.map(([t, p, f]) => reactorYield(t as number, p as number, f as number, noise));
  const forest = trainRandomForest(x, y, { nTrees: 8, maxDepth: 8, minSamplesLeaf: 2, maxFeatures: 2, seed: 21 });
  const calibration = ['temp,pressure,flow,yield', ...x.slice(0, 100).map((r, i) => `${r.join(',')},${y[i]}`)].join('\n');
  const built = await buildPackage({
    onnx: exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' }),
    spec: {
      name,
      version,
      modelType: 'RandomForestRegressor',
      target: { name: 'yield', unit: '%' },
      features: REACTOR_FEATURES.map((f) => ({ name: f.name, unit: f.unit, min: f.min, max: f.max })),
      alerts: { min: 70, max: 95 },
    },
    calibration,
    created: '2026-12-01', // date-inert: a package's created date
  });
  return { manifest: built.manifest, bytes: built.model };
}
