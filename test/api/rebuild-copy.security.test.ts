import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, GetItemCommand, PutItemCommand, ResourceNotFoundException, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rebuildIfIndexesChanged } from '../../infra/local/rebuild-table.js';
import type { TableDef } from '../../infra/tables.js';
import { directDynamoDb } from '../support/reliability.js';
import { startTestTwin, type TestTwin } from '../support/twin.js';

/**
 * The local rebuild of a table (infra/local/rebuild-table.ts) against a copy that is valid JSON line by line
 * but not what the store will take back (the data dir is the operator's: a hand edit, another tool, a damaged
 * disk): refused by file and line before the drop, so the table stays as it is and the twin's start says why
 * (it used to drop the table, then fail on the put-back at every start). And what the store holds comes back
 * as it was: binary attributes, a BOM and CRLF line ends, a key given twice (the last line wins, as puts in
 * order would). A scratch table on the twin's dynalite, keyed by `id`, declared with no index.
 */

const tableName = 'redteam-rebuild-scratch';
const def = { id: 'Scratch', partitionKey: 'id' } as unknown as TableDef;
let t: TestTwin;
let client: DynamoDBClient;
let dir: string;
let creates = 0;

async function waitFor(state: 'gone' | 'ACTIVE'): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const status = await client.send(new DescribeTableCommand({ TableName: tableName })).then(
      ({ Table }) => Table?.TableStatus,
      (error: unknown) => (error instanceof ResourceNotFoundException ? 'gone' : Promise.reject(error)),
    );
    if (status === state) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${tableName} never became ${state}`);
}

/** The scratch table as declared (no index), or with an index `def` does not declare (so it needs a rebuild). */
async function createScratch(withIndex: boolean): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }, ...(withIndex ? [{ AttributeName: 'g', AttributeType: 'S' as const }] : [])],
      ...(withIndex ? { GlobalSecondaryIndexes: [{ IndexName: 'extra', KeySchema: [{ AttributeName: 'g', KeyType: 'HASH' as const }], Projection: { ProjectionType: 'ALL' as const } }] } : {}),
    }),
  );
  await waitFor('ACTIVE');
}

const create = async () => {
  creates++;
  await createScratch(false);
};

async function dropScratch(): Promise<void> {
  await client.send(new DeleteTableCommand({ TableName: tableName })).catch((error: unknown) => {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  });
  await waitFor('gone');
}

const keep: Record<string, AttributeValue> = { id: { S: 'keep-me' }, note: { S: 'stored before' } };
const copy = () => join(dir, `rebuilding-${tableName}.json`);
const getItem = async (id: string) => (await client.send(new GetItemCommand({ TableName: tableName, Key: { id: { S: id } } }))).Item;

beforeAll(async () => {
  t = await startTestTwin({ dashboardDir: false });
  client = directDynamoDb(t.twin);
  dir = await mkdtemp(join(tmpdir(), 'twinserve-rebuild-hostile-'));
});

afterEach(async () => {
  await rm(copy(), { force: true });
  await dropScratch();
  creates = 0;
});

afterAll(async () => {
  client.destroy();
  await t.stop();
  await rm(dir, { recursive: true, force: true });
});

const line = (item: Record<string, unknown>) => JSON.stringify(item);

describe('a copy the store would not take back is refused before the drop', () => {
  const hostile: [string, string][] = [
    ['a number that is not one', line({ id: { S: 'a' }, x: { N: 'abc' } })],
    ['a type DynamoDB does not have', line({ id: { S: 'a' }, x: { Q: '1' } })],
    ['a string that is a number', line({ id: { S: 5 } })],
    ['a key of another type than the table declares', line({ id: { N: '1' } })],
    ['an empty key', line({ id: { S: '' } })],
    ['an empty set', line({ id: { S: 'a' }, x: { SS: [] } })],
    ['a set with a value twice', line({ id: { S: 'a' }, x: { SS: ['p', 'p'] } })],
    ['a list holding a value of no type', line({ id: { S: 'a' }, x: { L: [{ Z: 1 }] } })],
    ['NULL that is false', line({ id: { S: 'a' }, x: { NULL: false } })],
    ['binary that is not base64', line({ id: { S: 'a' }, x: { B: { 0: 1 } } })],
    ['an item over 400 KB', line({ id: { S: 'a' }, pad: { S: 'x'.repeat(410 * 1024) } })],
  ];

  it.each(hostile)('%s: the file and line are named; the table and the copy are left as they are', async (_name, bad) => {
    // Prepare: the live table with an item; a copy beside it (a stop after the copy), its second line hostile.
    await createScratch(false);
    await client.send(new PutItemCommand({ TableName: tableName, Item: keep }));
    const contents = `${line({ id: { S: 'fine' } })}\n${bad}\n`;
    await writeFile(copy(), contents);

    // Act
    const error = await rebuildIfIndexesChanged(client, def, tableName, create, dir).then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    // Assess
    expect(error?.message).toContain(copy());
    expect(error?.message).toContain('line 2');
    expect(creates).toBe(0);
    expect(await getItem('keep-me')).toEqual(keep);
    expect(await readFile(copy(), 'utf8')).toBe(contents);
  });
});

describe('what the store holds comes back as it was', () => {
  it('binary attributes (B, BS, and inside a map) survive the copy and the put-back', async () => {
    // Prepare: a table that needs a rebuild (an index the declaration does not have), with binary values.
    await createScratch(true);
    const item: Record<string, AttributeValue> = {
      id: { S: 'bin' },
      b: { B: new Uint8Array([0, 1, 2, 250, 255]) },
      bs: { BS: [new Uint8Array([1]), new Uint8Array([2, 3])] },
      m: { M: { inner: { B: new Uint8Array([9, 8, 7]) }, l: { L: [{ B: new Uint8Array([4]) }, { N: '12.5' }] } } },
    };
    await client.send(new PutItemCommand({ TableName: tableName, Item: item }));

    // Act
    const count = await rebuildIfIndexesChanged(client, def, tableName, create, dir);

    // Assess
    expect(count).toBe(1);
    expect(creates).toBe(1);
    expect(await getItem('bin')).toEqual(item);
    expect(existsSync(copy())).toBe(false);
  });

  it('a copy with a BOM and CRLF line ends is put back whole', async () => {
    await createScratch(false);
    await writeFile(copy(), `\uFEFF${line({ id: { S: 'one' }, n: { N: '1' } })}\r\n${line({ id: { S: 'two' } })}\r\n`);

    const count = await rebuildIfIndexesChanged(client, def, tableName, create, dir);

    expect(count).toBe(2);
    expect(await getItem('one')).toEqual({ id: { S: 'one' }, n: { N: '1' } });
    expect(await getItem('two')).toEqual({ id: { S: 'two' } });
  });

  it('a key given twice: the last line wins, as puts in order would (in one batch and across batches)', async () => {
    await createScratch(false);
    const lines = [line({ id: { S: 'dup' }, v: { N: '1' } }), line({ id: { S: 'dup' }, v: { N: '2' } })];
    for (let i = 0; i < 30; i++) lines.push(line({ id: { S: `filler-${i}` } }));
    lines.push(line({ id: { S: 'dup' }, v: { N: '3' } }));
    await writeFile(copy(), `${lines.join('\n')}\n`);

    await rebuildIfIndexesChanged(client, def, tableName, create, dir);

    expect(await getItem('dup')).toEqual({ id: { S: 'dup' }, v: { N: '3' } });
    expect(await getItem('filler-29')).toEqual({ id: { S: 'filler-29' } });
  });
});
