import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, issueFields } from '../support/identity.js';
import {
  getObject,
  modelKey,
  modelName,
  publish,
  publishBody,
  referencePackage,
  referenceVariant,
  smallForestPackage,
  startModelTwin,
  type TestPackage,
} from '../support/models.js';
import { apiClient, login, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let token: string;

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  token = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

/** The reactor-yield entry of GET /api/v1/models (other packages under models/ may be seeded too). */
function reactor(res: ApiResponse): Record<string, unknown> {
  return (res.json.models as { name: string }[]).find((m) => m.name === modelName)!;
}

const issues = (res: ApiResponse): [string, string][] => ((res.json?.error?.issues ?? []) as { field: string; rule: string }[]).map((i) => [i.field, i.rule]);

async function withManifest(change: (manifest: Record<string, unknown>) => void, version = '1.5.0'): Promise<TestPackage> {
  const pkg = await referenceVariant(version);
  const manifest = structuredClone(pkg.manifest);
  change(manifest);
  return { manifest, bytes: pkg.bytes };
}

describe('rollback', () => {
  it('answers 409 when there is no previous active version', async () => {
    // Act: the fresh twin's model has only ever had 1.0.0 active
    const res = await api('POST', `/api/v1/models/${modelName}/rollback`, { token });

    // Assess
    expectError(res, 409, 'CONFLICT');
    expect(res.json.error.message).toMatch(/no previous active version/);
    expect((await api('POST', '/api/v1/twin/predict', { token, body: { temp: 360, pressure: 6, flow: 100 } })).json.model_version).toBe('1.0.0');
  });

  it('answers 404 for a model that does not exist', async () => {
    expectError(await api('POST', '/api/v1/models/no-such-model/rollback', { token }), 404, 'MODEL_NOT_FOUND');
  });
});

describe('publish: the manifest is validated before anything is written', () => {
  // [case, change, expected field, expected rule]
  const cases: [string, (m: Record<string, unknown>) => void, string, string][] = [
    ['a missing features list', (m) => delete m.features, 'manifest.features', 'invalid_type'],
    ['a version that is not semver', (m) => (m.version = 'v1'), 'manifest.version', 'invalid_format'],
    ['a feature whose min is not below its max', (m) => ((m.features as { min: number }[])[0]!.min = 500), 'manifest.features.0.max', 'custom'],
    ['an unknown output kind', (m) => (m.output = { kind: 'matrix' }), 'manifest.output.kind', 'invalid_union'],
    ['a created date that is not a date', (m) => (m.created = 'yesterday'), 'manifest.created', 'invalid_format'],
    ['a scaler with the wrong number of entries', (m) => (m.scaler = { kind: 'standard', mean: [1], scale: [1] }), 'manifest.scaler', 'custom'],
    ['an alert band upside down', (m) => (m.alerts = { min: 95, max: 70 }), 'manifest.alerts.max', 'custom'],
  ];

  it.each(cases)('%s → 400 naming the field', async (_name, change, field, rule) => {
    // Act
    const res = await publish(api, token, await withManifest(change));

    // Assess
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain(field);
    expect(issues(res)).toContainEqual([field, rule]);
    expect(res.json.error.message).toMatch(/^manifest is invalid/);
  });

  it('a manifest naming another model than the path → 400 on manifest.name', async () => {
    const res = await publish(api, token, await withManifest((m) => (m.name = 'other-model')));
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issues(res)).toEqual([['manifest.name', 'matches_path']]);
  });

  it('a digest that is not the SHA-256 of the upload → 400 on manifest.sha256', async () => {
    const res = await publish(api, token, await withManifest((m) => (m.sha256 = 'a'.repeat(64))));
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issues(res)).toEqual([['manifest.sha256', 'digest']]);
    expect(res.json.error.message).toMatch(/digest mismatch/);
  });

  it('nothing of a refused package reaches the bucket or the version list', async () => {
    const versions = await api('GET', `/api/v1/models/${modelName}/versions`, { token });
    expect(versions.json.versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0']);
    await expect(getObject(t, modelKey('1.5.0'))).rejects.toThrow();
  });
});

