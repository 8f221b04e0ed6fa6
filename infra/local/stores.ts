import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The embedded AWS-compatible servers of the local twin, on loopback: dynalite (DynamoDB, persisted with
 * LevelDB under <dataDir>/dynamodb) and s3rver (S3, files under <dataDir>/s3). The real SDK clients reach
 * them through AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3.
 *
 * They run in their own process (infra/local/stores-process.mjs), so the emulator's work (dynalite's
 * validation and LevelDB, s3rver) runs on another core than the gateway and the functions: under load the
 * emulator costs about as much CPU as everything else together (docs/performance.md). The process ends
 * with `close()`, and by itself if this process goes away.
 */
export interface EmbeddedStores {
  dynamodbEndpoint: string;
  /** Absent when started without S3 (edge mode). */
  s3Endpoint: string | undefined;
  /** The stores' process (its RSS and CPU are part of the local twin's). */
  pid: number;
  close(): Promise<void>;
}

/** Beside this module in the sources; a bundle of the local twin must ship it beside itself. */
export const storesProcessFile = fileURLToPath(new URL('./stores-process.mjs', import.meta.url));

type Ready = { type: 'ready'; dynamodbPort: number; s3Port?: number } | { type: 'failed'; message: string };

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

export async function startEmbeddedStores(dataDir: string, options: { dynamodb?: number; s3?: number | false } = {}): Promise<EmbeddedStores> {
  // Plain node: no loader, no profiler flags of this process; its output goes where ours goes. The
  // emulator's garbage is short-lived: small semi-spaces keep its young generation (and RSS) small.
  const child = fork(storesProcessFile, [], { execArgv: ['--max-semi-space-size=2'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('message', (message) => resolve(message as Ready));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the embedded stores' process exited (${code}) before it was ready`)));
    child.send({ dataDir, dynamodb: options.dynamodb ?? 0, s3: options.s3 ?? 0 });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited(child);
    throw error;
  });
  child.removeAllListeners('exit');
  if (ready.type === 'failed') {
    await exited(child);
    throw new Error(`the embedded stores did not start: ${ready.message}`);
  }
  let closing: Promise<void> | undefined;
  return {
    dynamodbEndpoint: `http://127.0.0.1:${ready.dynamodbPort}`,
    s3Endpoint: ready.s3Port === undefined ? undefined : `http://127.0.0.1:${ready.s3Port}`,
    pid: child.pid!,
    close() {
      closing ??= (async () => {
        const done = exited(child);
        if (child.connected) child.send({ type: 'close' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await done;
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
