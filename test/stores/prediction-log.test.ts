import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillPlantSortKeys, DynamoDbPredictionLog } from '../../functions/adapters/dynamodb-prediction-log.js';
import { DynamoDbQualityStore } from '../../functions/adapters/dynamodb-quality-store.js';
import type { StoredPrediction } from '../../functions/core/quality/ports.js';
import { localTableName } from '../../infra/local/seed.js';
import { recording, startMemoryDynamo, type MemoryDynamo } from '../support/dynalite.js';
import { tableDef } from '../support/reliability.js';

/**
 * The Predictions table (functions/adapters/dynamodb-prediction-log.ts): one item per served request with its
 * rows inside, written alone as one PutItem or group-committed as BatchWriteItem; read back by request id and
 * row, by model and time through the keys-only index, and each row's measured value set once. Against
 * dynalite in memory, with every command recorded.
 */

const table = localTableName(tableDef('Predictions'));
const baseTime = Date.parse('2027-03-01T10:00:00.000Z');
const ttl = Math.floor(baseTime / 1000) + 30 * 86_400;

let dynamo: MemoryDynamo;
let db: DynamoDBDocumentClient;
let client: MemoryDynamo['client'];
const recordingOf = () => recording(db);

/** The rows of one served request: `rows` rows of the reactor's three features, at `offsetMs` after the base time. */
function served(requestId: string, rows: number, offsetMs: number, extra: Partial<StoredPrediction> = {}): StoredPrediction[] {
  return Array.from({ length: rows }, (_, row) => ({
    requestId,
    row,
    model: 'reactor-yield',
    version: '1.0.0',
    plant: 'plant-a',
    principal: 'user:alice',
    time: new Date(baseTime + offsetMs).toISOString(),
    inputs: { temperature: 350 + row, pressure: 5.5, flow_rate: 120.25 },
    prediction: 90 + row / 10,
    interval: [88 + row / 10, 92 + row / 10] as [number, number],
    level: 0.9,
    ttl,
    ...extra,
  }));
}

beforeAll(async () => {
  dynamo = await startMemoryDynamo(['Predictions', 'Quality']);
  ({ db, client } = dynamo);
});

afterAll(() => dynamo?.stop());

