import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AlertService } from '../../functions/core/alerts/service.js';
import { principalFromClaims } from '../../functions/core/auth/tokens.js';
import { ModelNotFoundError } from '../../functions/core/errors.js';
import type { ModelManifest } from '../../functions/core/manifest.js';
import type { ModelOwner } from '../../functions/core/models/tenancy.js';
import type { ModelPackage, ModelRouting, ModelStore, StatsStore } from '../../functions/core/ports.js';
import type { QualityHook } from '../../functions/core/twin/bookkeeping.js';
import { ModelRegistry } from '../../functions/core/twin/registry.js';
import { TwinService } from '../../functions/core/twin/service.js';
import { InMemoryAlertStateStore } from '../support/alert-fakes.js';
import { inBandRow, referencePackage } from '../support/models.js';

/**
 * A cold start's first prediction reads routing.json, owner.json, the package, model quality's state of the
 * version and the alert rules' states. The reads that do not depend on each other go out together
 * (docs/performance.md, "Cold start"):
 * the owner beside the routing, the quality state beside the package. What must stay in order stays: the
 * owner check before any package is read, and no quality read for a principal the model is hidden from.
 * Every store call here waits for the test, which looks at what has been asked while the others are pending.
 */

/** A promise the test settles by hand. */
function held<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

const turns = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Every read waits until the test answers it; `asked` lists the reads in the order they were made. */
class HeldModelStore implements ModelStore {
  readonly asked: string[] = [];
  readonly routing = held<ModelRouting | undefined>();
  readonly owner = held<ModelOwner | undefined>();
  readonly pkg = held<ModelPackage>();

  async getRouting(name: string): Promise<ModelRouting | undefined> {
    this.asked.push(`routing ${name}`);
    return this.routing.promise;
  }
  async getOwner(name: string): Promise<ModelOwner | undefined> {
    this.asked.push(`owner ${name}`);
    return this.owner.promise;
  }
  async getPackage(name: string, version: string): Promise<ModelPackage> {
    this.asked.push(`package ${name}@${version}`);
    return this.pkg.promise;
  }
  async putRouting(): Promise<void> {}
  async putPackage(): Promise<boolean> {
    return false;
  }
  async listVersions(): Promise<string[]> {
    return [];
  }
  async listModels(): Promise<string[]> {
    return [];
  }
  async claimOwner<O>(_name: string, owner: O): Promise<O> {
    return owner;
  }
}

/** Model quality's state, read when the twin asks. */
class RecordingQuality implements QualityHook {
  readonly reads: string[] = [];
  async serving(name: string, version: string): Promise<{ factor: number }> {
    this.reads.push(`${name}@${version}`);
    return { factor: 1 };
  }
  async capture(): Promise<void> {}
}

const noStats: StatsStore = { record: async () => undefined, read: async () => [] };
const north = principalFromClaims({ sub: 'nora', role: 'operator', scope: 'twin:predict twin:read', typ: 'user', plant: 'north' });
const south = principalFromClaims({ sub: 'sam', role: 'operator', scope: 'twin:predict twin:read', typ: 'user', plant: 'south' });
const northOwner: ModelOwner = { schemaVersion: 1, plant: 'north', assigned: '2026-12-01T00:00:00.000Z', by: 'admin' };
let pkg: ModelPackage;
let routing: ModelRouting;
let registry: ModelRegistry | undefined;

beforeAll(async () => {
  const ref = await referencePackage();
  pkg = { manifest: ref.manifest as unknown as ModelManifest, bytes: ref.bytes };
  routing = { schemaVersion: 1, active: pkg.manifest.version, updated: '2026-12-01T00:00:00.000Z' };
});

afterEach(async () => {
  await registry?.release();
  registry = undefined;
});

function twinOn(store: HeldModelStore) {
  registry = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => 0 });
  const quality = new RecordingQuality();
  const alerts = new AlertService(new InMemoryAlertStateStore(), undefined, { cooldownSeconds: 300, on: 'prediction', overrides: {} });
  const twin = new TwinService(registry, noStats, alerts, { serviceName: 'test', defaultModel: pkg.manifest.name, startedAt: 0, cacheSize: 0, quality });
  return { twin, quality };
}

