import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per package, so the
 * hot path can be read without a browser. `npx tsx bench/profile.ts <file.cpuprofile> [--top 25]`.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of the sampled time the thread was not idle. */
  busyShare: number;
  functions: SelfTime[];
  packages: SelfTime[];
}

/** Where a frame comes from: an npm package, node itself, the repo's own code, or V8. */
function origin(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const own = /\/(functions|infra|bench|layers)\//.exec(url);
  if (own) return `twinserve/${own[1]}`;
  return url;
}

function shortUrl(url: string): string {
  const pkg = /node_modules\/(.*)$/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/((?:functions|infra|bench|layers)\/.*)$/.exec(url);
  return own ? own[1]! : url;
}

/**
 * Self time per function and per package. `window` keeps only the samples taken between two instants of
 * the monotonic clock (µs; `process.hrtime.bigint() / 1000n` in any process of the machine), e.g. a load run.
 */
export function summariseProfile(profile: CpuProfile, top = 25, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    total += us;
    if (functionName === '(idle)') idle += us;
    const key = url ? `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}` : functionName || '(anonymous)';
    fn.set(key, (fn.get(key) ?? 0) + us);
    const o = origin(url, functionName);
    pkg.set(o, (pkg.get(o) ?? 0) + us);
  }
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, share: total ? us / total : 0 }));
  return { totalMs: total / 1000, busyShare: total ? 1 - idle / total : 0, functions: rank(fn), packages: rank(pkg) };
}

/**
 * The main thread's profile in a `--cpu-prof-dir`: the one with the most busy (non-idle) time. tsx adds a
 * loader thread, which writes its own, mostly idle, profile.
 */
export function mainThreadProfile(dir: string): { file: string; profile: CpuProfile } | undefined {
  let best: { file: string; profile: CpuProfile; busyMs: number } | undefined;
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
    const summary = summariseProfile(profile, 1);
    const busyMs = summary.totalMs * summary.busyShare;
    if (!best || busyMs > best.busyMs) best = { file: join(dir, name), profile, busyMs };
  }
  return best && { file: best.file, profile: best.profile };
}

export function formatSummary(summary: ProfileSummary): string {
  const pct = (s: number) => `${(s * 100).toFixed(1).padStart(5)}%`;
  const lines = [`profile: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${pct(summary.busyShare).trim()} not idle`, '', 'self time by package:'];
  for (const p of summary.packages) lines.push(`  ${pct(p.share)}  ${p.name}`);
  lines.push('', 'self time by function:');
  for (const f of summary.functions) lines.push(`  ${pct(f.share)}  ${f.name}`);
  return lines.join('\n');
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
  const file = args.find((a, i) => !a.startsWith('--') && i !== topIndex + 1);
  if (!file) throw new Error('usage: tsx bench/profile.ts <file.cpuprofile> [--top N]');
  console.log(formatSummary(summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top)));
}
