import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileModelStore } from '../../functions/adapters/file-model-store.js';
import type { Principal } from '../../functions/core/auth/tokens.js';
import type { AlertClaim, AlertEvent, AlertStateStore, ModelStore } from '../../functions/core/ports.js';
import { QualityAlerts } from '../../functions/core/quality/alerts.js';
import type { PredictionKey, PredictionLog, QualityBucket, QualityStore, RecalibrationRecord, ServedCursor, ServedPair, StoredCalibration, StoredPrediction } from '../../functions/core/quality/ports.js';
import { QualityService } from '../../functions/core/quality/service.js';
import { ModelRegistry } from '../../functions/core/twin/registry.js';
import { repoRoot } from '../../infra/local/twin.js';
import { trainRandomForest } from '../../models/tools/forest.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { buildPackage } from '../../models/tools/package-model.js';
import { Prng } from '../../models/tools/prng.js';

/** The quality service with in-memory stores, the shipped reference model and an injected clock. */

class MemoryPredictionLog implements PredictionLog {
  readonly rows = new Map<string, StoredPrediction>();
  async record(rows: readonly StoredPrediction[]) {
    for (const r of rows) this.rows.set(`${r.requestId}#${r.row}`, { ...r });
  }
  async get(keys: readonly PredictionKey[]) {
    // As the port says: a feedback join reads no inputs.
    return keys.map((k) => this.rows.get(`${k.requestId}#${k.row}`)).filter((r): r is StoredPrediction => !!r).map((r) => ({ ...r, inputs: {} }));
  }
  async byTime(model: string, from: string, to: string, limit: number, plant?: string | null) {
    return [...this.rows.values()].filter((r) => r.model === model && r.time >= from && r.time <= to && (plant === undefined || (r.plant ?? null) === plant)).sort((a, b) => a.time.localeCompare(b.time)).slice(-limit);
  }
  /** Every by-time range the schedule read: [model, from, to]. */
  readonly pairReads: [string, string, string][] = [];
  async servedPairs(model: string, from: string, to: string) {
    this.pairReads.push([model, from, to]);
    const pairs = new Map<string, ServedPair>();
    for (const r of this.rows.values()) {
      const seen = pairs.get(`${r.version}|${r.plant ?? ''}`);
      if (r.model === model && r.time >= from && r.time <= to && (!seen || seen.last < r.time)) pairs.set(`${r.version}|${r.plant ?? ''}`, { version: r.version, ...(r.plant ? { plant: r.plant } : {}), last: r.time });
    }
    return [...pairs.values()];
  }
  async observe(requestId: string, values: readonly { row: number; actual: number }[], at: string): Promise<('stored' | 'duplicate')[]> {
    return values.map(({ row: index, actual }) => {
      const row = this.rows.get(`${requestId}#${index}`);
      if (!row || row.actual !== undefined) return 'duplicate';
      row.actual = actual;
      row.observedAt = at;
      return 'stored';
    });
  }
}

class MemoryQualityStore implements QualityStore {
  readonly buckets = new Map<string, QualityBucket>();
  readonly recal = new Map<string, RecalibrationRecord>();
  readonly calib = new Map<string, StoredCalibration>();
  async add(_model: string, buckets: readonly QualityBucket[]) {
    for (const b of buckets) {
      const key = `${b.hour}|${b.version}|${b.plant}`;
      const c = this.buckets.get(key) ?? { ...b, count: 0, sumErr: 0, sumAbs: 0, sumSq: 0, withInterval: 0, covered: 0 };
      for (const f of ['count', 'sumErr', 'sumAbs', 'sumSq', 'withInterval', 'covered'] as const) c[f] += b[f];
      this.buckets.set(key, c);
    }
  }
  async read(_model: string, fromHour: string) {
    return [...this.buckets.values()].filter((b) => b.hour === 'all' || b.hour >= fromHour);
  }
  async getRecalibration(_m: string, v: string) {
    return this.recal.get(v);
  }
  async putRecalibration(_m: string, record: RecalibrationRecord, expected: number) {
    if ((this.recal.get(record.version)?.revision ?? 0) !== expected) return false;
    this.recal.set(record.version, record);
    return true;
  }
  async getCalibration(_m: string, v: string) {
    return this.calib.get(v);
  }
  async putCalibration(_m: string, v: string, c: StoredCalibration) {
    this.calib.set(v, c);
  }
  readonly cursors = new Map<string, ServedCursor>();
  async getServedCursor(model: string) {
    return this.cursors.get(model);
  }
  async putServedCursor(model: string, cursor: ServedCursor, expected: number) {
    if ((this.cursors.get(model)?.revision ?? 0) !== expected) return false;
    this.cursors.set(model, structuredClone(cursor));
    return true;
  }
}

