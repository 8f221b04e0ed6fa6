import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, keyToken, userWithToken } from '../support/identity.js';
import { inBandRow, modelName, publishBody, referenceVariant, s3Client, startModelTwin, type TestPackage } from '../support/models.js';
import { apiClient, login, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';
import { localBucket } from '../../infra/local/twin.js';

/**
 * Model tenancy (issue 13, finding 5; docs/security.md "Model tenancy"). Plant A's admin publishes `line-a`
 * (a plant model); reactor-yield is platform-wide (seeded before owners existed). Another plant's principals
 * (its lowest-privileged one with the route's scope, and its admin) must find `line-a` on no route: every
 * read, write and serving path answers 404 exactly as for a model that does not exist, and changes nothing.
 * A plant admin changing the platform-wide model gets 403. Stats of a shared model are per plant.
 */

const plantModel = 'line-a';
const missingModel = 'line-z';

let t: TestTwin;
let api: Api;
let admin: string;
const a = { admin: '', viewer: '', predict: '' };
const b = { admin: '', viewer: '', predict: '' };
let v100: TestPackage;
let v110: TestPackage;
let v120: TestPackage;

function named(pkg: TestPackage, name: string): TestPackage {
  return { manifest: { ...pkg.manifest, name }, bytes: pkg.bytes };
}

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  a.admin = (await userWithToken(api, admin, { username: 'anna-admin', role: 'admin', plant: 'plant-a' })).token;
  a.viewer = (await userWithToken(api, admin, { username: 'alex-viewer', role: 'viewer', plant: 'plant-a' })).token;
  a.predict = await keyToken(api, (await createKey(api, a.admin, { name: 'line a predict', scopes: ['twin:predict'] })).key);
  b.admin = (await userWithToken(api, admin, { username: 'bea-admin', role: 'admin', plant: 'plant-b' })).token;
  b.viewer = (await userWithToken(api, admin, { username: 'ben-viewer', role: 'viewer', plant: 'plant-b' })).token;
  b.predict = await keyToken(api, (await createKey(api, b.admin, { name: 'line b predict', scopes: ['twin:predict'] })).key);
  v100 = named(await referenceVariant('1.0.0'), plantModel);
  v110 = named(await referenceVariant('1.1.0', { tempShift: 10 }), plantModel);
  v120 = named(await referenceVariant('1.2.0', { tempShift: 5 }), plantModel);
  // Plant A's admin creates its plant's model: two versions, 1.1.0 active, 1.0.0 on the rollback history.
  for (const pkg of [v100, v110]) expect((await api('POST', `/api/v1/models/${plantModel}/versions`, { token: a.admin, body: publishBody(pkg) })).status).toBe(201);
  expect((await api('POST', `/api/v1/models/${plantModel}/activate`, { token: a.admin, body: { version: '1.0.0' } })).status).toBe(200);
  expect((await api('POST', `/api/v1/models/${plantModel}/activate`, { token: a.admin, body: { version: '1.1.0' } })).status).toBe(200);
});

afterAll(async () => {
  await t?.stop();
});

const base = `/api/v1/models/${plantModel}`;
const servedRow = { temp: 360, pressure: 6, flow: 100 };
const oipRow = { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [360, 6, 100] }] };

/** Every route that reads a model (or serves it), with the scope class of the lowest principal that may call it. */
function reads(name: string): { route: string; method: string; path: string; body?: unknown; needs: 'models' | 'read' | 'predict' }[] {
  return [
    { route: 'versions', method: 'GET', path: `/api/v1/models/${name}/versions`, needs: 'models' },
    { route: 'package', method: 'GET', path: `/api/v1/models/${name}/versions/1.0.0/package`, needs: 'models' },
    { route: 'stats', method: 'GET', path: `/api/v1/models/${name}/stats`, needs: 'models' },
    { route: 'alerts', method: 'GET', path: `/api/v1/alerts?model=${name}`, needs: 'read' },
    { route: 'oip metadata', method: 'GET', path: `/v2/models/${name}`, needs: 'read' },
    { route: 'oip version metadata', method: 'GET', path: `/v2/models/${name}/versions/1.0.0`, needs: 'read' },
    { route: 'oip ready', method: 'GET', path: `/v2/models/${name}/ready`, needs: 'read' },
    { route: 'oip version ready', method: 'GET', path: `/v2/models/${name}/versions/1.0.0/ready`, needs: 'read' },
    { route: 'oip infer', method: 'POST', path: `/v2/models/${name}/infer`, body: oipRow, needs: 'predict' },
    { route: 'oip version infer', method: 'POST', path: `/v2/models/${name}/versions/1.0.0/infer`, body: oipRow, needs: 'predict' },
    // Model-addressed serving, process insight and quality: the same owner check, through the registry.
    { route: 'model predict', method: 'POST', path: `/api/v1/models/${name}/predict`, body: servedRow, needs: 'predict' },
    { route: 'model version predict', method: 'POST', path: `/api/v1/models/${name}/versions/1.0.0/predict`, body: servedRow, needs: 'predict' },
    { route: 'model batch', method: 'POST', path: `/api/v1/models/${name}/batch`, body: { inputs: [servedRow] }, needs: 'predict' },
    { route: 'explain', method: 'POST', path: `/api/v1/models/${name}/explain`, body: { inputs: [servedRow] }, needs: 'predict' },
    { route: 'sweep', method: 'POST', path: `/api/v1/models/${name}/sweep`, body: { x: { feature: 'temp', steps: 5 }, fixed: { pressure: 6, flow: 100 } }, needs: 'predict' },
    { route: 'optimize', method: 'POST', path: `/api/v1/models/${name}/optimize`, body: { vary: { temp: {} }, fixed: { pressure: 6, flow: 100 }, max_evaluations: 100 }, needs: 'predict' },
    { route: 'quality', method: 'GET', path: `/api/v1/models/${name}/quality`, needs: 'models' },
  ];
}

