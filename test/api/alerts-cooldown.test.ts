import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userWithToken } from '../support/identity.js';
import { alertsFor, inBandRow, modelTestEnv, outOfBandRow, startModelTwin } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';

/**
 * "No alert storms": one alert per (model, rule, principal) per cooldown window, however often the value
 * crosses the band in between; a resolve follows only an alert that was sent.
 */
let t: TestTwin;
let api: Api;
let admin: string;

beforeAll(async () => {
  t = await startModelTwin({ env: { ...modelTestEnv, TWIN_ALERT_COOLDOWN_SECONDS: '3600' } });
  api = apiClient(t.url);
  admin = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

describe('cooldown', () => {
  it('a value flapping around the band alerts once and resolves once within the window', async () => {
    // Prepare
    const { token } = await userWithToken(api, admin, { username: 'flora-flap', role: 'operator' });
    const predict = (body: unknown) => api('POST', '/api/v1/twin/predict', { token, body });

    // Act: out, in, out, in, out, in
    for (let i = 0; i < 3; i++) {
      expect((await predict(outOfBandRow)).status).toBe(200);
      expect((await predict(inBandRow)).status).toBe(200);
    }

    // Assess
    const messages = await alertsFor(t, 'flora-flap');
    expect(messages.map((m) => m.message.type)).toEqual(['anomaly', 'resolved']);
  });

  it('a breach while SNS is down is forgotten, not resolved later', async () => {
    // Prepare
    const { token } = await userWithToken(api, admin, { username: 'sid-sink', role: 'operator' });
    const predict = (body: unknown) => api('POST', '/api/v1/twin/predict', { token, body });

    // Act: the breach happens while SNS fails; the value returns to the band after SNS recovers
    t.twin.sns.failing = true;
    try {
      expect((await predict(outOfBandRow)).status).toBe(200);
    } finally {
      t.twin.sns.failing = false;
    }
    expect((await predict(inBandRow)).status).toBe(200);
    expect((await predict(outOfBandRow)).status).toBe(200);

    // Assess: no orphan "resolved"; the next breach alerts (the failed claim was given back)
    const messages = await alertsFor(t, 'sid-sink');
    expect(messages.map((m) => m.message.type)).toEqual(['anomaly']);
  });
});