class MemoryAlertState implements AlertStateStore {
  readonly items = new Map<string, { state: 'firing' | 'resolved'; lastSent: string }>();
  async claim(key: string, now: string, cooldownSeconds: number): Promise<AlertClaim | undefined> {
    const current = this.items.get(key);
    if (current && Date.parse(current.lastSent) > Date.parse(now) - cooldownSeconds * 1000) return undefined;
    this.items.set(key, { state: 'firing', lastSent: now });
    return current ? { at: now, previous: { ...current } } : { at: now };
  }
  /** As the store: the cooldown stands; a firing alert stays firing, anything else is not firing (nothing resolves it). */
  async suppress(key: string, claim: AlertClaim) {
    if (this.items.get(key)?.lastSent === claim.at) this.items.set(key, { state: claim.previous?.state === 'firing' ? 'firing' : 'resolved', lastSent: claim.at });
  }
  async release(key: string, claim: AlertClaim) {
    if (claim.previous) this.items.set(key, claim.previous);
    else this.items.delete(key);
  }
  async resolve(key: string) {
    const c = this.items.get(key);
    if (c?.state !== 'firing') return false;
    this.items.set(key, { ...c, state: 'resolved' });
    return true;
  }
  async unresolve() {}
  async isFiring(key: string) {
    return this.items.get(key)?.state === 'firing';
  }
  async recordEvent(): Promise<'stored' | 'duplicate'> {
    return 'stored';
  }
  async recentEvents(): Promise<AlertEvent[]> {
    return [];
  }
}

const files = new FileModelStore(join(repoRoot, 'models'));
const modelStore: ModelStore = {
  getPackage: (n, v) => files.getPackage(n, v),
  getRouting: async () => ({ schemaVersion: 1, active: '1.0.0', updated: '2031-01-01T00:00:00Z' }),
  putRouting: async () => undefined,
  putPackage: async () => false,
  listVersions: async () => ['1.0.0'],
  listModels: async () => ['reactor-yield'],
  // Published before owners existed: platform-wide.
  getOwner: async () => undefined,
  claimOwner: async (_name, owner) => owner,
};
const registry = new ModelRegistry(modelStore, { routingCacheMs: 60_000 });
afterAll(() => registry.release());

const operator = (plant?: string): Principal => ({ id: `op-${plant ?? 'x'}`, username: 'op', role: 'operator', scopes: new Set(['twin:feedback']), type: 'user', ...(plant ? { plant } : {}) });

function setup(options: { recalibration?: boolean } = {}) {
  let now = Date.parse('2031-03-01T10:30:00Z');
  const log = new MemoryPredictionLog();
  const store = new MemoryQualityStore();
  const published: { attributes: Record<string, string> }[] = [];
  const alerts = new QualityAlerts(new MemoryAlertState(), { publish: async (m) => void published.push(m) }, { cooldownSeconds: 3600, now: () => now });
  const service = new QualityService(log, store, registry, alerts, { now: () => now, recalibration: options.recalibration ?? true, minAlertRows: 30 });
  const clock = { advance: (ms: number) => (now += ms), now: () => now };
  return { log, store, service, clock, published };
}

