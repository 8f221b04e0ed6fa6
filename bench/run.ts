import { runCeiling } from './ceiling.js';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { coldStartResultPrefix as resultPrefix } from './event.js';
import { readReferencePackage, repoRoot, rowSource } from './fixtures.js';
import type { HandlerStageOptions, HandlerStageResult } from './handler-stage.js';
import type { CostResult } from './cost.js';
import { runLoad, type LoadResult } from './http.js';
import { runInproc, type InprocResult } from './inproc.js';
import { explainOneRowTargetMs, runInsight } from './insight.js';
import { runSdkCall } from './sdk-call.js';
import { formatSummary, mainThreadProfile, summariseProfile, type ProfileSummary } from './profile.js';
import { buildServe, ServerProcess } from './server-process.js';
import { runSizes, type SizesResult } from './sizes.js';
import { repeated, round, type Repeated } from './stats.js';

/**
 * `npm run bench` — the figures of docs/performance.md (issue 16): floor, core, handler, http, cold start,
 * local twin start, memory (every process of the local twin), sizes, the AWS cost per million requests, and
 * the process-insight figures (issue 18, bench/insight.ts).
 * Prints the tables, each figure beside its target, with the load average, and writes
 * bench/results/latest.json. All load goes to 127.0.0.1 and is bounded in time. Options: `--quick` (fewer,
 * shorter reps, for checking the harness), `--only http,cold` (some stages: sizes, inproc, insight, sdk, ceiling,
 * cold, handler, http, cost; cold needs sizes), `--profile` (the serving process runs under `--cpu-prof`; the self-time
 * summary per load run is printed and the figures go to bench/results/profile.json instead, since profiling
 * slows the server), `--tsx` (serve the sources under tsx instead of the compiled bundle).
 */

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const profiling = args.includes('--profile');
const useTsx = args.includes('--tsx');
const stageNames = ['sizes', 'inproc', 'insight', 'sdk', 'ceiling', 'cold', 'handler', 'http', 'cost'] as const;
const onlyIndex = args.indexOf('--only');
const only = new Set(onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',') : stageNames);
for (const name of only) if (!(stageNames as readonly string[]).includes(name)) throw new Error(`--only takes ${stageNames.join(',')}, not ${name}`);

const config = quick
  ? { inprocReps: 3, inprocIterations: 1000, handlerReps: 2, handlerPredicts: 100, handlerBatches: 30, coldStarts: 2, loadReps: 1, loadSec: 3, warmupSec: 1, costInvocations: 20 }
  : { inprocReps: 5, inprocIterations: 3000, handlerReps: 3, handlerPredicts: 300, handlerBatches: 100, coldStarts: 5, loadReps: 3, loadSec: 6, warmupSec: 2, costInvocations: 100 };

/** The targets: issue 16 (throughput, latency, cold start, twin start, RSS, cost) and issue 9 (core, sizes). */
const targets = {
  core1OverFloor1: 2,
  core100OverCore1: 5,
  predictRps16: 4500,
  predictP99Ms16: 20,
  predictP50Ms1: 1,
  batchRps16: 1000,
  coldStartMs: 200,
  twinStartMs: 2000,
  rssBytes: 150e6,
  predictBundleBytes: 1e6,
  layerBytes: 50e6,
  /** The predict route's AWS cost at most half of what it was before issue 16 (see {@link beforeIssue16}). */
  predictCostRatio: 0.5,
} as const;

/**
 * The predict route's cost before issue 16, priced in this run: the same Lambda duration, log bytes and
 * requests, with the DynamoDB writes a predict made then (commit 8349c46: rate-limit UpdateItem, stats
 * UpdateItem, audit PutItem and its byDay index write, 1 WRU each = 4 WRU).
 */
function beforeIssue16(r: CostResult['routes'][number], wruPrice: number): number {
  return r.totalUsdPerMillion - r.usdPerMillion.dynamoWrites! + 4 * wruPrice;
}

/**
 * What every prediction costs in ../shared/ARCHITECTURE.md's design before any compute, log line, stats or served
 * row: an API Gateway HTTP API request, a Lambda request, the rate-limit take (RateCounters' conditional ADD, each
 * container serving one request at a time), the audit record and its by-day index entry (AuditLog), 1 WRU each.
 */
function designFloor(prices: CostResult['prices']): number {
  return prices.apiGatewayHttpPerMillion + prices.lambdaRequestPerMillion + 3 * prices.dynamoWriteUnitPerMillion;
}

