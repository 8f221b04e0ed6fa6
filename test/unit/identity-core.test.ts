import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditService } from '../../functions/core/audit/service.js';
import { hashApiKey } from '../../functions/core/auth/api-keys.js';
import { KeyService, type CreateKeyRequest } from '../../functions/core/auth/keys-service.js';
import { hashPassword, verifyPassword } from '../../functions/core/auth/passwords.js';
import { scopesForRole, type Role, type Scope } from '../../functions/core/auth/roles.js';
import { AuthService, type TokenRequest } from '../../functions/core/auth/service.js';
import { TokenIssuer, type Principal } from '../../functions/core/auth/tokens.js';
import { UserService } from '../../functions/core/auth/users-service.js';
import { AppError } from '../../functions/core/errors.js';
import type { AuditRecord, UserRecord } from '../../functions/core/ports.js';
import { FakeClock, InMemoryApiKeyStore, InMemoryAuditLog, InMemoryRateLimiter, InMemoryTokenSigner, InMemoryUserDirectory } from '../support/fakes.js';

/**
 * The identity core (KeyService, UserService, AuthService, AuditService) against in-memory ports and a
 * fixed clock: no network, no wall clock.
 */

const t0 = Date.UTC(2026, 10, 25, 12, 0, 30); // 30 s into a minute window
const day = 86_400_000;
const graceSeconds = 60;
// Cheap scrypt parameters for the seeded users: verifyPassword reads the parameters from the stored hash.
const cheap = { N: 2 ** 10, r: 8, p: 1, keyLength: 32 };
const password = 'correct horse battery';

function principal(username: string, role: Role, plant?: string, key?: { keyId: string }): Principal {
  return {
    id: key ? `key:${key.keyId}` : username,
    username,
    role,
    scopes: new Set<Scope>(scopesForRole(role)),
    type: key ? 'key' : 'user',
    ...(plant ? { plant } : {}),
    ...(key ? { keyId: key.keyId } : {}),
  };
}

/** Runs `fn` and returns the AppError it rejects with (fails the test when it resolves or throws something else). */
async function appError(fn: () => Promise<unknown>): Promise<AppError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected an AppError, but the call succeeded');
}

let passwordHash: string;
beforeAll(async () => {
  passwordHash = await hashPassword(password, cheap);
});

let clock: FakeClock;
let users: InMemoryUserDirectory;
let keyStore: InMemoryApiKeyStore;
let keys: KeyService;

async function seedUser(username: string, role: Role, plant?: string, active = true): Promise<UserRecord> {
  const user: UserRecord = { username, passwordHash, role, active, created: clock.iso(), ...(plant ? { plant } : {}) };
  await users.create(user);
  return user;
}

beforeEach(async () => {
  clock = new FakeClock(t0);
  users = new InMemoryUserDirectory();
  keyStore = new InMemoryApiKeyStore();
  keys = new KeyService(keyStore, users, { rotationGraceSeconds: graceSeconds, ownerLimitPerMinute: 600, now: clock.now });
  await seedUser('root', 'admin');
  await seedUser('alice', 'admin', 'plant-a');
  await seedUser('olga', 'operator', 'plant-a');
  await seedUser('omar', 'operator', 'plant-a');
  await seedUser('bob', 'admin', 'plant-b');
  await seedUser('oscar', 'operator', 'plant-b');
  await seedUser('vera', 'viewer', 'plant-a');
  await seedUser('ada', 'auditor', 'plant-a');
});

const root = () => principal('root', 'admin');
const alice = () => principal('alice', 'admin', 'plant-a');
const olga = () => principal('olga', 'operator', 'plant-a');
const bob = () => principal('bob', 'admin', 'plant-b');

function keyRequest(overrides: Partial<CreateKeyRequest> = {}): CreateKeyRequest {
  return { name: 'historian', expires_in_days: 90, ...overrides };
}

