import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf, userWithToken } from '../support/identity.js';
import {
  alertsFor,
  inBandRow,
  inParallel,
  modelName,
  outOfBandRow,
  row,
  servingStats,
  sinkMessages,
  startModelTwin,
  variantStats,
  type AlertMessage,
} from '../support/models.js';
import { apiClient, login, type Api, type ApiResponse, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;
/** The burst principal: an operator of plant north. */
let north: string;
let second: string;
let third: string;
let fourth: string;

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  north = (await userWithToken(api, admin, { username: 'nora-north', role: 'operator', plant: 'north' })).token;
  second = (await userWithToken(api, admin, { username: 'sam-second', role: 'operator', plant: 'south' })).token;
  third = (await userWithToken(api, admin, { username: 'tia-third', role: 'operator' })).token;
  fourth = (await userWithToken(api, admin, { username: 'uma-fourth', role: 'operator' })).token;
});

afterAll(async () => {
  if (t) t.twin.sns.failing = false;
  await t?.stop();
});

const predict = (token: string, body: unknown) => api('POST', '/api/v1/twin/predict', { token, body });
const topicArn = 'arn:aws:sns:us-east-1:000000000000:twinserve-local-alerts';

/** Out-of-band rows (≈10..33 % yield, all below the 70 % minimum by far). */
const lowRow = (i: number) => row(300 + (i % 21), 6, 100);

describe('a burst of out-of-band predictions from one principal', () => {
  const n = 200;
  let burst: ApiResponse[];

  beforeAll(async () => {
    // 200 predictions over 8 concurrent connections, all as nora-north.
    burst = await inParallel(n, 8, (i) => predict(north, lowRow(i)));
  }, 300_000);

  it('answers every prediction', () => {
    expect(burst.map((r) => r.status)).toEqual(Array(n).fill(200));
    expect(burst.every((r) => r.json.prediction < 70)).toBe(true);
  });

  it('publishes exactly one alert to SNS, with the documented message and attributes', async () => {
    // Act
    const messages = await alertsFor(t, 'nora-north');

    // Assess
    expect(messages).toHaveLength(1);
    const [alert] = messages;
    expect(alert!.topicArn).toBe(topicArn);
    expect(alert!.attributes).toEqual({ severity: 'critical', model: modelName, rule: 'below_min', kind: 'alert', plant: 'north' });
    expect(alert!.subject).toBe('[CRITICAL] reactor-yield: yield below min');
    const body = alert!.message;
    expect(body).toMatchObject({
      type: 'anomaly',
      kind: 'alert',
      model: modelName,
      version: '1.0.0',
      principal: 'nora-north',
      plant: 'north',
      rule: 'below_min',
      severity: 'critical',
      thresholds: { min: 70, max: 95 },
    });
    // The row, prediction and interval are those of the request that raised it.
    const source = burst.find((r) => requestIdOf(r) === body.requestId);
    expect(source, 'the alert names one of the burst requests').toBeDefined();
    const index = burst.indexOf(source!);
    expect(body.inputs).toEqual(lowRow(index));
    expect(body.prediction).toBe(source!.json.prediction);
    expect(body.interval).toEqual(source!.json.confidence_interval);
  });

  it('counts the one alert in the version stats', async () => {
    expect(servingStats(await variantStats(api, admin), '1.0.0')!.alerts).toBe(1);
  });

  it('sends exactly one "resolved" when predictions return to the band (concurrent in-band requests)', async () => {
    // Act
    const back = await inParallel(20, 4, () => predict(north, inBandRow));

    // Assess
    expect(back.every((r) => r.status === 200 && r.json.prediction >= 70 && r.json.prediction <= 95)).toBe(true);
    const messages = await alertsFor(t, 'nora-north');
    expect(messages.map((m) => m.message.type)).toEqual(['anomaly', 'resolved']);
    const resolved = messages[1]!;
    expect(resolved.attributes).toEqual({ severity: 'info', model: modelName, rule: 'below_min', kind: 'resolved', plant: 'north' });
    expect(resolved.subject).toBe('[RESOLVED] reactor-yield: yield below min');
    expect(resolved.message).toMatchObject({ kind: 'resolved', severity: 'info', rule: 'below_min', principal: 'nora-north', plant: 'north', inputs: inBandRow });
    expect(back.map((r) => requestIdOf(r))).toContain(resolved.message.requestId);
  });

  it('sends nothing more while predictions stay in the band', async () => {
    for (let i = 0; i < 5; i++) expect((await predict(north, inBandRow)).status).toBe(200);
    expect(await alertsFor(t, 'nora-north')).toHaveLength(2);
  });
});

