import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';
import { readmeScript, shellBlocks } from './readme-script.js';

/**
 * Every shell block of the README, run as written, in order, the way a new user would on a fresh clone:
 * `npm start` (the quick start) in one terminal, then each block in one shell. The only liberties, all in
 * readme-script.ts: the quick start's `npm ci` is what this checkout already did and `npm test` is this run;
 * the README's URL and password placeholders get the values `npm start` printed, as the user would paste
 * them; the password the CLI asks for comes from TWIN_PASSWORD (no terminal here); `--follow` runs for a few
 * seconds. curl fails on any HTTP error status, so a command that answers 4xx fails the test.
 *
 * The commands run in a copy of the checkout made of symlinks, so what they write (predictions.csv,
 * packages/, and everything `npm start` builds) lands there, not in this working tree: this file runs beside
 * the others, which read this tree's builds.
 */

const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');

let farm: string;
let scratch: string;
let twin: ChildProcess | undefined;
let url: string;
let password: string;
let startOutput = '';

/**
 * What `npm start` and the README's commands build or write inside the checkout: the dashboard (dist/), the
 * client (dist/, api-types.ts, the packed .tgz) and the runtime (infra/build writes ../../dist/local). Their
 * builds find their output folders from their own file's location, which Node and esbuild resolve through
 * symlinks: so these folders are copies (a few hundred kB of sources, no build output), and the bin/ that
 * runs the client's CLI with them, and `dist` is the farm's own. Everything else is a symlink.
 */
const copied = ['dashboard', 'client', 'infra', 'bin'];
const buildOutputs = ['dashboard/dist', 'client/dist'].map((path) => join(repoRoot, path));

/**
 * A checkout-shaped folder whose builds write only into itself, so this file runs beside the others while
 * they read this checkout's client/dist and dist/local: every other top-level entry a symlink into it.
 */
async function symlinkFarm(dir: string): Promise<void> {
  for (const name of await readdir(repoRoot)) {
    if (name === '.git' || name === 'dist') continue;
    if (copied.includes(name)) {
      // Vite also refuses entry files that resolve outside its root.
      const filter = (source: string) => !buildOutputs.some((out) => source === out || source.startsWith(out + sep)) && !source.endsWith('.tgz');
      await cp(join(repoRoot, name), join(dir, name), { recursive: true, filter });
    } else {
      await symlink(join(repoRoot, name), join(dir, name));
    }
  }
}

function startTwin(env: NodeJS.ProcessEnv): Promise<void> {
  // Its own process group, so the npm → sh → node chain stops together (as Ctrl-C stops it in a terminal).
  const child = spawn('npm', ['start'], { cwd: farm, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  twin = child;
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`npm start printed no URL within 150 s:\n${startOutput}`)), 150_000);
    const onData = (chunk: Buffer) => {
      startOutput += chunk.toString('utf8');
      const running = /running at (http:\/\/\S+)/.exec(startOutput);
      const printed = /admin password \(shown once, keep it\): (\S+)/.exec(startOutput);
      if (running && printed) {
        clearTimeout(timer);
        url = running[1]!;
        password = printed[1]!;
        done();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`npm start exited (${code}) before serving:\n${startOutput}`));
    });
  });
}

/** Signals a process group; false when no process of it is left. */
function signalGroup(group: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(group, signal);
    return true;
  } catch {
    return false;
  }
}

async function stopTwin(): Promise<void> {
  const child = twin;
  if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const group = -child.pid;
  const exited = new Promise((done) => child.once('exit', done));
  process.kill(group, 'SIGINT');
  const timer = setTimeout(() => signalGroup(group, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  // npm may exit before its children: give the group a moment, then make sure nothing is left.
  for (let i = 0; i < 50 && signalGroup(group, 0); i++) await new Promise((done) => setTimeout(done, 100));
  signalGroup(group, 'SIGKILL');
}

/** This checkout's builds (and the source the client's build regenerates), which other test files read. */
const sharedOutputs = ['client/dist/index.js', 'client/dist/cli/twin.js', 'client/api-types.ts', 'dist/local/start.mjs'];
/** When each was last written; undefined when absent. */
const writtenAt = () => Promise.all(sharedOutputs.map((path) => stat(join(repoRoot, path)).then((s) => s.mtimeMs, () => undefined)));
let writtenBefore: (number | undefined)[];

beforeAll(async () => {
  writtenBefore = await writtenAt();
  farm = await mkdtemp(join(tmpdir(), 'twinserve-readme-'));
  scratch = await mkdtemp(join(tmpdir(), 'twinserve-readme-home-'));
  await symlinkFarm(farm);
  const { TWIN_ADMIN_PASSWORD: _, TWIN_DATA_DIR: __, ...env } = process.env;
  await startTwin({ ...env, PORT: '0', TWIN_DATA_DIR: join(scratch, 'data'), TWIN_ACCESS_LOG: 'off', HOME: scratch, XDG_CONFIG_HOME: join(scratch, 'config') });
}, 180_000);

afterAll(async () => {
  await stopTwin();
  if (farm) await rm(farm, { recursive: true, force: true });
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the README', () => {
  it('has the two-command quick start and shell blocks to run', () => {
    const blocks = shellBlocks(readme);
    expect(blocks[0]).toMatch(/^npm ci && npm start\b/m);
    expect(blocks[0]).toMatch(/^npm ci && npm test\b/m);
    expect(blocks.length).toBeGreaterThan(3);
  });

  it('runs every shell command it shows, in order, against the twin `npm start` started', () => {
    // Prepare
    const script = readmeScript(readme, { url, password });

    // Act
    const run = spawnSync('bash', ['-c', script], {
      cwd: farm,
      env: { ...process.env, HOME: scratch, XDG_CONFIG_HOME: join(scratch, 'config'), TWIN_PASSWORD: password, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });

    // Assess
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.status, output).toBe(0);
    expect(run.stdout).toMatch(/"prediction":\d/);
    expect(run.stdout).toContain('Published reactor-yield@1.1.0');
    expect(run.stdout).toMatch(/1\.0\.0=0\.9 1\.1\.0=0\.1/);
  }, 300_000);

  it('left the batch results where it said, one per reading', async () => {
    const readings = (await readFile(join(repoRoot, 'examples', 'readings.csv'), 'utf8')).trim().split('\n');
    const predictions = (await readFile(join(farm, 'predictions.csv'), 'utf8')).trim().split('\n');
    expect(predictions).toHaveLength(readings.length);
    expect(predictions[0]).toMatch(/prediction/);
  });

  it('built into its own folders: the builds of this checkout, which the other test files read, were not touched', async () => {
    for (const path of ['client/dist/index.js', 'client/dist/cli/twin.js', 'dist/local/start.mjs', 'dashboard/dist/index.html']) {
      expect((await stat(join(farm, path))).isFile(), path).toBe(true);
    }
    expect(await writtenAt()).toEqual(writtenBefore);
  });

  it('stops everything `npm start` started with Ctrl-C', async () => {
    await stopTwin();
    // Every process of the group is gone, and the port no longer answers.
    expect(signalGroup(-twin!.pid!, 0)).toBe(false);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });
});
