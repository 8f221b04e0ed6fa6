import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localTableName } from '../../infra/local/seed.js';
import { alertEvent } from '../support/alert-events.js';
import { createKey, envelopeWithoutRequestId, issueFields, keyToken, userWithToken } from '../support/identity.js';
import { modelTestEnv, publishBody, referencePackage } from '../support/models.js';
import { startFaultTwin, tableDef } from '../support/reliability.js';
import { countReads } from '../support/store-reads.js';
import { apiClient, login, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

/**
 * The fourth hostile review, after the Predictions index was keyed by plant (byModelPlantTime), GET
 * /api/v1/alerts gained `held_back`, and the dashboard drew it: as the lowest principals of another plant
 * (viewer, operator, keys of one scope) and as a plant admin. What got through is each a test here (and in
 * test/api/predictions-rebuild.test.ts, test/unit/alert-cap.test.ts and test/stores/dynamodb-adapters.test.ts);
 * what held is asserted too, so it keeps holding.
 */

let t: Awaited<ReturnType<typeof startFaultTwin>>;
let api: Api;
let admin: string;
const north = { admin: '', operator: '' };
const south = { admin: '', viewer: '', operator: '', readKey: '', modelsKey: '', feedbackKey: '' };
const alertState = localTableName(tableDef('AlertState'));
const shared = 'reactor-yield';
const privateModel = 'rt4-north-only';

beforeAll(async () => {
  t = await startFaultTwin(modelTestEnv);
  api = apiClient(t.url);
  admin = await login(api);
  north.admin = (await userWithToken(api, admin, { username: 'rt4-n-admin', role: 'admin', plant: 'north' })).token;
  north.operator = (await userWithToken(api, admin, { username: 'rt4-n-op', role: 'operator', plant: 'north' })).token;
  south.admin = (await userWithToken(api, admin, { username: 'rt4-s-admin', role: 'admin', plant: 'south' })).token;
  south.viewer = (await userWithToken(api, admin, { username: 'rt4-s-viewer', role: 'viewer', plant: 'south' })).token;
  south.operator = (await userWithToken(api, admin, { username: 'rt4-s-op', role: 'operator', plant: 'south' })).token;
  south.readKey = await keyToken(api, (await createKey(api, south.admin, { name: 'rt4 board', scopes: ['twin:read'] })).key);
  south.modelsKey = await keyToken(api, (await createKey(api, south.admin, { name: 'rt4 models', scopes: ['models:read'] })).key);
  south.feedbackKey = await keyToken(api, (await createKey(api, south.admin, { name: 'rt4 lab', scopes: ['twin:feedback'] })).key);
  // North's own model (north's admin publishes it: owned by north) and north's traffic on it and the shared one.
  const ref = await referencePackage();
  const published = await api('POST', `/api/v1/models/${privateModel}/versions`, { token: north.admin, body: publishBody({ ...ref, manifest: { ...ref.manifest, name: privateModel, version: '1.0.0' } }) });
  expect(published.status, published.text).toBe(201);
  const activated = await api('POST', `/api/v1/models/${privateModel}/activate`, { token: north.admin, body: { version: '1.0.0' } });
  expect(activated.status, activated.text).toBe(200);
  for (const model of [privateModel, shared]) {
    const res = await api('POST', `/api/v1/models/${model}/predict`, { token: north.operator, body: { temp: 300, pressure: 6, flow: 100 } });
    expect(res.status, res.text).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  await (t as TestTwin | undefined)?.stop();
});

/** An alert event as `twin audit export` writes it, of north's operator on `model`. */
function northAlert(k: number, model = shared) {
  return alertEvent({
    id: `rt4-north-${k}`,
    time: new Date(t.clock.now() - (k + 1) * 1000).toISOString(),
    model,
    principal: 'rt4-n-op',
    plant: 'north',
    inputs: { temp: 300 },
    thresholds: { min: 70, max: 95 },
    requestId: `rt4-req-${k}`,
  });
}

function auditRecord(plant: string) {
  return {
    time: new Date(t.clock.now() - 1000).toISOString(),
    requestId: `rt4-audit-${plant.length}`,
    principal: 'rt4-n-op',
    principalType: 'user',
    plant,
    action: 'twin.predict',
    method: 'POST',
    resource: '/api/v1/twin/predict',
    outcome: 200,
  };
}

/** Plant names no plant can have: a '#' (the index key's separator), a leading '-' or '~' (sort past every plant), non-ASCII, empty, too long. */
const badPlants = ['north#2099', 'a#', '-', '-north', '~', 'nörth', '', 'x'.repeat(65), 'north ', 'north/x', 'north\u0000'];

describe('a plant name no plant can have is refused at every boundary that stores one (platform admin: the rule, not the role)', () => {
  it('user creation, user update, model publish owner', async () => {
    for (const plant of badPlants) {
      const user = await api('POST', '/api/v1/users', { token: admin, body: { username: 'rt4-odd', password: 'pw-rt4-odd-0123456789', role: 'viewer', plant } });
      expect(user.status, `${JSON.stringify(plant)}: ${user.text}`).toBe(400);
      expect(issueFields(user)).toContain('plant');
      const update = await api('PATCH', '/api/v1/users/rt4-s-viewer', { token: admin, body: { plant } });
      expect(update.status, update.text).toBe(400);
      const ref = await referencePackage();
      const publish = await api('POST', '/api/v1/models/rt4-odd-owner/versions', { token: admin, body: { ...publishBody({ ...ref, manifest: { ...ref.manifest, name: 'rt4-odd-owner', version: '1.0.0' } }), plant } });
      expect(publish.status, publish.text).toBe(400);
      expect(issueFields(publish)).toContain('plant');
    }
    expect((await api('GET', '/api/v1/models/rt4-odd-owner/versions', { token: admin })).status).toBe(404);
  });

  it("a plant admin: a user or a model of a plant name beginning with its own ('south#…', 'south-…') is refused, nothing stored", async () => {
    for (const plant of ['south#2099', 'south#', 'south-x']) {
      const user = await api('POST', '/api/v1/users', { token: south.admin, body: { username: 'rt4-s-odd', password: 'pw-rt4-s-odd-0123456789', role: 'viewer', plant } });
      expect([400, 403], user.text).toContain(user.status);
      const ref = await referencePackage();
      const publish = await api('POST', '/api/v1/models/rt4-s-odd/versions', { token: south.admin, body: { ...publishBody({ ...ref, manifest: { ...ref.manifest, name: 'rt4-s-odd', version: '1.0.0' } }), plant } });
      expect([400, 403], publish.text).toContain(publish.status);
      const audit = await api('POST', '/api/v1/audit/import', { token: south.admin, body: { edge: 'rt4-box', alerts: [{ ...northAlert(9100), principal: 'rt4-s-op', plant }] } });
      expect([400, 403], audit.text).toContain(audit.status);
    }
    const users = await api('GET', '/api/v1/users', { token: admin });
    expect(users.json.users.map((u: { username: string }) => u.username)).not.toContain('rt4-s-odd');
    expect((await api('GET', '/api/v1/models/rt4-s-odd/versions', { token: admin })).status).toBe(404);
  });

  it('audit import (an edge export): audit records and alerts naming such a plant are refused whole, nothing stored', async () => {
    for (const plant of badPlants) {
      const audit = await api('POST', '/api/v1/audit/import', { token: admin, body: { edge: 'rt4-box', audit: [auditRecord(plant)] } });
      expect(audit.status, `${JSON.stringify(plant)}: ${audit.text}`).toBe(400);
      expect(issueFields(audit)).toContain('audit.0.plant');
      const alerts = await api('POST', '/api/v1/audit/import', { token: admin, body: { edge: 'rt4-box', alerts: [{ ...northAlert(9000), plant }] } });
      expect(alerts.status, alerts.text).toBe(400);
      expect(issueFields(alerts)).toContain('alerts.0.plant');
    }
    const stored = await api('GET', '/api/v1/alerts?model=reactor-yield&limit=200', { token: admin });
    expect(stored.json.alerts.filter((a: { id: string }) => a.id === 'rt4-north-9000')).toEqual([]);
  });
});

describe("north's own model, to south's lowest principals", () => {
  /** The error of `path` for north's model and for a name never published, each with the name taken out. */
  async function twoAnswers(method: string, path: (name: string) => string, token: string, body?: unknown): Promise<[ApiResponse, ApiResponse]> {
    return [await api(method, path(privateModel), { token, body }), await api(method, path('rt4-never-published'), { token, body })];
  }
  const same = (a: ApiResponse, b: ApiResponse) => {
    expect(a.status, a.text).toBe(b.status);
    expect(JSON.stringify(envelopeWithoutRequestId(a)).replaceAll(privateModel, 'NAME')).toBe(JSON.stringify(envelopeWithoutRequestId(b)).replaceAll('rt4-never-published', 'NAME'));
  };

  it('is as absent as a name never published: quality, stats, versions, alerts, feedback (viewer, keys of one scope, operator)', async () => {
    for (const token of [south.viewer, south.modelsKey]) {
      const [quality, never] = await twoAnswers('GET', (n) => `/api/v1/models/${n}/quality`, token);
      expect(quality.status).toBe(404);
      same(quality, never);
      same(...(await twoAnswers('GET', (n) => `/api/v1/models/${n}/stats`, token)));
      same(...(await twoAnswers('GET', (n) => `/api/v1/models/${n}/versions`, token)));
    }
    for (const token of [south.viewer, south.readKey]) {
      const [alerts, never] = await twoAnswers('GET', (n) => `/api/v1/alerts?model=${n}`, token);
      expect(alerts.status).toBe(404);
      same(alerts, never);
    }
    const body = { observations: [{ inputs: { temp: 300, pressure: 6, flow: 100 }, time: new Date(t.clock.now()).toISOString(), value: 80 }] };
    for (const token of [south.operator, south.feedbackKey]) {
      const [feedback, never] = await twoAnswers('POST', (n) => `/api/v1/models/${n}/feedback`, token, body);
      expect(feedback.status).toBe(404);
      same(feedback, never);
    }
  });

  it("on the shared model, south's quality and alerts name nothing of north (no north plant, no drift rows, no held-back count)", async () => {
    for (const token of [south.viewer, south.modelsKey]) {
      const quality = await api('GET', `/api/v1/models/${shared}/quality`, { token });
      expect(quality.status, quality.text).toBe(200);
      expect(quality.text).not.toContain('north');
      for (const drift of quality.json.drift) for (const f of drift.features) expect(f.rows).toBe(0);
    }
    const alerts = await api('GET', `/api/v1/alerts?model=${shared}`, { token: south.readKey });
    expect(alerts.status, alerts.text).toBe(200);
    expect(alerts.text).not.toContain('north');
    expect(alerts.json.held_back.total_held).toBe(0);
  });
});

describe('GET /api/v1/alerts with odd parameters', () => {
  it('answers 400 naming the field (never a 500, never another plant’s data) for odd limits and model names', async () => {
    for (const query of ['limit=0', 'limit=201', 'limit=-1', 'limit=1.5', 'limit=abc', 'limit=', 'limit=1e400', 'limit=50&limit=51', 'model=A%23B', 'model=north%23', `model=${'x'.repeat(64)}`, 'model=..%2F..', 'model=%00', 'model=rt4-north-only%23', 'plant=north', 'cursor=north%23']) {
      const res = await api('GET', `/api/v1/alerts?${query}`, { token: south.readKey });
      expect([400, 404], `${query}: ${res.text}`).toContain(res.status);
      expect(res.text).not.toContain('rt4-n-op');
    }
  });
});

describe("another plant's alert volume on a shared model", () => {
  it("does not change what south's GET /api/v1/alerts reads (it read, filtered away, every event of every plant)", async () => {
    // Prepare: what south's read touches before north has any alert history on the shared model.
    const southRead = () => countReads(t.faults.dynamodb, alertState, () => api('GET', `/api/v1/alerts?model=${shared}&limit=5`, { token: south.viewer }));
    const before = await southRead();

    // Act: north's edge box imports 300 alerts of its own (north's admin: its plant, its operator).
    const imported = await api('POST', '/api/v1/audit/import', { token: north.admin, body: { edge: 'rt4-north-box', alerts: Array.from({ length: 300 }, (_, k) => northAlert(k)) } });
    expect(imported.status, imported.text).toBe(200);
    const after = await southRead();
    const northView = await api('GET', `/api/v1/alerts?model=${shared}&limit=200`, { token: north.operator });
    const platform = await api('GET', `/api/v1/alerts?model=${shared}&limit=200`, { token: admin });

    // Assert: the same reads for south; north and the platform see north's alerts.
    expect(after.result.status, after.result.text).toBe(200);
    expect(after.result.json.alerts).toEqual([]);
    expect(after.reads).toEqual(before.reads);
    expect(northView.json.alerts).toHaveLength(200);
    expect(platform.json.alerts.filter((a: { plant?: string }) => a.plant === 'north')).toHaveLength(200);
  });
});
