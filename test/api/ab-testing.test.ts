import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelRouting } from '../../functions/core/ports.js';
import { chooseVersion, unitHash } from '../../functions/core/twin/routing.js';
import { createKey, createUser, keyToken } from '../support/identity.js';
import {
  activate,
  inParallel,
  modelName,
  publishNew,
  referenceVariant,
  row,
  servingStats,
  setRouting,
  startModelTwin,
  variantStats,
  type VariantStatsView,
} from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';

let t: TestTwin;
let api: Api;
let admin: string;

// Three versions whose scalers shift temp differently, so each answers differently for the same row;
// all three are in the 70..95 band for the rows used here (no alert traffic mixes in).
const A = '1.1.0'; // sees temp - 5
const B = '1.2.0'; // sees temp + 5
const SHADOW = '1.3.0'; // sees temp - 2

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  await publishNew(api, admin, await referenceVariant(A, { tempShift: 5 }));
  await publishNew(api, admin, await referenceVariant(B, { tempShift: -5 }));
  await publishNew(api, admin, await referenceVariant(SHADOW, { tempShift: 2 }));
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

interface Answer {
  version: string;
  prediction: number;
  fromCache: boolean;
  text: string;
}

async function predictAs(token: string, body: unknown): Promise<Answer> {
  const res = await api('POST', '/api/v1/twin/predict', { token, body });
  expect(res.status, res.text).toBe(200);
  expect(res.json.model.version).toBe(res.json.model_version);
  return { version: res.json.model_version as string, prediction: res.json.prediction as number, fromCache: res.json.from_cache as boolean, text: res.text };
}

/** The i-th row of a run: varied rows near the optimum (every version above keeps them in the band). */
const rowOf = (i: number) => row(350 + (i % 61) * 0.25, 5.5 + (i % 3) * 0.5, 95 + (i % 5) * 2.5);

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('random 50/50 split', () => {
  const n = 1000;
  let answers: Answer[];
  let stats: VariantStatsView[];

  beforeAll(async () => {
    await setRouting(api, admin, { variants: [{ version: A, weight: 0.5 }, { version: B, weight: 0.5 }], mode: 'random' });
    answers = await inParallel(n, 8, (i) => predictAs(admin, rowOf(i)));
    stats = await variantStats(api, admin);
  }, 300_000);

  it('sends each variant a binomial share of 1,000 requests', () => {
    // Each request picks A with p = 0.5 independently, so A's count is Binomial(1000, 0.5): mean 500,
    // sd = sqrt(1000 * 0.5 * 0.5) = sqrt(250) ≈ 15.8. We accept |count - 500| ≤ 4.5 sd ≈ 71. A correct
    // router leaves that band with probability ~7e-6 (two-sided normal tail at 4.5 sd): deterministic in
    // practice, yet it still catches a router that sends, say, 60/40 (100 off) or everything to one side.
    const bound = 4.5 * Math.sqrt(n * 0.5 * 0.5);
    const countA = answers.filter((a) => a.version === A).length;
    const countB = answers.filter((a) => a.version === B).length;
    expect(countA + countB).toBe(n);
    expect(Math.abs(countA - n / 2)).toBeLessThanOrEqual(bound);
    expect(Math.abs(countB - n / 2)).toBeLessThanOrEqual(bound);
  });

  it('answers each request from the version it names (same row and version → same prediction)', () => {
    const byRow = new Map<string, Map<string, number>>();
    answers.forEach((a, i) => {
      const key = JSON.stringify(rowOf(i));
      const versions = byRow.get(key) ?? new Map<string, number>();
      if (versions.has(a.version)) expect(a.prediction, `${a.version} ${key}`).toBe(versions.get(a.version));
      else versions.set(a.version, a.prediction);
      byRow.set(key, versions);
    });
    // Rows that both versions answered get different predictions: the split is real, not two names for one model.
    const onBoth = [...byRow.values()].filter((v) => v.size === 2);
    expect(onBoth.length).toBeGreaterThan(0);
    for (const v of onBoth) expect(v.get(A)).not.toBe(v.get(B));
  });

  it('stats per variant equal exactly what was sent: requests, rows, errors, mean prediction, cache hit rate', () => {
    for (const version of [A, B]) {
      const mine = answers.filter((a) => a.version === version);
      const s = servingStats(stats, version);
      expect(s, version).toBeDefined();
      expect(s).toMatchObject({ requests: mine.length, rows: mine.length, errors: 0, weight: 0.5, alerts: 0 });
      expect(Math.abs(s!.mean_prediction! - mean(mine.map((a) => a.prediction))), version).toBeLessThan(1e-9);
      expect(s!.cache_hit_rate).toBe(mine.filter((a) => a.fromCache).length / mine.length);
      expect(s!.latency_histogram.reduce((sum, b) => sum + b.count, 0)).toBe(mine.length);
    }
    // On a tie the first variant is the primary ('active'), the other a 'variant'.
    expect(servingStats(stats, A)!.role).toBe('active');
    expect(servingStats(stats, B)!.role).toBe('variant');
    // Nothing else served.
    expect(stats.filter((s) => s.requests > 0).map((s) => s.version).sort()).toEqual([A, B]);
  });
});

