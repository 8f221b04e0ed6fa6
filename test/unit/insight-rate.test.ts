import { describe, expect, it } from 'vitest';
import type { Principal } from '../../functions/core/auth/tokens.js';
import { PrincipalRateLimit, rowUnits } from '../../functions/core/rate-limit.js';
import { InMemoryRateLimiter } from '../support/fakes.js';

/** Weighted charges (sweeps, optimizations): the same buckets as a request, refused whole, refunded whole. */

const now = () => Date.UTC(2026, 11, 1, 12, 0, 10);
const user = { id: 'alice', username: 'alice', type: 'user' } as Principal;
const key = { id: 'key:k1', username: 'alice', type: 'key', rateLimitPerMinute: 50 } as Principal;

describe('PrincipalRateLimit.charge', () => {
  it('rowUnits: one unit per 100 rows, rounded up', () => {
    expect([rowUnits(1), rowUnits(100), rowUnits(101), rowUnits(10_000)]).toEqual([1, 1, 2, 100]);
  });

  it('rowUnits: a row of a wider ensemble counts once per started 100 members', () => {
    expect([rowUnits(100, 20), rowUnits(100, 100), rowUnits(100, 101), rowUnits(100, 2000), rowUnits(10_000, 10_000), rowUnits(1, 10_000)]).toEqual([1, 1, 2, 20, 10_000, 1]);
  });

  it('takes the whole cost from a user bucket or refuses it whole (RATE_LIMITED)', async () => {
    const limiter = new InMemoryRateLimiter(now);
    const rate = new PrincipalRateLimit(limiter, { defaultPerMinute: 100 });
    await rate.charge(user, 60);
    await expect(rate.charge(user, 41)).rejects.toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    await rate.charge(user, 40);
    expect([...limiter.counts.values()]).toEqual([100]);
  });

  it("a key's charge counts against the key and its owner; refused by the owner, the key gets its whole cost back", async () => {
    const limiter = new InMemoryRateLimiter(now);
    const rate = new PrincipalRateLimit(limiter, { defaultPerMinute: 100 });
    await rate.charge(key, 30);
    await rate.charge(user, 65); // the owner now has 5 left
    await expect(rate.charge(key, 10)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    const counts = Object.fromEntries([...limiter.counts].map(([k, v]) => [k.split('#')[0], v]));
    expect(counts).toEqual({ 'p:key:k1': 30, 'p:alice': 95 });
    await expect(rate.charge(key, 21)).rejects.toMatchObject({ code: 'RATE_LIMITED' }); // the key's own 50
  });

  it('charges nothing for zero units, and lets the request through when the store is down', async () => {
    const limiter = new InMemoryRateLimiter(now);
    const rate = new PrincipalRateLimit(limiter, { defaultPerMinute: 10 });
    await rate.charge(user, 0);
    expect(limiter.taken).toEqual([]);
    limiter.failing = true;
    await expect(rate.charge(user, 1000)).resolves.toBeUndefined();
  });
});
