import { mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { startSigV4Gate, type StoreCredentials } from './sigv4-gate.js';

/**
 * The embedded AWS-compatible servers of the local twin: dynalite (DynamoDB, persisted with LevelDB under
 * <dataDir>/dynamodb) and s3rver (S3, files under <dataDir>/s3). Neither checks credentials, so neither is on
 * TCP: each listens on a Unix socket in a 0700 directory, and a SigV4-verifying gate on loopback (see
 * ./sigv4-gate.ts) admits only requests signed with the twin's store credentials. The real SDK clients reach
 * the gates through AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 and sign with AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, exactly as in Lambda.
 */
export interface EmbeddedStores {
  dynamodbEndpoint: string;
  /** Absent when started without S3 (edge mode). */
  s3Endpoint: string | undefined;
  close(): Promise<void>;
}

function listenOn(server: Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
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
  await mkdir(join(dataDir, 'dynamodb'), { recursive: true, mode: 0o700 });
  const sockets = await socketDir(dataDir);
  const cleanups: (() => Promise<void>)[] = [async () => (sockets.temporary ? rm(sockets.dir, { recursive: true, force: true }) : undefined)];
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const dynamoSocket = join(sockets.dir, 'dynamodb.sock');
    // A socket left by a process that did not stop cleanly would make listen fail (EADDRINUSE).
    await unlink(dynamoSocket).catch(() => undefined);
    const dynamo = dynalite({ path: join(dataDir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await listenOn(dynamo, dynamoSocket);
    cleanups.push(() => close(dynamo));
    const dynamoGate = await startSigV4Gate({ service: 'dynamodb', credentials, upstream: { socketPath: dynamoSocket } });
    cleanups.push(dynamoGate.close);
    if (options.s3 === false) return { dynamodbEndpoint: dynamoGate.endpoint, s3Endpoint: undefined, close: closeAll };

    await mkdir(join(dataDir, 's3'), { recursive: true, mode: 0o700 });
    const s3Socket = join(sockets.dir, 's3.sock');
    await unlink(s3Socket).catch(() => undefined);
    // vhostBuckets off: the SDK is set to path-style, and bucket names would otherwise be read from the host.
    const s3 = new S3rver({ silent: true, directory: join(dataDir, 's3'), vhostBuckets: false });
    await s3.configureBuckets();
    // s3rver's listen passes its arguments to http.Server#listen: a socket path instead of host and port.
    (s3 as unknown as { httpServer: Server }).httpServer = await s3.listen(s3Socket);
    cleanups.push(() => s3.close());
    // s3rver refuses access key ids it does not know (only its built-in S3RVER): the gate has checked ours.
    const s3Gate = await startSigV4Gate({ service: 's3', credentials, upstream: { socketPath: s3Socket }, stripAuthorization: true });
    cleanups.push(s3Gate.close);
    return { dynamodbEndpoint: dynamoGate.endpoint, s3Endpoint: s3Gate.endpoint, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
