import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directorySize } from '../../layers/onnxruntime/build.js';
import { functionDefs } from '../../infra/functions.js';
import { functionNames, type FunctionName } from '../../infra/routes.js';
import { functionConstructId } from '../../infra/stacks/api-stack.js';
import { pathOf, resourcesOfType, synthesize, type Synthesized } from '../support/cdk.js';

/**
 * The real artifacts: every function bundled by local esbuild as `npx cdk synth` does, and the onnxruntime
 * layer. Sizes against Lambda's limits, the layer pruned to one platform, and both loaded the way Lambda
 * loads them (the handler module from /var/task, onnxruntime-node from the layer's node_modules).
 */

const MB = 1024 * 1024;
const repoRoot = join(import.meta.dirname, '..', '..');
let synth: Synthesized;
let scratch: string;
const sizes: Record<string, number> = {};

function assetDir(s3Key: unknown): string {
  const hash = String(s3Key).replace(/\.zip$/, '');
  const dir = join(synth.outdir, `asset.${hash}`);
  expect(existsSync(dir), dir).toBe(true);
  return dir;
}

function bundleDir(name: FunctionName): string {
  const fn = resourcesOfType(synth.templates.api, 'AWS::Lambda::Function').find(([, r]) => pathOf(r).endsWith(`/${functionConstructId(name)}/Function/Resource`));
  expect(fn, name).toBeDefined();
  return assetDir(fn![1].Properties?.Code.S3Key);
}

function layerDir(): string {
  const [, layer] = resourcesOfType(synth.templates.api, 'AWS::Lambda::LayerVersion')[0]!;
  return assetDir(layer.Properties?.Content.S3Key);
}

/** Lays a bundle out as Lambda does (`<root>/var/task/index.mjs`), with the layer's modules reachable or not. */
function lambdaLayout(name: FunctionName, withLayer: boolean): string {
  const root = mkdtempSync(join(scratch, `${name}-`));
  const task = join(root, 'var', 'task');
  mkdirSync(task, { recursive: true });
  for (const file of readdirSync(bundleDir(name))) copyFileSync(join(bundleDir(name), file), join(task, file));
  // Lambda resolves the layer through NODE_PATH=/opt/nodejs/node_modules; an ancestor node_modules is the
  // same lookup for Node's resolver here.
  if (withLayer) symlinkSync(join(layerDir(), 'nodejs', 'node_modules'), join(root, 'node_modules'), 'dir');
  return join(task, 'index.mjs');
}

function node(args: string[], cwd: string): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'twinserve-bundles-'));
  synth = synthesize('dev', { bundle: ['Twinserve-dev-Api'] });
}, 180_000);

afterAll(() => {
  synth?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  if (Object.keys(sizes).length) console.info('unzipped sizes (MB):', sizes);
});

describe('function bundles', () => {
  it('keeps predict under 5 MB', () => {
    const bytes = directorySize(bundleDir('predict'));
    sizes.predict = Number((bytes / MB).toFixed(2));
    expect(bytes).toBeLessThan(5 * MB);
  });

  it.each(functionNames)('%s: an ES module bundle under 5 MB', (name) => {
    const files = readdirSync(bundleDir(name)).sort();
    expect(files).toEqual(['index.mjs', 'index.mjs.map']);
    expect(directorySize(bundleDir(name))).toBeLessThan(5 * MB);
  });

  it.each(functionNames)('%s: imports onnxruntime-node from the layer only if it infers', (name) => {
    const code = readFileSync(join(bundleDir(name), 'index.mjs'), 'utf8');
    const importsOrt = /from\s*"onnxruntime-node"/.test(code);
    expect(importsOrt).toBe(functionDefs[name].inference);
    if (!functionDefs[name].inference) expect(code).toContain('onnxruntime-node is not deployed with this function');
  });

  it.each(functionNames)('%s: loads as Lambda loads it', (name) => {
    const entry = lambdaLayout(name, functionDefs[name].inference);
    const out = node(
      ['--input-type=module', '-e', 'const m = await import(process.argv[1]); console.log(typeof m.handler);', entry],
      join(entry, '..'),
    );
    expect(out.trim()).toBe('function');
  });
});

describe('onnxruntime layer', () => {
  it('is under 60 MB unzipped', () => {
    const bytes = directorySize(layerDir());
    sizes.layer = Number((bytes / MB).toFixed(2));
    expect(bytes).toBeLessThan(60 * MB);
  });

  it('carries only the linux binaries of the configured architecture, and no CUDA', () => {
    const bin = join(layerDir(), 'nodejs', 'node_modules', 'onnxruntime-node', 'bin');
    for (const napi of readdirSync(bin)) {
      expect(readdirSync(join(bin, napi))).toEqual(['linux']);
      expect(readdirSync(join(bin, napi, 'linux'))).toEqual([synth.twinserve.environment.config.architecture === 'arm64' ? 'arm64' : 'x64']);
      for (const file of readdirSync(join(bin, napi, 'linux'), { recursive: true })) expect(String(file)).not.toMatch(/cuda|tensorrt/i);
    }
  });

  it('gives an ES module import the names the core uses', () => {
    // The bundles keep `import * as ort from "onnxruntime-node"`; Node must see the CommonJS package's exports.
    const entry = lambdaLayout('predict', true);
    const out = node(
      ['--input-type=module', '-e', 'import * as ort from "onnxruntime-node"; console.log(typeof ort.InferenceSession?.create, typeof ort.Tensor);'],
      join(entry, '..'),
    );
    expect(out.trim()).toBe('function function');
  });

  it('runs the reference model', () => {
    const modules = join(layerDir(), 'nodejs', 'node_modules');
    const model = join(repoRoot, 'models', 'reactor-yield', '1.0.0', 'model.onnx');
    const features = (JSON.parse(readFileSync(join(repoRoot, 'models', 'reactor-yield', '1.0.0', 'manifest.json'), 'utf8')) as { features: unknown[] }).features.length;
    const script = `
      const { createRequire } = require('node:module');
      const ort = createRequire(process.argv[1] + '/')('onnxruntime-node');
      (async () => {
        const session = await ort.InferenceSession.create(require('node:fs').readFileSync(process.argv[2]));
        const input = new ort.Tensor('float32', new Float32Array(${features}).fill(1), [1, ${features}]);
        const out = await session.run({ [session.inputNames[0]]: input });
        console.log(out[session.outputNames[0]].dims.join('x'));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const dims = node(['-e', script, modules, model], scratch).trim();
    expect(dims).toMatch(/^1x\d+$/);
  });
});
