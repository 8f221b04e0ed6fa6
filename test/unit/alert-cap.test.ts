import { describe, expect, it } from 'vitest';
import { envNames, loadConfig } from '../../functions/config.js';
import { AlertCap, type AlertCapOptions } from '../../functions/core/alerts/cap.js';
import { AlertService } from '../../functions/core/alerts/service.js';
import type { Principal } from '../../functions/core/auth/tokens.js';
import type { ModelManifest } from '../../functions/core/manifest.js';
import { QualityAlerts } from '../../functions/core/quality/alerts.js';
import { InMemoryAlertCapStore, InMemoryAlertStateStore, RecordingPublisher } from '../support/alert-fakes.js';
import { FakeClock } from '../support/fakes.js';

/**
 * The per-plant alert cap (functions/core/alerts/cap.ts) with in-memory stores and an injected clock: at most
 * `perPlant` alerts per plant per window (and `platform` for principals without a plant), what is over it
 * counted and summarised, never silently lost, and one plant's storm never touching another's alerts.
 */

const windowMs = 900_000;

function setup(options: Partial<AlertCapOptions> = {}) {
  // The start of a window, a year or more from whenever the suite runs: only the injected clock counts.
  const clock = new FakeClock(Math.ceil((Date.now() + 400 * 86_400_000) / windowMs) * windowMs);
  const store = new InMemoryAlertCapStore();
  const state = new InMemoryAlertStateStore();
  const sns = new RecordingPublisher();
  const logged: Record<string, unknown>[] = [];
  const counted: { metric: string; dimensions?: Record<string, string> }[] = [];
  const cap = new AlertCap(store, sns, {
    perPlant: 3,
    platform: 5,
    windowSeconds: windowMs / 1000,
    now: clock.now,
    log: (_message, fields) => logged.push(fields),
    telemetry: { count: (metric, _value, dimensions) => void counted.push({ metric, ...(dimensions ? { dimensions } : {}) }) },
    ...options,
  });
  const alerts = new AlertService(state, sns, { cooldownSeconds: 900, on: 'prediction', overrides: {}, now: clock.now, cap });
  const quality = new QualityAlerts(state, sns, { cooldownSeconds: 900, now: clock.now, cap });
  return { clock, store, state, sns, cap, alerts, quality, logged, counted };
}

const manifest = (name: string) => ({ name, version: '1.0.0', alerts: { min: 70, max: 95 } }) as unknown as ModelManifest;
const principal = (id: string, plant?: string): Principal => ({ id, username: id, role: 'operator', scopes: new Set(['twin:predict']), type: 'user', ...(plant ? { plant } : {}) });
const high = { inputs: { temp: 399 }, prediction: 99, interval: null };
const inBand = { inputs: { temp: 360 }, prediction: 80, interval: null };
const breach = (s: ReturnType<typeof setup>, model: string, who: Principal) => s.alerts.check({ manifest: manifest(model), principal: who, rows: [high], requestId: `${model}-${who.id}` });
const anomalies = (s: ReturnType<typeof setup>, plant?: string) => s.sns.messages.filter((m) => m.body.type === 'anomaly' && m.body.plant === plant);

