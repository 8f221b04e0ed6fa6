import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertService } from '../../functions/core/alerts/service.js';
import { principalFromClaims } from '../../functions/core/auth/tokens.js';
import { InvalidInputError } from '../../functions/core/errors.js';
import type { ModelManifest } from '../../functions/core/manifest.js';
import { afterWork, PendingWrites } from '../../functions/core/pending-writes.js';
import type { AlertClaim, AlertStateStore, ModelPackage, ModelRouting, ModelStore, StatsStore, VariantCounters, VariantSample } from '../../functions/core/ports.js';
import type { QualityHook } from '../../functions/core/twin/bookkeeping.js';
import { ModelRegistry } from '../../functions/core/twin/registry.js';
import { TwinService } from '../../functions/core/twin/service.js';
import { inBandRow, referencePackage, row } from '../support/models.js';

/**
 * The writes after a prediction's work (functions/core/pending-writes.ts, functions/core/twin/bookkeeping.ts):
 * alone the core awaits its stats, served rows and shadow copy before answering, as it always did; given a
 * request's PendingWrites it hands them over and answers at once, and the owner (the HTTP middleware) awaits
 * them. Failures stay the core's: counted and logged, never the prediction's. In-memory ports, the real core.
 */

/** A promise the test settles by hand. */
function held(): { promise: Promise<void>; resolve(): void; reject(error: unknown): void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const turns = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

class MemoryModelStore implements ModelStore {
  constructor(
    private readonly pkg: ModelPackage,
    private readonly routing: ModelRouting,
  ) {}
  async getPackage(_name: string, version: string): Promise<ModelPackage> {
    if (version !== this.pkg.manifest.version) throw new Error(`no version ${version}`);
    return this.pkg;
  }
  async getRouting(): Promise<ModelRouting> {
    return this.routing;
  }
  async putRouting(): Promise<void> {}
  async putPackage(): Promise<boolean> {
    return false;
  }
  async listVersions(): Promise<string[]> {
    return [this.pkg.manifest.version];
  }
  async listModels(): Promise<string[]> {
    return [this.pkg.manifest.name];
  }
  async getOwner(): Promise<undefined> {
    return undefined;
  }
  async claimOwner<O>(_name: string, owner: O): Promise<O> {
    return owner;
  }
}

/** Each record waits for the test (`next` decides how each new sample ends). */
class HeldStats implements StatsStore {
  readonly samples: { version: string; sample: VariantSample; done: ReturnType<typeof held> }[] = [];
  record(_model: string, version: string, sample: VariantSample): Promise<void> {
    const done = held();
    this.samples.push({ version, sample, done });
    return done.promise;
  }
  async read(): Promise<VariantCounters[]> {
    return [];
  }
}

class QuietAlertState implements AlertStateStore {
  async claim(_key: string, at: string): Promise<AlertClaim | undefined> {
    return { at };
  }
  async release(): Promise<void> {}
  async suppress(): Promise<void> {}
  async resolve(): Promise<boolean> {
    return false;
  }
  async unresolve(): Promise<void> {}
  async isFiring(): Promise<boolean> {
    return false;
  }
  async recordEvent(): Promise<'stored'> {
    return 'stored';
  }
  async recentEvents(): Promise<never[]> {
    return [];
  }
}

/** Served rows kept by hand: each capture waits for the test. */
class HeldQuality implements QualityHook {
  readonly captures: { requestId: string; rows: number; done: ReturnType<typeof held> }[] = [];
  async serving(): Promise<{ factor: number }> {
    return { factor: 1 };
  }
  capture(_p: unknown, _m: unknown, requestId: string, rows: readonly unknown[]): Promise<void> {
    const done = held();
    this.captures.push({ requestId, rows: rows.length, done });
    return done.promise;
  }
}

const principal = principalFromClaims({ sub: 'alice', role: 'operator', scope: 'twin:predict twin:read', typ: 'user' });
let pkg: ModelPackage;
const registries: ModelRegistry[] = [];

function twinWith(options: { shadow?: string } = {}) {
  const stats = new HeldStats();
  const quality = new HeldQuality();
  const counted: string[] = [];
  const statsErrors: unknown[] = [];
  const routing: ModelRouting = { schemaVersion: 1, active: pkg.manifest.version, updated: '2026-01-01T00:00:00.000Z', ...(options.shadow ? { shadow: options.shadow } : {}) };
  const registry = new ModelRegistry(new MemoryModelStore(pkg, routing), { routingCacheMs: 60_000 });
  registries.push(registry);
  const alerts = new AlertService(new QuietAlertState(), undefined, { cooldownSeconds: 300, on: 'prediction', overrides: {} });
  const twin = new TwinService(registry, stats, alerts, {
    serviceName: 'test',
    defaultModel: pkg.manifest.name,
    startedAt: 0,
    cacheSize: 0,
    quality,
    telemetry: { count: (metric) => void counted.push(metric) },
    onStatsError: (error) => void statsErrors.push(error),
  });
  return { twin, stats, quality, counted, statsErrors };
}

/** Tracks whether a promise has settled yet. */
function watch<T>(promise: Promise<T>) {
  const state = { settled: false, promise: promise.finally(() => (state.settled = true)) };
  return state;
}

beforeAll(async () => {
  const ref = await referencePackage();
  pkg = { manifest: ref.manifest as unknown as ModelManifest, bytes: ref.bytes };
});

afterAll(async () => {
  for (const r of registries) await r.release();
});

describe('PendingWrites', () => {
  it('the owner waits for every write handed over; settled() never rejects and returns what escaped', async () => {
    // Prepare
    const pending = new PendingWrites();
    const a = held();
    const b = held();

    // Act
    await afterWork(pending, [a.promise]);
    await afterWork(pending, [b.promise, undefined]);
    const settled = watch(pending.settled());
    await turns();
    const early = settled.settled;
    a.resolve();
    b.reject(new Error('escaped'));
    const escaped = await settled.promise;

    // Assess
    expect(pending.size).toBe(2);
    expect(early).toBe(false);
    expect(escaped).toEqual([new Error('escaped')]);
  });

  it('without an owner, or once the owner stopped taking, the caller awaits its writes itself', async () => {
    // Prepare
    const closed = new PendingWrites();
    await closed.settled();
    const alone = held();
    const late = held();

    // Act
    const withoutOwner = watch(afterWork(undefined, [alone.promise]));
    const afterClose = watch(afterWork(closed, [late.promise]));
    await turns();
    const early = [withoutOwner.settled, afterClose.settled];
    alone.resolve();
    late.resolve();
    await Promise.all([withoutOwner.promise, afterClose.promise]);

    // Assess
    expect(early).toEqual([false, false]);
    expect(closed.size).toBe(0);
  });
});

describe('TwinService after-work writes', () => {
  it('alone, predict answers only after its stats and served rows are written (as before)', async () => {
    // Prepare
    const { twin, stats, quality } = twinWith();

    // Act
    const answer = watch(twin.predict(principal, inBandRow, { requestId: 'r-alone' }));
    await turns(10);
    const beforeWrites = answer.settled;
    stats.samples[0]!.done.resolve();
    await turns();
    const afterStatsOnly = answer.settled;
    quality.captures[0]!.done.resolve();
    await answer.promise;

    // Assess
    expect([beforeWrites, afterStatsOnly]).toEqual([false, false]);
    expect(stats.samples.map((s) => s.sample.rows)).toEqual([1]);
    expect(quality.captures.map((c) => [c.requestId, c.rows])).toEqual([['r-alone', 1]]);
  });

  it('with a request\'s PendingWrites, predict answers at once and hands its writes over; the owner waits for both', async () => {
    // Prepare
    const { twin, stats, quality } = twinWith();
    const writes = new PendingWrites();

    // Act
    const answer = await twin.predict(principal, row(361), { requestId: 'r-scoped', writes });
    const settled = watch(writes.settled());
    await turns();
    const early = settled.settled;
    stats.samples[0]!.done.resolve();
    quality.captures[0]!.done.resolve();
    const escaped = await settled.promise;

    // Assess
    expect(answer.model_version).toBe(pkg.manifest.version);
    expect(writes.size).toBe(1);
    expect(early).toBe(false);
    expect(escaped).toEqual([]);
    expect(quality.captures.map((c) => c.requestId)).toEqual(['r-scoped']);
  });

  it('a failing stats store is counted and logged, never the prediction\'s failure nor an escaped one', async () => {
    // Prepare
    const { twin, stats, quality, counted, statsErrors } = twinWith();
    const writes = new PendingWrites();

    // Act
    const answer = await twin.predict(principal, row(362), { requestId: 'r-fail', writes });
    stats.samples[0]!.done.reject(new Error('stats table down'));
    quality.captures[0]!.done.resolve();
    const escaped = await writes.settled();

    // Assess
    expect(answer.prediction).toEqual(expect.any(Number));
    expect(escaped).toEqual([]);
    expect(counted).toContain('StatsWriteFailures');
    expect(statsErrors).toEqual([new Error('stats table down')]);
  });

  it('a refused input is thrown at once; its error sample is handed over and awaited by the owner', async () => {
    // Prepare
    const { twin, stats, quality } = twinWith();
    const writes = new PendingWrites();

    // Act
    const refusal = await twin.predict(principal, { temp: 'hot' }, { requestId: 'r-bad', writes }).catch((error: unknown) => error);
    const settled = watch(writes.settled());
    await turns();
    const early = settled.settled;
    stats.samples[0]!.done.resolve();
    await settled.promise;

    // Assess
    expect(refusal).toBeInstanceOf(InvalidInputError);
    expect(stats.samples.map((s) => [s.sample.requests, s.sample.errors, s.sample.rows])).toEqual([[1, 1, 0]]);
    expect(early).toBe(false);
    expect(quality.captures).toEqual([]);
  });

  it('batch and tensor inference hand over their writes too, the shadow copy among them', async () => {
    // Prepare
    const { twin, stats, quality, counted } = twinWith({ shadow: '9.9.9' });
    const batchWrites = new PendingWrites();
    const tensorWrites = new PendingWrites();

    // Act
    const batch = await twin.batch(principal, { inputs: [row(360), row(361)] }, { requestId: 'r-batch', writes: batchWrites });
    const tensor = await twin.inferRows(principal, { name: pkg.manifest.name }, [[360, 6, 100]], { requestId: 'r-tensor', writes: tensorWrites });
    const pending = watch(Promise.all([batchWrites.settled(), tensorWrites.settled()]));
    await turns(10);
    const early = pending.settled;
    for (const s of stats.samples) s.done.resolve();
    for (const c of quality.captures) c.done.resolve();
    const escaped = await pending.promise;

    // Assess
    expect(batch.successful).toBe(2);
    expect(tensor.predictions).toHaveLength(1);
    expect([batchWrites.size, tensorWrites.size]).toEqual([1, 1]);
    expect(early).toBe(false);
    // The shadow version does not exist: its copies fail and are counted, never the request's failure.
    expect(escaped).toEqual([[], []]);
    expect(counted.filter((m) => m === 'ShadowErrors')).toHaveLength(2);
    expect(quality.captures.map((c) => [c.requestId, c.rows])).toEqual([
      ['r-batch', 2],
      ['r-tensor', 1],
    ]);
  });
});
