import type { AddressInfo, Server } from 'node:net';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheDynaliteTableDefinitions, cacheTableDefinitions, tableDefinitionsReadFromLevel } from '../../infra/local/dynalite-table-cache.mjs';

/**
 * The stores' process keeps dynalite's table definitions in memory (infra/local/dynalite-table-cache.mjs).
 * First the cache against a table store whose answers the test releases (no timing): reads, copies, and
 * every ordering of a read against a write or delete of the same definition; then dynalite itself, through
 * the real SDK, changing tables under it.
 */

type Callback = (error: Error | null, value?: unknown) => void;

/** A table store that answers when the test says so, holding what LevelDB would. */
function heldTableDb(initial: Record<string, unknown>) {
  const data = new Map(Object.entries(initial).map(([k, v]) => [k, JSON.stringify(v)]));
  const held: Array<() => void> = [];
  let reads = 0;
  const db = {
    get(name: string, callback: Callback) {
      reads++;
      // The value as it is when the read is issued (LevelDB reads a snapshot).
      const raw = data.get(name);
      held.push(() => (raw === undefined ? callback(Object.assign(new Error('NotFound'), { name: 'NotFoundError' })) : callback(null, JSON.parse(raw))));
    },
    put(name: string, value: unknown, callback: (error?: Error | null) => void) {
      held.push(() => {
        data.set(name, JSON.stringify(value));
        callback(null);
      });
    },
    del(name: string, callback: (error?: Error | null) => void) {
      held.push(() => {
        data.delete(name);
        callback(null);
      });
    },
  };
  return {
    db,
    reads: () => reads,
    /** Answers the newest held call. */
    releaseLast: () => held.pop()!(),
    /** Answers the oldest held call. */
    release: () => held.shift()!(),
    releaseAll: () => {
      while (held.length) held.shift()!();
    },
  };
}

function read(db: { get(name: string, cb: Callback): void }, name: string): Promise<{ error: Error | null; value?: any }> {
  return new Promise((resolve) => db.get(name, (error, value) => resolve({ error, value })));
}

async function settle<T>(store: ReturnType<typeof heldTableDb>, pending: Promise<T>): Promise<T> {
  store.releaseAll();
  return pending;
}

describe('the table-definition cache', () => {
  const orders = { TableName: 'orders', TableStatus: 'ACTIVE', KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }] };

  it('reads a definition from the store once, then answers from memory, asynchronously, a copy each time', async () => {
    const store = heldTableDb({ orders });
    const cache = cacheTableDefinitions(store.db);
    const first = await settle(store, read(store.db, 'orders'));
    expect(first.value).toEqual(orders);

    let answered = false;
    const second = read(store.db, 'orders').then((r) => {
      answered = true;
      return r;
    });
    expect(answered).toBe(false); // never synchronously: dynalite takes locks around these reads
    const hit = await second;
    expect(hit.value).toEqual(orders);
    expect(store.reads()).toBe(1);
    expect(cache.levelReads()).toBe(1);

    // A caller that changes what it read (dynalite's UpdateTable does) changes nobody else's copy.
    hit.value.TableStatus = 'UPDATING';
    first.value.KeySchema.push({ AttributeName: 'x', KeyType: 'RANGE' });
    expect((await read(store.db, 'orders')).value).toEqual(orders);
  });

  it('a write drops the copy: the next read gets the new definition from the store', async () => {
    const store = heldTableDb({ orders });
    cacheTableDefinitions(store.db);
    await settle(store, read(store.db, 'orders'));
    const updated = { ...orders, TableStatus: 'UPDATING' };
    await settle(store, new Promise((resolve) => store.db.put('orders', updated, resolve)));
    expect((await settle(store, read(store.db, 'orders'))).value).toEqual(updated);
    expect(store.reads()).toBe(2);
    expect((await read(store.db, 'orders')).value).toEqual(updated);
    expect(store.reads()).toBe(2);
  });

  it('a read that raced a write never leaves the old definition behind', async () => {
    const store = heldTableDb({ orders });
    cacheTableDefinitions(store.db);
    const updated = { ...orders, TableStatus: 'DELETING' };
    const stale = read(store.db, 'orders'); // issued first: it will answer the old definition
    const written = new Promise((resolve) => store.db.put('orders', updated, resolve));
    store.release(); // the read answers (old value) while the write is in flight
    expect((await stale).value).toEqual(orders);
    store.release(); // the write lands
    await written;
    expect((await settle(store, read(store.db, 'orders'))).value).toEqual(updated);

    // And the other order: the write lands first, then the read issued before it answers the old value.
    const store2 = heldTableDb({ orders });
    cacheTableDefinitions(store2.db);
    const early = read(store2.db, 'orders');
    const write2 = new Promise((resolve) => store2.db.put('orders', updated, resolve));
    store2.releaseLast(); // the write lands
    await write2;
    store2.release(); // then the older read answers the old definition
    expect((await early).value).toEqual(orders);
    expect((await settle(store2, read(store2.db, 'orders'))).value).toEqual(updated);
  });

  it('reads while a write is in flight go to the store and fill nothing', async () => {
    const store = heldTableDb({ orders });
    cacheTableDefinitions(store.db);
    await settle(store, read(store.db, 'orders'));
    const updated = { ...orders, TableStatus: 'ACTIVE', ItemCount: 1 };
    const written = new Promise((resolve) => store.db.put('orders', updated, resolve));
    const during = read(store.db, 'orders');
    expect(store.reads()).toBe(2); // the copy was dropped when the write started
    store.release(); // the write lands
    store.release(); // the read issued before it landed
    await written;
    await during;
    expect((await settle(store, read(store.db, 'orders'))).value).toEqual(updated);
    expect(store.reads()).toBe(3); // the read during the write did not fill the cache
  });

  it('a delete drops the copy, and a missing table is read from the store each time', async () => {
    const store = heldTableDb({ orders });
    cacheTableDefinitions(store.db);
    await settle(store, read(store.db, 'orders'));
    await settle(store, new Promise((resolve) => store.db.del('orders', resolve)));
    const gone = await settle(store, read(store.db, 'orders'));
    expect(gone.error?.name).toBe('NotFoundError');
    const still = await settle(store, read(store.db, 'orders'));
    expect(still.error?.name).toBe('NotFoundError');
    expect(store.reads()).toBe(3);
  });
});

