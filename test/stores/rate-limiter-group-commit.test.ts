import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbRateLimiter } from '../../functions/adapters/dynamodb-rate-limiter.js';
import { localTableName } from '../../infra/local/seed.js';
import { startMemoryDynamo, type MemoryDynamo } from '../support/dynalite.js';
import { tableDef } from '../support/reliability.js';

/**
 * The rate limiter's group commit: concurrent takes of one counter in ONE limiter instance (as in the local
 * twin, which serves many requests in one process) share writes, and still decide exactly as one write per
 * take would. Against dynalite in memory; the per-take contract is in dynamodb-adapters.test.ts.
 */

const table = localTableName(tableDef('RateCounters'));
const window = 60;
const windowStart = 1_800_000_000 - (1_800_000_000 % window);
const at = (seconds: number) => () => seconds * 1000;

let dynamo: MemoryDynamo;
let db: DynamoDBDocumentClient;
let writes = 0;

/** The document client, counting the writes that reach DynamoDB. */
const counting = () =>
  ({
    send: (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
      writes++;
      return db.send(command);
    },
  }) as unknown as DynamoDBDocumentClient;

async function count(bucket: string, start = windowStart): Promise<unknown> {
  return (await db.send(new GetCommand({ TableName: table, Key: { pk: `${bucket}#${start}` } }))).Item?.count;
}

beforeAll(async () => {
  dynamo = await startMemoryDynamo(['RateCounters']);
  db = dynamo.db;
});

afterAll(() => dynamo?.stop());

describe('rate limiter group commit (one instance, concurrent takes)', () => {
  it('100 concurrent takes under the limit: all allowed, each remaining value once, far fewer writes than takes', async () => {
    // Prepare
    const limiter = new DynamoDbRateLimiter(counting(), table, at(windowStart + 10));
    writes = 0;

    // Act
    const decisions = await Promise.all(Array.from({ length: 100 }, () => limiter.take('burst-under', 1000, window)));

    // Assess
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(decisions.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => 900 + i));
    expect(await count('burst-under')).toBe(100);
    expect(writes).toBeLessThan(10);
  });

  it('200 concurrent takes at a limit of 50: exactly 50 allowed, each remaining value once, count 50', async () => {
    // Prepare
    const limiter = new DynamoDbRateLimiter(counting(), table, at(windowStart + 15.5));

    // Act
    const decisions = await Promise.all(Array.from({ length: 200 }, () => limiter.take('burst-over', 50, window)));

    // Assess
    const allowed = decisions.filter((d) => d.allowed);
    expect(allowed).toHaveLength(50);
    expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (const refused of decisions.filter((d) => !d.allowed)) expect(refused).toEqual({ allowed: false, limit: 50, remaining: 0, resetSeconds: 45 });
    expect(await count('burst-over')).toBe(50);
  });

  it('a group that would overshoot the limit is decided take by take: the count stops exactly at the limit', async () => {
    // Prepare: 8 of 10 used.
    const limiter = new DynamoDbRateLimiter(counting(), table, at(windowStart + 1));
    for (let i = 0; i < 8; i++) await limiter.take('near-limit', 10, window);

    // Act
    const decisions = await Promise.all(Array.from({ length: 6 }, () => limiter.take('near-limit', 10, window)));

    // Assess
    expect(decisions.filter((d) => d.allowed).map((d) => d.remaining).sort()).toEqual([0, 1]);
    expect(await count('near-limit')).toBe(10);
  });

  it('a failed write fails every take of its group, and the next takes write afresh', async () => {
    // Prepare: a client whose writes fail while `broken`.
    let broken = true;
    const flaky = {
      send: (command: Parameters<DynamoDBDocumentClient['send']>[0]) => (broken ? Promise.reject(new Error('store down')) : db.send(command)),
    } as unknown as DynamoDBDocumentClient;
    const limiter = new DynamoDbRateLimiter(flaky, table, at(windowStart + 2));

    // Act
    const failed = await Promise.allSettled(Array.from({ length: 5 }, () => limiter.take('flaky', 10, window)));
    broken = false;
    const after = await limiter.take('flaky', 10, window);

    // Assess
    expect(failed.every((r) => r.status === 'rejected')).toBe(true);
    expect(after).toMatchObject({ allowed: true, remaining: 9 });
  });
});