describe('KeyService.create: scopes are a subset of what the owner may grant', () => {
  it.each([
    ['admin', 'root', ['twin:predict', 'twin:read', 'models:read', 'models:write', 'audit:read', 'twin:feedback']],
    ['operator', 'olga', ['twin:predict', 'twin:read', 'models:read', 'twin:feedback']],
    ['viewer', 'vera', ['twin:read', 'models:read']],
    ['auditor', 'ada', ['audit:read', 'twin:read', 'models:read']],
  ] as const)('an %s key defaults to the grantable scopes of the role, never keys:manage or users:manage', async (role, username, expected) => {
    const owner = (await users.get(username))!;
    const created = await keys.create(principal(username, role, owner.plant), keyRequest());
    expect(created.scopes).toEqual(expected);
    expect(created.scopes).not.toContain('keys:manage');
    expect(created.scopes).not.toContain('users:manage');
  });

  it('a subset is granted as asked (duplicates collapsed)', async () => {
    const created = await keys.create(olga(), keyRequest({ scopes: ['twin:predict', 'twin:predict'] }));
    expect(created.scopes).toEqual(['twin:predict']);
  });

  it.each([
    ['an operator asking for models:write', () => olga(), ['twin:predict', 'models:write'], ['models:write']],
    ['an operator asking for audit:read', () => olga(), ['audit:read'], ['audit:read']],
    ['an admin asking for keys:manage', () => root(), ['twin:predict', 'keys:manage'], ['keys:manage']],
    ['an admin asking for users:manage', () => root(), ['users:manage'], ['users:manage']],
  ] as const)('%s is refused with 403 naming scopes', async (_name, who, asked, denied) => {
    const error = await appError(() => keys.create(who(), keyRequest({ scopes: [...asked] })));
    expect(error.status).toBe(403);
    expect(error.issues).toEqual([expect.objectContaining({ field: 'scopes', rule: 'subset_of_owner' })]);
    for (const scope of denied) expect(error.issues?.[0]?.message).toContain(scope);
    expect(keyStore.keys.size).toBe(0);
  });

  it('the subset is checked against the OWNER when an admin creates a key for someone else', async () => {
    const error = await appError(() => keys.create(alice(), keyRequest({ owner: 'olga', scopes: ['models:write'] })));
    expect(error.status).toBe(403);
    expect(error.issues?.[0]?.field).toBe('scopes');
    const created = await keys.create(alice(), keyRequest({ owner: 'olga' }));
    expect(created).toMatchObject({ owner: 'olga', plant: 'plant-a', scopes: ['twin:predict', 'twin:read', 'models:read', 'twin:feedback'] });
  });

  it('only an admin of the owner’s plant (or a platform admin) creates keys for another user', async () => {
    const byOperator = await appError(() => keys.create(olga(), keyRequest({ owner: 'omar' })));
    expect(byOperator.status).toBe(403);
    expect(byOperator.issues?.[0]?.field).toBe('owner');
    const otherPlant = await appError(() => keys.create(bob(), keyRequest({ owner: 'olga' })));
    expect(otherPlant.status).toBe(403);
    const unknownOwner = await appError(() => keys.create(alice(), keyRequest({ owner: 'nobody' })));
    expect(unknownOwner.status).toBe(403);
    expect((await keys.create(root(), keyRequest({ owner: 'oscar' }))).plant).toBe('plant-b');
  });

  it('an API key cannot create API keys, and an inactive owner gets none', async () => {
    const byKey = await appError(() => keys.create(principal('olga', 'operator', 'plant-a', { keyId: 'abcdefghijkl' }), keyRequest()));
    expect(byKey.status).toBe(403);
    await users.update('omar', { active: false }, clock.iso());
    const inactive = await appError(() => keys.create(alice(), keyRequest({ owner: 'omar' })));
    expect(inactive.status).toBe(403);
  });

  it('stores only the SHA-256 of the key, with expiry created + days and the per-key limit', async () => {
    const created = await keys.create(olga(), keyRequest({ expires_in_days: 7, rate_limit_per_minute: 50 }));
    const stored = keyStore.keys.get(created.id)!;
    expect(stored.hash).toBe(hashApiKey(created.key));
    expect(JSON.stringify(stored)).not.toContain(created.key);
    expect(JSON.stringify(stored)).not.toContain(created.key.slice(16));
    expect(Date.parse(stored.expiresAt) - Date.parse(stored.created)).toBe(7 * day);
    expect(stored.created).toBe(clock.iso());
    expect(created).toMatchObject({ status: 'active', rate_limit_per_minute: 50, prefix: `tw_${created.id}`, last_used: null });
  });
});