/** The reference chapter's Flask service (gunicorn, 2 workers), same class of machine, 16 connections (issue 16). */
const flask = { predictRps16: '640–907', predictP99Ms16: '22–83', batchRps16: 10 } as const;

interface LoadFigure {
  name: string;
  path: string;
  connections: number;
  rps: Repeated;
  p50Ms: Repeated;
  p99Ms: Repeated;
  non2xx: number;
  errors: number;
  /** Server CPU (user + system) per request, µs, and the server's share of one core. */
  serverCpuUsPerRequest: Repeated;
  serverCores: Repeated;
  /** The same for the embedded stores' process. */
  storesCpuUsPerRequest: Repeated;
  /** DynamoDB calls (through the stores' gate) per answered request: what group commit saves. */
  dynamoCallsPerRequest: Repeated;
  /**
   * The load generator's CPU per request, µs (autocannon runs in the bench's own process, on the same cores),
   * and how many of the machine's cores were busy during the run (every process, from /proc/stat): the twin
   * cannot go faster than what the machine has left beside its client.
   */
  clientCpuUsPerRequest?: Repeated;
  machineBusyCores?: Repeated;
  /** The 1-minute load average at the start of each run. */
  loadAverage: number[];
  runs: LoadResult[];
  profile?: ProfileSummary;
}

interface ColdStart {
  mode: 'bundle' | 'source';
  firstMs: Repeated;
  importedMs: Repeated;
  /** CPU time of the process (all threads) to its first prediction: steadier than firstMs under load. */
  cpuMs: Repeated;
  warmMs: Repeated;
  /** The fresh process's RSS after its two predictions. */
  rssBytes: Repeated;
}

const started = performance.now();
const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}\n`);
const work = mkdtempSync(join(tmpdir(), 'twinserve-bench-run-'));
const failures: string[] = [];

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(repoRoot, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'absent';
  }
}

function git(...gitArgs: string[]): string {
  try {
    return execFileSync('git', gitArgs, { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function stage<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  log(`${name}...`);
  try {
    return await fn();
  } catch (error) {
    failures.push(`${name}: ${(error as Error).stack ?? String(error)}`);
    log(`${name} FAILED: ${(error as Error).message}`);
    return undefined;
  }
}

function runChild(command: string, childArgs: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, childArgs, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${childArgs.join(' ')} exited ${code}: ${err.slice(-2000)}`));
    });
  });
}

/** The JSON of a child's `BENCH_RESULT` line (the functions' own log lines go to the same stdout). */
function resultLine(out: string): string {
  const line = out.split('\n').find((l) => l.startsWith(resultPrefix));
  if (!line) throw new Error(`no result line in the child's output: ${out.slice(-1000)}`);
  return line.slice(resultPrefix.length);
}

async function coldStarts(mode: 'bundle' | 'source', env: Record<string, string>, sizes: SizesResult | undefined): Promise<ColdStart> {
  let command: [string, string[]];
  if (mode === 'bundle') {
    if (!sizes) throw new Error('no bundles (the sizes stage failed)');
    // The driver bundled like a function, so plain node runs it: no loader, as in Lambda.
    const driver = join(sizes.buildDir, 'cold-start.mjs');
    await build({ entryPoints: [join(repoRoot, 'bench', 'cold-start.ts')], outfile: driver, bundle: true, platform: 'node', target: 'node22', format: 'esm', logLevel: 'error' });
    // With --profile, each cold start runs under --cpu-prof and the first one's self time is printed.
    const prof = profiling ? ['--cpu-prof', `--cpu-prof-dir=${join(sizes.buildDir, 'cold-profiles')}`] : [];
    command = [process.execPath, [...prof, driver, join(sizes.buildDir, 'predict', 'index.mjs')]];
  } else {
    command = [process.execPath, ['--import', 'tsx', 'bench/cold-start.ts', 'functions/predict.ts']];
  }
  const runs: { importedMs: number; firstMs: number; cpuMs: number; warmMs: number; rssBytes: number }[] = [];
  for (let i = 0; i < config.coldStarts; i++) {
    const out = await runChild(command[0], command[1], env);
    runs.push(JSON.parse(resultLine(out)) as (typeof runs)[number]);
  }
  const coldProfile = mode === 'bundle' && profiling ? mainThreadProfile(join(sizes!.buildDir, 'cold-profiles')) : undefined;
  if (coldProfile) console.log(`cold start (bundle) under --cpu-prof, self time of the busiest run (${coldProfile.file}):\n${formatSummary(summariseProfile(coldProfile.profile, 40))}`);
  return {
    mode,
    firstMs: repeated(runs.map((r) => r.firstMs)),
    importedMs: repeated(runs.map((r) => r.importedMs)),
    cpuMs: repeated(runs.map((r) => r.cpuMs)),
    warmMs: repeated(runs.map((r) => r.warmMs)),
    rssBytes: repeated(runs.map((r) => r.rssBytes)),
  };
}

