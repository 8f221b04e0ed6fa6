import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';
import { columnModel, columnModelName, columnRows, writeColumnInputs, type ColumnModel, type ColumnRow } from '../support/byom.js';
import { modelTestEnv } from '../support/models.js';
import { adminPassword, apiClient, login, startTestTwin, type Api, type TestTwin } from '../support/twin.js';
import { chartHasPoints } from '../browser/in-page.js';
import { buildDashboard, launchChromium, newWatchedPage } from '../browser/support.js';

/**
 * The bring-your-own-model path of issue 15, end to end, with built JavaScript only on the client side:
 * a 4-feature forest in skl2onnx layout → `twin models package` → `twin models publish` → `twin models
 * activate` (the built CLI, bin/twin.mjs) → predictions and batches through /api/v1/models/{name}/…, the CLI
 * (`--model`), the packed SDK installed into an empty folder and run from a plain .mjs with `node`, and the
 * dashboard in Debian's chromium (picked in the model picker, predicted there). Every answer equals the forest's
 * own mean within 1e-4. Needs `npm run build:client` (npm test's pretest runs it); builds its own dashboard.
 */

const exec = promisify(execFile);
const twinBin = join(repoRoot, 'bin', 'twin.mjs');

let t: TestTwin;
let api: Api;
let token: string;
let work: string;
let column: ColumnModel;
let env: NodeJS.ProcessEnv;
let dashboardDir: string;

/** The built CLI as a child process. */
function twin(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return exec(process.execPath, [twinBin, ...args], { env, cwd: work, maxBuffer: 16 * 1024 * 1024 });
}

const featureArgs = (row: ColumnRow) => Object.entries(row).map(([k, v]) => `${k}=${v}`);

beforeAll(async () => {
  dashboardDir = await mkdtemp(join(tmpdir(), 'twinserve-byom-dashboard-'));
  await buildDashboard(dashboardDir);
  t = await startTestTwin({ env: modelTestEnv, dashboardDir });
  api = apiClient(t.url);
  token = await login(api);
  work = await mkdtemp(join(tmpdir(), 'twinserve-byom-'));
  column = columnModel();
  env = { ...process.env, TWIN_URL: t.url, TWIN_TOKEN: token, XDG_CONFIG_HOME: join(work, 'config') };
}, 60_000);

afterAll(async () => {
  await t?.stop();
  if (work) await rm(work, { recursive: true, force: true });
  if (dashboardDir) await rm(dashboardDir, { recursive: true, force: true });
});

