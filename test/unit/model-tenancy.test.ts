import { afterEach, describe, expect, it } from 'vitest';
import type { Principal } from '../../functions/core/auth/tokens.js';
import { ModelNotFoundError } from '../../functions/core/errors.js';
import { modelManifestSchema } from '../../functions/core/manifest.js';
import { canManageModel, modelVisibleTo, type ModelOwner } from '../../functions/core/models/tenancy.js';
import type { ModelPackage, ModelRouting, ModelStore } from '../../functions/core/ports.js';
import { ModelRegistry } from '../../functions/core/twin/registry.js';
import { referencePackage } from '../support/models.js';

/** The tenancy rules (functions/core/models/tenancy.ts) and the registry's owner check, with no network. */

function principal(role: Principal['role'], plant?: string): Principal {
  return { id: `${role}-${plant ?? 'platform'}`, username: role, role, scopes: new Set(), type: 'user', ...(plant ? { plant } : {}) };
}

const owner = (plant?: string): ModelOwner => ({ schemaVersion: 1, ...(plant ? { plant } : {}), assigned: '2026-12-01T00:00:00.000Z', by: 'admin' });

describe('modelVisibleTo and canManageModel', () => {
  it.each([
    // [model owner plant, principal role, principal plant, visible, manage]
    [undefined, 'viewer', 'north', true, false],
    [undefined, 'admin', 'north', true, false],
    [undefined, 'admin', undefined, true, true],
    ['north', 'viewer', 'north', true, false],
    ['north', 'admin', 'north', true, true],
    ['north', 'admin', 'south', false, false],
    ['north', 'viewer', 'south', false, false],
    ['north', 'viewer', undefined, true, false],
    ['north', 'admin', undefined, true, true],
  ] as const)('a model of %s, a %s of %s: visible %s, manage %s', (modelPlant, role, plant, visible, manage) => {
    const p = principal(role, plant);
    expect(modelVisibleTo(owner(modelPlant), p)).toBe(visible);
    expect(canManageModel(p, owner(modelPlant))).toBe(manage);
  });

  it('a model without owner.json (published before owners) is platform-wide', () => {
    expect(modelVisibleTo(undefined, { plant: 'north' })).toBe(true);
    expect(canManageModel(principal('admin', 'north'), undefined)).toBe(false);
    expect(canManageModel(principal('admin'), undefined)).toBe(true);
  });
});

class MemoryModelStore implements ModelStore {
  readonly packages = new Map<string, ModelPackage>();
  readonly routings = new Map<string, ModelRouting>();
  readonly owners = new Map<string, ModelOwner>();
  ownerReads = 0;

  async getPackage(name: string, version: string): Promise<ModelPackage> {
    const pkg = this.packages.get(`${name}@${version}`);
    if (!pkg) throw new ModelNotFoundError(name, version);
    return pkg;
  }
  async getRouting(name: string) {
    return this.routings.get(name);
  }
  async putRouting(name: string, routing: ModelRouting) {
    this.routings.set(name, routing);
  }
  async putPackage(pkg: ModelPackage) {
    this.packages.set(`${pkg.manifest.name}@${pkg.manifest.version}`, pkg);
    return true;
  }
  async listVersions(name: string) {
    return [...this.packages.keys()].filter((k) => k.startsWith(`${name}@`)).map((k) => k.split('@')[1]!);
  }
  async listModels() {
    return [...new Set([...this.packages.keys()].map((k) => k.split('@')[0]!))];
  }
  async getOwner(name: string) {
    this.ownerReads++;
    return this.owners.get(name);
  }
  async claimOwner(name: string, claimed: ModelOwner) {
    if (!this.owners.has(name)) this.owners.set(name, claimed);
    return this.owners.get(name)!;
  }
}

async function publish(store: MemoryModelStore, name: string, plant: string | undefined): Promise<void> {
  const ref = await referencePackage();
  const manifest = modelManifestSchema.parse({ ...ref.manifest, name });
  if (plant !== undefined) await store.claimOwner(name, owner(plant));
  await store.putPackage({ manifest, bytes: ref.bytes });
  await store.putRouting(name, { schemaVersion: 1, active: manifest.version, updated: '2026-12-01T00:00:00.000Z' });
}