async function login(url: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  const body = (await res.json()) as { token?: string };
  if (res.status !== 200 || !body.token) throw new Error(`login answered ${res.status}`);
  return body.token;
}

type Window = { fromUs: number; toUs: number };

/** The machine's CPU time so far, in jiffies: all of it and the busy part (not idle, not waiting for I/O). */
function machineJiffies(): { total: number; busy: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    return { total, busy: total - fields[3]! - fields[4]! };
  } catch {
    return undefined;
  }
}

async function loadStage(server: ServerProcess, token: string): Promise<{ figures: LoadFigure[]; windows: Window[] }> {
  const next = rowSource(readReferencePackage().manifest, 11);
  const configs = [
    { name: 'predict', path: '/api/v1/twin/predict', body: () => JSON.stringify(next()), connections: 1 },
    { name: 'predict', path: '/api/v1/twin/predict', body: () => JSON.stringify(next()), connections: 16 },
    { name: 'batch-100', path: '/api/v1/twin/batch', body: () => JSON.stringify({ inputs: Array.from({ length: 100 }, next) }), connections: 1 },
    { name: 'batch-100', path: '/api/v1/twin/batch', body: () => JSON.stringify({ inputs: Array.from({ length: 100 }, next) }), connections: 16 },
  ];
  const figures: LoadFigure[] = [];
  const windows: Window[] = [];
  for (const c of configs) {
    log(`http ${c.name} c=${c.connections}: ${config.loadReps} × ${config.loadSec} s`);
    const base = { url: server.info.url, path: c.path, token, body: c.body, connections: c.connections };
    await runLoad({ ...base, durationSec: config.warmupSec });
    const runs: LoadResult[] = [];
    const cpu: number[] = [];
    const storesCpu: number[] = [];
    const storeCalls: number[] = [];
    const loads: number[] = [];
    const clientCpu: number[] = [];
    const busyCores: number[] = [];
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    for (let rep = 0; rep < config.loadReps; rep++) {
      loads.push(round(loadavg()[0]!, 2));
      const cpu0 = server.cpuSeconds();
      const all0 = server.cpuSecondsAll();
      const calls0 = await server.storeRequests();
      const client0 = process.cpuUsage();
      const machine0 = machineJiffies();
      const run = await runLoad({ ...base, durationSec: config.loadSec });
      const client = process.cpuUsage(client0);
      const machine1 = machineJiffies();
      clientCpu.push((client.user + client.system) / 1e6);
      busyCores.push(machine1 && machine0 ? (cpus().length * (machine1.busy - machine0.busy)) / Math.max(1, machine1.total - machine0.total) : Number.NaN);
      cpu.push(server.cpuSeconds() - cpu0);
      storesCpu.push(server.cpuSecondsAll() - all0 - cpu[cpu.length - 1]!);
      // Requests still in flight at the deadline are counted by the gates but not by the load generator: small.
      storeCalls.push((await server.storeRequests()).dynamodb - calls0.dynamodb);
      runs.push(run);
    }
    windows.push({ fromUs, toUs: Number(process.hrtime.bigint() / 1000n) });
    figures.push({
      name: c.name,
      path: c.path,
      connections: c.connections,
      rps: repeated(runs.map((r) => r.rps)),
      p50Ms: repeated(runs.map((r) => r.p50Ms)),
      p99Ms: repeated(runs.map((r) => r.p99Ms)),
      non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      serverCpuUsPerRequest: repeated(runs.map((r, i) => (cpu[i]! * 1e6) / Math.max(1, r.requests))),
      serverCores: repeated(runs.map((r, i) => cpu[i]! / r.durationSec)),
      storesCpuUsPerRequest: repeated(runs.map((r, i) => (storesCpu[i]! * 1e6) / Math.max(1, r.requests))),
      dynamoCallsPerRequest: repeated(runs.map((r, i) => storeCalls[i]! / Math.max(1, r.requests))),
      clientCpuUsPerRequest: repeated(runs.map((r, i) => (clientCpu[i]! * 1e6) / Math.max(1, r.requests))),
      machineBusyCores: repeated(busyCores),
      loadAverage: loads,
      runs,
    });
  }
  return { figures, windows };
}

