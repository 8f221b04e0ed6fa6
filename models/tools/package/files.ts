/** The packager on files: read the inputs, build the package, write model.onnx and manifest.json. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { buildPackage, type BuiltPackage } from './build.js';
import { PackageModelError, parseSpec } from './spec.js';

export interface PackageModelOptions {
  onnxPath: string;
  specPath: string;
  /** The package folder, `.../<name>/<version>`. */
  outDir: string;
  calibrationPath?: string;
  /** The interval's level (0.5–0.99). @default 0.9 */
  level?: number;
  created?: string;
  single?: boolean;
  /** Overwrite an existing package folder's files. */
  force?: boolean;
}

function readInput(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new PackageModelError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, flag);
  }
}

/** Read the inputs, build and check the package, then write model.onnx and manifest.json to `outDir`. */
export async function packageModel(options: PackageModelOptions): Promise<BuiltPackage & { files: string[] }> {
  const onnxBytes = new Uint8Array(readInput(options.onnxPath, '--onnx'));
  let specJson: unknown;
  try {
    specJson = JSON.parse(readInput(options.specPath, '--spec').toString('utf8')) as unknown;
  } catch (error) {
    if (error instanceof PackageModelError) throw error;
    throw new PackageModelError(`${options.specPath} is not valid JSON: ${(error as Error).message}`, '--spec');
  }
  const spec = parseSpec(specJson);
  const outDir = resolve(options.outDir);
  if (basename(outDir) !== spec.version || basename(dirname(outDir)) !== spec.name) {
    throw new PackageModelError(`expected a folder ending in ${spec.name}/${spec.version} (the spec's name and version), got ${options.outDir}`, '--out');
  }
  const files = [resolve(outDir, 'model.onnx'), resolve(outDir, 'manifest.json')];
  const existing = files.filter((f) => existsSync(f));
  if (existing.length && !options.force) {
    throw new PackageModelError(`${existing.join(', ')} already exist(s); a published version must not change (pass --force to overwrite)`, '--out');
  }
  const built = await buildPackage({
    onnx: onnxBytes,
    spec: specJson,
    ...(options.calibrationPath === undefined ? {} : { calibration: readInput(options.calibrationPath, '--calibration').toString('utf8') }),
    ...(options.created === undefined ? {} : { created: options.created }),
    ...(options.single ? { single: true } : {}),
    ...(options.level === undefined ? {} : { level: options.level }),
  });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(files[0] as string, built.model);
  writeFileSync(files[1] as string, built.manifestText);
  return { ...built, files };
}
