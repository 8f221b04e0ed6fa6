import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalTwin, type LocalTwin } from '../../infra/local/twin.js';
import { buildPackage } from '../../models/tools/package-model.js';
import { columnModel, columnModelName, columnRows, type ColumnModel } from '../support/byom.js';
import { apiClient, login, validRow, type Api } from '../support/twin.js';
import { edgeAdminPassword, referencePackageDir } from './support.js';

/** Edge mode with several packages (`--model a --model b`): each served by name, the first is the default. */

let work: string;
let twin: LocalTwin;
let api: Api;
let token: string;
let column: ColumnModel;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'twinserve-edge-models-'));
  column = columnModel();
  const built = await buildPackage({ onnx: column.onnx, spec: column.spec, created: '2026-12-01' }); // date-inert: a package's created date
  const columnDir = join(work, 'pkgs', columnModelName, '1.0.0');
  await mkdir(columnDir, { recursive: true });
  await writeFile(join(columnDir, 'model.onnx'), built.model);
  await writeFile(join(columnDir, 'manifest.json'), built.manifestText);
  twin = await startLocalTwin({ dataDir: join(work, 'data'), port: 0, edgeModel: [columnDir, referencePackageDir], adminPassword: edgeAdminPassword, dashboardDir: false });
  api = apiClient(twin.url);
  token = await login(api, 'admin', edgeAdminPassword);
}, 60_000);

afterAll(async () => {
  await twin?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('edge with two models', () => {
  it('serves each by name; the first --model is the default model', async () => {
    // Prepare
    const row = columnRows(1, 41)[0]!;

    // Act
    const byName = await api('POST', `/api/v1/models/${columnModelName}/predict`, { token, body: row });
    const reactor = await api('POST', '/api/v1/models/reactor-yield/predict', { token, body: validRow });
    const chapter = await api('POST', '/api/v1/twin/predict', { token, body: row });
    const status = await api('GET', '/api/v1/twin/status', { token });

    // Assess
    expect(byName.status).toBe(200);
    expect(Math.abs(byName.json.prediction - column.mean(row))).toBeLessThan(1e-4);
    expect(reactor.json.model.name).toBe('reactor-yield');
    expect(chapter.json.model.name).toBe(columnModelName);
    expect(status.json.models.map((m: { name: string }) => m.name)).toEqual([columnModelName, 'reactor-yield']);
  });

  it('refuses two packages of one model', async () => {
    // Act
    const started = startLocalTwin({ dataDir: join(work, 'twice'), port: 0, edgeModel: [referencePackageDir, referencePackageDir], adminPassword: edgeAdminPassword, dashboardDir: false });

    // Assess
    await expect(started).rejects.toThrow(/Two edge packages of model reactor-yield/);
  });
});
