import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleTimer } from '../../infra/local/schedules.js';
import { createUser, userWithToken } from '../support/identity.js';
import { modelTestEnv, outOfBandRow } from '../support/models.js';
import { apiClient, login, startTestTwin, type Api, type TestTwin } from '../support/twin.js';
import { buildDashboard, launchChromium, newWatchedPage } from './support.js';

/**
 * The dashboard draws what the plant's alert cap held back (docs/dashboard.md): with a cap of 2, north's storm
 * of five breaching operators holds 3 alerts back; north's viewer signs in and reads "3 alerts held back in the
 * 15 minutes from HH:MM; the plant's cap is 2 per window" (from GET /api/v1/alerts), then, with the page open, a
 * new window's `alerts_capped` notice arrives on the stream and its line appears with its count. South's viewer
 * sees none of it. Debian's chromium through playwright-core; the twin's clock is frozen inside a window.
 */

const windowMs = 900_000;
const noTimer: ScheduleTimer = { every: () => () => undefined };
const windowStart = Math.ceil((Date.now() + 400 * 86_400_000) / windowMs) * windowMs;
const clock = { now: windowStart + 60_000 };
let buildDir: string;
let t: TestTwin;
let api: Api;
let admin: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];
let serial = 0;
/** HH:MM as the page shows it (its time zone is UTC: newWatchedPage). */
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

async function storm(plant: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const op = await userWithToken(api, admin, { username: `${plant}-storm-${serial++}`, role: 'operator', plant });
    expect((await api('POST', '/api/v1/twin/predict', { token: op.token, body: outOfBandRow })).status).toBe(200);
  }
}

/** A signed-in page, and its first answer of GET /api/v1/alerts (the held-back counts the page read). */
async function signedIn(username: string, password: string): Promise<{ page: Page; listed: Promise<unknown> }> {
  const opened = await newWatchedPage(browser, problems);
  contexts.push(opened.context);
  const page = opened.page;
  await page.goto(`${t.url}/`);
  const listed = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/alerts' && r.request().method() === 'GET').then(async (r) => ({ status: r.status(), body: (await r.json()) as unknown }));
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#alerts-panel').waitFor();
  return { page, listed };
}

beforeAll(async () => {
  buildDir = await mkdtemp(join(tmpdir(), 'twinserve-dashboard-cap-'));
  await buildDashboard(buildDir);
  t = await startTestTwin({ env: { ...modelTestEnv, TWIN_ALERT_CAP_PER_PLANT: '2' }, schedules: { timer: noTimer, now: () => clock.now }, clock: () => clock.now, dashboardDir: buildDir });
  api = apiClient(t.url);
  admin = await login(api);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  for (const context of contexts) await context.close();
  await browser?.close();
  await t?.stop();
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

describe('the alerts panel shows what the alert cap held back', () => {
  let north: Page;

  it("north's viewer reads the count of the running window, the cap and the models", async () => {
    // Prepare
    const viewer = await createUser(api, admin, { username: 'nadia-viewer', role: 'viewer', plant: 'north' });
    await storm('north', 5);

    // Act
    north = (await signedIn(viewer.username, viewer.password)).page;
    const notice = north.locator(`#alerts-held-back .cap-notice[data-start="${new Date(windowStart).toISOString()}"]`);

    // Assert
    await expect.poll(() => notice.locator('.cap-text').textContent()).toBe(`Held back: 3 alerts held back in the 15 minutes from ${hhmm(windowStart)}; the plant's cap is 2 per window`);
    expect(await notice.locator('.alert-meta').textContent()).toBe(`plant north · still running until ${hhmm(windowStart + windowMs)}, more may be held back · models: reactor-yield`);
    expect(await north.locator('#alerts-held-back').getAttribute('role')).toBe('status');
  });

  it('a new window’s notice arrives on the open page with its count', async () => {
    // Act: a window later, three more of north breach (2 sent, 1 held back: one alerts_capped notice).
    clock.now += windowMs;
    await storm('north', 3);
    const next = north.locator(`#alerts-held-back .cap-notice[data-start="${new Date(windowStart + windowMs).toISOString()}"]`);

    // Assert: newest first; the earlier window is still listed, now over.
    await expect.poll(() => next.locator('.cap-text').textContent(), { timeout: 15_000 }).toBe(`Held back: 1 alert held back in the 15 minutes from ${hhmm(windowStart + windowMs)}; the plant's cap is 2 per window`);
    expect(await north.locator('#alerts-held-back .cap-notice').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-held')))).toEqual(['1', '3']);
  });

  it("south's viewer sees none of north's", async () => {
    // Act
    const viewer = await createUser(api, admin, { username: 'sven-viewer', role: 'viewer', plant: 'south' });
    const { page: south, listed } = await signedIn(viewer.username, viewer.password);

    // Assert: the page read south's list (held back: nothing) and draws nothing of north's.
    expect(await listed).toEqual({ status: 200, body: expect.objectContaining({ held_back: { window_seconds: 900, total_held: 0, windows: [] } }) });
    expect(await south.locator('#alerts-held-back').isHidden()).toBe(true);
    expect(await south.locator('#alerts-held-back .cap-notice').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
