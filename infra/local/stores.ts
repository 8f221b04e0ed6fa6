import { mkdir } from 'node:fs/promises';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import dynalite from 'dynalite';

/**
 * The embedded AWS-compatible servers of the local twin, on loopback: dynalite (DynamoDB, persisted with
 * LevelDB under <dataDir>/dynamodb) and s3rver (S3, files under <dataDir>/s3). The real SDK clients reach
 * them through AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3.
 */
export interface EmbeddedStores {
  dynamodbEndpoint: string;
  /** Absent when started without S3 (edge mode). */
  s3Endpoint: string | undefined;
  close(): Promise<void>;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startEmbeddedStores(dataDir: string, options: { dynamodb?: number; s3?: number | false } = {}): Promise<EmbeddedStores> {
  await mkdir(join(dataDir, 'dynamodb'), { recursive: true });
  const dynamo = dynalite({ path: join(dataDir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dynamoPort = await listen(dynamo, options.dynamodb ?? 0);
  if (options.s3 === false) {
    return { dynamodbEndpoint: `http://127.0.0.1:${dynamoPort}`, s3Endpoint: undefined, close: () => close(dynamo) };
  }
  await mkdir(join(dataDir, 's3'), { recursive: true });
  // Loaded only here: s3rver is a development dependency (its busboy -> dicer chain carries an unfixed
  // advisory), so a production or edge install, which runs without S3, does not have it at all.
  let S3rver: typeof import('s3rver').default;
  try {
    S3rver = (await import('s3rver')).default;
  } catch (error) {
    await close(dynamo);
    throw new Error(`the full local twin needs the development dependencies (s3rver): run npm ci, or use edge mode (--edge --model <dir|tgz>), which needs no S3 (${(error as Error).message})`);
  }
  const s3 = new S3rver({ address: '127.0.0.1', port: options.s3 ?? 0, silent: true, directory: join(dataDir, 's3'), vhostBuckets: false });
  let s3Port: number;
  try {
    // vhostBuckets off: the SDK is set to path-style, and bucket names would otherwise be read from the host.
    s3Port = (await s3.run()).port;
  } catch (error) {
    await close(dynamo);
    throw error;
  }
  return {
    dynamodbEndpoint: `http://127.0.0.1:${dynamoPort}`,
    s3Endpoint: `http://127.0.0.1:${s3Port}`,
    async close() {
      await Promise.all([s3.close(), close(dynamo)]);
    },
  };
}
