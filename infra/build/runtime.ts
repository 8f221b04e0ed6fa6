/**
 * `npm run build:runtime` (part of `npm run build`, which `npm start` and `npm test` run first): the local
 * and edge twin compiled to JavaScript in dist/local/ — start.mjs, its lazily loaded chunks and the
 * stores' process file. `npm start`, `twin edge` and the container run `node dist/local/start.mjs`.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLocalTwinBundle } from './node-bundle.js';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Where the runtime is built: two folders below the repository root (see buildLocalTwinBundle). */
export const runtimeDir = join(repoRoot, 'dist', 'local');
export const runtimeEntry = join(runtimeDir, 'start.mjs');

export async function buildRuntime(): Promise<void> {
  await buildLocalTwinBundle({ entryPoints: { start: join(repoRoot, 'infra', 'local', 'start.ts') }, outdir: runtimeDir });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildRuntime();
