import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriteItemCommand, CreateTableCommand, DescribeTableCommand, GetItemCommand, PutItemCommand, ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPlantSortKey } from '../../functions/adapters/dynamodb-prediction-log.js';
import { copyText, rebuildIfIndexesChanged } from '../../infra/local/rebuild-table.js';
import { localTableName } from '../../infra/local/seed.js';
import { alertEvent } from '../support/alert-events.js';
import { userWithToken } from '../support/identity.js';
import { createTableInput, directDynamoDb, dropTable, tableDef } from '../support/reliability.js';
import { apiClient, login, startTestTwin, validRow, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * A data dir from before the Predictions index was keyed by plant (`byModelTime`: model, tsk): the next start
 * rebuilds the table as infra/tables.ts declares it (`byModelPlantTime`: model, psk) and keeps every served
 * request, now found by its plant's reads; a rebuild a stop interrupted is finished from its copy. Its alert
 * events of before are copied to their plant's history partition, once.
 */

const table = localTableName(tableDef('Predictions'));
let dataDir: string;
let twin: TestTwin | undefined;

/** The table as the data stack declared it before: the index keyed by model and time. */
async function recreateLegacyTable(t: TestTwin, client: DynamoDBClient, items: Record<string, AttributeValue>[]) {
  await dropTable(t.twin, 'Predictions');
  const input = createTableInput(tableDef('Predictions'));
  await client.send(
    new CreateTableCommand({
      ...input,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }, { AttributeName: 'model', AttributeType: 'S' }, { AttributeName: 'tsk', AttributeType: 'S' }],
      GlobalSecondaryIndexes: [{ IndexName: 'byModelTime', KeySchema: [{ AttributeName: 'model', KeyType: 'HASH' }, { AttributeName: 'tsk', KeyType: 'RANGE' }], Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['plant', 'version'] } }],
    }),
  );
  // dynalite creates a table asynchronously: a put before it is ACTIVE is refused (not found).
  for (let i = 0; (await client.send(new DescribeTableCommand({ TableName: table }))).Table?.TableStatus !== 'ACTIVE'; i++) {
    if (i === 400) throw new Error(`${table} never became ACTIVE`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  for (const item of items) await client.send(new PutItemCommand({ TableName: table, Item: item }));
}

/** A stored request item as the adapter wrote it before (`tsk`, no `psk`). */
function legacy(item: Record<string, AttributeValue>): Record<string, AttributeValue> {
  const { psk: _new, ...rest } = item;
  return { ...rest, tsk: { S: `${item.time!.S}#${item.id!.S}` } };
}

const legacyAlert = alertEvent({
  id: 'legacy-alert-1',
  principal: 'nina-north',
  plant: 'north',
  inputs: { temp: 300 },
  thresholds: { min: 70, max: 95 },
  requestId: 'legacy-req-1',
});
let requestId: string;
let stored: Record<string, AttributeValue>;
let north: string;
let port: number;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'twinserve-rebuild-'));
  twin = await startTestTwin({ dataDir, dashboardDir: false });
  const api = apiClient(twin.url);
  const admin = await login(api);
  north = (await userWithToken(api, admin, { username: 'nina-north', role: 'operator', plant: 'north' })).token;
  const res = await api('POST', '/api/v1/twin/predict', { token: north, body: validRow });
  requestId = res.headers.get('x-request-id')!;
  const client = directDynamoDb(twin.twin);
  stored = (await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: requestId } } }))).Item!;
  await recreateLegacyTable(twin, client, [legacy(stored)]);
  // And an alert event of north as stored before plants had their own alert history partition.
  const alertState = localTableName(tableDef('AlertState'));
  const doc = DynamoDBDocumentClient.from(client);
  await doc.send(new PutCommand({ TableName: alertState, Item: { pk: 'events#reactor-yield', sk: `${legacyAlert.time}#${legacyAlert.id}`, ...legacyAlert, ttl: Math.floor(Date.now() / 1000) + 86_400 } }));
  await doc.send(new DeleteCommand({ TableName: alertState, Key: { pk: 'layout', sk: 'events-by-plant' } }));
  client.destroy();
  port = Number(new URL(twin.url).port);
  await twin.stop({ keepDir: true });
  twin = undefined;
});

afterAll(async () => {
  await twin?.stop({ keepDir: true });
  await rm(dataDir, { recursive: true, force: true });
});

