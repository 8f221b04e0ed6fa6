import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import type { FunctionName } from '../../functions/routes.js';
import { functionDefs, type FunctionDef } from '../functions.js';

/**
 * How a Lambda function is bundled, in one place: infra/constructs/twin-function.ts builds each function's
 * asset with {@link deployedBundleOptions} (esbuild's API, in the synthesizing process), and
 * {@link lambdaBundleOptions} builds the same bundle for what measures or inspects it (bench/sizes.ts,
 * test/infra/bundle-contents.test.ts).
 */

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The module onnxruntime-node is replaced with in functions that do not infer (see that file). */
const onnxRuntimeStub = './layers/onnxruntime/unavailable.ts';
/** ...and in functions that do: it requires the package from the layer through NODE_PATH (see that file). */
const onnxRuntimeFromLayer = './layers/onnxruntime/from-layer.ts';

/** Some CommonJS dependencies call require(); an ES module has none of its own. */
export const lambdaBanner = "import { createRequire as __twinCreateRequire } from 'node:module'; const require = __twinCreateRequire(import.meta.url);";

/**
 * Node built-ins a bundle takes from node's module table instead of importing as ES modules, each with its
 * shim (relative to the project root). An ES import of a built-in makes node build an ES facade that reads
 * every export; for `node:http` on Node 22 that loads undici (see ./node-http.cjs).
 */
export const builtinShims: Readonly<Record<string, string>> = {
  'node:http': './infra/build/node-http.cjs',
  http: './infra/build/node-http.cjs',
};

/**
 * `functions/<fn>.ts` bundled as its Lambda function is (node22, ESM, minified, the banner, the built-in
 * shims), except that onnxruntime-node stays external where the function infers (so the bundle runs in place
 * against node_modules; in AWS a shim requires it from the layer) and is the stub elsewhere. No source map.
 */
export function lambdaBundleOptions(fn: FunctionName, outfile: string): BuildOptions {
  const inference = functionDefs[fn].inference;
  return {
    entryPoints: [join(projectRoot, 'functions', `${fn}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    mainFields: ['module', 'main'],
    banner: { js: lambdaBanner },
    external: inference ? ['onnxruntime-node'] : [],
    alias: {
      ...Object.fromEntries(Object.entries(builtinShims).map(([name, shim]) => [name, join(projectRoot, shim)])),
      ...(inference ? {} : { 'onnxruntime-node': join(projectRoot, onnxRuntimeStub) }),
    },
    logLevel: 'error',
  };
}

/**
 * `functions/<fn>.ts` as its Lambda function's asset: `<outdir>/index.mjs` and its source map (no sources in
 * it). These are the options NodejsFunction passed its esbuild command line (`npx esbuild`, a process per
 * function) until it built them here, byte for byte the same: node22, ESM, minified, `module` before `main`,
 * the banner, the built-in shims, the AWS SDK bundled (nothing external), onnxruntime-node required from the
 * layer where the function infers (NODE_PATH, /opt/nodejs/node_modules) and the stub elsewhere. Relative
 * paths resolve from the project root, as the command line's did from its working directory.
 */
export function deployedBundleOptions(def: Pick<FunctionDef, 'name' | 'inference'>, outdir: string): BuildOptions & { outfile: string } {
  return {
    absWorkingDir: projectRoot,
    entryPoints: [join(projectRoot, 'functions', `${def.name}.ts`)],
    outfile: join(outdir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: { js: lambdaBanner },
    alias: { 'onnxruntime-node': def.inference ? onnxRuntimeFromLayer : onnxRuntimeStub, ...builtinShims },
    logLevel: 'warning',
  };
}