describe('rate limiter reserving ahead (the local twin: one process serves every request)', () => {
  const reserving = (seconds: number, maxAhead = 64) => new DynamoDbRateLimiter(counting(), table, at(seconds), { maxAhead });

  it('takes one by one: one write reserves the next ones, each remaining value once, the store counts what is reserved', async () => {
    // Prepare
    const limiter = reserving(windowStart + 5);
    writes = 0;

    // Act: 200 takes one after another (a client at one connection)
    const decisions = [];
    for (let i = 0; i < 200; i++) decisions.push(await limiter.take('one-by-one', 1000, window));

    // Assess: 1 + 64 per write while the window has room, so 4 writes for 200 takes
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(decisions.map((d) => d.remaining)).toEqual(Array.from({ length: 200 }, (_, i) => 999 - i));
    expect(writes).toBe(4);
    expect(await count('one-by-one')).toBe(4 * 65);
  });

  it('never reserves more than an eighth of what is left, and none near the limit: exactly L of N pass, take by take at the end', async () => {
    // Prepare
    const limiter = reserving(windowStart + 6);
    writes = 0;

    // Act: 120 takes one after another at a limit of 100, then 40 at once
    const sequential = [];
    for (let i = 0; i < 120; i++) sequential.push(await limiter.take('reserve-near-limit', 100, window));
    const concurrent = await Promise.all(Array.from({ length: 40 }, () => limiter.take('reserve-near-limit', 100, window)));

    // Assess
    expect(sequential.filter((d) => d.allowed)).toHaveLength(100);
    expect(sequential.slice(0, 100).map((d) => d.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i));
    expect(concurrent.some((d) => d.allowed)).toBe(false);
    expect(await count('reserve-near-limit')).toBe(100);
  });

  it('concurrent takes at a limit: exactly L pass, each remaining value once', async () => {
    // Prepare
    const limiter = reserving(windowStart + 7);

    // Act
    const decisions = await Promise.all(Array.from({ length: 300 }, () => limiter.take('burst-reserve', 120, window)));

    // Assess
    const allowed = decisions.filter((d) => d.allowed);
    expect(allowed).toHaveLength(120);
    expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(await count('burst-reserve')).toBe(120);
  });

  it('takes that arrive while a reserving write is in flight are served from its reserve first: exactly L pass', async () => {
    // Prepare
    const limiter = reserving(windowStart + 12);

    // Act: one take goes to the store (reserving ahead); 60 more arrive while its write is in flight
    const first = limiter.take('in-flight-reserve', 50, window);
    await new Promise((resolve) => setImmediate(resolve));
    const later = Array.from({ length: 60 }, () => limiter.take('in-flight-reserve', 50, window));
    const decisions = await Promise.all([first, ...later]);

    // Assess
    const allowed = decisions.filter((d) => d.allowed);
    expect(allowed).toHaveLength(50);
    expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await count('in-flight-reserve')).toBe(50);
  });

  it('a second process sharing the counter never lets the limit be exceeded (reserved takes count against it)', async () => {
    // Prepare: two processes' limiters on one counter
    const a = reserving(windowStart + 8);
    const b = reserving(windowStart + 8);

    // Act: interleaved takes, far more than the limit
    const decisions = [];
    for (let i = 0; i < 150; i++) decisions.push(await (i % 2 === 0 ? a : b).take('two-processes', 100, window));

    // Assess: at most the limit passes; what a process reserved and did not use is the documented trade
    const allowed = decisions.filter((d) => d.allowed).length;
    expect(allowed).toBeLessThanOrEqual(100);
    expect(allowed).toBeGreaterThanOrEqual(100 - 2 * 64);
    expect(await count('two-processes')).toBeLessThanOrEqual(100);
  });

  it('a refunded take goes back to the reserve (no write), and the next take reuses it', async () => {
    // Prepare
    const limiter = reserving(windowStart + 9);
    const first = await limiter.take('refund-reserve', 1000, window);
    writes = 0;

    // Act
    await limiter.refund('refund-reserve', first);
    const again = await limiter.take('refund-reserve', 1000, window);

    // Assess
    expect(writes).toBe(0);
    expect(again.remaining).toBe(first.remaining);
    expect(await count('refund-reserve')).toBe(65);
  });

  it('a new window starts without the old reserve', async () => {
    // Prepare
    let seconds = windowStart + 58;
    const limiter = new DynamoDbRateLimiter(counting(), table, () => seconds * 1000, { maxAhead: 64 });
    await limiter.take('rollover', 1000, window);

    // Act
    seconds = windowStart + window + 1;
    writes = 0;
    const next = await limiter.take('rollover', 1000, window);

    // Assess: a write to the new window's item, whose count starts afresh
    expect(writes).toBe(1);
    expect(next.remaining).toBe(999);
  });

  it('off (maxAhead 0, as in Lambda): every take is its own write', async () => {
    // Prepare
    const limiter = reserving(windowStart + 11, 0);
    writes = 0;

    // Act
    for (let i = 0; i < 5; i++) await limiter.take('no-reserve', 1000, window);

    // Assess
    expect(writes).toBe(5);
    expect(await count('no-reserve')).toBe(5);
  });
});

/**
 * From the hostile review of reserving ahead (redteam5): a weighted take (a sweep's rows, PrincipalRateLimit.charge)
 * must see the takes this process holds in reserve as unused, or the principal is refused before its limit;
 * and whatever the mix of single and weighted takes and refunds, never more than the limit is admitted.
 */
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