function writes(name: string, pkg: () => TestPackage): { route: string; method: string; path: string; body?: () => unknown }[] {
  return [
    { route: 'publish', method: 'POST', path: `/api/v1/models/${name}/versions`, body: () => publishBody(pkg()) },
    { route: 'activate', method: 'POST', path: `/api/v1/models/${name}/activate`, body: () => ({ version: '1.0.0' }) },
    { route: 'rollback', method: 'POST', path: `/api/v1/models/${name}/rollback` },
    { route: 'routing', method: 'PUT', path: `/api/v1/models/${name}/routing`, body: () => ({ variants: [{ version: '1.0.0', weight: 0.5 }, { version: '1.1.0', weight: 0.5 }] }) },
  ];
}

/** The lowest principal of plant B holding the route's scope. */
function lowestOfB(needs: 'models' | 'read' | 'predict'): string {
  return needs === 'predict' ? b.predict : b.viewer;
}

function errorCode(res: ApiResponse): string {
  return typeof res.json?.error === 'string' ? res.json.code : res.json?.error?.code;
}

function errorMessage(res: ApiResponse): string {
  return typeof res.json?.error === 'string' ? res.json.error : res.json?.error?.message;
}

/** Hidden exactly as a model that does not exist: same status, code and message (but the name). */
async function expectSameAsMissing(res: ApiResponse, missing: () => Promise<ApiResponse>): Promise<void> {
  const unknown = await missing();
  expect(unknown.status, unknown.text).toBe(404);
  expect(res.status, res.text).toBe(404);
  expect(errorCode(res)).toBe('MODEL_NOT_FOUND');
  expect(errorMessage(res)).toBe(errorMessage(unknown).replace(missingModel, plantModel));
}

