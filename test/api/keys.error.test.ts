import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKey,
  envelopeWithoutRequestId,
  exchangeKey,
  expectError,
  issueFields,
  relaxedLoginEnv,
  requestIdOf,
  scanTable,
  setItemAttributes,
  splitKey,
  startTwinWithEnv,
  userWithToken,
  type CreatedUser,
} from '../support/identity.js';
import { apiClient, login, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

// Rotation grace 0: after a rotation the old secret fails at once (keys.happy proves it lives on with 24 h).
let t: TestTwin;
let api: Api;
let admin: string;
let olga: CreatedUser & { token: string };

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_KEY_ROTATION_GRACE_SECONDS: '0' });
  api = apiClient(t.url);
  admin = await login(api);
  olga = await userWithToken(api, admin, { username: 'olga', role: 'operator', plant: 'plant-a' });
});

afterAll(async () => {
  await t?.stop();
});

/** The audit record of one response, read straight from the AuditLog table. */
async function auditOf(res: ApiResponse): Promise<Record<string, unknown>[]> {
  const id = requestIdOf(res);
  return (await scanTable(t, 'AuditLog')).filter((r) => r.requestId === id);
}

describe('rotation with grace 0', () => {
  it('the old secret fails KEY_INVALID immediately; the new one works', async () => {
    const key = await createKey(api, olga.token, { name: 'no-grace' });
    const res = await api('POST', `/api/v1/keys/${key.id}/rotate`, { token: olga.token });
    expect(res.status).toBe(200);
    expect(res.json.previous_secret_valid_until).toBeNull();
    const old = await exchangeKey(api, key.key);
    expectError(old, 401, 'KEY_INVALID');
    expect((await exchangeKey(api, res.json.key as string)).status).toBe(200);
  });
});

