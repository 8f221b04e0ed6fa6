import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchDynaliteLevelWrites, batchLevelWrites, dynaliteLevelWriteCounts, type LevelDb, type Operation } from '../../infra/local/dynalite-level-writes.mjs';
import { cacheDynaliteTableDefinitions } from '../../infra/local/dynalite-table-cache.mjs';

/**
 * The stores' process makes dynalite read in place and write each event-loop turn's LevelDB operations in one
 * batch, an item's index entries with it (infra/local/dynalite-level-writes.mjs). First the layer against a
 * database whose batches the test releases (no timing); then dynalite itself through the real SDK, persisted
 * with LevelDB: the same answers as an unpatched dynalite for the same commands, conditional writes and
 * per-key order under concurrency, indexes that match their table, and the data there after a reopen.
 */

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A database holding JSON values whose batches are written when the test says so. */
function heldLevel() {
  const data = new Map<string, string>();
  const batches: Operation[][] = [];
  const held: Array<(error?: Error) => void> = [];
  let asyncReads = 0;
  let failRead: Error | undefined;
  const apply = (ops: Operation[]) => {
    for (const op of ops) {
      if (op.type === 'put') data.set(op.key, JSON.stringify(op.value));
      else data.delete(op.key);
    }
  };
  const decoded = (key: string) => (data.has(key) ? JSON.parse(data.get(key)!) : undefined);
  const db: LevelDb = {
    status: 'open',
    getSync(key) {
      if (failRead) throw failRead;
      return decoded(key);
    },
    get(key, callback) {
      asyncReads++;
      const value = decoded(key);
      setImmediate(() => callback(null, value));
    },
    put: () => {
      throw new Error('single puts go through the batch');
    },
    del: () => {
      throw new Error('single deletes go through the batch');
    },
    batch(ops, callback) {
      batches.push(ops);
      held.push((error) => {
        if (!error) apply(ops);
        callback(error ?? null);
      });
    },
  };
  return {
    db,
    data,
    batches,
    asyncReads: () => asyncReads,
    failReads: (error: Error | undefined) => (failRead = error),
    /** Writes (or fails) the oldest batch handed to the database. */
    release: (error?: Error) => held.shift()!(error),
    held: () => held.length,
  };
}

