import { BatchWriteCommand, GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditUnprocessedError, DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log.js';
import { DynamoDbStatsStore } from '../../functions/adapters/dynamodb-stats-store.js';
import type { AuditRecord, VariantSample } from '../../functions/core/ports.js';
import { localTableName } from '../../infra/local/seed.js';
import { recording, startMemoryDynamo, type Command, type MemoryDynamo, type Send } from '../support/dynalite.js';
import { tableDef } from '../support/reliability.js';

/**
 * Group commit of audit records and stats samples (functions/adapters/group-commit.ts): concurrent writes in
 * ONE adapter instance (as in the local twin) share DynamoDB calls, and still each caller is answered only
 * after its own item is stored; a failed call fails exactly the callers whose items it carried. Against
 * dynalite in memory, through a document client that records (and can fail or trim) each command.
 */

const auditTable = localTableName(tableDef('AuditLog'));
const statsTable = localTableName(tableDef('Stats'));
const baseTime = Date.parse('2027-03-01T10:00:00.000Z');

let dynamo: MemoryDynamo;
let db: DynamoDBDocumentClient;

/** A document client whose sends go through `around` (default: straight to dynalite), each command recorded. */
const recordingOf = (around?: (command: Command, send: Send) => Promise<unknown>) => recording(db, around);

function record(principal: string, i: number): AuditRecord {
  return {
    time: new Date(baseTime + i).toISOString(),
    requestId: `req-${i}`,
    principal,
    principalType: 'user',
    role: 'operator',
    action: 'twin.predict',
    method: 'POST',
    resource: '/api/v1/twin/predict',
    outcome: 200,
  };
}

async function stored(r: AuditRecord): Promise<boolean> {
  const { Item } = await db.send(new GetCommand({ TableName: auditTable, Key: { principal: r.principal, sk: `${r.time}#${r.requestId}` }, ConsistentRead: true }));
  return Item !== undefined;
}

/** The principals (record ids) a BatchWriteCommand carried. */
function carried(command: Command): string[] {
  const input = (command as unknown as BatchWriteCommand).input;
  return (input.RequestItems?.[auditTable] ?? []).map((r) => String(r.PutRequest?.Item?.requestId));
}

const log = (client: DynamoDBDocumentClient, extra: Partial<ConstructorParameters<typeof DynamoDbAuditLog>[2]> = {}) =>
  new DynamoDbAuditLog(client, auditTable, { retentionDays: 90, sleep: async () => {}, ...extra });

beforeAll(async () => {
  dynamo = await startMemoryDynamo(['AuditLog', 'Stats']);
  db = dynamo.db;
});

afterAll(() => dynamo?.stop());

describe('audit log group commit', () => {
  it('one request at a time (as in Lambda): one conditional PutItem each, never a batch', async () => {
    // Prepare
    const rec = recordingOf();
    const audit = log(rec.client);

    // Act
    for (let i = 0; i < 5; i++) await audit.append(record('lambda-like', i));

    // Assess
    expect(rec.names()).toEqual(Array(5).fill('PutCommand'));
    for (let i = 0; i < 5; i++) expect(await stored(record('lambda-like', i))).toBe(true);
  });

  it('80 concurrent records: each stored once, at most 25 per BatchWriteItem, far fewer calls than records', async () => {
    // Prepare
    const rec = recordingOf();
    const audit = log(rec.client);
    const records = Array.from({ length: 80 }, (_, i) => record('burst', i));

    // Act
    await Promise.all(records.map((r) => audit.append(r)));

    // Assess
    const batches = rec.sent.filter((c) => c instanceof BatchWriteCommand);
    expect(batches.length).toBeGreaterThan(0);
    for (const b of batches) expect(carried(b).length).toBeLessThanOrEqual(25);
    expect(rec.sent.length).toBeLessThan(10);
    const written = rec.sent.flatMap((c) => (c instanceof BatchWriteCommand ? carried(c) : [String((c.input as { Item: AuditRecord }).Item.requestId)]));
    expect(written.sort()).toEqual(records.map((r) => r.requestId).sort());
    for (const r of records) expect(await stored(r)).toBe(true);
  });

  it('durable before the answer: when a caller’s append resolves, its record is already in the table', async () => {
    // Prepare
    const audit = log(recordingOf().client);
    const records = Array.from({ length: 40 }, (_, i) => record('durable', i));

    // Act: check each record the moment its own promise resolves.
    const seen = await Promise.all(records.map((r) => audit.append(r).then(() => stored(r))));

    // Assess
    expect(seen).toEqual(Array(40).fill(true));
  });

  it('a failed BatchWriteItem fails exactly the records it carried; the others are stored and resolve', async () => {
    // Prepare: the batch that carries req-30 fails.
    const rec = recordingOf((command, send) => (command instanceof BatchWriteCommand && carried(command).includes('req-30') ? Promise.reject(new Error('batch lost')) : send(command)));
    const audit = log(rec.client);
    const records = Array.from({ length: 60 }, (_, i) => record('partial-failure', i));

    // Act
    const results = await Promise.allSettled(records.map((r) => audit.append(r)));

    // Assess
    const failedBatch = new Set(carried(rec.sent.find((c) => c instanceof BatchWriteCommand && carried(c).includes('req-30'))!));
    expect(failedBatch.size).toBeGreaterThan(1);
    expect(failedBatch.size).toBeLessThan(60);
    for (const [i, result] of results.entries()) {
      const id = `req-${i}`;
      expect(result.status).toBe(failedBatch.has(id) ? 'rejected' : 'fulfilled');
      expect(await stored(records[i]!)).toBe(!failedBatch.has(id));
    }
  });

  it('UnprocessedItems are re-sent with backoff until stored; every caller resolves', async () => {
    // Prepare: a batch carrying req-20 stores only its first half and hands the rest back, twice, then takes all.
    const delays: number[] = [];
    let trims = 0;
    const rec = recordingOf(async (command, send) => {
      if (!(command instanceof BatchWriteCommand) || !carried(command).includes('req-20') || trims >= 2) return send(command);
      trims++;
      const requests = (command as unknown as BatchWriteCommand).input.RequestItems![auditTable]!;
      const half = Math.ceil(requests.length / 2);
      await send(new (BatchWriteCommand as unknown as new (input: unknown) => Command)({ RequestItems: { [auditTable]: requests.slice(0, half) } }));
      return { UnprocessedItems: { [auditTable]: requests.slice(half) } };
    });
    const audit = log(rec.client, { sleep: async (ms) => void delays.push(ms) });
    const records = Array.from({ length: 30 }, (_, i) => record('unprocessed', i));

    // Act
    const results = await Promise.allSettled(records.map((r) => audit.append(r)));

    // Assess
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(trims).toBe(2);
    expect(delays).toEqual([10, 40]);
    for (const r of records) expect(await stored(r)).toBe(true);
  });

  it('items still unprocessed after every retry fail (AuditUnprocessedError), exactly those', async () => {
    // Prepare: DynamoDB never takes req-7; everything else is written.
    const rec = recordingOf(async (command, send) => {
      if (!(command instanceof BatchWriteCommand)) return send(command);
      const requests = (command as unknown as BatchWriteCommand).input.RequestItems![auditTable]!;
      const keep = requests.filter((r) => r.PutRequest?.Item?.requestId !== 'req-7');
      if (keep.length > 0) await send(new (BatchWriteCommand as unknown as new (input: unknown) => Command)({ RequestItems: { [auditTable]: keep } }));
      const refused = requests.filter((r) => r.PutRequest?.Item?.requestId === 'req-7');
      return { UnprocessedItems: refused.length ? { [auditTable]: refused } : {} };
    });
    const audit = log(rec.client, { retryDelaysMs: [1, 2, 3] });
    const records = Array.from({ length: 20 }, (_, i) => record('never', i));

    // Act
    const results = await Promise.allSettled(records.map((r) => audit.append(r)));

    // Assess
    for (const [i, result] of results.entries()) {
      if (i === 7) expect(result).toMatchObject({ status: 'rejected', reason: expect.any(AuditUnprocessedError) });
      else expect(result.status).toBe('fulfilled');
    }
    expect(await stored(records[7]!)).toBe(false);
    const req7Sends = rec.sent.filter((c) => c instanceof BatchWriteCommand && carried(c).includes('req-7'));
    expect(req7Sends).toHaveLength(4);
  });

  it('the same record twice in one group is written in separate batches (a batch may not repeat a key)', async () => {
    // Prepare
    const rec = recordingOf();
    const audit = log(rec.client);
    const first = record('twice', 0);
    const others = Array.from({ length: 10 }, (_, i) => record('twice', i + 1));

    // Act: the first goes alone; the rest, with a repeat of one of them, form one group.
    const results = await Promise.allSettled([audit.append(first), ...others.map((r) => audit.append(r)), audit.append(others[3]!)]);

    // Assess
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    for (const b of rec.sent.filter((c) => c instanceof BatchWriteCommand)) expect(new Set(carried(b)).size).toBe(carried(b).length);
  });
});

describe('stats store group commit', () => {
  const sample = (over: Partial<VariantSample> = {}): VariantSample => ({ requests: 1, errors: 0, rows: 1, predictionSum: 0.1, latencyMs: 3, cacheHits: 0, alerts: 0, ...over });

  it('200 concurrent samples into one store: exact sums (0.1 × 200 = 20), few ADDs', async () => {
    // Prepare
    const rec = recordingOf();
    const stats = new DynamoDbStatsStore(rec.client, statsTable);
    const samples = Array.from({ length: 200 }, (_, i) => sample({ rows: i % 3, cacheHits: i % 2, alerts: i % 10 === 0 ? 1 : 0, latencyMs: [0.01, 0.7, 7, 2000][i % 4]! }));

    // Act
    await Promise.all(samples.map((s) => stats.record('gc-model', '1.0.0', s)));

    // Assess
    const [counters] = await stats.read('gc-model');
    expect(counters).toMatchObject({ requests: 200, rows: samples.reduce((n, s) => n + s.rows, 0), predictionSum: 20, cacheHits: 100, alerts: 20, latencySumMs: 50 * (0.01 + 0.7 + 7 + 2000) });
    expect(counters!.latencyHistogram.reduce((a, b) => a + b, 0)).toBe(200);
    expect(counters!.latencyHistogram[0]).toBe(50);
    expect(counters!.latencyHistogram.at(-1)).toBe(50);
    expect(rec.sent.length).toBeLessThan(20);
  });

  it('durable before the answer: when a record resolves, a read counts it', async () => {
    // Prepare
    const stats = new DynamoDbStatsStore(recordingOf().client, statsTable);

    // Act
    const seen = await Promise.all(Array.from({ length: 30 }, () => stats.record('gc-durable', '1.0.0', sample()).then(async () => (await stats.read('gc-durable'))[0]!.requests)));

    // Assess: each caller saw at least its own sample, and all 30 arrived.
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
    expect((await stats.read('gc-durable'))[0]!.requests).toBe(30);
  });

  it('versions and shadow traffic are separate groups; a failed ADD fails exactly its group', async () => {
    // Prepare: ADDs to version 2.0.0 fail.
    const rec = recordingOf((command, send) => (JSON.stringify((command as { input: unknown }).input).includes('version#2.0.0') ? Promise.reject(new Error('down')) : send(command)));
    const stats = new DynamoDbStatsStore(rec.client, statsTable);

    // Act
    const results = await Promise.allSettled([
      ...Array.from({ length: 10 }, () => stats.record('gc-split', '1.0.0', sample())),
      ...Array.from({ length: 10 }, () => stats.record('gc-split', '2.0.0', sample())),
      ...Array.from({ length: 10 }, () => stats.record('gc-split', '2.0.0', sample({ shadow: true }))),
    ]);

    // Assess
    expect(results.map((r) => r.status)).toEqual([...Array(10).fill('fulfilled'), ...Array(10).fill('rejected'), ...Array(10).fill('fulfilled')]);
    const read = Object.fromEntries((await stats.read('gc-split')).map((c) => [`${c.shadow ? 'shadow' : 'version'}#${c.version}`, c.requests]));
    expect(read).toEqual({ 'version#1.0.0': 10, 'shadow#2.0.0': 10 });
  });

  it('a sample that is not a finite number fails alone; the samples beside it are counted', async () => {
    // Prepare
    const stats = new DynamoDbStatsStore(recordingOf().client, statsTable);

    // Act
    const results = await Promise.allSettled([stats.record('gc-nan', '1.0.0', sample()), stats.record('gc-nan', '1.0.0', sample()), stats.record('gc-nan', '1.0.0', sample({ predictionSum: Number.NaN })), stats.record('gc-nan', '1.0.0', sample())]);

    // Assess
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((await stats.read('gc-nan'))[0]!.requests).toBe(3);
  });
});
