import { BatchWriteCommand, GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchWriter } from '../../functions/adapters/batch-put.js';
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log.js';
import { DynamoDbPredictionLog } from '../../functions/adapters/dynamodb-prediction-log.js';
import type { AuditRecord } from '../../functions/core/ports.js';
import type { StoredPrediction } from '../../functions/core/quality/ports.js';
import { localTableName } from '../../infra/local/seed.js';
import { recording, startMemoryDynamo, type Command, type MemoryDynamo } from '../support/dynalite.js';
import { tableDef } from '../support/reliability.js';

/**
 * The audit log and the served-rows log on ONE shared writer (functions/adapters/batch-put.ts), as a process
 * serving many requests builds them (functions/services.ts, TWIN_SHARED_BATCH_WRITES): a request's audit record
 * and its served rows, appended in the same turn, go in one BatchWriteItem; alone, each store still writes its
 * single PutItem. Against dynalite in memory, every command recorded.
 */

const auditTable = localTableName(tableDef('AuditLog'));
const predictionsTable = localTableName(tableDef('Predictions'));
const baseTime = Date.parse('2027-03-01T10:00:00.000Z');

let dynamo: MemoryDynamo;
let db: DynamoDBDocumentClient;

function record(requestId: string, i: number): AuditRecord {
  return {
    time: new Date(baseTime + i).toISOString(),
    requestId,
    principal: 'user:alice',
    principalType: 'user',
    role: 'operator',
    action: 'twin.predict',
    method: 'POST',
    resource: '/api/v1/twin/predict',
    outcome: 200,
  };
}

function served(requestId: string, i: number): StoredPrediction[] {
  return [
    {
      requestId,
      row: 0,
      model: 'reactor-yield',
      version: '1.0.0',
      principal: 'user:alice',
      time: new Date(baseTime + i).toISOString(),
      inputs: { temperature: 350, pressure: 5.5, flow_rate: 120 },
      prediction: 90,
      interval: [88, 92],
      level: 0.9,
      ttl: Math.floor(baseTime / 1000) + 86_400,
    },
  ];
}

async function stored(table: string, key: Record<string, string>): Promise<boolean> {
  return (await db.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item !== undefined;
}

/** The tables, and each table's item count, of a recorded BatchWriteCommand. */
function tablesOf(command: Command): Record<string, number> {
  const input = (command as unknown as BatchWriteCommand).input;
  return Object.fromEntries(Object.entries(input.RequestItems ?? {}).map(([table, requests]) => [table, requests.length]));
}

/** Both stores on one recording client; `shared` gives them one writer. */
function stores(shared: boolean) {
  const rec = recording(db);
  const writer = shared ? new BatchWriter(rec.client) : undefined;
  const audit = new DynamoDbAuditLog(rec.client, auditTable, { retentionDays: 90, ...(writer ? { writer } : {}) });
  const log = new DynamoDbPredictionLog(rec.client, predictionsTable, writer ? { writer } : {});
  return { rec, audit, log };
}

beforeAll(async () => {
  dynamo = await startMemoryDynamo(['AuditLog', 'Predictions']);
  db = dynamo.db;
});

afterAll(() => dynamo?.stop());

describe('audit log and served rows on one writer', () => {
  it('a request\'s served rows and audit record in the same turn: ONE BatchWriteItem over both tables, both stored', async () => {
    // Prepare
    const { rec, audit, log } = stores(true);

    // Act
    await Promise.all([log.record(served('req-one', 1)), audit.append(record('req-one', 1))]);

    // Assess
    expect(rec.names()).toEqual(['BatchWriteCommand']);
    expect(tablesOf(rec.sent[0]!)).toEqual({ [predictionsTable]: 1, [auditTable]: 1 });
    expect(await stored(auditTable, { principal: 'user:alice', sk: `${record('req-one', 1).time}#req-one` })).toBe(true);
    expect(await stored(predictionsTable, { id: 'req-one' })).toBe(true);
  });

  it('not shared (as in Lambda): each store writes its own single PutItem, never a batch', async () => {
    // Prepare
    const { rec, audit, log } = stores(false);

    // Act
    await Promise.all([log.record(served('req-two', 2)), audit.append(record('req-two', 2))]);

    // Assess
    expect(rec.names().sort()).toEqual(['PutCommand', 'PutCommand']);
    expect(await stored(predictionsTable, { id: 'req-two' })).toBe(true);
  });

  it('20 concurrent requests (40 items): every item stored once, ≤ 25 per call, far fewer calls than items', async () => {
    // Prepare
    const { rec, audit, log } = stores(true);
    const ids = Array.from({ length: 20 }, (_, i) => `req-burst-${i}`);

    // Act
    await Promise.all(ids.flatMap((id, i) => [log.record(served(id, 100 + i)), audit.append(record(id, 100 + i))]));

    // Assess
    const counts = rec.sent.map((c) => Object.values(tablesOf(c)).reduce((a, b) => a + b, 0));
    expect(rec.names().every((n) => n === 'BatchWriteCommand')).toBe(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(40);
    expect(Math.max(...counts)).toBeLessThanOrEqual(25);
    expect(rec.sent.length).toBeLessThanOrEqual(4);
    for (const [i, id] of ids.entries()) {
      expect(await stored(predictionsTable, { id })).toBe(true);
      expect(await stored(auditTable, { principal: 'user:alice', sk: `${record(id, 100 + i).time}#${id}` })).toBe(true);
    }
  });
});

describe('an item DynamoDB refuses', () => {
  it("fails only its own put: the other requests' audit records and served rows in the same BatchWriteItem are stored", async () => {
    // Prepare: one request's served rows hold a number DynamoDB refuses (magnitude below 1e-130): their level,
    // a number attribute (the rows' own numbers are binary doubles, which DynamoDB never refuses).
    const { audit, log } = stores(true);
    const bad = served('req-tiny', 300).map((r) => ({ ...r, level: 1e-300 }));

    // Act
    const settled = await Promise.allSettled([log.record(bad), audit.append(record('req-tiny', 300)), log.record(served('req-other', 301)), audit.append(record('req-other', 301))]);

    // Assess: the refused item alone failed; the three others are stored.
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(await stored(predictionsTable, { id: 'req-other' })).toBe(true);
    expect(await stored(auditTable, { principal: 'user:alice', sk: `${record('req-other', 301).time}#req-other` })).toBe(true);
    expect(await stored(auditTable, { principal: 'user:alice', sk: `${record('req-tiny', 300).time}#req-tiny` })).toBe(true);
    expect(await stored(predictionsTable, { id: 'req-tiny' })).toBe(false);
  });
});
