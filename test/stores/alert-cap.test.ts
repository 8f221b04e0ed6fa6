import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAlertCapStore } from '../../functions/adapters/dynamodb-alert-cap-store.js';
import { DynamoDbAlertStateStore } from '../../functions/adapters/dynamodb-alert-state-store.js';
import { localTableName } from '../../infra/local/seed.js';
import { recording, startMemoryDynamo, type MemoryDynamo } from '../support/dynalite.js';
import { tableDef } from '../support/reliability.js';

/**
 * The alert cap's counts in the AlertState table (functions/adapters/dynamodb-alert-cap-store.ts) and the
 * claim a held-back alert leaves (DynamoDbAlertStateStore.suppress), against dynalite in memory: the counts hold
 * across containers (concurrent callers), and an owed summary is taken once.
 */

const table = localTableName(tableDef('AlertState'));
const window = '2027-03-01T10:00:00.000Z';
const expires = Math.floor(Date.parse(window) / 1000) + 3 * 86_400;

let dynamo: MemoryDynamo;
let db: DynamoDBDocumentClient;
let unique = 0;
const scope = (name: string) => `plant#${name}-${++unique}`;

beforeAll(async () => {
  dynamo = await startMemoryDynamo(['AlertState']);
  ({ db } = dynamo);
});

afterAll(() => dynamo?.stop());

describe('alert cap store', () => {
  it('take: 20 concurrent takes against a cap of 5 count exactly 5, as one atomic conditional update each', async () => {
    // Prepare
    const r = recording(db);
    const store = new DynamoDbAlertCapStore(r.client, table);
    const north = scope('north');

    // Act
    const taken = await Promise.all(Array.from({ length: 20 }, () => store.take(north, window, 5, expires)));

    // Assert
    expect(taken.filter(Boolean)).toHaveLength(5);
    expect(new Set(r.names())).toEqual(new Set(['UpdateCommand']));
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { pk: `cap#${north}`, sk: window }, ConsistentRead: true }));
    expect(Item).toMatchObject({ sent: 5, ttl: expires });
    // Another plant and another window have their own counts.
    expect(await store.take(scope('south'), window, 5, expires)).toBe(true);
    expect(await store.take(north, '2027-03-01T10:15:00.000Z', 5, expires)).toBe(true);
  });

  it('hold: counts every held-back alert and its model; exactly one of concurrent holds is the first', async () => {
    const store = new DynamoDbAlertCapStore(db, table);
    const north = scope('north');
    const held = await Promise.all(Array.from({ length: 10 }, (_, i) => store.hold(north, window, `model-${i % 3}`, expires)));
    expect([...held].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await store.owe(north, window, expires);
    expect(await store.settle(north, window)).toEqual({ sent: 0, held: 10, models: ['model-0', 'model-1', 'model-2'] });
  });

  it('owed summaries: only windows before the given start, oldest first; each taken once, put back on failure', async () => {
    const store = new DynamoDbAlertCapStore(db, table);
    const north = scope('north');
    const earlier = '2027-03-01T09:45:00.000Z';
    for (let i = 0; i < 4; i++) await store.take(north, earlier, 2, expires);
    await store.hold(north, earlier, 'reactor-yield', expires);
    await store.owe(north, earlier, expires);
    await store.owe(north, window, expires);

    // Act / Assert: at 10:00 only the 09:45 window is over.
    const owed = (await store.owed(window, 100)).filter((o) => o.scope === north);
    expect(owed).toEqual([{ scope: north, window: earlier }]);
    const settled = await Promise.all(Array.from({ length: 10 }, () => store.settle(north, earlier)));
    expect(settled.filter((s) => s !== undefined)).toEqual([{ sent: 2, held: 1, models: ['reactor-yield'] }]);
    expect((await store.owed(window, 100)).filter((o) => o.scope === north)).toEqual([]);
    await store.unsettle(north, earlier, expires);
    expect((await store.owed(window, 100)).filter((o) => o.scope === north)).toEqual([{ scope: north, window: earlier }]);
    expect((await store.owed('2027-03-01T10:15:00.000Z', 100)).filter((o) => o.scope === north).map((o) => o.window)).toEqual([earlier, window]);
  });
});

describe('alert state store: a claim the cap held back', () => {
  const state = () => new DynamoDbAlertStateStore(db, table, { eventRetentionDays: 30 });
  const at = (ms: number) => new Date(Date.parse(window) + ms).toISOString();

  it('keeps the cooldown, is not firing, and nothing resolves it', async () => {
    const key = `capped-${++unique}`;
    const claim = await state().claim(key, at(0), 900);
    await state().suppress(key, claim!);
    expect(await state().isFiring(key)).toBe(false);
    expect(await state().claim(key, at(60_000), 900)).toBeUndefined();
    expect(await state().resolve(key, at(60_000))).toBe(false);
    // After the cooldown it is claimed afresh (no previous firing state to restore).
    expect(await state().claim(key, at(901_000), 900)).toEqual({ at: at(901_000) });
  });

  it('a firing alert whose reminder was held back stays firing; a late suppress never touches a newer claim', async () => {
    const key = `capped-firing-${++unique}`;
    await state().claim(key, at(0), 900);
    const reminder = await state().claim(key, at(901_000), 900);
    expect(reminder?.previous?.state).toBe('firing');
    await state().suppress(key, reminder!);
    expect(await state().isFiring(key)).toBe(true);
    const stale = { at: at(0) };
    await state().suppress(key, stale);
    expect(await state().isFiring(key)).toBe(true);
  });
});
