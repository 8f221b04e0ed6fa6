import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, exchangeKey, expectError, keyToken, relaxedLoginEnv, setItemAttributes, startTwinWithEnv, userWithToken } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * The principal cache (≤ TWIN_PRINCIPAL_CACHE_SECONDS, default 10 s: docs/security.md, "Revocation") runs on
 * the services clock, so its bound is shown on the twin's clock, moved, not waited for. The user is
 * deactivated in the store directly (as another container would), so nothing in this process drops the entry.
 * An API key's expiry is judged on the same clock by the key service that sets it and the resolver that checks it.
 */

let t: TestTwin;
let api: Api;
let root: string;

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  root = await login(api);
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

describe('the principal cache follows the twin’s clock', () => {
  it('a user deactivated elsewhere is served within the bound, and refused once the clock passes it', async () => {
    const u = await userWithToken(api, root, { username: 'cached-carl', role: 'operator' });
    const predict = () => api('POST', '/api/v1/twin/predict', { token: u.token, body: validRow });
    expect((await predict()).status).toBe(200);

    await setItemAttributes(t, 'Users', { username: 'cached-carl' }, { active: false });
    // Within the bound the cached state still answers (the documented ≤ 10 s).
    expect((await predict()).status).toBe(200);

    t.clock.advance(10_001);
    expectError(await predict(), 401, 'UNAUTHORIZED');
  });

  it('an API key expires on the twin’s clock: set by the key service, judged by the resolver and the exchange', async () => {
    // The twin's clock a month ahead of real time: a key service on real time would set an expiry already past.
    t.clock.advance(30 * 86_400_000);
    const owner = await userWithToken(api, root, { username: 'keyed-kim', role: 'operator' });
    const before = t.clock.now();
    const key = await createKey(api, owner.token, { name: 'one day', expires_in_days: 1 });
    expect(Date.parse(key.created)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(key.created)).toBeLessThanOrEqual(t.clock.now());
    const token = await keyToken(api, key.key);
    expect((await api('POST', '/api/v1/twin/predict', { token, body: validRow })).status).toBe(200);

    t.clock.advance(86_400_000 + 10_001);
    expectError(await api('POST', '/api/v1/twin/predict', { token, body: validRow }), 401, 'KEY_EXPIRED');
    expectError(await exchangeKey(api, key.key), 401, 'KEY_EXPIRED');
    const listed = (await api('GET', '/api/v1/keys', { token: owner.token })).json.keys as { id: string; status: string }[];
    expect(listed.find((k) => k.id === key.id)?.status).toBe('expired');
  });
});
