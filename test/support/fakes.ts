import { generateKeyPairSync, sign as rsaSign } from 'node:crypto';
import type { JWK } from 'jose';
import type { TokenSigner } from '../../functions/core/auth/tokens.js';
import type {
  ApiKeyRecord,
  ApiKeyStore,
  AuditLog,
  AuditQuery,
  AuditRecord,
  RateDecision,
  RateLimiter,
  UserChanges,
  UserDirectory,
  UserRecord,
} from '../../functions/core/ports.js';

/**
 * In-memory implementations of the identity ports (functions/core/ports.ts) for unit tests of the core
 * services: the same contracts as the DynamoDB adapters, no network. Records are copied in and out, so a
 * test cannot change stored state by mutating what a service returned.
 */

/** A clock the test moves by hand. */
export class FakeClock {
  constructor(public ms: number) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
  iso(): string {
    return new Date(this.ms).toISOString();
  }
}

const copy = <T>(value: T): T => structuredClone(value);

export class InMemoryUserDirectory implements UserDirectory {
  readonly users = new Map<string, UserRecord & { updated?: string }>();

  async get(username: string): Promise<UserRecord | undefined> {
    const user = this.users.get(username);
    return user ? copy(user) : undefined;
  }

  async create(user: UserRecord): Promise<boolean> {
    if (this.users.has(user.username)) return false;
    this.users.set(user.username, copy(user));
    return true;
  }

  async list(): Promise<UserRecord[]> {
    return [...this.users.values()].map(copy);
  }

  async update(username: string, changes: UserChanges, updated: string): Promise<UserRecord | undefined> {
    const user = this.users.get(username);
    if (!user) return undefined;
    const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    const next = { ...user, ...defined, updated };
    this.users.set(username, next);
    return copy(next);
  }
}

export class InMemoryApiKeyStore implements ApiKeyStore {
  readonly keys = new Map<string, ApiKeyRecord>();

  async get(keyId: string): Promise<ApiKeyRecord | undefined> {
    const record = this.keys.get(keyId);
    return record ? copy(record) : undefined;
  }

  async create(record: ApiKeyRecord): Promise<boolean> {
    if (this.keys.has(record.keyId)) return false;
    this.keys.set(record.keyId, copy(record));
    return true;
  }

  async listByOwner(owner: string): Promise<ApiKeyRecord[]> {
    return [...this.keys.values()].filter((k) => k.owner === owner).map(copy);
  }

  async listAll(): Promise<ApiKeyRecord[]> {
    return [...this.keys.values()].map(copy);
  }

  async revoke(keyId: string, at: string): Promise<ApiKeyRecord | undefined> {
    const record = this.keys.get(keyId);
    if (!record) return undefined;
    record.revokedAt ??= at;
    return copy(record);
  }

  async rotate(
    keyId: string,
    expectedHash: string,
    change: { hash: string; previousHash: string; previousHashExpiresAt: string; rotatedAt: string },
  ): Promise<ApiKeyRecord | undefined> {
    const record = this.keys.get(keyId);
    if (!record || record.hash !== expectedHash || record.revokedAt) return undefined;
    Object.assign(record, change);
    return copy(record);
  }

  async touch(keyId: string, at: string): Promise<void> {
    const record = this.keys.get(keyId);
    if (record) record.lastUsed = at;
  }
}

/** Fixed windows aligned to the epoch, as the DynamoDB limiter; `failing` makes every take throw (store down). */
export class InMemoryRateLimiter implements RateLimiter {
  readonly counts = new Map<string, number>();
  failing = false;
  readonly taken: string[] = [];

  constructor(private readonly now: () => number) {}

  async take(bucket: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    if (this.failing) throw new Error('counter store unreachable');
    this.taken.push(bucket);
    const nowSeconds = this.now() / 1000;
    const windowStart = Math.floor(nowSeconds / windowSeconds) * windowSeconds;
    const resetSeconds = Math.max(1, Math.ceil(windowStart + windowSeconds - nowSeconds));
    const key = `${bucket}#${windowStart}`;
    const count = this.counts.get(key) ?? 0;
    if (count >= limit) return { allowed: false, limit, remaining: 0, resetSeconds };
    this.counts.set(key, count + 1);
    const decision = { allowed: true, limit, remaining: limit - count - 1, resetSeconds };
    this.windows.set(decision, key);
    return decision;
  }

  private readonly windows = new WeakMap<RateDecision, string>();

  async refund(_bucket: string, decision: RateDecision): Promise<void> {
    const key = this.windows.get(decision);
    if (key === undefined) return;
    this.windows.delete(decision);
    const count = this.counts.get(key) ?? 0;
    if (count > 0) this.counts.set(key, count - 1);
  }
}

/** Newest first; filters as the DynamoDB adapter; the cursor is the index after the last item returned. */
export class InMemoryAuditLog implements AuditLog {
  readonly records: AuditRecord[] = [];
  readonly queries: AuditQuery[] = [];

  async write(record: AuditRecord): Promise<'stored' | 'duplicate'> {
    if (this.records.some((r) => r.principal === record.principal && r.time === record.time && r.requestId === record.requestId)) return 'duplicate';
    this.records.push(copy(record));
    return 'stored';
  }

  async append(record: AuditRecord): Promise<void> {
    await this.write(record);
  }

  async query(query: AuditQuery): Promise<{ items: AuditRecord[]; nextCursor?: string }> {
    this.queries.push(copy(query));
    const sk = (r: AuditRecord) => `${r.time}#${r.requestId}`;
    const matching = this.records
      .filter((r) => query.principal === undefined || r.principal === query.principal)
      .filter((r) => query.action === undefined || r.action === query.action)
      .filter((r) => {
        if (query.outcome === undefined) return true;
        if (query.outcome === 'success') return r.outcome < 400;
        if (query.outcome === 'failure') return r.outcome >= 400;
        return r.outcome === query.outcome;
      })
      .filter((r) => query.plant === undefined || r.plant === query.plant)
      .filter((r) => query.origin === undefined || (query.origin === 'imported') === (r.imported !== undefined))
      .filter((r) => sk(r) >= query.from && sk(r) <= `${query.to}#\uffff`)
      // Byte order, as DynamoDB sorts keys (not locale order).
      .sort((a, b) => (sk(a) < sk(b) ? 1 : sk(a) > sk(b) ? -1 : 0));
    const start = query.cursor ? Number(query.cursor) : 0;
    const items = matching.slice(start, start + query.limit).map(copy);
    const end = start + items.length;
    return end < matching.length ? { items, nextCursor: String(end) } : { items };
  }
}

/** A TokenSigner over an in-memory RSA key (RSASSA-PKCS1-v1_5 SHA-256, as the key-file and KMS signers). */
export class InMemoryTokenSigner implements TokenSigner {
  private readonly pair = generateKeyPairSync('rsa', { modulusLength: 2048 });

  async keyId(): Promise<string> {
    return 'unit-test-key';
  }

  async sign(signingInput: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(rsaSign('sha256', signingInput, this.pair.privateKey));
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [{ ...(this.pair.publicKey.export({ format: 'jwk' }) as JWK), kid: 'unit-test-key', alg: 'RS256', use: 'sig' }] };
  }
}
