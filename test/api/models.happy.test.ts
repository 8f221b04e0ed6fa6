import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activate,
  getObject,
  modelKey,
  modelName,
  publish,
  referencePackage,
  referenceVariant,
  row,
  servingStats,
  smallForestPackage,
  startModelTwin,
  variantStats,
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

const predict = (body: unknown) => api('POST', '/api/v1/twin/predict', { token, body });

// The tests below run in order and build on each other: publish 1.1.0, activate it, roll back, ...
describe('listing', () => {
  it('lists the seeded model with its active version and published versions', async () => {
    // Act
    const res = await api('GET', '/api/v1/models', { token });

    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json.models).toContainEqual({ name: modelName, plant: null, active: '1.0.0', variants: null, shadow: null, versions: ['1.0.0'] });
  });

  it('describes each version from its manifest', async () => {
    // Prepare
    const ref = await referencePackage();

    // Act
    const res = await api('GET', `/api/v1/models/${modelName}/versions`, { token });

    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ name: modelName, active: '1.0.0', routing: { schemaVersion: 1, active: '1.0.0' } });
    expect(res.json.versions).toEqual([
      {
        version: '1.0.0',
        created: ref.manifest.created,
        model_type: 'RandomForestRegressor',
        sha256: ref.manifest.sha256,
        features: ['temp', 'pressure', 'flow'],
        status: 'ok',
      },
    ]);
  });
});

describe('publish', () => {
  it('publishes a new version (201) under models/<name>/<version>/ without changing what serves', async () => {
    // Prepare
    const pkg = await referenceVariant('1.1.0', { tempShift: 10 });

    // Act
    const res = await publish(api, token, pkg);

    // Assess
    expect(res.status, res.text).toBe(201);
    expect(res.json).toEqual({ name: modelName, version: '1.1.0', sha256: pkg.manifest.sha256, published: true, already_published: false });
    expect(Buffer.from(await getObject(t, modelKey('1.1.0'))).equals(Buffer.from(pkg.bytes))).toBe(true);
    const stored = JSON.parse(Buffer.from(await getObject(t, `models/${modelName}/1.1.0/manifest.json`)).toString('utf8'));
    expect(stored).toMatchObject({ name: modelName, version: '1.1.0', sha256: pkg.manifest.sha256, scaler: { mean: [10, 0, 0] } });
    const versions = await api('GET', `/api/v1/models/${modelName}/versions`, { token });
    expect(versions.json.active).toBe('1.0.0');
    expect(versions.json.versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0', '1.1.0']);
    expect((await predict(row(360))).json.model_version).toBe('1.0.0');
  });

  it('answers the same bytes again with 200 already_published (idempotent, nothing rewritten)', async () => {
    // Prepare
    const pkg = await referenceVariant('1.1.0', { tempShift: 10 });

    // Act
    const res = await publish(api, token, pkg);

    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ name: modelName, version: '1.1.0', sha256: pkg.manifest.sha256, published: false, already_published: true });
  });

  it('fills in manifest.sha256 from the uploaded bytes when the manifest leaves it out', async () => {
    // Prepare
    const pkg = smallForestPackage('3.0.0');
    const { sha256, ...withoutDigest } = pkg.manifest;

    // Act
    const res = await publish(api, token, { manifest: withoutDigest, bytes: pkg.bytes });

    // Assess
    expect(res.status, res.text).toBe(201);
    expect(res.json.sha256).toBe(sha256);
  });

  it('lists versions in semantic-version order', async () => {
    const res = await api('GET', '/api/v1/models', { token });
    expect(reactor(res).versions).toEqual(['1.0.0', '1.1.0', '3.0.0']);
  });
});

