import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsResponseSchema } from '../../functions/contracts.js';
import { heldBackWindowMs, startHeldBackTwin, type HeldBackTwin } from '../support/held-back.js';
import { userWithToken } from '../support/identity.js';

/**
 * GET /api/v1/alerts shows what the plant's alert cap held back (docs/api.md): with a cap of 2, north's five
 * breaching operators send 2 alerts and hold 3 back; north's viewer reads the count of the running window, then,
 * a window later, the same window as past beside the new one; a platform admin reads every plant's, each named.
 */

let h: HeldBackTwin;
let northViewer: string;
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  h = await startHeldBackTwin();
  northViewer = (await userWithToken(h.api, h.admin, { username: 'nell-viewer', role: 'viewer', plant: 'north' })).token;
}, 60_000);

afterAll(async () => {
  await h?.t.stop();
});

describe('GET /api/v1/alerts: the held-back count', () => {
  it('is zero before the cap is reached (an empty list, not absent)', async () => {
    const res = await h.api('GET', '/api/v1/alerts', { token: northViewer });
    expect(res.status, res.text).toBe(200);
    expect(res.json.held_back).toEqual({ window_seconds: 900, total_held: 0, windows: [] });
  });

  it("shows the plant's running window: 2 sent, 3 held back, the cap and the models", async () => {
    // Act
    await h.storm('north', 5);
    const res = await h.api('GET', '/api/v1/alerts', { token: northViewer });

    // Assert: the answer is the contract's, and says what a plant engineer needs.
    expect(res.status, res.text).toBe(200);
    expect(alertsResponseSchema.safeParse(res.json).success).toBe(true);
    expect(res.json.alerts).toHaveLength(2);
    expect(res.json.held_back).toEqual({
      window_seconds: 900,
      total_held: 3,
      windows: [{ plant: 'north', start: iso(h.windowStart), end: iso(h.windowStart + heldBackWindowMs), current: true, cap: 2, sent: 2, held: 3, models: ['reactor-yield'] }],
    });
  });

  it('keeps a past window (as stored, two days) beside the running one, newest first; ?model= changes neither', async () => {
    // Act: a window later, north holds back one more.
    h.clock.now += heldBackWindowMs;
    await h.storm('north', 3);
    const res = await h.api('GET', '/api/v1/alerts?model=reactor-yield&limit=1', { token: northViewer });

    // Assert
    expect(res.status, res.text).toBe(200);
    expect(res.json.held_back.total_held).toBe(4);
    expect(res.json.held_back.windows.map((w: { start: string; current: boolean; held: number }) => [w.start, w.current, w.held])).toEqual([
      [iso(h.windowStart + heldBackWindowMs), true, 1],
      [iso(h.windowStart), false, 3],
    ]);
  });

  it("a platform admin sees each plant's windows, named", async () => {
    // Act
    await h.storm('south', 4);
    const res = await h.api('GET', '/api/v1/alerts', { token: h.admin });

    // Assert
    expect(res.status, res.text).toBe(200);
    expect(res.json.held_back.windows.map((w: { plant: string; held: number; current: boolean }) => [w.plant, w.held, w.current])).toEqual([
      ['north', 1, true],
      ['south', 2, true],
      ['north', 3, false],
    ]);
    expect(res.json.held_back.total_held).toBe(6);
  });
});