describe('dynalite with the cache (the stores process sets it before dynalite starts)', () => {
  let server: Server;
  let client: DynamoDBClient;
  const table = 'cache-proof';

  beforeAll(async () => {
    cacheDynaliteTableDefinitions();
    cacheDynaliteTableDefinitions(); // twice changes nothing
    server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  });

  afterAll(async () => {
    client?.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reads each definition from LevelDB once across many item writes', async () => {
    const beforeCreate = tableDefinitionsReadFromLevel();
    await client.send(
      new CreateTableCommand({
        TableName: table,
        ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    const put = (i: number) => client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: `k${i}` }, n: { N: String(i) }, g: { S: 'all' } } }));
    // dynalite writes the definition twice: CREATING now, then ACTIVE (createTableMs 0, on a timer). On a busy
    // machine that second write landed after the first put and dropped the cached copy (a third read): the
    // count starts once the table is ACTIVE and one put has read it.
    let described = await client.send(new DescribeTableCommand({ TableName: table }));
    for (let i = 0; i < 100 && described.Table?.TableStatus !== 'ACTIVE'; i++) described = await client.send(new DescribeTableCommand({ TableName: table }));
    expect(described.Table?.TableStatus).toBe('ACTIVE');
    await put(0);
    const afterFirst = tableDefinitionsReadFromLevel();
    expect(afterFirst).toBeGreaterThan(beforeCreate); // this dynalite's store is the cached one: its reads went to LevelDB
    for (let i = 1; i < 30; i++) await put(i);
    expect(tableDefinitionsReadFromLevel()).toBe(afterFirst);
    const item = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'k7' } } }));
    expect(item.Item?.n?.N).toBe('7');
  });

  it('a throughput change by UpdateTable shows at once, and its status as it moves', async () => {
    const updated = await client.send(new UpdateTableCommand({ TableName: table, ProvisionedThroughput: { ReadCapacityUnits: 7, WriteCapacityUnits: 9 } }));
    expect(updated.TableDescription?.TableStatus).toBe('UPDATING');
    // dynalite writes the definition twice: UPDATING now, then ACTIVE with the new figures (updateTableMs 0).
    let described = await client.send(new DescribeTableCommand({ TableName: table }));
    for (let i = 0; i < 100 && described.Table?.TableStatus !== 'ACTIVE'; i++) {
      expect(described.Table?.TableStatus).toBe('UPDATING');
      described = await client.send(new DescribeTableCommand({ TableName: table }));
    }
    expect(described.Table?.TableStatus).toBe('ACTIVE');
    expect(described.Table?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 7, WriteCapacityUnits: 9 });
  });

  it('a table dropped and created again with another key schema is served with the new one', async () => {
    await client.send(new DeleteTableCommand({ TableName: table }));
    await expect(client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'x' } } }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
    // The old schema's key is now refused; the new one's is stored.
    await expect(client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'x' } } }))).rejects.toMatchObject({ name: 'ValidationException' });
    await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'x' }, sk: { N: '1' } } }));
    const item = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'x' }, sk: { N: '1' } } }));
    expect(item.Item?.pk?.S).toBe('x');
  });
});
