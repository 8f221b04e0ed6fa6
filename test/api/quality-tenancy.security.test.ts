import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localTableName } from '../../infra/local/seed.js';
import { userWithToken } from '../support/identity.js';
import { startFaultTwin, tableDef } from '../support/reliability.js';
import { countReads } from '../support/store-reads.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';

/**
 * A plant's drift and quality reads touch its own served rows only: another plant's heavy traffic on the same
 * platform-wide model (reactor-yield, served to every plant) changes nothing of what they read: the index
 * entries DynamoDB reads (ScannedCount, which it charges) and the items fetched, counted at the store's proxy.
 */

let t: Awaited<ReturnType<typeof startFaultTwin>>;
let api: Api;
let admin: string;
let north: string;
let south: string;
const predictions = localTableName(tableDef('Predictions'));
const model = 'reactor-yield';
const northRow = { temp: 358, pressure: 6, flow: 100 };

beforeAll(async () => {
  t = await startFaultTwin();
  api = apiClient(t.url);
  admin = await login(api);
  north = (await userWithToken(api, admin, { username: 'nora-north', role: 'operator', plant: 'north' })).token;
  south = (await userWithToken(api, admin, { username: 'sam-south', role: 'operator', plant: 'south' })).token;
  for (let i = 0; i < 4; i++) expect((await api('POST', '/api/v1/twin/predict', { token: north, body: { ...northRow, temp: 350 + i } })).status).toBe(200);
});

afterAll(async () => {
  await (t as TestTwin | undefined)?.stop();
});

/** North's quality view (drift reads its served rows) and a feedback by inputs (reads rows around a time). */
async function northReads() {
  return countReads(t.faults.dynamodb, predictions, async () => {
    const quality = await api('GET', `/api/v1/models/${model}/quality`, { token: north });
    expect(quality.status, quality.text).toBe(200);
    const feedback = await api('POST', `/api/v1/models/${model}/feedback`, {
      token: north,
      body: { observations: [{ inputs: { ...northRow, temp: 999 }, time: new Date(t.clock.now()).toISOString(), value: 80 }] },
    });
    expect(feedback.status, feedback.text).toBe(200);
    return quality.json;
  });
}

describe("another plant's traffic on a shared model", () => {
  it("does not change what plant north's drift and feedback reads touch", async () => {
    // Prepare: what north's reads touch before south serves anything.
    const before = await northReads();

    // Act: south serves 60 requests of the same model in the same hours.
    for (let i = 0; i < 60; i++) expect((await api('POST', '/api/v1/twin/predict', { token: south, body: { temp: 340 + (i % 30), pressure: 5, flow: 110 } })).status).toBe(200);
    const after = await northReads();
    const platform = await countReads(t.faults.dynamodb, predictions, () => api('GET', `/api/v1/models/${model}/quality`, { token: admin }));

    // Assert: the same queries, the same index entries read, the same items fetched: north's 4 for each of the two reads.
    expect(after.reads).toEqual(before.reads);
    expect(before.reads).toEqual({ queries: 2, scanned: 8, fetched: 8 });
    const drift = (view: typeof before.result) => view.drift[0].features.map((f: { feature: string; rows: number }) => [f.feature, f.rows]);
    expect(drift(after.result)).toEqual(drift(before.result));
    expect(drift(after.result)[0][1]).toBe(4);
    // South's rows are there (the platform admin's view reads every plant's): north's reads skipped them.
    expect(platform.reads.scanned).toBeGreaterThanOrEqual(64);
    expect(platform.reads.fetched).toBe(64);
  });
});
