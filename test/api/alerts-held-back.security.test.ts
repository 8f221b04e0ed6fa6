import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHeldBackTwin, type HeldBackTwin } from '../support/held-back.js';
import { createKey, keyToken, userWithToken } from '../support/identity.js';

/**
 * The held-back count is the plant's own: while north's cap holds 3 of its alerts back, nobody of south (viewer,
 * admin, an API key, with or without ?model=) learns anything of it, not even that a window held something back;
 * north's own API key reads north's. Each plant's cap is its own: south's storm leaves north's count unchanged.
 */

let h: HeldBackTwin;
let southViewer: string;
let southAdmin: string;
let southKey: string;
let northKey: string;

beforeAll(async () => {
  h = await startHeldBackTwin();
  southViewer = (await userWithToken(h.api, h.admin, { username: 'stan-viewer', role: 'viewer', plant: 'south' })).token;
  southAdmin = (await userWithToken(h.api, h.admin, { username: 'sara-admin', role: 'admin', plant: 'south' })).token;
  southKey = await keyToken(h.api, (await createKey(h.api, southAdmin, { name: 'south board', scopes: ['twin:read'] })).key);
  const northAdmin = (await userWithToken(h.api, h.admin, { username: 'nico-admin', role: 'admin', plant: 'north' })).token;
  northKey = await keyToken(h.api, (await createKey(h.api, northAdmin, { name: 'north board', scopes: ['twin:read'] })).key);
  await h.storm('north', 5);
}, 60_000);

afterAll(async () => {
  await h?.t.stop();
});

describe("another plant's held-back count", () => {
  it('is never shown to south: viewer, admin and key read an empty count and none of north’s alerts', async () => {
    for (const token of [southViewer, southAdmin, southKey]) {
      for (const path of ['/api/v1/alerts', '/api/v1/alerts?model=reactor-yield', '/api/v1/alerts?limit=200']) {
        const res = await h.api('GET', path, { token });
        expect(res.status, res.text).toBe(200);
        expect(res.json.held_back).toEqual({ window_seconds: 900, total_held: 0, windows: [] });
        expect(res.json.alerts).toEqual([]);
        expect(res.text).not.toContain('north');
      }
    }
  });

  it("north's own key reads north's count", async () => {
    const res = await h.api('GET', '/api/v1/alerts', { token: northKey });
    expect(res.status, res.text).toBe(200);
    expect(res.json.held_back.windows.map((w: { plant: string; held: number }) => [w.plant, w.held])).toEqual([['north', 3]]);
  });

  it("south's own storm is counted for south only; north's count is unchanged", async () => {
    // Act
    await h.storm('south', 3);
    const south = await h.api('GET', '/api/v1/alerts', { token: southViewer });
    const north = await h.api('GET', '/api/v1/alerts', { token: northKey });

    // Assert
    expect(south.json.held_back.windows.map((w: { plant: string; held: number }) => [w.plant, w.held])).toEqual([['south', 1]]);
    expect(north.json.held_back.windows.map((w: { plant: string; held: number }) => [w.plant, w.held])).toEqual([['north', 3]]);
  });

  it('refuses without a token, as every read route does', async () => {
    expect((await h.api('GET', '/api/v1/alerts')).status).toBe(401);
  });
});