describe('KeyService.verify (the exchange)', () => {
  it('a fresh key verifies with its scopes, and the exchange is recorded as last use', async () => {
    const created = await keys.create(olga(), keyRequest());
    clock.advance(5_000);
    const verified = await keys.verify(created.key);
    expect(verified.owner.username).toBe('olga');
    expect(verified.scopes).toEqual(['twin:predict', 'twin:read', 'models:read', 'twin:feedback']);
    expect(keyStore.keys.get(created.id)!.lastUsed).toBe(clock.iso());
  });

  it('owner demotion narrows the key’s scopes at the next exchange; promotion never widens them', async () => {
    const created = await keys.create(root(), keyRequest({ owner: 'alice' }));
    expect(created.scopes).toEqual(['twin:predict', 'twin:read', 'models:read', 'models:write', 'audit:read', 'twin:feedback']);
    await users.update('alice', { role: 'operator' }, clock.iso());
    expect((await keys.verify(created.key)).scopes).toEqual(['twin:predict', 'twin:read', 'models:read', 'twin:feedback']);
    await users.update('alice', { role: 'viewer' }, clock.iso());
    expect((await keys.verify(created.key)).scopes).toEqual(['twin:read', 'models:read']);
    await users.update('alice', { role: 'auditor' }, clock.iso());
    expect((await keys.verify(created.key)).scopes).toEqual(['twin:read', 'models:read', 'audit:read']);

    const narrow = await keys.create(olga(), keyRequest({ scopes: ['twin:read'] }));
    await users.update('olga', { role: 'admin' }, clock.iso());
    expect((await keys.verify(narrow.key)).scopes).toEqual(['twin:read']);
  });

  it('a deactivated owner’s key is KEY_REVOKED', async () => {
    const created = await keys.create(olga(), keyRequest());
    await users.update('olga', { active: false }, clock.iso());
    expect((await appError(() => keys.verify(created.key))).code).toBe('KEY_REVOKED');
  });

  it('expiry boundary: valid 1 ms before expires_at, KEY_EXPIRED at it', async () => {
    const created = await keys.create(olga(), keyRequest({ expires_in_days: 1 }));
    clock.ms = Date.parse(created.expires_at) - 1;
    await expect(keys.verify(created.key)).resolves.toBeDefined();
    clock.ms = Date.parse(created.expires_at);
    const error = await appError(() => keys.verify(created.key));
    expect(error.code).toBe('KEY_EXPIRED');
    expect(error.status).toBe(401);
    expect(keys.view(keyStore.keys.get(created.id)!).status).toBe('expired');
  });

  it('malformed, unknown id, and wrong secret of an existing id', async () => {
    const created = await keys.create(olga(), keyRequest());
    expect((await appError(() => keys.verify('not-a-key'))).code).toBe('KEY_MALFORMED');
    expect((await appError(() => keys.verify(`tw_aaaaaaaaaaaa_${'A'.repeat(43)}`))).code).toBe('KEY_INVALID');
    const wrongSecret = `tw_${created.id}_${'A'.repeat(43)}`;
    const error = await appError(() => keys.verify(wrongSecret));
    expect(error.code).toBe('KEY_INVALID');
    expect(error.message).toBe('API key is not valid');
  });

  it('revocation: KEY_REVOKED for the right secret, KEY_INVALID for a wrong one (no oracle on revocation)', async () => {
    const created = await keys.create(olga(), keyRequest());
    const revoked = await keys.revoke(olga(), created.id);
    expect(revoked.status).toBe('revoked');
    expect((await appError(() => keys.verify(created.key))).code).toBe('KEY_REVOKED');
    expect((await appError(() => keys.verify(`tw_${created.id}_${'B'.repeat(43)}`))).code).toBe('KEY_INVALID');
    clock.advance(1000);
    expect((await keys.revoke(olga(), created.id)).revoked_at).toBe(revoked.revoked_at);
  });
});