describe('publish: the model is loaded once before it is accepted', () => {
  it('a payload that is not ONNX → 422 MODEL_INVALID (a 4xx, never a 500)', async () => {
    // Prepare: a valid manifest whose digest matches bytes that are not a model
    const bytes = new TextEncoder().encode('this is not an ONNX model, just text');
    const pkg = await withManifest((m) => delete m.sha256, '1.6.0');

    // Act
    const res = await publish(api, token, { manifest: pkg.manifest, bytes });

    // Assess
    expectError(res, 422, 'MODEL_INVALID');
    expect(res.json.error.message).toMatch(/not_onnx: model\.onnx is not an ONNX ModelProto/);
    await expect(getObject(t, modelKey('1.6.0'))).rejects.toThrow();
  });

  it('a graph whose tensor names differ from the manifest → 422', async () => {
    const res = await publish(api, token, await withManifest((m) => (m.onnx = { input: 'features', output: 'members' }), '1.7.0'));
    expectError(res, 422, 'MODEL_INVALID');
    expect(res.json.error.message).toMatch(/graph_input: manifest onnx\.input "features" is not an input of the graph/);
    expect(res.json.error.issues.map((i: { rule: string }) => i.rule)).toEqual(['graph_input']);
  });

  it('an output width that contradicts the manifest → 4xx, not 500', async () => {
    // The reference graph has 20 member columns; this manifest claims a single output.
    const res = await publish(api, token, await withManifest((m) => {
      m.output = { kind: 'single' };
      delete m.interval;
    }, '1.8.0'));
    expect(res.status, res.text).toBeGreaterThanOrEqual(400);
    expect(res.status, res.text).toBeLessThan(500);
    expect(res.json.error.code).toBe('MODEL_INVALID');
  });
});

describe('publish: request shape', () => {
  it('model_base64 that is not base64 → 400 on model_base64', async () => {
    const pkg = await referencePackage();
    const res = await api('POST', `/api/v1/models/${modelName}/versions`, { token, body: { manifest: pkg.manifest, model_base64: 'not base64!' } });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain('model_base64');
  });

  it('a missing manifest → 400 on manifest', async () => {
    const pkg = await referencePackage();
    const res = await api('POST', `/api/v1/models/${modelName}/versions`, { token, body: { model_base64: publishBody(pkg).model_base64 } });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain('manifest');
  });

  it('an unknown body field → 400', async () => {
    const res = await api('POST', `/api/v1/models/${modelName}/versions`, { token, body: { ...publishBody(await referencePackage()), activate: true } });
    expectError(res, 400, 'INVALID_REQUEST');
  });

  it('a body that is not JSON → 415 or 400, never 500', async () => {
    const res = await api('POST', `/api/v1/models/${modelName}/versions`, { token, rawBody: 'manifest=1', headers: { 'content-type': 'text/plain' } });
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const broken = await api('POST', `/api/v1/models/${modelName}/versions`, { token, rawBody: '{"manifest":' });
    expectError(broken, 400, 'INVALID_REQUEST');
  });

  it('an invalid model name in the path → 400 on name', async () => {
    const res = await publish(api, token, await referencePackage(), 'Reactor_Yield');
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toEqual(['name']);
  });
});

describe('immutability', () => {
  it('different model bytes under a published version → 409, and the stored package is untouched', async () => {
    // Prepare: a genuinely different model claiming to be 1.0.0
    const other = smallForestPackage('1.0.0');
    const original = await getObject(t, modelKey('1.0.0'));

    // Act
    const res = await publish(api, token, other);

    // Assess
    expectError(res, 409, 'CONFLICT');
    expect(res.json.error.message).toMatch(/immutable/);
    expect(Buffer.from(await getObject(t, modelKey('1.0.0'))).equals(Buffer.from(original))).toBe(true);
  });

  it('the same bytes with a different manifest under a published version → 409', async () => {
    const pkg = await withManifest((m) => (m.description = 'rewritten after the fact'), '1.0.0');
    expectError(await publish(api, token, pkg), 409, 'CONFLICT');
  });

  it('the same bytes and manifest again → 200, not 409', async () => {
    const res = await publish(api, token, await referencePackage());
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ version: '1.0.0', already_published: true, published: false });
  });
});

