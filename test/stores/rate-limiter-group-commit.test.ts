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

async function count(bucket: string): Promise<unknown> {
  return (await db.send(new GetCommand({ TableName: table, Key: { pk: `${bucket}#${windowStart}` } }))).Item?.count;
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