describe('activate and rollback', () => {
  let before: { prediction: number };

  it('activate sends all traffic to the version, and every response names it', async () => {
    // Prepare
    before = (await predict(row(360))).json;

    // Act
    const res = await activate(api, token, '1.1.0');

    // Assess
    expect(res.json).toMatchObject({ name: modelName, routing: { active: '1.1.0', history: ['1.0.0'] } });
    const after = await predict(row(360));
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({ model_version: '1.1.0', model: { name: modelName, version: '1.1.0' } });
    // The 1.1.0 scaler shifts temp by 10: 360 through 1.1.0 is 350 through 1.0.0.
    expect(after.json.prediction).not.toBe(before.prediction);
    const classic = await api('POST', '/predict', { token, body: row(360) });
    expect(classic.json.result.model_version).toBe('1.1.0');
    const batch = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [row(360), row(350)] } });
    expect(batch.json.model_version).toBe('1.1.0');
    expect(batch.json.results[0].prediction).toBe(after.json.prediction);
    expect((await api('GET', '/api/v1/twin/status', { token })).json.model_info.version).toBe('1.1.0');
    expect((await api('GET', '/model/info', { token })).json.version).toBe('1.1.0');
    expect((await api('GET', '/health')).json.model_version).toBe('1.1.0');
    expect((await api('GET', '/metrics', { token })).json.model_version).toBe('1.1.0');
  });

  it('the shifted version answers as the reference does 10 °C lower', async () => {
    const shifted = await predict(row(360));
    await activate(api, token, '1.0.0');
    const reference = await predict(row(350));
    expect(reference.json.model_version).toBe('1.0.0');
    expect(shifted.json.prediction).toBe(reference.json.prediction);
    await activate(api, token, '1.1.0');
  });

  it('rollback returns to the previously active version', async () => {
    // Prepare: history is now 1.0.0, 1.1.0, 1.0.0 (newest last) and 1.1.0 is active
    const current = await api('GET', `/api/v1/models/${modelName}/versions`, { token });
    expect(current.status, current.text).toBe(200);
    expect(current.json.routing).toMatchObject({ active: '1.1.0', history: ['1.0.0', '1.1.0', '1.0.0'] });

    // Act
    const res = await api('POST', `/api/v1/models/${modelName}/rollback`, { token });

    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json.routing).toMatchObject({ active: '1.0.0', history: ['1.0.0', '1.1.0'] });
    const after = await predict(row(360));
    expect(after.json.model_version).toBe('1.0.0');
    expect(after.json.prediction).toBe(before.prediction);
  });

  it('rolls back step by step through the history', async () => {
    const first = await api('POST', `/api/v1/models/${modelName}/rollback`, { token });
    expect(first.json.routing).toMatchObject({ active: '1.1.0', history: ['1.0.0'] });
    expect((await predict(row(360))).json.model_version).toBe('1.1.0');
    const second = await api('POST', `/api/v1/models/${modelName}/rollback`, { token });
    expect(second.json.routing).toMatchObject({ active: '1.0.0', history: [] });
    expect((await predict(row(360))).json.model_version).toBe('1.0.0');
  });

  it('serves a genuinely different published model (a 3-tree forest) once activated', async () => {
    await activate(api, token, '3.0.0');
    const res = await predict(row(360));
    expect(res.json.model_version).toBe('3.0.0');
    expect(res.json.confidence_interval).toHaveLength(2);
    // No envelope in that manifest: nothing is flagged.
    expect(res.json.extrapolation).toEqual({});
    await activate(api, token, '1.0.0');
  });
});

describe('routing', () => {
  it('PUT routing stores the split, mode and shadow, and listing shows them', async () => {
    // Act
    const res = await api('PUT', `/api/v1/models/${modelName}/routing`, {
      token,
      body: { variants: [{ version: '1.0.0', weight: 0.7 }, { version: '1.1.0', weight: 0.3 }], mode: 'sticky', sticky_by: 'plant', shadow: '3.0.0' },
    });

    // Assess
    expect(res.status, res.text).toBe(200);
    expect(res.json.routing).toMatchObject({
      active: '1.0.0',
      variants: [{ version: '1.0.0', weight: 0.7 }, { version: '1.1.0', weight: 0.3 }],
      mode: 'sticky',
      stickyBy: 'plant',
      shadow: '3.0.0',
    });
    const list = await api('GET', '/api/v1/models', { token });
    expect(reactor(list)).toMatchObject({ active: '1.0.0', variants: [{ version: '1.0.0', weight: 0.7 }, { version: '1.1.0', weight: 0.3 }], shadow: '3.0.0' });
    const stored = JSON.parse(Buffer.from(await getObject(t, `models/${modelName}/routing.json`)).toString('utf8'));
    expect(stored).toMatchObject({ active: '1.0.0', mode: 'sticky', stickyBy: 'plant', shadow: '3.0.0' });
  });

  it('activate ends the split (all traffic to one version)', async () => {
    const res = await activate(api, token, '1.0.0');
    expect(res.json.routing.variants).toBeUndefined();
    const list = await api('GET', '/api/v1/models', { token });
    expect(reactor(list).variants).toBeNull();
    // The shadow stays until routing says otherwise.
    expect(reactor(list).shadow).toBe('3.0.0');
    await setNoShadow();
  });
});

