import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  argList,
  baseEnv,
  callJson,
  copyPaths,
  dockerIgnore,
  edgeAdminPassword,
  envPairs,
  freePort,
  killChildren,
  loginAs,
  parseDockerfile,
  referencePackageDir,
  repoRoot,
  spawnTwin,
  validRow,
  type ChildTwin,
  type Stage,
} from './support.js';

/**
 * The image without Docker: rebuild the runtime stage's file tree in a clean directory from the Dockerfile
 * itself (its COPY lines, in order, with the context filtered by .dockerignore), build the stages it copies
 * from, and start the result with the image's ENTRYPOINT + CMD and environment, as the container would.
 *
 * - The dependency stage is executed: its COPY lines, ENV, ARG TARGETARCH (this machine's architecture) and
 *   RUN lines, in a shell, in its own directory (`npm ci --omit=dev` with the npm cache preferred).
 * - The build stage is executed too, except its full `npm ci` (every dev dependency again: a minute), for
 *   which a link to this checkout's node_modules stands in: its COPY lines, then `npm run build:dashboard`
 *   and `npm run build:runtime` in its own directory, so the image's compiled twin is built from exactly
 *   the files the stage copies.
 * - The runtime stage's own RUN lines (creating the user and /data) are not run: they need root.
 * - Container paths map to temp dirs: WORKDIR /app, the /data and /models volumes (the reference package).
 *   `--host 0.0.0.0` becomes 127.0.0.1: in the container that address is the container's own interface;
 *   on this machine it would be every interface, and the test has no business listening there.
 */

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
const isIgnored = dockerIgnore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
const runtime = dockerfile.at(-1)!;
const targetArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
const onnxArch = process.arch === 'arm64' ? 'arm64' : 'x64';

let root: string;
/** The container's file system, per stage: `<root>/<stage>/` stands for `/`. */
const stageRoots = new Map<string, string>();
let appDir: string;
let volumes: Record<string, string>;
let imageEnv: Record<string, string> = {};
let entrypoint: string[] = [];
let cmd: string[] = [];
let port: number;
let twin: ChildTwin | undefined;
let installSeconds = 0;

function inContainer(fsRoot: string, workdir: string, path: string): string {
  return join(fsRoot, posix.resolve(workdir, path));
}

/**
 * Docker's COPY: a directory's contents go into the destination; files into it when it ends in `/` or there
 * are several. A build stage's output (`move`) is moved rather than copied: it is used once, and copying
 * node_modules twice on disk only costs time.
 */
function copyInto(sources: { from: string; name: string }[], dest: string, destIsDir: boolean, options: { filter?: (relativePath: string) => boolean; move?: boolean } = {}): void {
  const { filter, move = false } = options;
  for (const source of sources) {
    const target = destIsDir && !statSync(source.from).isDirectory() ? join(dest, posix.basename(source.name)) : dest;
    mkdirSync(dirname(target), { recursive: true });
    if (move && !existsSync(target)) {
      renameSync(source.from, target);
      continue;
    }
    cpSync(source.from, target, {
      recursive: true,
      ...(filter ? { filter: (src: string) => filter(relative(repoRoot, src)) || statSync(src).isDirectory() } : {}),
    });
  }
}

const run = promisify(execFile);

