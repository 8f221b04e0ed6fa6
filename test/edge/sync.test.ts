import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeSyncError, exportAudit, importAudit, pullModel, type PullModelResult } from '../../client/edge.js';
import { startLocalTwin, type LocalTwin } from '../../infra/local/twin.js';
import {
  baseEnv,
  callJson,
  edgeAdminPassword,
  killChildren,
  loginAs,
  outOfBandRow,
  referencePackageDir,
  repoRoot,
  spawnTwin,
  validRow,
  type ChildTwin,
} from './support.js';

/**
 * Cloud and edge, round trip: a "cloud" twin (a local twin in a child process, serving the repo's models
 * from its embedded S3) and an edge twin in this process, started from the package pulled from the cloud.
 * The edge's audit records and alerts are exported, imported into the cloud twice (the second import stores
 * nothing), and the cloud's audit log then holds each edge request exactly once.
 */

const cloudPassword = 'cloud-admin-password-1';
let work: string;
let cloud: ChildTwin;
let cloudToken: string;
let edge: LocalTwin | undefined;
let pulled: PullModelResult;
let exportFile: string;
/** Request ids of everything sent to the edge, in order. */
const edgeRequestIds: string[] = [];
let outOfBandRequestId: string;
/** Audit records the export holds: the requests above, plus the gateway's own issuer look-ups. */
let exportedAudit = 0;
let exportedAlerts = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'twinserve-sync-'));
  for (const name of ['AWS_ENDPOINT_URL_S3', 'TWIN_MODEL_BUCKET']) delete process.env[name];
  cloud = await spawnTwin([process.execPath, '--import', 'tsx', 'infra/local/start.ts'], {
    cwd: repoRoot,
    env: { ...baseEnv(), PORT: '0', TWIN_DATA_DIR: join(work, 'cloud-data'), TWIN_ADMIN_PASSWORD: cloudPassword, TWIN_ACCESS_LOG: 'off', POWERTOOLS_LOG_LEVEL: 'ERROR' },
    timeoutMs: 90_000,
  });
  cloudToken = await loginAs(cloud.url, cloudPassword);
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  const code = cloud ? await cloud.stop().catch(() => null) : undefined;
  await killChildren();
  await rm(work, { recursive: true, force: true });
  if (cloud) expect(code, 'the cloud twin stops cleanly on SIGTERM').toBe(0);
});

describe('twin models pull', () => {
  it('downloads a package from a running Twinserve, verified, into <outDir>/<name>/<version>', async () => {
    pulled = await pullModel({ from: cloud.url, token: cloudToken, name: 'reactor-yield', version: '1.0.0', outDir: join(work, 'models') });
    expect(pulled).toMatchObject({ dir: join(work, 'models', 'reactor-yield', '1.0.0'), written: true });
    const [model, reference, manifest, referenceManifest] = await Promise.all([
      readFile(join(pulled.dir, 'model.onnx')),
      readFile(join(referencePackageDir, 'model.onnx')),
      readFile(join(pulled.dir, 'manifest.json'), 'utf8').then((t) => JSON.parse(t) as { sha256: string }),
      readFile(join(referencePackageDir, 'manifest.json'), 'utf8').then((t) => JSON.parse(t) as { sha256: string }),
    ]);
    expect(model.equals(reference)).toBe(true);
    expect(manifest).toEqual(referenceManifest);
    expect(pulled.sha256).toBe(referenceManifest.sha256);
  });

  it('leaves an identical package alone, and never overwrites a different one', async () => {
    const again = await pullModel({ from: cloud.url, token: cloudToken, name: 'reactor-yield', version: '1.0.0', outDir: join(work, 'models') });
    expect(again.written).toBe(false);

    // Same version, same model.onnx, another alert band: a different package.
    const other = join(work, 'other-models', 'reactor-yield', '1.0.0');
    await mkdir(other, { recursive: true });
    await cp(referencePackageDir, other, { recursive: true });
    const manifest = JSON.parse(await readFile(join(other, 'manifest.json'), 'utf8')) as { alerts: { min: number } };
    manifest.alerts.min = 60;
    await writeFile(join(other, 'manifest.json'), JSON.stringify(manifest));
    const refused = pullModel({ from: cloud.url, token: cloudToken, name: 'reactor-yield', version: '1.0.0', outDir: join(work, 'other-models') });
    await expect(refused).rejects.toBeInstanceOf(EdgeSyncError);
    await expect(refused).rejects.toMatchObject({ code: 'PACKAGE_CONFLICT' });
    expect((JSON.parse(await readFile(join(other, 'manifest.json'), 'utf8')) as { alerts: { min: number } }).alerts.min).toBe(60);
  });

  it('says which version is missing, and needs a token', async () => {
    await expect(pullModel({ from: cloud.url, token: cloudToken, name: 'reactor-yield', version: '9.9.9', outDir: join(work, 'models') })).rejects.toMatchObject({
      code: 'HTTP',
      status: 404,
    });
    await expect(pullModel({ from: cloud.url, token: 'not-a-token', name: 'reactor-yield', version: '1.0.0', outDir: join(work, 'models') })).rejects.toMatchObject({
      code: 'HTTP',
      status: 401,
    });
  });
});

