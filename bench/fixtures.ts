import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseManifestText, verifyPackage, type ModelManifest } from '../functions/core/manifest.js';
import type { ModelPackage } from '../functions/core/ports.js';
import { seededRandom } from './stats.js';

export const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const referenceModel = { name: 'reactor-yield', version: '1.0.0' } as const;

/** The reference package from models/, verified as the model store verifies it. */
export function readReferencePackage(): ModelPackage {
  const dir = join(repoRoot, 'models', referenceModel.name, referenceModel.version);
  const ref = `${referenceModel.name}@${referenceModel.version}`;
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
  const manifest = verifyPackage(ref, parseManifestText(ref, readFileSync(join(dir, 'manifest.json'), 'utf8')), bytes);
  return { manifest, bytes };
}

export type Row = Record<string, number>;

/**
 * Where the bench's rows lie: around the reference reactor's operating point (360 °C, 6 bar), where the
 * predicted yield (about 77..87 %) stays inside the alert band [70, 95], as a plant in normal operation
 * sends. Features not listed span their manifest range.
 */
export const operatingWindow: Record<string, { min: number; max: number }> = {
  temp: { min: 350, max: 370 },
  pressure: { min: 5, max: 7 },
};

/**
 * Random feature rows in the {@link operatingWindow}. Every row differs, so the core's prediction cache
 * never answers: the figures are the inference path, not the cache.
 */
export function rowSource(manifest: ModelManifest, seed = 42): () => Row {
  const random = seededRandom(seed);
  const ranges = manifest.features.map((f) => ({ name: f.name, ...(operatingWindow[f.name] ?? { min: f.min, max: f.max }) }));
  return () => {
    const row: Row = {};
    for (const r of ranges) row[r.name] = r.min + random() * (r.max - r.min);
    return row;
  };
}

/** `n` rows as the float32 row-major matrix session.run takes, in manifest feature order. */
export function toMatrix(manifest: ModelManifest, rows: readonly Row[]): Float32Array {
  const width = manifest.features.length;
  const out = new Float32Array(rows.length * width);
  rows.forEach((row, r) => manifest.features.forEach((f, i) => (out[r * width + i] = row[f.name]!)));
  return out;
}