async function plantModelUnchanged(): Promise<void> {
  const res = await api('GET', `${base}/versions`, { token: a.admin });
  expect(res.status, res.text).toBe(200);
  expect(res.json.routing).toMatchObject({ active: '1.1.0', history: ['1.0.0'] });
  expect(res.json.routing.variants).toBeUndefined();
  expect(res.json.versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0', '1.1.0']);
}

describe('a plant model belongs to the plant of its first publisher', () => {
  it('is listed with its plant to that plant and to platform principals', async () => {
    for (const token of [a.admin, a.viewer, admin]) {
      const res = await api('GET', '/api/v1/models', { token });
      expect(res.status, res.text).toBe(200);
      expect(res.json.models).toContainEqual(expect.objectContaining({ name: plantModel, plant: 'plant-a', active: '1.1.0' }));
      expect(res.json.models).toContainEqual(expect.objectContaining({ name: modelName, plant: null }));
    }
  });

  it('serves its own plant (predict key) and platform principals', async () => {
    for (const token of [a.predict, admin]) {
      const res = await api('POST', `/v2/models/${plantModel}/infer`, { token, body: oipRow });
      expect(res.status, res.text).toBe(200);
      expect(res.json.model_version).toBe('1.1.0');
    }
    const meta = await api('GET', `/v2/models/${plantModel}`, { token: a.viewer });
    expect(meta.status, meta.text).toBe(200);
  });
});

describe.each([
  ['the lowest principal of plant B', 'lowest'],
  ["plant B's admin", 'admin'],
] as const)('%s', (_who, kind) => {
  it('does not see the plant model in the list', async () => {
    const res = await api('GET', '/api/v1/models', { token: kind === 'admin' ? b.admin : b.viewer });
    expect(res.status, res.text).toBe(200);
    expect(res.json.models.map((m: { name: string }) => m.name)).not.toContain(plantModel);
    expect(res.json.models.map((m: { name: string }) => m.name)).toContain(modelName);
  });

  it.each(reads(plantModel).map((r) => [r.route, r] as const))('gets 404 on %s, as for an unknown model', async (_route, r) => {
    const token = kind === 'admin' ? b.admin : lowestOfB(r.needs);
    const missing = reads(missingModel).find((m) => m.route === r.route)!;
    await expectSameAsMissing(await api(r.method, r.path, { token, ...(r.body ? { body: r.body } : {}) }), () =>
      api(missing.method, missing.path, { token, ...(missing.body ? { body: missing.body } : {}) }),
    );
  });
});

describe("plant A's alerts of its model", () => {
  it('are listed to plant A and the platform, never to plant B', async () => {
    // Far below the 70..95 band: one alert, raised by plant A's key.
    const low = await api('POST', `/v2/models/${plantModel}/versions/1.0.0/infer`, { token: a.predict, body: { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [300, 6, 100] }] } });
    expect(low.status, low.text).toBe(200);
    for (const token of [a.viewer, admin]) {
      const res = await api('GET', `/api/v1/alerts?model=${plantModel}`, { token });
      expect(res.status, res.text).toBe(200);
      expect(res.json.alerts.length, res.text).toBeGreaterThan(0);
      expect(new Set(res.json.alerts.map((e: { plant?: string }) => e.plant))).toEqual(new Set(['plant-a']));
    }
    for (const token of [b.viewer, b.admin]) {
      const all = await api('GET', '/api/v1/alerts', { token });
      expect(all.json.alerts.filter((e: { model: string }) => e.model === plantModel)).toEqual([]);
      expect((await api('GET', `/api/v1/alerts?model=${plantModel}`, { token })).status).toBe(404);
    }
  });
});

describe("plant B's admin changing plant A's model", () => {
  it.each(writes(plantModel, () => v120).map((w) => [w.route, w] as const))('%s: 404, nothing changes', async (_route, w) => {
    const missing = writes(missingModel, () => named(v120, missingModel)).find((m) => m.route === w.route)!;
    const res = await api(w.method, w.path, { token: b.admin, ...(w.body ? { body: w.body() } : {}) });
    if (w.route === 'publish') {
      // A publish to an unknown name would create it: compare with reading it instead.
      expect(res.status, res.text).toBe(404);
      expect(errorCode(res)).toBe('MODEL_NOT_FOUND');
      expect(errorMessage(res)).toBe(`Model ${plantModel} not found`);
    } else {
      await expectSameAsMissing(res, () => api(missing.method, missing.path, { token: b.admin, ...(missing.body ? { body: missing.body() } : {}) }));
    }
    await plantModelUnchanged();
  });

  it('cannot publish with plant set to plant A (403), nor claim a new model for another plant', async () => {
    const res = await api('POST', `${base}/versions`, { token: b.admin, body: { ...publishBody(v120), plant: 'plant-a' } });
    expect(res.status, res.text).toBe(403);
    const other = await api('POST', '/api/v1/models/line-b2/versions', { token: b.admin, body: { ...publishBody(named(v100, 'line-b2')), plant: 'plant-a' } });
    expect(other.status, other.text).toBe(403);
    expect((await api('GET', '/api/v1/models/line-b2/versions', { token: admin })).status).toBe(404);
    await plantModelUnchanged();
  });
});

describe('claiming a name', () => {
  it('a refused upload claims nothing: the next valid first publish (another plant) owns the name', async () => {
    const bad = await api('POST', '/api/v1/models/line-x/versions', { token: a.admin, body: { manifest: named(v100, 'line-x').manifest, model_base64: Buffer.from('not onnx').toString('base64') } });
    expect(bad.status, bad.text).toBeGreaterThanOrEqual(400);
    expect(bad.status, bad.text).toBeLessThan(500);
    const good = await api('POST', '/api/v1/models/line-x/versions', { token: b.admin, body: publishBody(named(v100, 'line-x')) });
    expect(good.status, good.text).toBe(201);
    expect((await api('GET', '/api/v1/models/line-x/versions', { token: b.viewer })).json.plant).toBe('plant-b');
    expect((await api('GET', '/api/v1/models/line-x/versions', { token: a.admin })).status).toBe(404);
  });
});

