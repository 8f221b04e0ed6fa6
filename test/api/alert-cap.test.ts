import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleTimer } from '../../infra/local/schedules.js';
import { userWithToken } from '../support/identity.js';
import { modelTestEnv, outOfBandRow, sinkMessages } from '../support/models.js';
import { apiClient, login, startTestTwin, type Api, type TestTwin } from '../support/twin.js';

/**
 * The per-plant alert cap through the local twin (docs/models.md, "Alert cap"): with a cap of 2 alerts per plant
 * per window, five of north's operators breaching send north 2 alerts and one "held" notice at once; the
 * scheduled run after the window sends north one summary with the count. South's alerts are not touched, and
 * each plant's alert stream shows it its own notices only. The alert clock is the test's (frozen inside one
 * window, then moved past it), so nothing depends on when the suite runs.
 */

const noTimer: ScheduleTimer = { every: () => () => undefined };
const windowMs = 900_000;
// Inside a window, a year or more from whenever the suite runs.
const clock = { now: Math.ceil((Date.now() + 400 * 86_400_000) / windowMs) * windowMs + 60_000 };
let t: TestTwin;
let api: Api;
let admin: string;

beforeAll(async () => {
  t = await startTestTwin({ env: { ...modelTestEnv, TWIN_ALERT_CAP_PER_PLANT: '2' }, schedules: { timer: noTimer, now: () => clock.now }, clock: () => clock.now });
  api = apiClient(t.url);
  admin = await login(api);
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

interface Body {
  type?: string;
  kind?: string;
  plant?: string;
  principal?: string;
  suppressed?: number;
  sent?: number;
  cap?: number;
  models?: string[];
}
const bodies = async () => (await sinkMessages(t)).map((m) => m.message as Body);

/** The events a fresh stream of `token` replays (up to 100), read until `until` holds for them. */
async function replayed(token: string, until: (events: Body[]) => boolean): Promise<Body[]> {
  const abort = new AbortController();
  const res = await fetch(new URL('/api/v1/alerts/stream?replay=100', t.url), { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const events = () =>
    text
      .split('\n\n')
      .filter((block) => block.includes('event: alert'))
      .map((block) => (JSON.parse(block.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as { message: Body }).message);
  try {
    while (!until(events())) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      text += decoder.decode(value, { stream: true });
    }
    return events();
  } finally {
    abort.abort();
  }
}

describe('alert cap (local twin)', () => {
  it("a plant over its cap gets 2 alerts, one notice at once and one summary after the window; another plant's alerts are unaffected", async () => {
    // Prepare: five operators of north, two of south, and a viewer of each for the stream.
    const north = await Promise.all(Array.from({ length: 5 }, (_, i) => userWithToken(api, admin, { username: `north-op-${i}`, role: 'operator', plant: 'north' })));
    const south = await Promise.all(Array.from({ length: 2 }, (_, i) => userWithToken(api, admin, { username: `south-op-${i}`, role: 'operator', plant: 'south' })));
    const northViewer = await userWithToken(api, admin, { username: 'north-viewer', role: 'viewer', plant: 'north' });
    const southViewer = await userWithToken(api, admin, { username: 'south-viewer', role: 'viewer', plant: 'south' });
    const breach = async (token: string) => expect((await api('POST', '/api/v1/twin/predict', { token, body: outOfBandRow })).status).toBe(200);

    // Act: north's storm (five principals, one alert key each), then south's first breach.
    for (const op of north) await breach(op.token);
    await breach(south[0]!.token);

    // Assess: north 2 alerts and one "held" notice; south its alert.
    let all = await bodies();
    expect(all.filter((b) => b.type === 'anomaly' && b.plant === 'north')).toHaveLength(2);
    expect(all.filter((b) => b.kind === 'alerts_capped')).toEqual([expect.objectContaining({ plant: 'north', cap: 2 })]);
    expect(all.filter((b) => b.type === 'anomaly' && b.plant === 'south')).toHaveLength(1);

    // Act: the schedule runs within the window (nothing is summarised), then after it.
    expect(await t.twin.schedules!.run('quality-schedule')).toMatchObject({ summaries: 0 });
    clock.now += windowMs;
    expect(await t.twin.schedules!.run('quality-schedule')).toMatchObject({ summaries: 1 });
    expect(await t.twin.schedules!.run('quality-schedule')).toMatchObject({ summaries: 0 });
    await breach(south[1]!.token);

    // Assess: one summary for north with the count; south never capped, its second alert sent.
    all = await bodies();
    expect(all.filter((b) => b.kind === 'alerts_suppressed')).toEqual([expect.objectContaining({ plant: 'north', cap: 2, sent: 2, suppressed: 3, models: ['reactor-yield'] })]);
    expect(all.filter((b) => b.type === 'anomaly' && b.plant === 'south')).toHaveLength(2);
    expect(all.some((b) => (b.kind === 'alerts_capped' || b.kind === 'alerts_suppressed') && b.plant !== 'north')).toBe(false);

    // Each plant's stream: north sees its notices; south (read up to its own latest alert, after north's) none.
    const northSees = await replayed(northViewer.token, (events) => events.some((b) => b.kind === 'alerts_suppressed'));
    expect(northSees.filter((b) => b.kind?.startsWith('alerts_')).map((b) => b.kind)).toEqual(['alerts_capped', 'alerts_suppressed']);
    expect(northSees.every((b) => b.plant === 'north')).toBe(true);
    const southSees = await replayed(southViewer.token, (events) => events.filter((b) => b.type === 'anomaly').length === 2);
    expect(southSees.filter((b) => b.kind?.startsWith('alerts_'))).toEqual([]);
    expect(southSees.every((b) => b.plant === 'south')).toBe(true);
  });
});
