import { beforeEach, describe, expect, it } from 'vitest';
import { alertVisibleTo } from '../../functions/core/alerts/service.js';
import { AuditService, auditImportSchema } from '../../functions/core/audit/service.js';
import { KeyService, maxActiveKeysPerOwner } from '../../functions/core/auth/keys-service.js';
import { maxPrincipalCacheMs, PrincipalResolver } from '../../functions/core/auth/principal-state.js';
import { scopesForRole, type Role, type Scope } from '../../functions/core/auth/roles.js';
import type { Principal } from '../../functions/core/auth/tokens.js';
import { updateUserRequestSchema, UserService } from '../../functions/core/auth/users-service.js';
import { AppError } from '../../functions/core/errors.js';
import type { ApiKeyRecord, AuditRecord, UserRecord } from '../../functions/core/ports.js';
import { PrincipalRateLimit } from '../../functions/core/rate-limit.js';
import { FakeClock, InMemoryApiKeyStore, InMemoryAuditLog, InMemoryRateLimiter, InMemoryUserDirectory } from '../support/fakes.js';

/**
 * Tokens follow the user (issue 13, findings 3, 6 and 7), in the core: PrincipalResolver (current state per
 * request, bounded cache, fresh reads), the self-change rule, key limits and the shared owner budget, and
 * the audit import's mark and principal check. In-memory ports and a hand-moved clock.
 */

const t0 = Date.UTC(2026, 10, 25, 12, 0, 5); // 5 s into a minute window
const boundMs = 10_000;

let clock: FakeClock;
let users: InMemoryUserDirectory;
let keyStore: InMemoryApiKeyStore;
let reads: string[];

function claimed(username: string, role: Role, extra: Partial<Principal> = {}): Principal {
  return { id: username, username, role, scopes: new Set<Scope>(scopesForRole(role)), type: 'user', ...extra };
}
function claimedKey(keyId: string, owner: string, role: Role, scopes: Scope[] = ['twin:predict', 'twin:read']): Principal {
  return { id: `key:${keyId}`, username: owner, role, scopes: new Set(scopes), type: 'key', keyId };
}

async function seedUser(username: string, role: Role, plant?: string): Promise<void> {
  const user: UserRecord = { username, passwordHash: 'x', role, active: true, created: clock.iso(), ...(plant ? { plant } : {}) };
  await users.create(user);
}
async function seedKey(keyId: string, owner: string, extra: Partial<ApiKeyRecord> = {}): Promise<void> {
  await keyStore.create({
    keyId,
    hash: 'h',
    owner,
    name: keyId,
    scopes: ['twin:predict', 'twin:read'],
    created: clock.iso(),
    expiresAt: new Date(clock.ms + 86_400_000).toISOString(),
    ...extra,
  });
}

async function appError(fn: () => Promise<unknown>): Promise<AppError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected an AppError, but the call succeeded');
}

function resolver(options: { cacheMs?: number; maxEntries?: number } = {}): PrincipalResolver {
  // Count every store read: the cache's whole point is to save them.
  const countedUsers = { get: (name: string) => (reads.push(`u:${name}`), users.get(name)), create: users.create.bind(users) };
  const countedKeys = Object.assign(Object.create(keyStore) as InMemoryApiKeyStore, { get: (id: string) => (reads.push(`k:${id}`), keyStore.get(id)) });
  return new PrincipalResolver(countedUsers, countedKeys, { cacheMs: options.cacheMs ?? boundMs, ownerLimitPerMinute: 600, now: clock.now, ...(options.maxEntries ? { maxEntries: options.maxEntries } : {}) });
}

beforeEach(async () => {
  clock = new FakeClock(t0);
  users = new InMemoryUserDirectory();
  keyStore = new InMemoryApiKeyStore();
  reads = [];
  await seedUser('root', 'admin');
  await seedUser('alice', 'admin', 'plant-a');
  await seedUser('olga', 'operator', 'plant-a');
  await seedUser('bert', 'viewer', 'plant-b');
});