describe('a data dir with the Predictions table of before', () => {
  it('is rebuilt on start: the new index, the item kept with its plant key, found by its plant by inputs', async () => {
    // Act
    twin = await startTestTwin({ dataDir, port, dashboardDir: false });
    const client = directDynamoDb(twin.twin);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    const { Item } = await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: requestId } } }));
    client.destroy();
    const api = apiClient(twin.url);
    const feedback = await api('POST', '/api/v1/models/reactor-yield/feedback', {
      token: north,
      body: { observations: [{ inputs: validRow, time: stored.time!.S, value: 80 }] },
    });

    // Assert
    expect(Table?.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual(['byModelPlantTime']);
    expect(Item).toEqual(stored);
    expect(Item?.psk?.S).toBe(`north#${stored.time!.S}#${requestId}`);
    expect(feedback.status, feedback.text).toBe(200);
    expect(feedback.json.results).toEqual([expect.objectContaining({ status: 'accepted', request_id: requestId })]);
    expect(existsSync(join(dataDir, `rebuilding-${table}.json`))).toBe(false);
    // North's alert of before is in north's own history now (copied once on start).
    const alerts = await api('GET', '/api/v1/alerts?model=reactor-yield', { token: north });
    expect(alerts.json.alerts.map((a: { id: string }) => a.id)).toContain(legacyAlert.id);
    await twin.stop({ keepDir: true });
    twin = undefined;
  });

  it('a rebuild stopped after its copy was written is finished from the copy on the next start', async () => {
    // Prepare: the copy holds the item; the table is gone (the stop came after the drop).
    const other = { ...legacy(stored), id: { S: 'copied-1' }, tsk: { S: `${stored.time!.S}#copied-1` } };
    const starter = await startTestTwin({ dataDir, port, dashboardDir: false });
    await dropTable(starter.twin, 'Predictions');
    await starter.stop({ keepDir: true });
    await writeFile(join(dataDir, `rebuilding-${table}.json`), copyText([legacy(stored), other]));

    // Act
    twin = await startTestTwin({ dataDir, port, dashboardDir: false });
    const reader = directDynamoDb(twin.twin);
    const back = await Promise.all(['copied-1', requestId].map(async (id) => (await reader.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } } }))).Item));
    reader.destroy();

    // Assert
    expect(back.map((item) => item?.psk?.S)).toEqual([`north#${stored.time!.S}#copied-1`, `north#${stored.time!.S}#${requestId}`]);
    expect(existsSync(join(dataDir, `rebuilding-${table}.json`))).toBe(false);
  });

  it('a copy that is not a list of items (a hand edit, another tool) is refused by name; the table and the copy are left as they are', async () => {
    // Prepare: a copy beside the live table (a stop after the copy, before the drop), its contents not items.
    const dir = await mkdtemp(join(tmpdir(), 'twinserve-rebuild-copy-'));
    const copy = join(dir, `rebuilding-${table}.json`);
    const client = directDynamoDb(twin!.twin);
    const create = () => Promise.reject(new Error('the table must not be created again'));
    try {
      for (const contents of ['{"items":[]}', '[1, "x", null]', '[{"id":{"S":"only-an-id"}}', 'null']) {
        await writeFile(copy, contents);

        // Act
        const error = await rebuildIfIndexesChanged(client, tableDef('Predictions'), table, create, dir).then(
          () => undefined,
          (e: unknown) => e as Error,
        );

        // Assert: refused, naming the file; nothing dropped; the copy kept for its owner to look at.
        expect(error?.message).toContain(copy);
        expect(error?.message).toMatch(/not a list of stored items/);
        expect((await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: requestId } } }))).Item).toEqual(stored);
        expect(await readFile(copy, 'utf8')).toBe(contents);
      }
    } finally {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a copy left beside a table written after it (more items than the copy) is not put back: the start stops, both left as they are', async () => {
    // Prepare: the live table holds at least two items (this request's and one more); the copy, from before, one.
    const dir = await mkdtemp(join(tmpdir(), 'twinserve-rebuild-stale-'));
    const copy = join(dir, `rebuilding-${table}.json`);
    const client = directDynamoDb(twin!.twin);
    const later = { ...stored, id: { S: 'written-after-the-copy' } };
    const create = () => Promise.reject(new Error('the table must not be created again'));
    try {
      await client.send(new PutItemCommand({ TableName: table, Item: later }));
      const contents = copyText([legacy(stored)]);
      await writeFile(copy, contents);

      // Act
      const error = await rebuildIfIndexesChanged(client, tableDef('Predictions'), table, create, dir, withPlantSortKey).then(
        () => undefined,
        (e: unknown) => e as Error,
      );

      // Assert: refused, naming the copy and both counts; the item written after the copy is still there.
      expect(error?.message).toContain(copy);
      expect(error?.message).toMatch(/holds 1 item but \S+ holds \d+: the table was written after this copy/);
      expect((await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: 'written-after-the-copy' } } }))).Item).toEqual(later);
      expect(await readFile(copy, 'utf8')).toBe(contents);
    } finally {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('copies a table of several scan pages as JSON Lines, checks every line before the drop, and puts back every item', async () => {
    // Prepare: the table of before with 1,200 items of ~1 KB (dynalite answers a Scan in pages of 1 MB).
    const client = directDynamoDb(twin!.twin);
    await recreateLegacyTable(twin!, client, []);
    const items = Array.from({ length: 1_200 }, (_, k) => ({ ...legacy(stored), id: { S: `bulk-${k}` }, tsk: { S: `${stored.time!.S}#bulk-${k}` }, pad: { S: 'x'.repeat(900) } }));
    for (let i = 0; i < items.length; i += 25) {
      let pending = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      while (pending.length > 0) pending = ((await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }))).UnprocessedItems?.[table] ?? []) as typeof pending;
    }
    const dir = await mkdtemp(join(tmpdir(), 'twinserve-rebuild-lines-'));
    const copy = join(dir, `rebuilding-${table}.json`);
    let lines: string[] = [];
    const create = async () => {
      lines = (await readFile(copy, 'utf8')).split('\n').filter(Boolean);
      await client.send(new CreateTableCommand(createTableInput(tableDef('Predictions'))));
    };
    try {
      // Act
      const count = await rebuildIfIndexesChanged(client, tableDef('Predictions'), table, create, dir, withPlantSortKey);

      // Assert: one item per line in the copy; every item back with its plant key; the copy gone.
      expect(count).toBe(1_200);
      expect(lines).toHaveLength(1_200);
      expect(new Set(lines.map((l) => (JSON.parse(l) as { id: { S: string } }).id.S)).size).toBe(1_200);
      const back = await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: 'bulk-1199' } } }));
      expect(back.Item?.psk?.S).toBe(`north#${stored.time!.S}#bulk-1199`);
      expect(back.Item?.pad?.S).toHaveLength(900);
      // The served rows' binary values (base64 in the copy) come back as the same bytes.
      expect(stored.rb?.B).toBeInstanceOf(Uint8Array);
      expect(back.Item?.rb).toEqual(stored.rb);
      let total = 0;
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await client.send(new ScanCommand({ TableName: table, Select: 'COUNT', ...(start ? { ExclusiveStartKey: start } : {}) }));
        total += page.Count ?? 0;
        start = page.LastEvaluatedKey;
      } while (start);
      expect(total).toBe(1_200);
      expect(existsSync(copy)).toBe(false);
    } finally {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a copy with one line that is not an item is refused before the drop', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twinserve-rebuild-bad-line-'));
    const copy = join(dir, `rebuilding-${table}.json`);
    const client = directDynamoDb(twin!.twin);
    const create = () => Promise.reject(new Error('the table must not be created again'));
    try {
      const contents = `${copyText([stored])}{"id": {"S": "torn"`;
      await writeFile(copy, contents);
      const error = await rebuildIfIndexesChanged(client, tableDef('Predictions'), table, create, dir).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toContain(copy);
      expect((await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: 'bulk-0' } } }))).Item).toBeDefined();
      expect(await readFile(copy, 'utf8')).toBe(contents);
    } finally {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('no request is served while a start rebuilds the table (503, Retry-After): none can write between the copy and the drop, or read half a table', async () => {
    // Prepare: the table of before again, with the stored item; then a start that rebuilds it, and a plant's
    // operator (a token from before the stop) predicting and reading through the whole start.
    const client = directDynamoDb(twin!.twin);
    await recreateLegacyTable(twin!, client, [legacy(stored)]);
    client.destroy();
    await twin!.stop({ keepDir: true });
    twin = undefined;
    const api = apiClient(`http://127.0.0.1:${port}`);
    let started = false;
    const starting = startTestTwin({ dataDir, port, dashboardDir: false }).finally(() => void (started = true));
    const during: ApiResponse[] = [];

    // Act
    while (!started) {
      const res = await api('POST', '/api/v1/twin/predict', { token: north, body: validRow }).catch(() => undefined);
      if (res && !started) during.push(res);
    }
    twin = await starting;
    const after = await apiClient(twin.url)('POST', '/api/v1/twin/predict', { token: north, body: validRow });

    // Assert: every answer before the start was done said "not yet"; the stored item survived; serving works after.
    expect(during.length).toBeGreaterThan(0);
    expect(during.map((r) => r.status)).toEqual(during.map(() => 503));
    expect(during.every((r) => r.headers.get('retry-after') === '1')).toBe(true);
    const reader = directDynamoDb(twin.twin);
    const { Item } = await reader.send(new GetItemCommand({ TableName: table, Key: { id: { S: requestId } } }));
    reader.destroy();
    expect(Item?.psk?.S).toBe(`north#${stored.time!.S}#${requestId}`);
    expect(after.status, after.text).toBe(200);
  });
});
