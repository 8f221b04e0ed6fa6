/**
 * What every Lambda bundle is built with besides NodejsFunction's own options: infra/constructs/twin-function.ts
 * passes these to esbuild, and bench/sizes.ts, which bundles the functions the same way to measure them.
 */

/**
 * Node built-ins a bundle takes from node's module table instead of importing as ES modules, each with its
 * shim (relative to the project root). An ES import of a built-in makes node build an ES facade that reads
 * every export; for `node:http` on Node 22 that loads undici (see ./node-http.cjs).
 */
export const builtinShims: Readonly<Record<string, string>> = {
  'node:http': './infra/build/node-http.cjs',
  http: './infra/build/node-http.cjs',
};