describe('PrincipalResolver: the current state decides, not the claims', () => {
  it('a user: scopes are the token’s ∩ the current role’s; the plant is the current one', async () => {
    const r = resolver();
    await users.update('alice', { role: 'viewer' }, clock.iso());
    users.users.get('alice')!.plant = 'plant-b'; // moved by an operator (the API cannot change a plant)
    const p = await r.resolve(claimed('alice', 'admin', { plant: 'plant-a' }), { fresh: false });
    expect(p.role).toBe('viewer');
    expect([...p.scopes].sort()).toEqual(['models:read', 'twin:read']);
    expect(p.plant).toBe('plant-b');
    // Never more than the token: a token with fewer scopes keeps fewer.
    const narrow = await r.resolve(claimed('root', 'admin', { scopes: new Set<Scope>(['twin:read']) }), { fresh: true });
    expect([...narrow.scopes]).toEqual(['twin:read']);
  });

  it('a deactivated or deleted user → 401 UNAUTHORIZED', async () => {
    const r = resolver();
    await users.update('olga', { active: false }, clock.iso());
    expect(await appError(() => r.resolve(claimed('olga', 'operator'), { fresh: false }))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(await appError(() => r.resolve(claimed('nobody', 'admin'), { fresh: false }))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
  });

  it.each([
    ['revoked', { revokedAt: new Date(t0).toISOString() }, 'KEY_REVOKED'],
    ['expired', { expiresAt: new Date(t0).toISOString() }, 'KEY_EXPIRED'],
  ] as const)('a %s key → 401 %s', async (_name, extra, code) => {
    await seedKey('aaaaaaaaaaaa', 'olga', extra);
    expect(await appError(() => resolver().resolve(claimedKey('aaaaaaaaaaaa', 'olga', 'operator'), { fresh: false }))).toMatchObject({ status: 401, code });
  });

  it('a key whose owner is deactivated → 401 KEY_REVOKED; an unknown key, or another owner’s, → 401 KEY_INVALID', async () => {
    await seedKey('aaaaaaaaaaaa', 'olga');
    await users.update('olga', { active: false }, clock.iso());
    expect(await appError(() => resolver().resolve(claimedKey('aaaaaaaaaaaa', 'olga', 'operator'), { fresh: false }))).toMatchObject({ code: 'KEY_REVOKED' });
    expect(await appError(() => resolver().resolve(claimedKey('bbbbbbbbbbbb', 'olga', 'operator'), { fresh: false }))).toMatchObject({ code: 'KEY_INVALID' });
    expect(await appError(() => resolver().resolve(claimedKey('aaaaaaaaaaaa', 'root', 'admin'), { fresh: false }))).toMatchObject({ code: 'KEY_INVALID' });
  });

  it('a key token: scopes are the token’s ∩ the key’s ∩ the owner’s current role ∩ what keys may carry; limit capped by the owner’s', async () => {
    await seedKey('aaaaaaaaaaaa', 'olga', { scopes: ['twin:predict'], rateLimitPerMinute: 1_000_000 });
    const forged = claimedKey('aaaaaaaaaaaa', 'olga', 'admin', ['twin:predict', 'twin:read', 'users:manage', 'keys:manage']);
    const p = await resolver().resolve(forged, { fresh: false });
    expect([...p.scopes]).toEqual(['twin:predict']);
    expect(p).toMatchObject({ role: 'operator', plant: 'plant-a', type: 'key', username: 'olga', rateLimitPerMinute: 600 });
    await users.update('olga', { role: 'viewer' }, clock.iso());
    expect([...(await resolver().resolve(forged, { fresh: false })).scopes]).toEqual([]);
  });
});

describe('PrincipalResolver cache: positive answers for at most the bound, fresh reads none', () => {
  it('a deactivation is seen at the bound, not before (tokens already issued included)', async () => {
    const r = resolver();
    const olga = claimed('olga', 'operator');
    await r.resolve(olga, { fresh: false });
    await users.update('olga', { active: false }, clock.iso());
    clock.advance(boundMs - 1);
    await expect(r.resolve(olga, { fresh: false })).resolves.toMatchObject({ username: 'olga' });
    clock.advance(1);
    expect(await appError(() => r.resolve(olga, { fresh: false }))).toMatchObject({ status: 401 });
    expect(reads).toEqual(['u:olga', 'u:olga']);
  });

  it('a demotion and a key revocation are seen at the bound', async () => {
    await seedKey('aaaaaaaaaaaa', 'alice');
    const r = resolver();
    const key = claimedKey('aaaaaaaaaaaa', 'alice', 'admin');
    const alice = claimed('alice', 'admin');
    await r.resolve(key, { fresh: false });
    await r.resolve(alice, { fresh: false });
    await keyStore.revoke('aaaaaaaaaaaa', clock.iso());
    await users.update('alice', { role: 'viewer' }, clock.iso());
    expect((await r.resolve(alice, { fresh: false })).scopes.has('users:manage')).toBe(true);
    clock.advance(boundMs);
    expect((await r.resolve(alice, { fresh: false })).scopes.has('users:manage')).toBe(false);
    expect(await appError(() => r.resolve(key, { fresh: false }))).toMatchObject({ code: 'KEY_REVOKED' });
  });

  it('fresh (administration routes) always reads the stores, and sees a change at once', async () => {
    const r = resolver();
    const alice = claimed('alice', 'admin');
    await r.resolve(alice, { fresh: false });
    await users.update('alice', { active: false }, clock.iso());
    expect(await appError(() => r.resolve(alice, { fresh: true }))).toMatchObject({ status: 401 });
    expect(reads).toEqual(['u:alice', 'u:alice']);
  });

  it('negative answers are not cached: a reactivated user is back on the next request', async () => {
    const r = resolver();
    await users.update('olga', { active: false }, clock.iso());
    await appError(() => r.resolve(claimed('olga', 'operator'), { fresh: false }));
    await users.update('olga', { active: true }, clock.iso());
    await expect(r.resolve(claimed('olga', 'operator'), { fresh: false })).resolves.toMatchObject({ username: 'olga' });
  });

  it('within the bound, repeated requests read nothing (the hot path costs no store read)', async () => {
    await seedKey('aaaaaaaaaaaa', 'olga');
    const r = resolver();
    for (let i = 0; i < 5; i++) await r.resolve(claimedKey('aaaaaaaaaaaa', 'olga', 'operator'), { fresh: false });
    expect(reads.sort()).toEqual(['k:aaaaaaaaaaaa', 'u:olga']);
  });

  it('the cache stays within its size (least recently used goes first)', async () => {
    const r = resolver({ maxEntries: 2 });
    for (const name of ['root', 'alice', 'olga', 'bert']) await r.resolve(claimed(name, 'viewer'), { fresh: false });
    expect(r.cachedEntries).toBe(2);
    reads = [];
    await r.resolve(claimed('bert', 'viewer'), { fresh: false });
    await r.resolve(claimed('root', 'viewer'), { fresh: false });
    expect(reads).toEqual(['u:root']);
  });

  it('fails closed: a store that cannot be read rejects the request, unless an answer younger than the bound is cached', async () => {
    let down = false;
    const flaky = { get: async (name: string) => (down ? Promise.reject(new Error('ECONNREFUSED')) : users.get(name)), create: users.create.bind(users) };
    const r = new PrincipalResolver(flaky, keyStore, { cacheMs: boundMs, ownerLimitPerMinute: 600, now: clock.now });
    await r.resolve(claimed('olga', 'operator'), { fresh: false });
    down = true;
    await expect(r.resolve(claimed('olga', 'operator'), { fresh: false })).resolves.toMatchObject({ username: 'olga' });
    await expect(r.resolve(claimed('olga', 'operator'), { fresh: true })).rejects.toThrow('ECONNREFUSED');
    await expect(r.resolve(claimed('alice', 'admin'), { fresh: false })).rejects.toThrow('ECONNREFUSED');
    clock.advance(boundMs);
    await expect(r.resolve(claimed('olga', 'operator'), { fresh: false })).rejects.toThrow('ECONNREFUSED');
  });

  it('the bound is at most 30 s; 0 turns the cache off', async () => {
    expect(() => resolver({ cacheMs: maxPrincipalCacheMs + 1 })).toThrow(RangeError);
    const r = resolver({ cacheMs: 0 });
    await r.resolve(claimed('olga', 'operator'), { fresh: false });
    await r.resolve(claimed('olga', 'operator'), { fresh: false });
    expect(reads).toEqual(['u:olga', 'u:olga']);
    expect(r.cachedEntries).toBe(0);
  });
});

describe('UserService: nobody changes their own role or active flag; nobody changes a plant', () => {
  let service: UserService;
  beforeEach(() => {
    service = new UserService(users, { now: clock.now });
  });

  it.each([
    ['a plant admin', () => claimed('alice', 'admin', { plant: 'plant-a' }), 'alice'],
    ['a platform admin', () => claimed('root', 'admin'), 'root'],
  ])('%s changing its own role or active flag → 403 naming the field and the rule', async (_name, who, self) => {
    for (const [changes, fields] of [
      [{ role: 'viewer' as const }, ['role']],
      [{ active: false }, ['active']],
      [{ role: 'operator' as const, active: false }, ['role', 'active']],
    ] as const) {
      const error = await appError(() => service.update(who(), self, changes));
      expect(error.status).toBe(403);
      expect(error.issues).toEqual(fields.map((field) => expect.objectContaining({ field, rule: 'not_self' })));
    }
    expect(await users.get(self)).toMatchObject({ role: 'admin', active: true });
  });

  it('a deactivated (or demoted) admin restoring itself is refused even when the token gets this far', async () => {
    await users.update('alice', { active: false, role: 'operator' }, clock.iso());
    const stale = claimed('alice', 'admin', { plant: 'plant-a' });
    expect((await appError(() => service.update(stale, 'alice', { active: true }))).issues?.[0]).toMatchObject({ field: 'active', rule: 'not_self' });
    expect((await appError(() => service.update(stale, 'alice', { role: 'admin' }))).issues?.[0]).toMatchObject({ field: 'role', rule: 'not_self' });
    expect(await users.get('alice')).toMatchObject({ role: 'operator', active: false });
  });

  it('re-stating its current values is no change (allowed); a plant is not in the schema at all', async () => {
    await expect(service.update(claimed('root', 'admin'), 'root', { role: 'admin', active: true })).resolves.toMatchObject({ role: 'admin', active: true });
    expect(updateUserRequestSchema.safeParse({ plant: 'plant-b' }).success).toBe(false);
  });
});

describe('Key limits: capped by the owner, counted per owner, one budget', () => {
  let keys: KeyService;
  beforeEach(() => {
    keys = new KeyService(keyStore, users, { rotationGraceSeconds: 60, ownerLimitPerMinute: 600, now: clock.now });
  });

  it('rate_limit_per_minute above the owner’s → 400 naming the field and the rule; at the owner’s is fine', async () => {
    const error = await appError(() => keys.create(claimed('olga', 'operator', { plant: 'plant-a' }), { name: 'x', expires_in_days: 1, rate_limit_per_minute: 1_000_000 }));
    expect(error).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    expect(error.issues).toEqual([expect.objectContaining({ field: 'rate_limit_per_minute', rule: 'max_owner_limit' })]);
    expect(keyStore.keys.size).toBe(0);
    await expect(keys.create(claimed('olga', 'operator', { plant: 'plant-a' }), { name: 'x', expires_in_days: 1, rate_limit_per_minute: 600 })).resolves.toMatchObject({ rate_limit_per_minute: 600 });
  });

  it(`at most ${maxActiveKeysPerOwner} active keys per owner (409 naming the rule); revoked and expired ones do not count`, async () => {
    const olga = claimed('olga', 'operator', { plant: 'plant-a' });
    const made = [];
    for (let i = 0; i < maxActiveKeysPerOwner; i++) made.push(await keys.create(olga, { name: `k${i}`, expires_in_days: 1 }));
    const error = await appError(() => keys.create(olga, { name: 'one too many', expires_in_days: 1 }));
    expect(error).toMatchObject({ status: 409 });
    expect(error.issues?.[0]).toMatchObject({ rule: 'max_keys_per_owner' });
    // An admin creating keys for olga meets the same cap.
    expect((await appError(() => keys.create(claimed('root', 'admin'), { name: 'for olga', expires_in_days: 1, owner: 'olga' }))).status).toBe(409);
    await keys.revoke(olga, made[0]!.id);
    await expect(keys.create(olga, { name: 'replacement', expires_in_days: 1 })).resolves.toMatchObject({ status: 'active' });
    clock.advance(86_400_000);
    await expect(keys.create(olga, { name: 'after expiry', expires_in_days: 1 })).resolves.toMatchObject({ status: 'active' });
  });

  it('a key’s take also takes from its owner’s bucket: keys share, never multiply, the owner’s budget', async () => {
    const limiter = new InMemoryRateLimiter(clock.now);
    const rate = new PrincipalRateLimit(limiter, { defaultPerMinute: 5 });
    const owner = claimed('olga', 'operator');
    const k1 = { ...claimedKey('aaaaaaaaaaaa', 'olga', 'operator'), rateLimitPerMinute: 5 };
    const k2 = { ...claimedKey('bbbbbbbbbbbb', 'olga', 'operator'), rateLimitPerMinute: 5 };
    const allowed: string[] = [];
    for (const p of [k1, k2, owner, k1, k2, owner, k1, k2]) if ((await rate.take(p))!.allowed) allowed.push(p.id);
    expect(allowed).toEqual(['key:aaaaaaaaaaaa', 'key:bbbbbbbbbbbb', 'olga', 'key:aaaaaaaaaaaa', 'key:bbbbbbbbbbbb']);
    // Exact books: the owner's bucket holds every admitted request; a refused key take was given back.
    const window = Math.floor(t0 / 60_000) * 60;
    expect(limiter.counts.get(`p:olga#${window}`)).toBe(5);
    expect(limiter.counts.get(`p:key:aaaaaaaaaaaa#${window}`)).toBe(2);
    expect(limiter.counts.get(`p:key:bbbbbbbbbbbb#${window}`)).toBe(2);
  });

  it('a key limit above the owner’s (made before the cap) still takes only the owner’s', async () => {
    const limiter = new InMemoryRateLimiter(clock.now);
    const rate = new PrincipalRateLimit(limiter, { defaultPerMinute: 3 });
    const key = { ...claimedKey('aaaaaaaaaaaa', 'olga', 'operator'), rateLimitPerMinute: 1_000_000 };
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push((await rate.take(key))!.allowed);
    expect(decisions).toEqual([true, true, true, false, false]);
  });
});

describe('Audit import: marked, and only for principals the importer may speak for', () => {
  let log: InMemoryAuditLog;
  let service: AuditService;
  const record = (over: Partial<AuditRecord> = {}): AuditRecord => ({
    time: '2026-11-25T11:00:00.000Z',
    requestId: `r-${Math.random()}`,
    principal: 'olga',
    principalType: 'user',
    plant: 'plant-a',
    action: 'twin.predict',
    method: 'POST',
    resource: '/api/v1/twin/predict',
    outcome: 200,
    ...over,
  });
  const body = (audit: AuditRecord[], edge?: string) => auditImportSchema.parse({ audit, ...(edge ? { edge } : {}) });

  beforeEach(async () => {
    log = new InMemoryAuditLog();
    service = new AuditService(log, { now: clock.now, directory: { users, keys: keyStore } });
    await seedKey('aaaaaaaaaaaa', 'olga');
    await seedKey('bbbbbbbbbbbb', 'bert');
  });

  it('each stored record carries who imported it, from which edge box, when', async () => {
    await service.import(claimed('alice', 'admin', { plant: 'plant-a' }), body([record(), record({ principal: 'key:aaaaaaaaaaaa', principalType: 'key' }), record({ principal: 'anonymous', principalType: 'anonymous' })], 'box-7'));
    expect(log.records).toHaveLength(3);
    for (const r of log.records) expect(r.imported).toEqual({ by: 'alice', edge: 'box-7', at: new Date(t0).toISOString() });
  });

  it.each([
    ['a platform admin', 'root'],
    ['another plant’s user', 'bert'],
    ['another plant’s key', 'key:bbbbbbbbbbbb'],
    ['a principal this deployment does not know', 'ghost'],
  ])('a plant admin importing a record that claims %s → 403 naming the record; nothing stored', async (_name, who) => {
    const error = await appError(() => service.import(claimed('alice', 'admin', { plant: 'plant-a' }), body([record(), record({ principal: who, action: 'users.update' })])));
    expect(error.status).toBe(403);
    expect(error.issues?.[0]).toMatchObject({ field: 'audit.1.principal', rule: 'own_plant_principal' });
    expect(log.records).toEqual([]);
  });

  it('a platform admin may import any principal’s records; they are still marked', async () => {
    await service.import(claimed('root', 'admin'), body([record({ principal: 'root', plant: undefined })]));
    expect(log.records[0]!.imported).toMatchObject({ by: 'root', edge: 'unnamed' });
  });

  it('a record cannot bring its own mark (the schema refuses it)', () => {
    const parsed = auditImportSchema.safeParse({ audit: [{ ...record(), imported: { by: 'x', edge: 'y', at: 'z' } }] });
    expect(parsed.success).toBe(false);
  });

  it('queries tell them apart: origin=native and origin=imported', async () => {
    await log.write(record({ requestId: 'native-1' }));
    await service.import(claimed('alice', 'admin', { plant: 'plant-a' }), body([record({ requestId: 'imported-1' })]));
    const ids = async (origin?: 'native' | 'imported') =>
      (await service.query(claimed('alice', 'admin', { plant: 'plant-a' }), { limit: 50, from: '2026-11-25T00:00:00Z', ...(origin ? { origin } : {}) })).items.map((r) => r.requestId);
    expect((await ids()).sort()).toEqual(['imported-1', 'native-1']);
    expect(await ids('native')).toEqual(['native-1']);
    expect(await ids('imported')).toEqual(['imported-1']);
  });
});

describe('alertVisibleTo: the one alert filter', () => {
  it('a plant principal sees its plant only; a platform principal all', () => {
    const a = claimed('olga', 'operator', { plant: 'plant-a' });
    expect(alertVisibleTo(a, { model: 'm', plant: 'plant-a' })).toBe(true);
    expect(alertVisibleTo(a, { model: 'm', plant: 'plant-b' })).toBe(false);
    expect(alertVisibleTo(a, { model: 'm' })).toBe(false);
    expect(alertVisibleTo(claimed('root', 'admin'), { model: 'm', plant: 'plant-b' })).toBe(true);
  });
});