describe('sticky by principal', () => {
  const principals = 40;
  const repeats = 12;
  let routing: ModelRouting;
  let tokens: { id: string; token: string }[];
  let versions: string[][];

  beforeAll(async () => {
    routing = (await setRouting(api, admin, { variants: [{ version: A, weight: 0.5 }, { version: B, weight: 0.5 }], mode: 'sticky', sticky_by: 'principal' })).json.routing;
    // 40 principals: API keys (each key is its own principal, `key:<id>`), cheaper to make than users; an
    // owner may hold at most 10 active keys, so four operators own them.
    for (let o = 0; o < principals / 10; o++) await createUser(api, admin, { username: `sticky-owner-${o}`, role: 'operator' });
    tokens = await inParallel(principals, 8, async (i) => {
      const key = await createKey(api, admin, { name: `sticky-${i}`, scopes: ['twin:predict'], owner: `sticky-owner-${Math.floor(i / 10)}` });
      return { id: `key:${key.id}`, token: await keyToken(api, key.key) };
    });
    // The first 6 principals send 12 requests each (different rows), the others one request.
    versions = await inParallel(principals, 8, async (p) => {
      const count = p < 6 ? repeats : 1;
      const seen: string[] = [];
      for (let i = 0; i < count; i++) seen.push((await predictAs(tokens[p]!.token, rowOf(p * 7 + i))).version);
      return seen;
    });
  }, 300_000);

  it('gives each principal the same version on every request', () => {
    versions.slice(0, 6).forEach((seen, p) => {
      expect(seen, `principal ${p}`).toHaveLength(repeats);
      expect(new Set(seen).size, `principal ${p}: ${seen.join(',')}`).toBe(1);
    });
  });

  it("assigns by a stable hash of the principal's id (what every container computes alike)", () => {
    versions.forEach((seen, p) => expect(seen[0]).toBe(chooseVersion(modelName, routing, { id: tokens[p]!.id })));
  });

  it('splits 40 principals between both variants (not degenerate)', () => {
    // Key ids are random, so the count on A is Binomial(40, 0.5): sd = sqrt(10) ≈ 3.2; 4.5 sd ≈ 14.2, so each
    // side gets at least 6 of 40 unless the hash is badly skewed (or ignores the principal).
    const onA = versions.filter((seen) => seen[0] === A).length;
    expect(onA).toBeGreaterThanOrEqual(6);
    expect(principals - onA).toBeGreaterThanOrEqual(6);
  });
});