describe('KeyService.rotate: grace period boundaries', () => {
  it('the old secret works until rotatedAt + grace (exclusive), the new one from the rotation on', async () => {
    const created = await keys.create(olga(), keyRequest());
    clock.advance(10_000);
    const rotatedAt = clock.ms;
    const rotated = await keys.rotate(olga(), created.id);
    expect(rotated.id).toBe(created.id);
    expect(rotated.key).not.toBe(created.key);
    expect(rotated.previous_secret_valid_until).toBe(new Date(rotatedAt + graceSeconds * 1000).toISOString());
    expect(keyStore.keys.get(created.id)!.hash).toBe(hashApiKey(rotated.key));
    expect(keyStore.keys.get(created.id)!.previousHash).toBe(hashApiKey(created.key));

    clock.ms = rotatedAt + graceSeconds * 1000 - 1;
    await expect(keys.verify(created.key)).resolves.toBeDefined();
    await expect(keys.verify(rotated.key)).resolves.toBeDefined();

    clock.ms = rotatedAt + graceSeconds * 1000;
    expect((await appError(() => keys.verify(created.key))).code).toBe('KEY_INVALID');
    await expect(keys.verify(rotated.key)).resolves.toBeDefined();
    expect(keys.view(keyStore.keys.get(created.id)!).previous_secret_valid_until).toBeNull();
  });

  it('a second rotation ends the first secret at once (only one previous secret is kept)', async () => {
    const first = await keys.create(olga(), keyRequest());
    const second = await keys.rotate(olga(), first.id);
    clock.advance(1000);
    const third = await keys.rotate(olga(), first.id);
    expect((await appError(() => keys.verify(first.key))).code).toBe('KEY_INVALID');
    await expect(keys.verify(second.key)).resolves.toBeDefined();
    await expect(keys.verify(third.key)).resolves.toBeDefined();
  });

  it('grace 0: the old secret fails immediately', async () => {
    const noGrace = new KeyService(keyStore, users, { rotationGraceSeconds: 0, ownerLimitPerMinute: 600, now: clock.now });
    const created = await noGrace.create(olga(), keyRequest());
    const rotated = await noGrace.rotate(olga(), created.id);
    expect(rotated.previous_secret_valid_until).toBeNull();
    expect((await appError(() => noGrace.verify(created.key))).code).toBe('KEY_INVALID');
    await expect(noGrace.verify(rotated.key)).resolves.toBeDefined();
  });

  it('revoked and expired keys cannot be rotated (409); a revoked key’s old secret stays revoked', async () => {
    const revoked = await keys.create(olga(), keyRequest());
    await keys.revoke(olga(), revoked.id);
    expect((await appError(() => keys.rotate(olga(), revoked.id))).status).toBe(409);
    const expiring = await keys.create(olga(), keyRequest({ expires_in_days: 1 }));
    clock.advance(day);
    expect((await appError(() => keys.rotate(olga(), expiring.id))).status).toBe(409);
  });

  it('revoking during the grace period stops both secrets', async () => {
    const created = await keys.create(olga(), keyRequest());
    const rotated = await keys.rotate(olga(), created.id);
    await keys.revoke(olga(), created.id);
    expect((await appError(() => keys.verify(created.key))).code).toBe('KEY_REVOKED');
    expect((await appError(() => keys.verify(rotated.key))).code).toBe('KEY_REVOKED');
  });
});