describe("a model's first resolution", () => {
  it('asks for the owner while routing is still pending, and for the package only once both have answered', async () => {
    // Prepare
    const store = new HeldModelStore();
    registry = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => 0 });
    const chosen: string[] = [];

    // Act
    const resolving = registry.resolve(pkg.manifest.name, { id: 'nora', plant: 'north' }, { chosen: (v) => void chosen.push(`${v} (asked before: ${[...store.asked].sort().join(', ')})`) });
    await turns();
    const askedWhileRoutingPending = [...store.asked].sort();
    store.routing.resolve(routing);
    await turns();
    const askedBeforeOwner = [...store.asked].sort();
    store.owner.resolve(northOwner);
    await turns();
    store.pkg.resolve(pkg);
    const resolved = await resolving;

    // Assess
    expect(askedWhileRoutingPending).toEqual([`owner ${pkg.manifest.name}`, `routing ${pkg.manifest.name}`]);
    expect(askedBeforeOwner).toEqual(askedWhileRoutingPending);
    expect(chosen).toEqual([`${pkg.manifest.version} (asked before: owner ${pkg.manifest.name}, routing ${pkg.manifest.name})`]);
    expect(store.asked.at(-1)).toBe(`package ${pkg.manifest.name}@${pkg.manifest.version}`);
    expect(resolved.model.manifest.version).toBe(pkg.manifest.version);
  });

  it("refuses another plant's principal without reading the package or choosing a version", async () => {
    // Prepare
    const store = new HeldModelStore();
    registry = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => 0 });
    const chosen: string[] = [];

    // Act
    const resolving = registry.resolve(pkg.manifest.name, { id: 'sam', plant: 'south' }, { chosen: (v) => void chosen.push(v) });
    store.owner.resolve(northOwner);
    store.routing.resolve(routing);

    // Assess
    await expect(resolving).rejects.toThrow(new ModelNotFoundError(pkg.manifest.name));
    expect(store.asked).not.toContain(`package ${pkg.manifest.name}@${pkg.manifest.version}`);
    expect(chosen).toEqual([]);
  });

  it('answers MODEL_NOT_FOUND for an unknown name whatever its owner read does (it settles, never rejects unhandled)', async () => {
    // Prepare
    const store = new HeldModelStore();
    registry = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => 0 });

    // Act
    const resolving = registry.resolve('nothing-here', { id: 'nora', plant: 'north' });
    store.routing.resolve(undefined);
    await expect(resolving).rejects.toThrow(new ModelNotFoundError('nothing-here'));
    store.owner.resolve(undefined);
    await turns();

    // Assess
    expect([...store.asked].sort()).toEqual(['owner nothing-here', 'routing nothing-here']);
  });
});

describe("the twin's first prediction", () => {
  it("reads model quality's state of the chosen version while its package loads, once per request", async () => {
    // Prepare
    const store = new HeldModelStore();
    const { twin, quality } = twinOn(store);
    store.routing.resolve(routing);
    store.owner.resolve(northOwner);

    // Act
    const predicting = twin.predict(north, inBandRow, { requestId: 'r-1' });
    await turns();
    const readsWhilePackagePending = [...quality.reads];
    const askedWhilePackagePending = [...store.asked];
    store.pkg.resolve(pkg);
    const answer = await predicting;

    // Assess
    const ref = `${pkg.manifest.name}@${pkg.manifest.version}`;
    expect(askedWhilePackagePending).toContain(`package ${ref}`);
    expect(readsWhilePackagePending).toEqual([ref]);
    expect(quality.reads).toEqual([ref]);
    expect(answer.model_version).toBe(pkg.manifest.version);
  });

  it('reads no quality state for a principal the model is hidden from', async () => {
    // Prepare
    const store = new HeldModelStore();
    const { twin, quality } = twinOn(store);
    store.routing.resolve(routing);
    store.owner.resolve(northOwner);

    // Act
    const refused = twin.predict(south, inBandRow, { requestId: 'r-2' });

    // Assess
    await expect(refused).rejects.toBeInstanceOf(ModelNotFoundError);
    expect(quality.reads).toEqual([]);
  });
});

/** The alert states, each `isFiring` held until the test answers it. */
class HeldAlertStates extends InMemoryAlertStateStore {
  readonly pending: { key: string; answer(firing: boolean): void }[] = [];
  override isFiring(key: string): Promise<boolean> {
    const answer = held<boolean>();
    this.pending.push({ key, answer: answer.resolve });
    return answer.promise;
  }
}

describe("the alert check's first look at a model's states", () => {
  it('asks for both rules’ states together (one round), then counts nothing for an in-band row', async () => {
    // Prepare: a container that has never looked (no cached state), an in-band row: each rule may need resolving.
    const states = new HeldAlertStates();
    const alerts = new AlertService(states, undefined, { cooldownSeconds: 300, on: 'prediction', overrides: {} });
    const manifest = { name: 'reactor-yield', version: '1.0.0', alerts: { min: 70, max: 95 } } as unknown as ModelManifest;

    // Act
    const checking = alerts.check({ manifest, principal: north, requestId: 'r-3', rows: [{ inputs: {}, prediction: 85, interval: [80, 90] }] });
    await turns();
    const askedTogether = states.pending.map((p) => p.key).sort();
    for (const p of states.pending) p.answer(false);
    const result = await checking;

    // Assess
    expect(askedTogether).toEqual(['reactor-yield#above_max#nora', 'reactor-yield#below_min#nora']);
    expect(result).toEqual({ breached: [], sent: 0 });
  });

  it('one rule’s store failure is reported and does not stop the other rule’s alert', async () => {
    // Prepare: a row below the band fires below_min; above_max's state read fails.
    const states = new HeldAlertStates();
    const errors: unknown[] = [];
    const alerts = new AlertService(states, undefined, { cooldownSeconds: 300, on: 'prediction', overrides: {}, onPublishError: (e) => void errors.push(e) });
    const manifest = { name: 'reactor-yield', version: '1.0.0', alerts: { min: 70, max: 95 } } as unknown as ModelManifest;
    states.isFiring = async () => {
      throw new Error('state store down');
    };

    // Act
    const result = await alerts.check({ manifest, principal: north, requestId: 'r-4', rows: [{ inputs: {}, prediction: 60, interval: [55, 65] }] });

    // Assess
    expect(result).toEqual({ breached: ['below_min'], sent: 1 });
    expect(states.events.map((e) => `${e.kind} ${e.rule}`)).toEqual(['alert below_min']);
    expect(errors).toHaveLength(1);
  });
});