let registry: ModelRegistry | undefined;

afterEach(async () => {
  await registry?.release();
  registry = undefined;
});

describe("the registry's owner check (every way to a loaded model)", () => {
  const north = { id: 'n', plant: 'north' };
  const south = { id: 's', plant: 'south' };
  const platform = { id: 'p' };

  it("serves a plant's model to its plant and platform principals only: resolve, active, activeVersion, version", async () => {
    const store = new MemoryModelStore();
    await publish(store, 'line-n', 'north');
    registry = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => 0 });
    for (const subject of [north, platform]) {
      expect((await registry.resolve('line-n', subject)).model.manifest.name).toBe('line-n');
      expect((await registry.active('line-n', subject)).manifest.version).toBe('1.0.0');
      expect(await registry.activeVersion('line-n', subject)).toBe('1.0.0');
      expect((await registry.version('line-n', '1.0.0', subject)).manifest.name).toBe('line-n');
    }
    await expect(registry.resolve('line-n', south)).rejects.toThrow(new ModelNotFoundError('line-n'));
    await expect(registry.active('line-n', south)).rejects.toThrow(new ModelNotFoundError('line-n'));
    await expect(registry.activeVersion('line-n', south)).rejects.toThrow(new ModelNotFoundError('line-n'));
    await expect(registry.version('line-n', '1.0.0', south)).rejects.toThrow(new ModelNotFoundError('line-n', '1.0.0'));
  });

  it('does not remember a name asked for before a plant claimed it as platform-wide (long cache)', async () => {
    const store = new MemoryModelStore();
    registry = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => 0 });
    // South asks for a name nobody has published yet.
    await expect(registry.version('line-n', '1.0.0', south)).rejects.toBeInstanceOf(ModelNotFoundError);
    await expect(registry.resolve('line-n', south)).rejects.toBeInstanceOf(ModelNotFoundError);
    // North publishes it; south, within the cache window, still does not get it.
    await publish(store, 'line-n', 'north');
    await expect(registry.version('line-n', '1.0.0', south)).rejects.toThrow(new ModelNotFoundError('line-n', '1.0.0'));
    await expect(registry.resolve('line-n', south)).rejects.toThrow(new ModelNotFoundError('line-n'));
  });

  it('serves a model without owner.json to everyone, reading its owner once per cache window', async () => {
    const store = new MemoryModelStore();
    await publish(store, 'legacy', undefined);
    registry = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => 0 });
    for (const subject of [north, south, platform, north, south]) expect((await registry.resolve('legacy', subject)).model.manifest.name).toBe('legacy');
    expect(store.ownerReads).toBe(1);
  });

  it('a clock stepped back does not stretch the owner and routing caches: both are read again at once', async () => {
    // Prepare: the owner and the routing are cached at t = 100 s for a minute.
    const store = new MemoryModelStore();
    await publish(store, 'line-x', undefined);
    let now = 100_000;
    registry = new ModelRegistry(store, { routingCacheMs: 60_000, now: () => now });
    await registry.resolve('line-x', south);
    const reads = store.ownerReads;
    // The model is then given to north, and the active version moved, by another container.
    store.owners.set('line-x', owner('north'));
    await store.putRouting('line-x', { schemaVersion: 1, active: '9.9.9', updated: '2026-12-01T00:01:00.000Z' });

    // Act: the clock steps back an hour (an entry from its future): before the fix it kept both for 61 minutes.
    now = 100_000 - 3_600_000;
    const refused = registry.resolve('line-x', south);
    const routing = await registry.getRouting('line-x');

    // Assess
    await expect(refused).rejects.toThrow(new ModelNotFoundError('line-x'));
    expect(store.ownerReads).toBe(reads + 1);
    expect(routing.active).toBe('9.9.9');
  });
});