describe('KeyService: who sees and acts on which keys (plant isolation)', () => {
  it('list: platform admin all, plant admin its plant, operator its own', async () => {
    const a1 = await keys.create(olga(), keyRequest({ name: 'olga-1' }));
    const a2 = await keys.create(principal('omar', 'operator', 'plant-a'), keyRequest({ name: 'omar-1' }));
    const b1 = await keys.create(principal('oscar', 'operator', 'plant-b'), keyRequest({ name: 'oscar-1' }));
    const r1 = await keys.create(root(), keyRequest({ name: 'root-1' }));
    const ids = async (p: Principal) => (await keys.list(p)).keys.map((k) => k.id).sort();
    expect(await ids(root())).toEqual([a1.id, a2.id, b1.id, r1.id].sort());
    expect(await ids(alice())).toEqual([a1.id, a2.id].sort());
    expect(await ids(bob())).toEqual([b1.id]);
    expect(await ids(olga())).toEqual([a1.id]);
    for (const view of (await keys.list(root())).keys) expect(view).not.toHaveProperty('key');
  });

  it('revoke/rotate of a key the principal may not act on is 404, exactly like an unknown id', async () => {
    const omars = await keys.create(principal('omar', 'operator', 'plant-a'), keyRequest());
    const oscars = await keys.create(principal('oscar', 'operator', 'plant-b'), keyRequest());
    for (const [who, id] of [
      [olga(), omars.id],
      [alice(), oscars.id],
      [bob(), omars.id],
    ] as const) {
      const revoke = await appError(() => keys.revoke(who, id));
      const rotate = await appError(() => keys.rotate(who, id));
      expect([revoke.status, rotate.status]).toEqual([404, 404]);
    }
    const unknown = await appError(() => keys.revoke(olga(), 'zzzzzzzzzzzz'));
    expect(unknown.status).toBe(404);
    expect(keyStore.keys.get(omars.id)!.revokedAt).toBeUndefined();
    expect((await keys.revoke(alice(), omars.id)).status).toBe('revoked');
    expect((await keys.rotate(root(), oscars.id)).key).toMatch(/^tw_/);
  });
});

