import { ApiKeyRejectedError, UnauthorizedError } from '../errors.js';
import type { ApiKeyRecord, ApiKeyStore, UserRecord, UserStore } from '../ports.js';
import { keyGrantableScopes } from './keys-service.js';
import { scopesForRole, type Scope } from './roles.js';
import type { Principal } from './tokens.js';

/** The longest a principal's state may be trusted from the cache: the revocation bound (docs/security.md). */
export const maxPrincipalCacheMs = 30_000;
/** Cached principals per container; the least recently used goes first. */
export const defaultPrincipalCacheEntries = 10_000;

export interface PrincipalResolverOptions {
  /** How long a positive answer is reused, at most {@link maxPrincipalCacheMs}; 0 reads on every request. */
  cacheMs: number;
  /** @default defaultPrincipalCacheEntries */
  maxEntries?: number;
  /** The deployment's requests per minute per user: a key's own limit never exceeds its owner's. */
  ownerLimitPerMinute: number;
  now?: () => number;
}

export interface ResolveOptions {
  /** Read the stores, never the cache: user, key and model administration. */
  fresh: boolean;
}

/** A small LRU with an expiry per entry (Map keeps insertion order; a hit moves the entry to the end). */
class BoundedCache<V> {
  private readonly entries = new Map<string, { value: V; from: number; until: number }>();

  constructor(private readonly maxEntries: number) {}

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    // A clock that stepped back (NTP, a test's clock) must not stretch the bound: an entry cached in the clock's
    // future is as stale as one past its end.
    if (now >= entry.until || now < entry.from) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, from: number, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, from, until });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** What the cache keeps of a user: no password hash. */
type UserState = Pick<UserRecord, 'username' | 'role' | 'plant' | 'active'>;
type KeyState = Pick<ApiKeyRecord, 'keyId' | 'owner' | 'scopes' | 'expiresAt' | 'revokedAt' | 'rateLimitPerMinute'>;

/**
 * The one principal-state check. A token's claims say who signed in and what was granted then; this says
 * what holds now: the user exists and is active, its current role bounds the scopes (token scopes ∩ the
 * role's), its current plant applies; for an API-key token, the key is neither revoked nor expired, its
 * owner is active, and the key's current scopes and limit apply. Every authenticated request reaches it
 * through the shared middleware, so Lambda and the local twin behave alike. Positive answers are cached for
 * at most `cacheMs` (≤ 30 s) per container; `fresh` skips the cache. Negative answers are never cached.
 */
export class PrincipalResolver {
  private readonly users: BoundedCache<UserState>;
  private readonly keys: BoundedCache<KeyState>;
  private readonly cacheMs: number;

  constructor(
    private readonly userStore: UserStore,
    private readonly keyStore: ApiKeyStore,
    private readonly options: PrincipalResolverOptions,
  ) {
    if (!(options.cacheMs >= 0 && options.cacheMs <= maxPrincipalCacheMs)) {
      throw new RangeError(`cacheMs must be from 0 to ${maxPrincipalCacheMs}`);
    }
    this.cacheMs = options.cacheMs;
    const max = options.maxEntries ?? defaultPrincipalCacheEntries;
    this.users = new BoundedCache(max);
    this.keys = new BoundedCache(max);
  }

  /** How long a cached answer is trusted (ms): the revocation bound of this container. */
  get boundMs(): number {
    return this.cacheMs;
  }

  /** Entries cached now (users + keys); never more than twice `maxEntries`. */
  get cachedEntries(): number {
    return this.users.size + this.keys.size;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private async user(username: string, fresh: boolean, now: number): Promise<UserState | undefined> {
    if (!fresh && this.cacheMs > 0) {
      const hit = this.users.get(username, now);
      if (hit) return hit;
    }
    const record = await this.userStore.get(username);
    if (!record || !record.active) {
      this.users.delete(username);
      return undefined;
    }
    const state: UserState = { username: record.username, role: record.role, active: true, ...(record.plant ? { plant: record.plant } : {}) };
    if (this.cacheMs > 0) this.users.set(username, state, now, now + this.cacheMs);
    return state;
  }

  private async key(keyId: string, fresh: boolean, now: number): Promise<KeyState | undefined> {
    if (!fresh && this.cacheMs > 0) {
      const hit = this.keys.get(keyId, now);
      if (hit) return hit;
    }
    const record = await this.keyStore.get(keyId);
    if (!record || record.revokedAt) {
      this.keys.delete(keyId);
      return record ? { keyId: record.keyId, owner: record.owner, scopes: [], expiresAt: record.expiresAt, ...(record.revokedAt ? { revokedAt: record.revokedAt } : {}) } : undefined;
    }
    const state: KeyState = {
      keyId: record.keyId,
      owner: record.owner,
      scopes: record.scopes,
      expiresAt: record.expiresAt,
      ...(record.rateLimitPerMinute ? { rateLimitPerMinute: record.rateLimitPerMinute } : {}),
    };
    if (this.cacheMs > 0) this.keys.set(keyId, state, now, now + this.cacheMs);
    return state;
  }

  /**
   * The principal as it stands now, from the principal its token's claims describe. Throws 401
   * (UNAUTHORIZED, KEY_REVOKED or KEY_EXPIRED) when the user or key no longer may act.
   */
  async resolve(claimed: Principal, { fresh }: ResolveOptions): Promise<Principal> {
    const now = this.now();
    if (claimed.type === 'user') {
      const user = await this.user(claimed.username, fresh, now);
      if (!user) throw new UnauthorizedError('This token’s user is deactivated or gone; sign in again');
      const roleScopes = scopesForRole(user.role);
      return {
        id: claimed.id,
        username: user.username,
        role: user.role,
        type: 'user',
        scopes: new Set([...claimed.scopes].filter((s) => roleScopes.includes(s))),
        ...(user.plant ? { plant: user.plant } : {}),
      };
    }
    const keyId = claimed.keyId;
    if (!keyId) throw new UnauthorizedError('Token claims are incomplete');
    const [key, owner] = await Promise.all([this.key(keyId, fresh, now), this.user(claimed.username, fresh, now)]);
    if (!key || key.owner !== claimed.username) throw new ApiKeyRejectedError('KEY_INVALID', 'This token’s API key no longer exists');
    if (key.revokedAt) throw new ApiKeyRejectedError('KEY_REVOKED', 'This token’s API key has been revoked');
    if (Date.parse(key.expiresAt) <= now) throw new ApiKeyRejectedError('KEY_EXPIRED', 'This token’s API key has expired');
    if (!owner) throw new ApiKeyRejectedError('KEY_REVOKED', 'This token’s API key owner is no longer active');
    const ownerScopes = scopesForRole(owner.role);
    const keyScopes = new Set(key.scopes);
    const scopes = new Set<Scope>([...claimed.scopes].filter((s) => keyScopes.has(s) && ownerScopes.includes(s) && keyGrantableScopes.includes(s)));
    const ownLimit = key.rateLimitPerMinute;
    return {
      id: claimed.id,
      username: owner.username,
      role: owner.role,
      type: 'key',
      keyId,
      scopes,
      ...(owner.plant ? { plant: owner.plant } : {}),
      // A key made before the cap (or above it by hand) still never exceeds its owner's budget.
      ...(ownLimit ? { rateLimitPerMinute: Math.min(ownLimit, this.options.ownerLimitPerMinute) } : {}),
    };
  }
}