describe('one LevelDB batch per turn, reads in place', () => {
  it('the writes of one turn go as one batch, in the order issued, each answered only once it is written', async () => {
    const level = heldLevel();
    const tracked: Array<Promise<void>> = [];
    batchLevelWrites(level.db, { track: (operation) => tracked.push(operation) });
    const answers: string[] = [];
    level.db.put('a', { n: 1 }, (error) => answers.push(`a ${error}`));
    level.db.del('b', (error) => answers.push(`b ${error}`));
    level.db.batch(
      [
        { type: 'put', key: 'c', value: { n: 3 } },
        { type: 'del', key: 'a' },
      ],
      (error) => answers.push(`batch ${error}`),
    );
    level.db.put('d', { n: 4 }, (error) => answers.push(`d ${error}`));
    expect(level.batches).toHaveLength(0); // nothing before the turn ends
    await tick();
    expect(level.batches).toEqual([
      [
        { type: 'put', key: 'a', value: { n: 1 } },
        { type: 'del', key: 'b' },
        { type: 'put', key: 'c', value: { n: 3 } },
        { type: 'del', key: 'a' },
        { type: 'put', key: 'd', value: { n: 4 } },
      ],
    ]);
    await tick();
    expect(answers).toEqual([]); // not written yet: nobody answered
    let closedAfter = false;
    void tracked[0]!.then(() => (closedAfter = true));
    await tick();
    expect(tracked).toHaveLength(1);
    expect(closedAfter).toBe(false); // dynalite's close would still wait for it
    level.release();
    expect(answers).toEqual(['a null', 'b null', 'batch null', 'd null']);
    expect([...level.data.keys()].sort()).toEqual(['c', 'd']);
    await tick();
    expect(closedAfter).toBe(true);
  });

  it('a failed batch fails every write in it and no other; writes issued meanwhile go in the next batch', async () => {
    const level = heldLevel();
    batchLevelWrites(level.db);
    const answers: string[] = [];
    level.db.put('x', 1, (error) => answers.push(`x ${error?.message ?? 'ok'}`));
    level.db.put('y', 2, (error) => answers.push(`y ${error?.message ?? 'ok'}`));
    await tick();
    level.db.put('z', 3, (error) => answers.push(`z ${error?.message ?? 'ok'}`));
    await tick();
    expect(level.batches.map((b) => b.map((op) => op.key))).toEqual([['x', 'y'], ['z']]);
    level.release(new Error('disk full'));
    expect(answers).toEqual(['x disk full', 'y disk full']);
    level.release();
    expect(answers).toEqual(['x disk full', 'y disk full', 'z ok']);
    expect([...level.data.keys()]).toEqual(['z']);
  });

  it('an empty batch is answered without a write', async () => {
    const level = heldLevel();
    batchLevelWrites(level.db);
    let answered = false;
    level.db.batch([], () => (answered = true));
    await tick();
    expect(answered).toBe(true);
    expect(level.batches).toHaveLength(0);
  });

  it('a read of the open database is answered in place, never synchronously; before it is open, the old way', async () => {
    const level = heldLevel();
    level.data.set('k', JSON.stringify({ v: 'old' }));
    const { counts } = batchLevelWrites(level.db);
    let value: unknown = 'unanswered';
    level.db.get('k', (_error, v) => (value = v));
    expect(value).toBe('unanswered'); // asynchronous, as LevelDB's answer was
    await tick();
    expect(value).toEqual({ v: 'old' });
    expect(level.asyncReads()).toBe(0);
    expect(counts()).toMatchObject({ readsInPlace: 1 });

    let missing: unknown = 'unanswered';
    level.db.get('nothing', (error, v) => (missing = error ?? v));
    await tick();
    expect(missing).toBeUndefined(); // abstract-level's answer for a missing key

    level.failReads(new Error('Database is not open'));
    let failed: unknown;
    level.db.get('k', (error) => (failed = error));
    await tick();
    expect(failed).toMatchObject({ message: 'Database is not open' });
    level.failReads(undefined);

    level.db.status = 'opening';
    level.db.get('k', (_error, v) => (value = v));
    await tick();
    expect(level.asyncReads()).toBe(1);
  });

  it("a call without a callback (abstract-level replaying one it deferred while opening) goes to the database's own method", async () => {
    const level = heldLevel();
    const own: string[] = [];
    level.db.put = ((key: string) => own.push(`put ${key}`)) as LevelDb['put'];
    level.db.del = ((key: string) => own.push(`del ${key}`)) as LevelDb['del'];
    const ownBatch = level.db.batch;
    level.db.batch = ((ops: Operation[], callback: unknown) => (typeof callback === 'function' ? ownBatch(ops, callback as never) : own.push(`batch ${ops.length}`))) as LevelDb['batch'];
    level.db.get = ((key: string) => own.push(`get ${key}`)) as LevelDb['get'];
    batchLevelWrites(level.db);
    const call = level.db as unknown as Record<string, (...args: unknown[]) => unknown>;
    call.put!('a', 1, {});
    call.del!('b', undefined);
    call.batch!([{ type: 'del', key: 'c' }], {});
    call.get!('d', {});
    await tick();
    expect(own).toEqual(['put a', 'del b', 'batch 1', 'get d']);
    expect(level.batches).toHaveLength(0);
  });

  it('reads in place can be turned off', async () => {
    const level = heldLevel();
    const { counts } = batchLevelWrites(level.db, { readInPlace: false });
    level.db.get('k', () => undefined);
    await tick();
    expect(level.asyncReads()).toBe(1);
    expect(counts().readsInPlace).toBe(0);
  });
});

