import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbPredictionLog } from '../../functions/adapters/dynamodb-prediction-log.js';
import { itemBytes } from '../../functions/adapters/item-size.js';
import type { CorruptServedRowsError } from '../../functions/adapters/served-rows-item.js';
import type { StoredPrediction } from '../../functions/core/quality/ports.js';
import { localTableName } from '../../infra/local/seed.js';
import { recording, startMemoryDynamo, type MemoryDynamo } from '../support/dynalite.js';
import { tableDef } from '../support/reliability.js';
import { legacyItem } from '../support/served-rows-legacy.js';

/**
 * The Predictions table's two stored layouts against dynalite (functions/adapters/served-rows-item.ts): items
 * stored before the binary layout (a deployed table, a local data dir) read, join feedback and take measured
 * values exactly as before, beside new ones in the same table; a stored item whose bytes are corrupt is left
 * out and named, never read as rows; the new layout's write units as the emulator bills them.
 */

const table = localTableName(tableDef('Predictions'));
const baseTime = Date.parse('2027-03-01T10:00:00.000Z');
const ttl = Math.floor(baseTime / 1000) + 30 * 86_400;
const iso = (ms: number) => new Date(baseTime + ms).toISOString();

let dynamo: MemoryDynamo;
let db: DynamoDBDocumentClient;

function served(requestId: string, rows: number, offsetMs: number, extra: Partial<StoredPrediction> = {}): StoredPrediction[] {
  return Array.from({ length: rows }, (_, row) => ({
    requestId,
    row,
    model: 'layouts',
    version: '1.0.0',
    plant: 'plant-a',
    principal: 'user:alice',
    time: iso(offsetMs),
    inputs: { temperature: 350 + row + 1 / 3, pressure: 5.5, flow_rate: 120.25 },
    prediction: 90 + row / 10,
    interval: [88 + row / 10, 92 + row / 10] as [number, number],
    level: 0.9,
    ttl,
    ...extra,
  }));
}

beforeAll(async () => {
  dynamo = await startMemoryDynamo(['Predictions']);
  ({ db } = dynamo);
});

afterAll(() => dynamo?.stop());

describe('prediction log: items of the layout before', () => {
  it('read, join feedback and take measured values exactly as before, beside binary items of the same model', async () => {
    // Prepare: an old item (a row without an interval, a row with its own features), then a new one a minute later.
    const log = new DynamoDbPredictionLog(db, table);
    const old = served('old-1', 3, 0);
    old[1] = { ...old[1]!, interval: null };
    old[2] = { ...old[2]!, inputs: { temperature: 351 } };
    await db.send(new PutCommand({ TableName: table, Item: legacyItem(old) }));
    const fresh = served('new-1', 2, 60_000);
    await log.record(fresh);

    // Act
    const byTime = await log.byTime('layouts', iso(0), iso(60_000), 100, 'plant-a');
    const joined = await log.get([
      { requestId: 'old-1', row: 1 },
      { requestId: 'new-1', row: 1 },
    ]);
    const statuses = await log.observe('old-1', [{ row: 0, actual: 91 }, { row: 2, actual: 92 }], '2027-03-01T12:00:00.000Z');
    const again = await log.observe('old-1', [{ row: 0, actual: 95 }], '2027-03-01T12:01:00.000Z');
    const observed = await log.get([0, 1, 2].map((row) => ({ requestId: 'old-1', row })));
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { id: 'old-1' } }));

    // Assert: the old item's rows as stored; its layout untouched by the observation (only `obs` set).
    expect(byTime).toEqual([...old, ...fresh]);
    // (a BatchGetItem answers in any order)
    expect([...joined].sort((a, b) => a.requestId.localeCompare(b.requestId))).toEqual([
      { ...fresh[1]!, inputs: {} },
      { ...old[1]!, inputs: {} },
    ]);
    expect([...statuses, ...again]).toEqual(['stored', 'stored', 'duplicate']);
    expect(observed.map((p) => [p.row, p.actual])).toEqual([
      [0, 91],
      [1, undefined],
      [2, 92],
    ]);
    expect(Item?.rows).toHaveLength(3);
    expect(Item?.rb).toBeUndefined();
  });

  it('a feedback join reads neither layout’s inputs (xs, xm)', async () => {
    // Prepare
    const r = recording(db);
    const log = new DynamoDbPredictionLog(r.client, table);
    const rows = served('join-1', 2, 120_000);
    rows[1] = { ...rows[1]!, inputs: { other: 1 } };
    await log.record(rows);

    // Act
    const back = await log.get([{ requestId: 'join-1', row: 1 }]);

    // Assert
    const get = r.sent.find((c) => c.constructor.name === 'BatchGetCommand')!;
    const asked = (get.input as { RequestItems: Record<string, { ExpressionAttributeNames?: Record<string, string> }> }).RequestItems[table]!;
    expect(Object.values(asked.ExpressionAttributeNames ?? {})).toEqual(expect.arrayContaining(['rb', 'rows', 'n', 'ri', 'obs']));
    expect(Object.values(asked.ExpressionAttributeNames ?? {})).not.toEqual(expect.arrayContaining(['xs']));
    expect(Object.values(asked.ExpressionAttributeNames ?? {})).not.toEqual(expect.arrayContaining(['xm']));
    expect(back).toEqual([{ ...rows[1]!, inputs: {} }]);
  });
});

