import { randomUUID } from 'node:crypto';
import { alertEvent } from '../support/alert-events.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportAudit } from '../../client/edge.js';
import { createUser, expectError, relaxedLoginEnv, scanTable, startTwinWithEnv, userWithToken, type CreatedUser } from '../support/identity.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';

/**
 * Audit import forges no history (issue 13, finding 6): a plant admin imports only records of its own plant's
 * principals; every imported record carries who imported it, from which edge box and when, and stays
 * distinguishable from native records in queries (`origin`) and in exports.
 */

let t: TestTwin;
let api: Api;
let root: string;
let alice: CreatedUser & { token: string }; // admin, plant-a
let ada: CreatedUser & { token: string }; // auditor, plant-a
let work: string;

beforeAll(async () => {
  t = await startTwinWithEnv(relaxedLoginEnv);
  api = apiClient(t.url);
  root = await login(api);
  alice = await userWithToken(api, root, { username: 'alice', role: 'admin', plant: 'plant-a' });
  ada = await userWithToken(api, root, { username: 'ada', role: 'auditor', plant: 'plant-a' });
  await createUser(api, root, { username: 'olga', role: 'operator', plant: 'plant-a' });
  await createUser(api, root, { username: 'bert', role: 'viewer', plant: 'plant-b' });
  work = await mkdtemp(join(tmpdir(), 'twinserve-import-'));
}, 60_000);

afterAll(async () => {
  await t?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function record(overrides: Record<string, unknown> = {}) {
  return {
    time: new Date(Date.now() - 60_000).toISOString(),
    requestId: randomUUID(),
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

const alert = alertEvent;

const stored = async (requestId: string) => (await scanTable(t, 'AuditLog')).filter((r) => r.requestId === requestId);

describe('a plant admin may speak only for its own plant’s principals', () => {
  it.each([
    ['the platform admin doing users.update', { principal: 'admin', role: 'admin', action: 'users.update', method: 'PATCH', resource: '/api/v1/users/alice' }],
    ['another plant’s user (record relabelled plant-a)', { principal: 'bert', role: 'viewer' }],
    ['a principal this deployment does not know', { principal: 'ghost-admin', role: 'admin' }],
  ])('a record claiming %s → 403 naming the record; nothing is stored', async (_name, overrides) => {
    const good = record();
    const forged = record(overrides);
    const res = await api('POST', '/api/v1/audit/import', { token: alice.token, body: { edge: 'box-7', audit: [good, forged] } });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: 'audit.1.principal', rule: 'own_plant_principal' })]);
    expect(await stored(forged.requestId)).toEqual([]);
    expect(await stored(good.requestId)).toEqual([]);
  });

  it('an alert claiming the platform admin → 403 naming it', async () => {
    const res = await api('POST', '/api/v1/audit/import', { token: alice.token, body: { alerts: [alert({ principal: 'admin' })] } });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.json.error.issues).toEqual([expect.objectContaining({ field: 'alerts.0.principal', rule: 'own_plant_principal' })]);
  });
});

describe('imported records are marked and stay distinguishable', () => {
  let imported: ReturnType<typeof record>;
  let importedAlert: ReturnType<typeof alert>;
  let before: number;

  beforeAll(async () => {
    imported = record({ action: 'users.update', method: 'PATCH', resource: '/api/v1/users/olga' });
    importedAlert = alert();
    before = Date.now();
    const res = await api('POST', '/api/v1/audit/import', { token: alice.token, body: { edge: 'box-7', audit: [imported], alerts: [importedAlert] } });
    expect(res.status, res.text).toBe(200);
  });

  it('the stored record carries who imported it, from which edge box, when', async () => {
    const [item] = await stored(imported.requestId);
    expect(item?.imported).toEqual({ by: 'alice', edge: 'box-7', at: expect.any(String) });
    expect(Date.parse((item!.imported as { at: string }).at)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('the plant’s auditor reads it back marked; origin=native leaves it out, origin=imported finds only imported ones', async () => {
    const items = async (query: string) => (await api('GET', `/api/v1/audit?principal=olga&${query}`, { token: ada.token })).json.items as { requestId: string; imported?: unknown }[];
    const any = await items('limit=200');
    expect(any.find((r) => r.requestId === imported.requestId)?.imported).toMatchObject({ by: 'alice', edge: 'box-7' });
    const native = await items('origin=native&limit=200');
    expect(native.map((r) => r.requestId)).not.toContain(imported.requestId);
    expect(native.every((r) => r.imported === undefined)).toBe(true);
    const onlyImported = await items('origin=imported&limit=200');
    expect(onlyImported.map((r) => r.requestId)).toEqual([imported.requestId]);
  });

  it('imported alerts are marked too', async () => {
    const alerts = (await api('GET', '/api/v1/alerts?limit=200', { token: ada.token })).json.alerts as { id: string; imported?: unknown }[];
    expect(alerts.find((a) => a.id === importedAlert.id)?.imported).toMatchObject({ by: 'alice', edge: 'box-7' });
  });

  it('an export (client/edge.ts) keeps the mark', async () => {
    const out = join(work, 'export.jsonl');
    await exportAudit({ url: t.url, token: ada.token, since: '1h', out });
    const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; record?: { requestId: string; imported?: unknown } });
    const line = lines.find((l) => l.kind === 'audit' && l.record?.requestId === imported.requestId);
    expect(line?.record?.imported).toMatchObject({ by: 'alice', edge: 'box-7' });
  });
});