describe('bring your own model', () => {
  it('twin models package / publish / activate turn the skl2onnx graph into the served model', async () => {
    // Prepare
    const inputs = await writeColumnInputs(join(work, 'export'), column);
    const out = join(work, 'packages', columnModelName, '1.0.0');

    // Act
    const packaged = await twin(['models', 'package', '--onnx', inputs.onnx, '--spec', inputs.spec, '--out', out, '--created', '2026-12-01', '--json']); // date-inert: a package's created date
    const published = await twin(['models', 'publish', out, '--json']);
    const activated = await twin(['models', 'activate', columnModelName, '1.0.0', '--json']);

    // Assess
    expect(JSON.parse(packaged.stdout)).toMatchObject({ name: columnModelName, version: '1.0.0', form: expect.any(String) });
    expect(JSON.parse(published.stdout)).toMatchObject({ name: columnModelName, version: '1.0.0', published: true });
    expect(JSON.parse(activated.stdout).routing.active).toBe('1.0.0');
  }, 120_000);

  it('the API serves it by name: predict and batch equal the forest mean', async () => {
    // Prepare
    const rows = columnRows(30, 31);

    // Act
    const one = await api('POST', `/api/v1/models/${columnModelName}/predict`, { token, body: rows[0] });
    const batch = await api('POST', `/api/v1/models/${columnModelName}/batch`, { token, body: { inputs: rows } });

    // Assess
    expect(one.status).toBe(200);
    expect(Math.abs(one.json.prediction - column.mean(rows[0]!))).toBeLessThan(1e-4);
    expect(batch.json.successful).toBe(30);
    for (const r of batch.json.results as { index: number; prediction: number }[]) expect(Math.abs(r.prediction - column.mean(rows[r.index]!))).toBeLessThan(1e-4);
  });

  it('the CLI serves it with --model: predict and a CSV batch', async () => {
    // Prepare
    const rows = columnRows(12, 32);
    const header = Object.keys(rows[0]!);
    await writeFile(join(work, 'rows.csv'), [header.join(','), ...rows.map((r) => header.map((h) => r[h as keyof ColumnRow]).join(','))].join('\n') + '\n');

    // Act
    const one = await twin(['predict', '--model', columnModelName, ...featureArgs(rows[0]!), '--json']);
    await twin(['batch', 'rows.csv', '--model', columnModelName, '--out', 'out.json', '--no-progress']);

    // Assess
    const answer = JSON.parse(one.stdout);
    expect(answer.model).toEqual({ name: columnModelName, version: '1.0.0' });
    expect(Math.abs(answer.prediction - column.mean(rows[0]!))).toBeLessThan(1e-4);
    const results = JSON.parse(await readFile(join(work, 'out.json'), 'utf8')) as { index: number; prediction: number }[] | { results: { index: number; prediction: number }[] };
    const list = Array.isArray(results) ? results : results.results;
    expect(list).toHaveLength(12);
    list.forEach((r, i) => expect(Math.abs(r.prediction - column.mean(rows[r.index ?? i]!))).toBeLessThan(1e-4));
  }, 60_000);

  it('the packed SDK, installed into an empty folder, serves it from plain node', async () => {
    // Prepare: npm pack client/, install the tarball into an empty project, a plain .mjs that imports it.
    const packDir = join(work, 'pack');
    const app = join(work, 'app');
    await exec('mkdir', ['-p', packDir]);
    const { stdout: packed } = await exec('npm', ['pack', '--pack-destination', packDir, '--json'], { cwd: join(repoRoot, 'client') });
    const tarball = join(packDir, (JSON.parse(packed) as { filename: string }[])[0]!.filename);
    await exec('mkdir', ['-p', app]);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'byom-app', version: '1.0.0', private: true, type: 'module' }));
    await exec('npm', ['install', tarball, '--no-audit', '--no-fund', '--offline', '--loglevel=error'], { cwd: app });
    const rows = columnRows(5, 33);
    await writeFile(
      join(app, 'run.mjs'),
      `import { TwinClient } from '@twinserve/client';
const twin = new TwinClient({ baseUrl: process.env.TWIN_URL });
twin.setToken(process.env.TWIN_TOKEN);
const rows = ${JSON.stringify(rows)};
const one = await twin.predict(rows[0], { model: '${columnModelName}' });
const many = await twin.batch(rows, { model: '${columnModelName}' });
console.log(JSON.stringify({ one: one.prediction, model: one.model, many: many.results.map((r) => [r.index, r.prediction]) }));
`,
    );

    // Act
    const { stdout } = await exec(process.execPath, ['run.mjs'], { cwd: app, env: { PATH: process.env.PATH ?? '', TWIN_URL: t.url, TWIN_TOKEN: token } });

    // Assess
    const answer = JSON.parse(stdout) as { one: number; model: { name: string }; many: [number, number][] };
    expect(answer.model.name).toBe(columnModelName);
    expect(Math.abs(answer.one - column.mean(rows[0]!))).toBeLessThan(1e-4);
    expect(answer.many).toHaveLength(5);
    for (const [i, p] of answer.many) expect(Math.abs(p - column.mean(rows[i]!))).toBeLessThan(1e-4);
    const installed = JSON.parse(await readFile(join(app, 'node_modules', '@twinserve', 'client', 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    expect(installed.dependencies ?? {}).toEqual({});
  }, 120_000);

  it('the dashboard in chromium: picked in the model picker, predicted there, shows the forest mean', async () => {
    // Prepare
    const browser = await launchChromium();
    const problems: string[] = [];
    try {
      const { page } = await newWatchedPage(browser, problems);
      await page.goto(`${t.url}/`);
      await page.getByLabel('Username').fill('admin');
      await page.getByLabel('Password').fill(adminPassword);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#predict-button').waitFor();
      const row = columnRows(1, 34)[0]!;

      // Act
      await page.locator('#model-picker').selectOption(columnModelName);
      await page.locator('#header-model', { hasText: `${columnModelName} 1.0.0` }).waitFor();
      for (const [name, value] of Object.entries(row)) await page.locator(`#input-${name}-value`).fill(String(value));
      await page.getByRole('button', { name: 'Predict', exact: true }).click();
      await page.waitForFunction(chartHasPoints, ['prediction-chart', 1] as [string, number]);

      // Assess: the number shown (2 decimals) and the full value it carries
      const number = page.locator('#latest-prediction .number');
      const shown = Number(await number.getAttribute('data-value'));
      expect(Math.abs(shown - column.mean(row))).toBeLessThan(1e-4);
      expect(await number.textContent()).toBe(column.mean(row).toFixed(4));
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
