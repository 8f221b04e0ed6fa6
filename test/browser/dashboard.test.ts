import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startLocalTwin, type LocalTwin } from '../../infra/local/twin.js';
import { adminPassword, apiClient, login, type Api } from '../support/twin.js';
import { accessibilityProblems, chartHasPoints, storedCredentials } from './in-page.js';
import { buildDashboard, bundleFiles, launchChromium, newWatchedPage, type BundleFile } from './support.js';

/**
 * The dashboard in Debian's chromium against a real local twin (embedded stores, real tokens, the SNS sink's
 * alert stream), built fresh by Vite for this run. One page carries the engineer's session through the file
 * (sign in, slider, predict, alert, auto, failures, admin, sign out); separate pages cover bad login, expiry,
 * a revoked token and a viewer. Error states the API cannot be made to produce on demand (429, 503, offline)
 * are injected with page.route, so the UI's handling of them is still exercised end to end in the browser.
 * Screenshots (1280x800) go to a scratch folder, so `npm test` leaves the working tree clean; `npm run
 * screenshots` runs this file with TWIN_SCREENSHOTS_DIR=docs/screenshots to refresh the README's.
 */

let screenshotsDir: string;
let scratchScreenshots = false;
/** The whole bundle (JS + CSS), gzipped. uPlot is ~22 kB of it. */
const bundleBudgetGzipBytes = 60 * 1024;

let buildDir: string;
let dataDir: string;
let twin: LocalTwin;
let browser: Browser;
let api: Api;
let adminToken: string;
let bundle: BundleFile[];
const problems: string[] = [];
const contexts: BrowserContext[] = [];

interface FeatureSpec {
  name: string;
  unit: string;
  description: string;
  min: number;
  max: number;
}
let features: FeatureSpec[];

/** The engineer's page, signed in from the third test on. */
let page: Page;

async function openPage(): Promise<Page> {
  const opened = await newWatchedPage(browser, problems);
  contexts.push(opened.context);
  return opened.page;
}

async function signIn(target: Page, username = 'admin', password = adminPassword): Promise<void> {
  await target.goto(`${twin.url}/`);
  await target.getByLabel('Username').fill(username);
  await target.getByLabel('Password').fill(password);
  await target.getByRole('button', { name: 'Sign in' }).click();
}

async function points(target: Page, id = 'prediction-chart'): Promise<number> {
  return Number(await target.locator(`#${id}`).getAttribute('data-points'));
}

/** Waits until the prediction chart draws at least `count` points. */
async function waitForPoints(target: Page, count: number): Promise<void> {
  await target.waitForFunction(chartHasPoints, ['prediction-chart', count] as [string, number]);
}

/** Types a value into a feature's number box and submits with Enter (the keyboard path). */
async function predictWith(target: Page, feature: string, value: number): Promise<void> {
  const before = await points(target);
  const box = target.locator(`#input-${feature}-value`);
  await box.fill(String(value));
  await box.press('Enter');
  await waitForPoints(target, before + 1);
}

