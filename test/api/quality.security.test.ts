import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, keyToken, userWithToken } from '../support/identity.js';
import { modelName, startModelTwin } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;
let plantA: string;
let plantB: string;
let viewer: string;
let predictKey: string;
let feedbackKey: string;

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  plantA = (await userWithToken(api, admin, { username: 'ann-north', role: 'operator', plant: 'north' })).token;
  plantB = (await userWithToken(api, admin, { username: 'bob-south', role: 'operator', plant: 'south' })).token;
  viewer = (await userWithToken(api, admin, { username: 'vic-viewer', role: 'viewer' })).token;
  predictKey = await keyToken(api, (await createKey(api, admin, { name: 'predict only', scopes: ['twin:predict'] })).key);
  feedbackKey = await keyToken(api, (await createKey(api, admin, { name: 'lab', scopes: ['twin:feedback'] })).key);
});

afterAll(async () => {
  await t?.stop();
});

const base = `/api/v1/models/${modelName}`;

describe('feedback and quality are walled by plant and scope', () => {
  it('another plant cannot attach a value to a prediction it did not make, nor see its figures', async () => {
    // Prepare: plant north predicts.
    const res = await api('POST', '/api/v1/twin/predict', { token: plantA, body: { temp: 358, pressure: 6, flow: 100 } });
    const requestId = res.headers.get('x-request-id')!;
    // Act: plant south sends a value for it, by id and by inputs.
    const time = new Date(res.json.timestamp * 1000).toISOString();
    const foreign = await api('POST', `${base}/feedback`, {
      token: plantB,
      body: { observations: [{ request_id: requestId, value: 50 }, { inputs: { temp: 358, pressure: 6, flow: 100 }, time, value: 50 }] },
    });
    // Assess: unknown, revealing nothing about the row.
    expect(foreign.status, foreign.text).toBe(200);
    expect(foreign.json.results).toEqual([
      { index: 0, status: 'unknown', request_id: requestId },
      { index: 1, status: 'unknown' },
    ]);
    // North's own value is accepted (south's attempt stored nothing).
    const own = await api('POST', `${base}/feedback`, { token: plantA, body: { observations: [{ request_id: requestId, value: 84 }] } });
    expect(own.json.results[0].status).toBe('accepted');
    const southView = await api('GET', `${base}/quality`, { token: plantB });
    expect(southView.status).toBe(200);
    expect(southView.json.plants).toEqual([]);
    expect(southView.json.versions.every((v: { windows: { all: { count: number } } }) => v.windows.all.count === 0)).toBe(true);
    const northView = await api('GET', `${base}/quality`, { token: plantA });
    expect(northView.json.plants).toEqual([expect.objectContaining({ plant: 'north', version: '1.0.0' })]);
    // The platform admin sees every plant.
    const all = await api('GET', `${base}/quality`, { token: admin });
    expect(all.json.plants.map((p: { plant: string }) => p.plant)).toContain('north');
  });

  it('refuses feedback without twin:feedback (viewer, a predict-only key) at the authorizer', async () => {
    for (const token of [viewer, predictKey]) {
      const res = await api('POST', `${base}/feedback`, { token, body: { observations: [{ request_id: 'x', value: 1 }] } });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ message: 'Forbidden' });
    }
  });

  it('accepts feedback from a key that carries twin:feedback, and refuses it the quality view (models:read)', async () => {
    const res = await api('POST', `${base}/feedback`, { token: feedbackKey, body: { observations: [{ request_id: 'unknown-id', value: 1 }] } });
    expect(res.status, res.text).toBe(200);
    expect(res.json.unknown).toBe(1);
    expect((await api('GET', `${base}/quality`, { token: feedbackKey })).status).toBe(403);
  });

  it('refuses without a token', async () => {
    expect((await api('GET', `${base}/quality`)).status).toBe(401);
    expect((await api('POST', `${base}/feedback`, { body: { observations: [] } })).status).toBe(401);
  });
});
