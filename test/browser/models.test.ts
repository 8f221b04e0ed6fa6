import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { c as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';
import { columnFeatures, columnModelName, columnRows, type ColumnModel } from '../support/byom.js';
import { columnModel, compressorFeatures, packageInto, syntheticModel, type SyntheticModel } from '../support/dashboard-models.js';
import { modelTestEnv } from '../support/models.js';
import { adminPassword, apiClient, login, startTestTwin, type Api, type TestTwin } from '../support/twin.js';
import { accessibilityProblems, afterTwoFrames, apiAnswered, bandPixelCounts, chartHasPoints, layoutProblems, scrollToTop } from './in-page.js';
import { buildDashboard, launchChromium, newWatchedPage } from './support.js';

/**
 * Every published model in the dashboard (issue 15) and its quality (issue 17), in Debian's chromium against
 * a real local twin: an admin publishes a 4-feature package folder and an 8-feature .tgz from the page,
 * activates, rolls back and splits; the picker follows the chosen model (inputs from its manifest,
 * predictions through /api/v1/models/{name}/predict, histories kept apart, the choice kept in the URL); a
 * value out of range is refused beside its field; the time axis never repeats a label and the alert band is
 * drawn with one point; the quality panel shows coverage and error over time per version, the A/B verdict
 * and drift per feature; a plant admin gets no controls for platform models and the API's 403 when trying.
 */

const compressorName = 'compressor-train';

let buildDir: string;
let work: string;
let t: TestTwin;
let browser: Browser;
let api: Api;
let token: string;
let column: ColumnModel;
let compressor: SyntheticModel;
let compressorB: SyntheticModel;
let columnDir: string;
let compressorTgz: string;
let compressorBTgz: string;
let northDir: string;
const problems: string[] = [];
const contexts: BrowserContext[] = [];
let page: Page;

async function openPage(): Promise<Page> {
  const opened = await newWatchedPage(browser, problems);
  contexts.push(opened.context);
  return opened.page;
}

async function signIn(target: Page, username = 'admin', password = adminPassword, hash = ''): Promise<void> {
  await target.goto(`${t.url}/${hash}`);
  await target.getByLabel('Username').fill(username);
  await target.getByLabel('Password').fill(password);
  await target.getByRole('button', { name: 'Sign in' }).click();
  await target.locator('#predict-button').waitFor();
}

async function tgz(folder: string): Promise<string> {
  const file = join(work, `${basename(dirname(folder))}-${basename(folder)}.tgz`);
  // As one would pack it: the name/version folders inside the archive.
  await createTar({ gzip: true, file, cwd: dirname(dirname(folder)) }, [join(basename(dirname(folder)), basename(folder))]);
  return file;
}

async function points(target: Page): Promise<number> {
  return Number(await target.locator('#prediction-chart').getAttribute('data-points'));
}

/** Fills every number box of the chosen model from `row` and predicts with Enter. */
async function predictRow(target: Page, row: Record<string, number>): Promise<void> {
  const before = await points(target);
  const entries = Object.entries(row);
  for (const [name, value] of entries) await target.locator(`#input-${name}-value`).fill(String(value));
  await target.locator(`#input-${entries[0]![0]}-value`).press('Enter');
  await target.waitForFunction(chartHasPoints, ['prediction-chart', before + 1] as [string, number]);
}

/** The layout's problems once it has settled (the charts follow their containers' size a frame later). */
async function layoutOf(target: Page): Promise<string[]> {
  await target.evaluate(afterTwoFrames);
  return target.evaluate(layoutProblems);
}

async function pick(target: Page, name: string): Promise<void> {
  await target.locator('#model-picker').selectOption(name);
  await target.locator('#header-model', { hasText: name }).waitFor();
}

async function admin(target: Page): Promise<void> {
  await target.getByRole('button', { name: 'Administration' }).click();
  await target.locator('#models-admin').waitFor();
}

async function confirm(target: Page, action: string, confirmation: string): Promise<string> {
  await target.getByRole('button', { name: action, exact: true }).click();
  await target.getByRole('button', { name: confirmation, exact: true }).click();
  await target.waitForFunction(apiAnswered);
  return (await target.locator('#models-error').textContent()) || (await target.locator('#models-answer').textContent()) || '';
}

async function manage(target: Page, name: string): Promise<void> {
  await target.getByLabel('Manage model').selectOption(name);
  await target.locator('#model-detail[aria-busy=false] #versions-table caption', { hasText: `Versions of ${name}` }).waitFor();
}

beforeAll(async () => {
  buildDir = await mkdtemp(join(tmpdir(), 'twinserve-dashboard-'));
  work = await mkdtemp(join(tmpdir(), 'twinserve-models-ui-'));
  await buildDashboard(buildDir);
  t = await startTestTwin({ env: modelTestEnv, dashboardDir: buildDir });
  api = apiClient(t.url);
  token = await login(api);
  browser = await launchChromium();
  column = columnModel();
  compressor = syntheticModel(compressorName, compressorFeatures, { seed: 31 });
  compressorB = syntheticModel(compressorName, compressorFeatures, { seed: 47, version: '1.1.0' });
  columnDir = await packageInto(work, column);
  compressorTgz = await tgz(await packageInto(work, compressor, compressor.calibrationCsv(200)));
  compressorBTgz = await tgz(await packageInto(work, compressorB, compressorB.calibrationCsv(200)));
  // A plant's own 5-feature model, for its plant admin.
  northDir = await packageInto(work, syntheticModel('north-filter', compressorFeatures.slice(0, 5), { seed: 5 }));
}, 180_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await t?.stop();
  await rm(buildDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe('models in the dashboard', () => {
  it('an admin publishes a package folder, sees it listed but not pickable, and activates it', async () => {
    // Prepare
    page = await openPage();
    await signIn(page);
    await admin(page);

    // Act: publish the folder
    await page.getByLabel('Package folder').setInputFiles(columnDir);
    await page.locator('#package-chosen', { hasText: `${columnModelName} 1.0.0 from` }).waitFor();
    const published = await confirm(page, `Publish ${columnModelName} 1.0.0`, 'Confirm publish');

    // Assess: published; listed, not activated, not pickable
    expect(published).toMatch(new RegExp(`^Published ${columnModelName} 1\\.0\\.0 \\(sha256 [0-9a-f]{12}…\\)`));
    await page.locator(`#models-table tr[data-model="${columnModelName}"]`, { hasText: 'not activated' }).waitFor();
    const option = page.locator(`#model-picker option[value="${columnModelName}"]`);
    expect(await option.textContent()).toBe(`${columnModelName} (not activated)`);
    expect(await option.isDisabled()).toBe(true);

    // Act: activate
    await manage(page, columnModelName);
    const activated = await confirm(page, 'Activate 1.0.0', `Confirm activating ${columnModelName} 1.0.0`);

    // Assess
    expect(activated).toBe(`${columnModelName}: active 1.0.0.`);
    await page.locator(`#model-picker option[value="${columnModelName}"]:not([disabled])`).waitFor({ state: 'attached' });
    expect(await option.textContent()).toBe(`${columnModelName} 1.0.0`);
  });

  it('picks the 4-feature model: inputs from its manifest, predictions by name equal the forest mean, histories apart', async () => {
    // Prepare: one reactor prediction first
    await page.getByRole('button', { name: 'Twin' }).click();
    await predictRow(page, { temp: 350 });
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST') requests.push(new URL(r.url()).pathname);
    });

    // Act
    await pick(page, columnModelName);
    const row = columnRows(1, 41)[0]!;
    await predictRow(page, row);

    // Assess: the inputs are the manifest's, in its order, with its ranges
    const names = await page.locator('#inputs-panel input[type=range]').evaluateAll((els) => els.map((e) => [e.getAttribute('name'), Number(e.getAttribute('min')), Number(e.getAttribute('max'))]));
    expect(names).toEqual(columnFeatures.map((f) => [f.name, f.min, f.max]));
    expect(await page.getByLabel('Reflux ratio (1)', { exact: true }).getAttribute('type')).toBe('range');
    expect(requests).toContain(`/api/v1/models/${columnModelName}/predict`);
    const shown = Number(await page.locator('#latest-prediction .number').getAttribute('data-value'));
    expect(Math.abs(shown - column.mean(row))).toBeLessThan(1e-4);
    expect(await points(page)).toBe(1);
    expect(new URL(page.url()).hash).toBe(`#model=${columnModelName}`);

    // Act + Assess: back to the reactor, its one point is still its own
    await pick(page, 'reactor-yield');
    expect(await points(page)).toBe(1);
    expect(await page.locator('#input-temp-value').count()).toBe(1);
    await pick(page, columnModelName);
    expect(await points(page)).toBe(1);
  });

  it('refuses a value outside its range beside the field, naming the range, and does not predict', async () => {
    // Prepare
    const before = await points(page);
    let predicts = 0;
    page.on('request', (r) => {
      if (r.url().endsWith('/predict')) predicts += 1;
    });
    const box = page.locator('#input-feed_rate-value');

    // Act: type 600 (valid 100..500), Enter, then leave the field
    await box.fill('600');
    await box.press('Enter');
    await box.blur();
    await page.getByRole('button', { name: 'Predict', exact: true }).click();

    // Assess
    expect(await page.locator('#input-feed_rate-error').textContent()).toBe('Must be from 100 to 500 kg/h');
    expect(await box.getAttribute('aria-invalid')).toBe('true');
    expect(await box.inputValue()).toBe('600');
    expect(predicts).toBe(0);
    expect(await points(page)).toBe(before);

    // Act + Assess: a valid value clears it and predicts
    await box.fill('450');
    await box.press('Enter');
    await page.waitForFunction(chartHasPoints, ['prediction-chart', before + 1] as [string, number]);
    expect(await page.locator('#input-feed_rate-error').textContent()).toBe('');
  });

  it('never repeats a time label, and draws the alert band with a single point', async () => {
    // Prepare: a model with one point (the chosen model is kept in the URL: a reload signs out, then back)
    await page.reload();
    await signIn(page, 'admin', adminPassword, `#model=${columnModelName}`);
    expect(await page.locator('#header-model').textContent()).toBe(`${columnModelName} 1.0.0`);
    expect(await page.locator('#model-picker').inputValue()).toBe(columnModelName);
    await predictRow(page, columnRows(1, 42)[0]!);

    // Assess: one point, the band's two lines drawn in red across the plot
    expect(await points(page)).toBe(1);
    const red = await page.evaluate(bandPixelCounts, 'prediction-chart');
    expect(red).toHaveLength(2);
    for (const count of red) expect(count).toBeGreaterThan(100);
    const labels = (await page.locator('#prediction-chart').getAttribute('data-time-labels'))!.split(' ');
    expect(labels.length).toBeGreaterThan(1);
    expect(new Set(labels).size).toBe(labels.length);

    // Act: a burst of predictions within a few seconds
    for (const r of columnRows(4, 43)) await predictRow(page, r);

    // Assess
    for (const id of ['prediction-chart', 'condition-feed_rate']) {
      const again = (await page.locator(`#${id}`).getAttribute('data-time-labels'))!.split(' ');
      expect(new Set(again).size).toBe(again.length);
    }
  });

  it('publishes the 8-feature model from a .tgz, activates, rolls back and splits; its layout holds', async () => {
    // Act: publish 1.0.0 and 1.1.0 from archives, activate 1.0.0, then 1.1.0, roll back
    await admin(page);
    for (const file of [compressorTgz, compressorBTgz]) {
      await page.getByLabel('or a .tgz').setInputFiles(file);
      const version = file === compressorTgz ? '1.0.0' : '1.1.0';
      await page.locator('#package-chosen', { hasText: `${compressorName} ${version} from` }).waitFor();
      expect(await confirm(page, `Publish ${compressorName} ${version}`, 'Confirm publish')).toContain(`Published ${compressorName} ${version}`);
    }
    await manage(page, compressorName);
    expect(await confirm(page, 'Activate 1.0.0', `Confirm activating ${compressorName} 1.0.0`)).toBe(`${compressorName}: active 1.0.0.`);
    expect(await confirm(page, 'Activate 1.1.0', `Confirm activating ${compressorName} 1.1.0`)).toBe(`${compressorName}: active 1.1.0.`);
    expect(await confirm(page, 'Roll back to 1.0.0', `Confirm rolling back ${compressorName} to 1.0.0`)).toBe(`${compressorName}: rolled back, active 1.0.0.`);

    // Act: a 50/50 split
    await page.getByLabel('Traffic to the variant (%)').fill('50');
    const split = await confirm(page, 'Set split', 'Confirm split');

    // Assess
    expect(split).toBe(`${compressorName}: active 1.0.0, split 1.0.0 50 % / 1.1.0 50 %.`);
    await page.locator(`#models-table tr[data-model="${compressorName}"]`, { hasText: '1.0.0 50 % / 1.1.0 50 %' }).waitFor();
    const check = await api('GET', `/api/v1/models/${compressorName}/versions`, { token });
    expect(check.json.routing.variants).toEqual([{ version: '1.0.0', weight: 0.5 }, { version: '1.1.0', weight: 0.5 }]);
    // Into the scratch folder; `npm run screenshots` (TWIN_SCREENSHOTS_DIR) refreshes the README's.
    await page.mouse.move(0, 0);
    await page.evaluate(scrollToTop);
    const shots = process.env.TWIN_SCREENSHOTS_DIR;
    await page.screenshot({ path: shots ? join(repoRoot, shots, 'models.png') : join(work, 'models.png') });

    // Act + Assess: the twin with 8 inputs
    await page.getByRole('button', { name: 'Twin' }).click();
    await pick(page, compressorName);
    expect(await page.locator('#inputs-panel input[type=range]').count()).toBe(8);
    const row = Object.fromEntries(compressorFeatures.map((f) => [f.name, Math.round((f.min + (f.max - f.min) * 0.4) * 100) / 100]));
    await predictRow(page, row);
    expect(await page.locator('#conditions-panel figure').count()).toBe(8);
    expect(await layoutOf(page)).toEqual([]);
  });

  it('holds the layout with 4 features too, and at a narrow window', async () => {
    await pick(page, columnModelName);
    expect(await layoutOf(page)).toEqual([]);
    await pick(page, compressorName);
    await page.setViewportSize({ width: 900, height: 800 });
    expect(await layoutOf(page)).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('shows quality per version over time, the A/B verdict and drift per feature, from lab results', async () => {
    // Prepare: batches of the split model through the API until both variants served some (each batch goes
    // to one variant), and the lab results for every row
    const served = new Map<string, number>();
    for (let b = 0; b < 40 && !(Number(served.get('1.0.0')) >= 3 && Number(served.get('1.1.0')) >= 3); b++) {
      const rows = Array.from({ length: 10 }, (_, i) => Object.fromEntries(compressorFeatures.map((f, j) => [f.name, f.min + ((f.max - f.min) * ((b * 10 + i * 7 + j * 13) % 60)) / 60])));
      const batch = await api('POST', `/api/v1/models/${compressorName}/batch`, { token, body: { inputs: rows } });
      expect(batch.status).toBe(200);
      served.set(batch.json.model_version, (served.get(batch.json.model_version) ?? 0) + 1);
      const requestId = batch.headers.get('x-request-id')!;
      const observations = (batch.json.results as { index: number }[]).map((r) => ({ request_id: requestId, index: r.index, value: compressor.truth(rows[r.index]!) }));
      const fed = await api('POST', `/api/v1/models/${compressorName}/feedback`, { token, body: { observations } });
      expect(fed.status).toBe(200);
    }
    expect(Number(served.get('1.0.0'))).toBeGreaterThanOrEqual(3);
    expect(Number(served.get('1.1.0'))).toBeGreaterThanOrEqual(3);

    // Act
    await page.reload();
    await signIn(page, 'admin', adminPassword, `#model=${compressorName}`);
    const quality = page.locator('#quality-panel');
    await quality.locator('#quality-table').waitFor();
    // Assess: figures per version and window, a trend per version, the verdict, one drift row per feature
    const versions = await quality.locator('#quality-table tbody th').allTextContents();
    expect(versions).toEqual(['1.0.0', '1.0.0', '1.0.0', '1.0.0', '1.1.0', '1.1.0', '1.1.0', '1.1.0']);
    const allRows = await quality.locator('#quality-table tbody tr', { hasText: 'all' }).allTextContents();
    expect(allRows).toHaveLength(2);
    for (const row of allRows) expect(row).toMatch(/^1\.[01]\.0all\d+\d+\.\d{3}-?\d+\.\d{3}\d+\.\d %90\.0 %$/);
    for (const version of ['1.0.0', '1.1.0']) {
      const trend = quality.locator(`figure.quality-trend[data-version="${version}"]`);
      expect(Number(await trend.getAttribute('data-points'))).toBeGreaterThanOrEqual(1);
      const lines = trend.locator('svg[role=img] polyline');
      expect(await lines.count()).toBe(2);
      expect(await lines.first().getAttribute('points')).toMatch(/^\d+\.\d,\d+\.\d/);
      expect(await trend.locator('svg[role=img]').first().getAttribute('aria-label')).toMatch(new RegExp(`^Coverage of ${version.replace(/\./g, '\\.')} per hour`));
    }
    expect(await quality.locator('#ab-verdict').textContent()).toMatch(
      /^(1\.[01]\.0 is better \(lower absolute error; |No significant difference between 1\.0\.0 and 1\.1\.0 \()welch-t on absolute error \(two-sided\), p = [\d.e+-]+, window all\)$/,
    );
    const drift = quality.locator('#drift-table tbody tr');
    expect(await drift.count()).toBe(compressorFeatures.length * 2);
    const features = await drift.locator('th').allTextContents();
    expect(new Set(features)).toEqual(new Set(compressorFeatures.map((f) => f.name)));
    for (const row of await drift.allTextContents()) expect(row).toMatch(/^1\.[01]\.0[a-z_]+\d+\d+\.\d{3}(stable|moderate|significant)$/);
  });

  it('labels every control and keeps WCAG AA contrast, on the twin and the models admin', async () => {
    expect(await page.evaluate(accessibilityProblems)).toEqual([]);
    await admin(page);
    await manage(page, compressorName);
    expect(await page.evaluate(accessibilityProblems)).toEqual([]);
  });

  it("a plant admin gets no controls for platform models and sees the API's 403 when publishing into one; it manages its plant's own", async () => {
    // Prepare
    const created = await api('POST', '/api/v1/users', { token, body: { username: 'north-admin', password: 'north-admin-pass-1', role: 'admin', plant: 'north' } });
    expect(created.status).toBe(201);
    const target = await openPage();
    await signIn(target, 'north-admin', 'north-admin-pass-1');
    await admin(target);

    // Assess: the platform-wide model is listed without lifecycle controls
    await manage(target, compressorName);
    expect(await target.locator('#manage-note').textContent()).toBe(`${compressorName} is platform-wide: your role may use it but not change it.`);
    expect(await target.getByRole('button', { name: /^Activate / }).count()).toBe(0);
    expect(await target.locator('#split-form').count()).toBe(0);

    // Act: publishing a version of it is the API's to refuse
    await target.getByLabel('or a .tgz').setInputFiles(compressorBTgz);
    await target.locator('#package-chosen', { hasText: `${compressorName} 1.1.0 from` }).waitFor();
    const refused = await confirm(target, `Publish ${compressorName} 1.1.0`, 'Confirm publish');

    // Assess
    expect(refused).toBe(`Publishing ${compressorName} 1.1.0 failed: the API answered 403 FORBIDDEN: Model ${compressorName} is platform-wide: only platform admins may change it`);
    expect(await target.locator('#models-error').getAttribute('role')).toBe('alert');

    // Act + Assess: its own plant's new model it publishes, activates and predicts with
    await target.getByLabel('Package folder').setInputFiles(northDir);
    await target.locator('#package-chosen', { hasText: 'north-filter 1.0.0 from' }).waitFor();
    expect(await confirm(target, 'Publish north-filter 1.0.0', 'Confirm publish')).toMatch(/^Published north-filter 1\.0\.0 /);
    await target.locator('#models-table tr[data-model="north-filter"]', { hasText: 'plant north' }).waitFor();
    await manage(target, 'north-filter');
    expect(await confirm(target, 'Activate 1.0.0', 'Confirm activating north-filter 1.0.0')).toBe('north-filter: active 1.0.0.');
    await target.getByRole('button', { name: 'Twin' }).click();
    await pick(target, 'north-filter');
    expect(await target.locator('#inputs-panel input[type=range]').count()).toBe(5);
    await target.getByRole('button', { name: 'Predict', exact: true }).click();
    await target.waitForFunction(chartHasPoints, ['prediction-chart', 1] as [string, number]);
    expect(await layoutOf(target)).toEqual([]);
  });

  it('broke no CSP or Trusted Types rule and threw no script error', () => {
    expect(problems).toEqual([]);
  });
});