describe('prediction log', () => {
  it('the byModelPlantTime index (model; plant, time, id) projects keys, plant and version only', async () => {
    // Act
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));

    // Assert
    expect(Table?.GlobalSecondaryIndexes?.map((g) => [g.IndexName, g.Projection?.ProjectionType, g.Projection?.NonKeyAttributes])).toEqual([['byModelPlantTime', 'INCLUDE', ['plant', 'version']]]);
    expect(Table?.GlobalSecondaryIndexes?.[0]?.KeySchema).toEqual([
      { AttributeName: 'model', KeyType: 'HASH' },
      { AttributeName: 'psk', KeyType: 'RANGE' },
    ]);
  });

  it('a request alone is one PutItem of one item holding all its rows, read back exactly (by time with inputs, by key without)', async () => {
    // Prepare
    const r = recordingOf();
    const log = new DynamoDbPredictionLog(r.client, table);
    const rows = served('alone-1', 100, 0);

    // Act
    await log.record(rows);
    const back = await log.get(rows.map((p) => ({ requestId: p.requestId, row: p.row })));
    const byTime = await log.byTime('reactor-yield', rows[0]!.time, rows[0]!.time, 1000, 'plant-a');
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { id: 'alone-1' } }));

    // Assert
    expect(r.names()).toEqual(['PutCommand', 'BatchGetCommand', 'QueryCommand', 'BatchGetCommand']);
    expect(back).toEqual(rows.map((p) => ({ ...p, inputs: {} })));
    expect(byTime).toEqual(rows);
    // The binary layout (functions/adapters/served-rows-item.ts): 100 rows of 3 doubles, 100 × 3 inputs, rows 0–99 implied.
    expect(Item?.n).toBe(100);
    expect(Item?.rb).toBeInstanceOf(Uint8Array);
    expect([Item?.rb.byteLength, Item?.xs.byteLength]).toEqual([100 * 3 * 8, 100 * 3 * 8]);
    expect([Item?.ri, Item?.xm, Item?.rows]).toEqual([undefined, undefined, undefined]);
    expect(Item?.f).toEqual(['temperature', 'pressure', 'flow_rate']);
    expect(Item?.psk).toBe(`plant-a#${rows[0]!.time}#alone-1`);
  });

  it('requests finishing together share one BatchWriteItem, each still stored', async () => {
    // Prepare
    const r = recordingOf();
    const log = new DynamoDbPredictionLog(r.client, table);
    const requests = Array.from({ length: 30 }, (_, i) => served(`group-${i}`, 1, 1000 + i));

    // Act
    await Promise.all(requests.map((rows) => log.record(rows)));
    const back = await log.get(requests.map((rows) => ({ requestId: rows[0]!.requestId, row: 0 })));

    // Assert: one turn's 30 requests go as 25 + 5 in two batch calls.
    expect(r.names().filter((n) => n === 'BatchWriteCommand')).toHaveLength(2);
    expect(r.names()).not.toContain('PutCommand');
    expect(back.map((p) => p.requestId).sort()).toEqual(requests.map((rows) => rows[0]!.requestId).sort());
  });

  it('get returns only the asked rows, and nothing for unknown ids or rows', async () => {
    // Prepare
    const log = new DynamoDbPredictionLog(db, table);
    await log.record(served('ask-1', 5, 2000));

    // Act
    const back = await log.get([
      { requestId: 'ask-1', row: 3 },
      { requestId: 'ask-1', row: 7 },
      { requestId: 'no-such', row: 0 },
    ]);

    // Assert
    expect(back.map((p) => [p.requestId, p.row, p.prediction, p.interval])).toEqual([['ask-1', 3, 90.3, [88.3, 92.3]]]);
  });

  it('a feedback join (get) reads the served values, not the inputs: the inputs of a 100-row, 256-feature batch stay in the store', async () => {
    // Prepare
    const r = recordingOf();
    const log = new DynamoDbPredictionLog(r.client, table);
    const wide = Object.fromEntries(Array.from({ length: 256 }, (_, k) => [`sensor_${k}`, 1000.123456 + k]));
    await log.record(served('wide-1', 100, 2500).map((p) => ({ ...p, inputs: wide })));

    // Act
    const back = await log.get([{ requestId: 'wide-1', row: 42 }]);

    // Assert: the request asked for every attribute but the inputs (xs, xm), and the answer carried none.
    const get = r.sent.find((c) => c.constructor.name === 'BatchGetCommand')!;
    const asked = (get.input as { RequestItems: Record<string, { ProjectionExpression?: string; ExpressionAttributeNames?: Record<string, string> }> }).RequestItems[table]!;
    expect(asked.ProjectionExpression).toBeDefined();
    expect(Object.values(asked.ExpressionAttributeNames ?? {})).not.toContain('xs');
    expect(Object.values(asked.ExpressionAttributeNames ?? {})).not.toContain('xm');
    expect(back).toEqual([expect.objectContaining({ requestId: 'wide-1', row: 42, prediction: 94.2, inputs: {} })]);
  });

  it('a row whose features differ from the first row keeps its own inputs', async () => {
    // Prepare
    const log = new DynamoDbPredictionLog(db, table);
    const rows = served('mixed-1', 2, 3000);
    rows[1] = { ...rows[1]!, inputs: { temperature: 351, pressure: 5.5 } };

    // Act
    await log.record(rows);
    const back = await log.byTime('reactor-yield', rows[0]!.time, rows[0]!.time, 10);

    // Assert
    expect(back.map((p) => p.inputs)).toEqual([rows[0]!.inputs, { temperature: 351, pressure: 5.5 }]);
  });

  it('observe sets a row’s value once; a second time, or another row of an unknown request, is refused', async () => {
    // Prepare
    const log = new DynamoDbPredictionLog(db, table);
    await log.record(served('obs-1', 3, 4000));

    // Act
    const [first] = await log.observe('obs-1', [{ row: 2, actual: 91.5 }], '2027-03-01T12:00:00.000Z');
    const [again] = await log.observe('obs-1', [{ row: 2, actual: 95 }], '2027-03-01T12:01:00.000Z');
    const [other] = await log.observe('obs-1', [{ row: 0, actual: 89 }], '2027-03-01T12:02:00.000Z');
    const [unknown] = await log.observe('obs-none', [{ row: 0, actual: 89 }], '2027-03-01T12:02:00.000Z');
    const back = await log.get([0, 1, 2].map((row) => ({ requestId: 'obs-1', row })));

    // Assert
    expect([first, again, other, unknown]).toEqual(['stored', 'duplicate', 'stored', 'duplicate']);
    expect(back.map((p) => [p.row, p.actual, p.observedAt])).toEqual([
      [0, 89, '2027-03-01T12:02:00.000Z'],
      [1, undefined, undefined],
      [2, 91.5, '2027-03-01T12:00:00.000Z'],
    ]);
  });

  it('observe sets a 100-row request’s values in two conditional updates, not a hundred; a row already set is named', async () => {
    // Prepare: row 7 has its value already.
    const log = new DynamoDbPredictionLog(db, table);
    await log.record(served('obs-batch', 100, 5000));
    await log.observe('obs-batch', [{ row: 7, actual: 1 }], '2027-03-01T12:00:00.000Z');
    const r = recordingOf();
    const recorded = new DynamoDbPredictionLog(r.client, table);

    // Act
    const statuses = await recorded.observe('obs-batch', Array.from({ length: 100 }, (_, row) => ({ row, actual: 80 + row })), '2027-03-01T12:05:00.000Z');
    const back = await log.get(Array.from({ length: 100 }, (_, row) => ({ requestId: 'obs-batch', row })));

    // Assert: rows 50–99 in one update; rows 0–49 held row 7, so that chunk went row by row.
    expect(statuses.filter((s) => s === 'stored')).toHaveLength(99);
    expect(statuses[7]).toBe('duplicate');
    expect(r.names().filter((n) => n === 'UpdateCommand')).toHaveLength(1 + 50 + 1);
    expect(back.map((p) => p.actual)).toEqual(Array.from({ length: 100 }, (_, row) => (row === 7 ? 1 : 80 + row)));
  });

  it('byTime reads one model’s rows in a time range, oldest first, at most limit rows (the newest)', async () => {
    // Prepare: 12 requests of 10 rows, one per minute, and another model's request in the same range.
    const log = new DynamoDbPredictionLog(db, table);
    const start = 3_600_000;
    for (let i = 0; i < 12; i++) await log.record(served(`time-${String(i).padStart(2, '0')}`, 10, start + i * 60_000));
    await log.record(served('other-model', 10, start + 30_000, { model: 'column-purity' }));
    const iso = (ms: number) => new Date(baseTime + ms).toISOString();

    // Act
    const all = await log.byTime('reactor-yield', iso(start), iso(start + 11 * 60_000), 1000);
    const newest = await log.byTime('reactor-yield', iso(start), iso(start + 11 * 60_000), 25);
    const middle = await log.byTime('reactor-yield', iso(start + 60_000), iso(start + 2 * 60_000), 1000);

    // Assert
    expect(all).toHaveLength(120);
    expect(all.every((p) => p.model === 'reactor-yield')).toBe(true);
    expect(all.map((p) => p.time)).toEqual([...all.map((p) => p.time)].sort());
    expect(all.slice(0, 3).map((p) => [p.requestId, p.row])).toEqual([
      ['time-00', 0],
      ['time-00', 1],
      ['time-00', 2],
    ]);
    expect(newest).toHaveLength(25);
    expect(newest.at(-1)).toMatchObject({ requestId: 'time-11', row: 9 });
    expect(newest[0]).toMatchObject({ requestId: 'time-09', row: 5 });
    expect(new Set(middle.map((p) => p.requestId))).toEqual(new Set(['time-01', 'time-02']));
  });

  it('byTime of one plant: its rows only, the limit never spent on another plant’s newer traffic; null: platform rows', async () => {
    // Prepare: plant-a's request, then 30 newer requests of plant-b, and a platform principal's.
    const log = new DynamoDbPredictionLog(db, table);
    const start = 7_200_000;
    await log.record(served('crowd-a', 5, start, { model: 'crowded' }));
    for (let i = 0; i < 30; i++) await log.record(served(`crowd-b-${i}`, 1, start + 1000 + i, { model: 'crowded', plant: 'plant-b' }));
    await log.record(served('crowd-platform', 1, start + 2000, { model: 'crowded', plant: undefined }));
    const iso = (ms: number) => new Date(baseTime + ms).toISOString();

    // Act
    const a = await log.byTime('crowded', iso(start), iso(start + 5000), 10, 'plant-a');
    const platform = await log.byTime('crowded', iso(start), iso(start + 5000), 10, null);
    const every = await log.byTime('crowded', iso(start), iso(start + 5000), 10);

    // Assert
    expect(a.map((p) => p.requestId)).toEqual(Array(5).fill('crowd-a'));
    expect(platform.map((p) => [p.requestId, p.plant])).toEqual([['crowd-platform', undefined]]);
    expect(every).toHaveLength(10);
    expect(every.some((p) => p.requestId === 'crowd-a')).toBe(false);
    expect(await log.servedPairs('crowded', iso(start), iso(start + 5000))).toEqual(
      expect.arrayContaining([{ version: '1.0.0', plant: 'plant-a', last: iso(start) }, { version: '1.0.0', plant: 'plant-b', last: iso(start + 1029) }, { version: '1.0.0', last: iso(start + 2000) }]),
    );
    expect(await log.servedPairs('crowded', iso(start), iso(start + 5000))).toHaveLength(3);
  });

  it("a plant's read touches its own index entries and items only, however much another plant serves the model", async () => {
    // Prepare: plant-a's 3 requests of a shared model; reads counted by what DynamoDB reports it read.
    const start = 10_800_000;
    const iso = (ms: number) => new Date(baseTime + ms).toISOString();
    const log = new DynamoDbPredictionLog(db, table);
    for (let i = 0; i < 3; i++) await log.record(served(`shared-a-${i}`, 2, start + i * 1000, { model: 'shared' }));
    const reads = async (plant: string | null | undefined) => {
      const touched = { queries: 0, scanned: 0, fetched: 0 };
      const r = recording(db, async (command, send) => {
        const out = (await send(command)) as { ScannedCount?: number; Responses?: Record<string, unknown[]> };
        if (command.constructor.name === 'QueryCommand') {
          touched.queries++;
          touched.scanned += out.ScannedCount ?? 0;
        }
        if (command.constructor.name === 'BatchGetCommand') touched.fetched += out.Responses?.[table]?.length ?? 0;
        return out;
      });
      const rows = await new DynamoDbPredictionLog(r.client, table).byTime('shared', iso(start), iso(start + 600_000), 1000, plant);
      return { rows: rows.map((p) => p.requestId), touched };
    };
    const quiet = await reads('plant-a');

    // Act: plant-b serves 250 requests in the same range (three pages of the index), the platform one.
    for (let i = 0; i < 250; i++) await log.record(served(`shared-b-${i}`, 1, start + 500 + i * 100, { model: 'shared', plant: 'plant-b' }));
    await log.record(served('shared-platform', 1, start + 700, { model: 'shared', plant: undefined }));
    const busy = await reads('plant-a');
    const platform = await reads(null);
    const every = await reads(undefined);

    // Assert: plant-a's read is unchanged: one query of its 3 entries, its 3 items.
    expect(busy).toEqual(quiet);
    expect(busy.touched).toEqual({ queries: 1, scanned: 3, fetched: 3 });
    expect(busy.rows).toEqual(['shared-a-0', 'shared-a-0', 'shared-a-1', 'shared-a-1', 'shared-a-2', 'shared-a-2']);
    expect(platform.touched).toEqual({ queries: 1, scanned: 1, fetched: 1 });
    // Every plant's (a platform principal's view): each plant's range, merged oldest first.
    expect(every.rows).toHaveLength(6 + 250 + 1);
    expect(every.rows.slice(0, 3)).toEqual(['shared-a-0', 'shared-a-0', 'shared-b-0']);
    expect(every.rows.indexOf('shared-platform')).toBe(every.rows.indexOf('shared-b-2') + 1);
  });

  it('an item whose index entry names another plant than the item is left out (the item decides)', async () => {
    // Prepare: an item written by hand with plant-b's rows under a plant-a sort key.
    const log = new DynamoDbPredictionLog(db, table);
    const rows = served('forged-1', 1, 14_400_000, { model: 'forged', plant: 'plant-b' });
    await log.record(rows);
    await db.send(new UpdateCommand({ TableName: table, Key: { id: 'forged-1' }, UpdateExpression: 'SET psk = :k', ExpressionAttributeValues: { ':k': `plant-a#${rows[0]!.time}#forged-1` } }));

    // Act
    const a = await log.byTime('forged', rows[0]!.time, rows[0]!.time, 10, 'plant-a');
    const b = await log.byTime('forged', rows[0]!.time, rows[0]!.time, 10, 'plant-b');

    // Assert
    expect(a).toEqual([]);
    expect(b).toEqual([]);
  });

  it('the backfill gives items stored before the plant key theirs (once), and the plant reads find them', async () => {
    // Prepare: two requests as the adapter stored them before (`tsk`, no `psk`), one of each plant kind.
    const log = new DynamoDbPredictionLog(db, table);
    const rows = [...served('legacy-a', 2, 16_200_000, { model: 'legacy' }), ...served('legacy-p', 1, 16_200_500, { model: 'legacy', plant: undefined })];
    await log.record(rows.filter((r) => r.requestId === 'legacy-a'));
    await log.record(rows.filter((r) => r.requestId === 'legacy-p'));
    for (const id of ['legacy-a', 'legacy-p']) {
      const { Item } = await db.send(new GetCommand({ TableName: table, Key: { id } }));
      await db.send(new UpdateCommand({ TableName: table, Key: { id }, UpdateExpression: 'SET tsk = :t REMOVE psk', ExpressionAttributeValues: { ':t': `${Item!.time}#${id}` } }));
    }
    const before = await log.byTime('legacy', rows[0]!.time, rows[2]!.time, 10, 'plant-a');

    // Act
    const first = await backfillPlantSortKeys(db, table, 7);
    const second = await backfillPlantSortKeys(db, table);

    // Assert
    expect(before).toEqual([]);
    expect(first.updated).toBe(2);
    expect(second.updated).toBe(0);
    expect((await log.byTime('legacy', rows[0]!.time, rows[2]!.time, 10, 'plant-a')).map((r) => r.requestId)).toEqual(['legacy-a', 'legacy-a']);
    expect((await log.byTime('legacy', rows[0]!.time, rows[2]!.time, 10, null)).map((r) => r.requestId)).toEqual(['legacy-p']);
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { id: 'legacy-a' } }));
    expect(Item?.tsk).toBeUndefined();
    expect(Item?.psk).toBe(`plant-a#${rows[0]!.time}#legacy-a`);
  });

  it('rows of one request that disagree on what they share are refused, and nothing is written', async () => {
    // Prepare
    const r = recordingOf();
    const log = new DynamoDbPredictionLog(r.client, table);
    const rows = served('disagree-1', 2, 5000);
    rows[1] = { ...rows[1]!, version: '2.0.0' };

    // Act
    const result = log.record(rows);

    // Assert
    await expect(result).rejects.toThrow(/disagree/);
    expect(r.names()).toEqual([]);
  });

  describe("the scheduled evaluation's reads of who was served", () => {
    it('servedPairs reads index entries of its range only (keys, plant, version), no item, each pair with its newest time', async () => {
      // Prepare: a day of one model's requests, one every 15 minutes, alternating two plants.
      const log = new DynamoDbPredictionLog(db, table);
      const day = 86_400_000;
      const start = 30 * day;
      for (let i = 0; i < 96; i++) await log.record(served(`day-${i}`, 1, start + i * 900_000, { model: 'daylong', plant: i % 2 ? 'plant-b' : 'plant-a' }));
      const iso = (ms: number) => new Date(baseTime + ms).toISOString();
      const r = recordingOf();
      const reader = new DynamoDbPredictionLog(r.client, table);

      // Act: the last 20 minutes (a run's read after the first), then the whole day.
      const recent = await reader.servedPairs('daylong', iso(start + day - 20 * 60_000), iso(start + day));
      // Entries the range queries read (the one-entry hops from plant to plant apart).
      const ranges = () => r.sent.filter((c) => (c.input as { Limit?: number }).Limit !== 1);
      const hops = () => r.sent.length - ranges().length;
      const counted = async () => {
        let items = 0;
        for (const c of ranges()) items += ((await db.send(c as never)) as { ScannedCount?: number }).ScannedCount ?? 0;
        return items;
      };
      const recentItems = await counted();
      const recentHops = hops();
      r.sent.length = 0;
      const whole = await reader.servedPairs('daylong', iso(start), iso(start + day));

      // Assert: the 20 minutes read 1 entry (95 at 23:45, plant-b), the day 96; each read found the two plants
      // with three one-entry queries (plant-a, plant-b, none after); only index queries were sent.
      expect(recent).toEqual([{ version: '1.0.0', plant: 'plant-b', last: iso(start + 95 * 900_000) }]);
      expect(recentItems).toBe(1);
      expect([recentHops, hops()]).toEqual([3, 3]);
      expect(await counted()).toBe(96);
      expect(whole).toEqual(expect.arrayContaining([{ version: '1.0.0', plant: 'plant-a', last: iso(start + 94 * 900_000) }, { version: '1.0.0', plant: 'plant-b', last: iso(start + 95 * 900_000) }]));
      expect(whole).toHaveLength(2);
      expect(new Set(r.names())).toEqual(new Set(['QueryCommand']));
      expect(r.sent.every((c) => (c.input as { IndexName?: string }).IndexName === 'byModelPlantTime')).toBe(true);
    });

    it('the cursor is kept per model beside the aggregates, written only over the revision it read', async () => {
      // Prepare
      const quality = new DynamoDbQualityStore(db, localTableName(tableDef('Quality')));
      const cursor = { readTo: '2027-03-01T10:15:00.000Z', pairs: [{ version: '1.0.0', plant: 'plant-a', last: '2027-03-01T10:14:00.000Z' }, { version: '1.1.0', last: '2027-03-01T09:00:00.000Z' }], revision: 1 };

      // Act / Assert: created once (revision 0 = absent), then only over the revision read.
      expect(await quality.getServedCursor('cursor-model')).toBeUndefined();
      expect(await quality.putServedCursor('cursor-model', cursor, 0)).toBe(true);
      expect(await quality.putServedCursor('cursor-model', { ...cursor, readTo: '2027-03-01T10:16:00.000Z' }, 0)).toBe(false);
      expect(await quality.getServedCursor('cursor-model')).toEqual(cursor);
      const next = { ...cursor, readTo: '2027-03-01T10:30:00.000Z', revision: 2 };
      const race = await Promise.all([quality.putServedCursor('cursor-model', next, 1), quality.putServedCursor('cursor-model', { ...next, readTo: '2027-03-01T10:31:00.000Z' }, 1)]);
      expect(race.filter(Boolean)).toHaveLength(1);
      expect((await quality.getServedCursor('cursor-model'))?.revision).toBe(2);
      // The aggregates' reads never see it.
      expect(await quality.read('cursor-model', '2000-01-01T00')).toEqual([]);
      expect(await quality.getServedCursor('another-model')).toBeUndefined();
    });
  });
});
