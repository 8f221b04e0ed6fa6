import { AlertService } from '../functions/core/alerts/service.js';
import { principalFromClaims, type Principal } from '../functions/core/auth/tokens.js';
import type { AlertClaim, AlertEvent, AlertStateStore, ModelPackage, ModelRouting, ModelStore, StatsStore, VariantCounters, VariantSample } from '../functions/core/ports.js';
import type { ModelOwner } from '../functions/core/models/tenancy.js';
import { ModelRegistry } from '../functions/core/twin/registry.js';
import { TwinService } from '../functions/core/twin/service.js';
import { referenceModel } from './fixtures.js';

/**
 * The core's predict path with no network: the real TwinService, ModelRegistry (one onnxruntime session),
 * validation, cache and alert evaluation, over in-memory ports. What is left out is exactly the AWS side
 * (S3, DynamoDB), which the handler and http stages add back.
 */

class MemoryModelStore implements ModelStore {
  constructor(private readonly pkg: ModelPackage) {}
  async getPackage(): Promise<ModelPackage> {
    return this.pkg;
  }
  async getRouting(): Promise<ModelRouting> {
    return { schemaVersion: 1, active: this.pkg.manifest.version, updated: '2026-01-01T00:00:00.000Z' };
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
  /** Platform-wide, as a model published before owners. */
  async getOwner(): Promise<undefined> {
    return undefined;
  }
  async claimOwner(_name: string, owner: ModelOwner): Promise<ModelOwner> {
    return owner;
  }
}

/** Counts in memory, as the DynamoDB store adds them, so the core's bookkeeping runs but costs no I/O. */
class MemoryStatsStore implements StatsStore {
  samples = 0;
  async record(_model: string, _version: string, _sample: VariantSample): Promise<void> {
    this.samples++;
  }
  async read(): Promise<VariantCounters[]> {
    return [];
  }
}

class MemoryAlertState implements AlertStateStore {
  private readonly firing = new Set<string>();
  async claim(key: string, now: string): Promise<AlertClaim | undefined> {
    const first = !this.firing.has(key);
    this.firing.add(key);
    return first ? { at: now } : undefined;
  }
  async release(key: string): Promise<void> {
    this.firing.delete(key);
  }
  async suppress(key: string): Promise<void> {
    this.firing.delete(key);
  }
  async resolve(key: string): Promise<boolean> {
    return this.firing.delete(key);
  }
  async unresolve(key: string): Promise<void> {
    this.firing.add(key);
  }
  async isFiring(key: string): Promise<boolean> {
    return this.firing.has(key);
  }
  async recordEvent(_event: AlertEvent): Promise<'stored' | 'duplicate'> {
    return 'stored';
  }
  async recentEvents(): Promise<AlertEvent[]> {
    return [];
  }
}

export interface CoreFixture {
  twin: TwinService;
  principal: Principal;
  release(): Promise<void>;
}

export function createCoreFixture(pkg: ModelPackage): CoreFixture {
  const registry = new ModelRegistry(new MemoryModelStore(pkg), { routingCacheMs: 10_000 });
  const alerts = new AlertService(new MemoryAlertState(), undefined, { cooldownSeconds: 300, on: 'prediction', overrides: {} });
  const twin = new TwinService(registry, new MemoryStatsStore(), alerts, {
    serviceName: 'bench',
    defaultModel: referenceModel.name,
    startedAt: Date.now(),
    // The deployment default; the bench's rows never repeat, so every prediction runs the model.
    cacheSize: 1000,
  });
  const principal = principalFromClaims({ sub: 'admin', role: 'admin', scope: 'twin:predict twin:read', typ: 'user' });
  return { twin, principal, release: () => registry.release() };
}
