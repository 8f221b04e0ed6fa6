import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiClient, login, startTestTwin, type Api, type TestTwin } from '../support/twin.js';

/**
 * The EMF metrics the dashboard and alarms read, as the functions print them (Powertools prints one JSON
 * document per invocation; CloudWatch turns it into metrics). Both predict routes must count their
 * predictions and cache hits: `POST /predict` nests its answer under `result`.
 */

// Before any import builds the Metrics singleton: EMF on, printed through the global console (Powertools'
// dev mode), where this file reads it.
vi.hoisted(() => {
  process.env.TWIN_METRICS = 'on';
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  process.env.POWERTOOLS_DEV = 'true';
});

interface Emf {
  _aws: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

let t: TestTwin;
let api: Api;
let admin: string;
const lines: string[] = [];

beforeAll(async () => {
  t = await startTestTwin();
  api = apiClient(t.url);
  admin = await login(api);
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(...args.map(String));
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await t?.stop();
});

/** The EMF documents printed while `act` ran. */
async function emfDuring(act: () => Promise<void>): Promise<Emf[]> {
  const from = lines.length;
  await act();
  return lines
    .slice(from)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as unknown];
      } catch {
        return [];
      }
    })
    .filter((doc): doc is Emf => typeof doc === 'object' && doc !== null && '_aws' in doc);
}

function metric(docs: Emf[], name: string): Emf[] {
  return docs.filter((d) => d._aws.CloudWatchMetrics.some((m) => m.Metrics.some((x) => x.Name === name)));
}

describe.each([
  ['/api/v1/twin/predict', { temp: 361, pressure: 6, flow: 100 }],
  ['/predict', { temp: 362, pressure: 6, flow: 100 }],
])('POST %s', (path, row) => {
  it('emits Predictions with the model and version, then ModelCacheHits for the same row', async () => {
    // Prepare: a row no other test predicts, so the first answer is computed and the second cached.
    // Act
    const first = await emfDuring(async () => {
      expect((await api('POST', path, { token: admin, body: row })).status).toBe(200);
    });
    const second = await emfDuring(async () => {
      expect((await api('POST', path, { token: admin, body: row })).status).toBe(200);
    });
    // Assess
    const predictions = metric(first, 'Predictions');
    expect(predictions).toHaveLength(1);
    expect(predictions[0]).toMatchObject({ Predictions: 1, model: 'reactor-yield', modelVersion: '1.0.0' });
    expect(metric(first, 'ModelCacheHits')).toHaveLength(0);
    expect(metric(second, 'Predictions')).toHaveLength(1);
    expect(metric(second, 'ModelCacheHits')).toHaveLength(1);
  });
});

it('GET /health names the model version but counts no prediction', async () => {
  const docs = await emfDuring(async () => {
    expect((await api('GET', '/health')).status).toBe(200);
  });
  expect(metric(docs, 'Requests').length).toBeGreaterThan(0);
  expect(metric(docs, 'Predictions')).toHaveLength(0);
});
