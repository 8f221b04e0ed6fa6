import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildLocalTwinBundle } from '../infra/build/node-bundle.js';
import { repoRoot } from './fixtures.js';
import type { ServeInfo } from './serve.js';

/**
 * bench/serve.ts compiled to JavaScript exactly as `npm start` is (infra/build/node-bundle.ts: the same
 * options, chunks and stores' process file), at `bench/.build/serve.mjs`, two levels below the repo like
 * dist/local/start.mjs.
 */
export async function buildServe(): Promise<string> {
  const outdir = join(repoRoot, 'bench', '.build');
  await buildLocalTwinBundle({ entryPoints: { serve: join(repoRoot, 'bench', 'serve.ts') }, outdir });
  return join(outdir, 'serve.mjs');
}

function statusOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}

function kbField(status: string | undefined, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status ?? '')?.[1] ?? 0) * 1024;
}

/**
 * The serving process (bench/serve.ts) as a child of the bench: started with `node --import tsx` so the
 * child IS the server (its pid, RSS and CPU time are the server's), its output drained so a chatty server
 * never blocks on a full pipe.
 */
export interface StoreRequests {
  dynamodb: number;
  s3: number;
}

export class ServerProcess {
  private readonly tail: string[] = [];
  /** Lines the server logged at ERROR level (failed audit writes, handler errors...). */
  errorLines = 0;
  info!: ServeInfo;

  private constructor(private readonly child: ChildProcess) {}

  /** From the spawn to the ready line (ms). */
  startMs = 0;
  private startedAt = 0;

  /** `compiled`: the esbuild bundle from {@link buildServe} under plain node; else the sources under tsx. */
  static async start(options: { cpuProfDir?: string; timeoutMs?: number; compiled?: string } = {}): Promise<ServerProcess> {
    const profile = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
    const args = options.compiled ? [...profile, options.compiled] : [...profile, '--import', 'tsx', 'bench/serve.ts'];
    const startedAt = performance.now();
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env } });
    const server = new ServerProcess(child);
    server.startedAt = startedAt;
    createInterface({ input: child.stderr! }).on('line', (line) => server.keep(line));
    server.info = await new Promise<ServeInfo>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`bench/serve.ts ${why}:\n${server.recentOutput()}`));
      };
      const timer = setTimeout(() => fail('did not start in time'), options.timeoutMs ?? 90_000);
      child.once('exit', (code) => fail(`exited with ${code}`));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('{"memoryUsage"')) {
          server.onMemory?.((JSON.parse(line) as { memoryUsage: NodeJS.MemoryUsage }).memoryUsage);
          return;
        }
        if (line.startsWith('{"storeRequests"')) {
          server.onStoreRequests?.((JSON.parse(line) as { storeRequests: StoreRequests }).storeRequests);
          return;
        }
        const info = parseInfo(line);
        if (!info) return server.keep(line);
        clearTimeout(timer);
        child.removeAllListeners('exit');
        server.startMs = performance.now() - startedAt;
        resolve(info);
      });
    });
    return server;
  }

  private keep(line: string): void {
    if (/"level":"(ERROR|CRITICAL)"/.test(line)) this.errorLines++;
    this.tail.push(line);
    if (this.tail.length > 40) this.tail.shift();
  }

  get pid(): number {
    return this.child.pid!;
  }

  recentOutput(): string {
    return this.tail.join('\n');
  }

  /** Milliseconds since this server was spawned. */
  sinceSpawnMs(): number {
    return performance.now() - this.startedAt;
  }

  /** VmRSS (now) and VmHWM (peak) of the server process, in bytes. */
  memory(): { rss: number; peak: number } {
    const status = statusOf(this.pid);
    return { rss: kbField(status, 'VmRSS'), peak: kbField(status, 'VmHWM') };
  }

  /** The RSS of every process of the local twin (the server and the stores' process), in bytes, each and summed. */
  memoryAll(): { rss: number; peak: number; perProcess: { pid: number; rss: number; peak: number }[] } {
    const perProcess = (this.info.pids ?? [this.pid]).map((pid) => {
      const status = statusOf(pid);
      return { pid, rss: kbField(status, 'VmRSS'), peak: kbField(status, 'VmHWM') };
    });
    return { rss: perProcess.reduce((n, p) => n + p.rss, 0), peak: perProcess.reduce((n, p) => n + p.peak, 0), perProcess };
  }

  /** CPU seconds (user + system) of every process of the local twin. */
  cpuSecondsAll(): number {
    return (this.info.pids ?? [this.pid]).reduce((n, pid) => n + cpuSecondsOf(pid), 0);
  }

  private onMemory: ((usage: NodeJS.MemoryUsage) => void) | undefined;
  private onStoreRequests: ((counts: StoreRequests) => void) | undefined;

  /** The requests the stores' gates have let through so far (each is one AWS SDK call to a store). */
  storeRequests(timeoutMs = 5_000): Promise<StoreRequests> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not report its store requests')), timeoutMs);
      this.onStoreRequests = (counts) => {
        clearTimeout(timer);
        this.onStoreRequests = undefined;
        resolve(counts);
      };
      this.child.stdin!.write('store-requests\n');
    });
  }

  /** The server's own process.memoryUsage(): V8 heap, external and array buffers, beside the RSS. */
  memoryUsage(timeoutMs = 5_000): Promise<NodeJS.MemoryUsage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not report its memory')), timeoutMs);
      this.onMemory = (usage) => {
        clearTimeout(timer);
        this.onMemory = undefined;
        resolve(usage);
      };
      this.child.stdin!.write('memory\n');
    });
  }

  /** CPU seconds (user + system) the server process has used so far. */
  cpuSeconds(): number {
    return cpuSecondsOf(this.pid);
  }

  /** Stops the server (it exits by itself, so --cpu-prof writes its profile); kills it after a grace period. */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

function cpuSecondsOf(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function parseInfo(line: string): ServeInfo | undefined {
  if (!line.startsWith('{"url"')) return undefined;
  try {
    const parsed = JSON.parse(line) as Partial<ServeInfo>;
    return typeof parsed.url === 'string' && typeof parsed.pid === 'number' && parsed.env ? (parsed as ServeInfo) : undefined;
  } catch {
    return undefined;
  }
}
