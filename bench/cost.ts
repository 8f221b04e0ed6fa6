import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@smithy/core/client';
import { itemBytes } from '../functions/adapters/item-size.js';
import { envNames } from '../functions/config.js';
import { functionDefs } from '../infra/functions.js';
import { tables } from '../infra/tables.js';
import { localTableName } from '../infra/local/seed.js';
import { adminClaims, coldStartResultPrefix as resultPrefix, httpEvent, lambdaContext, type Handler } from './event.js';
import { readReferencePackage, rowSource } from './fixtures.js';
import { percentiles } from './stats.js';

/**
 * The cost stage: what one request of a route costs in AWS, from the calls its handler ACTUALLY sends. The
 * handlers run in this process as Lambda runs them (one invocation at a time, API Gateway v2 events) against
 * the embedded stores; every AWS SDK command any client sends is recorded (a wrapper around the SDK's
 * `Client.prototype.send`, so nothing is counted by hand), with its input and output. From those:
 *
 * - DynamoDB request units as on-demand bills them: a write of an item is ceil(size / 1 KB) WRU, plus the
 *   same for each global secondary index whose keys the item carries; an UpdateItem is 1 WRU (every item the
 *   functions update is far below 1 KB; the stage checks the stats shard, the largest); a read is
 *   ceil(size / 4 KB) RRU, halved unless strongly consistent (GetItem/Query on the bytes returned).
 * - S3 GET-class and PUT/LIST-class requests; SNS publishes.
 * - KMS: locally tokens are signed with a key file; in AWS the signer is KMS (kms-token-signer.ts), one
 *   `Sign` per signature, so the stage counts the signer's `sign` calls as KMS Sign requests.
 * - Lambda: one request, and GB-s at the function's configured memory (infra/functions.ts) × the measured
 *   duration of the invocation rounded up to 1 ms (Lambda's billing unit). Locally each DynamoDB call is a
 *   loopback round trip; in AWS it is a network one, so the measured duration is a lower bound.
 * - API Gateway HTTP API: one request (each ≤ 512 KB).
 * - CloudWatch Logs: the bytes the function writes to stdout (its log line and EMF metrics, metrics ON
 *   here), plus Lambda's own START/END/REPORT lines (~260 bytes).
 *
 * Runs as `node --import tsx bench/cost.ts` with the serving process's environment; prints a BENCH_RESULT line.
 */

/** List prices, us-east-1, on-demand, as published on the AWS pricing pages on 2026-12-03 (USD). */
export const prices = {
  region: 'us-east-1',
  date: '2026-12-03',
  apiGatewayHttpPerMillion: 1.0,
  lambdaRequestPerMillion: 0.2,
  lambdaGbSecondX86: 0.0000166667,
  dynamoWriteUnitPerMillion: 0.625,
  dynamoReadUnitPerMillion: 0.125,
  s3GetPerThousand: 0.0004,
  s3PutListPerThousand: 0.005,
  kmsPerTenThousand: 0.03,
  snsPublishPerMillion: 0.5,
  cloudWatchLogsIngestPerGb: 0.5,
} as const;

const lambdaReportLineBytes = 260;

interface Call {
  service: string;
  command: string;
  input: Record<string, unknown>;
  output: Record<string, unknown> | undefined;
}

export interface RouteCost {
  route: string;
  invocations: number;
  non200: number;
  /** SDK commands per invocation (mean), by `service:command`. */
  calls: Record<string, number>;
  /** Per invocation. */
  dynamoWriteUnits: number;
  dynamoIndexWriteUnits: number;
  /** Of which the audit log's `byDay` index. */
  auditIndexWriteUnits: number;
  dynamoReadUnits: number;
  s3Get: number;
  s3PutList: number;
  kmsRequests: number;
  snsPublishes: number;
  durationMs: number;
  memoryMb: number;
  logBytes: number;
  /** USD per million invocations, by component, and the total. */
  usdPerMillion: Record<string, number>;
  totalUsdPerMillion: number;
  /** The same route priced with levers not taken (docs/performance.md, "Cost"): what each would save. */
  whatIf: Record<string, number>;
}

