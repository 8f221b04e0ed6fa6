// @ts-check
// The embedded stores' own process (forked by infra/local/stores.ts). Plain JavaScript on purpose: it runs
// under plain node whether the parent runs from TypeScript (tsx), a bundle or a test runner, and it imports
// only the two servers and the SigV4 gate. The parent sends its options (the data dir, the Unix socket paths,
// the store credentials) as the first IPC message and gets back `ready` with the gates' endpoints.
//
// The gates run here, beside the stores, not in the twin's serving process: a store call then costs the
// serving process one loopback round trip (the SDK's), not three (the SDK's, the gate's, the gate's forward).
// A DynamoDB request the gate admits goes straight to dynalite's request handler in this process; S3 requests
// go on to s3rver's Unix socket. Neither server is on TCP: only the gates are, on 127.0.0.1.
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import dynalite from 'dynalite';
import { batchDynaliteLevelWrites } from './dynalite-level-writes.mjs';
import { cacheDynaliteTableDefinitions } from './dynalite-table-cache.mjs';
import { startSigV4Gate } from './sigv4-gate.mjs';

/** @param {import('node:net').Server} server @param {string} socketPath @returns {Promise<void>} */
function listen(server, socketPath) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
}

/** @type {Promise<void> | undefined} */
let closing;

/**
 * @param {{ dataDir: string; dynamodbSocket: string; s3Socket: string | false; credentials: import('./sigv4-gate.d.mts').StoreCredentials }} options
 * @returns {Promise<{ dynamodbEndpoint: string; s3Endpoint: string | undefined }>}
 */
async function start({ dataDir, dynamodbSocket, s3Socket, credentials }) {
  await mkdir(join(dataDir, 'dynamodb'), { recursive: true, mode: 0o700 });
  // A socket left by a process that did not stop cleanly would make listen fail (EADDRINUSE).
  await unlink(dynamodbSocket).catch(() => undefined);
  // Table definitions read from LevelDB once, not on every request (dynalite-table-cache.mjs).
  cacheDynaliteTableDefinitions();
  // Reads in place and the writes of one turn in one LevelDB batch (dynalite-level-writes.mjs).
  batchDynaliteLevelWrites();
  const dynamo = dynalite({ path: join(dataDir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // dynalite still listens on its socket (inside the 0700 data dir): its close() closes LevelDB only after
  // closing a listening server. Its requests come through the gate below, handed to its handler in-process.
  await listen(dynamo, dynamodbSocket);
  const dynamoHandler = /** @type {import('node:http').RequestListener} */ (dynamo.listeners('request')[0]);
  /** @type {any} */
  let s3rver;
  if (s3Socket) {
    await mkdir(join(dataDir, 's3'), { recursive: true, mode: 0o700 });
    await unlink(s3Socket).catch(() => undefined);
    // vhostBuckets off: the SDK is set to path-style, and bucket names would otherwise be read from the host.
    // Loaded only here: s3rver is a development dependency (its busboy -> dicer chain carries an unfixed
    // advisory), so a production or edge install, which runs without S3, does not have it at all.
    let S3rver;
    try {
      S3rver = (await import('s3rver')).default;
    } catch (error) {
      await new Promise((resolve) => dynamo.close(() => resolve(undefined)));
      throw new Error(`the full local twin needs the development dependencies (s3rver): run npm ci, or use edge mode (--edge --model <dir|tgz>), which needs no S3 (${/** @type {Error} */ (error).message})`);
    }
    s3rver = new S3rver({ silent: true, directory: join(dataDir, 's3'), vhostBuckets: false });
    // Objects written and read whole, as S3 does (s3rver answers a PutObject before its file is written).
    (await import('./s3rver-atomic.mjs')).makeObjectWritesAtomic(s3rver.store);
    try {
      await s3rver.configureBuckets();
      // s3rver's listen passes its arguments to http.Server#listen: a socket path instead of host and port.
      s3rver.httpServer = await s3rver.listen(s3Socket);
    } catch (error) {
      await new Promise((resolve) => dynamo.close(() => resolve(undefined)));
      throw error;
    }
  }
  const dynamoGate = await startSigV4Gate({ service: 'dynamodb', credentials, upstream: { handler: dynamoHandler } });
  // s3rver refuses access key ids it does not know (only its built-in S3RVER): the gate has checked ours.
  const s3Gate = s3Socket ? await startSigV4Gate({ service: 's3', credentials, upstream: { socketPath: s3Socket }, stripAuthorization: true }) : undefined;
  const close = () =>
    (closing ??= (async () => {
      // The gates first: no request reaches a store that is closing.
      await Promise.all([dynamoGate.close(), s3Gate?.close()]);
      await Promise.all([s3rver?.close(), new Promise((resolve) => dynamo.close(() => resolve(undefined)))]);
    })().then(() => process.exit(0)));
  // The parent asks (`close`), or it went away: either way the stores close and this process ends.
  process.on('message', (/** @type {any} */ message) => {
    if (message?.type === 'close') void close();
    // The bench counts store calls per request: the requests each gate has let through so far.
    else if (message?.type === 'count') process.send?.({ type: 'count', id: message.id, dynamodb: dynamoGate.forwarded(), s3: s3Gate?.forwarded() ?? 0 });
  });
  process.on('disconnect', () => void close());
  process.on('SIGTERM', () => void close());
  return { dynamodbEndpoint: dynamoGate.endpoint, s3Endpoint: s3Gate?.endpoint };
}

process.once('message', (/** @type {any} */ options) => {
  start(options).then(
    (endpoints) => process.send?.({ type: 'ready', ...endpoints }),
    (error) => {
      process.send?.({ type: 'failed', message: error instanceof Error ? error.message : String(error) }, () => process.exit(1));
    },
  );
});
