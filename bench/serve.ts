import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { envNames } from '../functions/config.js';

/**
 * The serving process of the http and cold-start stages: one local twin (gateway, handlers; the embedded
 * DynamoDB and S3 in their own child process) in a fresh temp dir, on a free loopback port. The bench runs it
 * compiled (esbuild, `node bench/.build/serve.mjs`: plain node, no loader) or as `node --import tsx
 * bench/serve.ts`; either way this process is the server (the `tsx` CLI would add a parent).
 *
 * Prints ONE JSON line on stdout: `{ url, pid, adminPassword, env }`, where `env` is what the functions read
 * (tables, bucket, issuer, key file, store endpoints), so a fresh process can run the same handlers against
 * these stores. Stops cleanly (and writes a `--cpu-prof` profile) on SIGTERM, SIGINT or when stdin closes;
 * answers `memory` on stdin with a `{ memoryUsage }` line.
 *
 * Rate limiting stays on with a limit far above what the load can reach; audit records are written as always.
 */

export interface ServeInfo {
  url: string;
  pid: number;
  /** Every process of the local twin (this one and the embedded stores'). */
  pids: number[];
  adminPassword: string;
  env: Record<string, string>;
}

// As `npm start` (infra/local/start.ts) does: Powertools reads this when its modules load, so before the import.
process.env.POWERTOOLS_METRICS_DISABLED ??= process.env.TWIN_METRICS === 'on' ? 'false' : 'true';
const { startLocalTwin } = await import('../infra/local/twin.js');

const adminPassword = 'bench-admin-password-1';
const dataDir = await mkdtemp(join(tmpdir(), 'twinserve-bench-'));
const twin = await startLocalTwin({
  dataDir,
  port: 0,
  adminPassword,
  env: { TWIN_RATE_LIMIT_PER_MINUTE: '100000000' },
});

// The stages given `env` run handlers one request at a time, as Lambda does; Lambda's functions share no writer
// between their stores (functions/services.ts), so neither do they: the audit record and the served row go as
// the single PutItems a Lambda sends; and a Lambda reserves no rate-limit takes ahead: each take is a write.
const lambdaless = new Set<string>([envNames.sharedBatchWrites, envNames.rateReserveAhead]);
const env = Object.fromEntries(
  Object.entries(process.env).filter((entry): entry is [string, string] => /^(TWIN_|AWS_|POWERTOOLS_)/.test(entry[0]) && !lambdaless.has(entry[0]) && entry[1] !== undefined),
);
const info: ServeInfo = { url: twin.url, pid: process.pid, pids: twin.pids, adminPassword, env };
process.stdout.write(`${JSON.stringify(info)}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    // A load generator that stops at its deadline leaves requests in flight; let them finish before the
    // stores close under them (LocalTwin.stop closes the gateway's sockets, not the handlers' work).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await twin.stop();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    // process.exit (not a signal death) so that --cpu-prof writes its profile.
    process.exit(0);
  }
}

process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// `memory` on stdin: one line with process.memoryUsage() (what the RSS is made of); `store-requests`: the
// requests the stores' gates let through so far. EOF: stop.
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() === 'memory') process.stdout.write(`${JSON.stringify({ memoryUsage: process.memoryUsage() })}\n`);
    if (line.trim() === 'store-requests') void twin.storeRequests().then((storeRequests) => process.stdout.write(`${JSON.stringify({ storeRequests })}\n`));
  })
  .on('close', () => void stop());
