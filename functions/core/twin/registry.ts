import { AppError, ModelNotFoundError, ModelUnavailableError } from '../errors.js';
import { isFresh } from '../fresh.js';
import type { ModelRouting, ModelStore, Telemetry } from '../ports.js';
import { metricNames } from '../metric-names.js';
import { modelVisibleTo, type ModelAudience, type ModelOwner } from '../models/tenancy.js';
import { TwinModel } from './model.js';
import { chooseVersion, type RoutingSubject } from './routing.js';

export interface Degradation {
  model: string;
  /** The version routing asked for, or `routing` when routing.json itself could not be read. */
  wanted: string;
  serving: string;
  reason: string;
  since: string;
}

export interface Resolved {
  model: TwinModel;
  routing: ModelRouting;
}

function routedVersions(routing: ModelRouting): string[] {
  return [routing.active, ...(routing.variants ?? []).map((v) => v.version)];
}

/** An owner.json read: the owner (undefined when absent), or why it could not be read. */
type OwnerRead = { owner: ModelOwner | undefined; error?: undefined } | { owner: undefined; error: unknown };

function reasonOf(error: unknown): string {
  return error instanceof AppError && error.expose ? error.message : 'the model store is unavailable';
}

/**
 * Which version of a model answers, and the loaded sessions, per container. Every way to a loaded model
 * takes the subject it serves and checks the model's owner first (see ../models/tenancy.ts): a plant's
 * model is served only to that plant's principals and platform principals; to anyone else it does not exist
 * (MODEL_NOT_FOUND, as for an unknown name).
 *
 * - Routing is re-read after `routingCacheMs`, so an activation reaches every warm container within that
 *   time; a loaded version is kept for the container's life (packages are immutable).
 * - Fail-safe: when the routed version cannot be loaded (missing, corrupt digest, S3 down) or routing
 *   cannot be read, the container keeps serving the last version it loaded for that model and reports
 *   itself degraded; a failed load is retried after `routingCacheMs`, not on every request. With no usable
 *   version at all, resolution fails with MODEL_UNAVAILABLE (503).
 */
export class ModelRegistry {
  private readonly models = new Map<string, Promise<TwinModel>>();
  private readonly failedLoads = new Map<string, { error: unknown; until: number }>();
  private readonly routing = new Map<string, { routing: ModelRouting; expires: number }>();
  private readonly lastGood = new Map<string, TwinModel>();
  private readonly degraded = new Map<string, Degradation>();
  private names_: { names: Promise<string[]>; expires: number } | undefined;
  /** Owners by model name; `null`: a model that exists with no owner.json (published before owners). */
  private readonly owners = new Map<string, { owner: ModelOwner | null; expires: number }>();