// The Audit and Predictions shapes of infra/tables.ts: a range key and an index projecting everything, and a
// hash-only table with an INCLUDE index; plus a local index, which dynalite maintains the same way.
const tables = [
  new CreateTableCommand({
    TableName: 'audit',
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'principal', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'day', AttributeType: 'S' },
      { AttributeName: 'status', AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: 'principal', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: 'byDay',
        KeySchema: [
          { AttributeName: 'day', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
    LocalSecondaryIndexes: [
      {
        IndexName: 'byStatus',
        KeySchema: [
          { AttributeName: 'principal', KeyType: 'HASH' },
          { AttributeName: 'status', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
  }),
  new CreateTableCommand({
    TableName: 'predictions',
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'id', AttributeType: 'S' },
      { AttributeName: 'model', AttributeType: 'S' },
      { AttributeName: 'psk', AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: 'byModel',
        KeySchema: [
          { AttributeName: 'model', KeyType: 'HASH' },
          { AttributeName: 'psk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['plant'] },
      },
    ],
  }),
];

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });
const audit = (i: number, day = 'd1', principal = 'p1') => ({ principal: S(principal), sk: S(`t${String(i).padStart(3, '0')}`), day: S(day), status: N(200 + (i % 3)), note: S(`record ${i}`) });
const prediction = (i: number, model = 'm1') => ({ id: S(`r${i}`), model: S(model), psk: S(`plant-a#t${i}`), plant: S('plant-a'), rows: { L: [N(i), N(i / 10)] } });

type Sent = { send: (command: never) => Promise<unknown> };

/** One command's outcome as a caller sees it: the output without its metadata, or the error's name and message. */
async function outcome(client: Sent, command: unknown): Promise<unknown> {
  try {
    const { $metadata: _metadata, ...output } = (await client.send(command as never)) as Record<string, unknown>;
    return output;
  } catch (error) {
    const e = error as Error;
    return { error: e.name, message: e.message };
  }
}

/** Every item of every table and index, in key order. */
async function everything(client: DynamoDBClient): Promise<unknown> {
  const sorted = (items: Array<Record<string, AttributeValue>> | undefined) => (items ?? []).map((item) => JSON.stringify(item, Object.keys(item).sort())).sort();
  return {
    audit: sorted((await client.send(new ScanCommand({ TableName: 'audit' }))).Items),
    predictions: sorted((await client.send(new ScanCommand({ TableName: 'predictions' }))).Items),
    byDay: sorted((await client.send(new ScanCommand({ TableName: 'audit', IndexName: 'byDay' }))).Items),
    byStatus: sorted((await client.send(new ScanCommand({ TableName: 'audit', IndexName: 'byStatus' }))).Items),
    byModel: sorted((await client.send(new ScanCommand({ TableName: 'predictions', IndexName: 'byModel' }))).Items),
  };
}

/** Commands in order, each awaited: every kind of item write the stores see, with indexes moved and removed. */
function script(): unknown[] {
  return [
    new BatchWriteItemCommand({
      RequestItems: { audit: Array.from({ length: 13 }, (_, i) => ({ PutRequest: { Item: audit(i) } })), predictions: Array.from({ length: 12 }, (_, i) => ({ PutRequest: { Item: prediction(i) } })) },
      ReturnConsumedCapacity: 'INDEXES',
    }),
    // An overwrite that moves an item to another day (its index entry moves) and another model.
    new PutItemCommand({ TableName: 'audit', Item: audit(3, 'd2'), ReturnValues: 'ALL_OLD', ReturnConsumedCapacity: 'TOTAL' }),
    new PutItemCommand({ TableName: 'predictions', Item: prediction(4, 'm2'), ReturnValues: 'ALL_OLD' }),
    // Conditional puts: the audit log's single put, refused for an existing key and accepted for a new one.
    new PutItemCommand({ TableName: 'audit', Item: audit(5), ConditionExpression: 'attribute_not_exists(sk)' }),
    new PutItemCommand({ TableName: 'audit', Item: audit(99), ConditionExpression: 'attribute_not_exists(sk)' }),
    // Updates: a counter's ADD with the new and old values, an index key set and removed, a failed condition.
    new UpdateItemCommand({ TableName: 'audit', Key: { principal: S('p1'), sk: S('t001') }, UpdateExpression: 'ADD hits :one', ExpressionAttributeValues: { ':one': N(1) }, ReturnValues: 'ALL_NEW' }),
    new UpdateItemCommand({ TableName: 'audit', Key: { principal: S('p1'), sk: S('t001') }, UpdateExpression: 'ADD hits :one', ExpressionAttributeValues: { ':one': N(2) }, ReturnValues: 'UPDATED_OLD' }),
    new UpdateItemCommand({ TableName: 'audit', Key: { principal: S('p1'), sk: S('t002') }, UpdateExpression: 'SET #day = :d', ExpressionAttributeNames: { '#day': 'day' }, ExpressionAttributeValues: { ':d': S('d3') }, ReturnValues: 'UPDATED_NEW' }),
    new UpdateItemCommand({ TableName: 'audit', Key: { principal: S('p1'), sk: S('t006') }, UpdateExpression: 'REMOVE #day', ExpressionAttributeNames: { '#day': 'day' }, ReturnValues: 'ALL_OLD' }),
    new UpdateItemCommand({ TableName: 'audit', Key: { principal: S('p2'), sk: S('new') }, UpdateExpression: 'SET #day = :d, note = :n', ExpressionAttributeNames: { '#day': 'day' }, ExpressionAttributeValues: { ':d': S('d1'), ':n': S('created by update') }, ReturnValues: 'ALL_NEW' }),
    new UpdateItemCommand({ TableName: 'audit', Key: { principal: S('p1'), sk: S('t007') }, UpdateExpression: 'SET note = :n', ConditionExpression: 'note = :other', ExpressionAttributeValues: { ':n': S('never'), ':other': S('nope') } }),
    // Deletes: one with the old item back, one of a missing key; a batch mixing deletes and puts.
    new DeleteItemCommand({ TableName: 'audit', Key: { principal: S('p1'), sk: S('t008') }, ReturnValues: 'ALL_OLD' }),
    new DeleteItemCommand({ TableName: 'predictions', Key: { id: S('missing') }, ReturnValues: 'ALL_OLD' }),
    new BatchWriteItemCommand({
      RequestItems: {
        audit: [{ DeleteRequest: { Key: { principal: S('p1'), sk: S('t009') } } }, { PutRequest: { Item: audit(9, 'd4', 'p3') } }],
        predictions: [{ DeleteRequest: { Key: { id: S('r10') } } }, { PutRequest: { Item: prediction(10, 'm3') } }],
      },
      ReturnConsumedCapacity: 'TOTAL',
    }),
    // Refusals: a repeated key in one batch, a key of the wrong type, an item over 400 KB.
    new BatchWriteItemCommand({ RequestItems: { predictions: [{ PutRequest: { Item: prediction(20) } }, { PutRequest: { Item: prediction(20) } }] } }),
    new BatchWriteItemCommand({ RequestItems: { predictions: [{ PutRequest: { Item: { ...prediction(21), id: N(21) } } }] } }),
    new PutItemCommand({ TableName: 'predictions', Item: { ...prediction(22), big: S('x'.repeat(410_000)) } }),
    // Reads through each index.
    new QueryCommand({ TableName: 'audit', IndexName: 'byDay', KeyConditionExpression: '#day = :d', ExpressionAttributeNames: { '#day': 'day' }, ExpressionAttributeValues: { ':d': S('d1') }, ScanIndexForward: false }),
    new QueryCommand({ TableName: 'predictions', IndexName: 'byModel', KeyConditionExpression: 'model = :m', ExpressionAttributeValues: { ':m': S('m1') } }),
    new QueryCommand({ TableName: 'audit', IndexName: 'byStatus', KeyConditionExpression: 'principal = :p AND #status = :s', ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: { ':p': S('p1'), ':s': N(201) } }),
    new GetItemCommand({ TableName: 'audit', Key: { principal: S('p1'), sk: S('t001') } }),
  ];
}

async function startDynalite(path: string) {
  const server: Server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  return {
    client,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('dynalite with batched writes, persisted (as the stores process starts it)', () => {
  let dir: string;
  let reference: Awaited<ReturnType<typeof startDynalite>>;
  let batched: Awaited<ReturnType<typeof startDynalite>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'level-writes-'));
    // Started before the layer is installed: dynalite as it comes.
    reference = await startDynalite(join(dir, 'reference'));
    cacheDynaliteTableDefinitions();
    batchDynaliteLevelWrites();
    batchDynaliteLevelWrites(); // twice changes nothing
    batched = await startDynalite(join(dir, 'batched'));
    for (const table of tables) {
      await reference.client.send(table);
      await batched.client.send(table);
    }
    // CreateTable answers CREATING; the table takes writes once ACTIVE (dynalite flips it on a timer).
    for (const { client } of [reference, batched]) {
      for (const table of tables) {
        while ((await client.send(new DescribeTableCommand({ TableName: table.input.TableName }))).Table?.TableStatus !== 'ACTIVE');
      }
    }
  });

  afterAll(async () => {
    await reference?.close();
    await batched?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers every command as dynalite does, and leaves the same items and index entries', async () => {
    const before = dynaliteLevelWriteCounts();
    for (const command of script()) {
      expect(await outcome(batched.client, command)).toEqual(await outcome(reference.client, command));
    }
    expect(await everything(batched.client)).toEqual(await everything(reference.client));
    const after = dynaliteLevelWriteCounts();
    expect(after.readsInPlace).toBeGreaterThan(before.readsInPlace); // the layer was on this store, not the reference's
    expect(after.batches).toBeGreaterThan(before.batches);
  });

  it("writes a BatchWriteItem's items with their index entries in a few LevelDB batches, not one write per step", async () => {
    const before = dynaliteLevelWriteCounts();
    await batched.client.send(
      new BatchWriteItemCommand({
        RequestItems: { audit: Array.from({ length: 13 }, (_, i) => ({ PutRequest: { Item: audit(100 + i, 'd5') } })), predictions: Array.from({ length: 12 }, (_, i) => ({ PutRequest: { Item: prediction(100 + i) } })) },
      }),
    );
    const after = dynaliteLevelWriteCounts();
    // 25 items, 25 GSI entries and 13 LSI entries; dynalite alone made a LevelDB write of each, in two steps per item.
    expect(after.operations - before.operations).toBe(63);
    expect(after.batches - before.batches).toBeLessThanOrEqual(2);
    expect(after.readsInPlace - before.readsInPlace).toBeGreaterThanOrEqual(25); // each item's old value
  });

  it('concurrent conditional puts of one key: exactly one passes', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => batched.client.send(new PutItemCommand({ TableName: 'predictions', Item: { ...prediction(500), plant: S(`writer ${i}`) }, ConditionExpression: 'attribute_not_exists(id)' }))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.name)).toEqual(Array(29).fill('ConditionalCheckFailedException'));
  });

  it('concurrent ADDs to one key are applied one after the other: each sees the one before', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, () => batched.client.send(new UpdateItemCommand({ TableName: 'audit', Key: { principal: S('counter'), sk: S('c') }, UpdateExpression: 'ADD n :one', ExpressionAttributeValues: { ':one': N(1) }, ReturnValues: 'UPDATED_NEW' }))),
    );
    expect(results.map((r) => Number(r.Attributes?.n?.N)).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('concurrent batches and updates moving the same items between index keys leave each index matching its table', async () => {
    const calls: Array<Promise<unknown>> = [];
    for (let round = 0; round < 6; round++) {
      calls.push(batched.client.send(new BatchWriteItemCommand({ RequestItems: { predictions: Array.from({ length: 10 }, (_, i) => ({ PutRequest: { Item: prediction(700 + i, `m${round % 3}`) } })) } })));
      for (let i = 0; i < 10; i += 3) {
        calls.push(batched.client.send(new UpdateItemCommand({ TableName: 'predictions', Key: { id: S(`r${700 + i}`) }, UpdateExpression: 'SET model = :m, psk = :p', ExpressionAttributeValues: { ':m': S(`u${round}`), ':p': S(`plant-a#u${i}`) } })));
      }
    }
    await Promise.all(calls);
    const items = (await batched.client.send(new ScanCommand({ TableName: 'predictions', FilterExpression: 'begins_with(id, :r70)', ExpressionAttributeValues: { ':r70': S('r70') } }))).Items ?? [];
    const entries = (await batched.client.send(new ScanCommand({ TableName: 'predictions', IndexName: 'byModel', FilterExpression: 'begins_with(id, :r70)', ExpressionAttributeValues: { ':r70': S('r70') } }))).Items ?? [];
    expect(items).toHaveLength(10);
    const entryOf = (item: Record<string, AttributeValue>) => `${item.id!.S} ${item.model!.S} ${item.psk!.S}`;
    expect(entries.map(entryOf).sort()).toEqual(items.map(entryOf).sort());
  });

  it('what was answered is in LevelDB: a new dynalite on the same directory reads it, indexes included', async () => {
    const expected = await everything(batched.client);
    await batched.close();
    batched = await startDynalite(join(dir, 'batched'));
    expect(await everything(batched.client)).toEqual(expected);
  });
});
