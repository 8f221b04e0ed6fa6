import { describe, expect, it } from 'vitest';
import { PrincipalResolver } from '../../functions/core/auth/principal-state.js';
import { scopesForRole, type Scope } from '../../functions/core/auth/roles.js';
import type { Principal } from '../../functions/core/auth/tokens.js';
import { AppError } from '../../functions/core/errors.js';
import { FakeClock, InMemoryApiKeyStore, InMemoryUserDirectory } from '../support/fakes.js';

/**
 * The principal cache's bound holds when the clock steps back (NTP on a Lambda host, the local twin's clock
 * moved by its tests): an answer cached "in the future" of the clock is not trusted, so a deactivated user or a
 * revoked key is refused after at most the bound of the clock's own time, not the bound plus the step back.
 */

const t0 = Date.UTC(2026, 10, 25, 12, 0, 5);
const boundMs = 10_000;
const stepBack = 3_600_000;

async function setup() {
  const clock = new FakeClock(t0);
  const users = new InMemoryUserDirectory();
  const keys = new InMemoryApiKeyStore();
  await users.create({ username: 'sam', passwordHash: 'x', role: 'viewer', active: true, created: clock.iso(), plant: 'south' });
  await keys.create({ keyId: 'k1', hash: 'h', owner: 'sam', name: 'k1', scopes: ['twin:read'], created: clock.iso(), expiresAt: new Date(t0 + 86_400_000).toISOString() });
  const resolver = new PrincipalResolver(users, keys, { cacheMs: boundMs, now: clock.now, ownerLimitPerMinute: 60 });
  return { clock, users, keys, resolver };
}

const user: Principal = { id: 'sam', username: 'sam', role: 'viewer', scopes: new Set<Scope>(scopesForRole('viewer')), type: 'user', plant: 'south' };
const key: Principal = { id: 'key:k1', username: 'sam', role: 'viewer', scopes: new Set<Scope>(['twin:read']), type: 'key', keyId: 'k1', plant: 'south' };

async function refusal(fn: () => Promise<unknown>): Promise<string> {
  const outcome = await fn().then(
    () => 'served',
    (error: unknown) => (error instanceof AppError ? error.code : String(error)),
  );
  return outcome;
}

describe('the principal cache when the clock steps back', () => {
  it('a user deactivated after its state was cached is refused once the clock has stepped back', async () => {
    // Prepare: cached at t0; deactivated in the store; the clock steps back an hour.
    const { clock, users, resolver } = await setup();
    await resolver.resolve(user, { fresh: false });
    await users.update('sam', { active: false }, clock.iso());
    clock.ms = t0 - stepBack;

    // Act + Assess: the entry stamped in the clock's future is not trusted.
    expect(await refusal(() => resolver.resolve(user, { fresh: false }))).toBe('UNAUTHORIZED');
  });

  it('a key revoked after its state was cached is refused once the clock has stepped back', async () => {
    const { clock, keys, resolver } = await setup();
    await resolver.resolve(key, { fresh: false });
    await keys.revoke('k1', clock.iso());
    clock.ms = t0 - stepBack;

    expect(await refusal(() => resolver.resolve(key, { fresh: false }))).toBe('KEY_REVOKED');
  });

  it('what held: within the bound on a steady clock the cached answer is served, and refused at the bound', async () => {
    const { clock, users, resolver } = await setup();
    await resolver.resolve(user, { fresh: false });
    await users.update('sam', { active: false }, clock.iso());
    clock.advance(boundMs - 1);
    expect(await refusal(() => resolver.resolve(user, { fresh: false }))).toBe('served');
    clock.advance(1);
    expect(await refusal(() => resolver.resolve(user, { fresh: false }))).toBe('UNAUTHORIZED');
  });
});
