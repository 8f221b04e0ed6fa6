import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNames, loadConfig } from '../../functions/config.js';
import { disposeServices, getServices, setServicesOverrides, type ServicesOverrides } from '../../functions/services.js';
import { signer } from '../../functions/services/access.js';
import { tables } from '../tables.js';
import { createDashboardFiles } from './dashboard-files.js';
import { LocalGateway } from './gateway.js';
import { loadHandlers } from './handlers.js';
import { readPackageDir, seedLocal, localTableName, type SeedResult } from './seed.js';
import { x as extractTar } from 'tar';
import type { ModelManifest } from '../../functions/core/manifest.js';
import { alertStream, replayGroupOf } from './alert-stream.js';
import { SnsSink } from './sns-sink.js';
import { FaultProxy } from './fault-proxy.js';
import { startEmbeddedStores } from './stores.js';
import { prepareDataDir } from './data-dir.js';
import type { StoreCredentials } from './sigv4-gate.mjs';
import { ensureStoreCredentials } from './store-credentials.js';
import { LocalSchedules, type ScheduleTimer } from './schedules.js';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface LocalTwinOptions {
  /**
   * Where DynamoDB, S3, the signing key and the store credentials live; survives restarts. Created 0700;
   * refused when other users can reach it or when it lies inside the working directory (./data-dir.ts).
   */
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
  /**
   * The built dashboard (`npm run build:dashboard`), served at `/`, `/assets/*` and `/config.json`; `false`
   * serves no dashboard.
   * @default <repo>/dashboard/dist
   */
  dashboardDir?: string | false;
  /** Where the local SNS sink also forwards each alert (POST, JSON). */
  alertWebhookUrl?: string;
  /** Puts switchable fault proxies in front of DynamoDB and S3 (tests only). @default false */
  faults?: boolean;
  /**
   * Edge mode: serve these model packages (each a directory with manifest.json and model.onnx, or a .tgz of
   * one) from local disk, with no S3 at all. Every digest must verify or the twin refuses to start.
   */
  edgeModel?: string | string[];
  /**
   * The model the chapter's routes serve (TWIN_DEFAULT_MODEL).
   * @default reactor-yield; in edge mode the first package's model
   */
  defaultModel?: string;
  /** Per-plant defaults replacing it (TWIN_PLANT_DEFAULT_MODELS), e.g. `{"plant-b":"column-purity"}`. */
  plantDefaultModels?: Record<string, string>;
  /** Serve HTTPS (TLS 1.2 at least) with this PEM certificate and key. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Allow plain HTTP on an address other than loopback (not recommended: use `tls`). @default false */
  allowInsecureHttp?: boolean;
  /**
   * The URL clients use (behind a proxy, or a box's DNS name): the token issuer and discovery base.
   * @default the listen address
   */
  publicUrl?: string;
  /** Behind a reverse proxy: client addresses from X-Forwarded-For. @default false */
  trustProxy?: boolean;
  /**
   * Run functions/routes.ts `schedules` (the quality evaluation) on timers, as EventBridge does in AWS. `npm start`
   * turns them on; off unless given, so tests run them only when they ask (with their own timer and clock).
   * @default off
   */
  schedules?: { timer?: ScheduleTimer; now?: () => number; log?: (line: Record<string, unknown>) => void };
  /** The clock alerts (cooldowns, the cap's windows), model quality and the rate windows read (tests). @default Date.now */
  clock?: () => number;
  /** The handlers' DynamoDB retry strategy (tests: the SDK's own, without the wait). @default the SDK's standard strategy */
  dynamoDbRetryStrategy?: ServicesOverrides['dynamoDbRetryStrategy'];
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Fault switches for tests: `twin.faults.s3.mode = { kind: 'down' }`; SNS: `twin.sns.failing = true`. */
export interface LocalTwinFaults {
  dynamodb: FaultProxy;
  s3: FaultProxy;
}

export interface LocalTwin {
  /** The base URL clients use and tokens name (the public URL when one is set). */
  url: string;
  /** Where the gateway listens. */
  listenUrl: string;
  dataDir: string;
  /** The SigV4 gate in front of the embedded DynamoDB (requests must be signed with {@link storeCredentials}). */
  dynamodbEndpoint: string;
  /** The gate in front of the embedded S3; absent in edge mode. */
  s3Endpoint: string | undefined;
  /** The stores' credentials (`<dataDir>/store-credentials.json`), for tests that read the stores directly. */
  storeCredentials: StoreCredentials;
  seed: SeedResult;
  /** The local SNS endpoint: alerts land in `<dataDir>/alerts.jsonl`. */
  sns: SnsSink;
  /** Present when started with `faults: true`. */
  faults?: LocalTwinFaults;
  /** Every process the local twin runs: this one, then the embedded stores' (infra/local/stores.ts). */
  pids: number[];
  /** The timers of functions/routes.ts `schedules`, when started with `schedules`. */
  schedules?: LocalSchedules;
  /** Requests the stores' gates have let through so far, per store (asked of the stores' process). */
  storeRequests(): Promise<{ dynamodb: number; s3: number }>;
  stop(): Promise<void>;
}

export const localAudience = 'twinserve-local';
export const defaultDashboardDir = join(repoRoot, 'dashboard', 'dist');
export const localBucket = 'twinserve-models';

/**
 * Starts the whole local twin in this process: embedded DynamoDB and S3 on loopback, first-start seeding,
 * and the gateway in front of the Lambda handlers. The handlers read their configuration from process.env
 * exactly as in Lambda, so one local twin runs per process.
 */
export async function startLocalTwin(options: LocalTwinOptions): Promise<LocalTwin> {
  const dataDir = resolve(options.dataDir);
  const host = options.host ?? '127.0.0.1';
  if (!options.tls && !isLoopback(host) && !options.allowInsecureHttp) {
    throw new Error(`Refusing plain HTTP on ${host}: give a TLS certificate and key, or allow insecure HTTP explicitly`);
  }
  await prepareDataDir(dataDir);
  // Edge: the package is unpacked and verified before anything starts; a bad one stops the start.
  const edgePaths = options.edgeModel === undefined ? [] : [options.edgeModel].flat();
  const edgePackages: { dir: string; manifest: ModelManifest }[] = [];
  for (const [i, path] of edgePaths.entries()) edgePackages.push(await prepareEdgePackage(path, dataDir, i));
  const names = edgePackages.map((p) => p.manifest.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`Two edge packages of model ${twice}: give one version per model`);
  const edgePackage = edgePackages[0];
  const storeCredentials = await ensureStoreCredentials(dataDir);
  // The stores start in their own process while this one loads the handlers (they read no environment
  // when they load: functions/config.ts is parsed on first use).
  const handlersLoading = loadHandlers();
  handlersLoading.catch(() => undefined);
  const stores = await startEmbeddedStores(dataDir, storeCredentials, edgePackage ? { s3: false } : {});
  const sns = new SnsSink(join(dataDir, 'alerts.jsonl'), options.alertWebhookUrl, replayGroupOf);
  let gateway: LocalGateway | undefined;
  const faults = options.faults
    ? { dynamodb: new FaultProxy(stores.dynamodbEndpoint), s3: new FaultProxy(stores.s3Endpoint ?? 'http://127.0.0.1:9') }
    : undefined;
  const closeFaults = async () => {
    await faults?.dynamodb.close();
    await faults?.s3.close();
  };
  try {
    const snsEndpoint = await sns.listen();
    const dynamodbEndpoint = faults ? await faults.dynamodb.listen() : stores.dynamodbEndpoint;
    const s3Endpoint = faults && stores.s3Endpoint ? await faults.s3.listen() : stores.s3Endpoint;
    // A previous twin in this process may have left the other mode's variables behind.
    for (const name of ['AWS_ENDPOINT_URL_S3', envNames.modelBucket, envNames.modelDir, envNames.defaultModel, envNames.plantDefaultModels]) delete process.env[name];
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      // The machines run Node 20; Lambda runs Node 22, where the SDK has nothing to warn about.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // EMF metrics are for CloudWatch; locally they would only repeat the log lines (TWIN_METRICS=on keeps them).
      POWERTOOLS_METRICS_DISABLED: process.env.TWIN_METRICS === 'on' ? 'false' : 'true',
      POWERTOOLS_METRICS_NAMESPACE: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Twinserve/local',
      // The stores' gates admit only requests signed with these (generated into the data dir). Nothing here reaches AWS.
      AWS_ACCESS_KEY_ID: storeCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: storeCredentials.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
      ...(s3Endpoint ? { AWS_ENDPOINT_URL_S3: s3Endpoint, [envNames.modelBucket]: localBucket } : { [envNames.modelDir]: join(dataDir, 'models') }),
      ...(options.defaultModel || edgePackage ? { [envNames.defaultModel]: options.defaultModel ?? edgePackage!.manifest.name } : {}),
      ...(options.plantDefaultModels ? { [envNames.plantDefaultModels]: JSON.stringify(options.plantDefaultModels) } : {}),
      AWS_ENDPOINT_URL_SNS: snsEndpoint,
      [envNames.alertsTopicArn]: 'arn:aws:sns:us-east-1:000000000000:twinserve-local-alerts',
      // Without these, s3rver stores streamed uploads as raw aws-chunked bytes.
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      [envNames.audience]: localAudience,
      [envNames.signingKeyFile]: join(dataDir, 'signing-keys.json'),
      [envNames.s3ForcePathStyle]: 'true',
      [envNames.environment]: edgePackage ? 'edge' : 'local',
      // One long-lived process serves every request: audit records and served rows share their BatchWriteItems.
      [envNames.sharedBatchWrites]: 'true',
      // ...and takes every principal's rate limit: it may count takes ahead (exact near the limit).
      [envNames.rateReserveAhead]: '64',
      ...Object.fromEntries(tables.map((t) => [t.env, localTableName(t)])),
      ...options.env,
    });
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_SESSION_TOKEN;
    setServicesOverrides({
      ...(options.clock ? { now: options.clock } : {}),
      ...(options.dynamoDbRetryStrategy ? { dynamoDbRetryStrategy: options.dynamoDbRetryStrategy } : {}),
    });
    let issuer = '';
    const dashboard = options.dashboardDir === false ? undefined : createDashboardFiles({ dir: options.dashboardDir ?? defaultDashboardDir });
    const stream = alertStream({
      sns,
      authorize: (token, scopes) => gateway!.authorizeToken(token, scopes),
      clientAddress: (req) => gateway!.clientAddress(req),
      services: getServices,
    });
    gateway = new LocalGateway({
      handlers: await handlersLoading,
      issuer: () => issuer,
      audience: localAudience,
      port: options.port ?? 3000,
      host,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.trustProxy ? { trustProxy: true } : {}),
      // Lambda's 6 MB payloads bind the cloud and the local twin alike; an edge box is one long-lived process.
      lambdaPayloadLimits: !edgePackage,
      // Over TLS or behind a public URL the authorizer takes the keys in-process (see GatewayOptions.keys).
      ...(options.tls || options.publicUrl ? { keys: () => getServices().get(signer).jwks() } : {}),
      ...(options.accessLog ? { accessLog: options.accessLog } : {}),
      fallback: (req, res) => stream(req, res) || (dashboard?.(req, res) ?? false),
      // Nothing is served until the seed is done: a start may rebuild a table of an older data dir (./seed.ts).
      startClosed: true,
    });
    const listenUrl = await gateway.listen();
    const url = options.publicUrl?.replace(/\/+$/, '') ?? listenUrl;
    issuer = url;
    process.env[envNames.issuer] = url;
    const seed = await seedLocal(loadConfig(), {
      dataDir,
      ...(edgePackage ? { edgePackageDirs: edgePackages.map((p) => p.dir) } : { modelsDir: options.modelsDir ?? join(repoRoot, 'models') }),
      ...(options.adminPassword ? { adminPassword: options.adminPassword } : {}),
    });
    const running = gateway;
    running.open();
    // After seeding: a run finds the tables and models in place.
    const schedules = options.schedules ? new LocalSchedules(await handlersLoading, options.schedules) : undefined;
    schedules?.start();
    return {
      url,
      listenUrl,
      dataDir,
      dynamodbEndpoint: stores.dynamodbEndpoint,
      s3Endpoint: stores.s3Endpoint,
      storeCredentials,
      seed,
      sns,
      ...(faults ? { faults } : {}),
      pids: [process.pid, stores.pid],
      ...(schedules ? { schedules } : {}),
      storeRequests: stores.storeRequests,
      async stop() {
        await schedules?.stop();
        await running.close();
        await disposeServices();
        setServicesOverrides();
        await sns.close();
        await closeFaults();
        await stores.close();
      },
    };
  } catch (error) {
    await gateway?.close();
    await disposeServices();
    setServicesOverrides();
    await sns.close();
    await closeFaults();
    await stores.close();
    throw error;
  }
}

/**
 * Unpacks a `.tgz` package into the data dir (or takes a directory as it is) and verifies it: manifest
 * schema and model.onnx digest. The archive may hold the two files at its root or in one folder.
 */
async function prepareEdgePackage(path: string, dataDir: string, index: number): Promise<{ dir: string; manifest: ModelManifest }> {
  const source = resolve(path);
  let dir = source;
  if (/\.(tgz|tar\.gz)$/i.test(source)) {
    dir = join(dataDir, 'incoming', `${Date.now()}-${index}`);
    await mkdir(dir, { recursive: true });
    // Only plain files and folders, nothing outside `dir` (tar strips absolute paths and `..` itself).
    await extractTar({ file: source, cwd: dir, filter: (_p, entry) => 'type' in entry && (entry.type === 'File' || entry.type === 'Directory') });
    if (!(await stat(join(dir, 'manifest.json')).catch(() => undefined))) {
      const [only] = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory());
      if (only) dir = join(dir, only.name);
    }
  }
  const { manifest } = await readPackageDir(dir);
  return { dir, manifest };
}
