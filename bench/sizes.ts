import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';
import { functionNames, type FunctionName } from '../functions/routes.js';
import { lambdaBundleOptions } from '../infra/build/lambda-bundle.js';
import { repoRoot } from './fixtures.js';

/**
 * The deployment artifacts' sizes.
 * - Bundles: each function bundled here with esbuild as infra/constructs/twin-function.ts bundles it
 *   (infra/build/lambda-bundle.ts `lambdaBundleOptions`: node22, ESM, minified, the createRequire banner, the
 *   node:http shim, onnxruntime-node external where the function infers, else the stub). Size of the .mjs
 *   (Lambda's limit counts unzipped bytes) and its raw-deflate size (about what the zip carries). Source maps
 *   are left out.
 * - Layer: the pruned onnxruntime-node layer, built by layers/onnxruntime/build.ts when it exports its
 *   builder, else computed here (bin/napi-v*\/linux/x64 + dist + package.json + onnxruntime-common).
 */

export interface BundleSize {
  bytes: number;
  deflatedBytes: number;
}

export interface SizesResult {
  bundles: Record<FunctionName, BundleSize>;
  layer: { bytes: number; method: string; version?: string };
  /** Where the bundles are (with a node_modules link, so they run as they are). */
  buildDir: string;
}

/** Bundles every function into `<dir>/<name>/index.mjs`; `dir` gets a node_modules link to the repo's. */
export async function bundleFunctions(dir: string): Promise<Record<FunctionName, BundleSize>> {
  mkdirSync(dir, { recursive: true });
  // The bundles import onnxruntime-node at run time; this link lets the cold-start stage run them in place.
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const out = {} as Record<FunctionName, BundleSize>;
  await Promise.all(
    functionNames.map(async (fn) => {
      const outfile = join(dir, fn, 'index.mjs');
      await build(lambdaBundleOptions(fn, outfile));
      out[fn] = { bytes: statSync(outfile).size, deflatedBytes: deflateRawSync(readFileSync(outfile), { level: 9 }).length };
    }),
  );
  return out;
}

function directorySize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directorySize(path) : statSync(path).size;
  }
  return total;
}

/** What the pruned layer would hold, computed without copying (used when the layer builder is absent). */
function prunedLayerSize(): number {
  const ort = join(repoRoot, 'node_modules', 'onnxruntime-node');
  let total = statSync(join(ort, 'package.json')).size + directorySize(join(ort, 'dist'));
  for (const napi of readdirSync(join(ort, 'bin')).filter((d) => d.startsWith('napi-v'))) {
    const linux = join(ort, 'bin', napi, 'linux', 'x64');
    if (existsSync(linux)) total += directorySize(linux);
  }
  return total + directorySize(join(repoRoot, 'node_modules', 'onnxruntime-common'));
}

export async function layerSize(stagingRoot: string): Promise<SizesResult['layer']> {
  const builder = join(repoRoot, 'layers', 'onnxruntime', 'build.ts');
  if (existsSync(builder)) {
    const mod = (await import(pathToFileURL(builder).href)) as {
      buildOnnxRuntimeLayer?: (options: { arch: 'x64'; stagingRoot: string }) => { bytes: number; version: string };
    };
    if (typeof mod.buildOnnxRuntimeLayer === 'function') {
      const layer = mod.buildOnnxRuntimeLayer({ arch: 'x64', stagingRoot });
      return { bytes: layer.bytes, version: layer.version, method: 'layers/onnxruntime/build.ts buildOnnxRuntimeLayer (linux/x64)' };
    }
  }
  return { bytes: prunedLayerSize(), method: 'computed: onnxruntime-node bin/napi-v*/linux/x64 + dist + package.json, plus onnxruntime-common' };
}

export async function runSizes(dir: string): Promise<SizesResult> {
  const buildDir = join(dir, 'bundles');
  const [bundles, layer] = await Promise.all([bundleFunctions(buildDir), layerSize(join(dir, 'layer'))]);
  return { bundles, layer, buildDir };
}