export interface CostResult {
  prices: typeof prices;
  routes: RouteCost[];
  /** The largest stats shard item (bytes): an UpdateItem on it is 1 WRU while this is under 1,024. */
  largestUpdatedItemBytes: number;
}

/**
 * DynamoDB's item size (functions/adapters/item-size.ts, the count the adapters' size checks use), of an item as
 * the document client sends it or as the low-level client does ({S}, {N}, {B}...: converted first).
 */
function sizeOf(item: Record<string, unknown>): number {
  const types = new Set(['S', 'N', 'B', 'BOOL', 'NULL', 'M', 'L', 'SS', 'NS', 'BS']);
  const low = Object.values(item).every((v) => v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && Object.keys(v).length === 1 && types.has(Object.keys(v)[0]!));
  return itemBytes(low ? (Object.fromEntries(Object.entries(item).map(([k, v]) => [k, native(v as Record<string, unknown>)])) as Record<string, unknown>) : item);
}

function native(value: Record<string, unknown>): unknown {
  const [type, v] = Object.entries(value)[0]!;
  if (type === 'N') return Number(v);
  if (type === 'NS') return new Set((v as string[]).map(Number));
  if (type === 'SS' || type === 'BS') return new Set(v as unknown[]);
  if (type === 'NULL') return null;
  if (type === 'L') return (v as Record<string, unknown>[]).map(native);
  if (type === 'M') return Object.fromEntries(Object.entries(v as Record<string, Record<string, unknown>>).map(([k, x]) => [k, native(x)]));
  return v;
}

const tableByName = new Map(tables.map((t) => [localTableName(t), t]));

/** Write units of the index entries a put adds: the item's size for an index projecting everything, 1 for keys only or a few small attributes. */
function indexWrites(tableName: string, item: Record<string, unknown>, itemUnits: number): number {
  return (tableByName.get(tableName)?.globalIndexes ?? [])
    .filter((i) => item[i.partitionKey] !== undefined && (!i.sortKey || item[i.sortKey] !== undefined))
    .reduce((n, i) => n + (i.keysOnly || i.include ? 1 : itemUnits), 0);
}

function units(calls: Call[]): { write: number; index: number; auditIndex: number; read: number } {
  let write = 0;
  let index = 0;
  let auditIndex = 0;
  let read = 0;
  const put = (table: string, item: Record<string, unknown>) => {
    const w = Math.ceil(sizeOf(item) / 1024);
    write += w;
    const i = indexWrites(table, item, w);
    index += i;
    if (tableByName.get(table)?.id === 'AuditLog') auditIndex += i;
  };
  const readOf = (items: Record<string, unknown>[], consistent: boolean) => {
    const r = Math.max(1, Math.ceil(items.reduce((n, i) => n + sizeOf(i), 0) / 4096));
    read += consistent ? r : r / 2;
  };
  for (const c of calls) {
    if (c.service !== 'DynamoDB') continue;
    const name = c.command.replace(/Command$/, '');
    const input = c.input;
    if (name === 'Put' || name === 'PutItem') put(String(input.TableName), input.Item as Record<string, unknown>);
    else if (name === 'Update' || name === 'UpdateItem') write += 1;
    else if (name === 'BatchWrite' || name === 'BatchWriteItem') {
      for (const [table, requests] of Object.entries(input.RequestItems as Record<string, { PutRequest?: { Item: Record<string, unknown> } }[]>)) {
        for (const r of requests) if (r.PutRequest) put(table, r.PutRequest.Item);
      }
    } else if (name === 'Get' || name === 'GetItem') readOf(c.output?.Item ? [c.output.Item as Record<string, unknown>] : [], input.ConsistentRead === true);
    else if (name === 'Query' || name === 'Scan') readOf((c.output?.Items ?? []) as Record<string, unknown>[], input.ConsistentRead === true);
  }
  return { write, index, auditIndex, read };
}