describe('POST /api/v1/keys validation (400, 415)', () => {
  it.each([
    ['no name', {}, 'name'],
    ['empty name', { name: '   ' }, 'name'],
    ['a 65-character name', { name: 'n'.repeat(65) }, 'name'],
    ['an unknown field', { name: 'x', secret: 'mine' }, 'secret'],
    ['expires_in_days 0', { name: 'x', expires_in_days: 0 }, 'expires_in_days'],
    ['expires_in_days 366', { name: 'x', expires_in_days: 366 }, 'expires_in_days'],
    ['expires_in_days 1.5', { name: 'x', expires_in_days: 1.5 }, 'expires_in_days'],
    ['empty scopes', { name: 'x', scopes: [] }, 'scopes'],
    ['an unknown scope', { name: 'x', scopes: ['root'] }, 'scopes.0'],
    ['rate_limit_per_minute 0', { name: 'x', rate_limit_per_minute: 0 }, 'rate_limit_per_minute'],
    ['rate_limit_per_minute as a string', { name: 'x', rate_limit_per_minute: '50' }, 'rate_limit_per_minute'],
  ])('%s → 400 INVALID_REQUEST naming the field', async (_name, body, field) => {
    const res = await api('POST', '/api/v1/keys', { token: olga.token, body });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain(field);
  });

  it('no body → 400; invalid JSON → 400; text/plain → 415', async () => {
    expectError(await api('POST', '/api/v1/keys', { token: olga.token }), 400, 'INVALID_REQUEST');
    expectError(await api('POST', '/api/v1/keys', { token: olga.token, rawBody: '{"name":' }), 400, 'INVALID_REQUEST');
    const text = await api('POST', '/api/v1/keys', { token: olga.token, rawBody: 'name=x', headers: { 'content-type': 'text/plain' } });
    expectError(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('scopes beyond the owner’s grant: 403 naming scopes', () => {
  it.each([
    ['operator', 'models:write'],
    ['operator', 'audit:read'],
    ['operator', 'keys:manage'],
    ['admin', 'keys:manage'],
    ['admin', 'users:manage'],
  ])('%s asking for %s', async (who, scope) => {
    const res = await api('POST', '/api/v1/keys', { token: who === 'admin' ? admin : olga.token, body: { name: 'greedy', scopes: ['twin:read', scope] } });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: 'scopes', rule: 'subset_of_owner' })]);
    expect(res.json.error.issues[0].message).toContain(scope);
  });

  it('nothing is stored for a refused key', async () => {
    const before = (await scanTable(t, 'ApiKeys')).length;
    await api('POST', '/api/v1/keys', { token: olga.token, body: { name: 'refused', scopes: ['models:write'] } });
    expect((await scanTable(t, 'ApiKeys')).length).toBe(before);
  });
});

describe('revoke and rotate errors', () => {
  it('unknown id → 404 for revoke and rotate', async () => {
    expectError(await api('DELETE', '/api/v1/keys/aaaaaaaaaaaa', { token: olga.token }), 404, 'NOT_FOUND');
    expectError(await api('POST', '/api/v1/keys/aaaaaaaaaaaa/rotate', { token: olga.token }), 404, 'NOT_FOUND');
  });

  it('rotating a revoked key → 409 CONFLICT, and it stays revoked', async () => {
    const key = await createKey(api, olga.token, { name: 'revoked-rotate' });
    await api('DELETE', `/api/v1/keys/${key.id}`, { token: olga.token });
    expectError(await api('POST', `/api/v1/keys/${key.id}/rotate`, { token: olga.token }), 409, 'CONFLICT');
    expectError(await exchangeKey(api, key.key), 401, 'KEY_REVOKED');
  });

  it('rotating an expired key → 409 CONFLICT', async () => {
    const key = await createKey(api, olga.token, { name: 'expired-rotate' });
    await setItemAttributes(t, 'ApiKeys', { keyId: key.id }, { expiresAt: new Date(Date.now() - 60_000).toISOString() });
    expectError(await api('POST', `/api/v1/keys/${key.id}/rotate`, { token: olga.token }), 409, 'CONFLICT');
  });
});

describe('key exchange rejections: 401 with a code, each audited', () => {
  async function expectRejected(res: ApiResponse, code: string, subject: string | undefined): Promise<void> {
    expectError(res, 401, code);
    const records = await auditOf(res);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ action: 'auth.token', principal: 'anonymous', outcome: 401, errorCode: code });
    // The subject is the key's public id; a malformed key has none to record (which placeholder is the code's choice).
    if (subject !== undefined) expect(records[0]!.subject).toBe(subject);
  }

  it.each([
    ['not a key at all', 'hello'],
    ['wrong prefix', `tk_abcdefghijkl_${'a'.repeat(43)}`],
    ['upper-case id', `tw_ABCDEFGHIJKL_${'a'.repeat(43)}`],
    ['secret one character short', `tw_abcdefghijkl_${'a'.repeat(42)}`],
  ])('KEY_MALFORMED: %s', async (_name, secret) => {
    await expectRejected(await exchangeKey(api, secret), 'KEY_MALFORMED', undefined);
  });

  it('KEY_INVALID: an unknown id, and a wrong secret for an existing id, answer alike', async () => {
    const key = await createKey(api, olga.token, { name: 'probe-target' });
    const unknown = await exchangeKey(api, `tw_aaaaaaaaaaaa_${'a'.repeat(43)}`);
    const wrongSecret = await exchangeKey(api, `tw_${key.id}_${'a'.repeat(43)}`);
    await expectRejected(unknown, 'KEY_INVALID', 'aaaaaaaaaaaa');
    await expectRejected(wrongSecret, 'KEY_INVALID', key.id);
    expect(envelopeWithoutRequestId(wrongSecret)).toEqual(envelopeWithoutRequestId(unknown));
  });

  it('KEY_EXPIRED: a key past its expiry', async () => {
    const key = await createKey(api, olga.token, { name: 'expired' });
    await setItemAttributes(t, 'ApiKeys', { keyId: key.id }, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    await expectRejected(await exchangeKey(api, key.key), 'KEY_EXPIRED', key.id);
    const listed = (await api('GET', '/api/v1/keys', { token: olga.token })).json.keys as { id: string; status: string }[];
    expect(listed.find((k) => k.id === key.id)?.status).toBe('expired');
  });

  it('KEY_REVOKED: a revoked key, and a key whose owner was deactivated', async () => {
    const revoked = await createKey(api, olga.token, { name: 'revoked' });
    await api('DELETE', `/api/v1/keys/${revoked.id}`, { token: olga.token });
    await expectRejected(await exchangeKey(api, revoked.key), 'KEY_REVOKED', revoked.id);

    const dora = await userWithToken(api, admin, { username: 'dora', role: 'operator', plant: 'plant-a' });
    const orphan = await createKey(api, dora.token, { name: 'orphan' });
    expect((await exchangeKey(api, orphan.key)).status).toBe(200);
    expect((await api('PATCH', '/api/v1/users/dora', { token: admin, body: { active: false } })).status).toBe(200);
    await expectRejected(await exchangeKey(api, orphan.key), 'KEY_REVOKED', orphan.id);
  });

  it('the subject of a malformed key is never its secret', async () => {
    const res = await exchangeKey(api, 'hello');
    const [record] = await auditOf(res);
    expect(JSON.stringify(record)).not.toContain('hello');
  });
});

describe('token request errors for client_credentials', () => {
  it.each([
    ['no client_secret', { grant_type: 'client_credentials' }, 'client_secret'],
    ['empty client_secret', { grant_type: 'client_credentials', client_secret: '' }, 'client_secret'],
    ['an overlong client_secret', { grant_type: 'client_credentials', client_secret: 'x'.repeat(257) }, 'client_secret'],
  ])('%s → 400 INVALID_REQUEST', async (_name, body, field) => {
    const res = await api('POST', '/api/v1/auth/token', { body });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain(field);
  });

  it('a scope beyond the key’s → 400 naming scope; nothing is issued', async () => {
    const key = await createKey(api, olga.token, { name: 'narrow', scopes: ['twin:read'] });
    const res = await exchangeKey(api, key.key, { scope: 'twin:read twin:predict' });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toEqual(['scope']);
    expect(res.json).not.toHaveProperty('access_token');
  });

  it('a key whose secret is split off by a stray character stays malformed, not a different key', async () => {
    const key = await createKey(api, olga.token, { name: 'stray' });
    const { keyId, secret } = splitKey(key.key);
    expectError(await exchangeKey(api, `tw_${keyId}_${secret} `), 401, 'KEY_MALFORMED');
    expectError(await exchangeKey(api, ` tw_${keyId}_${secret}`), 401, 'KEY_MALFORMED');
  });
});
