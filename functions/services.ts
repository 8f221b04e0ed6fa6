import { loadConfig, type Config } from './config.js';

/**
 * Builds one service (client, store, use case) from the container: `(services) => new Thing(services.get(dep), …)`.
 * Providers are plain function declarations in functions/services/*.ts, and a handler reaches only those it
 * names (`services.get(twinService)`). That is what keeps each Lambda bundle to what its function uses:
 * esbuild drops a function declaration nothing references, and with it every client and class only it builds.
 */
export type Provider<T> = (services: Services) => T;

/**
 * The services of one container (a Lambda cold start, or the local twin's process): each built on its first
 * `get`, once, from the configuration; the only place adapters are chosen is the providers. Nothing a
 * function does not ask for is built, so its first request pays only for what it uses.
 */
export class Services {
  private readonly built = new Map<Provider<unknown>, unknown>();
  private readonly disposers: (() => void | Promise<void>)[] = [];

  constructor(
    readonly config: Config,
    /** The clock alerts, their cap, model quality and the rate windows read. */
    readonly now: () => number,
  ) {}

  /** The service `provider` builds, built on first use and kept for the container's life. */
  get<T>(provider: Provider<T>): T {
    if (this.built.has(provider)) return this.built.get(provider) as T;
    const service = provider(this);
    this.built.set(provider, service);
    return service;
  }

  /** Runs `dispose` when the container is disposed (clients, loaded sessions), last built first. */
  onDispose(dispose: () => void | Promise<void>): void {
    this.disposers.push(dispose);
  }

  async dispose(): Promise<void> {
    const disposers = this.disposers.splice(0).reverse();
    this.built.clear();
    for (const dispose of disposers) await dispose();
  }
}

/** The clock alerts, their cap, model quality and the rate windows read (Date.now; the local twin's tests set their own). */
let servicesClock: () => number = () => Date.now();

/** Sets the clock the next {@link createServices} gives alerts, quality and the rate limiter; none puts Date.now back. */
export function setServicesClock(now?: () => number): void {
  servicesClock = now ?? (() => Date.now());
}

/** A container for `config`: builds nothing until asked (see {@link Services.get}). */
export function createServices(config: Config, now: () => number = servicesClock): Services {
  return new Services(config, now);
}

let services: Services | undefined;

/** The container's services, created on first use from the environment. */
export function getServices(): Services {
  services ??= createServices(loadConfig());
  return services;
}

/** Releases sessions and clients (local twin shutdown, tests); the next call to getServices starts afresh. */
export async function disposeServices(): Promise<void> {
  const current = services;
  services = undefined;
  await current?.dispose();
}
