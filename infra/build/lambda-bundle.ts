import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import type { FunctionName } from '../../functions/routes.js';
import { functionDefs } from '../functions.js';

/**
 * How a Lambda function is bundled, in one place: infra/constructs/twin-function.ts hands these settings to
 * NodejsFunction (local esbuild), and {@link lambdaBundleOptions} builds the same bundle directly for what
 * measures or inspects it (bench/sizes.ts, test/infra/bundle-contents.test.ts).
 */

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

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
      ...(inference ? {} : { 'onnxruntime-node': join(projectRoot, 'layers', 'onnxruntime', 'unavailable.ts') }),
    },
    logLevel: 'error',
  };
}