describe('activate and routing', () => {
  it('activating an unpublished version → 400 naming version, routing unchanged', async () => {
    const res = await api('POST', `/api/v1/models/${modelName}/activate`, { token, body: { version: '9.9.9' } });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issues(res)).toEqual([['version', 'loadable']]);
    const versions = await api('GET', `/api/v1/models/${modelName}/versions`, { token });
    expect(versions.json.active).toBe('1.0.0');
  });

  it('activate with a version that is not semver, or no version → 400', async () => {
    const bad = await api('POST', `/api/v1/models/${modelName}/activate`, { token, body: { version: 'latest' } });
    expectError(bad, 400, 'INVALID_REQUEST');
    expect(issueFields(bad)).toEqual(['version']);
    const missing = await api('POST', `/api/v1/models/${modelName}/activate`, { token, body: {} });
    expectError(missing, 400, 'INVALID_REQUEST');
    expect(issueFields(missing)).toEqual(['version']);
  });

  it('routing weights that do not sum to 1 → 400 on variants', async () => {
    const res = await api('PUT', `/api/v1/models/${modelName}/routing`, { token, body: { variants: [{ version: '1.0.0', weight: 0.5 }, { version: '1.0.0', weight: 0.4 }] } });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain('variants');
  });

  it('a version listed twice → 400 on variants', async () => {
    const res = await api('PUT', `/api/v1/models/${modelName}/routing`, { token, body: { variants: [{ version: '1.0.0', weight: 0.5 }, { version: '1.0.0', weight: 0.5 }] } });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain('variants');
  });

  it.each([
    ['an unknown mode', { variants: [{ version: '1.0.0', weight: 1 }], mode: 'round-robin' }, 'mode'],
    ['an unknown sticky_by', { variants: [{ version: '1.0.0', weight: 1 }], mode: 'sticky', sticky_by: 'ip' }, 'sticky_by'],
    ['a weight above 1', { variants: [{ version: '1.0.0', weight: 1.5 }] }, 'variants.0.weight'],
    ['no variants', { variants: [] }, 'variants'],
  ])('%s → 400 naming %s', async (_name, body, field) => {
    const res = await api('PUT', `/api/v1/models/${modelName}/routing`, { token, body });
    expectError(res, 400, 'INVALID_REQUEST');
    expect(issueFields(res)).toContain(field);
  });

  it('an unpublished variant or shadow → 400, routing unchanged', async () => {
    const variant = await api('PUT', `/api/v1/models/${modelName}/routing`, { token, body: { variants: [{ version: '1.0.0', weight: 0.5 }, { version: '8.0.0', weight: 0.5 }] } });
    expectError(variant, 400, 'INVALID_REQUEST');
    const shadow = await api('PUT', `/api/v1/models/${modelName}/routing`, { token, body: { variants: [{ version: '1.0.0', weight: 1 }], shadow: '8.0.0' } });
    expectError(shadow, 400, 'INVALID_REQUEST');
    const list = await api('GET', '/api/v1/models', { token });
    expect(reactor(list)).toMatchObject({ active: '1.0.0', variants: null, shadow: null });
  });

  it('routing, stats and versions of a model that does not exist → 404 MODEL_NOT_FOUND', async () => {
    expectError(await api('PUT', '/api/v1/models/no-such-model/routing', { token, body: { variants: [{ version: '1.0.0', weight: 1 }] } }), 404, 'MODEL_NOT_FOUND');
    expectError(await api('GET', '/api/v1/models/no-such-model/stats', { token }), 404, 'MODEL_NOT_FOUND');
    expectError(await api('GET', '/api/v1/models/no-such-model/versions', { token }), 404, 'MODEL_NOT_FOUND');
  });
});
