import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf, userWithToken } from '../support/identity.js';
import { alertsFor, modelName, modelTestEnv, row, startModelTwin } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';

/**
 * Alert configuration per environment: TWIN_ALERT_ON=interval judges the whole 90 % interval instead of the
 * prediction, and TWIN_ALERT_THRESHOLDS replaces the manifest's 70..95 band with 77..95.
 */
const band = { min: 77, max: 95 };

let t: TestTwin;
let api: Api;
let admin: string;

beforeAll(async () => {
  t = await startModelTwin({
    env: { ...modelTestEnv, TWIN_ALERT_ON: 'interval', TWIN_ALERT_THRESHOLDS: JSON.stringify({ [modelName]: band }) },
  });
  api = apiClient(t.url);
  admin = await login(api);
});

afterAll(async () => {
  await t?.stop();
});

async function asNewUser(username: string): Promise<string> {
  return (await userWithToken(api, admin, { username, role: 'operator' })).token;
}

const predict = (token: string, body: unknown) => api('POST', '/api/v1/twin/predict', { token, body });

describe('TWIN_ALERT_THRESHOLDS', () => {
  it('alerts on a prediction inside the manifest band (70..95) but below the override minimum, naming the override', async () => {
    // Prepare
    const token = await asNewUser('ovid-override');

    // Act: 345 °C gives ~73.6 % with its whole interval inside 70..95
    const res = await predict(token, row(345));

    // Assess
    expect(res.status).toBe(200);
    const [lo, hi] = res.json.confidence_interval as [number, number];
    expect(lo).toBeGreaterThan(70); // the manifest's band would not alert, even on the interval
    expect(hi).toBeLessThan(band.min);
    const messages = await alertsFor(t, 'ovid-override');
    expect(messages).toHaveLength(1);
    expect(messages[0]!.message).toMatchObject({ type: 'anomaly', rule: 'below_min', thresholds: band, prediction: res.json.prediction, requestId: requestIdOf(res) });
    // Severity from the distance to the override band: more than 10 % of its width below the minimum.
    expect(band.min - res.json.prediction).toBeGreaterThan(0.1 * (band.max - band.min));
    expect(messages[0]!.attributes).toMatchObject({ severity: 'critical', rule: 'below_min', model: modelName });
  });
});

describe('TWIN_ALERT_ON=interval', () => {
  it('alerts when the interval reaches outside the band although the prediction is inside it', async () => {
    // Prepare
    const token = await asNewUser('ivy-interval');

    // Act: 370 °C gives ~78.6 % with an interval whose lower end is ~76
    const res = await predict(token, row(370));

    // Assess
    expect(res.status).toBe(200);
    expect(res.json.prediction).toBeGreaterThanOrEqual(band.min);
    expect(res.json.confidence_interval[0]).toBeLessThan(band.min);
    const messages = await alertsFor(t, 'ivy-interval');
    expect(messages).toHaveLength(1);
    expect(messages[0]!.message).toMatchObject({
      type: 'anomaly',
      rule: 'below_min',
      thresholds: band,
      prediction: res.json.prediction,
      interval: res.json.confidence_interval,
      // The prediction itself is inside the band: the mildest severity.
      severity: 'warning',
    });
  });

  it('does not alert when the whole interval is inside the band', async () => {
    const token = await asNewUser('ines-inside');
    const res = await predict(token, row(360));
    expect(res.json.confidence_interval[0]).toBeGreaterThanOrEqual(band.min);
    expect(res.json.confidence_interval[1]).toBeLessThanOrEqual(band.max);
    expect(await alertsFor(t, 'ines-inside')).toEqual([]);
  });

  it('resolves once the interval is back inside the band', async () => {
    const token = await login(api, 'ivy-interval', 'pw-ivy-interval-0123456789');
    await predict(token, row(360));
    await predict(token, row(360));
    const messages = await alertsFor(t, 'ivy-interval');
    expect(messages.map((m) => m.message.type)).toEqual(['anomaly', 'resolved']);
    expect(messages[1]!.message).toMatchObject({ rule: 'below_min', severity: 'info', thresholds: band });
  });
});