describe('alert cap', () => {
  it('sends at most the cap per plant per window; the rest is counted, with one notice at once', async () => {
    // Prepare
    const s = setup();
    const north = principal('nora', 'north');

    // Act: ten models of north breach in one window.
    for (let i = 0; i < 10; i++) await breach(s, `m${i}`, north);

    // Assess: three alerts, then one "held" notice naming the plant and when the window ends; seven counted.
    expect(anomalies(s, 'north').map((m) => m.body.model)).toEqual(['m0', 'm1', 'm2']);
    const notices = s.sns.messages.filter((m) => m.body.kind === 'alerts_capped');
    expect(notices).toHaveLength(1);
    expect(notices[0]!.body).toMatchObject({ plant: 'north', cap: 3, window: { start: s.clock.iso(), end: new Date(s.clock.ms + windowMs).toISOString() } });
    expect(notices[0]!.attributes).toEqual({ kind: 'alerts_capped', severity: 'warning', plant: 'north' });
    expect(notices[0]!.subject).toContain('north');
    expect(s.store.counts.get(`plant#north|${s.clock.iso()}`)).toMatchObject({ sent: 3, held: 7 });
    expect(s.counted.filter((c) => c.metric === 'AlertsSuppressed')).toHaveLength(7);
    expect(s.counted.every((c) => c.metric !== 'AlertsSuppressed' || c.dimensions?.plant === 'north')).toBe(true);
    expect(s.logged).toHaveLength(7);
  });

  it("one plant over its cap leaves another plant's alerts and the platform's untouched", async () => {
    const s = setup();
    for (let i = 0; i < 10; i++) await breach(s, `m${i}`, principal('nora', 'north'));
    // Act
    for (let i = 0; i < 3; i++) await breach(s, `m${i}`, principal('sam', 'south'));
    for (let i = 0; i < 5; i++) await breach(s, `m${i}`, principal('root'));
    // Assess
    expect(anomalies(s, 'south')).toHaveLength(3);
    expect(anomalies(s, undefined)).toHaveLength(5);
    expect(s.sns.messages.filter((m) => m.body.kind === 'alerts_capped').map((m) => m.body.plant)).toEqual(['north']);
    // The platform has its own cap: the sixth platform alert is held, with the platform's own notice (no plant).
    await breach(s, 'm9', principal('root'));
    expect(anomalies(s, undefined)).toHaveLength(5);
    const platformNotice = s.sns.messages.filter((m) => m.body.kind === 'alerts_capped' && m.body.plant === undefined);
    expect(platformNotice.map((m) => m.body.cap)).toEqual([5]);
    expect(platformNotice[0]!.attributes.plant).toBeUndefined();
    expect(s.counted.filter((c) => c.metric === 'AlertsSuppressed').map((c) => c.dimensions?.plant)).toEqual([...Array(7).fill('north'), '(platform)']);
  });

  it('quality alerts and anomaly alerts share the plant cap (many models × versions × rules)', async () => {
    const s = setup();
    // Act: two versions × three rules of one model, then an anomaly alert.
    for (const version of ['1.0.0', '2.0.0'])
      for (const rule of ['coverage_low', 'error_high', 'input_drift'] as const) await s.quality.breach({ model: 'm', version, plant: 'north', rule, window: 'day', value: 1, band: { max: 0 }, detail: {} });
    await breach(s, 'm', principal('nora', 'north'));
    // Assess
    expect(s.sns.messages.filter((m) => m.body.kind === 'quality')).toHaveLength(3);
    expect(anomalies(s, 'north')).toHaveLength(0);
    expect(s.store.counts.get(`plant#north|${s.clock.iso()}`)).toMatchObject({ sent: 3, held: 4 });
  });

  it('a held-back alert keeps its cooldown (a repeated breach is not counted again) and no "resolved" follows it', async () => {
    const s = setup({ perPlant: 1 });
    const north = principal('nora', 'north');
    await breach(s, 'a', north);
    await breach(s, 'b', north);
    // Act: b breaches again within its cooldown, then returns to the band.
    await breach(s, 'b', north);
    await s.alerts.check({ manifest: manifest('b'), principal: north, rows: [inBand], requestId: 'b-back' });
    // Assess: b was held once; nothing about b was published (neither an alert nor a resolution).
    expect(s.store.counts.get(`plant#north|${s.clock.iso()}`)).toMatchObject({ sent: 1, held: 1 });
    expect(s.sns.messages.filter((m) => m.body.model === 'b')).toEqual([]);
    // a still resolves: its alert was sent.
    await s.alerts.check({ manifest: manifest('a'), principal: north, rows: [inBand], requestId: 'a-back' });
    expect(s.sns.messages.filter((m) => m.body.model === 'a').map((m) => m.body.type)).toEqual(['anomaly', 'resolved']);
  });

  it('a firing alert whose reminder is held back stays firing: its resolution is still sent', async () => {
    const s = setup({ perPlant: 1 });
    const north = principal('nora', 'north');
    await breach(s, 'a', north);
    // Next window, after a's cooldown: another model takes the window's one alert, then a breaches again.
    s.clock.advance(windowMs);
    await breach(s, 'b', north);
    await breach(s, 'a', north);
    expect(s.sns.messages.filter((m) => m.body.model === 'a').map((m) => m.body.type)).toEqual(['anomaly']);
    // Act
    await s.alerts.check({ manifest: manifest('a'), principal: north, rows: [inBand], requestId: 'a-back' });
    // Assess
    expect(s.sns.messages.filter((m) => m.body.model === 'a').map((m) => m.body.type)).toEqual(['anomaly', 'resolved']);
  });

  it('summarises each window once it is over: one "N more alerts suppressed" notice with the models, once', async () => {
    const s = setup();
    const north = principal('nora', 'north');
    for (let i = 0; i < 10; i++) await breach(s, `m${i}`, north);
    const window = s.clock.iso();
    // Act / Assess: during the window nothing is summarised.
    s.clock.advance(windowMs - 1);
    expect(await s.cap.summarise()).toEqual({ summaries: 0 });
    s.clock.advance(1);
    expect(await s.cap.summarise()).toEqual({ summaries: 1 });
    expect(await s.cap.summarise()).toEqual({ summaries: 0 });
    const summaries = s.sns.messages.filter((m) => m.body.kind === 'alerts_suppressed');
    expect(summaries.map((m) => m.body)).toEqual([
      expect.objectContaining({ plant: 'north', window: { start: window, end: s.clock.iso() }, cap: 3, sent: 3, suppressed: 7, models: ['m3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9'] }),
    ]);
    expect(summaries[0]!.subject).toMatch(/north: 7 more alerts suppressed/);
    // The new window has room again: north's alerts flow (the cooldowns of m0..m2 have passed too).
    s.clock.advance(1000);
    await breach(s, 'm0', north);
    expect(anomalies(s, 'north')).toHaveLength(4);
  });

  it('a summary whose publish fails is put back and sent by the next run', async () => {
    const s = setup();
    for (let i = 0; i < 5; i++) await breach(s, `m${i}`, principal('nora', 'north'));
    s.clock.advance(windowMs);
    s.sns.failing = true;
    expect(await s.cap.summarise()).toEqual({ summaries: 0 });
    s.sns.failing = false;
    expect(await s.cap.summarise()).toEqual({ summaries: 1 });
    expect(s.sns.messages.filter((m) => m.body.kind === 'alerts_suppressed').map((m) => m.body.suppressed)).toEqual([2]);
  });

  it('a store that cannot count lets the alert through (the cap never silences alerts by failing)', async () => {
    const s = setup({ perPlant: 1 });
    s.store.failTake = true;
    for (let i = 0; i < 3; i++) await breach(s, `m${i}`, principal('nora', 'north'));
    expect(anomalies(s, 'north')).toHaveLength(3);
  });

  describe('what was held back (GET /api/v1/alerts)', () => {
    it("a plant sees its own windows that held alerts back, newest first, the running one marked; never another plant's", async () => {
      // Prepare: north over its cap of 3 in two windows (2 then 4 held back), south over it once, the platform under.
      const s = setup();
      const north = principal('nora', 'north');
      const start = s.clock.ms;
      for (let i = 0; i < 5; i++) await breach(s, `a${i}`, north);
      for (let i = 0; i < 4; i++) await breach(s, `s${i}`, principal('sam', 'south'));
      await breach(s, 'p0', principal('root'));
      s.clock.advance(windowMs + 60_000);
      for (let i = 0; i < 7; i++) await breach(s, `b${i % 2}`, principal(`nora-${i}`, 'north'));

      // Act
      const northView = await s.cap.heldBack('north');
      const southView = await s.cap.heldBack('south');
      const nobody = await s.cap.heldBack('west');

      // Assess
      const iso = (ms: number) => new Date(ms).toISOString();
      expect(northView).toEqual({
        window_seconds: 900,
        total_held: 6,
        windows: [
          { plant: 'north', start: iso(start + windowMs), end: iso(start + 2 * windowMs), current: true, cap: 3, sent: 3, held: 4, models: ['b0', 'b1'] },
          { plant: 'north', start: iso(start), end: iso(start + windowMs), current: false, cap: 3, sent: 3, held: 2, models: ['a3', 'a4'] },
        ],
      });
      expect(southView.windows.map((w) => [w.plant, w.held])).toEqual([['south', 1]]);
      expect(nobody).toEqual({ window_seconds: 900, total_held: 0, windows: [] });
    });

    it("a platform principal sees every plant's windows and the platform's own, each named", async () => {
      // Prepare
      const s = setup({ platform: 1 });
      for (let i = 0; i < 4; i++) await breach(s, `n${i}`, principal('nora', 'north'));
      for (let i = 0; i < 5; i++) await breach(s, `s${i}`, principal('sam', 'south'));
      for (let i = 0; i < 3; i++) await breach(s, `p${i}`, principal('root'));

      // Act
      const all = await s.cap.heldBack(undefined);

      // Assess
      expect(all.windows.map((w) => [w.plant, w.held, w.cap])).toEqual([
        ['north', 1, 3],
        ['south', 2, 3],
        [null, 2, 1],
      ]);
      expect(all.total_held).toBe(5);
    });

    it('windows past their stored two days are gone (the TTL decides, even where the store keeps them)', async () => {
      // Prepare
      const s = setup();
      for (let i = 0; i < 4; i++) await breach(s, `n${i}`, principal('nora', 'north'));

      // Act
      s.clock.advance(2 * 86_400_000);
      const within = await s.cap.heldBack('north');
      s.clock.advance(windowMs);
      const after = await s.cap.heldBack('north');

      // Assess: kept until two days after the window's end, then not shown.
      expect(within.windows).toHaveLength(1);
      expect(within.windows[0]!.current).toBe(false);
      expect(after).toEqual({ window_seconds: 900, total_held: 0, windows: [] });
      expect(s.store.counts.size).toBe(1);
    });
  });

  it('windows are aligned to the clock the cap is given', async () => {
    const s = setup();
    // Mid-window: the window is the one that started before now.
    s.clock.advance(windowMs / 2);
    await breach(s, 'm', principal('nora', 'north'));
    expect([...s.store.counts.keys()]).toEqual([`plant#north|${new Date(s.clock.ms - windowMs / 2).toISOString()}`]);
  });
});

