import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelName, startModelTwin } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

const base = `/api/v1/models/${modelName}`;

describe('feedback refusals name the field and the rule', () => {
  it.each([
    ['no observations', { observations: [] }, 'observations'],
    ['more than 1,000', { observations: Array.from({ length: 1001 }, (_, i) => ({ request_id: `r${i}`, value: 1 })) }, 'observations'],
    ['neither request_id nor inputs and time', { observations: [{ value: 1 }] }, 'observations.0.request_id'],
    ['a value that is not a number', { observations: [{ request_id: 'a', value: 'high' }] }, 'observations.0.value'],
    ['an unknown field', { observations: [{ request_id: 'a', value: 1, extra: true }] }, 'observations.0.extra'],
    ['a bad time', { observations: [{ inputs: { temp: 1 }, time: 'yesterday', value: 1 }] }, 'observations.0.time'],
  ])('400 for %s', async (_name, body, field) => {
    const res = await api('POST', `${base}/feedback`, { token: admin, body });
    expect(res.status, res.text).toBe(400);
    expect(res.json.error.code).toBe('INVALID_REQUEST');
    expect(res.json.error.issues.map((i: { field: string }) => i.field)).toContain(field);
  });

  it('404 for a model that does not exist, on both routes', async () => {
    const fb = await api('POST', '/api/v1/models/no-such-model/feedback', { token: admin, body: { observations: [{ request_id: 'a', value: 1 }] } });
    expect(fb.status, fb.text).toBe(404);
    expect((await api('GET', '/api/v1/models/no-such-model/quality', { token: admin })).status).toBe(404);
  });

  it('400 for a malformed model name', async () => {
    expect((await api('GET', '/api/v1/models/Bad_Name/quality', { token: admin })).status).toBe(400);
  });
});