describe('prediction log: a stored item whose bytes are corrupt', () => {
  it('is left out of every read and named; the other items of the range are read; the process goes on', async () => {
    // Prepare: five requests in one minute; four then damaged in the store (truncated, short by a row,
    // claiming a row more, a NaN prediction), one left whole.
    const corrupt: CorruptServedRowsError[] = [];
    const log = new DynamoDbPredictionLog(db, table, { onCorruptItem: (error) => corrupt.push(error) });
    const start = 600_000;
    for (let i = 0; i < 5; i++) await log.record(served(`bad-${i}`, 3, start + i * 1000));
    const rb = (await db.send(new GetCommand({ TableName: table, Key: { id: 'bad-0' } }))).Item!.rb as Uint8Array;
    const nanAt = new Uint8Array(rb);
    new DataView(nanAt.buffer).setFloat64(3 * 8, NaN, true);
    const damage = async (id: string, expression: string, values: Record<string, unknown>) =>
      db.send(new UpdateCommand({ TableName: table, Key: { id }, UpdateExpression: expression, ExpressionAttributeValues: values }));
    await damage('bad-0', 'SET rb = :b', { ':b': rb.subarray(0, rb.byteLength - 5) });
    await damage('bad-1', 'SET rb = :b', { ':b': rb.subarray(0, rb.byteLength - 24) });
    await damage('bad-2', 'SET n = :n', { ':n': 4 });
    await damage('bad-3', 'SET rb = :b', { ':b': nanAt });

    // Act
    const byTime = await log.byTime('layouts', iso(start), iso(start + 5000), 100, 'plant-a');
    const joined = await log.get([0, 1, 2, 3, 4].map((i) => ({ requestId: `bad-${i}`, row: 1 })));

    // Assert: bad-4's rows only; each damaged item named by id and what is wrong, once per read.
    expect(byTime.map((p) => [p.requestId, p.row])).toEqual([
      ['bad-4', 0],
      ['bad-4', 1],
      ['bad-4', 2],
    ]);
    expect(joined.map((p) => p.requestId)).toEqual(['bad-4']); // bad-0–3's served values are what is damaged
    expect(corrupt.map((e) => e.message).sort()).toEqual(
      [
        'served rows of request bad-0: rb is not 9 doubles',
        'served rows of request bad-1: rb is not 9 doubles',
        'served rows of request bad-2: rb is not 12 doubles',
        'served rows of request bad-3: row 1: the prediction is not finite',
      ].flatMap((m) => [m, m]).sort(),
    );
  });

  it('inputs truncated in the store: the item’s served values still join feedback, its rows are left out where inputs are read', async () => {
    // Prepare
    const corrupt: string[] = [];
    const log = new DynamoDbPredictionLog(db, table, { onCorruptItem: (error) => corrupt.push(error.message) });
    await log.record(served('cut-xs', 2, 700_000));
    const xs = (await db.send(new GetCommand({ TableName: table, Key: { id: 'cut-xs' } }))).Item!.xs as Uint8Array;
    await db.send(new UpdateCommand({ TableName: table, Key: { id: 'cut-xs' }, UpdateExpression: 'SET xs = :b', ExpressionAttributeValues: { ':b': xs.subarray(0, 8) } }));

    // Act
    const joined = await log.get([{ requestId: 'cut-xs', row: 0 }]);
    const byTime = await log.byTime('layouts', iso(700_000), iso(700_000), 10, 'plant-a');

    // Assert
    expect(joined).toEqual([{ ...served('cut-xs', 1, 700_000)[0]!, inputs: {} }]);
    expect(byTime).toEqual([]);
    expect(corrupt).toEqual(['served rows of request cut-xs: xs is not 6 doubles']);
  });
});

describe('prediction log: what a batch of 100 costs to write', () => {
  it('the binary item is 5 WRU as dynalite bills it (the same rows in the layout before: 9), and the size check counts what it counts', async () => {
    // Prepare: 100 rows of 3 features with full-precision doubles (as served), every put asked for its capacity.
    let seed = 16;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const rows = served('wru-1', 100, 800_000).map((p) => {
      const prediction = 80 + random() * 10;
      return { ...p, inputs: { temperature: 300 + random() * 100, pressure: 2 + random() * 8, flow_rate: 50 + random() * 150 }, prediction, interval: [prediction - 2 * random(), prediction + 2 * random()] as [number, number] };
    });
    const units: number[] = [];
    const r = recording(db, async (command, send) => {
      const input = command.input as { Item?: Record<string, unknown> };
      const out = (await send(new PutCommand({ ...(input as ConstructorParameters<typeof PutCommand>[0]), ReturnConsumedCapacity: 'TOTAL' }) as never)) as { ConsumedCapacity?: { CapacityUnits?: number } };
      units.push(out.ConsumedCapacity?.CapacityUnits ?? NaN);
      return out;
    });

    // Act
    await new DynamoDbPredictionLog(r.client, table).record(rows);
    const written = (r.sent[0]!.input as { Item: Record<string, unknown> }).Item;
    const before = await db.send(new PutCommand({ TableName: table, Item: { ...legacyItem(rows), id: 'wru-legacy' }, ReturnConsumedCapacity: 'TOTAL' }));

    // Assert: dynalite bills the table write alone (its index entry is 1 more in AWS).
    expect(units).toEqual([5]);
    expect(Math.ceil(itemBytes(written) / 1024)).toBe(5);
    expect(before.ConsumedCapacity?.CapacityUnits).toBe(9);
    expect(await new DynamoDbPredictionLog(db, table).get([{ requestId: 'wru-1', row: 99 }])).toEqual([{ ...rows[99]!, inputs: {} }]);
  });
});
