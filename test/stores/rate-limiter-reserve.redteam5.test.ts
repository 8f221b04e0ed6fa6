import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbRateLimiter } from '../../functions/adapters/dynamodb-rate-limiter.js';
import { localTableName } from '../../infra/local/seed.js';
import { startMemoryDynamo, type MemoryDynamo } from '../support/dynalite.js';
import { tableDef } from '../support/reliability.js';

/**
 * Hostile review of reserving ahead (redteam5): a weighted take (a sweep's rows, PrincipalRateLimit.charge)
 * must see the takes this process holds in reserve as unused, or the principal is refused before its limit;
 * and whatever the mix of single and weighted takes and refunds, never more than the limit is admitted.
 */

const table = localTableName(tableDef('RateCounters'));
const window = 60;
const windowStart = 1_800_000_000 - (1_800_000_000 % window);
const at = (seconds: number) => () => seconds * 1000;

let dynamo: MemoryDynamo;
let db: DynamoDBDocumentClient;

async function count(bucket: string, start = windowStart): Promise<unknown> {
  return (await db.send(new GetCommand({ TableName: table, Key: { pk: `${bucket}#${start}` } }))).Item?.count;
}

beforeAll(async () => {
  dynamo = await startMemoryDynamo(['RateCounters']);
  db = dynamo.db;
});

afterAll(() => dynamo?.stop());

describe('reserving ahead and weighted takes', () => {
  it('a weighted take that fits the limit with what was handed out is allowed, though the reserve is counted in the store', async () => {
    // Prepare: one take reserves floor(49 / 8) = 6 more (store count 7, 1 used).
    const limiter = new DynamoDbRateLimiter(db, table, at(windowStart + 5), { maxAhead: 64 });
    expect((await limiter.take('w-fit', 50, window)).allowed).toBe(true);
    expect(await count('w-fit')).toBe(7);

    // Act: 1 used + 49 = 50, the limit.
    const weighted = await limiter.take('w-fit', 50, window, 49);
    const over = await limiter.take('w-fit', 50, window);

    // Assert: allowed, and then nothing more (the reserve went into the weighted take).
    expect(weighted.allowed).toBe(true);
    expect(weighted.remaining).toBe(0);
    expect(over.allowed).toBe(false);
    expect(await count('w-fit')).toBe(50);
  });

  it('a weighted take over the limit is refused and leaves the reserve for the next single takes', async () => {
    // Prepare: 1 used, 6 reserved.
    const limiter = new DynamoDbRateLimiter(db, table, at(windowStart + 5), { maxAhead: 64 });
    await limiter.take('w-over', 50, window);

    // Act: 1 + 50 > 50; then 49 single takes fit, the 50th does not.
    const weighted = await limiter.take('w-over', 50, window, 50);
    const singles = await Promise.all(Array.from({ length: 50 }, () => limiter.take('w-over', 50, window)));

    // Assert
    expect(weighted.allowed).toBe(false);
    expect(singles.filter((d) => d.allowed)).toHaveLength(49);
    expect(await count('w-over')).toBe(50);
  });

  it('concurrent single and weighted takes with refunds never admit more than the limit', async () => {
    // Prepare
    const limiter = new DynamoDbRateLimiter(db, table, at(windowStart + 5), { maxAhead: 64 });
    let admitted = 0;
    const one = async (cost: number, refund: boolean) => {
      const decision = await limiter.take('w-mix', 200, window, cost);
      if (!decision.allowed) return;
      if (refund) await limiter.refund('w-mix', decision);
      else admitted += cost;
    };

    // Act: 300 singles (every fifth refunded) and 30 weighted takes of 7 (every third refunded), interleaved.
    await Promise.all([...Array.from({ length: 300 }, (_, i) => one(1, i % 5 === 0)), ...Array.from({ length: 30 }, (_, i) => one(7, i % 3 === 0))]);
    await Promise.all(Array.from({ length: 100 }, () => one(1, false)));

    // Assert: exactly the limit (the last singles used what was left in reserve), and the store agrees.
    expect(admitted).toBe(200);
    expect(await count('w-mix')).toBe(200);
  });

  it('a take given back while the next reserve is being written stays usable: the limit is reached exactly', async () => {
    // Prepare: limit 20, one take reserves floor(19 / 8) = 2 ahead; both are handed out.
    const limiter = new DynamoDbRateLimiter(db, table, at(windowStart + 5), { maxAhead: 64 });
    const first = await limiter.take('w-refund', 20, window);
    await limiter.take('w-refund', 20, window);
    await limiter.take('w-refund', 20, window);

    // Act: a take goes to the store (its write in flight), and meanwhile the first take is given back (a key's
    // take when its owner refused); then takes until refused.
    const pending = limiter.take('w-refund', 20, window);
    await new Promise((resolve) => setImmediate(resolve));
    await limiter.refund('w-refund', first);
    expect((await pending).allowed).toBe(true);
    const rest = await Promise.all(Array.from({ length: 30 }, () => limiter.take('w-refund', 20, window)));

    // Assert: 3 - 1 + 1 before, so exactly 17 more (a lost refund would leave 16).
    expect(rest.filter((d) => d.allowed)).toHaveLength(17);
    expect(await count('w-refund')).toBe(20);
  });
});