describe('the edge twin on the pulled package', () => {
  let edgeToken: string;

  beforeAll(async () => {
    edge = await startLocalTwin({ dataDir: join(work, 'edge-data'), port: 0, edgeModel: pulled.dir, adminPassword: edgeAdminPassword, dashboardDir: false });
  });

  async function send(method: string, path: string, options: { token?: string; body?: unknown } = {}) {
    const res = await callJson(edge!.url, method, path, options);
    const requestId = res.headers.get('apigw-requestid');
    if (!requestId) throw new Error(`${method} ${path}: no request id`);
    edgeRequestIds.push(requestId);
    return { ...res, requestId };
  }

  it('serves traffic, including a prediction outside the alert band', async () => {
    const login = await send('POST', '/api/v1/auth/login', { body: { username: 'admin', password: edgeAdminPassword } });
    expect(login.status).toBe(200);
    edgeToken = login.json.token as string;
    for (const temp of [355, 360, 365]) {
      const res = await send('POST', '/api/v1/twin/predict', { token: edgeToken, body: { ...validRow, temp } });
      expect(res.status).toBe(200);
      // Inside the 70..95 % alert band: the only alert is the next request's.
      expect(res.json.prediction).toBeGreaterThan(70);
      expect(res.json.prediction).toBeLessThan(95);
    }
    const low = await send('POST', '/api/v1/twin/predict', { token: edgeToken, body: outOfBandRow });
    expect(low.status).toBe(200);
    expect(low.json.prediction).toBeLessThan(70);
    outOfBandRequestId = low.requestId;
    expect((await send('POST', '/api/v1/twin/batch', { token: edgeToken, body: { inputs: [validRow, validRow] } })).status).toBe(200);
    expect((await send('POST', '/api/v1/twin/predict', { token: edgeToken, body: { ...validRow, temp: 999 } })).status).toBe(400);
  });

  it('exports its audit records and alerts as JSON lines (40 days: two ≤31-day queries)', async () => {
    exportFile = join(work, 'edge-audit.jsonl');
    const result = await exportAudit({ url: edge!.url, token: edgeToken, since: '40d', out: exportFile });
    expect(result.windows).toBe(2);
    expect(result.alertsComplete).toBe(true);
    const lines = (await readFile(exportFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { kind: string; record?: any; event?: any });
    expect(lines).toHaveLength(result.audit + result.alerts);
    const records = lines.filter((l) => l.kind === 'audit').map((l) => l.record as { requestId: string; action: string });
    const ids = records.map((r) => r.requestId);
    expect(new Set(ids).size, 'no record twice').toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(edgeRequestIds));
    // Besides: the gateway's discovery and JWKS fetches (it verifies tokens through its own public routes), and
    // the export's own reads (its model list and audit pages reach functions too, so they are audited).
    const others = records.filter((r) => !edgeRequestIds.includes(r.requestId)).map((r) => r.action);
    for (const action of others) expect(['auth.discovery', 'auth.jwks', 'models.list', 'audit.query', 'alerts.list']).toContain(action);
    exportedAudit = records.length;
    // The alert, and its resolution by the next in-band request (the batch).
    const alerts = lines.filter((l) => l.kind === 'alert').map((l) => l.event as { kind: string; requestId: string });
    expect(alerts.map((a) => a.kind).sort()).toEqual(['alert', 'resolved']);
    expect(alerts.find((a) => a.kind === 'alert')).toMatchObject({ rule: 'below_min', model: 'reactor-yield', requestId: outOfBandRequestId, inputs: outOfBandRow });
    exportedAlerts = alerts.length;
  });
});

describe('twin audit import into the cloud', () => {
  it('stores every record and alert once; the same import again stores nothing', async () => {
    const first = await importAudit({ url: cloud.url, token: cloudToken, file: exportFile });
    expect(first.lines).toBe(exportedAudit + exportedAlerts);
    expect(first.audit).toEqual({ stored: exportedAudit, duplicate: 0, expired: 0 });
    expect(first.alerts).toEqual({ stored: exportedAlerts, duplicate: 0, expired: 0 });
    // In chunks of two items: the same answer, split over several requests.
    const second = await importAudit({ url: cloud.url, token: cloudToken, file: exportFile, chunkSize: 2 });
    expect(second.requests).toBe(Math.ceil(first.lines / 2));
    expect(second.audit).toEqual({ stored: 0, duplicate: exportedAudit, expired: 0 });
    expect(second.alerts).toEqual({ stored: 0, duplicate: exportedAlerts, expired: 0 });
  });

  it("leaves each edge request id exactly once in the cloud's audit log, and the alert once in its history", async () => {
    const seen = new Map<string, number>();
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ from: new Date(Date.now() - 3_600_000).toISOString(), limit: '200', ...(cursor ? { cursor } : {}) });
      const page = await callJson(cloud.url, 'GET', `/api/v1/audit?${query}`, { token: cloudToken });
      expect(page.status).toBe(200);
      for (const item of page.json.items as { requestId: string }[]) seen.set(item.requestId, (seen.get(item.requestId) ?? 0) + 1);
      cursor = page.json.next_cursor as string | null;
    } while (cursor);
    for (const id of edgeRequestIds) expect(seen.get(id), id).toBe(1);

    const alerts = await callJson(cloud.url, 'GET', '/api/v1/alerts?model=reactor-yield', { token: cloudToken });
    expect((alerts.json.alerts as { requestId: string }[]).filter((a) => a.requestId === outOfBandRequestId)).toHaveLength(1);
  });

  it('refuses a token without audit:write', async () => {
    // An auditor reads the audit log but may not write it.
    const created = await callJson(cloud.url, 'POST', '/api/v1/users', { token: cloudToken, body: { username: 'ada-auditor', password: 'auditor-password-1', role: 'auditor' } });
    expect(created.status).toBe(201);
    const auditorToken = await loginAs(cloud.url, 'auditor-password-1', 'ada-auditor');
    await expect(importAudit({ url: cloud.url, token: auditorToken, file: exportFile })).rejects.toMatchObject({ code: 'HTTP', status: 403 });
  });
});
