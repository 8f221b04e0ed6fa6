import type { ScheduleTimer } from '../../infra/local/schedules.js';
import { userWithToken } from './identity.js';
import { modelTestEnv, outOfBandRow } from './models.js';
import { apiClient, login, startTestTwin, type Api, type TestTwin } from './twin.js';

/**
 * A local twin whose alert cap is 2 per plant per 15-minute window, on a clock frozen one minute into a window a
 * year or more from whenever the suite runs, for GET /api/v1/alerts's held-back counts
 * (test/api/alerts-held-back.*.test.ts); `storm` makes a plant breach through `n` operators (one alert key each).
 */
export const heldBackWindowMs = 900_000;
const noTimer: ScheduleTimer = { every: () => () => undefined };

export interface HeldBackTwin {
  t: TestTwin;
  api: Api;
  admin: string;
  clock: { now: number };
  windowStart: number;
  storm(plant: string, n: number): Promise<void>;
}

export async function startHeldBackTwin(): Promise<HeldBackTwin> {
  const windowStart = Math.ceil((Date.now() + 400 * 86_400_000) / heldBackWindowMs) * heldBackWindowMs;
  const clock = { now: windowStart + 60_000 };
  const t = await startTestTwin({ env: { ...modelTestEnv, TWIN_ALERT_CAP_PER_PLANT: '2' }, schedules: { timer: noTimer, now: () => clock.now }, clock: () => clock.now, dashboardDir: false });
  const api = apiClient(t.url);
  const admin = await login(api);
  let serial = 0;
  const storm = async (plant: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const op = await userWithToken(api, admin, { username: `${plant}-op-${serial++}`, role: 'operator', plant });
      const res = await api('POST', '/api/v1/twin/predict', { token: op.token, body: outOfBandRow });
      if (res.status !== 200) throw new Error(`predict answered ${res.status}: ${res.text}`);
    }
  };
  return { t, api, admin, clock, windowStart, storm };
}
