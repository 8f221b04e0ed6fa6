import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { storesProcessFile } from '../local/stores.js';

/**
 * The one way Twinserve builds code that runs under plain node (no tsx at run time): the local and edge
 * twin (`npm start`, the container), the bench's serving process and the `twin` CLI (client/build/build.ts).
 *
 * ES modules for Node 20, split at every dynamic `import()` so what a mode does not use is never loaded (a
 * chunk per lazily loaded part), with a `require` for the CommonJS packages bundled in.
 */

/** ESM output has no `require`; bundled CommonJS packages (protobufjs, the AWS SDK's deps) call it. */
export const requireBanner = "import { createRequire as __twinRequire } from 'node:module'; const require = __twinRequire(import.meta.url);";

/**
 * Packages that stay in node_modules: native code (onnxruntime-node; classic-level under dynalite) does
 * not bundle, and the stores' process (./stores-process.mjs, plain JavaScript) imports dynalite and s3rver
 * from node_modules itself. Everything else is bundled: one file read per chunk instead of hundreds of
 * module resolutions at start.
 */
export const nativeExternals = ['onnxruntime-node', 'dynalite', 's3rver', 'classic-level'];

export interface NodeBundle {
  /** `{ outName: sourceFile }`: each becomes `<outdir>/<outName>.mjs`. */
  entryPoints: Record<string, string>;
  outdir: string;
  /** @default {@link nativeExternals} */
  external?: string[];
  /** A first line such as `#!/usr/bin/env node`. */
  shebang?: boolean;
  sourcemap?: boolean;
  /** @default '.mjs' */
  extension?: '.js' | '.mjs';
}

export function nodeBundleOptions(bundle: NodeBundle): BuildOptions {
  return {
    entryPoints: bundle.entryPoints,
    outdir: bundle.outdir,
    outExtension: { '.js': bundle.extension ?? '.mjs' },
    entryNames: '[name]',
    // Chunks beside the entries: code that finds files from its own import.meta.url sits at the same depth.
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // The packages' ES builds where they ship one (the AWS SDK, Powertools), as Lambda bundles do.
    mainFields: ['module', 'main'],
    external: bundle.external ?? nativeExternals,
    banner: { js: `${bundle.shebang ? '#!/usr/bin/env node\n' : ''}${requireBanner}` },
    sourcemap: bundle.sourcemap ?? false,
    logLevel: 'warning',
  };
}

/** Builds {@link NodeBundle} into a clean `outdir`. */
export async function buildNodeBundle(bundle: NodeBundle): Promise<void> {
  rmSync(bundle.outdir, { recursive: true, force: true });
  mkdirSync(bundle.outdir, { recursive: true });
  await build(nodeBundleOptions(bundle));
}

/**
 * A bundle that starts a local twin (infra/local/twin.ts): the stores' process file goes beside it, where
 * infra/local/stores.ts looks for it (one file: it and the SigV4 gate it imports, dynalite and s3rver left to
 * node_modules), and the bundle must sit two folders below the repository root (as infra/local/twin.ts
 * does), where `repoRoot` still finds models/ and dashboard/dist.
 */
export async function buildLocalTwinBundle(bundle: NodeBundle): Promise<void> {
  await buildNodeBundle(bundle);
  await build({
    entryPoints: [storesProcessFile],
    outfile: join(bundle.outdir, 'stores-process.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: nativeExternals,
    logLevel: 'warning',
  });
}
