import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../functions/quality-schedule.js';
import type { ScheduleTimer } from '../../infra/local/schedules.js';
import { schedules } from '../../functions/routes.js';
import { REACTOR_FEATURES } from '../../models/tools/reactor.js';
import { activate, modelTestEnv, publishNew, referenceVariant, sinkMessages } from '../support/models.js';
import { apiClient, login, startTestTwin, type Api, type TestTwin } from '../support/twin.js';

/**
 * The scheduled quality evaluation in the local twin, end to end: the timer of functions/routes.ts `schedules`
 * invokes the same handler EventBridge invokes in AWS, which judges input drift from served rows alone (no
 * feedback) and publishes to the local SNS sink, once per cooldown. The test owns the timer (it fires the
 * ticks) and the clock the events carry: nothing waits on real time.
 */

/** A timer the test fires itself; it records what was scheduled and whether it was cancelled. */
class ManualTimer implements ScheduleTimer {
  readonly entries: { ms: number; tick: () => void; cancelled: boolean }[] = [];
  every(ms: number, tick: () => void): () => void {
    const entry = { ms, tick, cancelled: false };
    this.entries.push(entry);
    return () => {
      entry.cancelled = true;
    };
  }
  fire(): void {
    for (const e of this.entries) if (!e.cancelled) e.tick();
  }
}

const timer = new ManualTimer();
const clock = { now: Date.parse('2026-12-03T12:00:00Z') };
let t: TestTwin;
let api: Api;
let admin: string;

/** Deciles of a uniform spread over the feature's valid range: what a calibration file spanning it would give. */
const uniformHistogram = (min: number, max: number) => ({ edges: Array.from({ length: 11 }, (_, i) => min + ((max - min) * i) / 10), fractions: Array(10).fill(0.1) });

beforeAll(async () => {
  t = await startTestTwin({ env: modelTestEnv, schedules: { timer, now: () => clock.now } });
  api = apiClient(t.url);
  admin = await login(api);
  // Prepare: reactor-yield 1.1.0, the reference graph with a histogram per feature in its manifest (drift's reference).
  const pkg = await referenceVariant('1.1.0');
  pkg.manifest.features = REACTOR_FEATURES.map((f) => ({ name: f.name, unit: f.unit, min: f.min, max: f.max, histogram: uniformHistogram(f.min, f.max) }));
  await publishNew(api, admin, pkg);
  await activate(api, admin, '1.1.0');
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

const qualityAlerts = async () =>
  (await sinkMessages(t)).map((m) => m.message as { kind?: string; rule?: string; model?: string; version?: string; detail?: { feature?: string } }).filter((m) => m.kind?.startsWith('quality'));

describe('scheduled quality evaluation (local twin)', () => {
  it('schedules each entry of the table at its rate', () => {
    expect(timer.entries.map((e) => e.ms)).toEqual(schedules.map((s) => s.everyMinutes * 60_000));
  });

  it('alerts on input drift from served rows alone when the timer fires, and not again within the cooldown', async () => {
    // Served rows only, no feedback: every temperature in the top tenth of the range.
    const inputs = Array.from({ length: 40 }, (_, i) => ({ temp: 391 + (i % 9), pressure: 5 + (i % 4), flow: 80 + i }));
    const batch = await api('POST', '/api/v1/twin/batch', { token: admin, body: { inputs } });
    expect(batch.status, batch.text).toBe(200);
    expect(await qualityAlerts()).toEqual([]);
    // Act: a tick, and the run it started (run() hands back the run in flight).
    timer.fire();
    const result = await t.twin.schedules!.run('quality-schedule');
    // Assess
    expect(result).toMatchObject({ action: 'quality.evaluate', failed: 0 });
    expect((result as { checked: number }).checked).toBeGreaterThanOrEqual(1);
    expect(await qualityAlerts()).toEqual([expect.objectContaining({ kind: 'quality', rule: 'input_drift', model: 'reactor-yield', version: '1.1.0', detail: expect.objectContaining({ feature: 'temp' }) })]);
    // More ticks within the cooldown: no storm.
    clock.now += 15 * 60_000;
    timer.fire();
    await t.twin.schedules!.run('quality-schedule');
    expect(await qualityAlerts()).toHaveLength(1);
  });

  it('refuses an event that is not a scheduled event, before any work', async () => {
    await expect(handler({ routeKey: 'POST /api/v1/models/{name}/feedback' })).rejects.toThrow(/not an EventBridge scheduled event/);
  });

  it('cancels its timers when the twin stops; a twin started without schedules has none', async () => {
    await t.stop();
    expect(timer.entries.every((e) => e.cancelled)).toBe(true);
    expect(await t.twin.schedules!.run('quality-schedule')).toBeUndefined();
    t = undefined as unknown as TestTwin;
    // One local twin per process: the plain one starts after the first has stopped.
    const plain = await startTestTwin();
    try {
      expect(plain.twin.schedules).toBeUndefined();
    } finally {
      await plain.stop();
    }
  });
});