describe('UserService', () => {
  let service: UserService;
  beforeEach(() => {
    service = new UserService(users, { now: clock.now });
  });

  it('an admin cannot demote or deactivate itself; another admin can; role admin on self is allowed', async () => {
    for (const changes of [{ role: 'operator' as const }, { role: 'viewer' as const }, { active: false }, { role: 'admin' as const, active: false }]) {
      const error = await appError(() => service.update(alice(), 'alice', changes));
      expect(error.status).toBe(403);
    }
    expect((await users.get('alice'))!).toMatchObject({ role: 'admin', active: true });
    expect(await service.update(alice(), 'alice', { role: 'admin' })).toMatchObject({ username: 'alice', role: 'admin', active: true });
    expect(await service.update(root(), 'alice', { role: 'operator' })).toMatchObject({ role: 'operator' });
  });

  it('plant isolation for list: a plant admin sees only its plant, a platform admin everyone', async () => {
    const names = async (p: Principal) => (await service.list(p)).users.map((u) => u.username);
    expect(await names(alice())).toEqual(['ada', 'alice', 'olga', 'omar', 'vera']);
    expect(await names(bob())).toEqual(['bob', 'oscar']);
    expect(await names(root())).toEqual(['ada', 'alice', 'bob', 'olga', 'omar', 'oscar', 'root', 'vera']);
    for (const user of (await service.list(root())).users) expect(user).not.toHaveProperty('passwordHash');
  });

  it('plant isolation for update: another plant’s user and a platform user are 404 to a plant admin', async () => {
    expect((await appError(() => service.update(alice(), 'oscar', { active: false }))).status).toBe(404);
    expect((await appError(() => service.update(alice(), 'root', { role: 'viewer' }))).status).toBe(404);
    expect((await appError(() => service.update(alice(), 'nobody', { role: 'viewer' }))).status).toBe(404);
    expect((await users.get('oscar'))!.active).toBe(true);
    expect(await service.update(alice(), 'olga', { role: 'viewer' })).toMatchObject({ username: 'olga', role: 'viewer' });
    expect(await service.update(root(), 'oscar', { active: false })).toMatchObject({ active: false });
  });

  it('only admins manage users; a key principal is refused even with an admin owner', async () => {
    expect((await appError(() => service.list(olga()))).status).toBe(403);
    expect((await appError(() => service.update(olga(), 'omar', { role: 'viewer' }))).status).toBe(403);
    expect((await appError(() => service.list(principal('root', 'admin', undefined, { keyId: 'abcdefghijkl' })))).status).toBe(403);
  });

  it('create: a plant admin’s users join its plant; another plant is refused; the password is stored as scrypt', async () => {
    const created = await service.create(alice(), { username: 'newbie', password: 'a-long-password', role: 'viewer' });
    expect(created).toEqual({ username: 'newbie', role: 'viewer', plant: 'plant-a', active: true, created: clock.iso() });
    const stored = (await users.get('newbie'))!;
    expect(stored.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword('a-long-password', stored.passwordHash)).toBe(true);
    expect((await appError(() => service.create(alice(), { username: 'intruder', password: 'a-long-password', role: 'admin', plant: 'plant-b' }))).status).toBe(403);
    expect((await appError(() => service.create(alice(), { username: 'newbie', password: 'a-long-password', role: 'viewer' }))).status).toBe(409);
    expect((await service.create(root(), { username: 'platform-op', password: 'a-long-password', role: 'operator' })).plant).toBeNull();
  });

  it('setPassword: self needs the current password; an admin of the plant does not; others are refused', async () => {
    const wrong = await appError(() => service.setPassword(olga(), 'olga', { password: 'new-password-1' }));
    expect(wrong.status).toBe(403);
    expect(wrong.issues?.[0]?.field).toBe('current_password');
    expect((await appError(() => service.setPassword(olga(), 'olga', { password: 'new-password-1', current_password: 'nope' }))).status).toBe(403);
    await service.setPassword(olga(), 'olga', { password: 'new-password-1', current_password: password });
    expect(await verifyPassword('new-password-1', (await users.get('olga'))!.passwordHash)).toBe(true);

    expect((await appError(() => service.setPassword(olga(), 'omar', { password: 'new-password-2' }))).status).toBe(403);
    expect((await appError(() => service.setPassword(alice(), 'oscar', { password: 'new-password-2' }))).status).toBe(404);
    expect(await service.setPassword(alice(), 'omar', { password: 'new-password-2' })).toEqual({ username: 'omar', updated: true });
    // A key of olga's is not olga.
    const asKey = principal('olga', 'operator', 'plant-a', { keyId: 'abcdefghijkl' });
    expect((await appError(() => service.setPassword(asKey, 'olga', { password: 'new-password-3', current_password: 'new-password-1' }))).status).toBe(403);
  });
});