/** Runs a stage's instructions (WORKDIR, ENV, ARG, COPY, RUN) with its `/` at `<root>/<name>`. */
async function buildStage(stage: Stage): Promise<string> {
  const name = stage.name!;
  const existing = stageRoots.get(name);
  if (existing) return existing;
  const fsRoot = join(root, name);
  let workdir = '/';
  const env: Record<string, string> = {};
  for (const instruction of stage.instructions) {
    switch (instruction.op) {
      case 'WORKDIR':
        workdir = posix.resolve(workdir, instruction.args);
        mkdirSync(inContainer(fsRoot, '/', workdir), { recursive: true });
        break;
      case 'ENV':
        Object.assign(env, envPairs(instruction.args));
        break;
      case 'ARG':
        if (instruction.args !== 'TARGETARCH') throw new Error(`line ${instruction.line}: the test knows only ARG TARGETARCH`);
        env.TARGETARCH = targetArch;
        break;
      case 'COPY': {
        if (instruction.flags.from) throw new Error(`line ${instruction.line}: COPY --from in a build stage`);
        const { sources, dest } = copyPaths(instruction);
        copyInto(sources.map((s) => ({ from: join(repoRoot, s), name: s })), inContainer(fsRoot, workdir, dest), dest.endsWith('/') || sources.length > 1, { filter: (p) => !isIgnored(p) });
        break;
      }
      case 'RUN': {
        // Executed on this machine: refuse anything that could reach outside the stage's directory.
        expect(instruction.args, `line ${instruction.line}: a RUN line the test executes uses relative paths only`).not.toMatch(/(^|[\s;&|=])\//);
        const started = performance.now();
        await run('sh', ['-c', instruction.args], {
          cwd: inContainer(fsRoot, '/', workdir),
          env: { ...baseEnv(), ...env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
          timeout: 240_000,
          maxBuffer: 64 * 1024 * 1024,
        });
        if (/npm ci/.test(instruction.args)) installSeconds += (performance.now() - started) / 1000;
        break;
      }
      default:
        throw new Error(`line ${instruction.line}: the test cannot run ${instruction.op} in stage ${name}`);
    }
  }
  stageRoots.set(name, fsRoot);
  return fsRoot;
}

/**
 * The build stage, run as written except its full `npm ci`: the checkout's install (a link to its
 * node_modules) stands in for it. Its COPY lines and every other RUN line (the dashboard and the compiled
 * twin) run in the stage's own directory, so a file the build needs and the stage does not copy fails here.
 */
async function buildDevStage(stage: Stage): Promise<string> {
  const name = stage.name!;
  const existing = stageRoots.get(name);
  if (existing) return existing;
  const installs = stage.instructions.filter((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
  expect(installs.map((i) => i.args)).toEqual([expect.stringMatching(/npm ci --no-audit --no-fund$/)]);
  const appRoot = inContainer(join(root, name), '/', stage.instructions.find((i) => i.op === 'WORKDIR')!.args);
  mkdirSync(appRoot, { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(appRoot, 'node_modules'), 'dir');
  return buildStage({ ...stage, instructions: stage.instructions.filter((i) => i !== installs[0]) });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'twinserve-image-'));
  const fsRoot = join(root, 'runtime');
  let workdir = '/';
  for (const instruction of runtime.instructions) {
    switch (instruction.op) {
      case 'WORKDIR':
        workdir = posix.resolve(workdir, instruction.args);
        mkdirSync(inContainer(fsRoot, '/', workdir), { recursive: true });
        break;
      case 'ENV':
        Object.assign(imageEnv, envPairs(instruction.args));
        break;
      case 'COPY': {
        const { sources, dest } = copyPaths(instruction);
        const target = inContainer(fsRoot, workdir, dest);
        const destIsDir = dest.endsWith('/') || sources.length > 1;
        const fromName = instruction.flags.from;
        if (fromName === undefined) {
          copyInto(sources.map((s) => ({ from: join(repoRoot, s), name: s })), target, destIsDir, { filter: (p) => !isIgnored(p) });
        } else {
          const stage = dockerfile.find((s) => s.name === fromName);
          if (!stage) throw new Error(`line ${instruction.line}: no stage ${fromName}`);
          const stageRoot = stage.instructions.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args)) ? await buildStage(stage) : await buildDevStage(stage);
          copyInto(sources.map((s) => ({ from: join(stageRoot, s), name: s })), target, destIsDir, { move: true });
        }
        break;
      }
      case 'VOLUME':
        volumes = Object.fromEntries(argList(instruction.args).map((v) => [v, join(root, 'volumes', v.replace(/\//g, '_'))]));
        break;
      case 'ENTRYPOINT':
        entrypoint = argList(instruction.args);
        break;
      case 'CMD':
        cmd = argList(instruction.args);
        break;
      default:
        // RUN (user, /data: needs root), USER, EXPOSE, HEALTHCHECK: facts checked by dockerfile.test.ts.
        break;
    }
  }
  appDir = inContainer(fsRoot, '/', workdir);
  // The image's RUN makes /data 0700 (a named volume starts as a copy of it); the twin refuses anything looser.
  for (const [path, dir] of Object.entries(volumes)) mkdirSync(dir, { recursive: true, mode: path === imageEnv.TWIN_DATA_DIR ? 0o700 : 0o755 });
  cpSync(referencePackageDir, volumes['/models']!, { recursive: true });

  port = await freePort();
  const args = [...entrypoint, ...cmd].map((arg) => volumes[arg] ?? (arg === '0.0.0.0' ? '127.0.0.1' : arg));
  const env = {
    ...baseEnv(),
    ...imageEnv,
    PORT: String(port),
    TWIN_DATA_DIR: volumes[imageEnv.TWIN_DATA_DIR!]!,
    TWIN_ADMIN_PASSWORD: edgeAdminPassword,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  expect(env).not.toHaveProperty('AWS_ENDPOINT_URL_S3');
  expect(env).not.toHaveProperty('TWIN_MODEL_BUCKET');
  twin = await spawnTwin([args[0] === 'node' ? process.execPath : args[0]!, ...args.slice(1)], { cwd: appDir, env, timeoutMs: 90_000 });
}, 300_000);

afterAll(async () => {
  await killChildren();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('the image, rebuilt from the Dockerfile without Docker', () => {
  it('has production dependencies only: no package the lockfile marks dev-only', () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev);
    expect(devOnly.length).toBeGreaterThan(50);
    const present = devOnly.map(([path]) => path).filter((path) => existsSync(join(appDir, path)));
    expect(present).toEqual([]);
    for (const name of ['vitest', 'typescript', 'aws-cdk-lib', 'aws-cdk', 'vite', 'playwright-core', 'cdk-nag', 'fast-check', 's3rver', 'busboy', 'dicer', 'tsx', 'esbuild']) {
      expect(existsSync(join(appDir, 'node_modules', name)), name).toBe(false);
    }
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies)) expect(existsSync(join(appDir, 'node_modules', name, 'package.json')), name).toBe(true);
    process.stdout.write(`production install (npm ci --omit=dev, npm cache preferred): ${installSeconds.toFixed(1)} s\n`);
  });

  it(`keeps only onnxruntime's linux/${onnxArch} binaries`, () => {
    const bin = join(appDir, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
    expect(readdirSync(bin)).toEqual(['linux']);
    expect(readdirSync(join(bin, 'linux'))).toEqual([onnxArch]);
  });

  it('carries compiled JavaScript only: no TypeScript sources, tests, docs, models, data or certificates', () => {
    expect(readdirSync(appDir).sort()).toEqual(['dashboard', 'deploy', 'dist', 'node_modules', 'package.json']);
    expect(readdirSync(join(appDir, 'dist'))).toEqual(['local']);
    const code = readdirSync(appDir, { recursive: true, encoding: 'utf8' }).filter((p) => !p.startsWith('node_modules'));
    expect(code.filter((p) => /\.(ts|tsx|mts|cts)$/.test(p))).toEqual([]);
    expect(code).toEqual(expect.arrayContaining(['dist/local/start.mjs', 'dist/local/stores-process.mjs']));
    expect(readdirSync(join(appDir, 'deploy'))).toEqual(['healthcheck.mjs']);
    expect(existsSync(join(appDir, 'infra', 'stacks'))).toBe(false);
  });

  it('starts in edge mode with no S3: the package from the /models volume, data in the /data volume', () => {
    const output = twin!.output();
    expect(output).toMatch(/Twinserve edge twin is running at http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toContain('(edge: local disk, no S3)');
    expect(output).not.toMatch(/^\s*s3:/m);
    expect(output).not.toContain(edgeAdminPassword);
    expect(existsSync(join(volumes['/data']!, 'models', 'reactor-yield', '1.0.0', 'manifest.json'))).toBe(true);
    expect(statSync(join(volumes['/data']!, 'signing-keys.json')).mode & 0o077).toBe(0);
  });

  it('serves login, predict and batch', async () => {
    const token = await loginAs(twin!.url);
    const predict = await callJson(twin!.url, 'POST', '/api/v1/twin/predict', { token, body: validRow });
    expect(predict.status).toBe(200);
    expect(predict.json.model).toEqual({ name: 'reactor-yield', version: '1.0.0' });
    expect(predict.json.confidence_interval).toHaveLength(2);
    const batch = await callJson(twin!.url, 'POST', '/api/v1/twin/batch', { token, body: { inputs: [validRow, { ...validRow, temp: 340 }] } });
    expect(batch.status).toBe(200);
    expect(batch.json).toMatchObject({ total: 2, successful: 2, failed: 0 });
  });

  it('serves the dashboard built by the build stage', async () => {
    const res = await fetch(new URL('/', twin!.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toMatch(/<script[^>]+src="\.\/assets\//);
  });

  it("passes the image's HEALTHCHECK command", () => {
    const healthcheck = runtime.instructions.find((i) => i.op === 'HEALTHCHECK')!;
    const [file, ...args] = argList(healthcheck.args.replace(/^CMD\s+/, ''));
    expect(file).toBe('node');
    const result = execFileSync(process.execPath, args, { cwd: appDir, env: { ...baseEnv(), ...imageEnv, PORT: String(port) }, stdio: 'pipe', timeout: 10_000 });
    expect(result.toString()).toBe('');
  });

  it('stops cleanly on SIGTERM (docker stop)', async () => {
    const code = await twin!.stop();
    expect(code).toBe(0);
    expect(twin!.output()).toContain('SIGTERM: stopping the local twin');
    // And the healthcheck then fails, as it should.
    const healthcheck = runtime.instructions.find((i) => i.op === 'HEALTHCHECK')!;
    const args = argList(healthcheck.args.replace(/^CMD\s+/, '')).slice(1);
    expect(() => execFileSync(process.execPath, args, { cwd: appDir, env: { ...baseEnv(), PORT: String(port) }, stdio: 'pipe', timeout: 10_000 })).toThrow();
  });
});
