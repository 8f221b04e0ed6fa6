/**
 * Builds client/ into the package `@twinserve/client` (client/dist, `npm pack`-able from client/):
 *
 * - dist/index.js: the SDK as one ES module (esbuild; no imports at run time: Node 20+ and browsers);
 * - dist/*.d.ts: its declarations (tsc), from client/api-types.ts, which is regenerated from the contracts;
 * - dist/cli/twin.js: the `twin` CLI as ES modules for Node (commander and zod bundled in), with
 *   `twin models package` in its own chunk that loads onnxruntime-node and onnx-proto only when run.
 *
 * `npm run build` runs it (and `npm test` / `npm start` run that first); bin/twin.mjs runs dist/cli/twin.js.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';
import { buildNodeBundle } from '../../infra/build/node-bundle.js';
import { apiTypesPath, generateApiTypes } from './api-types.js';

const clientDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(clientDir, 'dist');

export async function buildClient(): Promise<void> {
  const apiTypes = generateApiTypes();
  // Rewritten only when it changes: `npm test` type-checks this source while it builds.
  if (!existsSync(apiTypesPath) || readFileSync(apiTypesPath, 'utf8') !== apiTypes) writeFileSync(apiTypesPath, apiTypes);
  rmSync(dist, { recursive: true, force: true });
  await build({
    entryPoints: [join(clientDir, 'index.ts')],
    outfile: join(dist, 'index.js'),
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
  });
  const options: ts.CompilerOptions = {
    declaration: true,
    emitDeclarationOnly: true,
    outDir: dist,
    rootDir: clientDir,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    types: [],
    skipLibCheck: true,
  };
  const program = ts.createProgram([join(clientDir, 'index.ts')], options);
  const emitted = program.emit();
  const problems = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (problems.length > 0) throw new Error(`client declarations:\n${ts.formatDiagnosticsWithColorAndContext(problems, ts.createCompilerHost(options))}`);
  // Native code and the protobuf runtime stay packages; everything else (commander, zod, tar) is bundled.
  await buildNodeBundle({ entryPoints: { twin: join(clientDir, 'cli', 'main.ts') }, outdir: join(dist, 'cli'), external: ['onnxruntime-node', 'onnx-proto'], shebang: true, extension: '.js' });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildClient();