describe('sticky by plant', () => {
  /** Two plant names that the 50/50 split sends to different variants (found from the documented hash). */
  function plantsOnBothSides(): { plantA: string; plantB: string } {
    const candidates = Array.from({ length: 50 }, (_, i) => `plant-${i}`);
    const side = (plant: string) => unitHash(`${modelName}\u0000plant:${plant}`) < 0.5;
    const plantA = candidates.find(side);
    const plantB = candidates.find((p) => !side(p));
    if (!plantA || !plantB) throw new Error('no plants on both sides');
    return { plantA, plantB };
  }

  it('gives every user (and key) of one plant the same version, and another plant its own', async () => {
    // Prepare
    await setRouting(api, admin, { variants: [{ version: A, weight: 0.5 }, { version: B, weight: 0.5 }], mode: 'sticky', sticky_by: 'plant' });
    const { plantA, plantB } = plantsOnBothSides();
    const members: Record<string, string[]> = { [plantA]: [], [plantB]: [] };
    for (const plant of [plantA, plantB]) {
      for (const who of ['ann', 'bob']) {
        const user = await createUser(api, admin, { username: `${who}-${plant}`, role: 'operator', plant });
        members[plant]!.push(await login(api, user.username, user.password));
      }
      // A key owned by a plant user is its own principal but belongs to the plant.
      const key = await createKey(api, admin, { name: `line-${plant}`, scopes: ['twin:predict'], owner: `ann-${plant}` });
      members[plant]!.push(await keyToken(api, key.key));
    }

    // Act: each of the three principals of a plant sends 8 requests
    const seen: Record<string, string[]> = {};
    for (const plant of [plantA, plantB]) {
      seen[plant] = [];
      for (const token of members[plant]!) for (let i = 0; i < 8; i++) seen[plant]!.push((await predictAs(token, rowOf(i * 11))).version);
    }

    // Assess
    expect(new Set(seen[plantA]), plantA).toEqual(new Set([A]));
    expect(new Set(seen[plantB]), plantB).toEqual(new Set([B]));
  }, 120_000);
});

describe('shadow', () => {
  const n = 60;

  it('answers every request from the active version, copies each to the shadow, and records it as shadow', async () => {
    // Prepare: all traffic to 1.0.0 (which has served nothing yet in this file), 1.3.0 as shadow
    const routing = await setRouting(api, admin, { variants: [{ version: '1.0.0', weight: 1 }], shadow: SHADOW });
    expect(routing.json.routing).toMatchObject({ active: '1.0.0', shadow: SHADOW });
    const rows = Array.from({ length: n }, (_, i) => rowOf(i * 3));

    // Act
    const answers = await inParallel(n, 6, (i) => predictAs(admin, rows[i]));

    // Assess: answered by the active version; the shadow version is never named in a response
    expect(answers.every((a) => a.version === '1.0.0')).toBe(true);
    expect(answers.filter((a) => a.text.includes(SHADOW))).toEqual([]);
    const stats = await variantStats(api, admin);
    const shadow = stats.filter((s) => s.version === SHADOW);
    expect(shadow).toHaveLength(1);
    expect(shadow[0]).toMatchObject({ role: 'shadow', weight: 0, requests: n, rows: n, errors: 0, cache_hit_rate: 0 });
    expect(servingStats(stats, '1.0.0')).toMatchObject({ role: 'active', requests: n, rows: n });
    expect(Math.abs(servingStats(stats, '1.0.0')!.mean_prediction! - mean(answers.map((a) => a.prediction)))).toBeLessThan(1e-9);

    // The shadow really ran 1.3.0 on the same rows: its recorded mean is what 1.3.0 answers for them.
    await activate(api, admin, SHADOW);
    const batch = await api('POST', '/api/v1/twin/batch', { token: admin, body: { inputs: rows } });
    expect(batch.json.model_version).toBe(SHADOW);
    const shadowMean = mean((batch.json.results as { prediction: number }[]).map((r) => r.prediction));
    expect(Math.abs(shadow[0]!.mean_prediction! - shadowMean)).toBeLessThan(1e-9);
    expect(shadowMean).not.toBe(servingStats(stats, '1.0.0')!.mean_prediction);
  }, 120_000);
});