describe('AuthService', () => {
  // One RSA key for the whole block: generating one costs ~100 ms.
  const signer = new InMemoryTokenSigner();
  let limiter: InMemoryRateLimiter;
  let auth: AuthService;
  const options = { userTokenTtlSeconds: 3600, keyTokenTtlSeconds: 900, loginLimitPerUsername: 3, loginLimitPerSource: 5 };

  beforeEach(() => {
    limiter = new InMemoryRateLimiter(clock.now);
    const issuer = new TokenIssuer(signer, { issuer: 'https://twin.test', audience: 'twin-unit', now: clock.now });
    auth = new AuthService(users, keys, issuer, limiter, options);
  });

  function claims(token: string): Record<string, unknown> {
    return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  }

  const passwordGrant = (username: string, scope?: string): TokenRequest => ({
    grant_type: 'password',
    username,
    password,
    ...(scope !== undefined ? { scope } : {}),
  });

  it('password grant: the role’s scopes, lifetime from the clock', async () => {
    const res = await auth.token(passwordGrant('olga'), '10.0.0.1');
    expect(res).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'twin:predict twin:read keys:manage models:read twin:feedback' });
    const c = claims(res.access_token);
    expect(c).toMatchObject({ sub: 'olga', role: 'operator', typ: 'user', plant: 'plant-a', iat: t0 / 1000, exp: t0 / 1000 + 3600 });
  });

  it.each([
    ['one held scope', 'twin:read', 'twin:read'],
    ['two, in any order and spacing', '  models:read   twin:predict ', 'twin:predict models:read'],
    ['all held', 'keys:manage twin:read models:read twin:predict', 'twin:predict twin:read keys:manage models:read'],
    ['empty (no narrowing)', '', 'twin:predict twin:read keys:manage models:read twin:feedback'],
  ])('narrowScopes via scope: %s', async (_name, scope, granted) => {
    const res = await auth.token(passwordGrant('olga', scope), '10.0.0.1');
    expect(res.scope).toBe(granted);
    expect(claims(res.access_token).scope).toBe(granted);
  });

  it.each([
    ['a scope the role lacks', 'twin:predict users:manage', 'users:manage'],
    ['an unknown scope', 'twin:read root', 'root'],
  ])('narrowScopes refuses a superset (%s) with 400 naming scope', async (_name, scope, named) => {
    const error = await appError(() => auth.token(passwordGrant('olga', scope), '10.0.0.1'));
    expect(error.status).toBe(400);
    expect(error.issues?.[0]?.field).toBe('scope');
    expect(error.message).toContain(named);
  });

  it('client credentials: the key’s scopes narrowed by scope, owner and key id in the claims; superset 400', async () => {
    const created = await keys.create(olga(), keyRequest({ rate_limit_per_minute: 50 }));
    const res = await auth.token({ grant_type: 'client_credentials', client_secret: created.key, scope: 'twin:predict' }, '10.0.0.1');
    expect(res).toMatchObject({ expires_in: 900, scope: 'twin:predict' });
    expect(claims(res.access_token)).toMatchObject({ sub: `key:${created.id}`, typ: 'key', owner: 'olga', key_id: created.id, rl: 50, plant: 'plant-a' });
    // keys:manage is held by olga but never by her key.
    const error = await appError(() => auth.token({ grant_type: 'client_credentials', client_secret: created.key, scope: 'keys:manage' }, '10.0.0.1'));
    expect(error.status).toBe(400);
  });

  it('wrong password, unknown user and inactive user fail identically', async () => {
    await seedUser('sleepy', 'operator', 'plant-a', false);
    const errors = await Promise.all([
      appError(() => auth.login({ username: 'olga', password: 'wrong password' }, '10.0.0.2')),
      appError(() => auth.login({ username: 'ghost', password }, '10.0.0.3')),
      appError(() => auth.login({ username: 'sleepy', password }, '10.0.0.4')),
    ]);
    for (const error of errors) expect([error.code, error.status, error.message, error.issues]).toEqual(['INVALID_CREDENTIALS', 401, 'Invalid credentials', undefined]);
  });

  it('throttles per username (limit 3) across sources, before checking the password', async () => {
    for (const ip of ['10.0.1.1', '10.0.1.2', '10.0.1.3']) {
      expect((await appError(() => auth.login({ username: 'olga', password: 'bad' }, ip))).code).toBe('INVALID_CREDENTIALS');
    }
    const error = await appError(() => auth.login({ username: 'olga', password }, '10.0.1.4'));
    expect(error.status).toBe(429);
    expect(error.headers).toMatchObject({ 'retry-after': '30', 'ratelimit-limit': '3', 'ratelimit-remaining': '0' });
    // The next window starts afresh.
    clock.advance(30_000);
    await expect(auth.login({ username: 'olga', password }, '10.0.1.4')).resolves.toMatchObject({ token_type: 'Bearer' });
  });

  it('throttles per source (limit 5) across usernames; the username in the bucket is case-insensitive', async () => {
    expect(limiter.taken).toEqual([]);
    for (const name of ['u1', 'u2', 'u3', 'u4', 'u5']) {
      expect((await appError(() => auth.login({ username: name, password }, '10.0.2.1'))).status).toBe(401);
    }
    expect((await appError(() => auth.login({ username: 'olga', password }, '10.0.2.1'))).status).toBe(429);
    await expect(auth.login({ username: 'olga', password }, '10.0.2.2')).resolves.toBeDefined();
    await auth.login({ username: 'OLGA', password: 'x' }, '10.0.2.3').catch(() => undefined);
    expect(limiter.taken).toContain('login:user:olga');
    expect(limiter.taken).not.toContain('login:user:OLGA');
  });

  it('fails closed: with the counter store down, login is 503 even with the right password', async () => {
    limiter.failing = true;
    const error = await appError(() => auth.login({ username: 'olga', password }, '10.0.3.1'));
    expect(error.status).toBe(503);
    expect(error.code).toBe('SERVICE_UNAVAILABLE');
    expect((await appError(() => auth.token(passwordGrant('olga'), '10.0.3.1'))).status).toBe(503);
  });
});

