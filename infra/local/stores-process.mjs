// The embedded stores' own process (forked by infra/local/stores.ts). Plain JavaScript on purpose: it runs
// under plain node whether the parent runs from TypeScript (tsx), a bundle or a test runner, and it imports
// only the two servers. The parent sends its options (the data dir and the Unix socket paths to listen on)
// as the first IPC message and gets back `ready`. Neither server is on TCP: the parent's SigV4 gates are.
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import dynalite from 'dynalite';

function listen(server, socketPath) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
}

let closing;
async function start({ dataDir, dynamodbSocket, s3Socket }) {
  await mkdir(join(dataDir, 'dynamodb'), { recursive: true, mode: 0o700 });
  // A socket left by a process that did not stop cleanly would make listen fail (EADDRINUSE).
  await unlink(dynamodbSocket).catch(() => undefined);
  const dynamo = dynalite({ path: join(dataDir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await listen(dynamo, dynamodbSocket);
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
      await new Promise((resolve) => dynamo.close(() => resolve()));
      throw new Error(`the full local twin needs the development dependencies (s3rver): run npm ci, or use edge mode (--edge --model <dir|tgz>), which needs no S3 (${error.message})`);
    }
    s3rver = new S3rver({ silent: true, directory: join(dataDir, 's3'), vhostBuckets: false });
    try {
      await s3rver.configureBuckets();
      // s3rver's listen passes its arguments to http.Server#listen: a socket path instead of host and port.
      s3rver.httpServer = await s3rver.listen(s3Socket);
    } catch (error) {
      await new Promise((resolve) => dynamo.close(() => resolve()));
      throw error;
    }
  }
  const close = () =>
    (closing ??= Promise.all([s3rver?.close(), new Promise((resolve) => dynamo.close(() => resolve()))]).then(() => process.exit(0)));
  // The parent asks (`close`), or it went away: either way the stores close and this process ends.
  process.on('message', (message) => message?.type === 'close' && void close());
  process.on('disconnect', () => void close());
  process.on('SIGTERM', () => void close());
}

process.once('message', (options) => {
  start(options).then(
    () => process.send({ type: 'ready' }),
    (error) => {
      process.send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }, () => process.exit(1));
    },
  );
});
