/**
 * Build the reference model package models/reactor-yield/1.0.0/{model.onnx,manifest.json}.
 *
 *   npm run train              train, export and write the package
 *   npm run train -- --check   rebuild in memory; exit 1 if the committed files differ (names them)
 *
 * The build is deterministic (seeded, fixed `created` date), so rerunning it reproduces the files byte for byte.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../../functions/core/manifest.js';
import { REFERENCE, buildReferencePackage } from './reference.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const referencePackageDir = join(repoRoot, 'models', REFERENCE.name, REFERENCE.version);

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function main(args: string[]): number {
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length) {
    console.error(`unknown argument(s): ${unknown.join(' ')}\nusage: train-reference.ts [--check]`);
    return 2;
  }
  const check = args.includes('--check');
  const pkg = buildReferencePackage();
  const files: [string, Uint8Array][] = [
    [join(referencePackageDir, 'model.onnx'), pkg.onnx],
    [join(referencePackageDir, 'manifest.json'), new TextEncoder().encode(pkg.manifestText)],
  ];
  const summary =
    `${REFERENCE.name}@${REFERENCE.version}: ${pkg.forest.trees.length} trees, ${pkg.forest.nodeCount} nodes, ` +
    `trained in ${pkg.trainingMs.toFixed(0)} ms, holdout RMSE ${pkg.holdoutRmse} % (vs noise-free surface), ` +
    `model.onnx ${pkg.onnx.length} bytes, sha256 ${pkg.manifest.sha256}`;

  if (check) {
    const differing = files.filter(([path, bytes]) => {
      const current = readOrUndefined(path);
      return !current || sha256Hex(current) !== sha256Hex(bytes);
    });
    if (differing.length) {
      for (const [path] of differing) {
        console.error(`differs from a fresh build: ${relative(repoRoot, path)}`);
      }
      console.error('run `npm run train` to regenerate the reference package');
      return 1;
    }
    console.log(`up to date: ${summary}`);
    return 0;
  }

  mkdirSync(referencePackageDir, { recursive: true });
  for (const [path, bytes] of files) {
    writeFileSync(path, bytes);
    console.log(`wrote ${relative(repoRoot, path)}`);
  }
  console.log(summary);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
