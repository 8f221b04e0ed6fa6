import { type ModelManifest, modelManifestSchema, sha256Hex } from '../../functions/core/manifest.js';
import { featureEnvelopes } from './envelope.js';
import { type RandomForest, trainRandomForest } from './forest.js';
import { latinHypercube } from './lhs.js';
import { exportForestOnnx } from './onnx-export.js';
import { Prng, deriveSeed } from './prng.js';
import { REACTOR_FEATURES, REACTOR_NOISE_SD, REACTOR_SURFACE_TEXT, reactorYield, reactorYieldExact } from './reactor.js';

/**
 * The reference model package `reactor-yield@1.0.0`, built entirely in memory and deterministically:
 * the same code always yields the same model.onnx bytes and manifest.json text. Used by
 * train-reference.ts (write / --check) and by the tests.
 */

export const REFERENCE = {
  name: 'reactor-yield',
  version: '1.0.0',
  /** Fixed, so that regenerating the package is byte-identical. */
  created: '2026-11-25',
  seed: 42,
  samples: 2000,
  holdoutSamples: 2000,
  forest: { nTrees: 20, maxDepth: 20, minSamplesLeaf: 3, maxFeatures: 3 },
} as const;

export interface ReferencePackage {
  forest: RandomForest;
  onnx: Uint8Array;
  manifest: ModelManifest;
  /** manifest.json as written: 2-space indent, trailing newline. */
  manifestText: string;
  holdoutRmse: number;
  trainingMs: number;
}

export interface ReferenceData {
  x: number[][];
  y: number[];
}

/** The training set: LHS over the valid ranges (rounded to float32, as the model sees them), noisy yield. */
export function referenceTrainingData(seed: number = REFERENCE.seed, samples: number = REFERENCE.samples): ReferenceData {
  const x = latinHypercube(samples, REACTOR_FEATURES, deriveSeed(seed, 'lhs')).map((row) => row.map(Math.fround));
  const noise = Prng.derive(seed, 'noise');
  const y = x.map(([t, p, f]) => reactorYield(t as number, p as number, f as number, noise));
  return { x, y };
}

/** An independent held-out set: uniform over the valid ranges (float32), with the noise-free yield. */
export function referenceHoldout(seed: number = REFERENCE.seed, samples: number = REFERENCE.holdoutSamples): ReferenceData {
  const rng = Prng.derive(seed, 'holdout');
  const x = Array.from({ length: samples }, () => REACTOR_FEATURES.map((f) => Math.fround(rng.uniform(f.min, f.max))));
  const y = x.map(([t, p, f]) => reactorYieldExact(t as number, p as number, f as number));
  return { x, y };
}

export function rmse(predicted: readonly number[], actual: readonly number[]): number {
  let s = 0;
  predicted.forEach((p, i) => {
    s += (p - (actual[i] as number)) ** 2;
  });
  return Math.sqrt(s / predicted.length);
}

export function trainReferenceForest(data: ReferenceData = referenceTrainingData()): RandomForest {
  return trainRandomForest(data.x, data.y, { ...REFERENCE.forest, seed: deriveSeed(REFERENCE.seed, 'forest') });
}

export function buildReferencePackage(): ReferencePackage {
  const training = referenceTrainingData();
  const started = performance.now();
  const forest = trainReferenceForest(training);
  const trainingMs = performance.now() - started;
  // The training envelope of each feature (inputs are already float32), for extrapolation flags.
  const envelopes = featureEnvelopes(training.x, REACTOR_FEATURES.length);

  const holdout = referenceHoldout();
  const holdoutRmse = Math.round(rmse(forest.predict(holdout.x), holdout.y) * 1e4) / 1e4;

  const onnx = exportForestOnnx(forest, {
    graphName: 'reactor_yield',
    producerVersion: '1.0.0',
    docString:
      `reactor-yield 1.0.0: random forest (${forest.trees.length} CART trees) of the reference reactor yield (%) ` +
      'from temp (°C), pressure (bar), flow (kg/h). Output `members` holds one column per tree; the prediction is ' +
      'their mean. Trained by models/tools/train-reference.ts.',
  });

  const manifest: ModelManifest = {
    schemaVersion: 1,
    name: REFERENCE.name,
    version: REFERENCE.version,
    created: REFERENCE.created,
    description:
      'Reference reactor yield twin: a random forest fitted to a synthetic yield surface peaking at 360 °C and 6 bar. ' +
      `Prediction is the mean of the ${forest.trees.length} trees, the interval their 5th..95th percentiles.`,
    modelType: 'RandomForestRegressor',
    target: { name: 'yield', unit: '%' },
    features: REACTOR_FEATURES.map((f, i) => ({
      name: f.name,
      unit: f.unit,
      description: f.description,
      min: f.min,
      max: f.max,
      envelope: envelopes[i],
    })),
    onnx: { input: 'input', output: 'members' },
    output: { kind: 'ensemble', members: forest.trees.length },
    interval: { method: 'ensemble-percentile', lower: 5, upper: 95 },
    alerts: { min: 70, max: 95 },
    training: {
      algorithm: 'random forest of CART regression trees (MSE splits, bootstrap per tree)',
      implementation: 'models/tools/forest.ts, exported by models/tools/onnx-export.ts',
      seed: REFERENCE.seed,
      samples: REFERENCE.samples,
      sampling: 'latin-hypercube',
      ranges: Object.fromEntries(REACTOR_FEATURES.map((f) => [f.name, { min: f.min, max: f.max }])),
      surface: REACTOR_SURFACE_TEXT,
      noiseSd: REACTOR_NOISE_SD,
      nTrees: REFERENCE.forest.nTrees,
      maxDepth: REFERENCE.forest.maxDepth,
      minSamplesLeaf: REFERENCE.forest.minSamplesLeaf,
      maxFeatures: REFERENCE.forest.maxFeatures,
      bootstrap: true,
      holdoutSamples: REFERENCE.holdoutSamples,
      holdoutSampling: 'uniform',
      holdoutRmse,
      holdoutRmseAgainst: 'noise-free surface',
    },
    sha256: sha256Hex(onnx),
  };
  // Validate, but serialise our own object so the key order is ours, not the schema's.
  modelManifestSchema.parse(manifest);

  return { forest, onnx, manifest, manifestText: `${JSON.stringify(manifest, null, 2)}\n`, holdoutRmse, trainingMs };
}