describe('AuditService', () => {
  let log: InMemoryAuditLog;
  let service: AuditService;

  function record(i: number, overrides: Partial<AuditRecord> = {}): AuditRecord {
    return {
      time: new Date(t0 - i * 1000).toISOString(),
      requestId: `req-${String(i).padStart(3, '0')}`,
      principal: 'olga',
      principalType: 'user',
      role: 'operator',
      plant: 'plant-a',
      action: 'twin.predict',
      method: 'POST',
      resource: '/api/v1/twin/predict',
      outcome: 200,
      ...overrides,
    };
  }

  beforeEach(() => {
    log = new InMemoryAuditLog();
    service = new AuditService(log, { now: clock.now });
  });

  it('defaults to the last 24 h ending now, limited to the plant of a plant principal', async () => {
    await service.query(principal('ada', 'auditor', 'plant-a'), { limit: 50 });
    expect(log.queries[0]).toEqual({ from: new Date(t0 - day).toISOString(), to: new Date(t0).toISOString(), limit: 50, plant: 'plant-a' });
    await service.query(root(), { limit: 10, principal: 'olga', action: 'twin.predict', outcome: 'failure' });
    expect(log.queries[1]).toEqual({ from: new Date(t0 - day).toISOString(), to: new Date(t0).toISOString(), limit: 10, principal: 'olga', action: 'twin.predict', outcome: 'failure' });
  });

  it('a plant auditor never gets another plant’s records, whatever the filters', async () => {
    for (let i = 0; i < 6; i++) await log.write(record(i, i % 2 ? { plant: 'plant-b', principal: 'oscar' } : {}));
    const mine = await service.query(principal('ada', 'auditor', 'plant-a'), { limit: 50 });
    expect(mine.items.map((r) => r.plant)).toEqual(['plant-a', 'plant-a', 'plant-a']);
    expect((await service.query(principal('ada', 'auditor', 'plant-a'), { limit: 50, principal: 'oscar' })).items).toEqual([]);
    expect((await service.query(principal('ada', 'auditor'), { limit: 50 })).items).toHaveLength(6);
  });

  it('pages newest first with an opaque cursor; the last page has next_cursor null', async () => {
    for (let i = 0; i < 7; i++) await log.write(record(i));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await service.query(root(), { limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((r) => r.requestId));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(['req-000', 'req-001', 'req-002', 'req-003', 'req-004', 'req-005', 'req-006']);
  });

  it('from after to, and ranges over 31 days, are 400; exactly 31 days is allowed', async () => {
    const to = new Date(t0).toISOString();
    expect((await appError(() => service.query(root(), { limit: 5, from: new Date(t0 + 1).toISOString(), to }))).status).toBe(400);
    const tooLong = await appError(() => service.query(root(), { limit: 5, from: new Date(t0 - 31 * day - 1).toISOString(), to }));
    expect(tooLong.status).toBe(400);
    expect(tooLong.issues?.[0]).toMatchObject({ field: 'from', rule: 'max_range' });
    await expect(service.query(root(), { limit: 5, from: new Date(t0 - 31 * day).toISOString(), to })).resolves.toBeDefined();
  });
});
