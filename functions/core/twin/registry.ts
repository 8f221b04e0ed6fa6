import { ModelNotFoundError } from '../errors.js';
import type { ModelStore } from '../ports.js';
import { TwinModel } from './model.js';

/**
 * Which version of a model serves, and the loaded sessions, per container. Routing is re-read after
 * `routingCacheMs` so an activation reaches every warm container within that time; a loaded version is
 * kept for the container's life (packages are immutable).
 */
export class ModelRegistry {
  private readonly models = new Map<string, Promise<TwinModel>>();
  private readonly routing = new Map<string, { version: string; expires: number }>();

  constructor(
    private readonly store: ModelStore,
    private readonly options: { routingCacheMs: number; now?: () => number },
  ) {}

  /** The active version of `name`, loaded. */
  async active(name: string): Promise<TwinModel> {
    return this.version(name, await this.activeVersion(name));
  }

  async activeVersion(name: string): Promise<string> {
    const now = this.options.now?.() ?? Date.now();
    const cached = this.routing.get(name);
    if (cached && cached.expires > now) return cached.version;
    const routing = await this.store.getRouting(name);
    if (!routing) throw new ModelNotFoundError(name);
    this.routing.set(name, { version: routing.active, expires: now + this.options.routingCacheMs });
    return routing.active;
  }

  /** A specific version, loaded once per container; concurrent callers share one load, a failed load is retried. */
  version(name: string, version: string): Promise<TwinModel> {
    const key = `${name}@${version}`;
    let loading = this.models.get(key);
    if (!loading) {
      loading = this.store.getPackage(name, version).then((pkg) => TwinModel.load(pkg));
      loading.catch(() => this.models.delete(key));
      this.models.set(key, loading);
    }
    return loading;
  }

  async release(): Promise<void> {
    const loaded = await Promise.allSettled(this.models.values());
    this.models.clear();
    await Promise.all(loaded.map((l) => (l.status === 'fulfilled' ? l.value.release() : undefined)));
  }
}
