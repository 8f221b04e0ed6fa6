import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { repoRoot } from './fixtures.js';
import { median } from './stats.js';

/**
 * The start and memory of the real start command (not bench/serve.ts): `node dist/local/start.mjs` (what
 * `npm start` and the container run) or the TypeScript sources under tsx, in local or edge mode, each run
 * in a fresh data dir (a first start: tables, seeding, model publish), alternating the runtimes so a
 * shifting load on a shared machine falls on both alike.
 *
 * Per run: spawn → "running at" (ready), → first served prediction (login + predict), the RSS of every
 * process of the twin (the node process and its children: the stores') idle, and after `--load` sequential
 * predictions (16 at a time) and the CPU time per prediction of all of them; with the 1-minute load
 * average at the run's start.
 *
 *   npx tsx bench/twin-start.ts [--reps 3] [--mode local|edge] [--load 2000] [--runtimes compiled,tsx]
 *                               [--node-flags='--max-semi-space-size=2']   (V8 flags for the twin's own process)
 *
 * `npm run build:runtime` first (dist/local/start.mjs). `BENCH_SMAPS=1` also prints each process's shared and
 * private pages (/proc/<pid>/smaps_rollup): the node binary's pages are shared, so the RSS sum counts them twice.
 */

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'local' },
    load: { type: 'string', default: '2000' },
    runtimes: { type: 'string', default: 'compiled,tsx' },
    'node-flags': { type: 'string', default: '' },
  },
});
const runtimes: Record<string, string[]> = {
  // As package.json's start script runs it (and the container).
  compiled: [join(repoRoot, 'dist', 'local', 'start.mjs')],
  // Before 2026-12: `tsx infra/local/start.ts`, no flags.
  tsx: ['--import', 'tsx', join(repoRoot, 'infra', 'local', 'start.ts')],
};
const password = 'bench-admin-password-1';
const row = { temp: 360, pressure: 6, flow: 100 };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The pid and every descendant's (/proc/<pid>/task/<tid>/children). */
function tree(pid: number): number[] {
  const out = [pid];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    for (const child of children ? children.split(' ').map(Number) : []) out.push(...tree(child));
  }
  return out;
}

/** CPU seconds (user + system) of a process so far. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Proportional set size: each shared page (the node binary's) divided among the processes that map it. */
function pssOf(pid: number): number {
  return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

interface Run {
  runtime: string;
  readyMs: number;
  firstPredictionMs: number;
  idle: number[];
  loaded: number[];
  /** PSS after the load, every process. */
  loadedPss: number[];
  /** CPU µs per prediction during the load, every process. */
  cpuUsPerRequest: number;
  load1: number;
}

async function once(runtime: string): Promise<Run> {
  const dataDir = mkdtempSync(join(tmpdir(), 'twinserve-start-'));
  const port = await freePort();
  const mode = values.mode === 'edge' ? ['--edge', '--model', join(repoRoot, 'models', 'reactor-yield', '1.0.0')] : [];
  const load1 = loadavg()[0]!;
  const started = performance.now();
  const flags = values['node-flags'] ? values['node-flags'].split(' ') : [];
  const child = spawn(process.execPath, [...flags, ...runtimes[runtime]!, ...mode], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TWIN_DATA_DIR: dataDir, PORT: String(port), TWIN_ADMIN_PASSWORD: password, TWIN_ACCESS_LOG: 'off', TWIN_RATE_LIMIT_PER_MINUTE: '100000000' },
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${runtime} exited (${code}) before it was ready`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = /is running at (\S+)/.exec(line);
        if (m) resolve(m[1]!);
      });
    });
    const readyMs = performance.now() - started;
    const login = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
    const { token } = (await login.json()) as { token: string };
    const predict = async () => {
      const res = await fetch(`${url}/api/v1/twin/predict`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(row) });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`predict answered ${res.status}`);
    };
    await predict();
    const firstPredictionMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idle = tree(child.pid!).map(rssOf);
    if (process.env.BENCH_SMAPS) for (const pid of tree(child.pid!)) process.stdout.write(`${pid} ${readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n').filter((l) => /^(Rss|Anonymous|Private_Clean|Shared_Clean)/.test(l)).join(' | ').replace(/\s+/g, ' ')}\n`);
    // 16 in flight, as the bench's http stage loads it.
    const cpuBefore = tree(child.pid!).reduce((n, pid) => n + cpuOf(pid), 0);
    let left = Number(values.load);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (left-- > 0) await predict();
      }),
    );
    const loaded = tree(child.pid!).map(rssOf);
    const loadedPss = tree(child.pid!).map(pssOf);
    const cpuUsPerRequest = ((tree(child.pid!).reduce((n, pid) => n + cpuOf(pid), 0) - cpuBefore) * 1e6) / Number(values.load);
    return { runtime, readyMs, firstPredictionMs, idle, loaded, loadedPss, cpuUsPerRequest, load1 };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const names = values.runtimes.split(',');
const runs: Run[] = [];
for (let i = 0; i < Number(values.reps); i++) {
  for (const runtime of i % 2 ? [...names].reverse() : names) {
    const run = await once(runtime);
    runs.push(run);
    const mb = (bytes: number[]) => bytes.map((b) => (b / 1e6).toFixed(0)).join(' + ');
    process.stdout.write(
      `${values.mode} ${runtime}: ready ${run.readyMs.toFixed(0)} ms, first prediction ${run.firstPredictionMs.toFixed(0)} ms, ` +
        `RSS idle ${mb(run.idle)} MB, after ${values.load} predictions ${mb(run.loaded)} MB (PSS ${mb(run.loadedPss)} MB), ${run.cpuUsPerRequest.toFixed(0)} µs CPU/prediction (load average ${run.load1.toFixed(2)})\n`,
    );
  }
}
for (const runtime of names) {
  const mine = runs.filter((r) => r.runtime === runtime);
  const sum = (bytes: number[]) => bytes.reduce((a, b) => a + b, 0) / 1e6;
  process.stdout.write(
    `median ${values.mode} ${runtime}: first prediction ${median(mine.map((r) => r.firstPredictionMs)).toFixed(0)} ms, ` +
      `RSS idle ${median(mine.map((r) => sum(r.idle))).toFixed(0)} MB, after load ${median(mine.map((r) => sum(r.loaded))).toFixed(0)} MB ` +
      `(PSS ${median(mine.map((r) => sum(r.loadedPss))).toFixed(0)} MB), ` +
      `${median(mine.map((r) => r.cpuUsPerRequest)).toFixed(0)} µs CPU/prediction ` +
      `(load averages ${mine.map((r) => r.load1.toFixed(2)).join(', ')})\n`,
  );
}
