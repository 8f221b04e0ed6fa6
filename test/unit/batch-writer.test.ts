import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { BatchWriter, UnprocessedItemError, writerFor, type TablePut } from '../../functions/adapters/batch-put.js';

/**
 * The shared group-commit writer (functions/adapters/batch-put.ts) alone, with a client whose BatchWriteItem
 * calls the test finishes by hand: which items each call carries, in what order, and which submitters each
 * outcome reaches.
 */

type Item = Record<string, unknown>;

interface Call {
  items: Record<string, Item[]>;
  finish(result?: { unprocessed?: Record<string, Item[]> } | Error): void;
}

function controlledClient() {
  const calls: Call[] = [];
  const db = {
    send: (command: unknown) =>
      new Promise((resolve, reject) => {
        if (!(command instanceof BatchWriteCommand)) throw new Error(`unexpected ${String(command)}`);
        const requests = command.input.RequestItems ?? {};
        calls.push({
          items: Object.fromEntries(Object.entries(requests).map(([table, list]) => [table, list.map((r) => r.PutRequest!.Item as Item)])),
          finish: (result) =>
            result instanceof Error
              ? reject(result)
              : resolve({ UnprocessedItems: Object.fromEntries(Object.entries(result?.unprocessed ?? {}).map(([t, items]) => [t, items.map((Item) => ({ PutRequest: { Item } }))])) }),
        });
      }),
  } as unknown as DynamoDBDocumentClient;
  return { db, calls };
}

/** A table registration whose single puts are recorded (and succeed). */
function table(tableName: string, singles: string[]): TablePut {
  return {
    tableName,
    keyOf: (item) => String(item.id),
    single: async (item) => void singles.push(`${tableName}:${String(item.id)}`),
    unprocessed: (attempts) => new UnprocessedItemError(tableName, attempts),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
const ids = (items: Item[] | undefined) => (items ?? []).map((i) => i.id);

describe('BatchWriter', () => {
  it('an item alone is its table\'s single put: no BatchWriteItem', async () => {
    // Prepare
    const { db, calls } = controlledClient();
    const singles: string[] = [];
    const audit = new BatchWriter(db).table(table('audit', singles));

    // Act
    await audit({ id: 'a1' });
    await audit({ id: 'a2' });

    // Assess
    expect(singles).toEqual(['audit:a1', 'audit:a2']);
    expect(calls).toHaveLength(0);
  });

  it('items of two tables submitted in one turn go in ONE call, in submission order, each answered when it returns', async () => {
    // Prepare
    const { db, calls } = controlledClient();
    const singles: string[] = [];
    const writer = new BatchWriter(db);
    const audit = writer.table(table('audit', singles));
    const served = writer.table(table('served', singles));
    let answered = 0;

    // Act
    const pending = [served({ id: 'r1' }), audit({ id: 'a1' }), served({ id: 'r2' })].map((p) => p.then(() => answered++));
    await turn();
    const before = answered;
    calls[0]!.finish();
    await Promise.all(pending);

    // Assess
    expect(calls).toHaveLength(1);
    expect(ids(calls[0]!.items.served)).toEqual(['r1', 'r2']);
    expect(ids(calls[0]!.items.audit)).toEqual(['a1']);
    expect(before).toBe(0);
    expect(answered).toBe(3);
    expect(singles).toEqual([]);
  });

  it('items submitted while a call is in flight go together in the next call, in order', async () => {
    // Prepare
    const { db, calls } = controlledClient();
    const singles: string[] = [];
    const writer = new BatchWriter(db);
    const audit = writer.table(table('audit', singles));
    const served = writer.table(table('served', singles));

    // Act
    const first = [audit({ id: 'a1' }), served({ id: 'r1' })];
    await turn();
    const second = [served({ id: 'r2' }), audit({ id: 'a2' }), audit({ id: 'a3' })];
    await turn();
    const inFlight = calls.length;
    calls[0]!.finish();
    await Promise.all(first);
    await turn();
    calls[1]!.finish();
    await Promise.all(second);

    // Assess
    expect(inFlight).toBe(1);
    expect(calls.map((c) => [ids(c.items.audit), ids(c.items.served)])).toEqual([
      [['a1'], ['r1']],
      [['a2', 'a3'], ['r2']],
    ]);
  });

  it('a failed call fails exactly the items it carried: 30 items are two calls (25 + 5), one fails', async () => {
    // Prepare
    const { db, calls } = controlledClient();
    const singles: string[] = [];
    const writer = new BatchWriter(db);
    const audit = writer.table(table('audit', singles));
    const served = writer.table(table('served', singles));

    // Act
    const results = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? audit : served)({ id: `x${i}` }));
    await turn();
    calls[0]!.finish(new Error('connection reset'));
    calls[1]!.finish();
    const settled = await Promise.allSettled(results);

    // Assess
    expect(calls.map((c) => ids(c.items.audit).length + ids(c.items.served).length)).toEqual([25, 5]);
    const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [`x${i}`] : []));
    const carriedByFirst = [...ids(calls[0]!.items.audit), ...ids(calls[0]!.items.served)].map(String).sort();
    expect(failed.sort()).toEqual(carriedByFirst);
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
  });

  it('unprocessed items are re-sent alone; those still unprocessed fail with their table\'s error, the rest succeed', async () => {
    // Prepare
    const { db, calls } = controlledClient();
    const singles: string[] = [];
    const delays: number[] = [];
    const writer = new BatchWriter(db, { retryDelaysMs: [5, 7], sleep: async (ms) => void delays.push(ms) });
    const audit = writer.table(table('audit', singles));
    const served = writer.table(table('served', singles));

    // Act
    const results = [audit({ id: 'a1' }), served({ id: 'r1' }), audit({ id: 'a2' })];
    await turn();
    calls[0]!.finish({ unprocessed: { served: [{ id: 'r1' }], audit: [{ id: 'a2' }] } });
    await turn();
    calls[1]!.finish({ unprocessed: { served: [{ id: 'r1' }] } });
    await turn();
    calls[2]!.finish({ unprocessed: { served: [{ id: 'r1' }] } });
    const settled = await Promise.allSettled(results);

    // Assess
    expect(calls.map((c) => [ids(c.items.audit), ids(c.items.served)])).toEqual([
      [['a1', 'a2'], ['r1']],
      [['a2'], ['r1']],
      [[], ['r1']],
    ]);
    expect(delays).toEqual([5, 7]);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toEqual(new UnprocessedItemError('served', 3));
  });

  it('one key twice in a table waits for a later call; the same key in another table goes along', async () => {
    // Prepare
    const { db, calls } = controlledClient();
    const singles: string[] = [];
    const writer = new BatchWriter(db);
    const audit = writer.table(table('audit', singles));
    const served = writer.table(table('served', singles));

    // Act
    const results = [audit({ id: 'k', n: 1 }), served({ id: 'k' }), audit({ id: 'k', n: 2 })];
    await turn();
    calls.forEach((c) => c.finish());
    await Promise.all(results);

    // Assess
    expect(calls.map((c) => [c.items.audit?.map((i) => i.n), ids(c.items.served)])).toEqual([
      [[1], ['k']],
      [[2], []],
    ]);
  });

  it('a store refuses a shared writer of another client', () => {
    // Prepare
    const a = controlledClient().db;
    const b = controlledClient().db;

    // Act
    const shared = new BatchWriter(a);

    // Assess
    expect(writerFor(a, { writer: shared })).toBe(shared);
    expect(() => writerFor(b, { writer: shared })).toThrow(/own DynamoDB client/);
    expect(writerFor(b, {})).not.toBe(shared);
  });
});
