import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, relaxedLoginEnv, setItemAttributes, startTwinWithEnv, userWithToken } from '../support/identity.js';
import { apiClient, login, validRow, type Api, type TestTwin } from '../support/twin.js';

/**
 * The principal cache (≤ TWIN_PRINCIPAL_CACHE_SECONDS, default 10 s: docs/security.md, "Revocation") runs on
 * the services clock, so its bound is shown on the twin's clock, moved, not waited for. The user is
 * deactivated in the store directly (as another container would), so nothing in this process drops the entry.
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
});