describe('alert cap configuration', () => {
  const base = {
    ...Object.fromEntries(['usersTable', 'apiKeysTable', 'rateCountersTable', 'auditTable', 'alertStateTable', 'statsTable', 'predictionsTable', 'qualityTable'].map((k) => [envNames[k as keyof typeof envNames], `t-${k}`])),
    [envNames.issuer]: 'https://api.twin.test',
    [envNames.audience]: 'twinserve',
    [envNames.modelDir]: '/models',
    [envNames.signingKeyFile]: '/keys.json',
  };

  it('defaults to 50 per plant and 100 for the platform per 15 minutes', () => {
    expect(loadConfig(base).alertCap).toEqual({ perPlant: 50, platform: 100, windowSeconds: 900 });
    expect(loadConfig({ ...base, [envNames.alertCapPerPlant]: '5', [envNames.alertCapPlatform]: '7', [envNames.alertCapWindowSeconds]: '3600' }).alertCap).toEqual({ perPlant: 5, platform: 7, windowSeconds: 3600 });
  });

  it.each([
    [envNames.alertCapPerPlant, '0'],
    [envNames.alertCapPlatform, '-1'],
    [envNames.alertCapPerPlant, 'many'],
    [envNames.alertCapWindowSeconds, '10'],
    [envNames.alertCapWindowSeconds, '90000'],
  ])('refuses %s=%s, naming it', (name, value) => {
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(name);
  });
});