describe('the platform-wide model', () => {
  it.each(writes(modelName, () => ({ manifest: { ...v120.manifest, name: modelName }, bytes: v120.bytes })).map((w) => [w.route, w] as const))(
    "plant A's admin may not %s it (403)",
    async (_route, w) => {
      const res = await api(w.method, w.path, { token: a.admin, ...(w.body ? { body: w.body() } : {}) });
      expect(res.status, res.text).toBe(403);
      expect(errorCode(res)).toBe('FORBIDDEN');
      const after = await api('GET', `/api/v1/models/${modelName}/versions`, { token: admin });
      expect(after.json.versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0']);
      expect(after.json.routing).toMatchObject({ active: '1.0.0' });
    },
  );

  it('serves every plant and shows each plant only its own stats; platform principals see the deployment', async () => {
    for (let i = 0; i < 3; i++) expect((await api('POST', '/api/v1/twin/predict', { token: a.predict, body: inBandRow })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await api('POST', '/api/v1/twin/predict', { token: b.predict, body: inBandRow })).status).toBe(200);
    const requests = async (token: string) => {
      const res = await api('GET', `/api/v1/models/${modelName}/stats`, { token });
      expect(res.status, res.text).toBe(200);
      return res.json.variants.filter((v: { role: string }) => v.role !== 'shadow').reduce((s: number, v: { requests: number }) => s + v.requests, 0) as number;
    };
    expect(await requests(a.viewer)).toBe(3);
    expect(await requests(b.viewer)).toBe(5);
    expect(await requests(admin)).toBeGreaterThanOrEqual(8);
    const metrics = await api('GET', '/metrics', { token: a.viewer });
    expect(metrics.status, metrics.text).toBe(200);
    expect(metrics.json.total_requests).toBe(3);
  });
});

describe('a platform admin', () => {
  it("manages plant A's model", async () => {
    const res = await api('POST', `${base}/rollback`, { token: admin });
    expect(res.status, res.text).toBe(200);
    expect(res.json.routing.active).toBe('1.0.0');
    expect((await api('POST', `${base}/activate`, { token: admin, body: { version: '1.1.0' } })).status).toBe(200);
  });

  it('may create a model for a plant; its owner is then fixed (409 on another plant)', async () => {
    const pkg = named(v100, 'line-b');
    const created = await api('POST', '/api/v1/models/line-b/versions', { token: admin, body: { ...publishBody(pkg), plant: 'plant-b' } });
    expect(created.status, created.text).toBe(201);
    const listA = await api('GET', '/api/v1/models', { token: a.viewer });
    expect(listA.json.models.map((m: { name: string }) => m.name)).not.toContain('line-b');
    const versionsB = await api('GET', '/api/v1/models/line-b/versions', { token: b.viewer });
    expect(versionsB.status, versionsB.text).toBe(200);
    expect(versionsB.json.plant).toBe('plant-b');
    const moved = await api('POST', '/api/v1/models/line-b/versions', { token: admin, body: { ...publishBody(named(v110, 'line-b')), plant: 'plant-a' } });
    expect(moved.status, moved.text).toBe(409);
  });
});

// Last: turns the default model into plant A's behind the API's back (as a deployment whose default model is a plant's).
describe('the twin routes with a plant model as the default model', () => {
  beforeAll(async () => {
    const s3 = s3Client(t);
    const owner = { schemaVersion: 1, plant: 'plant-a', assigned: '2026-12-01T00:00:00.000Z', by: 'admin' };
    await s3.send(new PutObjectCommand({ Bucket: localBucket, Key: `models/${modelName}/owner.json`, Body: JSON.stringify(owner) }));
    s3.destroy();
  });

  it.each([
    ['predict', 'POST', '/api/v1/twin/predict', inBandRow, 'predict'],
    ['batch', 'POST', '/api/v1/twin/batch', { inputs: [inBandRow] }, 'predict'],
    ['chapter predict', 'POST', '/predict', inBandRow, 'predict'],
    ['status', 'GET', '/api/v1/twin/status', undefined, 'read'],
    ['model info', 'GET', '/model/info', undefined, 'read'],
    ['metrics', 'GET', '/metrics', undefined, 'read'],
  ] as const)('%s: 404 for plant B, served to plant A', async (_route, method, path, body, needs) => {
    for (const token of [needs === 'predict' ? b.predict : b.viewer, b.admin]) {
      const res = await api(method, path, { token, ...(body ? { body } : {}) });
      expect(res.status, res.text).toBe(404);
      expect(errorCode(res)).toBe('MODEL_NOT_FOUND');
    }
    const own = await api(method, path, { token: needs === 'predict' ? a.predict : a.viewer, ...(body ? { body } : {}) });
    expect(own.status, own.text).toBe(200);
  });
});
