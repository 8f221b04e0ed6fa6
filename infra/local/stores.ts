import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoreCredentials } from './sigv4-gate.mjs';

/**
 * The embedded AWS-compatible servers of the local twin: dynalite (DynamoDB, persisted with LevelDB under
 * <dataDir>/dynamodb) and s3rver (S3, files under <dataDir>/s3).
 *
 * They run in their own process (infra/local/stores-process.mjs), so the emulator's work (dynalite's
 * validation and LevelDB, s3rver) runs on another core than the gateway and the functions: under load the
 * emulator costs about as much CPU as everything else together (docs/performance.md). The process ends
 * with `close()`, and by itself if this process goes away.
 *
 * Neither server checks credentials, so neither is on TCP: each listens on a Unix socket in a 0700
 * directory, and a SigV4-verifying gate on loopback in the stores' process (./sigv4-gate.mjs) admits only
 * requests signed with the twin's store credentials. The real SDK clients reach the gates through
 * AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 and sign with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
 * exactly as in Lambda. The gates sit beside the stores so that a store call costs this (serving) process
 * one loopback round trip, not three (docs/performance.md).
 */
export interface EmbeddedStores {
  dynamodbEndpoint: string;
  /** Undefined when started without S3 (edge mode). */
  s3Endpoint: string | undefined;
  /** The stores' process. */
  pid: number;
  /** Requests each gate has let through so far (asked of the stores' process). */
  storeRequests(): Promise<{ dynamodb: number; s3: number }>;
  close(): Promise<void>;
}

/** Beside this module in the sources; a bundle of the local twin must ship it beside itself. */
export const storesProcessFile = fileURLToPath(new URL('./stores-process.mjs', import.meta.url));

type Ready = { type: 'ready'; dynamodbEndpoint: string; s3Endpoint?: string } | { type: 'failed'; message: string };
type Count = { type: 'count'; id: number; dynamodb: number; s3: number };

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Unix socket paths are limited to ~107 bytes: a long data dir gets a private (0700) temp dir instead. */
async function socketDir(dataDir: string): Promise<{ dir: string; temporary: boolean }> {
  const dir = join(dataDir, 'sockets');
  if (Buffer.byteLength(join(dir, 'dynamodb.sock')) <= 100) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return { dir, temporary: false };
  }
  return { dir: await mkdtemp(join(tmpdir(), 'twinserve-sock-')), temporary: true };
}

export async function startEmbeddedStores(dataDir: string, credentials: StoreCredentials, options: { s3?: false } = {}): Promise<EmbeddedStores> {
  const sockets = await socketDir(dataDir);
  const dynamodbSocket = join(sockets.dir, 'dynamodb.sock');
  const s3Socket = options.s3 === false ? undefined : join(sockets.dir, 's3.sock');
  const removeSockets = async () => {
    if (sockets.temporary) await rm(sockets.dir, { recursive: true, force: true });
  };
  // Plain node: no loader, no profiler flags of this process; its output goes where ours goes. The
  // emulator's garbage is short-lived and plentiful (a BatchWriteItem's parsed body, its items, their JSON):
  // 8 MB semi-spaces, not 2, cut garbage collection from ~17 % to ~5 % of this process's samples under
  // writes, for a larger young generation (its RSS after load 5–40 MB higher in the bench pairs of
  // docs/performance.md, "What bounds the store calls").
  // TWIN_STORES_CPU_PROF_DIR: `npm run bench -- --profile` profiles this process too (its own directory).
  const profile = process.env.TWIN_STORES_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TWIN_STORES_CPU_PROF_DIR}`] : [];
  const child = fork(storesProcessFile, [], { execArgv: ['--max-semi-space-size=8', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('message', (message) => resolve(message as Ready));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the embedded stores' process exited (${code}) before it was ready`)));
    child.send({ dataDir, dynamodbSocket, s3Socket: s3Socket ?? false, credentials });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited(child);
    await removeSockets();
    throw error;
  });
  child.removeAllListeners('exit');
  if (ready.type === 'failed') {
    await exited(child);
    await removeSockets();
    throw new Error(`the embedded stores did not start: ${ready.message}`);
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const done = exited(child);
      if (child.connected) child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
      await removeSockets();
    })();
    return closing;
  };
  let asked = 0;
  const storeRequests = () =>
    new Promise<{ dynamodb: number; s3: number }>((resolve, reject) => {
      const id = ++asked;
      const onMessage = (message: Count) => {
        if (message?.type !== 'count' || message.id !== id) return;
        child.off('message', onMessage);
        resolve({ dynamodb: message.dynamodb, s3: message.s3 });
      };
      child.on('message', onMessage);
      if (!child.connected) {
        child.off('message', onMessage);
        reject(new Error("the embedded stores' process is gone"));
        return;
      }
      child.send({ type: 'count', id });
    });
  return { dynamodbEndpoint: ready.dynamodbEndpoint, s3Endpoint: ready.s3Endpoint, pid: child.pid!, storeRequests, close };
}