// ---------------------------------------------------------------------------------------------------------

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: round(totalmem() / 2 ** 30, 1),
  kernel: release(),
  loadAverageAtStart: loadavg().map((l) => round(l, 2)),
};
const versions = {
  node: process.version,
  'onnxruntime-node': versionOf('onnxruntime-node'),
  autocannon: versionOf('autocannon'),
  esbuild: versionOf('esbuild'),
  tsx: versionOf('tsx'),
  '@aws-sdk/client-dynamodb': versionOf('@aws-sdk/client-dynamodb'),
  dynalite: versionOf('dynalite'),
  s3rver: versionOf('s3rver'),
  zod: versionOf('zod'),
  '@middy/core': versionOf('@middy/core'),
  jose: versionOf('jose'),
};
log(`${machine.cores} × ${machine.cpu}, load average ${machine.loadAverageAtStart.join(' ')}; ${quick ? 'quick' : 'full'} run${profiling ? ', profiling the server' : ''}`);

const sizes = only.has('sizes') ? await stage('sizes (esbuild bundles, onnxruntime layer)', () => runSizes(work)) : undefined;
const inproc = only.has('inproc')
  ? await stage('floor and core (in-process)', () => runInproc({ reps: config.inprocReps, iterations: config.inprocIterations }))
  : undefined;
const insight = only.has('insight') ? await stage('insight (in-process: TreeSHAP, sweep, optimizer)', () => runInsight({ reps: config.inprocReps, iterations: config.inprocIterations / 10 })) : undefined;
const sdkCall = only.has('sdk') ? await stage('sdk (one AWS SDK call against an echo endpoint, CPU)', () => runSdkCall({ reps: config.inprocReps, calls: config.inprocIterations / 3 })) : undefined;
const ceilingRows = rowSource(readReferencePackage().manifest, 12);
const ceiling = only.has('ceiling')
  ? await stage('ceiling (a bare node HTTP server under the same load generator)', () =>
      runCeiling({ reps: config.loadReps, durationSec: config.loadSec, warmupSec: config.warmupSec, body: () => JSON.stringify(ceilingRows()) }),
    )
  : undefined;

let server: ServerProcess | undefined;
let handler: HandlerStageResult | undefined;
let load: LoadFigure[] | undefined;
let windows: Window[] = [];
let memory:
  | { rss: number; peak: number; idleRss: number; usage: NodeJS.MemoryUsage; idleUsage: NodeJS.MemoryUsage; perProcess: { pid: number; rss: number; peak: number }[] }
  | undefined;
