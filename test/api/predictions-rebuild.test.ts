import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localTableName } from '../../infra/local/seed.js';
import { userWithToken } from '../support/identity.js';
import { createTableInput, directDynamoDb, dropTable, tableDef } from '../support/reliability.js';
import { apiClient, login, startTestTwin, validRow, type TestTwin } from '../support/twin.js';

/**
 * A data dir from before the Predictions index was keyed by plant (`byModelTime`: model, tsk): the next start
 * rebuilds the table as infra/tables.ts declares it (`byModelPlantTime`: model, psk) and keeps every served
 * request, now found by its plant's reads; a rebuild a stop interrupted is finished from its copy.
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
  for (const item of items) await client.send(new PutItemCommand({ TableName: table, Item: item }));
}

/** A stored request item as the adapter wrote it before (`tsk`, no `psk`). */
function legacy(item: Record<string, AttributeValue>): Record<string, AttributeValue> {
  const { psk: _new, ...rest } = item;
  return { ...rest, tsk: { S: `${item.time!.S}#${item.id!.S}` } };
}

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
    await twin.stop({ keepDir: true });
    twin = undefined;
  });

  it('a rebuild stopped after its copy was written is finished from the copy on the next start', async () => {
    // Prepare: the copy holds the item; the table is gone (the stop came after the drop).
    const other = { ...legacy(stored), id: { S: 'copied-1' }, tsk: { S: `${stored.time!.S}#copied-1` } };
    const starter = await startTestTwin({ dataDir, port, dashboardDir: false });
    await dropTable(starter.twin, 'Predictions');
    await starter.stop({ keepDir: true });
    await writeFile(join(dataDir, `rebuilding-${table}.json`), JSON.stringify([legacy(stored), other]));

    // Act
    twin = await startTestTwin({ dataDir, port, dashboardDir: false });
    const reader = directDynamoDb(twin.twin);
    const back = await Promise.all(['copied-1', requestId].map(async (id) => (await reader.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } } }))).Item));
    reader.destroy();

    // Assert
    expect(back.map((item) => item?.psk?.S)).toEqual([`north#${stored.time!.S}#copied-1`, `north#${stored.time!.S}#${requestId}`]);
    expect(existsSync(join(dataDir, `rebuilding-${table}.json`))).toBe(false);
  });
});
