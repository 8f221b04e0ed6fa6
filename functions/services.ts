import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
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
    /**
     * How the DynamoDB client retries (which errors, how often, how long it waits between tries).
     * @default the SDK's standard strategy (3 attempts, exponential backoff with jitter)
     */
    readonly dynamoDbRetryStrategy?: DynamoDBClientConfig['retryStrategy'],
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

/** What the local twin's tests may give the next container instead of the production default. */
export interface ServicesOverrides {
  /** The clock alerts, their cap, model quality and the rate windows read. @default Date.now */
  now?: () => number;
  /**
   * The DynamoDB client's retry strategy, e.g. the SDK's own with no wait between tries, so a test of
   * persistent throttling does not sit through seconds of backoff. @default the SDK's standard strategy
   */
  dynamoDbRetryStrategy?: DynamoDBClientConfig['retryStrategy'];
}

let overrides: ServicesOverrides = {};

/** Sets what the next {@link createServices} uses instead of the defaults; none puts every default back. */
export function setServicesOverrides(next: ServicesOverrides = {}): void {
  overrides = next;
}

/** A container for `config`: builds nothing until asked (see {@link Services.get}). */
export function createServices(config: Config, given: ServicesOverrides = overrides): Services {
  return new Services(config, given.now ?? (() => Date.now()), given.dynamoDbRetryStrategy);
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