describe('per principal', () => {
  it('a second principal breaching the same rule gets its own alert', async () => {
    // Act
    const res = await predict(second, outOfBandRow);

    // Assess
    expect(res.status).toBe(200);
    const mine = await alertsFor(t, 'sam-second');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.message).toMatchObject({ type: 'anomaly', principal: 'sam-second', plant: 'south', rule: 'below_min', inputs: outOfBandRow, prediction: res.json.prediction });
    // Its cooldown is its own: more breaches send nothing more, and nora-north's history is untouched.
    for (let i = 0; i < 3; i++) await predict(second, lowRow(i));
    expect(await alertsFor(t, 'sam-second')).toHaveLength(1);
    expect(await alertsFor(t, 'nora-north')).toHaveLength(2);
  });
});

describe('SNS unavailable', () => {
  it('never fails a prediction; sends nothing while down; the next breach after recovery sends the alert', async () => {
    // Prepare
    const before = (await sinkMessages(t)).length;
    t.twin.sns.failing = true;

    // Act: breaches while SNS answers 500
    let down: ApiResponse[];
    try {
      down = [];
      for (let i = 0; i < 4; i++) down.push(await predict(third, lowRow(i)));
    } finally {
      t.twin.sns.failing = false;
    }

    // Assess: every prediction answered; nothing published
    expect(down.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(down.every((r) => typeof r.json.prediction === 'number' && r.json.model_version === '1.0.0')).toBe(true);
    expect((await sinkMessages(t)).length).toBe(before);

    // Act: SNS is back; the next breach retries and sends, later ones are in the cooldown
    const recovered = await predict(third, outOfBandRow);
    for (let i = 0; i < 3; i++) await predict(third, lowRow(i + 5));

    // Assess
    expect(recovered.status).toBe(200);
    const mine = await alertsFor(t, 'tia-third');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.message).toMatchObject({ type: 'anomaly', principal: 'tia-third', requestId: requestIdOf(recovered), inputs: outOfBandRow });
    expect(mine[0]!.message.plant).toBeUndefined();
  }, 120_000);
});

describe('GET /api/v1/alerts', () => {
  type Event = Omit<AlertMessage, 'type'>;

  it('lists the recent events newest first: what was published, and nothing that failed to publish', async () => {
    // Act
    const res = await api('GET', '/api/v1/alerts', { token: admin });

    // Assess
    expect(res.status, res.text).toBe(200);
    const events = res.json.alerts as Event[];
    expect(events.map((e) => [e.principal, e.kind])).toEqual([
      ['tia-third', 'alert'],
      ['sam-second', 'alert'],
      ['nora-north', 'resolved'],
      ['nora-north', 'alert'],
    ]);
    const published = (await sinkMessages(t)).map((m) => (m.message as AlertMessage).id);
    expect(events.map((e) => e.id).sort()).toEqual([...published].sort());
    expect(events[3]).toMatchObject({ model: modelName, version: '1.0.0', rule: 'below_min', severity: 'critical', thresholds: { min: 70, max: 95 } });
    expect([...events].map((e) => e.time)).toEqual([...events].map((e) => e.time).sort().reverse());
  });

  it('honours limit and model', async () => {
    const limited = await api('GET', '/api/v1/alerts?limit=2', { token: admin });
    expect((limited.json.alerts as Event[]).map((e) => e.principal)).toEqual(['tia-third', 'sam-second']);
    // A model that was never published has no alerts to list: 404, as on every other model route (and as a
    // model the caller may not see; test/api/models.tenancy.security.test.ts).
    const other = await api('GET', '/api/v1/alerts?model=other-model', { token: admin });
    expect(other.status, other.text).toBe(404);
  });

  it("shows a plant's principals only their plant's events", async () => {
    const fromNorth = await api('GET', '/api/v1/alerts', { token: north });
    expect(new Set((fromNorth.json.alerts as Event[]).map((e) => e.plant))).toEqual(new Set(['north']));
    const fromSouth = await api('GET', '/api/v1/alerts', { token: second });
    expect((fromSouth.json.alerts as Event[]).map((e) => e.principal)).toEqual(['sam-second']);
  });
});

// Last, so that its events do not change the history listed above.
describe('SNS unavailable, then back in band', () => {
  it('sends no "resolved" for an alert that was never published (breach while SNS was down, then back in band)', async () => {
    // Prepare: uma-fourth breaches only while SNS fails, so no alert about her ever reaches subscribers
    t.twin.sns.failing = true;
    try {
      expect((await predict(fourth, outOfBandRow)).status).toBe(200);
    } finally {
      t.twin.sns.failing = false;
    }

    // Act: SNS is back and her predictions return to the band
    for (let i = 0; i < 3; i++) expect((await predict(fourth, inBandRow)).status).toBe(200);

    // Assess: nothing to resolve; subscribers never heard of an alert
    expect((await alertsFor(t, 'uma-fourth')).map((m) => m.message.type)).toEqual([]);
  }, 120_000);
});
