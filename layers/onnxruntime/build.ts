import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Builds the Lambda layer content for onnxruntime-node: `nodejs/node_modules/onnxruntime-node` (+ its runtime
 * dependency onnxruntime-common) with only the native binaries of linux/<arch>. The npm package carries every
 * platform (~290 MB, over Lambda's 250 MB unzipped limit); linux/x64 alone is ~46 MB. Nothing is downloaded:
 * the CPU binaries ship inside the package (package.json's `allowScripts` denies the CUDA install script), so this runs offline.
 *
 * The result is cached in a staging directory keyed by package version, architecture and {@link layoutVersion},
 * and written atomically (build in a sibling, then rename), so parallel synths share one copy.
 */

export type LayerArch = 'x64' | 'arm64';

export interface OnnxRuntimeLayer {
  /** Directory to hand to `Code.fromAsset` (contains `nodejs/`). */
  dir: string;
  arch: LayerArch;
  /** onnxruntime-node version inside. */
  version: string;
  /** Unzipped size in bytes (what counts towards Lambda's 250 MB). */
  bytes: number;
}

export interface BuildOptions {
  arch: LayerArch;
  /** Where staging directories go. @default `<os tmpdir>/twinserve-layers` */
  stagingRoot?: string;
}

/** Bump when the pruning below changes, so cached staging directories are rebuilt. */
const layoutVersion = 1;

/**
 * onnxruntime-node's own `dependencies` also list adm-zip and global-agent: only its install script (which
 * fetches CUDA files) uses them, so the layer leaves them out. `test/infra/bundles.test.ts` loads the built
 * layer and runs a model, which would fail if a runtime dependency were missing.
 */
const runtimeDependencies = ['onnxruntime-common'] as const;

const require = createRequire(import.meta.url);

function packageDir(fromFile: string, name: string): string {
  // Resolve the entry point (package.json may not be exported), then walk up to the package root.
  let dir = dirname(createRequire(fromFile).resolve(name));
  while (!existsSync(join(dir, 'package.json')) || readPackage(dir).name !== name) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`Cannot find the package root of ${name}`);
    dir = parent;
  }
  return dir;
}

function readPackage(dir: string): { name: string; version: string } {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
}

/** Sum of file sizes under `dir`. */
export function directorySize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directorySize(path) : statSync(path).size;
  }
  return total;
}

/** Source maps and type declarations are dead weight at run time. */
function runtimeFile(source: string): boolean {
  return !/\.(ts|map)$/.test(source);
}

function copyPrunedOnnxRuntime(ortDir: string, target: string, arch: LayerArch): void {
  const modules = join(target, 'nodejs', 'node_modules');
  const ortTarget = join(modules, 'onnxruntime-node');
  mkdirSync(ortTarget, { recursive: true });
  cpSync(join(ortDir, 'package.json'), join(ortTarget, 'package.json'));
  cpSync(join(ortDir, 'dist'), join(ortTarget, 'dist'), { recursive: true, filter: runtimeFile });
  // bin/napi-v<N>/<platform>/<arch>: keep linux/<arch> of every N-API version shipped.
  const bin = join(ortDir, 'bin');
  const napiDirs = readdirSync(bin).filter((d) => d.startsWith('napi-v'));
  for (const napi of napiDirs) {
    const source = join(bin, napi, 'linux', arch);
    if (existsSync(source)) cpSync(source, join(ortTarget, 'bin', napi, 'linux', arch), { recursive: true });
  }
  if (!existsSync(join(ortTarget, 'bin'))) throw new Error(`onnxruntime-node in ${ortDir} has no linux/${arch} binaries`);

  for (const dep of runtimeDependencies) {
    const depDir = packageDir(join(ortDir, 'package.json'), dep);
    cpSync(depDir, join(modules, dep), {
      recursive: true,
      // lib/ holds the TypeScript sources of dist/.
      filter: (source) => runtimeFile(source) && !/^(node_modules|lib)\b/.test(relative(depDir, source)),
    });
  }
}

/** Builds (or reuses) the pruned layer for `arch` and returns where it is. */
export function buildOnnxRuntimeLayer(options: BuildOptions): OnnxRuntimeLayer {
  const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
  const { version } = readPackage(ortDir);
  const stagingRoot = options.stagingRoot ?? join(tmpdir(), 'twinserve-layers');
  // No dots in the name: CDK would take `.0-linux-x64` for a file extension when it stages the asset.
  const dir = join(stagingRoot, `onnxruntime-node_${version.replaceAll('.', '-')}_linux-${options.arch}_layout${layoutVersion}`);
  if (!existsSync(dir)) {
    mkdirSync(stagingRoot, { recursive: true });
    const building = `${dir}.${process.pid}-${Date.now()}.partial`;
    try {
      copyPrunedOnnxRuntime(ortDir, building, options.arch);
      try {
        renameSync(building, dir);
      } catch (error) {
        // Another process finished the same build first: its copy is identical.
        if (!existsSync(dir)) throw error;
      }
    } finally {
      rmSync(building, { recursive: true, force: true });
    }
  }
  return { dir, arch: options.arch, version, bytes: directorySize(dir) };
}

/** Lambda's architecture name to Node's `process.arch`. */
export function layerArchFor(lambdaArchitecture: 'x86_64' | 'arm64'): LayerArch {
  return lambdaArchitecture === 'arm64' ? 'arm64' : 'x64';
}

// `npx tsx layers/onnxruntime/build.ts [--arch x64|arm64] [--out <dir>]`: build and print where and how big.
if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const arch = value('--arch') ?? 'x64';
  if (arch !== 'x64' && arch !== 'arm64') throw new Error(`--arch must be x64 or arm64, not ${arch}`);
  const out = value('--out');
  const layer = buildOnnxRuntimeLayer({ arch, ...(out ? { stagingRoot: resolve(out) } : {}) });
  const mb = (layer.bytes / 1024 / 1024).toFixed(1);
  console.log(`onnxruntime-node ${layer.version} linux/${layer.arch}: ${mb} MB unzipped in ${layer.dir}`);
}