let twinStart: { readyMs: number; firstPredictionMs: number; runtime: string } | undefined;
let cost: CostResult | undefined;
const cold: ColdStart[] = [];
const profileDir = join(work, 'profile');
const storesProfileDir = join(work, 'profile-stores');
try {
  const needsServer = only.has('cold') || only.has('handler') || only.has('http') || only.has('cost');
  server = !needsServer ? undefined : await stage(`serving process (bench/serve.ts, ${useTsx ? 'sources under tsx' : 'compiled'})`, async () => {
    if (profiling) {
      mkdirSync(profileDir, { recursive: true });
      // The stores' process (infra/local/stores.ts) writes its own profile, apart from the serving one.
      mkdirSync(storesProfileDir, { recursive: true });
      process.env.TWIN_STORES_CPU_PROF_DIR = storesProfileDir;
    }
    const compiled = useTsx ? undefined : await buildServe();
    return ServerProcess.start({ ...(profiling ? { cpuProfDir: profileDir } : {}), ...(compiled ? { compiled } : {}) });
  });
  if (server) {
    const s = server;
    // Start to first served prediction: spawn → ready (stores, seeding, first-start publish) → login → predict.
    twinStart = await stage('local twin start to first prediction', async () => {
      const token = await login(s.info.url, s.info.adminPassword);
      const res = await fetch(`${s.info.url}/api/v1/twin/predict`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(rowSource(readReferencePackage().manifest, 3)()),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`first prediction answered ${res.status}`);
      return { readyMs: s.startMs, firstPredictionMs: s.sinceSpawnMs(), runtime: useTsx ? 'node --import tsx' : 'node (esbuild bundle)' };
    });
    const idleRss = s.memoryAll().rss;
    const idleUsage = await s.memoryUsage();
    if (only.has('cold')) {
      const bundle = await stage('cold start (bundle, plain node)', () => coldStarts('bundle', s.info.env, sizes));
      if (bundle) cold.push(bundle);
      const source = await stage('cold start (sources, tsx)', () => coldStarts('source', s.info.env, sizes));
      if (source) cold.push(source);
    }
    if (only.has('handler')) handler = await stage('handler (in-process v2 events)', async () => {
      const options: HandlerStageOptions = { reps: config.handlerReps, predictCalls: config.handlerPredicts, batchCalls: config.handlerBatches };
      const out = await runChild(process.execPath, ['--import', 'tsx', 'bench/handler-stage.ts'], { ...s.info.env, BENCH_HANDLER_OPTIONS: JSON.stringify(options) });
      return JSON.parse(resultLine(out)) as HandlerStageResult;
    });
    if (only.has('http')) {
      const loaded = await stage('http (autocannon)', async () => loadStage(s, await login(s.info.url, s.info.adminPassword)));
      load = loaded?.figures;
      windows = loaded?.windows ?? [];
      memory = { ...s.memoryAll(), idleRss, usage: await s.memoryUsage(), idleUsage };
    }
    if (only.has('cost')) cost = await stage('cost (SDK commands per route, in-process handlers)', async () => {
      const out = await runChild(process.execPath, ['--import', 'tsx', 'bench/cost.ts'], {
        ...s.info.env,
        BENCH_ADMIN_PASSWORD: s.info.adminPassword,
        BENCH_COST_INVOCATIONS: String(config.costInvocations),
        // EMF metrics on: in AWS they are log bytes too.
        POWERTOOLS_METRICS_DISABLED: 'false',
        TWIN_LOGIN_LIMIT_PER_USERNAME: '1000',
        TWIN_LOGIN_LIMIT_PER_SOURCE: '1000',
      });
      return JSON.parse(resultLine(out)) as CostResult;
    });
  }
} finally {
  await server?.stop();
}