function jsonRoute(status: number, body: unknown, headers: Record<string, string> = {}) {
  return (route: Route) => route.fulfill({ status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

beforeAll(async () => {
  buildDir = await mkdtemp(join(tmpdir(), 'twinserve-dashboard-'));
  dataDir = await mkdtemp(join(tmpdir(), 'twinserve-browser-'));
  await buildDashboard(buildDir);
  bundle = await bundleFiles(buildDir);
  twin = await startLocalTwin({ dataDir, port: 0, adminPassword, dashboardDir: buildDir });
  browser = await launchChromium();
  api = apiClient(twin.url);
  adminToken = await login(api);
  features = (await api('GET', '/model/info', { token: adminToken })).json.feature_specs as FeatureSpec[];

  // A real A/B test: the reference forest republished as 1.1.0, traffic split 50/50.
  const manifest = JSON.parse(await readFile(join(repoRoot, 'models/reactor-yield/1.0.0/manifest.json'), 'utf8')) as Record<string, unknown>;
  const model = await readFile(join(repoRoot, 'models/reactor-yield/1.0.0/model.onnx'));
  const published = await api('POST', '/api/v1/models/reactor-yield/versions', {
    token: adminToken,
    body: { manifest: { ...manifest, version: '1.1.0' }, model_base64: model.toString('base64') },
  });
  if (published.status !== 201) throw new Error(`publish answered ${published.status}: ${published.text}`);
  const routed = await api('PUT', '/api/v1/models/reactor-yield/routing', {
    token: adminToken,
    body: { variants: [{ version: '1.0.0', weight: 0.5 }, { version: '1.1.0', weight: 0.5 }] },
  });
  if (routed.status !== 200) throw new Error(`routing answered ${routed.status}: ${routed.text}`);
  const wanted = process.env.TWIN_SCREENSHOTS_DIR;
  scratchScreenshots = !wanted;
  screenshotsDir = wanted ? resolve(repoRoot, wanted) : await mkdtemp(join(tmpdir(), 'twinserve-screenshots-'));
  await mkdir(screenshotsDir, { recursive: true });
});

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await twin?.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(buildDir, { recursive: true, force: true });
  if (scratchScreenshots && screenshotsDir) await rm(screenshotsDir, { recursive: true, force: true });
});

describe('the build', () => {
  it('is small and carries no secrets', () => {
    // Assess
    const gzip = bundle.filter((f) => /\.(js|css)$/.test(f.name)).reduce((sum, f) => sum + f.gzipBytes, 0);
    expect(gzip).toBeLessThan(bundleBudgetGzipBytes);
    const code = bundle.map((f) => f.text).join('\n');
    expect(code).not.toContain(adminPassword);
    expect(code).not.toMatch(/-----BEGIN|AKIA[0-9A-Z]{16}|tw_[a-z2-7]{12}_|eyJhbGciOi/);
    expect(code).not.toMatch(/localStorage|sessionStorage|document\.cookie/);
  });

  it('is served with a strict CSP, nosniff, no-referrer and no framing', async () => {
    // Act
    const index = await fetch(`${twin.url}/`);
    const script = bundle.find((f) => f.name.endsWith('.js'))!;
    const asset = await fetch(`${twin.url}/assets/${script.name}`);

    // Assess
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await index.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });
});

describe('the dashboard in chromium', () => {
  it('shows an error for a bad login and stays on the sign-in page', async () => {
    // Prepare
    const target = await openPage();

    // Act
    await signIn(target, 'admin', 'not-the-password');

    // Assess
    await target.locator('#login-error', { hasText: 'Wrong username or password.' }).waitFor();
    expect(await target.getByLabel('Password').inputValue()).toBe('');
    expect(await target.locator('#login-password:focus').count()).toBe(1);
    await target.screenshot({ path: join(screenshotsDir, 'sign-in.png') });
  });

  it('signs in with the keyboard and builds one slider and number box per manifest feature', async () => {
    // Prepare
    page = await openPage();
    await page.goto(`${twin.url}/`);
    await page.locator('#login-username:focus').waitFor();

    // Act: the username field has focus; Tab to the password, Enter submits
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type(adminPassword);
    await page.keyboard.press('Enter');
    await page.locator('#predict-button').waitFor();

    // Assess
    expect(await page.locator('#header-model').textContent()).toBe('reactor-yield 1.0.0');
    expect(await page.locator('#signed-in-user').textContent()).toBe('admin (admin)');
    expect(features.map((f) => f.name)).toEqual(['temp', 'pressure', 'flow']);
    for (const f of features) {
      const slider = page.getByLabel(`${f.description} (${f.unit})`, { exact: true });
      expect(await slider.getAttribute('type')).toBe('range');
      expect(Number(await slider.getAttribute('min'))).toBe(f.min);
      expect(Number(await slider.getAttribute('max'))).toBe(f.max);
      const box = page.getByLabel(`${f.description} value (${f.unit})`, { exact: true });
      expect(await box.getAttribute('type')).toBe('number');
      expect(Number(await box.inputValue())).toBe((f.min + f.max) / 2);
    }
    expect(await page.locator('#latest-prediction').textContent()).toBe('No prediction yet');
  });

  it('moves the temperature slider, predicts, and shows the number, its interval and a chart point', async () => {
    // Prepare
    const slider = page.locator('#input-temp');
    await slider.focus();

    // Act: ten steps right from the middle of 300..400 is the chapter's 360 °C
    for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowRight');
    expect(await page.locator('#input-temp-value').inputValue()).toBe('360');
    await page.getByRole('button', { name: 'Predict', exact: true }).click();
    await waitForPoints(page, 1);

    // Assess
    const shown = Number(await page.locator('#latest-prediction .number').textContent());
    const fromApi = (await api('POST', '/api/v1/twin/predict', { token: adminToken, body: { temp: 360, pressure: 5.5, flow: 100 } })).json;
    expect(shown).toBe(Number(fromApi.prediction.toFixed(2)));
    expect(shown).toBeGreaterThan(70);
    expect(await page.locator('#latest-interval').textContent()).toMatch(/^\d+\.\d\d – \d+\.\d\d %$/);
    expect(['1.0.0', '1.1.0']).toContain(await page.locator('#latest-version').textContent());
    expect(await page.locator('#latest-band').textContent()).toBe('Inside the alert band 70 – 95 %');
    for (const f of features) expect(await points(page, `condition-${f.name}`)).toBe(1);
    expect(await page.locator('#prediction-chart .chart-table tbody tr').count()).toBe(1);
    expect(await page.locator('#prediction-chart .chart-canvas').getAttribute('aria-label')).toContain('1 points');
  });

  it('explains the prediction with a contribution bar per feature, draws the what-if map, and the optimizer moves the sliders', async () => {
    // Assess: the prediction above came with its contributions (explain: true), one bar per feature.
    const bars = page.locator('#contribution-bars .contribution');
    await bars.first().waitFor();
    expect(await bars.count()).toBe(features.length);
    const shown = Number(await page.locator('#latest-prediction .number').textContent());
    const values = await bars.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    const expected = Number((await page.locator('#contribution-bars .hint').textContent())!.match(/Expected (-?[\d.]+)/)![1]);
    expect(Math.abs(expected + values.reduce((a, b) => a + b, 0) - shown)).toBeLessThan(0.02);

    // Act: the map, then the optimizer.
    await page.getByRole('button', { name: 'Draw what-if map' }).click();
    await page.locator('#sweep-note', { hasText: '30 × 30 predictions' }).waitFor();
    expect(await page.locator('#sweep-map').getAttribute('aria-label')).toMatch(/^What-if map of temp and pressure: predictions from/);
    await page.getByRole('button', { name: 'Find best setpoints' }).click();
    await page.locator('#optimize-note', { hasText: 'Best:' }).waitFor();

    // Assess: the sliders moved to the answer's setpoints (snapped to their steps).
    const note = (await page.locator('#optimize-note').textContent())!;
    const temp = Number(/temp (-?[\d.]+)/.exec(note)![1]);
    expect(Math.abs(Number(await page.locator('#input-temp-value').inputValue()) - temp)).toBeLessThanOrEqual(1);
  });

  it('raises an alert in the feed for an out-of-band prediction', async () => {
    // Prepare: Home puts the slider at the bottom of its range (300 °C), far from the yield peak
    await page.locator('#input-temp').focus();
    await page.keyboard.press('Home');

    // Act
    await page.getByRole('button', { name: 'Predict', exact: true }).click();
    await waitForPoints(page, 2);

    // Assess
    const prediction = Number(await page.locator('#latest-prediction .number').textContent());
    expect(prediction).toBeLessThan(70);
    expect(await page.locator('#latest-band').textContent()).toBe('Outside the alert band: below 70 %');
    const alert = page.locator('#alert-list .alert-item', { hasText: 'below the alert minimum 70 %' });
    await alert.first().waitFor();
    expect(await alert.first().textContent()).toContain(`prediction ${prediction.toFixed(2)} %`);
    expect(await page.locator('#alert-count').textContent()).not.toBe('0');
  });

  it("feeds the server's alerts (the local SNS sink's event stream) into the same list", async () => {
    // Assess: the server published the same breach; it replaces the browser's entry (same request id)
    await page.locator('#alerts-source', { hasText: 'Live' }).waitFor();
    await page.locator('#alert-list .alert-item[data-source="server"]', { hasText: 'below the alert minimum 70 %' }).first().waitFor();
  });

  it('predicts every 2 s in auto mode until switched off', async () => {
    // Prepare
    await page.locator('#input-temp-value').fill('350');
    const before = await points(page);
    const auto = page.locator('#auto-button');

    // Act
    await auto.click();
    await waitForPoints(page, before + 2);
    await auto.click();

    // Assess
    expect(await auto.getAttribute('aria-pressed')).toBe('false');
    expect(await points(page)).toBeGreaterThanOrEqual(before + 2);
  });

  it('says when to retry after a 429 and lets the user predict again then', async () => {
    // Prepare
    const body = { error: { code: 'RATE_LIMITED', message: 'Rate limit exceeded', requestId: 'r-429', retry_after_seconds: 2 }, message: 'Rate limit exceeded' };
    await page.route('**/api/v1/models/reactor-yield/predict', jsonRoute(429, body, { 'retry-after': '2' }), { times: 1 });
    const predict = page.getByRole('button', { name: 'Predict', exact: true });

    // Act
    await predict.click();

    // Assess
    await page.locator('[data-slot="rate"]', { hasText: /Rate limit exceeded\. Retry in 2 s \(at .+\)\./ }).waitFor();
    expect(await predict.isDisabled()).toBe(true);
    await page.locator('#predict-button:not([disabled])').waitFor();
    await page.locator('[data-slot="rate"]').waitFor({ state: 'detached' });
  });

  it('shows a degraded model and an offline API, and clears both when the API answers again', async () => {
    // Prepare
    const unavailable = { error: { code: 'MODEL_UNAVAILABLE', message: 'no loadable model', requestId: 'r-503' }, message: 'no loadable model' };
    await page.route('**/api/v1/models/reactor-yield/predict', jsonRoute(503, unavailable), { times: 1 });
    const predict = page.getByRole('button', { name: 'Predict', exact: true });

    // Act + Assess: degraded
    await predict.click();
    await page.locator('[data-slot="model"]', { hasText: 'Degraded: the API is up but the model cannot serve predictions (no loadable model)' }).waitFor();
    expect(await page.locator('#api-state').textContent()).toBe('API: degraded');

    // Act + Assess: offline
    await page.route('**/api/v1/models/reactor-yield/predict', (route) => route.abort('internetdisconnected'), { times: 1 });
    await predict.click();
    await page.locator('[data-slot="connection"]', { hasText: 'Offline: cannot reach the API' }).waitFor();
    expect(await page.locator('#api-state').textContent()).toBe('API: offline');

    // Act + Assess: recovered
    const before = await points(page);
    await predict.click();
    await waitForPoints(page, before + 1);
    await page.locator('[data-slot]').first().waitFor({ state: 'detached' });
    await page.locator('#api-state', { hasText: 'API: online' }).waitFor();
  });

  it('shows the A/B statistics per variant when routing splits traffic', async () => {
    // Assess
    const table = page.locator('#ab-panel table');
    await table.waitFor();
    const versions = (await table.locator('thead th').allTextContents()).slice(1);
    expect(versions.sort()).toEqual(['1.0.0', '1.1.0']);
    expect(await table.locator('tbody tr', { hasText: 'Weight' }).textContent()).toBe('Weight50 %50 %');
  });

  it('shows the model-quality panel, waiting for lab results before any were sent', async () => {
    const quality = page.locator('#quality-panel');
    await quality.locator('#quality-empty').waitFor();
    expect(await quality.locator('h2, h3').first().textContent()).toBe('Model quality');
  });

  it('draws the history as the temperature sweeps through the peak (screenshot)', async () => {
    // Act
    for (const temp of [320, 335, 345, 355, 360, 365, 375, 390, 310]) await predictWith(page, 'temp', temp);
    await page.locator('#alert-list .alert-item').nth(1).waitFor();

    // Assess
    expect(await points(page)).toBeGreaterThanOrEqual(13);
    await page.locator('#ab-panel tbody tr', { hasText: /^Requests[1-9]\d*[1-9]\d*$/ }).waitFor();
    await page.locator('#input-temp-value').blur();
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(screenshotsDir, 'dashboard.png') });
  });

  it('labels every control and keeps text contrast at WCAG AA', async () => {
    // Act
    const found = await page.evaluate(accessibilityProblems);

    // Assess
    expect(found).toEqual([]);
  });

  it('lets an admin create and revoke API keys and filter the audit log (screenshot)', async () => {
    // Prepare
    await page.getByRole('button', { name: 'Administration' }).click();
    const keys = page.locator('#keys-panel');
    await keys.locator('tbody tr').first().waitFor();

    // Act: create a key; its secret is shown once
    await page.getByLabel('New key name').fill('line-3 historian');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.locator('#new-key-secret', { hasText: /^tw_/ }).waitFor();
    const row = keys.locator('tbody tr', { hasText: 'line-3 historian' });
    await row.waitFor();
    expect(await row.textContent()).toContain('active');

    // Act: filter the audit log for failed logins
    await page.getByLabel('Action').fill('auth.login');
    await page.getByLabel('Outcome').selectOption('failure');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const audit = page.locator('#audit-table tbody tr');
    await page.locator('#audit-table[data-query="action=auth.login&outcome=failure&limit=50"]').waitFor();

    // Assess
    const actions = await audit.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(['auth.login']));
    expect(await audit.first().textContent()).toContain('anonymous (admin)');
    expect(await audit.first().textContent()).toContain('401');
    // The secret is shown once; dismiss it so no credential-shaped string lands in a committed image.
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.locator('#new-key-secret').count()).toBe(0);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(screenshotsDir, 'admin.png') });

    // Act: revoke, with the inline confirmation
    await page.getByRole('button', { name: 'Revoke key line-3 historian' }).click();
    await page.getByRole('button', { name: 'Confirm revoking key line-3 historian' }).click();
    await keys.locator('tbody tr', { hasText: 'line-3 historian' }).filter({ hasText: 'revoked' }).waitFor();
    await page.getByRole('button', { name: 'Twin' }).click();
  });

  it('keeps the token in memory only, and signing out forgets it', async () => {
    // Assess
    const stored = await page.evaluate(storedCredentials);
    expect(stored).toEqual({ local: 0, session: 0, cookie: '' });

    // Act
    await page.getByRole('button', { name: 'Sign out' }).click();

    // Assess
    await page.locator('.notice', { hasText: 'You signed out.' }).waitFor();
    expect(await page.locator('#predict-button').count()).toBe(0);
  });

  it('returns to sign-in with a message when the session expires', async () => {
    // Prepare: the same real token, with a lifetime of one second
    const target = await openPage();
    await target.route('**/api/v1/auth/login', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as Record<string, unknown>;
      await route.fulfill({ response, json: { ...body, expires_in: 1 } });
    });

    // Act
    await signIn(target);

    // Assess
    await target.locator('.notice', { hasText: 'Your session expired. Sign in again.' }).waitFor();
  });

  it('ends the session when the API stops accepting the token (401)', async () => {
    // Prepare
    const target = await openPage();
    await signIn(target);
    await target.locator('#predict-button').waitFor();
    await target.route('**/api/v1/models/reactor-yield/predict', jsonRoute(401, { message: 'Unauthorized' }));

    // Act
    await target.getByRole('button', { name: 'Predict', exact: true }).click();

    // Assess
    await target.locator('.notice', { hasText: 'Your session has ended' }).waitFor();
  });

  it('lets a viewer watch but not predict or administer; missing alert and A/B routes degrade quietly', async () => {
    // Prepare
    const created = await api('POST', '/api/v1/users', { token: adminToken, body: { username: 'plant-viewer', password: 'viewer-password-1', role: 'viewer' } });
    expect(created.status).toBe(201);
    const target = await openPage();
    const notFound = jsonRoute(404, { message: 'Not Found' });
    await target.route((url) => url.pathname === '/api/v1/alerts/stream' || url.pathname === '/api/v1/alerts', notFound);
    await target.route((url) => /^\/api\/v1\/models\/[^/]+\/stats$/.test(url.pathname), notFound);

    // Act
    await signIn(target, 'plant-viewer', 'viewer-password-1');
    await target.locator('#predict-button').waitFor();

    // Assess
    expect(await target.locator('#predict-button').isDisabled()).toBe(true);
    expect(await target.locator('#auto-button').isDisabled()).toBe(true);
    expect(await target.locator('.inputs-form .hint').textContent()).toBe('Your role can read the twin but not run predictions.');
    expect(await target.getByRole('button', { name: 'Administration' }).count()).toBe(0);
    await target.locator('#alerts-source', { hasText: 'this API has no alert stream' }).waitFor();
    expect(await target.locator('#ab-panel').isHidden()).toBe(true);
  });

  it('broke no CSP or Trusted Types rule and threw no script error on any page', () => {
    expect(problems).toEqual([]);
  });
});