/** Stores n served rows as the twin would (prediction 80, interval 80 ± half, level 0.9). */
async function serve(log: MemoryPredictionLog, at: number, n: number, plant?: string, prefix = 'r', half = 1): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${at}-${i}`);
  await log.record(ids.map((id) => ({ requestId: id, row: 0, model: 'reactor-yield', version: '1.0.0', ...(plant ? { plant } : {}), principal: 'op', time: new Date(at).toISOString(), inputs: { temp: 360, pressure: 6, flow: 100 }, prediction: 80, interval: [80 - half, 80 + half] as [number, number], level: 0.9, ttl: Math.floor(at / 1000) + 30 * 86_400 })));
  return ids;
}

describe('QualityService', () => {
  it('windows by prediction time with an injected clock; a late value is flagged; an expired one refused', async () => {
    const { log, service, clock } = setup();
    const old = await serve(log, clock.now() - 3 * 86_400_000, 1);
    const recent = await serve(log, clock.now() - 10 * 60_000, 1);
    const gone = await serve(log, clock.now() - 40 * 86_400_000, 1);
    const res = await service.feedback(operator(), 'reactor-yield', { observations: [{ request_id: old[0]!, value: 82 }, { request_id: recent[0]!, value: 80.5 }, { request_id: gone[0]!, value: 1 }] });
    expect(res.results.map((r) => [r.status, r.late ?? false])).toEqual([['accepted', true], ['accepted', false], ['expired', false]]);
    const view = await service.quality(operator(), 'reactor-yield');
    const w = view.versions[0]!.windows as Record<string, { count: number; mae: number | null; bias: number | null; coverage: number | null }>;
    expect([w.hour!.count, w.day!.count, w['7d']!.count, w.all!.count]).toEqual([1, 1, 2, 2]);
    expect(w.all!.mae).toBeCloseTo(1.25, 10);
    expect(w.all!.bias).toBeCloseTo(-1.25, 10);
    expect(w.all!.coverage).toBe(0.5);
    // Windows are hour-granular: 24 h later the row's hour still starts the day window; 25 h later it has left it.
    clock.advance(86_400_000);
    expect(((await service.quality(operator(), 'reactor-yield')).versions[0]!.windows as Record<string, { count: number }>).day!.count).toBe(1);
    clock.advance(3_600_000);
    const later = (await service.quality(operator(), 'reactor-yield')).versions[0]!.windows as Record<string, { count: number }>;
    expect([later.hour!.count, later.day!.count, later['7d']!.count]).toEqual([0, 0, 2]);
  });

  it("a clock stepped back does not stretch the serving state's cache: the factor is read again at once", async () => {
    // Prepare: the state is cached (factor 1) for its minute.
    const { store, service, clock } = setup();
    expect((await service.serving('reactor-yield', '1.0.0')).factor).toBe(1);
    store.recal.set('1.0.0', { version: '1.0.0', factor: 1.5, updates: 1, misses: 0, updated: new Date(clock.now()).toISOString(), revision: 1 });

    // Act: the clock steps back an hour (an entry from its future); before the fix it held for 61 minutes.
    clock.advance(-3_600_000);
    const after = await service.serving('reactor-yield', '1.0.0');

    // Assess
    expect(after.factor).toBe(1.5);
  });

  it('recalibrates the width from feedback so coverage tracks the level, and not at all when switched off', async () => {
    for (const on of [true, false]) {
      const { log, service, clock } = setup({ recalibration: on });
      const rng = new Prng(4);
      // The calibrated half-width (1) is too narrow: the measured values scatter with sd 1. Each round serves
      // rows with the current factor (as the twin does), then their lab results arrive.
      const late: boolean[] = [];
      for (let round = 0; round < 60; round++) {
        const { factor } = await service.serving('reactor-yield', '1.0.0');
        const ids = await serve(log, clock.now() - 60_000, 50, undefined, `r${round}-`, factor);
        const values = ids.map(() => 80 + rng.normal());
        if (round >= 40) late.push(...values.map((v) => Math.abs(v - 80) <= factor));
        await service.feedback(operator(), 'reactor-yield', { observations: ids.map((id, i) => ({ request_id: id, value: values[i]! })) });
        clock.advance(120_000);
      }
      const state = await service.serving('reactor-yield', '1.0.0');
      const coverage = late.filter(Boolean).length / late.length;
      if (on) {
        // Settles near 1.645 (the 90 % quantile of |N(0,1)|); the last third's coverage is near 90 %.
        expect(state.factor).toBeGreaterThan(1.4);
        expect(state.factor).toBeLessThan(1.95);
        expect(coverage).toBeGreaterThan(0.85);
        expect(coverage).toBeLessThan(0.95);
      } else {
        expect(state.factor).toBe(1);
        expect(coverage).toBeLessThan(0.75);
      }
      const view = await service.quality(operator(), 'reactor-yield');
      expect(view.recalibration[0]).toMatchObject({ version: '1.0.0', enabled: on, updates: on ? 3000 : 0 });
    }
  });

  it('alerts on low coverage once per cooldown across feedback calls, per plant, and resolves once back in band', async () => {
    const { log, service, clock, published } = setup({ recalibration: false });
    const send = async (plant: string | undefined, inside: boolean) => {
      const ids = await serve(log, clock.now() - 60_000, 40, plant, inside ? 'in' : 'out');
      await service.feedback(operator(plant), 'reactor-yield', { observations: ids.map((id) => ({ request_id: id, value: inside ? 80 : 90 })) });
    };
    for (let i = 0; i < 4; i++) {
      await send('north', false);
      clock.advance(60_000);
    }
    const coverage = () => published.filter((m) => m.attributes.rule === 'coverage_low');
    expect(coverage().map((m) => m.attributes.kind)).toEqual(['quality']);
    await send('south', false);
    expect(coverage().length).toBe(2);
    // North's day coverage recovers above 0.8 with many rows inside the interval: one resolved message.
    for (let i = 0; i < 20; i++) await send('north', true);
    expect(coverage().map((m) => m.attributes.kind)).toEqual(['quality', 'quality', 'quality_resolved']);
  });

  it('reports another plant’s prediction as unknown and keeps each plant’s figures to itself', async () => {
    const { log, service, clock } = setup();
    const ids = await serve(log, clock.now() - 60_000, 2, 'north');
    const res = await service.feedback(operator('south'), 'reactor-yield', { observations: [{ request_id: ids[0]!, value: 80 }] });
    expect(res.results[0]!.status).toBe('unknown');
    await service.feedback(operator('north'), 'reactor-yield', { observations: [{ request_id: ids[1]!, value: 80 }] });
    expect((await service.quality(operator('south'), 'reactor-yield')).plants).toEqual([]);
    expect((await service.quality(operator('north'), 'reactor-yield')).plants.map((p) => p.plant)).toEqual(['north']);
  });
});

describe('QualityService.evaluate (the scheduled evaluation)', () => {
  /** A small forest packaged with calibration data: its manifest carries each feature's histogram (drift). */
  async function driftModel(): Promise<ModelStore> {
    const rng = new Prng(31);
    const rows = (n: number) => Array.from({ length: n }, () => [rng.uniform(0, 10), rng.uniform(0, 1)]);
    const trainX = rows(300);
    const forest = trainRandomForest(trainX, trainX.map(([x, z]) => x! + z!), { nTrees: 4, maxDepth: 4, minSamplesLeaf: 5, seed: 3 });
    const calib = rows(200);
    const built = await buildPackage({
      onnx: exportForestOnnx(forest, { inputName: 'input', outputName: 'y' }),
      spec: { name: 'drifty', version: '1.0.0', modelType: 'RandomForestRegressor', target: { name: 'y', unit: '1' }, features: [{ name: 'x', unit: '1', min: 0, max: 10 }, { name: 'z', unit: '1', min: 0, max: 1 }], alerts: { min: -100, max: 100 } },
      calibration: `x,z,y\n${calib.map(([x, z]) => `${x},${z},${x! + z!}`).join('\n')}\n`,
      created: '2031-01-01',
    });
    expect(built.manifest.features[0]!.histogram).toBeDefined();
    return { ...modelStore, listModels: async () => ['drifty', 'reactor-yield'], getPackage: async (n, v) => (n === 'drifty' ? { manifest: built.manifest, bytes: built.model } : files.getPackage(n, v)) };
  }

  function setupWith(store: ModelStore) {
    let now = Date.parse('2031-03-01T10:30:00Z');
    const log = new MemoryPredictionLog();
    const quality = new MemoryQualityStore();
    const published: { attributes: Record<string, string>; body: string }[] = [];
    const reg = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => now });
    const alerts = new QualityAlerts(new MemoryAlertState(), { publish: async (m) => void published.push(m) }, { cooldownSeconds: 3600, now: () => now });
    const service = new QualityService(log, quality, reg, alerts, { now: () => now, recalibration: false, minAlertRows: 30 });
    return { log, quality, service, published, reg, clock: { advance: (ms: number) => (now += ms), now: () => now } };
  }

  /** n rows of `drifty` served at `at` for `plant`, x drawn from lo..hi (the calibration spread x over 0..10). */
  async function serveDrifty(log: MemoryPredictionLog, at: number, n: number, lo: number, hi: number, plant?: string) {
    const rng = new Prng(at % 1000);
    await log.record(
      Array.from({ length: n }, (_, i) => ({ requestId: `d${plant ?? "-"}${at}-${i}`, row: 0, model: 'drifty', version: '1.0.0', ...(plant ? { plant } : {}), principal: 'op', time: new Date(at).toISOString(), inputs: { x: rng.uniform(lo, hi), z: rng.uniform(0, 1) }, prediction: 1, interval: null, level: null, ttl: Math.floor(at / 1000) + 30 * 86_400 })),
    );
  }

  it('alerts on input drift with no feedback at all, once per cooldown however often it runs, per plant, and resolves when the inputs come back', async () => {
    const { log, service, published, reg, clock } = setupWith(await driftModel());
    try {
      // Prepare: north's inputs all sit in the top tenth of x's calibration range; south's are as calibrated.
      await serveDrifty(log, clock.now() - 60_000, 200, 9, 10, 'north');
      await serveDrifty(log, clock.now() - 60_000, 200, 0, 10, 'south');
      // Act: the schedule runs every 5 minutes for an hour.
      const runs = [];
      for (let i = 0; i < 12; i++) {
        runs.push(await service.evaluate());
        clock.advance(5 * 60_000);
      }
      // Assess: every run judged both plants of drifty (reactor-yield has no rows: nothing to judge).
      expect(runs[0]).toEqual({ models: 2, checked: 2, failed: 0 });
      const drift = () => published.filter((m) => m.attributes.rule === 'input_drift').map((m) => [m.attributes.kind, (JSON.parse(m.body) as { plant?: string; detail: { feature: string } }).plant, (JSON.parse(m.body) as { detail: { feature: string } }).detail.feature]);
      expect(drift()).toEqual([['quality', 'north', 'x']]);
      // The cooldown (an hour) has passed and north still drifts: one reminder, not one per run.
      clock.advance(5 * 60_000);
      await service.evaluate();
      await service.evaluate();
      expect(drift()).toEqual([['quality', 'north', 'x'], ['quality', 'north', 'x']]);
      // A day later north's inputs are back in the calibrated spread: one resolved message.
      clock.advance(86_400_000 + 3_600_000);
      await serveDrifty(log, clock.now() - 60_000, 200, 0, 10, 'north');
      await service.evaluate();
      await service.evaluate();
      expect(drift().map(([kind]) => kind)).toEqual(['quality', 'quality', 'quality_resolved']);
    } finally {
      await reg.release();
    }
  });

  it('a feedback call by request_id reads no served rows by time (drift is judged by the schedule alone), still judging coverage', async () => {
    const { log, service, published, reg, clock } = setupWith(await driftModel());
    try {
      // Prepare: north's drifting inputs, and 40 rows of reactor-yield whose values all miss their interval.
      await serveDrifty(log, clock.now() - 60_000, 200, 9, 10, 'north');
      const ids = await serve(log, clock.now() - 60_000, 40, 'north', 'fb');
      let reads = 0;
      const byTime = log.byTime.bind(log);
      log.byTime = (...args) => (reads++, byTime(...args));
      // Act
      await service.feedback(operator('north'), 'reactor-yield', { observations: ids.map((id) => ({ request_id: id, value: 90 })) });
      // Assess: the bands were judged (coverage alert), and nothing read the day's rows.
      expect(published.map((m) => m.attributes.rule)).toEqual(['coverage_low']);
      expect(reads).toBe(0);
    } finally {
      await reg.release();
    }
  });

  it("another plant's traffic never crowds a plant's rows out of its drift judgement (the schedule reads each plant's own)", async () => {
    const { log, service, published, reg, clock } = setupWith(await driftModel());
    try {
      // Prepare: north's 200 drifting rows two hours ago (no lab values); then south's 5,000 in-spread rows, newer:
      // the newest 5,000 of the model are all south's.
      await serveDrifty(log, clock.now() - 2 * 3_600_000, 200, 9, 10, 'north');
      await serveDrifty(log, clock.now() - 60_000, 5000, 0, 10, 'south');
      // Act
      await service.evaluate();
      // Assess: north is found (from the index, not the newest rows) and its drift judged on north's rows.
      expect(published.filter((m) => m.attributes.rule === 'input_drift').map((m) => (JSON.parse(m.body) as { plant?: string }).plant)).toEqual(['north']);
    } finally {
      await reg.release();
    }
  });

  it('re-judges coverage after the feedback stops: a breach still in the day window is re-sent once per cooldown, not on every run', async () => {
    const { log, service, published, reg, clock } = setupWith(modelStore);
    try {
      const ids = await serve(log, clock.now() - 60_000, 40, 'north', 'out');
      await service.feedback(operator('north'), 'reactor-yield', { observations: ids.map((id) => ({ request_id: id, value: 90 })) });
      const coverage = () => published.filter((m) => m.attributes.rule === 'coverage_low').length;
      expect(coverage()).toBe(1);
      for (let i = 0; i < 6; i++) {
        clock.advance(10 * 60_000);
        await service.evaluate();
      }
      // 60 minutes after the first: the cooldown has just passed on the last run.
      expect(coverage()).toBe(2);
      await service.evaluate();
      expect(coverage()).toBe(2);
      // Once the rows leave the day window nothing is judged for them (too few rows): no alert, no storm.
      clock.advance(2 * 86_400_000);
      await service.evaluate();
      expect(coverage()).toBe(2);
    } finally {
      await reg.release();
    }
  });

  it('counts a model whose figures cannot be read as failed and goes on with the others', async () => {
    const { service, log, reg, clock } = setupWith(await driftModel());
    try {
      await serveDrifty(log, clock.now() - 60_000, 50, 0, 10);
      const servedPairs = log.servedPairs.bind(log);
      log.servedPairs = async (model, ...rest) => {
        if (model === 'reactor-yield') throw new Error('store down');
        return servedPairs(model, ...rest);
      };
      expect(await service.evaluate()).toEqual({ models: 2, checked: 1, failed: 1 });
    } finally {
      await reg.release();
    }
  });

  describe('who was served: a cursor, not a read of the whole day', () => {
    const plants = ['north', 'south', 'east', undefined] as const;
    /** Who a read of the whole day's index finds, straight from the rows. */
    const wholeDay = (log: MemoryPredictionLog, now: number) =>
      new Set([...log.rows.values()].filter((r) => r.model === 'drifty' && r.time >= new Date(now - 86_400_000).toISOString() && r.time <= new Date(now).toISOString()).map((r) => `${r.version}|${r.plant ?? ''}`));
    const kept = (quality: MemoryQualityStore) => new Set(quality.cursors.get('drifty')?.pairs.map((p) => `${p.version}|${p.plant ?? ''}`));
    const lastRead = (log: MemoryPredictionLog) => log.pairReads.filter(([m]) => m === 'drifty').at(-1)!;

    it('reads only since the last run (less the overlap) and finds exactly the pairs a whole-day read finds, over 30 hours of runs', async () => {
      const { log, quality, service, reg, clock } = setupWith(await driftModel());
      try {
        const rng = new Prng(7);
        let previous: number | undefined;
        for (let run = 0; run < 120; run++) {
          // Prepare: rows since the last run, for some plants (east stops after 5 hours, so it ages out of the day);
          // and a row stamped 4 minutes before the last run that only shows up now (a late index entry).
          for (const plant of plants) {
            if (plant === 'east' && run > 20) continue;
            if (rng.uniform(0, 1) < 0.4) await serveDrifty(log, clock.now() - Math.floor(rng.uniform(0, 15 * 60_000)), 1, 0, 10, plant);
          }
          if (previous !== undefined && run % 10 === 5) await serveDrifty(log, previous - 4 * 60_000, 1, 0, 10, `late-${run}`);
          // Act
          expect((await service.evaluate()).failed).toBe(0);
          // Assess: the same pairs as the whole day's read; after the first run, at most 15 + 5 minutes read.
          expect(kept(quality)).toEqual(wholeDay(log, clock.now()));
          const [, from, to] = lastRead(log);
          expect(to).toBe(new Date(clock.now()).toISOString());
          expect(Date.parse(to) - Date.parse(from)).toBe(previous === undefined ? 86_400_000 : 20 * 60_000);
          previous = clock.now();
          clock.advance(15 * 60_000);
        }
        expect(kept(quality).has('1.0.0|east')).toBe(false);
      } finally {
        await reg.release();
      }
    });

    it('reads the whole day again when the cursor is over a day old or ahead of the clock', async () => {
      const { log, quality, service, reg, clock } = setupWith(await driftModel());
      try {
        await serveDrifty(log, clock.now() - 3_600_000, 40, 0, 10, 'north');
        await service.evaluate();
        // A day and a half without runs: the day is read, north (served 37.5 h ago) has left it.
        clock.advance(36 * 3_600_000);
        await serveDrifty(log, clock.now() - 20 * 3_600_000, 40, 0, 10, 'south');
        await service.evaluate();
        let [, from, to] = lastRead(log);
        expect(Date.parse(to) - Date.parse(from)).toBe(86_400_000);
        expect(kept(quality)).toEqual(new Set(['1.0.0|south']));
        // A cursor from a clock ahead of this one (the clock went back): the day is read, its pairs not trusted.
        quality.cursors.set('drifty', { ...quality.cursors.get('drifty')!, readTo: new Date(clock.now() + 3_600_000).toISOString(), pairs: [{ version: '1.0.0', plant: 'ghost', last: new Date(clock.now()).toISOString() }] });
        await service.evaluate();
        [, from, to] = lastRead(log);
        expect(Date.parse(to) - Date.parse(from)).toBe(86_400_000);
        expect(kept(quality)).toEqual(new Set(['1.0.0|south']));
      } finally {
        await reg.release();
      }
    });

    it('a run that loses the cursor write to another still judges, and the next reads from the cursor that won', async () => {
      const { log, quality, service, published, reg, clock } = setupWith(await driftModel());
      try {
        await serveDrifty(log, clock.now() - 60_000, 200, 9, 10, 'north');
        await service.evaluate();
        const won = quality.cursors.get('drifty')!.readTo;
        clock.advance(15 * 60_000);
        await serveDrifty(log, clock.now() - 60_000, 200, 0, 10, 'south');
        const put = quality.putServedCursor.bind(quality);
        quality.putServedCursor = async () => false;
        expect(await service.evaluate()).toMatchObject({ checked: 2, failed: 0 });
        // A cursor write that fails outright costs nothing of the judgement either.
        quality.putServedCursor = async () => {
          throw new Error('store down');
        };
        expect(await service.evaluate()).toMatchObject({ checked: 2, failed: 0 });
        quality.putServedCursor = put;
        expect(quality.cursors.get('drifty')!.readTo).toBe(won);
        clock.advance(15 * 60_000);
        await service.evaluate();
        expect(lastRead(log)[1]).toBe(new Date(Date.parse(won) - 5 * 60_000).toISOString());
        expect(kept(quality)).toEqual(new Set(['1.0.0|north', '1.0.0|south']));
        expect(published.filter((m) => m.attributes.rule === 'input_drift').map((m) => (JSON.parse(m.body) as { plant?: string }).plant)).toEqual(['north']);
      } finally {
        await reg.release();
      }
    });
  });
});