let keptProfile: string | undefined;
let keptStoresProfile: string | undefined;
/** The stores' process over the whole serving run (every load configuration and the start). */
let storesProfile: ProfileSummary | undefined;
if (profiling && load) {
  const main = mainThreadProfile(profileDir);
  if (main) {
    load.forEach((figure, i) => (figure.profile = summariseProfile(main.profile, 25, windows[i])));
    keptProfile = join(tmpdir(), `twinserve-serve-${Date.now()}.cpuprofile`);
    copyFileSync(main.file, keptProfile);
  }
  const stores = mainThreadProfile(storesProfileDir);
  if (stores) {
    storesProfile = summariseProfile(stores.profile, 25);
    keptStoresProfile = join(tmpdir(), `twinserve-stores-${Date.now()}.cpuprofile`);
    copyFileSync(stores.file, keptStoresProfile);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report

const fmt = {
  us: (v: number) => `${v.toFixed(1)} µs`,
  ms: (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`,
  x: (v: number) => `${v.toFixed(2)}×`,
  rps: (v: number) => `${Math.round(v).toLocaleString('en-US')}/s`,
  mb: (v: number) => `${(v / 1e6).toFixed(1)} MB`,
  kb: (v: number) => `${(v / 1e3).toFixed(0)} kB`,
};
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
const rows: string[][] = [];
const row = (...cells: string[]) => rows.push(cells);

if (inproc) {
  row('floor', 'session.run, 1 row', fmt.us(inproc.floor1Us.median), '', '');
  row('floor', 'session.run, 100 rows', fmt.us(inproc.floor100Us.median), `${fmt.x(inproc.floor100OverFloor1.median)} floor 1 row`, '');
  row('core', 'predict, 1 row', fmt.us(inproc.core1Us.median), `${fmt.x(inproc.core1OverFloor1.median)} floor (≤ 2×)`, verdict(inproc.core1OverFloor1.median <= targets.core1OverFloor1));
  row('core', 'batch, 100 rows', fmt.us(inproc.core100Us.median), `${fmt.x(inproc.core100OverCore1.median)} core 1 row (≤ 5×)`, verdict(inproc.core100OverCore1.median <= targets.core100OverCore1));
}
if (ceiling) {
  const twin16 = load?.find((f) => f.name === 'predict' && f.connections === 16);
  row(
    'ceiling',
    'bare node HTTP server, 16 connections',
    `${fmt.rps(ceiling.rps)}, p99 ${ceiling.p99Ms.toFixed(1)} ms`,
    `parses the body, answers a fixed JSON, nothing else; server ${Math.round(ceiling.serverCpuUs)} µs CPU/req, load generator ${Math.round(ceiling.clientCpuUs)} µs; load avg ${ceiling.loadAverages.join('/')}${
      twin16 ? `; the twin's predict at 16 connections: ${((100 * twin16.rps.median) / ceiling.rps).toFixed(0)} % of it` : ''
    }`,
    '',
  );
}
if (sdkCall) {
  row('sdk', 'DynamoDB GetItem, CPU per call', fmt.us(sdkCall.directUs.median), `document client to an endpoint answering {}; the HTTP round trip alone ${fmt.us(sdkCall.roundTripUs.median)}`, '');
  row('sdk', 'the same with a SigV4 gate in the process', fmt.us(sdkCall.viaGateUs.median), "the gate's own cost; the local twin runs its gates in the stores' process (infra/local/sigv4-gate.mjs)", '');
  row('sdk', 'waking from idle, CPU per wake-up', fmt.us(sdkCall.wakeUs.median), 'a 2 ms timer that does nothing: the machine\'s toll on every idle-to-busy turn of a process (one connection pays it several times per request)', '');
}
if (insight) {
  row('insight', 'explain 1 row (TreeSHAP)', fmt.us(insight.explain1Us.median), `< ${explainOneRowTargetMs} ms`, verdict(insight.explain1Us.median < explainOneRowTargetMs * 1000));
  row('insight', 'explain 100 rows', fmt.ms(insight.explain100Us.median / 1000), '', '');
  row('insight', 'sweep 100 × 100', fmt.ms(insight.sweep100x100Ms.median), '10,000 rows, 10 runs', '');
  row('insight', 'optimize temp × pressure', fmt.ms(insight.optimizeMs.median), `${insight.optimizeEvaluations} evaluations`, '');
}
if (handler) {
  const h = (f: HandlerStageResult['predict']) => `p50 ${fmt.ms(f.p50Ms.median)}, p99 ${fmt.ms(f.p99Ms.median)}`;
  row('handler', 'predict (v2 event, 1 at a time)', h(handler.predict), `${handler.predict.non200} non-200`, '');
  row('handler', 'batch 100 (v2 event)', h(handler.batch), `${handler.batch.non200} non-200`, '');
}
for (const f of load ?? []) {
  const isPredict16 = f.name === 'predict' && f.connections === 16;
  const isPredict1 = f.name === 'predict' && f.connections === 1;
  const isBatch16 = f.name === 'batch-100' && f.connections === 16;
  const clean = f.non2xx === 0 && f.errors === 0;
  const target = isPredict16 ? '≥ 4,500/s, p99 ≤ 20 ms, 0 non-2xx' : isPredict1 ? 'p50 ≤ 1 ms' : isBatch16 ? '≥ 1,000/s' : '';
  const ok = isPredict16
    ? f.rps.median >= targets.predictRps16 && f.p99Ms.median <= targets.predictP99Ms16 && clean
    : isPredict1
      ? f.p50Ms.median <= targets.predictP50Ms1 && clean
      : isBatch16
        ? f.rps.median >= targets.batchRps16 && clean
        : undefined;
  const flaskNote = isPredict16 ? ` (Flask ${flask.predictRps16}/s, p99 ${flask.predictP99Ms16} ms)` : isBatch16 ? ` (Flask ${flask.batchRps16}/s)` : '';
  row(
    'http',
    `${f.name} c=${f.connections}`,
    `${fmt.rps(f.rps.median)}, p50 ${fmt.ms(f.p50Ms.median)}, p99 ${fmt.ms(f.p99Ms.median)}, ${f.non2xx} non-2xx, ${f.errors} errors`,
    [
      `gateway+functions ${Math.round(f.serverCpuUsPerRequest.median).toLocaleString('en-US')} µs CPU/req on ${f.serverCores.median.toFixed(2)} cores, stores ${Math.round(f.storesCpuUsPerRequest.median).toLocaleString('en-US')} µs; ${f.dynamoCallsPerRequest.median.toFixed(2)} DynamoDB calls/req`,
      f.clientCpuUsPerRequest && f.machineBusyCores && Number.isFinite(f.machineBusyCores.median)
        ? `load generator ${Math.round(f.clientCpuUsPerRequest.median).toLocaleString('en-US')} µs CPU/req; machine ${f.machineBusyCores.median.toFixed(2)} of ${machine.cores} cores busy`
        : '',
      `load avg ${f.loadAverage.join('/')}`,
      `${target}${flaskNote}`,
    ]
      .filter(Boolean)
      .join('; '),
    ok === undefined ? '' : verdict(ok),
  );
}
for (const c of cold) {
  const lambdaLike = c.mode === 'bundle';
  row(
    'cold start',
    lambdaLike ? 'bundle (node, as Lambda)' : 'sources (node --import tsx)',
    fmt.ms(c.firstMs.median),
    `modules loaded at ${fmt.ms(c.importedMs.median)}; CPU to the first prediction ${fmt.ms(c.cpuMs.median)}; warm call ${fmt.ms(c.warmMs.median)}${lambdaLike ? '; ≤ 200 ms' : ''}`,
    lambdaLike ? verdict(c.firstMs.median <= targets.coldStartMs) : '',
  );
}
if (twinStart) {
  row(
    'start',
    'local twin start to first prediction',
    fmt.ms(twinStart.firstPredictionMs),
    `first start (empty data dir: tables, seeding, model publish), ${twinStart.runtime}; ready at ${fmt.ms(twinStart.readyMs)}, then login and predict; ≤ 2 s`,
    verdict(twinStart.firstPredictionMs <= targets.twinStartMs),
  );
}
if (memory) {
  const u = memory.usage;
  row(
    'memory',
    'local twin RSS after load, every process',
    fmt.mb(memory.rss),
    `${memory.perProcess.map((p, i) => `${i === 0 ? 'gateway+functions' : 'stores'} ${fmt.mb(p.rss)}`).join(' + ')}; idle ${fmt.mb(memory.idleRss)}, peaks ${fmt.mb(memory.peak)}; V8 heap ${fmt.mb(u.heapTotal)} (${fmt.mb(u.heapUsed)} used); ≤ 150 MB`,
    verdict(memory.rss <= targets.rssBytes),
  );
}
const bundleCold = cold.find((c) => c.mode === 'bundle');
if (bundleCold) row('memory', 'function process RSS, bundle', fmt.mb(bundleCold.rssBytes.median), 'after its cold start and one warm call; stores in another process, as in Lambda', '');
if (handler?.rssBytes) row('memory', 'function process RSS, sources', fmt.mb(handler.rssBytes), `after the handler stage (${handler.predict.invocations + handler.batch.invocations} invocations, under tsx)`, '');
if (sizes) {
  const p = sizes.bundles.predict;
  row('size', 'predict bundle', fmt.kb(p.bytes), `${fmt.kb(p.deflatedBytes)} deflated; ≤ 1 MB`, verdict(p.bytes <= targets.predictBundleBytes));
  const all = Object.values(sizes.bundles).map((b) => b.bytes);
  row('size', `all ${all.length} function bundles`, `${fmt.kb(Math.min(...all))} – ${fmt.kb(Math.max(...all))}`, 'per function in latest.json', '');
  row('size', 'onnxruntime layer (linux/x64)', fmt.mb(sizes.layer.bytes), `${sizes.layer.method}; ≤ 50 MB`, verdict(sizes.layer.bytes <= targets.layerBytes));
}

if (cost) {
  for (const r of cost.routes) {
    const isPredict = r.route === 'predict';
    const before = beforeIssue16(r, cost.prices.dynamoWriteUnitPerMillion);
    const floor = designFloor(cost.prices);
    row(
      'cost',
      `AWS $ per million ${r.route}`,
      `$${r.totalUsdPerMillion.toFixed(2)}`,
      `${cost.prices.region} list prices ${cost.prices.date}${
        isPredict
          ? `; ≤ 50 % of before issue 16 ($${before.toFixed(2)} in this run): ${((100 * r.totalUsdPerMillion) / before).toFixed(0)} %; the design's fixed items alone (API Gateway, Lambda request, rate take, audit record and its index) $${floor.toFixed(2)}: ${((100 * floor) / before).toFixed(0)} %`
          : ''
      }`,
      isPredict ? verdict(r.totalUsdPerMillion <= targets.predictCostRatio * before) : '',
    );
  }
}

function printTable(header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of body) console.log(line(r));
}

const totalSec = (performance.now() - started) / 1000;
console.log('');
console.log(
  `Twinserve bench, ${new Date().toISOString()}, ${machine.cores} × ${machine.cpu}, Node ${versions.node}, onnxruntime-node ${versions['onnxruntime-node']}, ` +
    `load average at start ${machine.loadAverageAtStart.join(' ')}; medians of ${config.loadReps} load runs × ${config.loadSec} s, ${config.inprocReps} in-process reps, ${config.coldStarts} cold starts; ${totalSec.toFixed(0)} s${profiling ? ' (server PROFILED: slower than normal)' : ''}`,
);
printTable(['stage', 'figure', 'median', 'context / target', 'verdict'], rows);
if (cost) {
  console.log(`\nAWS cost per million requests (${cost.prices.region}, list prices of ${cost.prices.date}; calls recorded from the handlers, per invocation):`);
  const parts = ['apiGateway', 'lambdaRequests', 'lambdaCompute', 'dynamoWrites', 'dynamoReads', 's3', 'kms', 'sns', 'cloudWatchLogs'];
  printTable(
    ['route', 'SDK calls per request', 'WRU (index)', 'RRU', 'ms × MB', ...parts, 'total'],
    cost.routes.map((r) => [
      r.route,
      Object.entries(r.calls)
        .map(([k, v]) => `${k} ${round(v, 2)}`)
        .join(', '),
      `${round(r.dynamoWriteUnits, 2)} (${round(r.dynamoIndexWriteUnits, 2)})`,
      String(round(r.dynamoReadUnits, 2)),
      `${r.durationMs} × ${r.memoryMb}`,
      ...parts.map((p) => (r.usdPerMillion[p] ?? 0).toFixed(3)),
      `$${r.totalUsdPerMillion.toFixed(2)}`,
    ]),
  );
  console.log(`largest updated item (stats shard): ${cost.largestUpdatedItemBytes} bytes (1 WRU per UpdateItem while < 1,024)`);
  const predict = cost.routes.find((r) => r.route === 'predict');
  if (predict) {
    console.log('predict, with levers not taken (docs/performance.md, "Cost"):');
    for (const [lever, usd] of Object.entries(predict.whatIf)) console.log(`  ${lever}: $${usd.toFixed(2)}`);
  }
}
for (const f of load ?? []) {
  if (f.profile) {
    console.log(`\n${f.name} c=${f.connections}: serving process, self time during the load runs`);
    console.log(formatSummary({ ...f.profile, functions: f.profile.functions.slice(0, 20), packages: f.profile.packages.slice(0, 15) }));
  }
}
if (storesProfile) {
  console.log("\nthe stores' process (dynalite, the SigV4 gates), self time over the whole serving run");
  console.log(formatSummary({ ...storesProfile, functions: storesProfile.functions.slice(0, 20), packages: storesProfile.packages.slice(0, 15) }));
}
if (server && server.errorLines > 0) console.log(`\nThe server logged ${server.errorLines} ERROR lines; last output:\n${server.recentOutput()}`);
for (const f of failures) console.log(`\nFAILED ${f}`);

const results = {
  schema: 1,
  date: new Date().toISOString(),
  command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
  git: { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain') !== '' },
  machine,
  versions,
  config,
  durationSec: round(totalSec, 1),
  targets,
  reference: { flask },
  figures: {
    floor: inproc && { oneRowUs: inproc.floor1Us, hundredRowsUs: inproc.floor100Us, hundredOverOne: inproc.floor100OverFloor1 },
    core: inproc && {
      oneRowUs: inproc.core1Us,
      hundredRowsUs: inproc.core100Us,
      oneRowOverFloor: inproc.core1OverFloor1,
      hundredOverOneRow: inproc.core100OverCore1,
      hundredOverFloorHundred: inproc.core100OverFloor100,
    },
    insight,
    sdkCall,
    ceiling,
    handler,
    http: load?.map(({ profile: _profile, ...f }) => f),
    coldStart: cold,
    memory,
    twinStart,
    cost,
    sizes: sizes && { bundles: sizes.bundles, layer: sizes.layer },
  },
  profile: profiling ? { file: keptProfile, runs: load?.map((f) => ({ name: f.name, connections: f.connections, summary: f.profile })), stores: storesProfile && { file: keptStoresProfile, summary: storesProfile } } : undefined,
  failures,
};
mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
// Only a full, unprofiled run replaces latest.json (the figures docs/performance.md quotes).
const partial = profiling || quick || onlyIndex >= 0;
const outFile = join(repoRoot, 'bench', 'results', partial ? (profiling ? 'profile.json' : 'partial.json') : 'latest.json');
writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${outFile} (${totalSec.toFixed(0)} s)${keptProfile ? `; server CPU profile: ${keptProfile}` : ''}${keptStoresProfile ? `; stores' CPU profile: ${keptStoresProfile}` : ''}`);
rmSync(work, { recursive: true, force: true });
process.exit(failures.length ? 1 : 0);