  constructor(
    private readonly store: ModelStore,
    private readonly options: { routingCacheMs: number; now?: () => number; random?: () => number; telemetry?: Telemetry },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Whether a cache entry (routing, names, owner, failed load) that ends at `expires` still holds at `now`. */
  private fresh(expires: number, now: number): boolean {
    return isFresh(now, expires, this.options.routingCacheMs);
  }

  /** The routing of `name`, cached; a stale copy is used (and the model marked degraded) when S3 fails. */
  async getRouting(name: string): Promise<ModelRouting> {
    const now = this.now();
    const cached = this.routing.get(name);
    if (cached && this.fresh(cached.expires, now)) return cached.routing;
    let routing: ModelRouting | undefined;
    try {
      routing = await this.store.getRouting(name);
    } catch (error) {
      if (cached) {
        this.markDegraded(name, 'routing', cached.routing.active, error);
        return cached.routing;
      }
      throw new ModelUnavailableError(`Model ${name} is unavailable: ${reasonOf(error)}`, error);
    }
    if (!routing) throw new ModelNotFoundError(name);
    this.routing.set(name, { routing, expires: now + this.options.routingCacheMs });
    // Routing is readable again: a degradation caused by it is over (a version one is cleared in resolve).
    if (this.degraded.get(name)?.wanted === 'routing') this.degraded.delete(name);
    return routing;
  }

  /** The names of the published models (with or without an active version), listed at most once per `routingCacheMs`. */
  names(): Promise<string[]> {
    const now = this.now();
    if (!this.names_ || !this.fresh(this.names_.expires, now)) {
      // Fail-safe, as routing is: with the store down, the last list known (else none) keeps status and
      // model info answering; the next call asks the store again.
      const names = this.store.listModels().then(
        (list) => (this.lastNames = [...list].sort()),
        () => {
          if (this.names_?.names === names) this.names_ = undefined;
          return this.lastNames;
        },
      );
      this.names_ = { names, expires: now + this.options.routingCacheMs };
    }
    return this.names_.names;
  }

  private lastNames: string[] = [];

  /** Forgets the cached routing of `name` (after this container changed it). */
  invalidateRouting(name: string): void {
    this.routing.delete(name);
    this.names_ = undefined;
  }

  /**
   * The version that answers `subject` (or, with `primary`, the routing's active version), loaded; falls back
   * to the last good version when it cannot load. `chosen` hears the version routing picked once the owner
   * check has passed and before its package is loaded, so a caller can read what it needs of that version
   * (model quality's state) while the package loads.
   */
  async resolve(name: string, subject: RoutingSubject, options: { primary?: boolean; chosen?: (version: string) => void } = {}): Promise<Resolved> {
    // The owner is read beside the routing, not after it (one round to the store instead of two on a cold
    // start); it is still checked before any package is loaded.
    const owner = this.readOwnerUnlessCached(name);
    let routing: ModelRouting;
    try {
      routing = await this.getRouting(name);
    } catch (error) {
      const fallback = this.lastGood.get(name);
      if (!fallback || error instanceof ModelNotFoundError) throw error;
      await this.requireServes(name, subject, true, undefined, owner);
      this.markDegraded(name, 'routing', fallback.manifest.version, error);
      return { model: fallback, routing: { schemaVersion: 1, active: fallback.manifest.version, updated: '' } };
    }
    // After routing: a routed model exists, so an absent owner.json means a model from before owners.
    await this.requireServes(name, subject, true, undefined, owner);
    const wanted = options.primary ? routing.active : chooseVersion(name, routing, subject, this.options.random);
    options.chosen?.(wanted);
    try {
      const model = await this.load(name, wanted);
      this.lastGood.set(name, model);
      const current = this.degraded.get(name);
      // Over when the wanted version now loads, or when routing no longer asks for it (e.g. after a rollback).
      // (A routing-read degradation is cleared by getRouting once routing reads again.)
      if (current && current.wanted !== 'routing' && (current.wanted === wanted || !routedVersions(routing).includes(current.wanted))) {
        this.degraded.delete(name);
      }
      return { model, routing };
    } catch (error) {
      const fallback = this.lastGood.get(name);
      if (!fallback) {
        throw new ModelUnavailableError(`No usable version of ${name}: ${name}@${wanted} cannot be loaded (${reasonOf(error)})`, error);
      }
      this.markDegraded(name, wanted, fallback.manifest.version, error);
      return { model: fallback, routing };
    }
  }

  /** The active (primary) version, ignoring any A/B split: model info and health. */
  async active(name: string, subject: RoutingSubject): Promise<TwinModel> {
    return (await this.resolve(name, subject, { primary: true })).model;
  }

  async activeVersion(name: string, subject: RoutingSubject): Promise<string> {
    const routing = await this.getRouting(name);
    await this.requireServes(name, subject, true);
    return routing.active;
  }

  /** A specific version for `subject` (exactly that version, no routing). */
  async version(name: string, version: string, subject: RoutingSubject): Promise<TwinModel> {
    // A plant's model is refused before it is loaded; an absent owner is only trusted once the package loads.
    const owner = await this.requireServes(name, subject, false, version);
    const model = await this.load(name, version);
    if (owner === undefined && !this.owners.has(name)) this.owners.set(name, { owner: null, expires: this.now() + this.options.routingCacheMs });
    return model;
  }

  /** The owner of a model `subject` may see (MODEL_NOT_FOUND otherwise), for checks of who may change it. */
  async ownerFor(name: string, subject: RoutingSubject): Promise<ModelOwner | undefined> {
    return this.requireServes(name, subject, false);
  }

  /** Starts reading `name`'s owner.json unless a fresh owner is cached; the read settles, it never rejects. */
  private readOwnerUnlessCached(name: string): Promise<OwnerRead> | undefined {
    const cached = this.owners.get(name);
    if (cached && this.fresh(cached.expires, this.now())) return undefined;
    return this.readOwner(name);
  }

  private readOwner(name: string): Promise<OwnerRead> {
    return this.store.getOwner(name).then(
      (owner) => ({ owner }),
      (error: unknown) => ({ owner: undefined, error }),
    );
  }

  /**
   * Throws MODEL_NOT_FOUND unless `name` serves `subject`; resolves the owner (undefined when absent). An
   * absent owner is remembered only when the caller knows the model exists (`exists`): otherwise a name
   * asked for before a plant publishes it would be remembered as platform-wide. `started`: a read of the
   * owner begun earlier ({@link readOwnerUnlessCached}), used when the cache cannot answer.
   */
  private async requireServes(name: string, subject: ModelAudience, exists: boolean, version?: string, started?: Promise<OwnerRead>): Promise<ModelOwner | undefined> {
    const now = this.now();
    const cached = this.owners.get(name);
    let owner: ModelOwner | undefined;
    if (cached && this.fresh(cached.expires, now)) {
      owner = cached.owner ?? undefined;
    } else {
      const read = await (started ?? this.readOwner(name));
      if ('error' in read) {
        if (!cached) throw new ModelUnavailableError(`Model ${name} is unavailable: ${reasonOf(read.error)}`, read.error);
        owner = cached.owner ?? undefined;
      } else {
        owner = read.owner;
      }
      if (owner || exists) this.owners.set(name, { owner: owner ?? null, expires: now + this.options.routingCacheMs });
    }
    if (!modelVisibleTo(owner, subject)) throw new ModelNotFoundError(name, version);
    return owner;
  }

  /** A specific version, loaded once per container; concurrent callers share one load. No owner check: callers check. */
  private load(name: string, version: string): Promise<TwinModel> {
    const key = `${name}@${version}`;
    const failed = this.failedLoads.get(key);
    if (failed && this.fresh(failed.until, this.now())) return Promise.reject(failed.error);
    let loading = this.models.get(key);
    if (!loading) {
      loading = this.store.getPackage(name, version).then((pkg) => TwinModel.load(pkg));
      loading.catch((error: unknown) => {
        this.models.delete(key);
        this.failedLoads.set(key, { error, until: this.now() + this.options.routingCacheMs });
      });
      this.models.set(key, loading);
    }
    return loading;
  }

  /**
   * The degraded models `audience` may see: a platform principal all, a plant's principal platform-wide
   * models and its plant's, `public` (unauthenticated health) platform-wide models only.
   */
  degradations(audience: ModelAudience | 'public'): Degradation[] {
    return [...this.degraded.values()].filter((d) => {
      if (audience !== 'public' && !audience.plant) return true;
      const known = this.owners.get(d.model);
      if (!known) return false;
      return audience === 'public' ? !known.owner?.plant : modelVisibleTo(known.owner ?? undefined, audience);
    });
  }

  private markDegraded(name: string, wanted: string, serving: string, error: unknown): void {
    if (!this.degraded.has(name)) this.options.telemetry?.count(metricNames.modelDegraded, 1, { model: name });
    this.degraded.set(name, {
      model: name,
      wanted,
      serving,
      reason: reasonOf(error),
      since: this.degraded.get(name)?.since ?? new Date(this.now()).toISOString(),
    });
  }

  async release(): Promise<void> {
    const loaded = await Promise.allSettled(this.models.values());
    this.models.clear();
    this.lastGood.clear();
    await Promise.all(loaded.map((l) => (l.status === 'fulfilled' ? l.value.release() : undefined)));
  }
}