export async function runCostStage(options: { invocations: number }): Promise<CostResult> {
  const recorded: Call[] = [];
  const send = Client.prototype.send;
  // Every SDK client (DynamoDB, its document client, S3, KMS, SNS) sends through this one method.
  Client.prototype.send = async function (this: Client<never, never, never, never>, command: { input: Record<string, unknown>; constructor: { name: string } }, ...rest: unknown[]) {
    const call: Call = { service: String((this as unknown as { config: { serviceId?: string } }).config.serviceId ?? 'unknown'), command: command.constructor.name, input: command.input, output: undefined };
    recorded.push(call);
    const output = (await (send as (...a: unknown[]) => Promise<Record<string, unknown>>).call(this, command, ...rest)) as Record<string, unknown>;
    call.output = output;
    return output;
  } as typeof Client.prototype.send;

  // Log bytes: what the functions write to stdout (their log lines and EMF blobs).
  let logBytes = 0;
  const write = process.stdout.write.bind(process.stdout);
  const countingWrite = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    logBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    return true;
  }) as typeof process.stdout.write;

  const { getServices, disposeServices } = await import('../functions/services.js');
  const modules = {
    predict: (await import('../functions/predict.js')) as { handler: Handler },
    batch: (await import('../functions/batch.js')) as { handler: Handler },
    auth: (await import('../functions/auth.js')) as { handler: Handler },
  };
  const { signer: signerProvider } = await import('../functions/services/access.js');
  const signer = getServices().get(signerProvider);
  let signs = 0;
  const sign = signer.sign.bind(signer);
  signer.sign = (input) => {
    signs++;
    return sign(input);
  };
  const nextRow = rowSource(readReferencePackage().manifest, 7);
  const claims = adminClaims(process.env.TWIN_ISSUER ?? '', process.env.TWIN_AUDIENCE ?? '');
  const password = process.env.BENCH_ADMIN_PASSWORD ?? '';
  const routes: { route: string; fn: keyof typeof functionDefs; invoke: () => Promise<number> }[] = [
    {
      route: 'predict',
      fn: 'predict',
      invoke: async () => (await modules.predict.handler(httpEvent({ method: 'POST', path: '/api/v1/twin/predict', body: nextRow(), claims }), lambdaContext('predict'))).statusCode ?? 0,
    },
    {
      route: 'batch-100',
      fn: 'batch',
      invoke: async () =>
        (await modules.batch.handler(httpEvent({ method: 'POST', path: '/api/v1/twin/batch', body: { inputs: Array.from({ length: 100 }, nextRow) }, claims }), lambdaContext('batch')))
          .statusCode ?? 0,
    },
    {
      route: 'login',
      fn: 'auth',
      invoke: async () =>
        (await modules.auth.handler(httpEvent({ method: 'POST', path: '/api/v1/auth/login', body: { username: 'admin', password }, claims: {} }), lambdaContext('auth'))).statusCode ?? 0,
    },
  ];
  const result: RouteCost[] = [];
  try {
    for (const r of routes) {
      // Warm (the first invocation loads the model and fills the routing cache, as a warm container has).
      for (let i = 0; i < 3; i++) await r.invoke();
      recorded.length = 0;
      signs = 0;
      logBytes = 0;
      const durations: number[] = [];
      let non200 = 0;
      const n = r.route === 'login' ? Math.min(options.invocations, 8) : options.invocations;
      for (let i = 0; i < n; i++) {
        process.stdout.write = countingWrite;
        const t0 = performance.now();
        const status = await r.invoke();
        durations.push(performance.now() - t0);
        process.stdout.write = write;
        if (status !== 200) non200++;
      }
      const calls: Record<string, number> = {};
      for (const c of recorded) calls[`${c.service}:${c.command.replace(/Command$/, '')}`] = (calls[`${c.service}:${c.command.replace(/Command$/, '')}`] ?? 0) + 1 / n;
      const u = units(recorded);
      const count = (service: string, names: string[]) => recorded.filter((c) => c.service === service && names.includes(c.command.replace(/Command$/, ''))).length / n;
      const memoryMb = functionDefs[r.fn].memoryMb ?? 512;
      const billedMs = durations.map((d) => Math.ceil(d));
      const [durationMs] = percentiles(billedMs, [50]);
      const perInvocation = {
        dynamoWriteUnits: (u.write + u.index) / n,
        dynamoIndexWriteUnits: u.index / n,
        auditIndexWriteUnits: u.auditIndex / n,
        dynamoReadUnits: u.read / n,
        s3Get: count('S3', ['GetObject', 'HeadObject']),
        s3PutList: count('S3', ['PutObject', 'ListObjectsV2', 'CopyObject']),
        kmsRequests: signs / n + count('KMS', ['Sign', 'GetPublicKey']),
        snsPublishes: count('SNS', ['Publish']),
        logBytes: logBytes / n + lambdaReportLineBytes,
      };
      const usd: Record<string, number> = {
        apiGateway: prices.apiGatewayHttpPerMillion,
        lambdaRequests: prices.lambdaRequestPerMillion,
        lambdaCompute: (memoryMb / 1024) * (durationMs! / 1000) * prices.lambdaGbSecondX86 * 1e6,
        dynamoWrites: perInvocation.dynamoWriteUnits * prices.dynamoWriteUnitPerMillion,
        dynamoReads: perInvocation.dynamoReadUnits * prices.dynamoReadUnitPerMillion,
        s3: perInvocation.s3Get * prices.s3GetPerThousand * 1000 + perInvocation.s3PutList * prices.s3PutListPerThousand * 1000,
        kms: perInvocation.kmsRequests * prices.kmsPerTenThousand * 100,
        sns: perInvocation.snsPublishes * prices.snsPublishPerMillion,
        cloudWatchLogs: (perInvocation.logBytes * 1e6 * prices.cloudWatchLogsIngestPerGb) / 2 ** 30,
      };
      const total = Object.values(usd).reduce((a, b) => a + b, 0);
      const perWru = prices.dynamoWriteUnitPerMillion;
      const statsAdds = count('DynamoDB', ['UpdateItem']) + recorded.filter((c) => c.service === 'DynamoDB' && c.command === 'UpdateCommand' && String(c.input.TableName).includes('Stats')).length / n;
      const levers = {
        noStatsWrite: statsAdds * perWru,
        noAuditIndex: perInvocation.auditIndexWriteUnits * perWru,
        noApiGateway: usd.apiGateway!,
      };
      result.push({
        route: r.route,
        invocations: n,
        non200,
        calls,
        ...perInvocation,
        durationMs: durationMs!,
        memoryMb,
        usdPerMillion: usd,
        totalUsdPerMillion: total,
        whatIf: {
          'A/B stats from the EMF metrics (no Stats ADD)': total - levers.noStatsWrite,
          'audit keyed for both queries (no index write)': total - levers.noAuditIndex,
          'function URL, JWT checked in the function (no API Gateway)': total - levers.noApiGateway,
          'all three': total - levers.noStatsWrite - levers.noAuditIndex - levers.noApiGateway,
        },
      });
    }
    // The stats shard items are the largest the functions update; check they stay under 1 KB (1 WRU).
    const statsItems = await import('@aws-sdk/lib-dynamodb').then(async ({ QueryCommand, DynamoDBDocumentClient }) => {
      const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
      const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region: process.env.AWS_REGION ?? 'us-east-1' }));
      const out = await db.send(new QueryCommand({ TableName: process.env[envNames.statsTable] ?? '', KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `model#${readReferencePackage().manifest.name}` } }));
      db.destroy();
      return (out.Items ?? []) as Record<string, unknown>[];
    });
    return { prices, routes: result, largestUpdatedItemBytes: Math.max(0, ...statsItems.map(sizeOf)) };
  } finally {
    process.stdout.write = write;
    Client.prototype.send = send;
    await disposeServices();
  }
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const result = await runCostStage({ invocations: Number(process.env.BENCH_COST_INVOCATIONS ?? 50) });
  process.stdout.write(`${resultPrefix}${JSON.stringify(result)}\n`);
  process.exit(0);
}
