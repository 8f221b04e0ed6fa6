/** Running a graph as the server does (onnxruntime, float32 rows in feature order, the scaler applied). */
import '../../../functions/core/twin/no-telemetry.js';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { FeatureSpec } from '../../../functions/core/manifest.js';
import { Prng } from '../prng.js';
import { PackageModelError, type PackageSpec } from './spec.js';

/** Rows as the server feeds them: float32, feature order, standard-scaled when the manifest has a scaler. */
export function servingInput(rows: readonly ArrayLike<number>[], nFeatures: number, scaler?: PackageSpec['scaler']): Float32Array {
  const values = new Float32Array(rows.length * nFeatures);
  rows.forEach((row, r) => {
    for (let f = 0; f < nFeatures; f++) values[r * nFeatures + f] = row[f] as number;
  });
  if (scaler) {
    for (let i = 0; i < values.length; i++) {
      const f = i % nFeatures;
      values[i] = ((values[i] as number) - (scaler.mean[f] as number)) / (scaler.scale[f] as number);
    }
  }
  return values;
}

/** Run the graph on [rows, nFeatures] float32 values; returns the output values and its column count. */
export async function runGraph(
  session: InferenceSession,
  io: { input: string; output: string },
  values: Float32Array,
  rows: number,
  nFeatures: number,
): Promise<{ data: Float32Array; columns: number }> {
  const result = await session.run({ [io.input]: new Tensor('float32', values, [rows, nFeatures]) }, [io.output]);
  const tensor = result[io.output];
  if (!tensor) throw new PackageModelError(`the run returned no output ${io.output}`, '--onnx');
  if (tensor.type !== 'float32') throw new PackageModelError(`output ${io.output} is ${tensor.type}, Twinserve reads float32`, '--onnx');
  const data = tensor.data as Float32Array;
  return { data, columns: rows ? data.length / rows : 0 };
}

export async function openSession(bytes: Uint8Array): Promise<InferenceSession> {
  try {
    return await InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  } catch (error) {
    throw new PackageModelError(`onnxruntime cannot load the model: ${(error as Error).message}`, '--onnx');
  }
}

/** Uniform random rows within the features' valid ranges, plus each range's corners. Seeded. */
export function probeRows(features: readonly FeatureSpec[], n: number, seed = 1): number[][] {
  const rng = new Prng(seed);
  const rows = Array.from({ length: n }, () => features.map((f) => rng.uniform(f.min, f.max)));
  rows.push(features.map((f) => f.min), features.map((f) => f.max));
  return rows;
}