async function setNoShadow(): Promise<void> {
  const res = await api('PUT', `/api/v1/models/${modelName}/routing`, { token, body: { variants: [{ version: '1.0.0', weight: 1 }], shadow: null } });
  expect(res.status, res.text).toBe(200);
  expect(res.json.routing.shadow).toBeUndefined();
}

describe('stats', () => {
  it('counts exactly what a version served: requests, rows, mean prediction, latency histogram', async () => {
    // Prepare: 1.1.0 has served earlier requests in this file; take it as a fresh version instead
    await publish(api, token, await referenceVariant('1.2.0', { tempShift: -5 }));
    await activate(api, token, '1.2.0');
    // 1.2.0 sees temp + 5: these stay inside the 70..95 alert band.
    const inputs = [row(340), row(345), row(350), row(355), row(360, 5, 90)];

    // Act: 5 single predictions, one batch of 3 rows plus one invalid row, one invalid single request
    const predictions: number[] = [];
    for (const input of inputs) predictions.push((await predict(input)).json.prediction);
    const batch = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [row(342), row(352), row(362), row(999)] } });
    expect(batch.json).toMatchObject({ successful: 3, failed: 1 });
    for (const r of batch.json.results) predictions.push(r.prediction);
    expect((await predict(row(999))).status).toBe(400);

    // Assess
    const stats = servingStats(await variantStats(api, token), '1.2.0');
    expect(stats).toMatchObject({ version: '1.2.0', role: 'active', weight: 1, requests: 7, errors: 2, rows: 8, alerts: 0 });
    const mean = predictions.reduce((s, p) => s + p, 0) / predictions.length;
    expect(Math.abs(stats!.mean_prediction! - mean)).toBeLessThan(1e-9);
    expect(stats!.latency_histogram.reduce((s, b) => s + b.count, 0)).toBe(7);
    expect(stats!.mean_latency_ms).toBeGreaterThanOrEqual(0);
    expect(stats!.p95_latency_ms).not.toBeNull();
    expect(stats!.cache_hit_rate).toBe(0);
  });

  it('marks versions outside the routing inactive', async () => {
    await activate(api, token, '1.0.0');
    const variants = await variantStats(api, token);
    expect(servingStats(variants, '1.0.0')?.role).toBe('active');
    expect(servingStats(variants, '1.2.0')).toMatchObject({ role: 'inactive', weight: 0 });
  });
});

describe('extrapolation', () => {
  it('flags features in the training tails (below q01 / above q99) and outside the training range, per feature', async () => {
    // The reference envelopes: temp min 300.025, q01 301.03, q99 398.97, max 399.999; flow q99 148.99.
    const inside = await predict(row(360));
    const tail = await predict(row(300.5));
    const outside = await predict(row(300));
    const two = await predict(row(399.5, 6, 149.5));

    expect(inside.json.extrapolation).toEqual({});
    expect(tail.json.extrapolation).toEqual({ temp: 'training_tail' });
    expect(outside.json.extrapolation).toEqual({ temp: 'outside_training_range' });
    expect(two.json.extrapolation).toEqual({ temp: 'training_tail', flow: 'training_tail' });
    const batch = await api('POST', '/api/v1/twin/batch', { token, body: { inputs: [row(360), row(300.5)] } });
    expect(batch.json.results.map((r: { extrapolation: unknown }) => r.extrapolation)).toEqual([{}, { temp: 'training_tail' }]);
  });
});
