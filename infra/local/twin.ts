import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNames, loadConfig } from '../../functions/config.js';
import { disposeServices } from '../../functions/services.js';
import { tables } from '../tables.js';
import { LocalGateway } from './gateway.js';
import { loadHandlers } from './handlers.js';
import { seedLocal, localTableName, type SeedResult } from './seed.js';
import { startEmbeddedStores } from './stores.js';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface LocalTwinOptions {
  /** Where DynamoDB, S3 and the signing key live; survives restarts. */
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Password for the seeded `admin`; generated (and returned once) when absent. */
  adminPassword?: string;
  modelsDir?: string;
  accessLog?: (line: Record<string, unknown>) => void;
  /** Extra environment for the functions (e.g. token lifetimes in tests). */
  env?: Record<string, string>;
}

export interface LocalTwin {
  url: string;
  dataDir: string;
  dynamodbEndpoint: string;
  s3Endpoint: string;
  seed: SeedResult;
  stop(): Promise<void>;
}

export const localAudience = 'twinserve-local';
export const localBucket = 'twinserve-models';

/**
 * Starts the whole local twin in this process: embedded DynamoDB and S3 on loopback, first-start seeding,
 * and the gateway in front of the Lambda handlers. The handlers read their configuration from process.env
 * exactly as in Lambda, so one local twin runs per process.
 */
export async function startLocalTwin(options: LocalTwinOptions): Promise<LocalTwin> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const stores = await startEmbeddedStores(dataDir);
  let gateway: LocalGateway | undefined;
  try {
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      // The machines run Node 20; Lambda runs Node 22, where the SDK has nothing to warn about.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // s3rver accepts only its fixed credentials; dynalite accepts any. Nothing here reaches AWS.
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_DYNAMODB: stores.dynamodbEndpoint,
      AWS_ENDPOINT_URL_S3: stores.s3Endpoint,
      // Without these, s3rver stores streamed uploads as raw aws-chunked bytes.
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      [envNames.modelBucket]: localBucket,
      [envNames.audience]: localAudience,
      [envNames.signingKeyFile]: join(dataDir, 'signing-keys.json'),
      [envNames.s3ForcePathStyle]: 'true',
      [envNames.environment]: 'local',
      ...Object.fromEntries(tables.map((t) => [t.env, localTableName(t)])),
      ...options.env,
    });
    delete process.env.AWS_PROFILE;
    let issuer = '';
    gateway = new LocalGateway({
      handlers: await loadHandlers(),
      issuer: () => issuer,
      audience: localAudience,
      port: options.port ?? 3000,
      host: options.host ?? '127.0.0.1',
      ...(options.accessLog ? { accessLog: options.accessLog } : {}),
    });
    const url = await gateway.listen();
    issuer = url;
    process.env[envNames.issuer] = url;
    const seed = await seedLocal(loadConfig(), {
      modelsDir: options.modelsDir ?? join(repoRoot, 'models'),
      ...(options.adminPassword ? { adminPassword: options.adminPassword } : {}),
    });
    const running = gateway;
    return {
      url,
      dataDir,
      dynamodbEndpoint: stores.dynamodbEndpoint,
      s3Endpoint: stores.s3Endpoint,
      seed,
      async stop() {
        await running.close();
        await disposeServices();
        await stores.close();
      },
    };
  } catch (error) {
    await gateway?.close();
    await disposeServices();
    await stores.close();
    throw error;
  }
}
