// The embedded stores' own process (forked by infra/local/stores.ts). Plain JavaScript on purpose: it runs
// under plain node whether the parent runs from TypeScript (tsx), a bundle or a test runner, and it imports
// only the two servers. The parent sends its options as the first IPC message and gets back the ports.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import dynalite from 'dynalite';

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server.address().port));
  });
}

let closing;
async function start({ dataDir, dynamodb = 0, s3 = 0 }) {
  await mkdir(join(dataDir, 'dynamodb'), { recursive: true });
  const dynamo = dynalite({ path: join(dataDir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dynamoPort = await listen(dynamo, dynamodb);
  let s3rver;
  let s3Port;
  if (s3 !== false) {
    await mkdir(join(dataDir, 's3'), { recursive: true });
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
    s3rver = new S3rver({ address: '127.0.0.1', port: s3, silent: true, directory: join(dataDir, 's3'), vhostBuckets: false });
    try {
      s3Port = (await s3rver.run()).port;
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
  return { dynamodbPort: dynamoPort, s3Port };
}

process.once('message', (options) => {
  start(options).then(
    (ports) => process.send({ type: 'ready', ...ports }),
    (error) => {
      process.send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }, () => process.exit(1));
    },
  );
});
